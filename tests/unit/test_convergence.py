"""Applying a plan: what is reported when one creation among several fails (plain fake engine)."""

from __future__ import annotations

import io
from dataclasses import replace

from eole_conteneurs.convergence import Converger
from eole_conteneurs.docker_engine import DockerUnavailable, PullResult
from eole_conteneurs.journal import Journal
from eole_conteneurs.planner import make_plan
from eole_conteneurs.spec import ImageRef, PortMapping
from tests.unit.test_planner import SCOPE, apache, images_for


class FlakyEngine:
    """Creates every container but `lost`, for which dockerd went away (the SDK client cannot be made)."""

    def __init__(self, lost: str):
        self.lost, self.started = lost, []

    def create(self, spec, scope, name=None):
        if spec.name == self.lost:
            raise DockerUnavailable("connexion refusée")
        return spec.name.encode().hex().ljust(64, "0")

    def start(self, container):
        self.started.append(container)


def test_one_failed_creation_is_reported_and_the_others_are_not_lost(tmp_path):
    specs = [replace(apache(), index=index, name=f"web{index}", ports=(PortMapping(80, 9000 + index),),
                     volumes=()) for index in range(1, 5)]
    engine = FlakyEngine(lost="web3")
    journal = Journal(io.StringIO())
    converger = Converger(engine, journal, SCOPE)
    converger.apply(make_plan(specs, [], images_for(*specs), SCOPE))
    text = journal.out.getvalue()
    assert len(engine.started) == 3
    assert journal.errors == ["conteneur web3 : le service Docker ne répond pas (connexion refusée)"]
    for name in ("web1", "web2", "web4"):
        assert f"Conteneur {name} lancé" in text


class ProbingEngine:
    def __init__(self):
        self.probed, self.pulled = [], []

    def up_to_date(self, ref):
        self.probed.append(ref)
        return True

    def pull(self, ref):
        self.pulled.append(ref)
        return PullResult(ref, ())

    def image_id(self, ref):
        return "sha256:1"


class Answers:
    def __init__(self, answers):
        self.answers = answers

    def up_to_date(self, ref):
        return self.answers.get(ref)


def test_pull_uses_the_answers_asked_early_and_probes_the_others():
    specs = [apache(), replace(apache(), index=3, name="autre", image=ImageRef("127.0.0.1:5000", "autre", "1")),
             replace(apache(), index=4, name="neuf", image=ImageRef("127.0.0.1:5000", "neuf", "1"))]
    engine = ProbingEngine()
    journal = Journal(io.StringIO())
    early = Answers({str(specs[0].image): True, str(specs[1].image): False})
    Converger(engine, journal, SCOPE).pull(specs, strict=False, early=early)
    assert engine.probed == [str(specs[2].image)]
    assert engine.pulled == [str(specs[1].image)]
