"""The convergence plan: desired specs vs observed containers → actions, each with its reason.

Pure: no I/O, so `eole-conteneurs plan` can show exactly what `apply` would do, and
so that the decisions are unit-tested without a daemon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from eole_conteneurs.config.model import SET_ASIDE_SUFFIX, ContainerSpec, variable
# The actions, read from here by the modules that use plans (planner.Plan, planner.Kind…).
from eole_conteneurs.containers.actions import (Action, Conflict, Create, Finish, Keep, Kind, Plan,  # noqa: F401
                                                Recreate, Remove, Restore, Resume, Start, Stop, Undo,
                                                declared_spec, pending_change)
from eole_conteneurs.containers.labels import (LABEL_SCOPE, Digest, declared_parameters, finished, fingerprint,
                                               is_persistent, managed_by, stored_fingerprint, stored_parameters)
from eole_conteneurs.engine.api import ObservedContainer, ObservedResource

SET_ASIDE = re.compile(r"(?P<name>.+)" + re.escape(SET_ASIDE_SUFFIX) + r"-[0-9a-f]{12}")
ANY_ADDRESS = ("", "0.0.0.0", "::")  # a port published on every address of the host


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
    # Container name → the image id whose update was rolled back (containers/history.py): not taken again
    # until another image comes, or the administrator asks (`mise-a-jour NOM`).
    refused: Mapping[str, str] = field(default_factory=dict)
    updating: frozenset[str] = frozenset()  # names whose new image replaces them even when persistent

    def persistent(self, container: ObservedContainer) -> bool:
        # A label cannot change: persistence declared after creation is remembered by id.
        return is_persistent(container) or container.id in self.protected


def make_plan(desired: Sequence[ContainerSpec], observed: Sequence[ObservedContainer],
              images: Mapping[str, str | None], scope: str, recreate: frozenset[str] = frozenset(),
              protected: frozenset[str] = frozenset(), resources: Resources = Resources(),
              digest: Digest | None = None, refused: Mapping[str, str] | None = None,
              updating: frozenset[str] = frozenset()) -> Plan:
    situation = Situation(images, scope, recreate, protected, resources, digest, refused or {}, updating)
    # A name on two engines (Docker and Podman): the module's container is the one planned for.
    by_name = {container.name: container for container in sorted(observed, key=lambda item: managed_by(item, scope))}
    declared = {spec.name for spec in desired}
    interrupted = _interrupted(desired, observed, by_name, situation)
    handled = {container.id for action in interrupted.values()
               for container in (action.set_aside if isinstance(action, (Resume, Finish, Undo)) else (action.current,))}
    # Undeclared containers first: removing them frees host ports the declared ones may take.
    actions = [_for_undeclared(container, situation) for container in observed
               if managed_by(container, scope) and container.name not in declared and container.id not in handled]
    actions += [interrupted.get(spec.name) or _for_declared(spec, by_name.get(spec.name), situation)
                for spec in desired]
    actions = _blocked(_together(actions))
    pulls = tuple(dict.fromkeys(spec.image_key for spec in desired if images.get(spec.image_key) is None))
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


def _interrupted(desired: Sequence[ContainerSpec], observed: Sequence[ObservedContainer],
                 by_name: dict[str, ObservedContainer], situation: Situation) -> dict[str, Restore | Resume]:
    """What a killed recreation left, by declared name: the old container under its set-aside name and,
    when it got that far, the new one under the name (a container of another owner there: left as before)."""
    specs = {spec.name: spec for spec in desired}
    set_aside: dict[str, list[ObservedContainer]] = {}
    for container in observed:
        match = SET_ASIDE.fullmatch(container.name)
        # A declared name is never a leftover (validation refuses the suffix; older names may have it).
        if (match and match["name"] in specs and container.name not in specs
                and managed_by(container, situation.scope)):
            set_aside.setdefault(match["name"], []).append(container)
    found: dict[str, Restore | Resume] = {}
    for name, olds in set_aside.items():
        new = by_name.get(name)
        if new is None:
            found[name] = Restore(specs[name], olds[-1],
                                  f"mis de côté par une recréation interrompue ({olds[-1].name})")
        elif managed_by(new, situation.scope):
            found[name] = _resume(specs[name], new, tuple(olds), situation)
    for name, action in found.items():  # an old container put back is started, unless a port of it is taken
        if isinstance(action, Restore) and not isinstance(action, Finish):
            taken = _declared_elsewhere(action.set_aside[0] if isinstance(action, Undo) else action.current, name,
                                        desired)
            if taken:
                found[name] = replace(action, start=False,
                                      reason=f"{action.reason} ; laissé arrêté : {taken}, il est recréé ensuite")
    return found


def _declared_elsewhere(old: ObservedContainer, name: str, desired: Sequence[ContainerSpec]) -> str:
    """A host port of old declared for another container (a killed swap of ports): "" when none."""
    for spec in desired:
        for port in spec.ports:
            wanted = (port.host_ip, port.host_port)
            if spec.name != name and any(_same_port(wanted, held) for held in _held_ports(old)):
                return f"son port {wanted[0]}:{wanted[1]} est déclaré pour {spec.name}"
    return ""


def _resume(spec: ContainerSpec, new: ObservedContainer, olds: tuple[ObservedContainer, ...],
            situation: Situation) -> Restore | Resume:
    """The old container is deleted only once the new one has started; otherwise it is put back."""
    old = f"l'ancien ({', '.join(container.name for container in olds)})"
    what = f"recréation interrompue : le nouveau conteneur ({new.short_id})"
    if new.running or finished(new):
        return Finish(spec, new, f"{what} a démarré ; {old}, mis de côté, est supprimé", set_aside=olds)
    why = _no_longer_fits(spec, new, situation)
    if why:
        return Undo(spec, new, f"{what} n'a pas été démarré et {why} : il est supprimé, {old} est remis en place",
                    set_aside=olds)
    return Resume(spec, new, olds, f"{what} n'a pas été démarré : il est démarré, puis {old} est supprimé ; s'il "
                  "ne démarre pas, il est supprimé et l'ancien remis en service")


def _no_longer_fits(spec: ContainerSpec, new: ObservedContainer, situation: Situation) -> str:
    """Why the new container of an interrupted recreation is not the one to start now ("" when it is)."""
    if spec.name in situation.recreate:
        return "une nouvelle recréation est demandée (--recreer)"
    if _foreign_resource(spec, situation):
        return "un réseau ou un volume qu'il utilise n'est pas à eole-conteneurs"
    differences = _differences(spec, new, situation)
    return f"ne correspond plus à la déclaration ({'; '.join(differences)})" if differences else ""


def _together(actions: list[Action]) -> list[Action]:
    """Recreations whose new host ports an old container of another recreation holds (two containers swapping
    their ports): one after the other, each would fail on the other's port; they are carried out together."""
    recreations = {action.name: action for action in actions if isinstance(action, Recreate)}
    held = {name: _held_ports(action.current) for name, action in recreations.items()}
    takes = [(taker, f"{port[0]}:{port[1]}", holder) for taker, action in recreations.items()
             for port in ((mapping.host_ip, mapping.host_port) for mapping in action.spec.ports)
             for holder in recreations if holder != taker and any(_same_port(port, other) for other in held[holder])]
    if not takes:
        return actions
    group = {name: {name} for name in recreations}
    for taker, _, holder in takes:  # the connected recreations share one set
        merged = group[taker] | group[holder]
        for name in merged:
            group[name] = merged
    grouped = []
    for action in actions:
        members = group.get(action.name, set())
        if isinstance(action, Recreate) and len(members) > 1:
            moves = ", ".join(f"{taker} prend le port {port} de {holder}" for taker, port, holder in takes
                              if taker in members)
            action = replace(action, reason=f"{action.reason} ; recréés ensemble ({moves})",
                             together=tuple(name for name in recreations if name in members))
        grouped.append(action)
    return grouped


def _blocked(actions: list[Action]) -> list[Action]:
    """A recreation whose new host port a container this plan keeps running still holds (a persistent one
    with a pending change) would stop its container, fail, and put it back at every run: a conflict
    instead, naming the holder, and nothing is stopped."""
    kept = [(action.name, port) for action in actions if isinstance(action, Keep) and action.current.running
            for port in _held_ports(action.current)]
    planned: list[Action] = []
    for action in actions:
        holder = _holder(action, kept) if isinstance(action, Recreate) else None
        planned.append(action if holder is None or not isinstance(action, Recreate) else Conflict(
            action.spec, action.current,
            f"{variable(action.spec.index, 'port_hote')} : le port de l'hôte {holder[1]} est encore pris par le "
            f"conteneur {holder[0]}, conservé (persistant, changement en attente) ; {action.name} n'est pas "
            f"arrêté ; pour libérer le port : « eole-conteneurs apply --recreer {holder[0]} »"))
    return planned


def _holder(action: Recreate, kept: list[tuple[str, tuple[str, int]]]) -> tuple[str, str] | None:
    """(holder's name, "address:port") of the first new host port of action a kept container holds."""
    for mapping in action.spec.ports:
        for name, port in kept:
            if name != action.name and _same_port((mapping.host_ip, mapping.host_port), port):
                return name, f"{mapping.host_ip}:{mapping.host_port}"
    return None


def _held_ports(container: ObservedContainer) -> list[tuple[str, int]]:
    """(address, port) of the host the container publishes, as its labels say ("127.0.0.1:8081→80")."""
    held: list[tuple[str, int]] = []
    ports = stored_parameters(container).get("ports")
    for entry in ports if isinstance(ports, list) else ():  # unreadable labels: no port known
        address, _, port = str(entry).rpartition("→")[0].rpartition(":")
        if port.isdigit():
            held.append((address, int(port)))
    return held


def _same_port(one: tuple[str, int], other: tuple[str, int]) -> bool:
    return one[1] == other[1] and (one[0] == other[0] or one[0] in ANY_ADDRESS or other[0] in ANY_ADDRESS)


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
    update = differences == [_new_image(spec)]
    # A container ever persistent (label or id) loses its writable layer only with an explicit oui.
    consented = spec.update.consent is True or not (spec.persistent or situation.persistent(current))
    if update and spec.name in situation.updating and consented:
        return Recreate(spec, current, f"mise à jour : {differences[0]}", update=True)
    # Declared persistent now, or ever: its writable layer is never dropped implicitly.
    if differences and not (spec.persistent or situation.persistent(current)):
        if _image_held_back(spec, current, situation):
            return Recreate(spec, current, "; ".join(differences) + " ; avec l'image en service (la nouvelle a été "
                            "annulée ou n'est pas acceptée)", image=current.image_id)
        return Recreate(spec, current, "; ".join(differences), update=update)
    pending = _pending(spec, current, differences, situation) or _held_back(spec, current, differences, situation)
    if current.running or finished(current):
        state = "en cours d'exécution" if current.running else "exécuté, terminé normalement"
        return Keep(current, f"inchangé, {state}" if not pending else state, spec, pending)
    return Start(spec, current, f"conteneur arrêté ({current.state})", pending)


LABELS = {"image": "image", "ports": "ports", "volumes": "répertoires", "restart": "redémarrage",
          "env": "environnement", "data_volumes": "volumes", "networks": "réseaux privés", "health": "santé",
          "command": "commande", "memory": "mémoire", "capabilities": "capacités", "pids": "processus",
          "technology": "technologie"}
DEFAULTS = {"technology": "docker"}  # left out of the parameters when it is the default (labels.declared_parameters)


def _differences(spec: ContainerSpec, current: ObservedContainer, situation: Situation) -> list[str]:
    local_image = situation.images.get(spec.image_key)
    wanted, stored = declared_parameters(spec, situation.digest), stored_parameters(current)
    if stored_fingerprint(current) != fingerprint(stored) or stored.get("version") != wanted["version"]:
        return ["paramètres enregistrés illisibles ou d'une autre version"]
    differences = [f"{label} : {_shown(stored, key)} → {_shown(wanted, key)}"
                   for key, label in LABELS.items() if stored.get(key) != wanted.get(key)]
    changed = _changed_secrets(stored.get("secrets"), wanted.get("secrets"))
    if changed:
        differences.append(f"secret modifié : {', '.join(changed)}")  # names only: a value is never shown
    if (not differences and local_image is not None and local_image != current.image_id
            and situation.refused.get(spec.name) != local_image and spec.update.consent is not False):
        differences.append(_new_image(spec))
    return differences


def _image_held_back(spec: ContainerSpec, current: ObservedContainer, situation: Situation) -> bool:
    """Same reference, a newer local image it must not take: rolled back before, or refused (= non)."""
    local_image = situation.images.get(spec.image_key)
    if local_image is None or local_image == current.image_id:
        return False
    if stored_parameters(current).get("image") != str(spec.image):  # another reference declared: taken
        return False
    return situation.refused.get(spec.name) == local_image or spec.update.consent is False


def _new_image(spec: ContainerSpec) -> str:
    return f"nouvelle image pour {spec.image}"


def _held_back(spec: ContainerSpec, current: ObservedContainer, differences: list[str],
               situation: Situation) -> str | None:
    """A newer local image the container does not take: one whose update was rolled back, or refused by the
    administrator (conteneurN_mise_a_jour_auto = non). The version in service stays, and says so."""
    local_image = situation.images.get(spec.image_key)
    if differences or local_image is None or local_image == current.image_id:
        return None
    image = f"la nouvelle image de {spec.image} ({local_image.removeprefix('sha256:')[:12]})"
    if situation.refused.get(spec.name) == local_image:
        return (f"{image} n'a pas été saine et a été annulée : la version précédente reste en service ; pour "
                f"réessayer : « eole-conteneurs mise-a-jour {spec.name} »")
    return f"{image} n'est pas installée : mises à jour refusées ({variable(spec.index, 'mise_a_jour_auto')} = non)"


def _changed_secrets(stored: object, wanted: object) -> list[str]:
    old = stored if isinstance(stored, dict) else {}
    new = wanted if isinstance(wanted, dict) else {}
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


def _pending(spec: ContainerSpec, current: ObservedContainer, differences: list[str],
             situation: Situation) -> str | None:
    """A change that would need a new container, not applied to a persistent one.

    Persistence is the label, or the id remembered (Situation.protected): either lasts as long as the
    container, a declaration switched to non holds from its next creation.
    """
    how = f"pour l'appliquer : « eole-conteneurs apply --recreer {spec.name} »"
    switched_off = situation.persistent(current) and not spec.persistent
    if switched_off:
        differences = differences + ["persistance : oui → non, prise en compte à la prochaine recréation"]
        if len(differences) == 1:
            return f"{differences[0]} ; {how}"
    if differences == [_new_image(spec)] and spec.updatable:
        return (f"{differences[0]} ; conteneur persistant non recréé par reconfigure ; pour l'installer : "
                f"« eole-conteneurs mise-a-jour {spec.name} »")
    if differences:
        return "; ".join(differences) + f" ; conteneur persistant non recréé, {how}"
    return None  # switched on: remembered by id (Situation.protected) from this run on


def _shown(parameters: dict[str, object], key: str) -> str:
    return _show(parameters.get(key, DEFAULTS.get(key)))


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
