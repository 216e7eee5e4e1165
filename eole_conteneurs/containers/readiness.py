"""Dependencies: in which order declared containers are handled, and when one is ready for its dependents;
whether the new container of a recreation is healthy enough to keep.

Ready means running and, when the container has a health check (its image's or the declared
command), healthy — as docker-compose's `condition: service_healthy`, Kamal's switch to a
healthy container. A dependency that is not ready in its delay stops its chain there.
A new version must be healthy in its delay; without a health check, keep running without a
restart for conteneurN_mise_a_jour_delai seconds (Docker Swarm's update monitor): otherwise the
recreation is rolled back (containers/replacement.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eole_conteneurs.config.model import ContainerSpec
from eole_conteneurs.containers.planner import Action, declared_spec
from eole_conteneurs.engine.api import Engine, running_for
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal

READY_POLL = 0.5  # seconds between two looks at a dependency that is not ready yet


class DependencyNotReady(EoleConteneursError):
    """A container was left as it was because one it depends on is not ready."""

    def __init__(self, name: str, dependency: str, detail: str):
        self.dependency = dependency
        super().__init__(f"dépendance {dependency} non prête ({detail}) : conteneur {name} laissé en l'état")


@dataclass(eq=False)
class Readiness:
    """Whether each dependency is ready, found out once per run in the main thread (resolve), then read
    by the actions that start a container (check), side by side or not."""

    engine: Engine
    specs: dict[str, ContainerSpec] = field(default_factory=dict)  # the declared containers, by name
    ready: dict[str, str] = field(default_factory=dict)  # dependency → "" ready, else why not

    def resolve(self, actions: list[Action], failed: set[str], journal: Journal) -> None:
        """Waits, one dependency after the other, for those of actions (a level) not known yet."""
        for action in actions:
            spec = declared_spec(action)
            for dependency in spec.dependencies if spec is not None else ():
                if dependency not in failed and dependency not in self.ready:
                    self.ready[dependency] = self.wait_until_ready(dependency, journal)

    def check(self, spec: ContainerSpec, failed: set[str] | frozenset[str]) -> None:
        """Raises DependencyNotReady unless every dependency of spec is ready (resolve came first)."""
        for dependency in spec.dependencies:
            if dependency in failed:
                raise DependencyNotReady(spec.name, dependency, "son traitement a échoué")
            why = self.ready.get(dependency, "non vérifiée")
            if why:
                raise DependencyNotReady(spec.name, dependency, why)

    def wait_until_ready(self, name: str, journal: Journal) -> str:
        """"" once name runs and, when it has a health check, is healthy; otherwise why it is not.

        A one-shot container (not a service) is ready once it has ended well: it was meant to stop.
        """
        spec = self.specs.get(name)
        wait = spec.health.wait if spec is not None else 0
        deadline = time.monotonic() + wait
        announced = False
        while True:
            details = self.engine.inspect(name)
            state = (details or {}).get("State") or {}
            health = (state.get("Health") or {}).get("Status")
            if state.get("Running") and health in (None, "healthy"):
                return ""
            if details is None:
                return "absent"
            if not (state.get("Running") or state.get("Restarting")):
                if spec is not None and not spec.service and state.get("ExitCode") == 0:
                    return ""
                return f"arrêté ({state.get('Status')}, code {state.get('ExitCode')})"
            if time.monotonic() >= deadline:
                return f"toujours « {health or state.get('Status')} » après {wait} s"
            if not announced:
                journal.step(f"Attente de {name} : « {health or state.get('Status')} » (au plus {wait} s)")
                announced = True
            time.sleep(READY_POLL)


def verdict(engine: Engine, spec: ContainerSpec, container: str, journal: Journal, resumed: bool = False) -> str:
    """"" when the new container of spec is fit to keep; otherwise why not (waits at most its delay).

    A one-shot container is not watched: it is meant to stop. resumed: the new container of a killed run,
    judged again later, its window counted from its start as dockerd recorded it; found past its window,
    it is kept unless it never became healthy (what it wrote since is not thrown away for a passing state).
    """
    if not spec.service:
        return ""
    started: float | None = None
    announced = False
    while True:
        details = engine.inspect(container)
        if details is None:
            return "conteneur disparu"
        state = details.get("State") or {}
        health = state.get("Health") or {}
        status = health.get("Status")
        if details.get("RestartCount") or state.get("Restarting") or not state.get("Running"):
            return _stopped(state, bool(details.get("RestartCount")))
        if started is None:
            started = time.monotonic() - (running_for(state) if resumed else 0.0)
            if resumed and time.monotonic() - started > max(spec.update.delay, spec.health.wait):
                return "" if status != "starting" else f"jamais « healthy » ({_last_check(health)})"
        elapsed = time.monotonic() - started
        if status == "healthy":
            return ""
        if status == "unhealthy":
            return f"vérification de santé en échec ({_last_check(health)})"
        if status is None and elapsed >= spec.update.delay:
            return ""
        if status is not None and elapsed >= spec.health.wait:
            return f"toujours « {status} » après {spec.health.wait} s ({_last_check(health)})"
        if not announced:
            what = (f"attente de « healthy » (au plus {spec.health.wait} s)" if status is not None
                    else f"doit rester en marche {spec.update.delay} s sans redémarrer")
            journal.step(f"Vérification de la nouvelle version de {spec.name} : {what}")
            announced = True
        time.sleep(READY_POLL)


def _stopped(state: dict[str, Any], restarted: bool) -> str:
    detail = f"code {state.get('ExitCode')}" + (f", {state['Error']}" if state.get("Error") else "")
    return f"{'redémarrée par Docker après un arrêt' if restarted else 'arrêtée'} ({detail})"


def _last_check(health: dict[str, Any]) -> str:
    """The last health check's exit code and first line of output, as Docker kept them."""
    log = health.get("Log") or []
    if not log or not isinstance(log[-1], dict):
        return "aucun résultat encore"
    output = " ".join(str(log[-1].get("Output") or "").split())[:200]
    return f"code {log[-1].get('ExitCode')}" + (f" : {output}" if output else "")


def dependency_levels(actions: list[Action]) -> list[list[Action]]:
    """Declared actions grouped so that each comes after every action of the containers it depends on.

    Plan order is kept inside a level. Without any dependency, one level: the order of before.
    """
    level: dict[str, int] = {}
    by_name = {action.name: action for action in actions}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name not in level:
            spec = declared_spec(by_name[name])
            dependencies = [d for d in (spec.dependencies if spec else ()) if d in by_name and d not in seen]
            level[name] = 1 + max((depth(d, seen | {name}) for d in dependencies), default=-1)
        return level[name]

    levels: list[list[Action]] = []
    for action in actions:
        index = depth(action.name, frozenset())
        levels.extend([] for _ in range(index + 1 - len(levels)))
        levels[index].append(action)
    return levels
