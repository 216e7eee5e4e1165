"""Applying a plan with the Docker adapter: pull first, then touch containers one by one.

A failure on one container is reported and leaves it as it was; the others go on.
A container is replaced as a transaction: the old one is stopped and set aside
under another name, and put back (renamed, restarted) if the new one cannot start.
Containers are handled in dependency order: one whose dependency is not ready is left as it was.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from eole_conteneurs.config.model import ContainerSpec
from eole_conteneurs.containers.labels import Digest, create_request, finished, resource_labels
from eole_conteneurs.containers.planner import (Action, Conflict, Create, Keep, Plan, Recreate, Remove, Resources,
                                                Restore, Start, Stop, declared_spec, make_plan)
from eole_conteneurs.containers.readiness import Readiness, dependency_levels
from eole_conteneurs.containers.secrets import SecretStore
from eole_conteneurs.engine.api import DockerOperationError, Engine, ObservedContainer, PullResult
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal

SET_ASIDE_SUFFIX = "--ancien"
PULL_WORKERS = 4
CREATE_WORKERS = 8  # dockerd serialises part of each creation: more threads stop paying beyond this
ANONYMOUS_VOLUME = re.compile(r"[0-9a-f]{64}")
STARTING = (Create, Recreate, Start, Restore)  # the actions that start a container: after its dependencies
T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class Converger:
    """Carries out plans through an engine, reporting each step in the journal."""

    engine: Engine
    journal: Journal
    scope: str
    secrets: SecretStore | None = None  # None: no secret can be written (plan only, tests)
    adopted: frozenset[str] = frozenset()  # volumes made elsewhere that the module may use
    readiness: Readiness | None = None  # given: another Converger's, shared by parallel creations

    def __post_init__(self) -> None:
        self.dependencies: Readiness = self.readiness or Readiness(self.engine)

    # -- images -----------------------------------------------------------------------

    def pull(self, specs: Sequence[ContainerSpec], only_missing: bool = False,
             strict: bool = True) -> dict[str, str | None]:
        """Pull each image once (in parallel); returns the local image id of every reference.

        An image whose registry digest is the local one is not pulled again. Not strict
        (pretemplate): an image that cannot be had is a warning; the container it belongs to
        is reported as an error when it is converged.
        """
        every = list(dict.fromkeys(str(spec.image) for spec in specs))
        local = {ref: self.engine.image_id(ref) for ref in every} if only_missing else {}
        refs = [ref for ref in every if local.get(ref) is None]
        # A missing image is pulled without asking the registry (an early answer may predate its removal).
        outcomes = in_parallel(self._pull if only_missing else self._pull_one, refs, PULL_WORKERS)
        for ref, outcome in zip(refs, outcomes):
            self._report_pull(ref, outcome, strict)
        # Only what was (or may have been) pulled is asked again: the rest was just read.
        return {ref: local[ref] if local.get(ref) is not None else self.engine.image_id(ref) for ref in every}

    def _pull_one(self, ref: str) -> PullResult | DockerOperationError | None:
        """None: the local image is the registry's, nothing to pull."""
        if self.engine.up_to_date(ref):
            return None
        return self._pull(ref)

    def _pull(self, ref: str) -> PullResult | DockerOperationError:
        try:
            return self.engine.pull(ref)
        except DockerOperationError as error:
            return error

    def _report_pull(self, ref: str, outcome: PullResult | DockerOperationError | None, strict: bool) -> None:
        if outcome is None:
            self.journal.step(f"Image à jour (même empreinte que sur le dépôt) : {ref}")
            return
        self.journal.step(f"Récupération de l'image sur le dépôt : docker pull {ref}")
        if isinstance(outcome, PullResult):
            for message in outcome.messages:
                self.journal.step(message)
        elif self.engine.image_id(ref) is not None:
            self.journal.warn(f"{outcome.detail} ; l'image déjà présente localement est utilisée ({ref})")
        elif strict:
            self.journal.fail(f"image {ref} indisponible : {outcome.detail}")
        else:
            self.journal.warn(f"image {ref} indisponible : {outcome.detail}")

    # -- containers -------------------------------------------------------------------

    def plan(self, specs: Sequence[ContainerSpec], images: dict[str, str | None],
             recreate: frozenset[str] = frozenset(), protected: frozenset[str] = frozenset()) -> Plan:
        # Volumes are listed only when one is declared: a run without any does not ask.
        uses_volumes = any(spec.data_volumes for spec in specs)
        resources = Resources(tuple(self.engine.networks()),
                              tuple(self.engine.volumes()) if uses_volumes else (), self.adopted)
        digest = self.secrets.digest if self.secrets is not None else None
        return make_plan(specs, self.engine.containers(), images, self.scope, recreate, protected, resources, digest)

    def apply(self, plan: Plan) -> None:
        """Undeclared containers first, then networks and volumes, then the declared ones by dependency level.

        Removals free the host ports new containers may take. In each level, everything but
        creations goes in the plan's order, then the creations side by side (their lines
        reported in the plan's order). A level starts once what it depends on is ready.
        """
        failed: set[str] = set()  # names whose action failed: their dependents wait for nothing
        self.dependencies.specs.update((spec.name, spec) for spec in map(declared_spec, plan.actions) if spec)
        for action in plan.actions:
            if declared_spec(action) is None:
                self._apply_reported(action, plan, failed)
        self._make_resources(plan)
        if self.secrets is not None and self.secrets.renewed_key:
            self.journal.warn("clé des secrets absente ou illisible, remplacée : les conteneurs qui ont des secrets "
                              "sont recréés (persistants : « eole-conteneurs apply --recreer NOM »)")
        for level in dependency_levels([action for action in plan.actions if declared_spec(action) is not None]):
            self.dependencies.resolve([action for action in level if isinstance(action, STARTING)], failed, self.journal)
            for action in level:
                if not isinstance(action, Create):
                    self._apply_reported(action, plan, failed)
            self._create_side_by_side([action for action in level if isinstance(action, Create)], plan, failed)
        for network in plan.unused_networks:
            self.journal.step(f"Suppression du réseau {network}, plus utilisé : docker network rm {network}")
            try:
                self.engine.remove_network(network)
            except DockerOperationError as error:
                self.journal.warn(f"réseau {network} conservé : {error}")

    def _create_side_by_side(self, creations: list[Create], plan: Plan, failed: set[str]) -> None:
        # Each its own journal; what is known of the dependencies is shared (only read from here).
        buffered = [Converger(self.engine, Journal(io.StringIO()), self.scope, self.secrets, self.adopted,
                              self.dependencies) for _ in creations]
        outcomes = [set(failed) for _ in creations]  # each sees the failures so far, records its own
        try:
            in_parallel(lambda item: item[0]._apply_reported(item[1], plan, item[2]),
                        list(zip(buffered, creations, outcomes)), CREATE_WORKERS)
        finally:  # what the others did is reported whatever stopped one of them
            for converger, outcome in zip(buffered, outcomes):
                self.journal.merge(converger.journal)
                failed |= outcome

    def _make_resources(self, plan: Plan) -> None:
        """The module's networks and volumes, labelled as its own, before any container needs them."""
        for network in plan.new_networks:
            self._make(f"Création du réseau privé {network} : docker network create {network}",
                       lambda: self.engine.create_network(network, resource_labels(self.scope)))
        for volume in plan.new_volumes:
            self._make(f"Création du volume de données {volume} : docker volume create {volume}",
                       lambda: self.engine.create_volume(volume, resource_labels(self.scope)))

    def _make(self, step: str, make: Callable[[], None]) -> None:
        self.journal.step(step)
        try:
            make()
        except DockerOperationError as error:  # the containers needing it fail on their own, naming it
            self.journal.fail(str(error))

    def _apply_reported(self, action: Action, plan: Plan, failed: set[str]) -> None:
        spec = declared_spec(action)
        if spec is not None:
            self.journal.step(f"Traitement du conteneur {action.name} (conteneur-{spec.index})")
        try:
            self._apply(action, plan, failed)
        except EoleConteneursError as error:  # an operation refused, or dockerd gone (DockerUnavailable)
            self.journal.fail(f"conteneur {action.name} : {error}")
            failed.add(action.name)
            return
        if spec is not None:
            self._report_port(spec)

    def _apply(self, action: Action, plan: Plan, failed: set[str]) -> None:
        if isinstance(action, (Create, Recreate)) and str(action.spec.image) in plan.pulls:
            raise DockerOperationError(action.name, "Création du conteneur",
                                       f"l'image {action.spec.image} n'est pas disponible")
        if isinstance(action, STARTING):  # what starts a container waits for its dependencies
            self.dependencies.check(action.spec, failed)
        if isinstance(action, Create):
            self._create(action.spec)
        elif isinstance(action, Recreate):
            self._recreate(action)
        elif isinstance(action, Start):
            self._start(action)
        elif isinstance(action, Keep):
            self._keep(action)
        elif isinstance(action, Remove):
            self._remove(action)
        elif isinstance(action, Stop):
            self._stop_persistent(action)
        elif isinstance(action, Conflict):
            raise DockerOperationError(action.name, "Gestion du conteneur", action.reason)
        else:
            self._restore_set_aside(action)

    def _create(self, spec: ContainerSpec, carried: tuple[tuple[str, str], ...] = (),
                secrets: tuple[Digest | None, str] | None = None) -> None:
        self._make_host_dirs(spec)
        digest, secrets_dir = secrets if secrets is not None else self._secrets_for(spec)
        request = create_request(spec, self.scope, digest, secrets_dir, carried)
        self.journal.step(f"Lancement du conteneur : {request.command_line()}")
        container = self.engine.create(request)
        try:
            self.engine.start(container)
        except DockerOperationError:
            try:
                self.engine.remove(container)
            except DockerOperationError as cleanup:
                self.journal.fail(f"conteneur {container[:12]} créé mais non supprimé : {cleanup}")
            raise
        self.journal.step(f"Conteneur {spec.name} lancé : {container[:12]}")

    def _secrets_for(self, spec: ContainerSpec) -> tuple[Digest | None, str]:
        """The digest and the directory of spec's secrets, their files written as declared."""
        if not spec.secrets:
            return None, ""
        if self.secrets is None:
            raise DockerOperationError(spec.name, "Écriture des secrets", "pas de répertoire des secrets")
        return self.secrets.digest, str(self.secrets.write(spec))

    def _recreate(self, action: Recreate) -> None:
        spec, old = action.spec, action.current
        self.journal.step(f"Recréation du conteneur {spec.name} : {action.reason}")
        carried = self._anonymous_volumes(spec, old)
        secrets = self._secrets_for(spec)  # before the old one stops: a failure here leaves it running
        self._stop(old)
        renamed = False
        try:
            self.engine.rename(old.id, f"{spec.name}{SET_ASIDE_SUFFIX}-{old.short_id}")
            renamed = True
            self._create(spec, carried, secrets)
        except EoleConteneursError as error:
            self._put_back(old, spec.name if renamed else None)
            detail = error.detail if isinstance(error, DockerOperationError) else str(error)
            raise DockerOperationError(spec.name, "Recréation du conteneur",
                                       f"{detail} ; l'ancien conteneur est remis en service") from error
        self._delete(old)
        if self.secrets is not None:
            self.secrets.forget_others(spec)  # the old container's generation went with it

    def _anonymous_volumes(self, spec: ContainerSpec, old: ObservedContainer) -> tuple[tuple[str, str], ...]:
        """The image's anonymous volumes of the old container, mounted again where nothing declared goes.

        They hold what the service wrote where its image asked for a volume; a new container would
        otherwise start with new, empty ones (docker-compose carries them over the same way).
        """
        declared = {volume.container_dir for volume in spec.volumes}
        declared |= {volume.container_dir for volume in spec.data_volumes}
        declared |= {secret.container_path for secret in spec.secrets}
        carried = tuple((mount.name, mount.destination) for mount in old.mounts
                        if mount.kind == "volume" and ANONYMOUS_VOLUME.fullmatch(mount.name)
                        and mount.destination not in declared)
        for name, destination in carried:
            self.journal.step(f"Volume anonyme {name[:12]} repris sur {destination}")
        return carried

    def _put_back(self, old: ObservedContainer, name: str | None) -> None:
        """Best effort, step by step: the caller reports the original failure whatever happens here."""
        steps: list[Callable[[], None]] = []
        if name is not None:
            original = name
            steps.append(lambda: self.engine.rename(old.id, original))
        if old.running:
            steps.append(lambda: self.engine.start(old.id))
        for step in steps:
            try:
                step()
            except DockerOperationError as error:
                self.journal.fail(f"remise en service de {old.short_id} : {error}")
                return

    def _restore_set_aside(self, action: Restore) -> None:
        container = action.current
        self.journal.step(f"Conteneur {action.name} : {action.reason}, renommé {action.name}")
        self.engine.rename(container.id, action.name)
        if not finished(container):
            self.journal.step(f"Démarrage du conteneur : docker start {action.name}")
            self.engine.start(container.id)

    def _start(self, action: Start) -> None:
        self._report_pending(action)
        self._secrets_for(action.spec)  # the engine reads them again at each start
        self.journal.step(f"Démarrage du conteneur : docker start {action.name}")
        self.engine.start(action.current.id)

    def _keep(self, action: Keep) -> None:
        self._report_pending(action)
        if action.spec is not None:
            self._secrets_for(action.spec)  # in place for the next start (a reboot): put back if removed
        self.journal.step(f"Conteneur {action.name} conservé : {action.reason}")

    def _report_pending(self, action: Start | Keep) -> None:
        if action.pending:
            self.journal.step("Image persistante pas de suppression du conteneur")
            self.journal.warn(f"conteneur {action.name} : {action.pending}")

    def _remove(self, action: Remove) -> None:
        self.journal.step(f"Conteneur {action.name} : {action.reason}")
        self._stop(action.current)
        self._delete(action.current)
        if self.secrets is not None:
            self.secrets.remove(action.name)

    def _stop_persistent(self, action: Stop) -> None:
        self.journal.step(f"Conteneur {action.name} : {action.reason}")
        self._stop(action.current)
        self.journal.step("Image persistante pas de suppression du conteneur")

    def _stop(self, container: ObservedContainer) -> None:
        if container.running:
            self.journal.step(f"Extinction du conteneur {container.short_id} : docker stop {container.short_id}")
            self.engine.stop(container.id)

    def _delete(self, container: ObservedContainer) -> None:
        self.journal.step(f"Suppression du conteneur {container.short_id} : docker rm {container.short_id}")
        self.engine.remove(container.id)

    def _make_host_dirs(self, spec: ContainerSpec) -> None:
        for volume in spec.volumes:
            if not os.path.isdir(volume.host_dir):
                self.journal.step(f"Création du répertoire de l'hôte {volume.host_dir}")
                try:
                    os.makedirs(volume.host_dir, mode=0o755, exist_ok=True)
                except OSError as error:
                    raise DockerOperationError(spec.name, "Création du répertoire de l'hôte",
                                               f"{volume.host_dir} : {error.strerror}") from error

    def _report_port(self, spec: ContainerSpec) -> None:
        if spec.proxied_port is None:
            self.journal.step("Pas de port de sortie")
        else:
            self.journal.step(f"Numéro de port de sortie à configurer : {spec.proxied_port}")


def in_parallel(function: Callable[[T], R], items: list[T], workers: int) -> list[R]:
    """Results in the items' order; no thread for a single item (the usual no-op case)."""
    if len(items) <= 1:
        return [function(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor  # only here: its import is not free
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(function, items))


def docker_run_command(spec: ContainerSpec, secrets_root: str = "") -> str:
    """The docker command line equivalent to what the module does, for the plan (no secret value).

    The secrets' directory is named by a digest of their values, known once they are written: "…" here.
    """
    return create_request(spec, "", lambda secret: "", f"{secrets_root}/{spec.name}/…").command_line()
