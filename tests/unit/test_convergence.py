"""Applying a plan with plain fake engines: failures among parallel creations, early answers used by pulls."""

from __future__ import annotations

import io
from dataclasses import replace

from eole_conteneurs.config.model import ImageRef, PortMapping
from eole_conteneurs.containers.executor import Converger
from eole_conteneurs.containers.planner import make_plan
from eole_conteneurs.engine.api import DockerUnavailable, ObservedContainer, PullResult
from eole_conteneurs.engine.creation import CreateRequest
from eole_conteneurs.engine.prefetch import Prefetch, PrefetchingEngine
from eole_conteneurs.journal import Journal
from tests.unit.conftest import SCOPE, apache, images_for


class FlakyEngine:
    """Creates every container but `lost`, for which dockerd went away (the SDK client cannot be made)."""

    def __init__(self, lost: str):
        self.lost, self.started, self.requests = lost, [], []

    def create(self, request: CreateRequest) -> str:
        if request.name == self.lost:
            raise DockerUnavailable("connexion refusée")
        self.requests.append(request)
        return request.name.encode().hex().ljust(64, "0")

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
    # The executor asks for everything the container is made of, labels included.
    request = next(request for request in engine.requests if request.name == "web1")
    assert request.labels["fr.eole.conteneurs.managed"] == SCOPE and request.restart == "unless-stopped"
    assert [(port.host_ip, port.host_port, port.container_port) for port in request.ports] == [("127.0.0.1", 9001, 80)]


class ProbingEngine:
    def __init__(self):
        self.probed, self.pulled, self.listed = [], [], 0

    def up_to_date(self, ref):
        self.probed.append(ref)
        return True

    def pull(self, ref):
        self.pulled.append(ref)
        return PullResult(ref, ())

    def image_id(self, ref):
        return "sha256:1"

    def containers(self):
        self.listed += 1
        return []

    def start(self, container):
        pass


class EarlyReader:
    """A Reader that answers at once (the prefetch threads finish immediately)."""

    def __init__(self, fresh: dict[str, bool], listed: list[ObservedContainer] | None):
        self.fresh, self.listed = fresh, listed

    def containers(self):
        if self.listed is None:
            raise DockerUnavailable("pas de réponse")
        return self.listed

    def up_to_date(self, ref):
        return self.fresh[ref]


SPECS = [apache(), replace(apache(), index=3, name="autre", image=ImageRef("127.0.0.1:5000", "autre", "1")),
         replace(apache(), index=4, name="neuf", image=ImageRef("127.0.0.1:5000", "neuf", "1"))]


def test_pull_uses_the_answers_asked_early_and_probes_the_others():
    engine = ProbingEngine()
    early = {str(SPECS[0].image): True, str(SPECS[1].image): False}
    prefetch = Prefetch(EarlyReader(early, []), list(early))
    Converger(PrefetchingEngine(engine, prefetch), Journal(io.StringIO()), SCOPE).pull(SPECS, strict=False)
    assert engine.probed == [str(SPECS[2].image)]
    assert engine.pulled == [str(SPECS[1].image)]


def test_without_an_early_list_no_early_answer_is_trusted():
    """dockerd did not answer then: it may have been started since, everything is asked again."""
    engine = ProbingEngine()
    prefetch = Prefetch(EarlyReader({str(SPECS[0].image): True}, None), [str(SPECS[0].image)])
    Converger(PrefetchingEngine(engine, prefetch), Journal(io.StringIO()), SCOPE).pull(SPECS[:1], strict=False)
    assert engine.probed == [str(SPECS[0].image)]


def test_the_early_list_is_used_once_then_read_again():
    engine = ProbingEngine()
    listed = [ObservedContainer("a" * 64, "web", "sha256:1", "running")]
    wrapped = PrefetchingEngine(engine, Prefetch(EarlyReader({}, listed), []))
    assert wrapped.containers() == listed and engine.listed == 0
    assert wrapped.containers() == [] and engine.listed == 1


def test_a_change_makes_the_early_answers_stale():
    engine = ProbingEngine()
    ref = str(SPECS[0].image)
    listed = [ObservedContainer("a" * 64, "web", "sha256:1", "running")]
    wrapped = PrefetchingEngine(engine, Prefetch(EarlyReader({ref: False}, listed), [ref]))
    wrapped.pull(ref)
    assert wrapped.up_to_date(ref) is True and engine.probed == [ref]  # asked again after the pull
    wrapped.start("a" * 64)  # a container changed: the early list no longer holds
    assert wrapped.containers() == [] and engine.listed == 1
