"""Replacing containers as transactions: one recreation, recreations that swap host ports, a killed one's leftovers.

The old container is stopped and set aside under another name before the new one is made; it is
deleted only once the new one is healthy (readiness.verdict), and put back (renamed, restarted) if the
new one cannot start or is not healthy in time: the previous image and settings serve again, and
containers/history.py remembers why. Part of the Converger (executor.py), which provides the steps
declared abstract here.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Callable

from eole_conteneurs.config.model import SET_ASIDE_SUFFIX, ContainerSpec
from eole_conteneurs.containers.labels import Digest, finished
from eole_conteneurs.containers.hostdirs import check_bound_dirs, unsafe_bind
from eole_conteneurs.containers.parallel import in_parallel
from eole_conteneurs.containers.planner import (Action, Finish, Plan, Recreate, Restore, Resume, Start, Undo,
                                                declared_spec)
from eole_conteneurs.containers.history import APPLIED, ROLLED_BACK, History, Outcome
from eole_conteneurs.containers.readiness import Readiness, verdict
from eole_conteneurs.containers.secrets import SecretStore
from eole_conteneurs.engine.api import DockerOperationError, Engine, ObservedContainer
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal

ANONYMOUS_VOLUME = re.compile(r"[0-9a-f]{64}")
STOP_WORKERS = 8  # a group's old containers are stopped side by side: each may take its whole stop delay


class Replacing(ABC):
    """The Converger's replacements; what they need of it is declared here."""

    engine: Engine
    journal: Journal
    secrets: SecretStore | None
    dependencies: Readiness
    history: History | None

    @abstractmethod
    def _create(self, spec: ContainerSpec, carried: tuple[tuple[str, str], ...] = (),
                secrets: tuple[Digest | None, str] | None = None, image: str = "") -> str:
        """Create and start spec's container (removed if it cannot start), from image when given; its id."""

    @abstractmethod
    def _start(self, action: Start) -> None:
        """Start a declared container that exists."""

    @abstractmethod
    def _secrets_for(self, spec: ContainerSpec) -> tuple[Digest | None, str]:
        """The digest and the directory of spec's secrets, their files written."""

    # -- one recreation ---------------------------------------------------------------------

    def _recreate(self, action: Recreate) -> None:
        spec, old = action.spec, action.current
        self.journal.step(f"Recréation du conteneur {spec.name} : {action.reason}")
        carried = self._anonymous_volumes(spec, old)
        secrets = self._secrets_for(spec)  # before the old one stops: a failure here leaves it running
        self._stop(old)
        renamed = False
        try:
            self.engine.rename(old.id, set_aside_name(old, spec.name))
            renamed = True
            new = self._create(spec, carried, secrets, action.image)
        except EoleConteneursError as error:
            self._put_back(old, spec.name if renamed else None, old.running)
            raise DockerOperationError(spec.name, "Recréation du conteneur",
                                       f"{_detail(error)} ; l'ancien conteneur est remis en service") from error
        self._keep_if_healthy(spec, new, old, old.running)
        self._delete(old)
        if self.secrets is not None:
            self.secrets.forget_others(spec)  # the old container's generation went with it

    # -- recreations that take each other's host ports -----------------------------------------

    def _recreate_together(self, group: list[Recreate], plan: Plan, failed: set[str]) -> None:
        """Every old container stopped and set aside, then every new one made (in the order given: dependencies
        first), then the old ones deleted. If one new container cannot be made, those already made are removed
        and every old one is put back under its name (restarted when it was running)."""
        names = frozenset(action.name for action in group)
        for action in group:
            self.journal.step(f"Recréation du conteneur {action.name} : {action.reason}")
            if action.spec.image_key in plan.pulls:
                raise DockerOperationError(action.name, "Création du conteneur",
                                           f"l'image {action.spec.image} n'est pas disponible")
            # What it needs outside the group is ready now; the new containers of the group are waited for.
            outside = tuple(name for name in action.spec.dependencies if name not in names)
            self.dependencies.check(replace(action.spec, dependencies=outside), failed)
        prepared = [(action, self._anonymous_volumes(action.spec, action.current), self._secrets_for(action.spec))
                    for action in group]
        # (old container, its name once it is set aside), the new containers made:
        set_aside: list[tuple[ObservedContainer, str | None]] = [(action.current, None) for action in group]
        made: list[str] = []
        current = group[0]
        try:
            self._stop_side_by_side([action.current for action in group])
            for index, current in enumerate(group):
                self.engine.rename(current.current.id, set_aside_name(current.current, current.name))
                set_aside[index] = (current.current, current.name)
            for current, carried, secrets in prepared:
                self.dependencies.check(current.spec, failed)
                made.append(self._create(current.spec, carried, secrets))
                why = verdict(self.engine, current.spec, made[-1], self.journal)
                if why:  # noted for status and diagnose; the whole group is put back below
                    image = str((self.engine.inspect(made[-1]) or {}).get("Image") or current.current.image_id)
                    self._remember(current.name, Outcome(ROLLED_BACK, str(current.spec.image),
                                                         current.current.image_id, image, why))
                    raise DockerOperationError(current.name, "Vérification", f"nouvelle version non saine : {why}")
                self._wait_for_new(current.name, plan, failed)
        except EoleConteneursError as error:
            self._undo_group(made, set_aside)
            ports = ", ".join(f"{port.host_ip}:{port.host_port}" for port in current.spec.ports) or "aucun"
            raise DockerOperationError(", ".join(sorted(names)), "Recréation simultanée",
                                       f"conteneur {current.name} (ports de l'hôte : {ports}) : {_detail(error)} ; "
                                       "les anciens conteneurs sont remis en service") from error
        for action in group:
            self._delete(action.current)
            if self.secrets is not None:
                self.secrets.forget_others(action.spec)

    def _stop_side_by_side(self, containers: list[ObservedContainer]) -> None:
        running = [container for container in containers if container.running]
        for container in running:
            self.journal.step(f"Extinction du conteneur {container.short_id} : {container.technology} stop "
                              f"{container.short_id}")
        errors = [error for error in in_parallel(self._stopped, running, STOP_WORKERS) if error is not None]
        if errors:
            raise errors[0]

    def _stopped(self, container: ObservedContainer) -> DockerOperationError | None:
        try:
            self.engine.stop(container.id)
        except DockerOperationError as error:
            return error
        return None

    def _wait_for_new(self, name: str, plan: Plan, failed: set[str]) -> None:
        """What depends on name was told about the old container: it waits for the new one."""
        if self.dependencies.ready.pop(name, None) is not None:
            dependents = [action for action in plan.actions if name in _dependencies(action)]
            self.dependencies.resolve(dependents, failed, self.journal)

    def _undo_group(self, made: list[str], set_aside: list[tuple[ObservedContainer, str | None]]) -> None:
        for container in made:
            self._delete_quietly(container)
        for old, name in set_aside:
            self._put_back(old, name, old.running)

    # -- what a killed recreation left -----------------------------------------------------------

    def _resume(self, action: Resume) -> None:
        new, old = action.current, action.set_aside[0]
        self.journal.step(f"Conteneur {action.name} : {action.reason}")
        for container in action.set_aside:
            self._stop(container)  # stopped by the recreation; started by hand since, it would hold the ports
        try:
            self._start(Start(action.spec, new, "nouveau conteneur d'une recréation interrompue"))
        except EoleConteneursError as error:
            self._delete_quietly(new.id)
            self._put_back(old, action.name, not finished(old))
            raise DockerOperationError(action.name, "Reprise de la recréation",
                                       f"{_detail(error)} ; le nouveau conteneur est supprimé, l'ancien est remis "
                                       "en service") from error
        self._keep_if_healthy(action.spec, new.id, old, not finished(old), resumed=True)
        for container in action.set_aside:
            self._delete(container)
        if self.secrets is not None:
            self.secrets.forget_others(action.spec)  # the new one is the declared one: its generation stays

    def _finish(self, action: Finish) -> None:
        """The old containers of a recreation whose new one started, once it is healthy (their secrets: at its
        next recreation); otherwise the new one goes and the old one serves again."""
        self.journal.step(f"Conteneur {action.name} : {action.reason}")
        old = action.set_aside[0]
        for container in action.set_aside:
            self._stop(container)  # started by hand since, it would hold the ports
        self._keep_if_healthy(action.spec, action.current.id, old, not finished(old), resumed=True)
        for container in action.set_aside:
            self._delete(container)

    def _undo(self, action: Undo) -> None:
        self.journal.step(f"Conteneur {action.name} : {action.reason}")
        self._delete(action.current)
        self._restore_set_aside(Restore(action.spec, action.set_aside[0], "recréation interrompue annulée",
                                        action.start))

    def _restore_set_aside(self, action: Restore) -> None:
        container = action.current
        self.journal.step(f"Conteneur {action.name} : {action.reason}, renommé {action.name}")
        self.engine.rename(container.id, action.name)
        if action.start and not finished(container):
            check_bound_dirs(action.spec, container)
            self.journal.step(f"Démarrage du conteneur : {container.technology} start {action.name}")
            self.engine.start(container.id)

    # -- the new version: kept when healthy, rolled back otherwise ----------------------------------

    def _keep_if_healthy(self, spec: ContainerSpec, new: str, old: ObservedContainer, restart: bool,
                         resumed: bool = False) -> None:
        """Waits for the verdict on new; when it is not fit, new is removed and old put back under the name
        (restarted when restart), the reason remembered, and DockerOperationError says so."""
        try:
            why = verdict(self.engine, spec, new, self.journal, resumed)
            details = self.engine.inspect(new) or {}
        except EoleConteneursError as error:  # dockerd stopped answering: the transaction is undone, if it can be
            why, details = f"état illisible ({error})", {}
        image = str(details.get("Image") or "")
        if not why:
            if image and image != old.image_id:
                self._remember(spec.name, Outcome(APPLIED, str(spec.image), old.image_id, image))
                self.journal.step(f"Nouvelle version de {spec.name} saine : {_short(old.image_id)} → {_short(image)}")
            else:
                self._remember(spec.name, None)  # new settings that work: a rollback noted before is over
            return
        self.journal.step(f"Nouvelle version de {spec.name} non saine ({why}) : retour à la version précédente "
                          f"({_short(old.image_id)})")
        # Noted first: a run killed while putting the old one back must not try the same image again.
        self._remember(spec.name, Outcome(ROLLED_BACK, str(spec.image), old.image_id, image or old.image_id, why))
        self._delete_quietly(new)
        self._put_back(old, spec.name, restart)
        operation = "Mise à jour" if image != old.image_id else "Recréation du conteneur"
        raise DockerOperationError(spec.name, operation, f"nouvelle version non saine ({why}) ; la version "
                                   f"précédente ({_short(old.image_id)}) est remise en service")

    def _remember(self, name: str, outcome: Outcome | None) -> None:
        """outcome None: nothing to note, and a rollback noted before no longer holds."""
        if self.history is None:
            return
        try:
            if outcome is None:
                self.history.settled(name)
            else:
                self.history.record(name, outcome)
        except EoleConteneursError as error:  # the containers are right; only the account of it is missing
            self.journal.warn(str(error))

    # -- steps ------------------------------------------------------------------------------------

    def _anonymous_volumes(self, spec: ContainerSpec, old: ObservedContainer) -> tuple[tuple[str, str], ...]:
        """The image's anonymous volumes of the old container, mounted again where nothing declared goes.

        They hold what the service wrote where its image asked for a volume; a new container would
        otherwise start with new, empty ones (docker-compose carries them over the same way).
        """
        anonymous = [mount.name for mount in old.mounts
                     if mount.kind == "volume" and ANONYMOUS_VOLUME.fullmatch(mount.name)]
        if old.technology != spec.technology:  # volumes are each engine's own: the other engine cannot mount these
            if anonymous:
                self.journal.warn(f"{spec.name} passe de {old.technology} à {spec.technology} : volume(s) anonyme(s) "
                                  f"{', '.join(name[:12] for name in anonymous)} non repris, conservé(s) sous "
                                  f"{old.technology}")
            return ()
        declared = {volume.container_dir for volume in spec.volumes}
        declared |= {volume.container_dir for volume in spec.data_volumes}
        declared |= {secret.container_path for secret in spec.secrets}
        carried = tuple((mount.name, mount.destination) for mount in old.mounts
                        if mount.kind == "volume" and ANONYMOUS_VOLUME.fullmatch(mount.name)
                        and mount.destination not in declared)
        for name, destination in carried:
            self.journal.step(f"Volume anonyme {name[:12]} repris sur {destination}")
        return carried

    def _put_back(self, old: ObservedContainer, name: str | None, restart: bool) -> None:
        """Best effort, step by step: the caller reports the original failure whatever happens here."""
        steps: list[Callable[[], None]] = []
        if name is not None:
            original = name
            steps.append(lambda: self.engine.rename(old.id, original))
        refused = unsafe_bind(old) if restart else None
        if refused is not None:  # its host directory changed since it ran: left stopped, said
            self.journal.fail(f"{old.short_id} non redémarré : « {refused[0].source} » : {refused[1]}")
        elif restart:
            steps.append(lambda: self.engine.start(old.id))
        for step in steps:
            try:
                step()
            except DockerOperationError as error:
                self.journal.fail(f"remise en service de {old.short_id} : {error}")
                return

    def _delete_quietly(self, container: str) -> None:
        try:
            self.engine.remove(container)
        except DockerOperationError as error:
            self.journal.fail(f"conteneur {container[:12]} non supprimé : {error}")

    def _stop(self, container: ObservedContainer) -> None:
        if container.running:
            self.journal.step(f"Extinction du conteneur {container.short_id} : {container.technology} stop "
                              f"{container.short_id}")
            self.engine.stop(container.id)

    def _delete(self, container: ObservedContainer) -> None:
        self.journal.step(f"Suppression du conteneur {container.short_id} : {container.technology} rm "
                          f"{container.short_id}")
        self.engine.remove(container.id)


def set_aside_name(old: ObservedContainer, name: str) -> str:
    return f"{name}{SET_ASIDE_SUFFIX}-{old.short_id}"


def _dependencies(action: Action) -> tuple[str, ...]:
    spec = declared_spec(action)
    return spec.dependencies if spec is not None else ()


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _detail(error: EoleConteneursError) -> str:
    return error.detail if isinstance(error, DockerOperationError) else str(error)
