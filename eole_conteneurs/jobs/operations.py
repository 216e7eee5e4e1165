"""The module's jobs, shared by the commands and the reconfigure hooks: pull, plan, converge, publish.

Each returns an exit status: 0 done (or nothing to do), 1 error, 2 (plan only) changes pending.
Nothing is touched when the configuration is refused: it is loaded and validated first. Who
renders the module's files is the run mode's business (RunMode.templates), read here only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from eole_conteneurs import cron
from eole_conteneurs.backup import eole
from eole_conteneurs.backup.place import leftovers
from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.config.model import BackupPolicy, UpdatePolicy, split_image_key
from eole_conteneurs.containers.executor import Converger, docker_run_command, local_images
from eole_conteneurs.containers.history import History
from eole_conteneurs.containers.labels import (RESTART_SERVICE, Registry, managed_by, stored_parameters,
                                               updated_protection)
from eole_conteneurs.containers.planner import Create, Plan, Recreate, Restore, Start, pending_change
from eole_conteneurs.containers.secrets import SecretStore
from eole_conteneurs.engine.api import DOCKER, PODMAN, Engine, ObservedContainer
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.jobs.context import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, Job, Templates, publication
from eole_conteneurs.jobs.engines import Reached, reach, remember
from eole_conteneurs.jobs.host import enable_ip_forward
from eole_conteneurs.jobs.memory import remember_images
from eole_conteneurs.journal import Journal
from eole_conteneurs.update import schedule

if TYPE_CHECKING:  # only on a host with Bareos's fragments directory
    from eole_conteneurs.backup.inventory import Item


def _status(journal: Journal) -> int:
    return EXIT_ERROR if journal.failed else EXIT_OK


# -- reconfigure phases ----------------------------------------------------------------------

def pretemplate(job: Job, loaded: Loaded | None = None) -> int:
    """Docker running, forwarding on, every image pulled; no container touched.

    The template step that follows renders only the module's own files (/etc/eole-conteneurs/web):
    no web server reads them before posttemplate has tested them.
    """
    return pull_images(loaded or job.load(), job)


def posttemplate(job: Job, loaded: Loaded | None = None) -> int:
    """Containers converged, then published through the host's web server (tested, reloaded or put back)."""
    loaded = loaded or job.load()
    files = publication(job, loaded)
    try:
        status = converge(loaded, job, pull_all=False)
    finally:
        if job.mode.templates is Templates.MODULE:
            files.stage()
        files.publish()
    backup_files(loaded, job)
    return max(status, _status(job.journal))


def backup_files(loaded: Loaded, job: Job) -> None:
    """The module's schedule (backup, updates), and the list of what to save for EOLE's Bareos where it is installed.

    Containers have converged and been published by now: a failure here is a warning, not a failed run.
    """
    configuration = loaded.configuration
    if configuration.unconfirmed:
        return
    policy = configuration.backup if configuration.enabled else BackupPolicy(frequency="non")
    updates = configuration.updates if configuration.enabled else UpdatePolicy()
    try:
        if cron.write([eole.cron_line(policy), schedule.cron_line(updates)]):
            job.journal.step(f"Planification ({cron.CRON_FILE}) : sauvegarde automatique {_when(policy.frequency, policy.time)}"
                             f", mise à jour automatique {_when(updates.frequency, updates.time)}")
        if not configuration.enabled:
            eole.remove_fileset()
        elif eole.BAREOS_DIR.is_dir():
            eole.write_fileset(job.settings.backup_place.staging, _saved_items(loaded, job))
    except (EoleConteneursError, OSError) as error:
        job.journal.warn(f"fichiers de sauvegarde (planification, liste Bareos) non mis à jour : {error}")


def _when(frequency: str, time: tuple[int, int]) -> str:
    return frequency if frequency == "non" else f"{frequency} à {time[0]:02d}:{time[1]:02d}"


def recover_backup_leftovers(job: Job, engine: Engine) -> None:
    """A killed backup or restore's stopped containers and half-swapped data, before anything is planned."""
    state = job.settings.backup_place.state
    if leftovers(state):
        from eole_conteneurs.backup.interrupted import recover
        from eole_conteneurs.backup.record import Record
        recover(Record(state), engine, job.journal)


def _saved_items(loaded: Loaded, job: Job) -> list[Item]:
    from eole_conteneurs.backup.inventory import ContainerNotSaved, items_of
    engine = reach(job, loaded.configuration.containers, start=False).engine
    observed = {container.name: container for container in engine.containers()} if engine is not None else {}
    items: list[Item] = []
    for spec in loaded.configuration.containers:
        try:
            items += items_of(spec, observed.get(spec.name))
        except ContainerNotSaved as error:
            job.journal.warn(str(error))
    return items


UNCONFIRMED = ("activer_conteneurs n'est pas enregistré dans {source} (configuration antérieure au module ?) : "
               "les conteneurs et la publication web sont laissés tels quels ; pour les supprimer, enregistrer "
               "activer_conteneurs = non")


# -- jobs ----------------------------------------------------------------------------------------

def pull_images(loaded: Loaded, job: Job) -> int:
    configuration, journal = loaded.configuration, job.journal
    if not configuration.enabled:
        why = "activer_conteneurs non enregistré" if configuration.unconfirmed else "activer_conteneurs = non"
        journal.step(f"Gestion des conteneurs désactivée ({why}) : pas de récupération d'image")
        return EXIT_OK
    enable_ip_forward(journal)
    reached = reach(job, configuration.containers, start=True)
    if reached.engine is not None:
        Converger(reached.engine, journal, job.settings.scope).pull(reached.specs, strict=False)
    # reconfigure's early probes (engine/prefetch.py) go to dockerd: only its images are worth asking.
    remember_images(job.settings.cache_dir, sorted({str(spec.image) for spec in reached.specs
                                                    if spec.technology == DOCKER}))
    return _status(journal)


def converge(loaded: Loaded, job: Job, pull_all: bool, recreate: frozenset[str] = frozenset()) -> int:
    """Make the containers what the configuration declares."""
    _check_recreate(loaded, recreate)
    reached = _engine_for(loaded, job, start=True)
    engine, specs = reached.engine, reached.specs
    if engine is None:
        return _status(job.journal)
    recover_backup_leftovers(job, engine)
    converger = converger_for(job, engine)
    images = converger.pull(specs, only_missing=not pull_all)
    registry = Registry(job.settings.persistence_file)
    protected = registry.load()
    left_alone = reached.left_out
    plan = converger.plan(specs, images, recreate, protected, left_alone=left_alone)
    remember(job, {spec.technology for spec in specs} | {container.technology for container in plan.observed
                                                         if managed_by(container, job.settings.scope)})
    converger.apply(plan)
    if any(isinstance(action, Restore) for action in plan.actions):
        # What an interrupted run set aside is back under its name: now converge it.
        converger.apply(converger.plan(specs, images, recreate, protected, left_alone=left_alone))
    # Listing 100 containers costs dockerd milliseconds: only again when something was done.
    after = engine.containers() if plan.changes else list(plan.observed)
    updated = updated_protection(protected, list(specs), after)
    if updated != protected:
        registry.save(updated)
    return _status(job.journal)


def start_after_boot(loaded: Loaded, job: Job) -> int:
    """After the host started (the package's eole-conteneurs.service): the module's Podman containers that must run.

    dockerd starts its own by their restart policy; Podman has no daemon to do so. What is there and
    stopped is started as it is, services only (as a restart policy would), in dependency order and
    through the module's own start (secrets, shared directories checked). A change the plan would make
    (a newer image, a declaration not applied yet) waits for the next reconfigure: nothing is pulled,
    created or recreated here.
    """
    configuration = loaded.configuration
    specs = [spec for spec in configuration.containers if spec.technology == PODMAN] if configuration.enabled else []
    if not specs:
        job.journal.step("Aucun conteneur Podman déclaré : rien à démarrer (Docker démarre les siens).")
        return EXIT_OK
    reached = reach(job, specs, start=True)
    if reached.engine is None:
        return _status(job.journal)
    converger = converger_for(job, reached.engine)
    plan = converger.plan(reached.specs, local_images(reached.engine, reached.specs),
                          protected=Registry(job.settings.persistence_file).load())
    starts = tuple(Start(action.spec, action.current, "démarrage du serveur") for action in plan.actions
                   if isinstance(action, (Start, Recreate)) and action.spec.technology == PODMAN
                   and not action.current.running and _service(action.current))
    if not starts:
        job.journal.step("Conteneurs Podman déjà démarrés.")
    # Every declared container is known to the dependency checks: a Docker dependency is waited for too.
    converger.dependencies.specs.update((spec.name, spec) for spec in configuration.containers)
    converger.apply(replace(plan, actions=starts, pulls=(), new_networks=(), new_volumes=(), unused_networks=()))
    return _status(job.journal)


def _service(container: ObservedContainer) -> bool:
    """Made to come back after a reboot (a one-shot container is not)."""
    return stored_parameters(container).get("restart") == RESTART_SERVICE


def converger_for(job: Job, engine: Engine, writable: bool = True) -> Converger:
    """A Converger with the host's secrets and the volumes the administrator allowed (writable: apply)."""
    return Converger(engine, job.journal, job.settings.scope, SecretStore(job.settings.secrets_dir, writable),
                     Registry(job.settings.adopted_volumes_file).load(), history=History(job.settings.history_file))


def _check_recreate(loaded: Loaded, recreate: frozenset[str]) -> None:
    unknown = recreate - {spec.name for spec in loaded.configuration.containers}
    if unknown:
        raise EoleConteneursError(f"--recreer : conteneur(s) non déclaré(s) : {', '.join(sorted(unknown))}")


def _engine_for(loaded: Loaded, job: Job, start: bool) -> Reached:
    """The engines and the declared containers they run (jobs/engines.py). When containers are disabled,
    no service is started: where one runs, the module's containers go."""
    if loaded.configuration.enabled:
        return reach(job, loaded.configuration.containers, start)
    if loaded.configuration.unconfirmed:
        job.journal.warn(UNCONFIRMED.format(source=loaded.configuration.source))
        return Reached(None, (), {})
    job.journal.step("Gestion des conteneurs désactivée (activer_conteneurs = non)")
    return reach(job, (), start=False)


def publish(loaded: Loaded, job: Job) -> int:
    """Render the files from the validated configuration and swap them into the web server as a transaction."""
    files = publication(job, loaded)
    files.stage()
    files.publish()
    return _status(job.journal)


def show_plan(loaded: Loaded, job: Job, recreate: frozenset[str] = frozenset()) -> int:
    """Dry run: nothing pulled, nothing changed; compares with the images present locally."""
    _check_recreate(loaded, recreate)
    reached = _engine_for(loaded, job, start=False)
    engine, specs = reached.engine, reached.specs
    if engine is None:
        if not loaded.configuration.unconfirmed and not job.journal.failed:  # said by _engine_for otherwise
            job.journal.step("Ni Docker ni Podman ne tournent : aucun conteneur géré. Rien à faire.")
        return _status(job.journal)
    images = local_images(engine, specs)
    protected = Registry(job.settings.persistence_file).load()
    plan = converger_for(job, engine, writable=False).plan(specs, images, recreate, protected,
                                                          left_alone=reached.left_out)
    job.journal.step(describe_plan(plan, str(job.settings.secrets_dir)))
    if plan.conflicts or job.journal.failed:  # an engine that does not answer: its containers were not planned
        return EXIT_ERROR
    return EXIT_CHANGES if plan.changes else EXIT_OK


def describe_plan(plan: Plan, secrets_dir: str = "") -> str:
    lines = [f"Image à récupérer : {ref} ({technology + ', ' if technology != DOCKER else ''}absente localement)"
             for technology, ref in map(split_image_key, plan.pulls)]
    lines += [f"Réseau privé à créer : {network}" for network in plan.new_networks]
    lines += [f"Volume de données à créer : {volume}" for volume in plan.new_volumes]
    if not plan.actions:
        lines.append("Aucun conteneur déclaré ni géré.")
    for action in plan.actions:
        lines.append(f"{action.name} : {action.kind.value} — {action.reason}")
        pending = pending_change(action)
        if pending:
            lines.append(f"    en attente : {pending}")
        if isinstance(action, (Create, Recreate)):
            lines.append(f"    {docker_run_command(action.spec, secrets_dir)}")
    lines += [f"Réseau privé à supprimer (plus utilisé) : {network}" for network in plan.unused_networks]
    lines.append("Des modifications sont à appliquer." if plan.changes else "Rien à faire.")
    return "\n".join(lines)
