"""Applying a plan with plain fake engines: failures among parallel creations, early answers used by pulls,
replacements (host ports swapped, a killed recreation)."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from eole_conteneurs.config.model import Health, ImageRef, PortMapping
from eole_conteneurs.containers.executor import Converger
from eole_conteneurs.containers.labels import labels_for
from eole_conteneurs.containers.planner import Kind, Plan, Restore, make_plan
from eole_conteneurs.engine.api import DockerOperationError, DockerUnavailable, ObservedContainer, PullResult
from eole_conteneurs.engine.creation import CreateRequest
from eole_conteneurs.engine.prefetch import Prefetch, PrefetchingEngine
from eole_conteneurs.journal import Journal
from tests.unit.conftest import IMAGE_ID, SCOPE, apache, images_for


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


class Daemon:
    """A small dockerd: containers with names, states and host ports. A start fails on a host port that another
    running container, or another program, holds."""

    def __init__(self, programs: tuple[tuple[str, int], ...] = ()):
        self.by_id: dict[str, dict] = {}
        self.programs = set(programs)  # (address, port) held outside Docker
        self.calls: list[str] = []

    def made_from(self, spec, state: str = "running") -> str:
        """A container the module made from spec before."""
        return self._add(spec.name, labels_for(spec, SCOPE), {(port.host_ip, port.host_port) for port in spec.ports},
                         state)

    def _add(self, name: str, labels: dict, ports: set, state: str) -> str:
        container = f"{len(self.by_id) + 1:x}{name.encode().hex()}".ljust(64, "0")[:64]
        self.by_id[container] = {"name": name, "state": state, "labels": labels, "ports": ports}
        return container

    def _find(self, ref: str) -> dict:
        for container, entry in self.by_id.items():
            if ref in (container, entry["name"]):
                return entry
        raise DockerOperationError(ref, "Lecture du conteneur", "No such container")

    def state(self) -> dict[str, str]:
        return {entry["name"]: entry["state"] for entry in self.by_id.values()}

    def ports(self, name: str) -> set:
        return self._find(name)["ports"]

    def containers(self) -> list[ObservedContainer]:
        return [ObservedContainer(container, entry["name"], IMAGE_ID, entry["state"],
                                  0 if entry["state"] == "exited" else None, dict(entry["labels"]))
                for container, entry in self.by_id.items()]

    def networks(self) -> list:
        return []

    def volumes(self) -> list:
        return []

    def inspect(self, ref: str) -> dict:
        return {"State": {"Running": self._find(ref)["state"] == "running"}}

    def create(self, request: CreateRequest) -> str:
        self.calls.append(f"create {request.name}")
        if any(entry["name"] == request.name for entry in self.by_id.values()):
            raise DockerOperationError(request.name, "Création du conteneur", "name already in use")
        return self._add(request.name, dict(request.labels),
                         {(port.host_ip, port.host_port) for port in request.ports}, "created")

    def start(self, ref: str) -> None:
        entry = self._find(ref)
        self.calls.append(f"start {entry['name']}")
        for port in sorted(entry["ports"]):
            if port in self.programs or any(other is not entry and other["state"] == "running"
                                            and port in other["ports"] for other in self.by_id.values()):
                raise DockerOperationError(entry["name"], "Démarrage du conteneur",
                                           f"Bind for {port[0]}:{port[1]} failed: port is already allocated")
        entry["state"] = "running"

    def stop(self, ref: str, timeout: int = 10) -> None:
        entry = self._find(ref)
        self.calls.append(f"stop {entry['name']}")
        entry["state"] = "exited"

    def remove(self, ref: str) -> None:
        entry = self._find(ref)
        self.calls.append(f"rm {entry['name']}")
        del self.by_id[next(container for container, other in self.by_id.items() if other is entry)]

    def rename(self, ref: str, name: str) -> None:
        if any(entry["name"] == name for entry in self.by_id.values()):
            raise DockerOperationError(ref, "Renommage du conteneur", "name already in use")
        self._find(ref)["name"] = name


def web(index: int, host_port: int, **changes):
    return replace(apache(), index=index, name=f"web{index}", volumes=(), ports=(PortMapping(80, host_port),),
                   **changes)


def converge(daemon: Daemon, specs: list) -> tuple[Journal, Plan]:
    """One apply, as `eole-conteneurs apply` does it (planned again after putting back what a killed run left)."""
    journal = Journal(io.StringIO())
    converger = Converger(daemon, journal, SCOPE)
    plan = make_plan(specs, daemon.containers(), images_for(*specs), SCOPE)
    converger.apply(plan)
    if any(isinstance(action, Restore) for action in plan.actions):
        converger.apply(make_plan(specs, daemon.containers(), images_for(*specs), SCOPE))
    return journal, plan


def nothing_left_to_do(daemon: Daemon, specs: list) -> bool:
    return not make_plan(specs, daemon.containers(), images_for(*specs), SCOPE).changes


def test_two_containers_swapping_host_ports_converge_in_one_run():
    daemon = Daemon()
    old = {daemon.made_from(web(1, 8001)), daemon.made_from(web(2, 8002))}
    specs = [web(1, 8002), web(2, 8001)]
    journal, _ = converge(daemon, specs)
    assert journal.errors == [], journal.out.getvalue()
    assert daemon.state() == {"web1": "running", "web2": "running"} and not old & set(daemon.by_id)
    assert daemon.ports("web1") == {("127.0.0.1", 8002)} and daemon.ports("web2") == {("127.0.0.1", 8001)}
    assert sorted(daemon.calls[:2]) == ["stop web1", "stop web2"], "each old one stopped once, before any new one"
    assert daemon.calls.count("stop web1") == daemon.calls.count("stop web2") == 1
    assert nothing_left_to_do(daemon, specs)


def test_a_group_is_made_in_dependency_order_each_new_container_waiting_for_the_one_it_needs():
    daemon = Daemon()
    daemon.made_from(web(1, 8002, dependencies=("web2",)))
    daemon.made_from(web(2, 8001))
    specs = [web(1, 8001, dependencies=("web2",)), web(2, 8002)]
    journal, plan = converge(daemon, specs)
    assert journal.errors == [], journal.out.getvalue()
    assert [call for call in daemon.calls if call.startswith("create")] == ["create web2", "create web1"]
    assert daemon.state() == {"web1": "running", "web2": "running"} and nothing_left_to_do(daemon, specs)


def test_a_group_whose_new_container_cannot_start_puts_every_old_one_back():
    """web2's new port is another program's: web1's new container (already started) goes too, both old ones
    come back under their names, running; the error names the port."""
    daemon = Daemon(programs=(("127.0.0.1", 8009),))
    old = {daemon.made_from(web(1, 8001)): "web1", daemon.made_from(web(2, 8002)): "web2"}
    journal, _ = converge(daemon, [web(1, 8002), web(2, 8009)])
    assert {container: entry["name"] for container, entry in daemon.by_id.items()} == old
    assert daemon.state() == {"web1": "running", "web2": "running"}
    (error,) = journal.errors
    assert "web2 (ports de l'hôte : 127.0.0.1:8009)" in error and "Bind for 127.0.0.1:8009 failed" in error
    assert "les anciens conteneurs sont remis en service" in error


def test_a_port_held_by_a_container_the_plan_keeps_fails_without_stopping_anything():
    daemon = Daemon()
    old = {daemon.made_from(web(1, 8001)): "web1", daemon.made_from(web(2, 8002)): "web2"}
    journal, _ = converge(daemon, [web(1, 8002), web(2, 8002, health=Health(wait=5))])
    assert {container: entry["name"] for container, entry in daemon.by_id.items()} == old
    assert daemon.state() == {"web1": "running", "web2": "running"}
    (error,) = journal.errors
    assert error.startswith("conteneur web1 : ") and "--recreer web2" in error
    assert "docker stop" not in journal.out.getvalue(), "nothing stopped for a recreation that cannot succeed"


class Killed(BaseException):
    """The run killed (kill -9): nothing after it runs, no clean-up."""


def killed_between_create_and_start(daemon: Daemon, spec, monkeypatch) -> None:
    started = daemon.start

    def start(ref: str) -> None:
        if daemon._find(ref)["state"] == "created":
            raise Killed()
        started(ref)

    monkeypatch.setattr(daemon, "start", start)
    with pytest.raises(Killed):
        converge(daemon, [spec])
    monkeypatch.setattr(daemon, "start", started)


def test_a_recreation_killed_before_the_start_is_finished_by_the_next_run(monkeypatch):
    daemon = Daemon()
    old = daemon.made_from(web(1, 8001))
    spec = web(1, 8002)
    killed_between_create_and_start(daemon, spec, monkeypatch)
    assert sorted(daemon.state().values()) == ["created", "exited"]
    assert daemon.by_id[old]["name"] == f"web1--ancien-{old[:12]}"

    daemon.calls.clear()
    journal, plan = converge(daemon, [spec])
    assert journal.errors == [], journal.out.getvalue()
    assert [action.kind for action in plan.actions] == [Kind.RESUME]
    assert daemon.calls == ["start web1", f"rm web1--ancien-{old[:12]}"], "the old one deleted once the new one runs"
    assert daemon.state() == {"web1": "running"} and daemon.ports("web1") == {("127.0.0.1", 8002)}
    assert nothing_left_to_do(daemon, [spec])


def test_a_killed_recreation_whose_new_container_cannot_start_puts_the_old_one_back(monkeypatch):
    daemon = Daemon()
    old = daemon.made_from(web(1, 8001))
    spec = web(1, 8002)
    killed_between_create_and_start(daemon, spec, monkeypatch)
    daemon.programs.add(("127.0.0.1", 8002))

    journal, _ = converge(daemon, [spec])
    (error,) = journal.errors  # tried once: the old one is not stopped again by a second attempt
    assert "Bind for 127.0.0.1:8002 failed" in error and "l'ancien est remis en service" in error
    assert list(daemon.by_id) == [old] and daemon.state() == {"web1": "running"}


def test_a_recreation_killed_after_the_start_ends_with_the_old_one_deleted():
    daemon = Daemon()
    spec = web(1, 8002, persistent=True)  # persistent: replaced on request (--recreer), then killed
    old = daemon.made_from(spec, state="exited")
    daemon.by_id[old]["name"] = f"web1--ancien-{old[:12]}"
    new = daemon.made_from(spec)
    journal, _ = converge(daemon, [spec])
    assert journal.errors == [] and list(daemon.by_id) == [new] and "start web1" not in daemon.calls
    assert nothing_left_to_do(daemon, [spec])


SCENARIOS = {  # what exists, then what is declared
    "recréation": ([web(1, 8001)], [web(1, 8002)]),
    "échange de ports": ([web(1, 8001), web(2, 8002)], [web(1, 8002), web(2, 8001)]),
}


@pytest.mark.parametrize("kill_at", range(1, 12))
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_run_killed_at_any_engine_call_is_made_good_by_the_next_one_without_error(scenario, kill_at):
    """kill -9 at the n-th change dockerd is asked for: the next run converges and reports no error (nothing
    put back on a port another container is about to take); the run after it has nothing to do."""
    before, specs = SCENARIOS[scenario]
    daemon = Daemon()
    for spec in before:
        daemon.made_from(spec)
    calls = [0]
    originals = {name: getattr(daemon, name) for name in ("stop", "rename", "create", "start", "remove")}

    def killing(call):
        def counted(*args, **kwargs):
            calls[0] += 1
            if calls[0] == kill_at:
                raise Killed()
            return call(*args, **kwargs)
        return counted

    for name, call in originals.items():
        setattr(daemon, name, killing(call))
    try:
        converge(daemon, specs)
    except Killed:
        pass
    for name, call in originals.items():
        setattr(daemon, name, call)

    journal, _ = converge(daemon, specs)
    assert journal.errors == [], journal.out.getvalue()
    assert daemon.state() == {spec.name: "running" for spec in specs}
    assert all(daemon.ports(spec.name) == {("127.0.0.1", spec.ports[0].host_port)} for spec in specs)
    assert nothing_left_to_do(daemon, specs)
