"""What a plan is made of: one type of action per sort, each with its reason (made by planner.py).

Pure data: the executor carries the actions out, `eole-conteneurs plan` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, Union

from eole_conteneurs.config.model import ContainerSpec
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
    # An interrupted recreation left the new container and the old one (set aside):
    RESUME = "reprendre la recréation"  # the new one started, then the old one deleted
    FINISH = "terminer la recréation"  # the new one started before the kill: the old one deleted
    UNDO = "annuler la recréation"  # the new one removed, the old one put back


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
    """A new container from spec replaces current (non-persistent, or asked with --recreer).

    together: the names of the recreations carried out as one transaction with this one (this one
    included, in the plan's order), because a new container takes a host port an old one of the group
    holds (two containers swapping their ports); empty when it is replaced on its own.
    """

    kind: ClassVar[Kind] = Kind.RECREATE
    changes: ClassVar[bool] = True
    spec: ContainerSpec
    current: ObservedContainer
    reason: str
    together: tuple[str, ...] = ()
    update: bool = False  # the image is the only change: what `mise-a-jour` carries out
    image: str = ""  # an image id to make it from instead of the reference's (one whose update was rolled back)


@dataclass(frozen=True, eq=False)
class Restore(_NamedBySpec):
    """current was set aside by an interrupted recreation: renamed back (then planned again).

    start: False when a host port of it is declared for another container (a killed swap of ports):
    it would hold that port or fail on it; planned again, it is recreated onto its own.
    """

    kind: ClassVar[Kind] = Kind.RESTORE
    changes: ClassVar[bool] = True
    spec: ContainerSpec
    current: ObservedContainer
    reason: str
    start: bool = True


@dataclass(frozen=True, eq=False)
class Resume(_NamedBySpec):
    """A killed recreation made the new container (current, under the name, the declared one) and did not start
    it; the old one waits under its set-aside name (set_aside[0]; more when several runs were killed).

    The new one is started, then the old ones deleted; if it cannot start, it is removed and the old
    one put back (renamed, restarted): the name is never left without a container that runs.
    """

    kind: ClassVar[Kind] = Kind.RESUME
    changes: ClassVar[bool] = True
    spec: ContainerSpec
    current: ObservedContainer
    set_aside: tuple[ObservedContainer, ...]
    reason: str


@dataclass(frozen=True, eq=False)
class Finish(Restore):
    """A killed recreation had started the new container (current): the old ones (set_aside) are deleted.

    A Restore too: the run plans again afterwards, the new container is then converged as usual.
    """

    kind: ClassVar[Kind] = Kind.FINISH
    set_aside: tuple[ObservedContainer, ...] = ()


@dataclass(frozen=True, eq=False)
class Undo(Restore):
    """A killed recreation made a new container (current) that was never started and is no longer the one to
    start (the declaration changed, or a recreation is asked again): removed, set_aside[0] put back under the
    name (restarted unless it had run to completion). A Restore too: the run plans again afterwards."""

    kind: ClassVar[Kind] = Kind.UNDO
    set_aside: tuple[ObservedContainer, ...] = ()


@dataclass(frozen=True, eq=False)
class Conflict(_NamedBySpec):
    """Something of that name exists and is not the module's (the container, or a network or volume it
    needs): never touched, reported; the container stays as it is (current, None when absent)."""

    kind: ClassVar[Kind] = Kind.CONFLICT
    changes: ClassVar[bool] = True
    spec: ContainerSpec
    current: ObservedContainer | None
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


Action = Union[Create, Recreate, Restore, Resume, Conflict, Start, Keep, Remove, Stop]  # Finish, Undo: Restores


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
    new_networks: tuple[str, ...] = ()  # created before the containers
    new_volumes: tuple[str, ...] = ()
    unused_networks: tuple[str, ...] = ()  # the module's, used by no container any more: removed last

    @property
    def changes(self) -> bool:
        return bool(self.pulls or self.new_networks or self.new_volumes or self.unused_networks) or any(
            action.changes for action in self.actions)

    @property
    def conflicts(self) -> tuple[Conflict, ...]:
        return tuple(action for action in self.actions if isinstance(action, Conflict))
