"""Applying a plan with the Docker adapter: pull first, then touch containers one by one.

A failure on one container is reported and leaves it as it was; the others go on.
A container is replaced as a transaction (replacement.py): the old one is stopped and set aside
under another name, and put back (renamed, restarted) if the new one cannot start; containers that
take each other's host ports are replaced together.
Containers are handled in dependency order: one whose dependency is not ready is left as it was.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable, Sequence

from eole_conteneurs.config.model import ContainerSpec
from eole_conteneurs.containers.labels import Digest, create_request, resource_labels, with_image_labels
from eole_conteneurs.containers.planner import (SET_ASIDE, Action, Conflict, Create, Finish, Keep, Plan, Recreate,
                                                Remove, Resources, Restore, Resume, Start, Stop, Undo, declared_spec,
                                                make_plan)
from eole_conteneurs.containers.parallel import in_parallel
from eole_conteneurs.containers.history import History
from eole_conteneurs.containers.hostdirs import check_bound_dirs, check_unchanged, resolved_host_dirs
from eole_conteneurs.containers.readiness import Readiness, dependency_levels
from eole_conteneurs.containers.replacement import Replacing
from eole_conteneurs.containers.secrets import SecretStore
from eole_conteneurs.engine.api import DOCKER, DockerOperationError, Engine, ObservedContainer, PullResult, of_technology
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal

PULL_WORKERS = 4
CREATE_WORKERS = 8  # dockerd serialises part of each creation: more threads stop paying beyond this
STARTING = (Create, Recreate, Start, Restore, Resume)  # the actions that start a container: after its dependencies


@dataclass(frozen=True)
class _Image:
    """A declared image reference, in the store of one technology."""

    ref: str
    technology: str


def _named_after(container: ObservedContainer, specs: Sequence[ContainerSpec]) -> bool:
    """The container of one of specs, or one set aside by a recreation of it."""
    match = SET_ASIDE.fullmatch(container.name)
    return any(container.name == spec.name or (match and match.group("name") == spec.name) for spec in specs)


def local_images(engine: Engine, specs: Sequence[ContainerSpec]) -> dict[str, str | None]:
    """The local image id of each declared image (by ContainerSpec.image_key), as plan() takes them: nothing pulled."""
    return {spec.image_key: of_technology(engine, spec.technology).image_id(str(spec.image)) for spec in specs}


@dataclass(eq=False)
class Converger(Replacing):
    """Carries out plans through an engine, reporting each step in the journal."""

    engine: Engine
    journal: Journal
    scope: str
    secrets: SecretStore | None = None  # None: no secret can be written (plan only, tests)
    adopted: frozenset[str] = frozenset()  # volumes made elsewhere that the module may use
    readiness: Readiness | None = None  # given: another Converger's, shared by parallel creations
    history: History | None = None  # None: new versions are not remembered (plan only, tests)

    def __post_init__(self) -> None:
        self.dependencies: Readiness = self.readiness or Readiness(self.engine)

    # -- images -----------------------------------------------------------------------

    def pull(self, specs: Sequence[ContainerSpec], only_missing: bool = False,
             strict: bool = True) -> dict[str, str | None]:
        """Pull each image once per technology (in parallel); returns the local image id by ContainerSpec.image_key.

        An image whose registry digest is the local one is not pulled again. Not strict
        (pretemplate): an image that cannot be had is a warning; the container it belongs to
        is reported as an error when it is converged.
        """
        images = {spec.image_key: _Image(str(spec.image), spec.technology) for spec in specs}
        every = list(images.values())
        # Images whose containers all refuse updates (conteneurN_mise_a_jour_auto = non): pulled only if missing.
        accepting = {spec.image_key for spec in specs if spec.update.consent is not False}
        frozen = [image for key, image in images.items() if key not in accepting]
        local = {image: self._engine(image).image_id(image.ref) for image in (every if only_missing else frozen)}
        missing = [image for image in every if local.get(image) is None]
        for image in frozen if not only_missing else ():
            if local.get(image) is not None:
                self.journal.step(f"Image conservée, mises à jour refusées (mise_a_jour_auto = non) : {image.ref}")
        # A missing image is pulled without asking the registry (an early answer may predate its removal).
        outcomes = in_parallel(self._pull if only_missing else self._pull_one, missing, PULL_WORKERS)
        for image, outcome in zip(missing, outcomes):
            self._report_pull(image, outcome, strict)
        # Only what was (or may have been) pulled is asked again: the rest was just read.
        return {key: local[image] if local.get(image) is not None else self._engine(image).image_id(image.ref)
                for key, image in images.items()}

    def _engine(self, image: _Image) -> Engine:
        return of_technology(self.engine, image.technology)

    def _pull_one(self, image: _Image) -> PullResult | DockerOperationError | None:
        """None: the local image is the registry's, nothing to pull."""
        if self._engine(image).up_to_date(image.ref):
            return None
        return self._pull(image)

    def _pull(self, image: _Image) -> PullResult | DockerOperationError:
        try:
            return self._engine(image).pull(image.ref)
        except DockerOperationError as error:
            return error

    def _report_pull(self, image: _Image, outcome: PullResult | DockerOperationError | None, strict: bool) -> None:
        ref = image.ref
        if outcome is None:
            self.journal.step(f"Image à jour (même empreinte que sur le dépôt) : {ref}")
            return
        self.journal.step(f"Récupération de l'image sur le dépôt : {image.technology} pull {ref}")
        if isinstance(outcome, PullResult):
            for message in outcome.messages:
                self.journal.step(message)
        elif self._engine(image).image_id(ref) is not None:
            self.journal.warn(f"{outcome.detail} ; l'image déjà présente localement est utilisée ({ref})")
        elif strict:
            self.journal.fail(f"image {ref} indisponible : {outcome.detail}")
        else:
            self.journal.warn(f"image {ref} indisponible : {outcome.detail}")

    # -- containers -------------------------------------------------------------------

    def plan(self, specs: Sequence[ContainerSpec], images: dict[str, str | None],
             recreate: frozenset[str] = frozenset(), protected: frozenset[str] = frozenset(),
             updating: frozenset[str] = frozenset(), left_alone: Sequence[ContainerSpec] = ()) -> Plan:
        """left_alone: declared containers this run cannot handle (their engine does not answer): whatever
        bears their names (set aside ones too) and their networks are out of the plan, never removed."""
        # Volumes are listed only when one is declared: a run without any does not ask.
        uses_volumes = any(spec.data_volumes for spec in specs)
        untouched = {network for spec in left_alone for network in spec.private_networks}
        resources = Resources(tuple(network for network in self.engine.networks() if network.name not in untouched),
                              tuple(self.engine.volumes()) if uses_volumes else (), self.adopted)
        digest = self.secrets.digest if self.secrets is not None else None
        observed = [container for container in with_image_labels(self.engine.containers(), self.scope,
                                                                 self.engine.image_labels)
                    if not _named_after(container, left_alone)]
        return make_plan(specs, observed, images, self.scope, recreate, protected, resources, digest, self._refused(),
                         updating)

    def _refused(self) -> dict[str, str]:
        """The images rolled back; an unreadable record is said and taken as empty (it decides nothing else)."""
        try:
            return self.history.refused() if self.history is not None else {}
        except EoleConteneursError as error:
            self.journal.warn(f"{error} ; mises à jour annulées auparavant non prises en compte")
            return {}

    def apply(self, plan: Plan) -> None:
        """Undeclared containers first, then networks and volumes, then the declared ones by dependency level.

        Removals free the host ports new containers may take. In each level, everything but
        creations and recreations goes in the plan's order (what a killed recreation left put back
        before any is resumed), then the recreations side by side, then the creations side by side
        (their lines reported in the plan's order). A level starts once what it depends on is ready.
        Recreations carried out together go at the level of the last of them, in the order of the levels.
        """
        failed: set[str] = set()  # names whose action failed: their dependents wait for nothing
        self.dependencies.specs.update((spec.name, spec) for spec in map(declared_spec, plan.actions) if spec)
        levels = dependency_levels([action for action in plan.actions if declared_spec(action) is not None])
        groups = _groups(levels)
        for action in plan.actions:
            if declared_spec(action) is None:
                self._apply_reported(action, plan, failed)
        self._make_resources(plan)
        if self.secrets is not None and self.secrets.renewed_key:
            self.journal.warn("clé des secrets absente ou illisible, remplacée : les conteneurs qui ont des secrets "
                              "sont recréés (persistants : « eole-conteneurs apply --recreer NOM »)")
        for level in levels:
            self.dependencies.resolve([action for action in level if isinstance(action, STARTING)], failed, self.journal)
            for action in sorted((action for action in level if not _side_by_side(action)),
                                 key=lambda action: isinstance(action, Resume)):
                if not isinstance(action, Recreate):
                    self._apply_reported(action, plan, failed)
                elif action.name in groups:
                    self._apply_together(groups[action.name], plan, failed)
            # Recreations first: an old container may hold a host port a creation takes.
            for kind in (Recreate, Create):
                self._apply_side_by_side([action for action in level if _side_by_side(action)
                                          and isinstance(action, kind)], plan, failed)
        for network in plan.unused_networks:
            self.journal.step(f"Suppression du réseau {network}, plus utilisé")
            try:
                self.engine.remove_network(network)
            except DockerOperationError as error:
                self.journal.warn(f"réseau {network} conservé : {error}")

    def _apply_side_by_side(self, actions: list[Action], plan: Plan, failed: set[str]) -> None:
        """Creations, or recreations each on its own: side by side, so that the new versions' health checks
        (readiness.verdict) are waited for together, not one after the other."""
        if len(actions) == 1:  # the usual case: its lines as they come (a health wait is seen while it lasts)
            self._apply_reported(actions[0], plan, failed)
            return
        # Each its own journal; what is known of the dependencies is shared (only read from here).
        buffered = [Converger(self.engine, Journal(io.StringIO()), self.scope, self.secrets, self.adopted,
                              self.dependencies, self.history) for _ in actions]
        outcomes = [set(failed) for _ in actions]  # each sees the failures so far, records its own
        try:
            in_parallel(lambda item: item[0]._apply_reported(item[1], plan, item[2]),
                        list(zip(buffered, actions, outcomes)), CREATE_WORKERS)
        finally:  # what the others did is reported whatever stopped one of them
            for converger, outcome in zip(buffered, outcomes):
                self.journal.merge(converger.journal)
                failed |= outcome

    def _make_resources(self, plan: Plan) -> None:
        """The module's networks and volumes, labelled as its own, before any container needs them."""
        specs = [spec for spec in map(declared_spec, plan.actions) if spec is not None]
        for network in plan.new_networks:
            technology = next((spec.technology for spec in specs if network in spec.private_networks), DOCKER)
            self._make(f"Création du réseau privé {network} : {technology} network create {network}",
                       lambda: self.engine.create_network(network, resource_labels(self.scope)))
        for volume in plan.new_volumes:
            technology = next((spec.technology for spec in specs
                               if any(data.name == volume for data in spec.data_volumes)), DOCKER)
            self._make(f"Création du volume de données {volume} : {technology} volume create {volume}",
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

    def _apply_together(self, group: list[Recreate], plan: Plan, failed: set[str]) -> None:
        for action in group:
            self.journal.step(f"Traitement du conteneur {action.name} (conteneur-{action.spec.index})")
        try:
            self._recreate_together(group, plan, failed)
        except EoleConteneursError as error:
            self.journal.fail(f"conteneurs {', '.join(action.name for action in group)} : {error}")
            failed.update(action.name for action in group)
            return
        for action in group:
            self._report_port(action.spec)

    def _apply(self, action: Action, plan: Plan, failed: set[str]) -> None:
        if isinstance(action, (Create, Recreate)) and action.spec.image_key in plan.pulls:
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
        elif isinstance(action, Resume):
            self._resume(action)
        elif isinstance(action, Finish):
            self._finish(action)
        elif isinstance(action, Undo):
            self._undo(action)
        else:
            self._restore_set_aside(action)

    def _create(self, spec: ContainerSpec, carried: tuple[tuple[str, str], ...] = (),
                secrets: tuple[Digest | None, str] | None = None, image: str = "") -> str:
        host_dirs = resolved_host_dirs(spec, self.journal.step)  # checked now, bound as resolved
        digest, secrets_dir = secrets if secrets is not None else self._secrets_for(spec)
        request = create_request(spec, self.scope, digest, secrets_dir, carried, host_dirs, image)
        self.journal.step(f"Lancement du conteneur : {request.command_line()}")
        container = self.engine.create(request)
        try:
            check_unchanged(spec, host_dirs)
            self.engine.start(container)
        except DockerOperationError:
            try:
                self.engine.remove(container)
            except DockerOperationError as cleanup:
                self.journal.fail(f"conteneur {container[:12]} créé mais non supprimé : {cleanup}")
            raise
        self.journal.step(f"Conteneur {spec.name} lancé : {container[:12]}")
        return container

    def _secrets_for(self, spec: ContainerSpec) -> tuple[Digest | None, str]:
        """The digest and the directory of spec's secrets, their files written as declared."""
        if not spec.secrets:
            return None, ""
        if self.secrets is None:
            raise DockerOperationError(spec.name, "Écriture des secrets", "pas de répertoire des secrets")
        return self.secrets.digest, str(self.secrets.write(spec))

    def _start(self, action: Start) -> None:
        self._report_pending(action)
        self._secrets_for(action.spec)  # the engine reads them again at each start
        check_bound_dirs(action.spec, action.current)  # the engine resolves the shared directories again
        self.journal.step(f"Démarrage du conteneur : {action.spec.technology} start {action.name}")
        self.engine.start(action.current.id)

    def restart(self, spec: ContainerSpec, container: ObservedContainer) -> None:
        """Stopped, then started as every start of the module (secrets in place, shared directories checked)."""
        self._stop(container)
        self._start(Start(spec, container, "redémarrage"))

    def _keep(self, action: Keep) -> None:
        self._report_pending(action)
        if action.spec is not None:
            self._secrets_for(action.spec)  # in place for the next start (a reboot): put back if removed
        self.journal.step(f"Conteneur {action.name} conservé : {action.reason}")

    def _report_pending(self, action: Start | Keep) -> None:
        if action.pending:
            if "persistan" in action.pending:  # the seed's line, for a persistent container's pending change only
                self.journal.step("Image persistante pas de suppression du conteneur")
            self.journal.warn(f"conteneur {action.name} : {action.pending}")

    def _remove(self, action: Remove) -> None:
        self.journal.step(f"Conteneur {action.name} : {action.reason}")
        self._stop(action.current)
        self._delete(action.current)
        if self.secrets is not None:
            self.secrets.remove(action.name)
        if self.history is not None:  # what became of its versions goes with it
            try:
                self.history.forget({action.name})
            except EoleConteneursError as error:
                self.journal.warn(str(error))

    def _stop_persistent(self, action: Stop) -> None:
        self.journal.step(f"Conteneur {action.name} : {action.reason}")
        self._stop(action.current)
        self.journal.step("Image persistante pas de suppression du conteneur")

    def _report_port(self, spec: ContainerSpec) -> None:
        if spec.proxied_port is None:
            self.journal.step("Pas de port de sortie")
        else:
            self.journal.step(f"Numéro de port de sortie à configurer : {spec.proxied_port}")


def _side_by_side(action: Action) -> bool:
    """A creation, or a recreation that is not carried out together with others."""
    return isinstance(action, Create) or (isinstance(action, Recreate) and not action.together)


def _groups(levels: list[list[Action]]) -> dict[str, list[Recreate]]:
    """Recreations carried out together, in the order they are applied, by the name of the last one."""
    groups: dict[tuple[str, ...], list[Recreate]] = {}
    for action in (action for level in levels for action in level):
        if isinstance(action, Recreate) and action.together:
            groups.setdefault(action.together, []).append(action)
    return {group[-1].name: group for group in groups.values()}


def docker_run_command(spec: ContainerSpec, secrets_root: str = "") -> str:
    """The docker command line equivalent to what the module does, for the plan (no secret value).

    The secrets' directory is named by a digest of their values, known once they are written: "…" here.
    """
    return create_request(spec, "", lambda secret: "", f"{secrets_root}/{spec.name}/…").command_line()
