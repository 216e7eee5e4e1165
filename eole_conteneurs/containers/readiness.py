"""Dependencies: in which order declared containers are handled, and when one is ready for its dependents.

Ready means running and, when the container has a health check (its image's or the declared
command), healthy — as docker-compose's `condition: service_healthy`, Kamal's switch to a
healthy container. A dependency that is not ready in its delay stops its chain there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from eole_conteneurs.config.model import ContainerSpec
from eole_conteneurs.containers.planner import Action, declared_spec
from eole_conteneurs.engine.api import Engine
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
    """What is known, during one run, of whether each dependency is ready (asked once, shared by threads)."""

    engine: Engine
    waits: dict[str, int] = field(default_factory=dict)  # declared name → seconds its dependents wait for it
    ready: dict[str, str] = field(default_factory=dict)  # dependency → "" ready, else why not

    def check(self, spec: ContainerSpec, failed: set[str], journal: Journal) -> None:
        """Returns once every dependency of spec is ready; raises DependencyNotReady otherwise."""
        for dependency in spec.dependencies:
            if dependency in failed:
                raise DependencyNotReady(spec.name, dependency, "son traitement a échoué")
            if dependency not in self.ready:
                self.ready[dependency] = self._wait_until_ready(dependency, journal)
            if self.ready[dependency]:
                raise DependencyNotReady(spec.name, dependency, self.ready[dependency])

    def _wait_until_ready(self, name: str, journal: Journal) -> str:
        """"" once name runs and, when it has a health check, is healthy; otherwise why it is not."""
        wait = self.waits.get(name, 0)
        deadline = time.monotonic() + wait
        announced = False
        while True:
            details = self.engine.inspect(name)
            state = (details or {}).get("State") or {}
            health = (state.get("Health") or {}).get("Status")
            if state.get("Running") and health in (None, "healthy"):
                return ""
            if details is None or not (state.get("Running") or state.get("Restarting")):
                return "absent" if details is None else f"arrêté ({state.get('Status')})"
            if time.monotonic() >= deadline:
                return f"toujours « {health} » après {wait} s"
            if not announced:
                journal.step(f"Attente de {name} : santé « {health} » (au plus {wait} s)")
                announced = True
            time.sleep(READY_POLL)


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
