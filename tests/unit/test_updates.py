"""Image updates without a daemon: the update variables through the real dictionary, the verdict on a new
version (fake clock), the plan of an update, rollbacks carried out by the Converger on a fake dockerd, the
history of new versions, what `mise-a-jour --verifier` reports, the cron lines and the command line."""

from __future__ import annotations

import io
import json
import os
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from eole_conteneurs import cron
from eole_conteneurs.backup import eole
from eole_conteneurs.commands import cli
from eole_conteneurs.config.loading import load_configuration
from eole_conteneurs.config.model import (DEFAULT_UPDATE_DELAY, BackupPolicy, Health, ImageRef, PortMapping,
                                          UpdatePolicy, UpdateSettings)
from eole_conteneurs.containers import history as history_module
from eole_conteneurs.containers import readiness
from eole_conteneurs.containers.executor import Converger
from eole_conteneurs.containers.history import APPLIED, ROLLED_BACK, History, Outcome
from eole_conteneurs.containers.labels import labels_for
from eole_conteneurs.containers.planner import Kind, Plan, make_plan
from eole_conteneurs.engine.api import DockerOperationError, ObservedContainer, PullResult
from eole_conteneurs.errors import InvalidConfiguration, StateFileError
from eole_conteneurs.journal import Journal
from eole_conteneurs.update import schedule
from eole_conteneurs.update.available import availabilities
from tests.conftest import config_document
from tests.unit.conftest import HUB, IMAGE_ID, NEWER_IMAGE_ID, SCOPE, apache, hello, images_for, observed_for

NEWEST_IMAGE_ID = "sha256:" + "c" * 64
DIGEST = "sha256:" + "d" * 64  # a digest of the kind a tag pins


# -- the update variables, through the real dictionary ------------------------------------------------


def one_container(**overrides) -> dict:
    values = {
        "activer_conteneurs": "oui",
        "nombre_conteneurs": "1",
        "conteneur1_nom": "service",
        "conteneur1_hub": HUB,
        "conteneur1_depot": "httpd",
    }
    values.update(overrides)
    return values


def loaded(write_config, dicos, **overrides):
    return load_configuration(write_config(one_container(**overrides)), dicos)


def refused_by(write_config, dicos, **overrides) -> InvalidConfiguration:
    with pytest.raises(InvalidConfiguration) as caught:
        loaded(write_config, dicos, **overrides)
    return caught.value


def test_defaults_no_schedule_updates_accepted_after_30_seconds(write_config, dicos):
    configuration = loaded(write_config, dicos)
    assert configuration.updates == UpdatePolicy("non", (4, 30))
    (spec,) = configuration.containers
    assert spec.update == UpdateSettings(consent=None, delay=DEFAULT_UPDATE_DELAY) and DEFAULT_UPDATE_DELAY == 30
    assert spec.updatable and not spec.image.pinned
    assert spec.image.name == f"{HUB}/httpd" and str(spec.image) == f"{HUB}/httpd:latest"


@pytest.mark.parametrize("frequency, time, expected", [
    ("quotidienne", "05:07", (5, 7)),
    ("hebdomadaire", "23:59", (23, 59)),
    ("non", "00:00", (0, 0)),
    ("quotidienne", "4h30", (4, 30)),
])
def test_update_schedule_is_read(write_config, dicos, frequency, time, expected):
    configuration = loaded(write_config, dicos, conteneurs_mise_a_jour_auto=frequency,
                           conteneurs_mise_a_jour_heure=time)
    assert configuration.updates == UpdatePolicy(frequency, expected)


@pytest.mark.parametrize("consent, persistent, expected, updatable", [
    ("", "non", None, True),
    ("", "oui", None, False),  # unset: a persistent container is never updated without consent
    ("oui", "oui", True, True),
    ("oui", "non", True, True),
    ("non", "non", False, False),
    ("non", "oui", False, False),
])
def test_consent_of_each_container(write_config, dicos, consent, persistent, expected, updatable):
    (spec,) = loaded(write_config, dicos, conteneur1_mise_a_jour_auto=consent,
                     conteneur1_persistance=persistent).containers
    assert spec.update.consent is expected and spec.updatable is updatable


@pytest.mark.parametrize("delay, expected", [("0", 0), ("3600", 3600), ("120", 120), (45, 45), ("", 30)])
def test_delay_of_each_container(write_config, dicos, delay, expected):
    (spec,) = loaded(write_config, dicos, conteneur1_mise_a_jour_delai=delay).containers
    assert spec.update.delay == expected


@pytest.mark.parametrize("variable, value", [
    ("conteneurs_mise_a_jour_auto", "mensuelle"),
    ("conteneurs_mise_a_jour_auto", "oui"),
    ("conteneurs_mise_a_jour_heure", "25:00"),
    ("conteneurs_mise_a_jour_heure", "04:60"),
    ("conteneurs_mise_a_jour_heure", "demain"),
    ("conteneur1_mise_a_jour_delai", "99999"),
    ("conteneur1_mise_a_jour_delai", "-1"),
    ("conteneur1_mise_a_jour_delai", "3601"),
    ("conteneur1_mise_a_jour_delai", "trente"),
    ("conteneur1_mise_a_jour_auto", "peut-être"),
    ("conteneur1_mise_a_jour_auto", "quotidienne"),
    ("conteneur1_tag", "sha256:xyz"),
    ("conteneur1_tag", "@sha256:xyz"),
    ("conteneur1_tag", "sha256:" + "A" * 64),  # Docker's digests are lowercase
    ("conteneur1_tag", "@sha256:" + "a" * 63),
    ("conteneur1_tag", "sha256:" + "a" * 65),
    ("conteneur1_tag", "@latest"),
    ("conteneur1_tag", "@@sha256:" + "a" * 64),
    ("conteneur1_tag", "sha512:abc"),
])
def test_bad_update_values_are_refused_naming_their_variable(write_config, dicos, variable, value):
    error = refused_by(write_config, dicos, **{variable: value})
    assert [problem.variable for problem in error.problems] == [variable], error.summary()
    message = str(error.problems[0])
    assert message.startswith(variable) and "attendu" in message
    assert f"« {value} »" in message


def test_a_bad_digest_is_refused_as_a_digest(write_config, dicos):
    message = str(refused_by(write_config, dicos, conteneur1_tag="sha256:xyz").problems[0])
    assert message.startswith("conteneur1_tag : « sha256:xyz »")
    assert "empreinte invalide" in message and "@sha256:<64 caractères hexadécimaux>" in message


@pytest.mark.parametrize("tag", ["@" + DIGEST, DIGEST])
def test_a_digest_pins_the_image(write_config, dicos, tag):
    (spec,) = loaded(write_config, dicos, conteneur1_tag=tag, conteneur1_mise_a_jour_auto="oui").containers
    assert spec.image == ImageRef(HUB, "httpd", DIGEST)
    assert str(spec.image) == f"{HUB}/httpd@{DIGEST}" and spec.image.name == f"{HUB}/httpd"
    assert spec.image.pinned and not spec.updatable  # never updated, even with consent


def test_a_pinned_image_of_the_docker_hub(write_config, dicos):
    (spec,) = loaded(write_config, dicos, conteneur1_hub="", conteneur1_tag=DIGEST).containers
    assert str(spec.image) == f"httpd@{DIGEST}" and spec.image.name == "httpd"


def test_a_tag_that_merely_looks_like_a_digest_is_a_tag(write_config, dicos):
    (spec,) = loaded(write_config, dicos, conteneur1_tag="sha256").containers
    assert str(spec.image) == f"{HUB}/httpd:sha256" and not spec.image.pinned


def test_several_bad_update_values_are_all_reported(write_config, dicos):
    error = refused_by(write_config, dicos, conteneurs_mise_a_jour_auto="mensuelle",
                       conteneurs_mise_a_jour_heure="25:00", conteneur1_mise_a_jour_delai="-1",
                       conteneur1_mise_a_jour_auto="peut-être")
    assert error.variables() == {"conteneurs_mise_a_jour_auto", "conteneurs_mise_a_jour_heure",
                                 "conteneur1_mise_a_jour_delai", "conteneur1_mise_a_jour_auto"}


def write_escaped(tmp_path: Path, values: dict) -> Path:
    """config.eol with JSON's \\uXXXX escapes, as json.dumps writes them by default (lone surrogates kept)."""
    path = tmp_path / "config-echappee.eol"
    path.write_text(json.dumps(config_document(values)), encoding="ascii")
    return path


@pytest.mark.parametrize("variable", ["conteneur1_commande", "conteneur1_sauvegarde_commande", "conteneur1_tag",
                                      "conteneurs_mise_a_jour_heure"])
def test_a_lone_surrogate_is_refused_naming_its_variable(tmp_path, dicos, variable):
    path = write_escaped(tmp_path, one_container(**{variable: "echo \ud800"}))
    assert '"echo \\ud800"' in path.read_text()
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(path, dicos)
    problems = caught.value.problems
    assert [problem.variable for problem in problems] == [variable], caught.value.summary()
    message = str(problems[0])
    assert message.startswith(variable) and "Unicode" in message and "\\ud800" in message
    message.encode("utf-8")  # the message itself can be written to a log


def test_a_lone_surrogate_in_a_mandatory_name_is_refused_naming_it(tmp_path, dicos):
    path = write_escaped(tmp_path, one_container(conteneur1_nom="web\udfff"))
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(path, dicos)
    assert caught.value.variables() == {"conteneur1_nom"}
    assert "Unicode" in str(caught.value.problems[0])


def test_escaped_valid_characters_are_kept(tmp_path, dicos):
    """Only a lone surrogate is refused: an escaped pair (an emoji) and accented letters are text."""
    path = write_escaped(tmp_path, one_container(conteneur1_commande="echo été \U0001F600"))
    assert "\\ud83d\\ude00" in path.read_text()
    (spec,) = load_configuration(path, dicos).containers
    assert spec.command == ("echo", "été", "\U0001F600")


# -- the verdict on a new version (readiness.verdict), with a fake clock ---------------------------------


class Clock:
    """time for readiness: monotonic() reads it, sleep() moves it on at once."""

    def __init__(self) -> None:
        self.now, self.slept = 1000.0, 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(readiness, "time", fake)
    return fake


class Inspected:
    """An engine whose inspect gives these answers in turn, the last one again and again."""

    def __init__(self, *answers: dict | None):
        self.answers, self.asked = list(answers), 0

    def inspect(self, container: str) -> dict | None:
        self.asked += 1
        return self.answers[min(self.asked, len(self.answers)) - 1]


def inspected(running: bool = True, health: str | None = None, output: str = "", exit_code: int = 0,
              restarts: int = 0, restarting: bool = False, error: str = "", image: str = NEWER_IMAGE_ID) -> dict:
    state: dict = {"Running": running, "Restarting": restarting, "ExitCode": exit_code, "Error": error,
                   "Status": "restarting" if restarting else "running" if running else "exited"}
    if health is not None:
        state["Health"] = {"Status": health, "Log": [{"ExitCode": 0, "Output": "ok"},
                                                     {"ExitCode": 1, "Output": output}] if output else []}
    return {"Image": image, "RestartCount": restarts, "State": state}


def judged(engine, spec, journal: Journal | None = None) -> str:
    return readiness.verdict(engine, spec, "c" * 64, journal or Journal(io.StringIO()))


WITH_HEALTH = apache(health=Health("curl -fs http://localhost/", wait=15), update=UpdateSettings(delay=30))
WITHOUT_HEALTH = apache(update=UpdateSettings(delay=5))


def test_healthy_at_once_is_kept_without_waiting(clock):
    assert judged(Inspected(inspected(health="healthy")), WITH_HEALTH) == "" and clock.slept == 0


def test_healthy_after_starting_is_kept(clock):
    engine = Inspected(inspected(health="starting"), inspected(health="starting"), inspected(health="healthy"))
    journal = Journal(io.StringIO())
    assert judged(engine, WITH_HEALTH, journal) == ""
    assert engine.asked == 3 and 0 < clock.slept < WITH_HEALTH.health.wait
    announced = "Vérification de la nouvelle version de my-apache-app : attente de « healthy » (au plus 15 s)"
    assert journal.out.getvalue().count(announced) == 1


def test_unhealthy_gives_the_last_check_output(clock):
    output = "curl: (22) The requested URL\n returned   error: 500"
    engine = Inspected(inspected(health="starting"), inspected(health="unhealthy", output=output))
    why = judged(engine, WITH_HEALTH)
    assert why == "vérification de santé en échec (code 1 : curl: (22) The requested URL returned error: 500)"


def test_unhealthy_without_any_check_result_yet(clock):
    assert judged(Inspected(inspected(health="unhealthy")), WITH_HEALTH) == \
        "vérification de santé en échec (aucun résultat encore)"


def test_a_long_check_output_is_cut(clock):
    why = judged(Inspected(inspected(health="unhealthy", output="x" * 5000)), WITH_HEALTH)
    assert "x" * 200 in why and "x" * 201 not in why


def test_never_healthy_in_its_delay_is_refused_after_that_delay(clock):
    engine = Inspected(inspected(health="starting", output="connexion refusée"))
    why = judged(engine, WITH_HEALTH)
    assert why.startswith("toujours « starting » après 15 s") and "connexion refusée" in why
    assert 15 <= clock.slept < 15 + 2 * readiness.READY_POLL, "waits the health delay, not the update delay"


def test_without_health_check_kept_once_running_for_its_delay(clock):
    journal = Journal(io.StringIO())
    engine = Inspected(inspected())
    assert judged(engine, WITHOUT_HEALTH, journal) == ""
    assert 5 <= clock.slept < 5 + 2 * readiness.READY_POLL and engine.asked > 2
    assert "doit rester en marche 5 s sans redémarrer" in journal.out.getvalue()


def test_without_health_check_and_no_delay_kept_once_started(clock):
    engine = Inspected(inspected())
    assert judged(engine, apache(update=UpdateSettings(delay=0))) == "" and clock.slept == 0 and engine.asked == 1


@pytest.mark.parametrize("answers, expected", [
    ([inspected(), inspected(), inspected(running=False, exit_code=3)], "arrêtée (code 3)"),
    ([inspected(running=False, exit_code=127, error="exec: \"httpd\": not found")],
     "arrêtée (code 127, exec: \"httpd\": not found)"),
    ([inspected(), inspected(restarts=1, exit_code=137)], "redémarrée par Docker après un arrêt (code 137)"),
    ([inspected(running=False, restarting=True, restarts=2, exit_code=1)],
     "redémarrée par Docker après un arrêt (code 1)"),
    ([inspected(running=True, restarting=True, exit_code=1)], "arrêtée (code 1)"),
])
def test_stopped_or_restarted_by_docker_is_refused(clock, answers, expected):
    assert judged(Inspected(*answers), WITHOUT_HEALTH) == expected
    assert clock.slept < WITHOUT_HEALTH.update.delay


def test_restarted_by_docker_is_refused_even_when_reported_healthy(clock):
    assert judged(Inspected(inspected(health="healthy", restarts=1)), WITH_HEALTH).startswith("redémarrée par Docker")


def test_a_one_shot_container_is_not_watched(clock):
    class Unasked:
        def inspect(self, container):
            raise AssertionError("a one-shot container is meant to stop: never inspected")

    assert not hello().service
    assert judged(Unasked(), hello(update=UpdateSettings(delay=3600))) == "" and clock.slept == 0


def test_a_container_gone_is_refused(clock):
    assert judged(Inspected(None), WITH_HEALTH) == "conteneur disparu"
    assert judged(Inspected(inspected(), None), WITHOUT_HEALTH) == "conteneur disparu"


# -- the plan of an update ----------------------------------------------------------------------------


def plan_for(spec, current: ObservedContainer, local: str = NEWER_IMAGE_ID, refused: dict | None = None,
             updating: frozenset[str] = frozenset(), protected: frozenset[str] = frozenset()) -> Plan:
    return make_plan([spec], [current], images_for(spec, image_id=local), SCOPE, protected=protected,
                     refused=refused, updating=updating)


def only(plan: Plan):
    assert len(plan.actions) == 1, plan.actions
    return plan.actions[0]


def test_a_new_local_image_recreates_a_disposable_container_as_an_update():
    spec = apache()
    action = only(plan_for(spec, observed_for(spec)))
    assert action.kind is Kind.RECREATE and action.update is True
    assert action.reason == f"nouvelle image pour {spec.image}"


def test_a_new_image_with_another_change_is_not_an_update():
    spec = apache()
    action = only(plan_for(replace(spec, ports=(PortMapping(80, 8090),)), observed_for(spec)))
    assert action.kind is Kind.RECREATE and action.update is False
    assert "ports" in action.reason


def test_the_same_image_is_no_update():
    spec = apache()
    action = only(plan_for(spec, observed_for(spec), local=IMAGE_ID, updating=frozenset({spec.name})))
    assert action.kind is Kind.KEEP and action.pending is None


def test_update_settings_are_not_container_parameters():
    """Consent and delay are read at update time: changing them never recreates a container."""
    before = apache()
    after = replace(before, update=UpdateSettings(consent=True, delay=600))
    assert labels_for(before, SCOPE) == labels_for(after, SCOPE)
    action = only(plan_for(after, observed_for(before), local=IMAGE_ID))
    assert action.kind is Kind.KEEP and "inchangé" in action.reason


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "remembered"])
def test_a_persistent_container_being_updated_is_recreated(declared):
    spec = apache(persistent=True, update=UpdateSettings(consent=True, delay=0))
    current = observed_for(spec, persistent=declared)
    protected = frozenset() if declared else frozenset({current.id})
    action = only(plan_for(spec, current, updating=frozenset({spec.name}), protected=protected))
    assert action.kind is Kind.RECREATE and action.update is True
    assert action.reason == f"mise à jour : nouvelle image pour {spec.image}"


@pytest.mark.parametrize("label", [True, False], ids=["label", "id"])
def test_a_container_created_persistent_is_not_updated_without_an_explicit_oui(label):
    """Declared non-persistent since, but still protected (label or id): `automatique` is not consent."""
    spec = apache()
    current = observed_for(spec, persistent=label)
    protected = frozenset() if label else frozenset({current.id})
    action = only(plan_for(spec, current, updating=frozenset({spec.name}), protected=protected))
    assert action.kind is Kind.KEEP


def test_a_persistent_container_not_being_updated_keeps_its_image_pending():
    spec = apache(persistent=True)
    plan = plan_for(spec, observed_for(spec), updating=frozenset({"un-autre"}))
    action = only(plan)
    assert action.kind is Kind.KEEP and not plan.changes
    assert f"nouvelle image pour {spec.image}" in action.pending and "--recreer my-apache-app" in action.pending


def test_a_persistent_container_accepting_updates_is_told_how_to_install_its_image():
    spec = apache(persistent=True, update=UpdateSettings(consent=True))
    plan = plan_for(spec, observed_for(spec))
    action = only(plan)
    assert action.kind is Kind.KEEP and not plan.changes
    assert action.pending == (f"nouvelle image pour {spec.image} ; conteneur persistant non recréé par reconfigure ; "
                              "pour l'installer : « eole-conteneurs mise-a-jour my-apache-app »")


def test_a_persistent_container_with_another_change_is_not_updated():
    spec = apache(persistent=True)
    action = only(plan_for(replace(spec, ports=(PortMapping(80, 8090),)), observed_for(spec),
                           updating=frozenset({spec.name})))
    assert action.kind is Kind.KEEP and "ports" in action.pending


def test_a_refused_image_is_not_taken_again():
    spec = apache()
    plan = plan_for(spec, observed_for(spec), refused={spec.name: NEWER_IMAGE_ID})
    action = only(plan)
    assert action.kind is Kind.KEEP and not plan.changes and action.current.image_id == IMAGE_ID
    assert "inchangé" not in action.reason
    assert "n'a pas été saine" in action.pending and "bbbbbbbbbbbb" in action.pending
    assert "mise-a-jour my-apache-app" in action.pending


def test_a_refused_image_stopped_container_is_started_with_the_old_image():
    spec = apache()
    action = only(plan_for(spec, observed_for(spec, state="exited", exit_code=1), refused={spec.name: NEWER_IMAGE_ID}))
    assert action.kind is Kind.START and "mise-a-jour my-apache-app" in action.pending


def test_a_refused_image_does_not_stop_another_change():
    spec = apache()
    action = only(plan_for(replace(spec, ports=(PortMapping(80, 8090),)), observed_for(spec),
                           refused={spec.name: NEWER_IMAGE_ID}))
    assert action.kind is Kind.RECREATE and action.update is False


def test_another_image_than_the_refused_one_is_an_update_again():
    spec = apache()
    action = only(plan_for(spec, observed_for(spec), local=NEWEST_IMAGE_ID, refused={spec.name: NEWER_IMAGE_ID}))
    assert action.kind is Kind.RECREATE and action.update is True


def test_a_refused_image_of_another_container_does_not_count():
    spec = apache()
    action = only(plan_for(spec, observed_for(spec), refused={"autre": NEWER_IMAGE_ID}))
    assert action.kind is Kind.RECREATE and action.update is True


def test_a_container_refusing_updates_is_not_recreated_for_a_new_local_image():
    spec = apache(update=UpdateSettings(consent=False, delay=0))
    action = only(plan_for(spec, observed_for(spec)))
    assert action.kind is Kind.KEEP and "mise_a_jour_auto = non" in (action.pending or "")


def test_a_container_refusing_updates_keeps_its_image_when_another_accepts_them():
    refusing = apache(update=UpdateSettings(consent=False, delay=0))
    accepting = apache(index=3, name="autre", ports=(PortMapping(80, 8082),))
    engine = PullingEngine({str(refusing.image): IMAGE_ID}, newer={str(refusing.image): NEWER_IMAGE_ID})
    images = Converger(engine, Journal(io.StringIO()), SCOPE).pull([refusing, accepting])
    assert images == {str(refusing.image): NEWER_IMAGE_ID}  # pulled for `autre`, which accepts updates
    plan = make_plan([refusing, accepting], [observed_for(refusing), observed_for(accepting)], images, SCOPE)
    kinds = {action.name: action.kind for action in plan.actions}
    assert kinds["autre"] is Kind.RECREATE
    assert kinds[refusing.name] is not Kind.RECREATE, "conteneur2_mise_a_jour_auto = non : « jamais »"


class PullingEngine:
    """Local images by reference; up_to_date is False where the registry has a newer one, pulled on demand."""

    def __init__(self, local: dict[str, str], newer: dict[str, str]):
        self.local, self.newer, self.pulled, self.probed = dict(local), dict(newer), [], []

    def image_id(self, ref: str) -> str | None:
        return self.local.get(ref)

    def up_to_date(self, ref: str) -> bool:
        self.probed.append(ref)
        return ref not in self.newer

    def pull(self, ref: str) -> PullResult:
        self.pulled.append(ref)
        self.local[ref] = self.newer.pop(ref)
        return PullResult(ref, ())


def test_an_image_all_of_whose_containers_refuse_updates_is_not_pulled_again():
    spec = apache(update=UpdateSettings(consent=False, delay=0))
    engine = PullingEngine({str(spec.image): IMAGE_ID}, newer={str(spec.image): NEWER_IMAGE_ID})
    journal = Journal(io.StringIO())
    assert Converger(engine, journal, SCOPE).pull([spec]) == {str(spec.image): IMAGE_ID}
    assert engine.pulled == engine.probed == []
    kept = f"Image conservée, mises à jour refusées (mise_a_jour_auto = non) : {spec.image}"
    assert kept in journal.out.getvalue()
    assert only(make_plan([spec], [observed_for(spec)], {str(spec.image): IMAGE_ID}, SCOPE)).kind is Kind.KEEP


def test_an_image_refusing_updates_is_pulled_when_missing():
    spec = apache(update=UpdateSettings(consent=False, delay=0))
    engine = PullingEngine({}, newer={str(spec.image): NEWER_IMAGE_ID})
    assert Converger(engine, Journal(io.StringIO()), SCOPE).pull([spec]) == {str(spec.image): NEWER_IMAGE_ID}
    assert engine.pulled == [str(spec.image)]


# -- rollbacks carried out by the Converger on a small dockerd --------------------------------------------


class Dockerd:
    """A small dockerd: containers with a name, a state, an image id and a health status. A new container gets the
    local image of its reference and the health status `health_of` gives its name, else `new_health` (None: no
    health check). One lock: recreations run side by side."""

    def __init__(self, local: dict[str, str]):
        self.local = dict(local)  # reference → local image id
        self.by_id: dict[str, dict] = {}
        self.calls: list[str] = []
        self.new_health: str | None = None
        self.health_of: dict[str, str | None] = {}
        self.check_output = "curl: (22) The requested URL returned error: 500"
        self.lock = threading.RLock()

    def made_from(self, spec, image: str = IMAGE_ID, state: str = "running", name: str | None = None,
                  health: str | None = None) -> str:
        """A container the module made from spec before."""
        return self._add(name or spec.name, labels_for(spec, SCOPE), image, state, health)

    def _add(self, name: str, labels: dict, image: str, state: str, health: str | None) -> str:
        with self.lock:
            container = f"{len(self.by_id) + 1:x}{name.encode().hex()}".ljust(64, "0")[:64]
            self.by_id[container] = {"name": name, "labels": labels, "image": image, "state": state,
                                     "health": health}
            return container

    def _find(self, ref: str) -> dict:
        with self.lock:
            for container, entry in self.by_id.items():
                if ref in (container, entry["name"]):
                    return entry
        raise DockerOperationError(ref, "Lecture du conteneur", "No such container")

    def state(self) -> dict[str, tuple[str, str]]:
        return {entry["name"]: (entry["state"], entry["image"]) for entry in self.by_id.values()}

    def images(self) -> dict[str, str | None]:
        return dict(self.local)

    def containers(self) -> list[ObservedContainer]:
        with self.lock:
            return [ObservedContainer(container, entry["name"], entry["image"], entry["state"],
                                      0 if entry["state"] == "exited" else None, dict(entry["labels"]))
                    for container, entry in self.by_id.items()]

    def networks(self) -> list:
        return []

    def volumes(self) -> list:
        return []

    def inspect(self, ref: str) -> dict | None:
        try:
            entry = self._find(ref)
        except DockerOperationError:
            return None
        running = entry["state"] == "running"
        state: dict = {"Running": running, "Restarting": False, "Status": entry["state"], "ExitCode": 0}
        if entry["health"] is not None and running:
            state["Health"] = {"Status": entry["health"], "Log": [{"ExitCode": 1, "Output": self.check_output}]}
        return {"Image": entry["image"], "RestartCount": 0, "State": state}

    def create(self, request) -> str:
        with self.lock:
            self.calls.append(f"create {request.name}")
            if any(entry["name"] == request.name for entry in self.by_id.values()):
                raise DockerOperationError(request.name, "Création du conteneur", "name already in use")
            return self._add(request.name, dict(request.labels), self.local[request.image], "created",
                             self.health_of.get(request.name, self.new_health))

    def start(self, ref: str) -> None:
        with self.lock:
            entry = self._find(ref)
            self.calls.append(f"start {entry['name']}")
            entry["state"] = "running"

    def stop(self, ref: str, timeout: int = 10) -> None:
        with self.lock:
            entry = self._find(ref)
            self.calls.append(f"stop {entry['name']}")
            entry["state"] = "exited"

    def remove(self, ref: str) -> None:
        with self.lock:
            entry = self._find(ref)
            self.calls.append(f"rm {entry['name']}")
            del self.by_id[next(container for container, other in self.by_id.items() if other is entry)]

    def rename(self, ref: str, name: str) -> None:
        with self.lock:
            if any(entry["name"] == name for entry in self.by_id.values()):
                raise DockerOperationError(ref, "Renommage du conteneur", "name already in use")
            entry = self._find(ref)
            self.calls.append(f"rename {entry['name']} {name}")
            entry["name"] = name


def web(index: int = 1, host_port: int = 8001, **changes):
    return replace(apache(), index=index, name=f"web{index}", volumes=(), ports=(PortMapping(80, host_port),),
                   **changes)


def converge(daemon: Dockerd, specs: list, history: History) -> tuple[Journal, Plan]:
    """One apply; planned again after putting back what a killed run left, as `eole-conteneurs apply` does."""
    journal = Journal(io.StringIO())
    converger = Converger(daemon, journal, SCOPE, history=history)
    plan = make_plan(specs, daemon.containers(), daemon.images(), SCOPE, refused=history.refused())
    converger.apply(plan)
    if any(action.kind in (Kind.RESTORE, Kind.FINISH, Kind.UNDO) for action in plan.actions):
        converger.apply(make_plan(specs, daemon.containers(), daemon.images(), SCOPE, refused=history.refused()))
    return journal, plan


@pytest.fixture
def history(tmp_path) -> History:
    return History(tmp_path / "etat" / "mises-a-jour.json")


def updated_daemon(spec) -> tuple[Dockerd, str]:
    """The container runs IMAGE_ID; a newer image of its reference is local."""
    daemon = Dockerd({str(spec.image): NEWER_IMAGE_ID})
    return daemon, daemon.made_from(spec)


def test_an_unhealthy_new_version_is_rolled_back(history):
    spec = web()
    daemon, old = updated_daemon(spec)
    daemon.new_health = "unhealthy"
    journal, plan = converge(daemon, [spec], history)
    assert [(action.kind, action.update) for action in plan.actions] == [(Kind.RECREATE, True)]
    assert list(daemon.by_id) == [old] and daemon.state() == {"web1": ("running", IMAGE_ID)}
    set_aside = f"web1--ancien-{old[:12]}"
    assert daemon.calls == ["stop web1", f"rename web1 {set_aside}", "create web1", "start web1", "rm web1",
                            f"rename {set_aside} web1", "start web1"]
    (error,) = journal.errors
    assert error.startswith("conteneur web1 : Mise à jour de web1 impossible : nouvelle version non saine")
    assert "non saine" in error and "version précédente (aaaaaaaaaaaa) est remise en service" in error
    assert "The requested URL returned error: 500" in error
    assert "Nouvelle version de web1 non saine" in journal.out.getvalue()
    outcome = history.load()["web1"]
    assert (outcome.result, outcome.image, outcome.before, outcome.after) == (
        ROLLED_BACK, str(spec.image), IMAGE_ID, NEWER_IMAGE_ID)
    assert "vérification de santé en échec" in outcome.reason and outcome.rolled_back
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", outcome.date)


def test_a_rolled_back_version_is_not_taken_again_by_the_next_run(history):
    spec = web()
    daemon, old = updated_daemon(spec)
    daemon.new_health = "unhealthy"
    converge(daemon, [spec], history)
    daemon.calls.clear()
    journal, plan = converge(daemon, [spec], history)
    action = only(plan)
    assert action.kind is Kind.KEEP and "mise-a-jour web1" in action.pending and not plan.changes
    assert daemon.calls == [] and journal.errors == [] and list(daemon.by_id) == [old]
    assert any("mise-a-jour web1" in warning for warning in journal.warnings)
    assert "Image persistante" not in journal.out.getvalue(), "not a persistent container's pending change"


def test_a_rolled_back_version_is_tried_again_once_forgotten(history):
    spec = web()
    daemon, old = updated_daemon(spec)
    daemon.new_health = "unhealthy"
    converge(daemon, [spec], history)
    history.forget({"web1"})  # `mise-a-jour web1`
    daemon.new_health = "healthy"
    journal, _ = converge(daemon, [spec], history)
    assert journal.errors == [] and daemon.state() == {"web1": ("running", NEWER_IMAGE_ID)}
    assert history.load()["web1"].result == APPLIED


def test_a_healthy_new_version_replaces_the_old_one(history):
    spec = web()
    daemon, old = updated_daemon(spec)
    daemon.new_health = "healthy"
    journal, _ = converge(daemon, [spec], history)
    assert journal.errors == [], journal.out.getvalue()
    assert old not in daemon.by_id and daemon.state() == {"web1": ("running", NEWER_IMAGE_ID)}
    assert f"rm web1--ancien-{old[:12]}" in daemon.calls
    assert "Nouvelle version de web1 saine : aaaaaaaaaaaa → bbbbbbbbbbbb" in journal.out.getvalue()
    outcome = history.load()["web1"]
    assert (outcome.result, outcome.before, outcome.after, outcome.reason) == (APPLIED, IMAGE_ID, NEWER_IMAGE_ID, "")
    _, plan = converge(daemon, [spec], history)
    assert not plan.changes


def test_a_healthy_recreation_without_a_new_image_is_not_recorded(history):
    before, after = web(host_port=8001), web(host_port=8002)
    daemon = Dockerd({str(before.image): IMAGE_ID})
    old = daemon.made_from(before)
    journal, plan = converge(daemon, [after], history)
    assert [(action.kind, action.update) for action in plan.actions] == [(Kind.RECREATE, False)]
    assert journal.errors == [] and old not in daemon.by_id
    assert "Nouvelle version" not in journal.out.getvalue()
    assert history.load() == {} and not history.path.exists()


def test_an_unhealthy_recreation_without_a_new_image_is_rolled_back_too(history):
    before, after = web(host_port=8001), web(host_port=8002)
    daemon = Dockerd({str(before.image): IMAGE_ID})
    old = daemon.made_from(before)
    daemon.new_health = "unhealthy"
    journal, _ = converge(daemon, [after], history)
    assert list(daemon.by_id) == [old] and daemon.state() == {"web1": ("running", IMAGE_ID)}
    (error,) = journal.errors
    assert "Recréation du conteneur de web1 impossible : nouvelle version non saine" in error
    assert "version précédente" in error


def test_a_new_version_stopping_before_its_delay_is_rolled_back(history, clock, monkeypatch):
    """No health check: it must keep running for its delay; here it stops after a second."""
    spec = web(update=UpdateSettings(delay=10))
    daemon, old = updated_daemon(spec)
    inspect = daemon.inspect

    def stopping(ref):
        if clock.slept >= 1 and daemon.by_id.get(ref, {}).get("image") == NEWER_IMAGE_ID:
            daemon.by_id[ref]["state"] = "exited"
        return inspect(ref)

    monkeypatch.setattr(daemon, "inspect", stopping)
    journal, _ = converge(daemon, [spec], history)
    (error,) = journal.errors
    assert "arrêtée (code 0)" in error and "version précédente" in error
    assert daemon.state() == {"web1": ("running", IMAGE_ID)} and list(daemon.by_id) == [old]
    assert clock.slept < 10
    assert history.load()["web1"].reason == "arrêtée (code 0)"


def test_a_rolled_back_settings_change_is_tried_again_by_the_next_run(history):
    """Same image, new settings: rolled back and recorded, but no image is refused; the next run tries again."""
    before, after = web(host_port=8001), web(host_port=8002)
    daemon = Dockerd({str(before.image): IMAGE_ID})
    daemon.made_from(before)
    daemon.new_health = "unhealthy"
    converge(daemon, [after], history)
    outcome = history.load()["web1"]
    assert outcome.rolled_back and outcome.before == outcome.after == IMAGE_ID and not outcome.image_refused
    assert history.refused() == {}
    daemon.new_health = "healthy"
    journal, plan = converge(daemon, [after], history)
    assert [action.kind for action in plan.actions] == [Kind.RECREATE] and journal.errors == []
    assert daemon.state() == {"web1": ("running", IMAGE_ID)}


def test_a_stopped_old_container_is_put_back_stopped(history):
    spec = web()
    daemon = Dockerd({str(spec.image): NEWER_IMAGE_ID})
    old = daemon.made_from(spec, state="exited")
    daemon.new_health = "unhealthy"
    journal, plan = converge(daemon, [spec], history)
    assert [(action.kind, action.update) for action in plan.actions] == [(Kind.RECREATE, True)]
    assert len(journal.errors) == 1 and "non saine" in journal.errors[0]
    assert list(daemon.by_id) == [old] and daemon.state() == {"web1": ("exited", IMAGE_ID)}


def test_a_rollback_is_done_even_when_the_history_cannot_be_written(tmp_path):
    blocker = tmp_path / "fichier"
    blocker.write_text("")
    history = History(blocker / "mises-a-jour.json")  # its directory is a file
    spec = web()
    daemon, old = updated_daemon(spec)
    daemon.new_health = "unhealthy"
    journal = Journal(io.StringIO())
    Converger(daemon, journal, SCOPE, history=history).apply(
        make_plan([spec], daemon.containers(), daemon.images(), SCOPE))
    assert list(daemon.by_id) == [old] and daemon.state() == {"web1": ("running", IMAGE_ID)}
    assert len(journal.errors) == 1 and "non saine" in journal.errors[0]
    assert any(f"Fichier d'état {history.path} : " in warning for warning in journal.warnings), journal.warnings


def test_independent_updates_are_judged_each_on_its_own(history):
    healthy, sick = web(1, 8001), replace(web(2, 8002), image=ImageRef(HUB, "nginx", "1"))
    daemon = Dockerd({str(healthy.image): NEWER_IMAGE_ID, str(sick.image): NEWEST_IMAGE_ID})
    daemon.made_from(healthy)
    old_sick = daemon.made_from(sick)
    daemon.health_of = {"web1": "healthy", "web2": "unhealthy"}
    journal, _ = converge(daemon, [healthy, sick], history)
    assert daemon.state() == {"web1": ("running", NEWER_IMAGE_ID), "web2": ("running", IMAGE_ID)}
    assert old_sick in daemon.by_id
    (error,) = journal.errors
    assert error.startswith("conteneur web2 : ")
    outcomes = history.load()
    assert (outcomes["web1"].result, outcomes["web2"].result) == (APPLIED, ROLLED_BACK)
    assert history.refused() == {"web2": NEWEST_IMAGE_ID}


def killed_recreation(spec, new_state: str, new_health: str | None) -> tuple[Dockerd, str, str]:
    """What a recreation killed after creating (new_state "created") or starting ("running") the new one left."""
    daemon = Dockerd({str(spec.image): NEWER_IMAGE_ID})
    old = daemon.made_from(spec, state="exited")
    daemon.by_id[old]["name"] = f"{spec.name}--ancien-{old[:12]}"
    new = daemon.made_from(spec, image=NEWER_IMAGE_ID, state=new_state, health=new_health)
    return daemon, old, new


def test_a_killed_update_whose_new_container_never_started_is_checked_once_started(history):
    spec = web()
    daemon, old, new = killed_recreation(spec, "created", "unhealthy")
    journal, plan = converge(daemon, [spec], history)
    assert [action.kind for action in plan.actions] == [Kind.RESUME]
    assert list(daemon.by_id) == [old] and daemon.state() == {"web1": ("running", IMAGE_ID)}
    (error,) = journal.errors
    assert "non saine" in error and "version précédente" in error
    assert history.load()["web1"].result == ROLLED_BACK
    assert daemon.calls[:2] == ["start web1", "rm web1"]


def test_a_killed_update_resumed_healthy_keeps_the_new_version(history):
    spec = web()
    daemon, old, new = killed_recreation(spec, "created", "healthy")
    journal, _ = converge(daemon, [spec], history)
    assert journal.errors == [] and list(daemon.by_id) == [new]
    assert daemon.state() == {"web1": ("running", NEWER_IMAGE_ID)}
    assert history.load()["web1"].result == APPLIED


def test_a_killed_update_whose_new_container_started_is_checked_before_the_old_one_goes(history):
    spec = web()
    daemon, old, new = killed_recreation(spec, "running", "unhealthy")
    journal, plan = converge(daemon, [spec], history)
    assert [action.kind for action in plan.actions] == [Kind.FINISH]
    assert list(daemon.by_id) == [old] and daemon.state() == {"web1": ("running", IMAGE_ID)}
    (error,) = journal.errors
    assert "non saine" in error and "version précédente" in error
    outcome = history.load()["web1"]
    assert (outcome.result, outcome.before, outcome.after) == (ROLLED_BACK, IMAGE_ID, NEWER_IMAGE_ID)
    _, again = converge(daemon, [spec], history)  # the refused version is not taken again
    assert only(again).kind is Kind.KEEP and not again.changes


def test_a_killed_update_finished_healthy_deletes_the_old_one(history):
    spec = web()
    daemon, old, new = killed_recreation(spec, "running", "healthy")
    journal, _ = converge(daemon, [spec], history)
    assert journal.errors == [] and list(daemon.by_id) == [new]
    assert "start web1" not in daemon.calls
    assert history.load()["web1"].result == APPLIED


# -- the history of new versions --------------------------------------------------------------------------


def outcome(result: str = ROLLED_BACK, after: str = NEWER_IMAGE_ID, date: str = "2026-01-02 03:04") -> Outcome:
    return Outcome(result, f"{HUB}/httpd:2.4", IMAGE_ID, after, "vérification de santé en échec" if
                   result == ROLLED_BACK else "", date)


def test_history_absent_is_empty(history):
    assert history.load() == {} and history.refused() == {}


def test_history_records_and_loads(history):
    history.record("web1", outcome())
    history.record("web2", replace(outcome(APPLIED), date=""))
    loaded = history.load()
    assert loaded["web1"] == outcome()
    assert loaded["web2"].result == APPLIED and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", loaded["web2"].date)
    document = json.loads(history.path.read_text())
    assert document["version"] == 1 and sorted(document["conteneurs"]) == ["web1", "web2"]
    assert history.path.stat().st_mode & 0o777 == 0o644
    history.record("web1", outcome(APPLIED))  # the last new version of each container only
    assert history.load()["web1"].result == APPLIED and history.refused() == {}


def test_history_refused_lists_the_rolled_back_images(history):
    history.record("web1", outcome())
    history.record("web2", outcome(APPLIED, after=NEWEST_IMAGE_ID))
    history.record("web3", outcome(after=NEWEST_IMAGE_ID))
    assert history.refused() == {"web1": NEWER_IMAGE_ID, "web3": NEWEST_IMAGE_ID}


def test_history_forgets_names(history):
    history.record("web1", outcome())
    history.record("web2", outcome())
    history.forget({"web1", "inconnu"})
    assert set(history.load()) == {"web2"}
    written = history.path.stat().st_mtime_ns
    os.utime(history.path, ns=(written - 10**9, written - 10**9))
    history.forget({"inconnu"})  # nothing to forget: not written again
    assert history.path.stat().st_mtime_ns == written - 10**9


def test_forgetting_without_history_writes_nothing(history):
    history.forget({"web1"})
    assert not history.path.exists()


def test_a_rolled_back_settings_change_refuses_no_image(history):
    history.record("web1", outcome(after=IMAGE_ID))  # before == after: only the settings were new
    history.record("web2", outcome())
    assert history.load()["web1"].rolled_back and not history.load()["web1"].image_refused
    assert history.load()["web2"].image_refused and not outcome(APPLIED).image_refused
    assert history.refused() == {"web2": NEWER_IMAGE_ID}


def test_outcomes_describe_themselves():
    assert outcome().describe() == ("annulée le 2026-01-02 03:04 (vérification de santé en échec) : version "
                                    "précédente en service")
    assert outcome(APPLIED).describe() == "appliquée le 2026-01-02 03:04"
    assert outcome().rolled_back and not outcome(APPLIED).rolled_back


@pytest.mark.parametrize("content, reason", [
    (b"{pas du json", "contenu illisible"),
    (b"\xff\xfe", "contenu illisible"),
])
def test_an_unreadable_history_is_an_error_naming_the_file(history, content, reason):
    history.path.parent.mkdir(parents=True)
    history.path.write_bytes(content)
    for read in (history.load, history.refused):
        with pytest.raises(StateFileError) as caught:
            read()
        assert caught.value.path == history.path
        assert str(history.path) in str(caught.value) and reason in str(caught.value)
    with pytest.raises(StateFileError):
        history.record("web1", outcome())  # never written over what could not be read
    assert history.path.read_bytes() == content


def test_a_history_that_cannot_be_read_is_an_error_naming_the_file(history):
    history.path.mkdir(parents=True)  # a directory where the file goes
    with pytest.raises(StateFileError) as caught:
        history.load()
    assert str(history.path) in str(caught.value) and "lecture impossible" in str(caught.value)


def test_a_history_that_cannot_be_written_is_an_error_naming_the_file(history, monkeypatch):
    def refused(path, data, mode):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(history_module, "write_durably", refused)
    with pytest.raises(StateFileError) as caught:
        history.record("web1", outcome())
    assert caught.value.path == history.path
    assert str(history.path) in str(caught.value) and "écriture impossible" in str(caught.value)
    assert not history.path.exists()


def test_an_entry_this_version_cannot_read_is_dropped_alone(history):
    good = {"result": ROLLED_BACK, "image": "httpd:2.4", "before": IMAGE_ID, "after": NEWER_IMAGE_ID,
            "reason": "arrêtée (code 1)", "date": "2026-01-02 03:04"}
    history.path.parent.mkdir(parents=True)
    history.path.write_text(json.dumps({"version": 2, "conteneurs": {
        "bon": good,
        "nouveau-champ": {**good, "duree": 12},
        "incomplet": {"result": APPLIED},
        "texte": "annulee",
        "liste": [1, 2],
    }}))
    assert history.load() == {"bon": Outcome(**good)}
    assert history.refused() == {"bon": NEWER_IMAGE_ID}


@pytest.mark.parametrize("document", [[], "texte", {"version": 1}, {"conteneurs": []}, {"conteneurs": None}])
def test_a_history_of_another_shape_is_empty(history, document):
    history.path.parent.mkdir(parents=True)
    history.path.write_text(json.dumps(document))
    assert history.load() == {}


def test_history_records_from_parallel_recreations_are_all_kept(history):
    threads = [threading.Thread(target=history.record, args=(f"web{index}", outcome())) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(history.load()) == {f"web{index}" for index in range(12)}


# -- what `mise-a-jour --verifier` reports (update/available.py) -------------------------------------------

OLD_DIGEST = "sha256:" + "1" * 64  # on the registry when IMAGE_ID was pulled
NEW_DIGEST = "sha256:" + "2" * 64  # published since (NEWER_IMAGE_ID once pulled)
NEWEST_DIGEST = "sha256:" + "3" * 64


class RegistryEngine:
    """Registry digests by reference (a DockerOperationError: no answer), local images and their digests."""

    def __init__(self, registry: dict, local: dict[str, str] | None = None,
                 digests: dict[str, list[str]] | None = None):
        self.registry, self.local, self.digests = registry, local or {}, digests or {}
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def registry_digest(self, ref: str) -> str:
        with self._lock:
            self.asked.append(ref)
        answer = self.registry[ref]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def image_id(self, ref: str) -> str | None:
        return self.local.get(ref)

    def repo_digests(self, ref: str) -> list[str]:
        return [f"{ref.rpartition(':')[0]}@{digest}" for digest in self.digests.get(ref, [])]


SERVICE = apache()
REF = str(SERVICE.image)


def available_for(spec=SERVICE, registry: str | Exception = OLD_DIGEST, local: str | None = IMAGE_ID,
                  local_digests: tuple[str, ...] = (OLD_DIGEST,), running: str | None = IMAGE_ID,
                  history: dict | None = None):
    engine = RegistryEngine({str(spec.image): registry}, {str(spec.image): local} if local else {},
                            {str(spec.image): list(local_digests)})
    observed = {spec.name: observed_for(spec, image_id=running)} if running else {}
    (found,) = availabilities(engine, [spec], observed, history or {})
    return found


def test_up_to_date():
    found = available_for()
    assert (found.state, found.available, found.to_apply, found.error) == ("à jour", False, False, False)
    assert (found.running, found.local, found.registry) == (IMAGE_ID, IMAGE_ID, OLD_DIGEST)


def test_up_to_date_when_the_registry_digest_is_any_of_the_local_ones():
    assert available_for(local_digests=(NEWEST_DIGEST, OLD_DIGEST)).state == "à jour"


def test_a_new_version_on_the_registry():
    found = available_for(registry=NEW_DIGEST)
    assert found.state == "nouvelle version sur le registre" and found.available and found.to_apply
    assert found.registry == NEW_DIGEST and not found.error


def test_a_new_version_already_pulled_not_in_service():
    found = available_for(registry=NEW_DIGEST, local=NEWER_IMAGE_ID, local_digests=(NEW_DIGEST,))
    assert found.state == "nouvelle version déjà récupérée, pas encore en service"
    assert found.available and found.to_apply and found.local == NEWER_IMAGE_ID and found.running == IMAGE_ID


def test_a_missing_local_image_is_a_new_version():
    found = available_for(local=None)
    assert found.state == "nouvelle version sur le registre" and found.local == "" and found.available


def test_a_container_not_made_yet_is_up_to_date_with_its_local_image():
    found = available_for(running=None)
    assert found.state == "à jour" and found.running == "" and not found.available


def test_a_pinned_image_is_never_asked_nor_updated():
    spec = apache(image=ImageRef(HUB, "httpd", DIGEST))
    engine = RegistryEngine({}, {str(spec.image): IMAGE_ID})
    (found,) = availabilities(engine, [spec], {spec.name: observed_for(spec)}, {})
    assert engine.asked == [] and found.state.startswith("épinglée")
    assert found.registry == DIGEST and not found.available and not found.to_apply and not found.error


def test_a_registry_without_answer_is_an_error():
    found = available_for(registry=DockerOperationError(REF, "Interrogation du registre", "délai dépassé"))
    assert found.state == "registre injoignable ou en erreur : délai dépassé"
    assert found.error and not found.available and not found.to_apply and found.registry == ""


def test_a_refused_version_is_not_offered_again():
    rolled_back = Outcome(ROLLED_BACK, REF, IMAGE_ID, NEWER_IMAGE_ID, "arrêtée (code 1)", "2026-01-02 03:04")
    found = available_for(registry=NEW_DIGEST, local=NEWER_IMAGE_ID, local_digests=(NEW_DIGEST,),
                          history={SERVICE.name: rolled_back})
    assert found.state.startswith("refusée : annulée le 2026-01-02 03:04 (arrêtée (code 1))")
    assert "eole-conteneurs mise-a-jour my-apache-app" in found.state
    assert not found.available and not found.to_apply and not found.error


def test_a_version_newer_than_the_refused_one_is_offered():
    rolled_back = Outcome(ROLLED_BACK, REF, IMAGE_ID, NEWER_IMAGE_ID, "arrêtée (code 1)", "2026-01-02 03:04")
    found = available_for(registry=NEWEST_DIGEST, local=NEWER_IMAGE_ID, local_digests=(NEW_DIGEST,),
                          history={SERVICE.name: rolled_back})
    assert found.state == "nouvelle version sur le registre" and found.to_apply


def test_a_rolled_back_settings_change_is_no_refused_version():
    rolled_back = Outcome(ROLLED_BACK, REF, IMAGE_ID, IMAGE_ID, "arrêtée (code 1)", "2026-01-02 03:04")
    assert available_for(history={SERVICE.name: rolled_back}).state == "à jour"


def test_an_applied_version_in_the_history_changes_nothing():
    applied = Outcome(APPLIED, REF, "sha256:" + "9" * 64, IMAGE_ID, "", "2026-01-02 03:04")
    assert available_for(history={SERVICE.name: applied}).state == "à jour"


def test_a_persistent_container_without_consent_is_told_not_applied():
    spec = apache(persistent=True)
    found = available_for(spec, registry=NEW_DIGEST)
    assert found.available and not found.to_apply
    assert found.state == ("nouvelle version sur le registre ; conteneur persistant, mis à jour seulement avec "
                           "conteneur2_mise_a_jour_auto = oui")


def test_a_persistent_container_with_consent_is_applied():
    found = available_for(apache(persistent=True, update=UpdateSettings(consent=True)), registry=NEW_DIGEST)
    assert found.state == "nouvelle version sur le registre" and found.to_apply


def test_a_container_refusing_updates_is_told_not_applied():
    """The administrator's refusal: shown, but not an update for monitoring (--verifier exits 0 for it)."""
    found = available_for(apache(update=UpdateSettings(consent=False)), registry=NEW_DIGEST, local=NEWER_IMAGE_ID,
                          local_digests=(NEW_DIGEST,))
    assert not found.available and not found.to_apply
    assert found.state == ("nouvelle version déjà récupérée, pas encore en service ; mises à jour refusées "
                           "(conteneur2_mise_a_jour_auto = non)")


def test_each_reference_is_asked_once_and_each_container_answered():
    first = apache()
    second = apache(index=3, name="autre", ports=(PortMapping(80, 8082),))
    other = apache(index=4, name="nginx", image=ImageRef(HUB, "nginx", "1"), ports=(PortMapping(80, 8083),))
    engine = RegistryEngine({REF: NEW_DIGEST, str(other.image): DockerOperationError(str(other.image), "x", "refusé")},
                            {REF: IMAGE_ID, str(other.image): IMAGE_ID}, {REF: [OLD_DIGEST]})
    observed = {spec.name: observed_for(spec) for spec in (first, second, other)}
    found = availabilities(engine, [first, second, other], observed, {})
    assert sorted(engine.asked) == sorted([REF, str(other.image)])
    assert [(item.spec.name, item.available, item.error) for item in found] == [
        ("my-apache-app", True, False), ("autre", True, False), ("nginx", False, True)]


# -- the cron lines --------------------------------------------------------------------------------------

UPDATE_LOG = "/var/log/eole-conteneurs-mise-a-jour.log"


@pytest.mark.parametrize("frequency, time, start", [
    ("quotidienne", (4, 30), "30 4 * * * root "),
    ("hebdomadaire", (22, 5), "5 22 * * 0 root "),
    ("quotidienne", (0, 0), "0 0 * * * root "),
])
def test_update_cron_line(frequency, time, start):
    line = schedule.cron_line(UpdatePolicy(frequency, time))
    assert line == (f"{start}umask 077; [ -x /usr/bin/eole-conteneurs ] && /usr/bin/eole-conteneurs mise-a-jour "
                    f"--planifiee >> {UPDATE_LOG} 2>&1")
    assert schedule.LOG == UPDATE_LOG


def test_no_update_cron_line_without_frequency():
    assert schedule.cron_line(UpdatePolicy()) is None and schedule.cron_line(UpdatePolicy("non", (1, 2))) is None


def test_backup_and_update_lines_share_one_file_text():
    backup = eole.cron_line(BackupPolicy(frequency="quotidienne", time=(3, 15)))
    update = schedule.cron_line(UpdatePolicy("hebdomadaire", (4, 30)))
    text = cron.text([backup, update])
    lines = text.splitlines()
    assert lines[0] == cron.HEADER and "SHELL=/bin/sh" in lines and text.endswith("\n")
    jobs = [line for line in lines if line and line[0].isdigit()]
    assert jobs == [backup, update]
    assert "sauvegarde --planifiee" in jobs[0] and jobs[0].startswith("15 3 * * * root")
    assert "mise-a-jour --planifiee" in jobs[1] and jobs[1].startswith("30 4 * * 0 root")
    assert cron.text([None, update]).splitlines()[-1] == update
    assert cron.text([None, None]) is None


def test_cron_file_follows_both_schedules(tmp_path, monkeypatch):
    cron_file = tmp_path / "cron.d" / "eole-conteneurs"
    monkeypatch.setattr(cron, "CRON_FILE", cron_file)
    backup = eole.cron_line(BackupPolicy(frequency="quotidienne", time=(3, 15)))
    update = schedule.cron_line(UpdatePolicy("quotidienne", (4, 30)))
    assert cron.write([backup, update]) is True
    content = cron_file.read_text()
    assert content == cron.text([backup, update]) and cron_file.stat().st_mode & 0o777 == 0o644
    assert "sauvegarde --planifiee" in content and "mise-a-jour --planifiee" in content
    assert cron.write([backup, update]) is False
    assert cron.write([eole.cron_line(BackupPolicy()), update]) is True
    assert "sauvegarde --planifiee" not in cron_file.read_text() and "mise-a-jour --planifiee" in cron_file.read_text()
    assert cron.write([eole.cron_line(BackupPolicy()), schedule.cron_line(UpdatePolicy())]) is True
    assert not cron_file.exists()
    assert cron.write([None, None]) is False


# -- the command line -------------------------------------------------------------------------------------


def test_update_help_parses(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.parser().parse_args(["mise-a-jour", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "--verifier" in out and "--planifiee" in out and "NOM" in out


@pytest.mark.parametrize("argv, names, check, scheduled", [
    (["mise-a-jour"], [], False, False),
    (["mise-a-jour", "--verifier"], [], True, False),
    (["mise-a-jour", "web1", "web2"], ["web1", "web2"], False, False),
    (["mise-a-jour", "--planifiee"], [], False, True),
    (["mise-a-jour", "web1", "--verifier"], ["web1"], True, False),
])
def test_update_arguments_parse(argv, names, check, scheduled):
    args = cli.parser().parse_args(argv)
    assert (args.command, args.names, args.check, args.scheduled) == ("mise-a-jour", names, check, scheduled)
    assert cli.COMMANDS[args.command] is cli.run_update


def test_update_takes_the_configuration_options():
    args = cli.parser().parse_args(["mise-a-jour", "--verifier", "--config", "/tmp/config.eol"])
    assert args.config == Path("/tmp/config.eol")


def test_update_refuses_an_unknown_option(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.parser().parse_args(["mise-a-jour", "--forcer"])
    assert caught.value.code == 2
    assert "--forcer" in capsys.readouterr().err


# -- a killed run's new version, judged again later: its window counts from its start ------------------

def started_ago(answer: dict, seconds: float) -> dict:
    """answer with State.StartedAt seconds before now, as dockerd writes it (nanoseconds, Z)."""
    from datetime import datetime, timedelta, timezone
    moment = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    answer["State"]["StartedAt"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
    return answer


@pytest.mark.parametrize("health", [None, "healthy", "unhealthy"])
def test_a_resumed_version_running_past_its_window_is_kept(clock, health):
    engine = Inspected(started_ago(inspected(health=health, output="x" if health else ""), 3600))
    assert readiness.verdict(engine, WITH_HEALTH, "c" * 64, Journal(io.StringIO()), resumed=True) == ""
    assert clock.slept == 0


def test_a_resumed_version_never_healthy_past_its_window_is_rolled_back(clock):
    engine = Inspected(started_ago(inspected(health="starting", output="404"), 3600))
    why = readiness.verdict(engine, WITH_HEALTH, "c" * 64, Journal(io.StringIO()), resumed=True)
    assert why.startswith("jamais « healthy »") and "404" in why and clock.slept == 0


def test_a_resumed_version_inside_its_window_is_judged_for_the_rest_of_it(clock):
    """Started 10 s before a 15 s window: 5 s more of « starting », then rolled back (not 15 s more)."""
    engine = Inspected(started_ago(inspected(health="starting"), 10))
    why = readiness.verdict(engine, WITH_HEALTH, "c" * 64, Journal(io.StringIO()), resumed=True)
    assert why.startswith("toujours « starting » après 15 s") and 4 <= clock.slept <= 6


# -- a settings change never brings in an image the container must not take ---------------------------------

@pytest.mark.parametrize("held", ["annulée", "refusée"])
def test_a_settings_change_keeps_the_image_in_service_when_the_newer_one_is_held_back(held):
    before = apache(update=UpdateSettings(consent=False if held == "refusée" else None, delay=0))
    current = observed_for(before)
    changed = replace(before, environment=(("MODE", "x"),))
    refused = {before.name: NEWER_IMAGE_ID} if held == "annulée" else None
    action = only(plan_for(changed, current, refused=refused))
    assert action.kind is Kind.RECREATE and action.image == current.image_id
    assert "avec l'image en service" in action.reason


def test_a_settings_change_takes_the_newer_image_when_it_is_accepted():
    spec = apache()
    action = only(plan_for(replace(spec, environment=(("MODE", "x"),)), observed_for(spec)))
    assert action.kind is Kind.RECREATE and action.image == ""


def test_another_declared_reference_is_taken_even_with_updates_refused():
    """= non refuses new versions behind the same tag, not the image the administrator declares."""
    before = apache(update=UpdateSettings(consent=False, delay=0))
    other = replace(before, image=ImageRef(HUB, "httpd", "2.5"))
    action = only(plan_for(other, observed_for(before)))
    assert action.kind is Kind.RECREATE and action.image == ""
