"""The convergence plan: desired specs vs observed containers → actions, each with its reason.

Pure: no I/O, so `eole-conteneurs plan` can show exactly what `apply` would do, and
so that the decisions are unit-tested without a daemon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, Mapping, Sequence, Union

from eole_conteneurs.config.model import ContainerSpec
from eole_conteneurs.containers.labels import (declared_parameters, finished, fingerprint, is_persistent, managed_by,
                                               stored_fingerprint, stored_parameters)
from eole_conteneurs.engine.api import ObservedContainer


class Kind(Enum):
    CREATE = "créer"
    RECREATE = "recréer"
    START = "démarrer"
    KEEP = "conserver"
    REMOVE = "supprimer"
    STOP = "arrêter"  # a persistent container no longer declared: stopped, never removed
    CONFLICT = "conflit"
    RESTORE = "remettre en place"  # set aside by an interrupted recreation: renamed back


SET_ASIDE = re.compile(r"(?P<name>.+)--ancien-[0-9a-f]{12}")


class _NamedBySpec:
    """Named after the declaration the action serves."""

    spec: ContainerSpec

    @property
    def name(self) -> str:
        return self.spec.name


class _NamedByContainer:
    """Named after the container: the declaration is gone."""

    current: ObservedContainer

    @property
    def name(self) -> str:
        return self.current.name


# eq=False: an action is one step of one plan, equal to itself only (and the class is cheaper to make:
# the module is imported by every reconfigure).

@dataclass(frozen=True, eq=False)
class Create(_NamedBySpec):
    """A declared container that does not exist yet."""

    kind: ClassVar[Kind] = Kind.CREATE
    changes: ClassVar[bool] = True
    spec: ContainerSpec
    reason: str = "conteneur absent"


@dataclass(frozen=True, eq=False)
class Recreate(_NamedBySpec):
    """A new container from spec replaces current (non-persistent, or asked with --recreer)."""

    kind: ClassVar[Kind] = Kind.RECREATE
    changes: ClassVar[bool] = True
    spec: ContainerSpec
    current: ObservedContainer
    reason: str


@dataclass(frozen=True, eq=False)
class Restore(_NamedBySpec):
    """current was set aside by an interrupted recreation: renamed back (then planned again)."""

    kind: ClassVar[Kind] = Kind.RESTORE
    changes: ClassVar[bool] = True
    spec: ContainerSpec
    current: ObservedContainer
    reason: str


@dataclass(frozen=True, eq=False)
class Conflict(_NamedBySpec):
    """A container of that name exists and is not the module's: never touched, reported."""

    kind: ClassVar[Kind] = Kind.CONFLICT
    changes: ClassVar[bool] = True
    spec: ContainerSpec
    current: ObservedContainer
    reason: str


@dataclass(frozen=True, eq=False)
class Start(_NamedBySpec):
    """A declared container that is stopped (a persistent one may have a pending change)."""

    kind: ClassVar[Kind] = Kind.START
    changes: ClassVar[bool] = True
    spec: ContainerSpec
    current: ObservedContainer
    reason: str
    pending: str | None = None  # a change of a persistent container, waiting for --recreer


@dataclass(frozen=True, eq=False)
class Keep:
    """Nothing to do; spec is None for a persistent container no longer declared."""

    kind: ClassVar[Kind] = Kind.KEEP
    changes: ClassVar[bool] = False  # a pending change is shown, not made: no change
    current: ObservedContainer
    reason: str
    spec: ContainerSpec | None = None
    pending: str | None = None  # apply cannot make it without --recreer

    @property
    def name(self) -> str:
        return self.spec.name if self.spec is not None else self.current.name


@dataclass(frozen=True, eq=False)
class Remove(_NamedByContainer):
    """A disposable container no longer declared: removed."""

    kind: ClassVar[Kind] = Kind.REMOVE
    changes: ClassVar[bool] = True
    current: ObservedContainer
    reason: str


@dataclass(frozen=True, eq=False)
class Stop(_NamedByContainer):
    """A persistent container no longer declared: stopped, never removed."""

    kind: ClassVar[Kind] = Kind.STOP
    changes: ClassVar[bool] = True
    current: ObservedContainer
    reason: str


Action = Union[Create, Recreate, Restore, Conflict, Start, Keep, Remove, Stop]


def declared_spec(action: Action) -> ContainerSpec | None:
    """The declaration an action serves (None: an undeclared container)."""
    return None if isinstance(action, (Remove, Stop)) else action.spec


def pending_change(action: Action) -> str | None:
    return action.pending if isinstance(action, (Start, Keep)) else None


@dataclass(frozen=True)
class Plan:
    """Every action, in the order they are applied, and the images to pull first."""

    actions: tuple[Action, ...]
    pulls: tuple[str, ...] = ()  # images absent locally
    observed: tuple[ObservedContainer, ...] = ()  # the containers it was computed from

    @property
    def changes(self) -> bool:
        return bool(self.pulls) or any(action.changes for action in self.actions)

    @property
    def conflicts(self) -> tuple[Conflict, ...]:
        return tuple(action for action in self.actions if isinstance(action, Conflict))


@dataclass(frozen=True)
class Situation:
    """What the planner knows besides the declaration."""

    images: Mapping[str, str | None]  # image reference → local image id (None when absent)
    scope: str
    recreate: frozenset[str] = frozenset()  # names the administrator asked to recreate
    protected: frozenset[str] = frozenset()  # ids of containers ever declared persistent

    def persistent(self, container: ObservedContainer) -> bool:
        # A label cannot change: persistence declared after creation is remembered by id.
        return is_persistent(container) or container.id in self.protected


def make_plan(desired: Sequence[ContainerSpec], observed: Sequence[ObservedContainer],
              images: Mapping[str, str | None], scope: str, recreate: frozenset[str] = frozenset(),
              protected: frozenset[str] = frozenset()) -> Plan:
    situation = Situation(images, scope, recreate, protected)
    by_name = {container.name: container for container in observed}
    declared = {spec.name for spec in desired}
    set_aside = _set_aside(observed, scope, declared - set(by_name))
    restoring = {container.id for container in set_aside.values()}
    # Undeclared containers first: removing them frees host ports the declared ones may take.
    actions = [_for_undeclared(container, situation) for container in observed
               if managed_by(container, scope) and container.name not in declared and container.id not in restoring]
    actions += [_for_declared(spec, by_name.get(spec.name) or set_aside.get(spec.name), situation)
                for spec in desired]
    pulls = tuple(dict.fromkeys(str(spec.image) for spec in desired if images.get(str(spec.image)) is None))
    return Plan(tuple(actions), pulls, tuple(observed))


def _set_aside(observed: Sequence[ObservedContainer], scope: str, missing: set[str]) -> dict[str, ObservedContainer]:
    """Containers a killed recreation left under their set-aside name while the new one is missing."""
    found = {}
    for container in observed:
        match = SET_ASIDE.fullmatch(container.name)
        if match and managed_by(container, scope) and match["name"] in missing:
            found[match["name"]] = container
    return found


def _for_declared(spec: ContainerSpec, current: ObservedContainer | None, situation: Situation) -> Action:
    scope, recreate = situation.scope, situation.recreate
    if current is None:
        return Create(spec)
    if current.name != spec.name:
        return Restore(spec, current, f"mis de côté par une recréation interrompue ({current.name})")
    if not managed_by(current, scope):
        return Conflict(spec, current,
                        f"un conteneur « {spec.name} » ({current.short_id}) existe déjà et n'est pas géré par "
                        "eole-conteneurs (étiquettes absentes ou d'une autre instance) : il n'est pas modifié ; "
                        "le renommer, le supprimer ou choisir un autre nom")
    differences = _differences(spec, current, situation.images.get(str(spec.image)))
    if spec.name in recreate:
        return Recreate(spec, current, "recréation demandée (--recreer)")
    # Declared persistent now, or ever: its writable layer is never dropped implicitly.
    if differences and not (spec.persistent or situation.persistent(current)):
        return Recreate(spec, current, "; ".join(differences))
    pending = _pending(spec, current, differences)
    if current.running or finished(current):
        state = "en cours d'exécution" if current.running else "exécuté, terminé normalement"
        return Keep(current, f"inchangé, {state}" if not pending else state, spec, pending)
    return Start(spec, current, f"conteneur arrêté ({current.state})", pending)


def _differences(spec: ContainerSpec, current: ObservedContainer, local_image: str | None) -> list[str]:
    wanted, stored = declared_parameters(spec), stored_parameters(current)
    if stored_fingerprint(current) != fingerprint(stored) or stored.get("version") != wanted["version"]:
        return ["paramètres enregistrés illisibles ou d'une autre version"]
    labels = {"image": "image", "ports": "ports", "volumes": "répertoires", "restart": "redémarrage"}
    differences = [f"{label} : {_show(stored.get(key))} → {_show(wanted[key])}"
                   for key, label in labels.items() if stored.get(key) != wanted[key]]
    if not differences and local_image is not None and local_image != current.image_id:
        differences.append(f"nouvelle image pour {spec.image}")
    return differences


def _pending(spec: ContainerSpec, current: ObservedContainer, differences: list[str]) -> str | None:
    """A change that would need a new container, not applied to a persistent one."""
    how = f"pour l'appliquer : « eole-conteneurs apply --recreer {spec.name} »"
    if differences:
        return "; ".join(differences) + f" ; conteneur persistant non recréé, {how}"
    labelled = is_persistent(current)
    if spec.persistent and not labelled:
        return None  # remembered by id (Situation.protected) from this run on
    if spec.persistent != labelled:
        # Labels cannot change on a container: the new setting holds from its next creation.
        old, new = ("oui" if labelled else "non"), ("oui" if spec.persistent else "non")
        return f"persistance : {old} → {new}, prise en compte à la prochaine recréation ; {how}"
    return None


def _show(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "aucun"
    return str(value)


def _for_undeclared(container: ObservedContainer, situation: Situation) -> Action:
    if not situation.persistent(container):
        return Remove(container, "n'est plus déclaré")
    if container.running:
        return Stop(container, "persistant, n'est plus déclaré : arrêté, conservé")
    return Keep(container, "persistant, n'est plus déclaré : déjà arrêté, conservé")
