"""The convergence plan, decided without a daemon: specs + observed containers + local images → actions.

Containers are plain ObservedContainer objects whose labels are those the module writes
(labels_for); a container created from an older declaration carries the labels of that
older spec.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from eole_conteneurs.config.model import ContainerSpec, ImageRef, PortMapping, VolumeMapping
from eole_conteneurs.containers.executor import docker_run_command
from eole_conteneurs.containers.labels import (
    LABEL_FINGERPRINT, LABEL_PERSISTENT, LABEL_SCOPE, LABEL_SPEC, RESTART_ONE_SHOT, RESTART_SERVICE,
    declared_parameters, finished, fingerprint, is_persistent, labels_for, managed_by, restart_policy,
    stored_fingerprint,
    stored_parameters,
    updated_protection,
)
from eole_conteneurs.containers.planner import Action, Kind, Plan, make_plan, pending_change
from eole_conteneurs.engine.api import ObservedContainer
from eole_conteneurs.jobs.operations import describe_plan
from tests.unit.conftest import HUB, IMAGE_ID, NEWER_IMAGE_ID, OTHER_SCOPE, SCOPE, apache, hello, images_for, observed_for

def plan_one(spec: ContainerSpec, container: ObservedContainer | None, image_id: str | None = IMAGE_ID,
             recreate: frozenset[str] = frozenset()) -> Plan:
    return make_plan([spec], [container] if container else [], images_for(spec, image_id=image_id), SCOPE,
                     recreate)


def only(plan: Plan) -> Action:
    assert len(plan.actions) == 1, plan.actions
    return plan.actions[0]


# -- creation, keeping, pulls ---------------------------------------------------------


def test_absent_container_is_created():
    spec = apache()
    plan = plan_one(spec, None)
    action = only(plan)
    assert (action.kind, action.name, action.spec) == (Kind.CREATE, spec.name, spec)
    assert not hasattr(action, "current")
    assert "absent" in action.reason
    assert plan.changes and action.changes and plan.pulls == ()


def test_unchanged_running_container_is_kept():
    spec = apache()
    current = observed_for(spec)
    plan = plan_one(spec, current)
    action = only(plan)
    assert action.kind is Kind.KEEP and action.current is current and action.spec == spec
    assert "inchangé" in action.reason and "en cours d'exécution" in action.reason
    assert action.pending is None and not action.changes


def test_no_change_when_everything_is_kept_and_no_pull():
    specs = [hello(), apache()]
    observed = [observed_for(hello(), state="exited", exit_code=0), observed_for(apache())]
    plan = make_plan(specs, observed, images_for(*specs), SCOPE)
    assert [a.kind for a in plan.actions] == [Kind.KEEP, Kind.KEEP]
    assert not plan.changes and plan.pulls == () and plan.conflicts == ()
    assert plan.observed == tuple(observed)  # reconfigure then does not list the containers again


def test_empty_plan_has_no_change():
    plan = make_plan([], [], {}, SCOPE)
    assert plan.actions == () and plan.pulls == () and not plan.changes


def test_absent_image_is_pulled_and_is_a_change_even_if_all_kept():
    spec = apache()
    plan = plan_one(spec, observed_for(spec), image_id=None)
    assert only(plan).kind is Kind.KEEP
    assert plan.pulls == (str(spec.image),) and plan.changes


def test_each_absent_reference_is_pulled_once_in_declaration_order():
    shared = ImageRef(HUB, "httpd", "2.4")
    first, second = apache(image=shared), apache(index=3, name="other-apache", image=shared,
                                                   ports=(PortMapping(80, 8082),))
    third = hello()
    present = apache(index=4, name="present", image=ImageRef("", "nginx", "1.25"), ports=(PortMapping(80, 8083),))
    images = {str(shared): None, str(third.image): None, str(present.image): IMAGE_ID}
    plan = make_plan([third, first, second, present], [], images, SCOPE)
    assert plan.pulls == (str(third.image), str(shared))


def test_reference_missing_from_the_image_map_counts_as_absent():
    spec = hello()
    plan = make_plan([spec], [], {}, SCOPE)
    assert plan.pulls == (str(spec.image),) and only(plan).kind is Kind.CREATE


# -- one-shot jobs and stopped services ------------------------------------------------


def test_one_shot_policy_is_for_containers_without_ports():
    assert restart_policy(hello()) == RESTART_ONE_SHOT == "no"
    assert restart_policy(apache()) == RESTART_SERVICE == "unless-stopped"


def test_one_shot_finished_successfully_is_kept():
    spec = hello()
    current = observed_for(spec, state="exited", exit_code=0)
    assert finished(current)
    action = only(plan_one(spec, current))
    assert action.kind is Kind.KEEP and "inchangé" in action.reason and "terminé" in action.reason
    assert not action.changes


@pytest.mark.parametrize("exit_code", [1, 125, 137, None])
def test_one_shot_failed_is_started_again(exit_code):
    spec = hello()
    current = observed_for(spec, state="exited", exit_code=exit_code)
    assert not finished(current)
    action = only(plan_one(spec, current))
    assert action.kind is Kind.START and action.current is current
    assert "arrêté" in action.reason and "exited" in action.reason and action.pending is None


def test_service_exited_with_status_zero_is_not_finished_and_is_started():
    spec = apache()
    current = observed_for(spec, state="exited", exit_code=0)
    assert not finished(current)
    assert only(plan_one(spec, current)).kind is Kind.START


@pytest.mark.parametrize("spec", [hello(), apache()], ids=["one-shot", "service"])
@pytest.mark.parametrize("state", ["created", "dead"])
def test_never_started_or_dead_container_is_started(spec, state):
    action = only(plan_one(spec, observed_for(spec, state=state)))
    assert action.kind is Kind.START and state in action.reason


@pytest.mark.parametrize("state", ["running", "restarting", "paused"])
def test_running_like_states_are_kept(state):
    spec = apache()
    assert only(plan_one(spec, observed_for(spec, state=state))).kind is Kind.KEEP


# -- changes of a disposable container ----------------------------------------------------


CHANGES = {
    "tag": (dict(image=ImageRef(HUB, "httpd", "2.5")), "image"),
    "repository": (dict(image=ImageRef(HUB, "nginx", "2.4")), "image"),
    "hub": (dict(image=ImageRef("registry.example.org", "httpd", "2.4")), "image"),
    "host port": (dict(ports=(PortMapping(80, 8090),)), "ports"),
    "container port": (dict(ports=(PortMapping(8080, 8081),)), "ports"),
    "added port": (dict(ports=(PortMapping(80, 8081), PortMapping(443, 8443))), "ports"),
    "host dir": (dict(volumes=(VolumeMapping("/srv/autre", "/usr/local/apache2/htdocs"),)), "répertoires"),
    "container dir": (dict(volumes=(VolumeMapping("/var/eole-httpd", "/var/www"),)), "répertoires"),
    "removed dir": (dict(volumes=()), "répertoires"),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=list(CHANGES))
def test_a_change_recreates_a_disposable_container(change):
    fields, label = change
    old, new = apache(), apache(**fields)
    current = observed_for(old)
    action = only(plan_one(new, current))
    assert action.kind is Kind.RECREATE and action.spec == new and action.current is current
    assert action.reason.startswith(f"{label} :") and "→" in action.reason
    assert pending_change(action) is None


def test_reason_shows_old_and_new_values():
    old, new = apache(), apache(ports=(PortMapping(80, 8090),), image=ImageRef(HUB, "httpd", "2.5"))
    action = only(plan_one(new, observed_for(old)))
    assert "image : 127.0.0.1:5000/httpd:2.4 → 127.0.0.1:5000/httpd:2.5" in action.reason
    assert "ports : 127.0.0.1:8081→80 → 127.0.0.1:8090→80" in action.reason
    assert "répertoires" not in action.reason


def test_removing_all_ports_changes_ports_and_restart_policy():
    old, new = apache(), apache(ports=())
    action = only(plan_one(new, observed_for(old)))
    assert action.kind is Kind.RECREATE
    assert "ports : 127.0.0.1:8081→80 → aucun" in action.reason
    assert "redémarrage : unless-stopped → no" in action.reason


def test_change_of_a_finished_one_shot_recreates_it():
    old, new = hello(), hello(image=ImageRef(HUB, "hello-world", "v2"))
    action = only(plan_one(new, observed_for(old, state="exited", exit_code=0)))
    assert action.kind is Kind.RECREATE and "image" in action.reason


def test_index_change_alone_does_not_recreate():
    old, new = apache(), apache(index=7)
    assert only(plan_one(new, observed_for(old))).kind is Kind.KEEP


def test_newer_local_image_recreates():
    spec = apache()
    action = only(plan_one(spec, observed_for(spec, image_id=IMAGE_ID), image_id=NEWER_IMAGE_ID))
    assert action.kind is Kind.RECREATE and "nouvelle image" in action.reason
    assert str(spec.image) in action.reason


def test_absent_local_image_does_not_recreate():
    spec = apache()
    plan = plan_one(spec, observed_for(spec, image_id=IMAGE_ID), image_id=None)
    action = only(plan)
    assert action.kind is Kind.KEEP and "nouvelle image" not in action.reason
    assert plan.pulls == (str(spec.image),)


def test_declared_change_is_reported_without_the_new_image_line():
    old, new = apache(), apache(ports=(PortMapping(80, 8090),))
    action = only(plan_one(new, observed_for(old, image_id=IMAGE_ID), image_id=NEWER_IMAGE_ID))
    assert action.kind is Kind.RECREATE and "ports" in action.reason and "nouvelle image" not in action.reason


def test_recreate_requested_for_an_unchanged_disposable_container():
    spec = apache()
    action = only(plan_one(spec, observed_for(spec), recreate=frozenset({spec.name})))
    assert action.kind is Kind.RECREATE and "--recreer" in action.reason


def test_recreate_request_for_another_name_changes_nothing():
    spec = apache()
    assert only(plan_one(spec, observed_for(spec), recreate=frozenset({"autre"}))).kind is Kind.KEEP


# -- persistent containers --------------------------------------------------------------


@pytest.mark.parametrize("change", CHANGES.values(), ids=list(CHANGES))
def test_persistent_container_with_a_change_is_kept_with_a_pending_change(change):
    fields, label = change
    old, new = apache(persistent=True), apache(persistent=True, **fields)
    current = observed_for(old)
    plan = plan_one(new, current)
    action = only(plan)
    assert action.kind is Kind.KEEP and action.current is current
    assert "inchangé" not in action.reason and "en cours d'exécution" in action.reason
    assert action.pending is not None and action.pending.startswith(f"{label} :")
    assert f"--recreer {new.name}" in action.pending and "persistant" in action.pending
    assert not action.changes and not plan.changes, "apply cannot make a pending change: plan says 0"


@pytest.mark.parametrize("state,exit_code", [("exited", 1), ("exited", 0), ("created", None)])
def test_stopped_persistent_service_with_a_change_is_started_with_pending(state, exit_code):
    old, new = apache(persistent=True), apache(persistent=True, ports=(PortMapping(80, 8090),))
    action = only(plan_one(new, observed_for(old, state=state, exit_code=exit_code)))
    assert action.kind is Kind.START
    assert "ports" in action.pending and f"--recreer {new.name}" in action.pending


def test_finished_persistent_one_shot_with_a_change_stays_finished_with_pending():
    old = hello(persistent=True)
    new = hello(persistent=True, image=ImageRef(HUB, "hello-world", "v2"))
    action = only(plan_one(new, observed_for(old, state="exited", exit_code=0)))
    assert action.kind is Kind.KEEP and "terminé" in action.reason and "inchangé" not in action.reason
    assert "image" in action.pending


def test_persistent_container_with_newer_local_image_is_not_recreated():
    spec = apache(persistent=True)
    action = only(plan_one(spec, observed_for(spec, image_id=IMAGE_ID), image_id=NEWER_IMAGE_ID))
    assert action.kind is Kind.KEEP
    assert "nouvelle image" in action.pending and f"--recreer {spec.name}" in action.pending


def test_unchanged_persistent_container_is_kept_without_pending():
    spec = apache(persistent=True)
    plan = plan_one(spec, observed_for(spec))
    action = only(plan)
    assert action.kind is Kind.KEEP and action.pending is None and "inchangé" in action.reason
    assert not plan.changes


def test_persistent_container_with_a_change_is_recreated_on_request():
    old, new = apache(persistent=True), apache(persistent=True, ports=(PortMapping(80, 8090),))
    action = only(plan_one(new, observed_for(old), recreate=frozenset({new.name})))
    assert action.kind is Kind.RECREATE and "--recreer" in action.reason and pending_change(action) is None


def test_unchanged_persistent_container_is_recreated_on_request():
    spec = apache(persistent=True)
    action = only(plan_one(spec, observed_for(spec), recreate=frozenset({spec.name})))
    assert action.kind is Kind.RECREATE and "--recreer" in action.reason


@pytest.mark.parametrize("state,exit_code,kind", [("running", None, Kind.KEEP), ("exited", 1, Kind.START)])
def test_persistence_switched_off_alone_is_pending_not_recreated(state, exit_code, kind):
    spec = apache(persistent=False)
    current = observed_for(spec, persistent=True, state=state, exit_code=exit_code)
    plan = plan_one(spec, current)
    action = only(plan)
    assert action.kind is kind
    assert action.pending is not None and "persistance : oui → non" in action.pending
    assert f"--recreer {spec.name}" in action.pending
    if kind is Kind.KEEP:
        assert "inchangé" not in action.reason and not plan.changes


def test_persistence_switched_on_alone_is_kept_quietly():
    """The container is remembered by id from this run on (Situation.protected)."""
    spec = apache(persistent=True)
    action = only(plan_one(spec, observed_for(spec, persistent=False)))
    assert action.kind is Kind.KEEP and action.pending is None


def test_container_labelled_persistent_is_not_recreated_when_declared_disposable_and_changed():
    """Rule: a container that holds a persistent writable layer is never dropped implicitly."""
    old = apache(persistent=True)
    new = apache(persistent=False, ports=(PortMapping(80, 8090),))
    action = only(plan_one(new, observed_for(old)))
    assert action.kind is Kind.KEEP and "ports" in action.pending and f"--recreer {new.name}" in action.pending


def test_disposable_container_newly_declared_persistent_and_changed_is_not_recreated():
    """Rule: the administrator now wants its layer kept: nothing is dropped without --recreer."""
    old = apache(persistent=False)
    new = apache(persistent=True, ports=(PortMapping(80, 8090),))
    action = only(plan_one(new, observed_for(old)))
    assert action.kind is Kind.KEEP and "ports" in action.pending


def test_container_remembered_as_persistent_is_protected_when_undeclared():
    spec = apache(persistent=False)
    current = observed_for(spec)
    plan = make_plan([], [current], {}, SCOPE, protected=frozenset({current.id}))
    assert only(plan).kind is Kind.STOP


def test_container_remembered_as_persistent_is_not_recreated():
    old, new = apache(), apache(ports=(PortMapping(80, 8090),))
    current = observed_for(old)
    plan = make_plan([new], [current], {str(new.image): IMAGE_ID}, SCOPE, protected=frozenset({current.id}))
    assert only(plan).kind is Kind.KEEP and only(plan).pending


def test_set_aside_container_is_restored_when_its_successor_is_missing():
    spec = apache(persistent=True)
    current = observed_for(spec, state="exited", exit_code=137)
    set_aside = ObservedContainer(current.id, f"{spec.name}--ancien-{current.id[:12]}", current.image_id,
                                  "exited", 137, current.labels)
    plan = make_plan([spec], [set_aside], {str(spec.image): IMAGE_ID}, SCOPE)
    (action,) = plan.actions
    assert action.kind is Kind.RESTORE and action.current is set_aside and action.name == spec.name


def test_set_aside_container_with_a_started_successor_is_deleted_to_finish_the_recreation():
    """Killed after the new container started, before the old one was deleted (the run then plans again)."""
    spec = apache()
    current = observed_for(spec)
    leftover = ObservedContainer("f" * 64, f"{spec.name}--ancien-{'f' * 12}", IMAGE_ID, "exited", 137,
                                 current.labels)
    (action,) = make_plan([spec], [current, leftover], {str(spec.image): IMAGE_ID}, SCOPE).actions
    assert action.kind is Kind.FINISH and action.set_aside == (leftover,)


# -- undeclared containers ----------------------------------------------------------------


def test_undeclared_disposable_container_is_removed():
    current = observed_for(apache())
    plan = make_plan([], [current], {}, SCOPE)
    action = only(plan)
    assert (action.kind, action.name, action.current) == (Kind.REMOVE, current.name, current)
    assert not hasattr(action, "spec")
    assert "n'est plus déclaré" in action.reason and plan.changes


@pytest.mark.parametrize("state", ["exited", "created"])
def test_undeclared_stopped_disposable_container_is_removed(state):
    plan = make_plan([], [observed_for(hello(), state=state, exit_code=0)], {}, SCOPE)
    assert only(plan).kind is Kind.REMOVE


@pytest.mark.parametrize("state", ["running", "restarting", "paused"])
def test_undeclared_persistent_running_container_is_stopped(state):
    plan = make_plan([], [observed_for(apache(persistent=True), state=state)], {}, SCOPE)
    action = only(plan)
    assert action.kind is Kind.STOP and "persistant" in action.reason and "conservé" in action.reason
    assert plan.changes


@pytest.mark.parametrize("state,exit_code", [("exited", 0), ("exited", 137), ("created", None)])
def test_undeclared_persistent_stopped_container_is_kept(state, exit_code):
    plan = make_plan([], [observed_for(apache(persistent=True), state=state, exit_code=exit_code)], {}, SCOPE)
    action = only(plan)
    assert action.kind is Kind.KEEP and "conservé" in action.reason and action.pending is None
    assert not plan.changes


def test_undeclared_containers_of_another_scope_or_unlabelled_are_ignored():
    foreign = observed_for(apache(), scope=OTHER_SCOPE)
    unlabelled = observed_for(hello(), labels={})
    stranger = observed_for(hello(), name="nginx", labels={"com.example": "x"})
    plan = make_plan([], [foreign, unlabelled, stranger], {}, SCOPE)
    assert plan.actions == () and not plan.changes


def test_undeclared_actions_come_before_declared_ones():
    gone = observed_for(apache(name="ancien-apache"))
    kept_persistent = observed_for(hello(name="ancien-job", persistent=True), state="running")
    new = apache()  # may take the port freed by the removal
    plan = make_plan([new, hello()], [observed_for(hello()), gone, kept_persistent], images_for(new, hello()), SCOPE)
    assert [(a.name, a.kind) for a in plan.actions] == [
        ("ancien-apache", Kind.REMOVE), ("ancien-job", Kind.STOP),
        ("my-apache-app", Kind.CREATE), ("hello-world", Kind.KEEP)]


# -- conflicts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", [{}, labels_for(apache(), OTHER_SCOPE), {"com.example": "x"}],
                         ids=["no labels", "other scope", "foreign labels"])
def test_same_name_not_managed_in_this_scope_is_a_conflict(labels):
    spec = apache()
    current = observed_for(spec, labels=labels)
    plan = plan_one(spec, current)
    action = only(plan)
    assert action.kind is Kind.CONFLICT and action.current is current and action.spec == spec
    assert plan.conflicts == (action,) and plan.changes
    assert "n'est pas modifié" in action.reason and spec.name in action.reason
    assert current.short_id in action.reason


def test_conflict_wins_over_a_recreate_request():
    spec = apache()
    plan = plan_one(spec, observed_for(spec, labels={}), recreate=frozenset({spec.name}))
    assert only(plan).kind is Kind.CONFLICT


def test_conflict_does_not_hide_the_other_actions():
    specs = [hello(), apache()]
    plan = make_plan(specs, [observed_for(apache(), labels={})], images_for(*specs), SCOPE)
    assert [a.kind for a in plan.actions] == [Kind.CREATE, Kind.CONFLICT]
    assert [a.name for a in plan.conflicts] == ["my-apache-app"]


# -- corrupted labels -----------------------------------------------------------------------------


def _with(spec: ContainerSpec, **labels) -> dict[str, str]:
    base = labels_for(spec, SCOPE)
    base.update(labels)
    return base


CORRUPTED = {
    "invalid JSON": lambda spec: _with(spec, **{LABEL_SPEC: "{not json"}),
    "spec label missing": lambda spec: {k: v for k, v in _with(spec).items() if k != LABEL_SPEC},
    "fingerprint mismatch": lambda spec: _with(spec, **{LABEL_FINGERPRINT: "0" * 64}),
    "fingerprint missing": lambda spec: {k: v for k, v in _with(spec).items() if k != LABEL_FINGERPRINT},
    "edited spec, old fingerprint": lambda spec: _with(
        spec, **{LABEL_SPEC: json.dumps(dict(declared_parameters(spec), image="x:y"))}),
}


@pytest.mark.parametrize("make_labels", CORRUPTED.values(), ids=list(CORRUPTED))
def test_unreadable_stored_parameters_recreate_a_disposable_container(make_labels):
    spec = apache()
    current = observed_for(spec, labels=make_labels(spec))
    action = only(plan_one(spec, current))
    assert action.kind is Kind.RECREATE and "illisibles" in action.reason


def test_other_spec_version_recreates_a_disposable_container():
    spec = apache()
    parameters = dict(declared_parameters(spec), version=0)
    labels = _with(spec, **{LABEL_SPEC: json.dumps(parameters), LABEL_FINGERPRINT: fingerprint(parameters)})
    action = only(plan_one(spec, observed_for(spec, labels=labels)))
    assert action.kind is Kind.RECREATE and "autre version" in action.reason


def test_unreadable_stored_parameters_of_a_persistent_container_are_pending():
    spec = apache(persistent=True)
    current = observed_for(spec, labels=_with(spec, **{LABEL_SPEC: "{not json"}))
    action = only(plan_one(spec, current))
    assert action.kind is Kind.KEEP and "illisibles" in action.pending and "--recreer" in action.pending


def test_corrupted_labels_of_an_undeclared_container_do_not_prevent_its_removal():
    spec = apache()
    current = observed_for(spec, labels=_with(spec, **{LABEL_SPEC: "{not json"}))
    assert only(make_plan([], [current], {}, SCOPE)).kind is Kind.REMOVE


@pytest.mark.parametrize("raw", ["[]", "null", "1"])
def test_non_object_spec_label_of_a_stopped_persistent_container_is_planned(raw):
    spec = apache(persistent=True)
    current = observed_for(spec, state="exited", exit_code=1, labels=_with(spec, **{LABEL_SPEC: raw}))
    action = only(plan_one(spec, current))
    assert action.kind is Kind.START and "illisibles" in action.pending


@pytest.mark.parametrize("raw", ["[]", "null", "1"])
def test_non_object_spec_label_of_a_disposable_container_recreates_it(raw):
    spec = apache()
    current = observed_for(spec, state="exited", exit_code=1, labels=_with(spec, **{LABEL_SPEC: raw}))
    action = only(plan_one(spec, current))
    assert action.kind is Kind.RECREATE and "illisibles" in action.reason


# -- labels themselves --------------------------------------------------------------------------------


def test_labels_carry_scope_persistence_and_a_matching_fingerprint():
    spec = apache(persistent=True)
    labels = labels_for(spec, SCOPE)
    assert labels[LABEL_SCOPE] == SCOPE and labels[LABEL_PERSISTENT] == "oui"
    current = observed_for(spec)
    assert managed_by(current, SCOPE) and not managed_by(current, OTHER_SCOPE) and is_persistent(current)
    assert stored_parameters(current) == declared_parameters(spec)
    assert stored_fingerprint(current) == fingerprint(declared_parameters(spec))
    assert labels_for(apache(), SCOPE)[LABEL_PERSISTENT] == "non"


# -- the docker run line and the plan description ----------------------------------------------------------


def test_docker_run_command_of_a_service():
    spec = apache(ports=(PortMapping(80, 8081), PortMapping(443, 8443)), volumes=(VolumeMapping("/srv/a", "/data"),))
    command = docker_run_command(spec)
    assert command.startswith("docker run -d --name my-apache-app ")
    for part in ("-p 127.0.0.1:8081:80", "-p 127.0.0.1:8443:443", "-v /srv/a:/data", "--restart unless-stopped",
                 "--security-opt no-new-privileges:true"):
        assert part in command
    assert command.endswith(" 127.0.0.1:5000/httpd:2.4")
    assert command.index("8081:80") < command.index("8443:443")


def test_docker_run_command_of_a_one_shot():
    command = docker_run_command(hello())
    assert "--restart no" in command and "-p " not in command and "-v " not in command
    assert command.endswith(" 127.0.0.1:5000/hello-world:latest")


def test_docker_run_command_quotes_odd_paths():
    spec = apache(volumes=(VolumeMapping("/srv/mes données", "/data"),))
    assert "'/srv/mes données:/data'" in docker_run_command(spec)


def test_describe_plan_with_nothing_to_do():
    spec = apache()
    text = describe_plan(plan_one(spec, observed_for(spec)))
    assert text.splitlines()[-1] == "Rien à faire."
    assert "my-apache-app : conserver — inchangé" in text and "Image à récupérer" not in text


def test_describe_empty_plan():
    text = describe_plan(make_plan([], [], {}, SCOPE))
    assert "Aucun conteneur déclaré ni géré." in text and text.endswith("Rien à faire.")


def test_describe_plan_with_changes_lists_pulls_actions_and_run_lines():
    spec = apache()
    plan = make_plan([spec, hello()], [observed_for(hello(), state="exited", exit_code=0)],
                     {str(spec.image): None, str(hello().image): IMAGE_ID}, SCOPE)
    text = describe_plan(plan)
    lines = text.splitlines()
    assert lines[0] == f"Image à récupérer : {spec.image} (absente localement)"
    assert "my-apache-app : créer — conteneur absent" in lines
    assert f"    {docker_run_command(spec)}" in lines
    assert docker_run_command(hello()) not in text  # kept: no run line
    assert lines[-1] == "Des modifications sont à appliquer."


def test_describe_plan_shows_pending_change():
    old, new = apache(persistent=True), apache(persistent=True, ports=(PortMapping(80, 8090),))
    text = describe_plan(plan_one(new, observed_for(old)))
    assert "    en attente : ports" in text and "--recreer my-apache-app" in text
    assert text.endswith("Rien à faire.")


# -- host ports taken from one another (issue 14, item 6) ---------------------------------------------


def web(index: int, host_port: int, **changes) -> ContainerSpec:
    return replace(apache(), index=index, name=f"web{index}", volumes=(), ports=(PortMapping(80, host_port),),
                   **changes)


def test_recreations_swapping_host_ports_are_carried_out_together():
    before = [observed_for(web(1, 8001)), observed_for(web(2, 8002))]
    specs = [web(1, 8002), web(2, 8001)]
    first, second = make_plan(specs, before, images_for(*specs), SCOPE).actions
    assert (first.kind, second.kind) == (Kind.RECREATE, Kind.RECREATE)
    assert first.together == second.together == ("web1", "web2")
    for action in (first, second):
        assert action.reason.startswith("ports : 127.0.0.1:")
        assert ("recréés ensemble (web1 prend le port 127.0.0.1:8002 de web2, "
                "web2 prend le port 127.0.0.1:8001 de web1)") in action.reason


def test_a_port_taken_along_a_chain_makes_one_group():
    """web1 moves to web2's port, web2 to web3's, web3 to a free one: one after the other in this order, each fails."""
    before = [observed_for(web(1, 8001)), observed_for(web(2, 8002)), observed_for(web(3, 8003))]
    specs = [web(1, 8002), web(2, 8003), web(3, 8009)]
    actions = make_plan(specs, before, images_for(*specs), SCOPE).actions
    assert [action.together for action in actions] == [("web1", "web2", "web3")] * 3


def test_a_port_held_by_a_container_the_plan_keeps_is_not_grouped():
    """Not grouped, and not even tried: a conflict that stops nothing; the container kept is not touched."""
    before = [observed_for(web(1, 8001)), observed_for(web(2, 8002))]
    specs = [web(1, 8002), web(2, 8002, environment=(("A", "1"),))]
    kept = make_plan([specs[0], web(2, 8002)], before, images_for(*specs), SCOPE).actions
    assert [(action.kind, getattr(action, "together", None)) for action in kept] == [
        (Kind.CONFLICT, None), (Kind.KEEP, None)]
    assert "ensemble" not in kept[0].reason


def test_a_port_freed_by_a_removed_container_needs_no_group():
    """Undeclared containers are removed before the declared ones are handled."""
    before = [observed_for(web(1, 8001)), observed_for(web(2, 8002))]
    actions = make_plan([web(1, 8002)], before, images_for(web(1, 8002)), SCOPE).actions
    assert [(action.kind, action.name) for action in actions] == [(Kind.REMOVE, "web2"), (Kind.RECREATE, "web1")]
    assert actions[1].together == ()


def test_recreations_on_ports_nobody_of_the_plan_holds_are_not_grouped():
    before = [observed_for(web(1, 8001)), observed_for(web(2, 8002))]
    specs = [web(1, 8011), web(2, 8012)]
    assert [action.together for action in make_plan(specs, before, images_for(*specs), SCOPE).actions] == [(), ()]


def test_a_port_on_every_address_is_the_same_port():
    before = [observed_for(web(1, 8001)), observed_for(web(2, 8002))]
    specs = [web(1, 8002), replace(web(2, 8001), ports=(PortMapping(80, 8001, "0.0.0.0"),))]
    assert [action.together for action in make_plan(specs, before, images_for(*specs), SCOPE).actions] == [
        ("web1", "web2")] * 2


# -- what a killed recreation left (issue 14, item 7) ---------------------------------------------------


def old_set_aside(spec: ContainerSpec, state: str = "exited", exit_code: int | None = 0,
                  persistent: bool | None = None) -> ObservedContainer:
    """The old container of spec, stopped and renamed <name>--ancien-<12 hex> by a recreation."""
    labels = observed_for(spec, persistent=persistent).labels
    container_id = ("0dd" + spec.name.encode().hex() + "e" * 64)[:64]
    return ObservedContainer(container_id, f"{spec.name}--ancien-{container_id[:12]}", IMAGE_ID, state, exit_code,
                             labels)


def test_new_container_never_started_is_started_before_the_old_one_is_deleted():
    """Killed between creating the new container and starting it: no removal of the old one is planned."""
    old_spec, spec = apache(), apache(ports=(PortMapping(80, 8090),))
    new, old = observed_for(spec, state="created"), old_set_aside(old_spec)
    plan = make_plan([spec], [new, old], images_for(spec), SCOPE)
    (action,) = plan.actions
    assert action.kind is Kind.RESUME and plan.changes
    assert action.current is new and action.set_aside == (old,) and action.name == spec.name
    assert action.reason.startswith(f"recréation interrompue : le nouveau conteneur ({new.short_id}) n'a pas été "
                                    "démarré : il est démarré, puis l'ancien")
    assert old.name in action.reason and "l'ancien remis en service" in action.reason
    text = describe_plan(plan)
    assert f"{spec.name} : reprendre la recréation — recréation interrompue" in text


@pytest.mark.parametrize("persistent", [False, True])
def test_new_container_started_leaves_only_the_old_one_to_delete(persistent):
    """Killed after the start, before the deletion: the old one goes even when persistent (--recreer asked)."""
    spec = apache(persistent=persistent)
    new, old = observed_for(spec), old_set_aside(spec, persistent=persistent)
    (action,) = make_plan([spec], [new, old], images_for(spec), SCOPE, protected=frozenset({old.id})).actions
    assert action.kind is Kind.FINISH and action.set_aside == (old,)
    assert "a démarré" in action.reason and "est supprimé" in action.reason


def test_new_one_shot_that_ran_leaves_only_the_old_one_to_delete():
    spec = hello()
    new, old = observed_for(spec, state="exited", exit_code=0), old_set_aside(spec)
    (action,) = make_plan([spec], [new, old], images_for(spec), SCOPE).actions
    assert action.kind is Kind.FINISH


def test_new_container_that_no_longer_fits_the_declaration_is_undone():
    """The declaration changed since: the new container (never started) goes, the old one is put back, then the
    run plans again and recreates it as a whole transaction."""
    spec = apache(ports=(PortMapping(80, 8090),))
    new = observed_for(apache(ports=(PortMapping(80, 8089),)), name=spec.name, state="created")
    old = old_set_aside(apache())
    (action,) = make_plan([spec], [new, old], images_for(spec), SCOPE).actions
    assert action.kind is Kind.UNDO
    assert "ne correspond plus à la déclaration (ports : 127.0.0.1:8089→80 → 127.0.0.1:8090→80)" in action.reason
    assert "remis en place" in action.reason


def test_recreation_requested_again_undoes_the_interrupted_one():
    spec = apache()
    new, old = observed_for(spec, state="created"), old_set_aside(spec)
    (action,) = make_plan([spec], [new, old], images_for(spec), SCOPE, recreate=frozenset({spec.name})).actions
    assert action.kind is Kind.UNDO and "--recreer" in action.reason


def test_set_aside_container_whose_name_another_owner_took_is_left_as_before():
    spec = apache()
    intruder = observed_for(spec, scope=OTHER_SCOPE, state="created")
    old = old_set_aside(spec)
    kinds = [(action.kind, action.name) for action in make_plan([spec], [intruder, old], images_for(spec),
                                                                 SCOPE).actions]
    assert kinds == [(Kind.REMOVE, old.name), (Kind.CONFLICT, spec.name)]


# -- persistence remembered by id (issue 14, item 8) --------------------------------------------------------


def test_persistence_remembered_by_id_then_switched_off_is_pending():
    spec = apache(persistent=False)
    current = observed_for(spec, persistent=False)
    plan = make_plan([spec], [current], images_for(spec), SCOPE, protected=frozenset({current.id}))
    action = only(plan)
    assert action.kind is Kind.KEEP and not plan.changes
    assert action.pending == ("persistance : oui → non, prise en compte à la prochaine recréation ; pour "
                              f"l'appliquer : « eole-conteneurs apply --recreer {spec.name} »")


def test_persistence_switched_off_with_a_change_names_both():
    old, new = apache(persistent=False), apache(persistent=False, image=ImageRef(HUB, "httpd", "2.5"))
    current = observed_for(old)
    action = only(make_plan([new], [current], images_for(new), SCOPE, protected=frozenset({current.id})))
    assert action.kind is Kind.KEEP
    assert action.pending.startswith(f"image : {old.image} → {new.image}; persistance : oui → non, prise en compte "
                                     "à la prochaine recréation ; conteneur persistant non recréé")


def test_protection_by_id_lasts_until_the_container_is_replaced_on_request():
    """Created non-persistent, declared persistent, then non-persistent with a new tag: never recreated
    without --recreer, however many runs; the registry keeps its id while it exists."""
    created = apache(persistent=False)
    current = observed_for(created)
    protected = updated_protection(frozenset(), [apache(persistent=True)], [current])
    assert protected == {current.id}
    later = apache(persistent=False, image=ImageRef(HUB, "httpd", "2.5"))
    for _ in range(2):  # run A, then run B
        action = only(make_plan([later], [current], images_for(later), SCOPE, protected=protected))
        assert action.kind is Kind.KEEP and "persistance : oui → non" in action.pending
        protected = updated_protection(protected, [later], [current])
        assert protected == {current.id}
    recreate = frozenset({later.name})
    assert only(make_plan([later], [current], images_for(later), SCOPE, recreate, protected)).kind is Kind.RECREATE
    replacement = ObservedContainer("9" * 64, later.name, NEWER_IMAGE_ID, "running", labels=labels_for(later, SCOPE))
    assert updated_protection(protected, [later], [replacement]) == frozenset()


def test_protection_of_undeclared_containers_lasts_while_they_exist():
    current = observed_for(apache())
    assert updated_protection(frozenset({current.id, "gone"}), [], [current]) == {current.id}


def test_a_container_put_back_is_left_stopped_when_its_port_is_declared_for_another():
    """A swap of ports killed once both old containers were set aside: started, each would take the port the
    other is declared on; renamed back only, they are recreated together when the run plans again."""
    olds = [old_set_aside(web(1, 8001)), old_set_aside(web(2, 8002))]
    specs = [web(1, 8002), web(2, 8001)]
    actions = make_plan(specs, olds, images_for(*specs), SCOPE).actions
    assert [(action.kind, action.start) for action in actions] == [(Kind.RESTORE, False)] * 2
    assert "laissé arrêté : son port 127.0.0.1:8001 est déclaré pour web2, il est recréé ensuite" in actions[0].reason
    alone = make_plan([web(1, 8003)], olds[:1], images_for(web(1, 8003)), SCOPE).actions
    assert [(action.kind, action.start) for action in alone] == [(Kind.RESTORE, True)]


@pytest.mark.parametrize("ports", [5, "127.0.0.1:8002→80", {"a": 1}, [None, 8002, "x:y→80"]])
def test_unreadable_ports_in_the_labels_hold_no_port(ports):
    before = [observed_for(web(1, 8001)), observed_for(web(2, 8002))]
    before[1].labels[LABEL_SPEC] = json.dumps(dict(stored_parameters(before[1]), ports=ports))
    specs = [web(1, 8002), web(2, 8001)]
    first, _ = make_plan(specs, before, images_for(*specs), SCOPE).actions
    assert first.reason.endswith("recréés ensemble (web2 prend le port 127.0.0.1:8001 de web1)")


def test_a_declared_container_named_like_a_set_aside_one_is_no_leftover():
    """Named <name>--ancien-<12 hex> by its declaration (before validation refused it): planned as itself."""
    web = apache(name="web")
    twin = apache(index=3, name="web--ancien-0123456789ab", persistent=True, ports=(PortMapping(80, 8083),))
    observed = [observed_for(web), observed_for(twin, persistent=True)]
    plan = make_plan([web, twin], observed, images_for(web, twin), SCOPE)
    assert [(action.name, action.kind) for action in plan.actions] == [("web", Kind.KEEP),
                                                                        ("web--ancien-0123456789ab", Kind.KEEP)]
    alone = make_plan([twin], [observed[1]], images_for(twin), SCOPE)  # not renamed to « web » either
    assert [(action.name, action.kind) for action in alone.actions] == [("web--ancien-0123456789ab", Kind.KEEP)]


def test_a_recreation_onto_a_port_a_kept_container_holds_stops_nothing():
    """B is persistent with a pending move off 8082: A (disposable) asked for 8082 would be stopped, fail on
    the port and be put back at every run — a conflict naming B instead, A left running."""
    a_old, b_old = apache(name="a", ports=(PortMapping(80, 8081),)), apache(index=3, name="b",
                                                                           ports=(PortMapping(80, 8082),))
    a_new = replace(a_old, ports=(PortMapping(80, 8082),))
    b_new = replace(b_old, ports=(PortMapping(80, 8083),), persistent=True)
    observed = [observed_for(a_old, name="a"), observed_for(b_old, name="b", persistent=True)]
    plan = make_plan([a_new, b_new], observed, images_for(a_new, b_new), SCOPE)
    kinds = {action.name: action for action in plan.actions}
    assert kinds["b"].kind is Kind.KEEP and pending_change(kinds["b"])
    assert kinds["a"].kind is Kind.CONFLICT
    assert "conteneur2_port_hote" in kinds["a"].reason and "127.0.0.1:8082" in kinds["a"].reason
    assert "--recreer b" in kinds["a"].reason
