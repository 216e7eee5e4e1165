"""The convergence plan: desired specs vs observed containers → actions, each with its reason.

Pure: no I/O, so `eole-conteneurs plan` can show exactly what `apply` would do, and
so that the decisions are unit-tested without a daemon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, Mapping, Sequence, Union

from eole_conteneurs.config.model import ContainerSpec, variable
from eole_conteneurs.containers.labels import (LABEL_SCOPE, Digest, declared_parameters, finished, fingerprint,
                                               is_persistent, managed_by, stored_fingerprint, stored_parameters)
from eole_conteneurs.engine.api import ObservedContainer, ObservedResource


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


@dataclass(frozen=True)
class Resources:
    """The networks and volumes that exist, and what the module may use of them."""

    networks: tuple[ObservedResource, ...] = ()
    volumes: tuple[ObservedResource, ...] = ()
    adopted: frozenset[str] = frozenset()  # volumes made elsewhere the administrator allowed the module to use

    def foreign_network(self, name: str, scope: str) -> bool:
        return _foreign(self.networks, name, scope)

    def foreign_volume(self, name: str, scope: str) -> bool:
        """Made elsewhere and not adopted."""
        return name not in self.adopted and _foreign(self.volumes, name, scope)


def _foreign(resources: tuple[ObservedResource, ...], name: str, scope: str) -> bool:
    return any(item.name == name and item.labels.get(LABEL_SCOPE) != scope for item in resources)


@dataclass(frozen=True)
class Situation:
    """What the planner knows besides the declaration."""

    images: Mapping[str, str | None]  # image reference → local image id (None when absent)
    scope: str
    recreate: frozenset[str] = frozenset()  # names the administrator asked to recreate
    protected: frozenset[str] = frozenset()  # ids of containers ever declared persistent
    resources: Resources = Resources()
    digest: Digest | None = None  # keyed digest of secrets (only asked when one is declared)

    def persistent(self, container: ObservedContainer) -> bool:
        # A label cannot change: persistence declared after creation is remembered by id.
        return is_persistent(container) or container.id in self.protected


def make_plan(desired: Sequence[ContainerSpec], observed: Sequence[ObservedContainer],
              images: Mapping[str, str | None], scope: str, recreate: frozenset[str] = frozenset(),
              protected: frozenset[str] = frozenset(), resources: Resources = Resources(),
              digest: Digest | None = None) -> Plan:
    situation = Situation(images, scope, recreate, protected, resources, digest)
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
    networks = dict.fromkeys(network for spec in desired for network in spec.private_networks)
    volumes = dict.fromkeys(volume.name for spec in desired for volume in spec.data_volumes)
    existing_networks = {network.name for network in resources.networks}
    existing_volumes = {volume.name for volume in resources.volumes}
    return Plan(tuple(actions), pulls, tuple(observed),
                tuple(name for name in networks if name not in existing_networks),
                tuple(name for name in volumes if name not in existing_volumes),
                _unused_networks(set(networks), observed, actions, situation))


def _unused_networks(declared: set[str], observed: Sequence[ObservedContainer], actions: list[Action],
                     situation: Situation) -> tuple[str, ...]:
    """The module's networks no declared container joins and no remaining container names.

    A stopped container counts (dockerd would remove its network and it could not start again);
    those this plan removes or replaces do not: they go with it.
    """
    leaving = {action.current.id for action in actions if isinstance(action, (Remove, Recreate))}
    attached = {network for container in observed if container.id not in leaving for network in container.networks}
    return tuple(network.name for network in situation.resources.networks
                 if network.labels.get(LABEL_SCOPE) == situation.scope
                 and network.name not in declared and network.name not in attached)


def _set_aside(observed: Sequence[ObservedContainer], scope: str, missing: set[str]) -> dict[str, ObservedContainer]:
    """Containers a killed recreation left under their set-aside name while the new one is missing."""
    found = {}
    for container in observed:
        match = SET_ASIDE.fullmatch(container.name)
        if match and managed_by(container, scope) and match["name"] in missing:
            found[match["name"]] = container
    return found


def _foreign_resource(spec: ContainerSpec, situation: Situation) -> str:
    """A network or a volume of that name exists and was not made by the module: never taken silently."""
    resources, scope = situation.resources, situation.scope
    for network in spec.private_networks:
        if resources.foreign_network(network, scope):
            return (f"{variable(spec.index, 'reseau_prive')} : le réseau « {network} » existe déjà et n'est pas géré "
                    "par eole-conteneurs : il n'est pas utilisé ; choisir un autre nom ou le supprimer")
    for volume in spec.data_volumes:
        if resources.foreign_volume(volume.name, scope):
            return (f"{variable(spec.index, 'volume_nom')} : le volume « {volume.name} » existe déjà et n'a pas été "
                    "créé par eole-conteneurs : il n'est pas utilisé sans accord ; pour l'utiliser : "
                    f"« eole-conteneurs volume adopter {volume.name} »")
    return ""


def _for_declared(spec: ContainerSpec, current: ObservedContainer | None, situation: Situation) -> Action:
    scope, recreate = situation.scope, situation.recreate
    foreign = _foreign_resource(spec, situation)
    if current is None:
        return Conflict(spec, None, foreign) if foreign else Create(spec)
    if current.name != spec.name:
        return Restore(spec, current, f"mis de côté par une recréation interrompue ({current.name})")
    if not managed_by(current, scope):
        return Conflict(spec, current,
                        f"un conteneur « {spec.name} » ({current.short_id}) existe déjà et n'est pas géré par "
                        "eole-conteneurs (étiquettes absentes ou d'une autre instance) : il n'est pas modifié ; "
                        "le renommer, le supprimer ou choisir un autre nom")
    if foreign:
        return Conflict(spec, current, foreign)
    differences = _differences(spec, current, situation)
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


LABELS = {"image": "image", "ports": "ports", "volumes": "répertoires", "restart": "redémarrage",
          "env": "environnement", "data_volumes": "volumes", "networks": "réseaux privés", "health": "santé",
          "command": "commande", "memory": "mémoire"}


def _differences(spec: ContainerSpec, current: ObservedContainer, situation: Situation) -> list[str]:
    local_image = situation.images.get(str(spec.image))
    wanted, stored = declared_parameters(spec, situation.digest), stored_parameters(current)
    if stored_fingerprint(current) != fingerprint(stored) or stored.get("version") != wanted["version"]:
        return ["paramètres enregistrés illisibles ou d'une autre version"]
    differences = [f"{label} : {_show(stored.get(key))} → {_show(wanted.get(key))}"
                   for key, label in LABELS.items() if stored.get(key) != wanted.get(key)]
    changed = _changed_secrets(stored.get("secrets"), wanted.get("secrets"))
    if changed:
        differences.append(f"secret modifié : {', '.join(changed)}")  # names only: a value is never shown
    if not differences and local_image is not None and local_image != current.image_id:
        differences.append(f"nouvelle image pour {spec.image}")
    return differences


def _changed_secrets(stored: object, wanted: object) -> list[str]:
    old = stored if isinstance(stored, dict) else {}
    new = wanted if isinstance(wanted, dict) else {}
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


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
        return ", ".join("=".join(entry) if isinstance(entry, list) else str(entry) for entry in value) or "aucun"
    return "aucun" if value in (None, "") else str(value)


def _for_undeclared(container: ObservedContainer, situation: Situation) -> Action:
    if not situation.persistent(container):
        return Remove(container, "n'est plus déclaré")
    if container.running:
        return Stop(container, "persistant, n'est plus déclaré : arrêté, conservé")
    return Keep(container, "persistant, n'est plus déclaré : déjà arrêté, conservé")
