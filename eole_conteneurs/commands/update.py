"""`eole-conteneurs mise-a-jour`: newer images checked (`--verifier`), or installed and kept only when healthy.

An update is a recreation whose only change is the image (containers/planner.Recreate.update), carried out
in dependency order by the Converger: the new container must be healthy in its delay, otherwise the
previous image and settings serve again (containers/replacement.py). Before it, the containers to update
are backed up when backups are in place; after it, the running containers that depend on an updated one
are restarted once it is healthy, so that they reconnect to the new version.
"""

from __future__ import annotations

from dataclasses import replace

from eole_conteneurs.backup.interrupted import recover
from eole_conteneurs.backup.record import Record
from eole_conteneurs.backup.saving import BEFORE_UPDATE_PREFIX, back_up, selected
from eole_conteneurs.commands.text import table
from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.config.model import ContainerSpec, variable
from eole_conteneurs.containers.history import History
from eole_conteneurs.containers.labels import Registry, updated_protection
from eole_conteneurs.containers.executor import Converger, local_images
from eole_conteneurs.containers.planner import Action, Plan, Recreate, Restore, Resume, Start
from eole_conteneurs.engine.api import Engine, ObservedContainer
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.jobs.context import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, Job
from eole_conteneurs.jobs.engines import connected
from eole_conteneurs.jobs.operations import converger_for, recover_backup_leftovers
from eole_conteneurs.update.available import Availability, availabilities


def check(loaded: Loaded, job: Job, names: list[str]) -> int:
    """Exit 2 when a newer version can be installed, 0 when none, 1 when a registry did not answer."""
    chosen = selected(loaded, names)
    if not _enabled(loaded, job):
        return EXIT_OK
    engine, reached = connected(job, chosen)
    found = _availabilities(engine, list(reached), job)
    job.journal.step(describe(found))
    for item in found:
        if item.error:
            job.journal.fail(f"{item.spec.name} : {item.state}")
    if job.journal.failed:
        return EXIT_ERROR
    return EXIT_CHANGES if any(item.available for item in found) else EXIT_OK


def update(loaded: Loaded, job: Job, names: list[str]) -> int:
    """Exit 0 when every accepted update is in service (or none was needed); 1 when one was rolled back, or its
    registry, pull or backup failed. A container whose declaration changed since the last reconfigure is left
    to the next reconfigure, with a warning."""
    specs = _enabled(loaded, job)
    chosen = selected(loaded, names)  # an unknown name is an error before anything is asked
    if not specs:
        return EXIT_OK
    engine, reached = connected(job, specs, start=True)  # an engine that does not answer: its containers left out
    chosen = [spec for spec in chosen if spec in reached]
    recover_backup_leftovers(job, engine)
    _finish_interrupted(reached, job, engine)
    found = _availabilities(engine, chosen, job, retried=set(names))
    job.journal.step(describe(found))
    for item in found:
        if item.error:
            job.journal.fail(f"{item.spec.name} : {item.state} ; rien n'est modifié pour ce conteneur")
    for item in found:
        if item.spec.name in names and (item.spec.update.consent is False or (item.available and not item.accepted)):
            consent = variable(item.spec.index, "mise_a_jour_auto")
            job.journal.fail(f"{item.spec.name} : mise à jour non acceptée ({consent} = "
                             f"{'non' if item.spec.update.consent is False else 'automatique, conteneur persistant'})"
                             f" ; pour l'accepter : {consent} = oui")
    wanted = [item.spec for item in found if item.to_apply]
    if not wanted:
        job.journal.step("Aucune mise à jour à installer.")
        return EXIT_ERROR if job.journal.failed else EXIT_OK
    wanted = _backed_up_first(loaded, job, engine, wanted)
    if wanted:
        # Asked by name, a version rolled back before is tried again: the planner must not keep it out.
        History(job.settings.history_file).forget({spec.name for spec in wanted} & set(names))
        _install(reached, job, engine, wanted, found)
    return EXIT_ERROR if job.journal.failed else EXIT_OK


def _finish_interrupted(specs: tuple[ContainerSpec, ...], job: Job, engine: Engine) -> None:
    """What a killed update (or recreation) left: finished when the new version is healthy, rolled back otherwise;
    never two containers of one service after this."""
    converger = converger_for(job, engine)
    plan = converger.plan(specs, local_images(engine, specs), protected=Registry(job.settings.persistence_file).load())
    # A container a killed run left stopped (a dependent being restarted) is started, as reconfigure would.
    leftovers = tuple(action for action in plan.actions if isinstance(action, (Restore, Resume, Start)))
    if leftovers:
        converger.dependencies.specs.update((spec.name, spec) for spec in specs)
        converger.apply(_only(plan, leftovers))


def _only(plan: Plan, actions: tuple[Action, ...]) -> Plan:
    """These actions of plan, and nothing else: no image pulled, no network or volume made or removed."""
    return replace(plan, actions=actions, pulls=(), new_networks=(), new_volumes=(), unused_networks=())


def _enabled(loaded: Loaded, job: Job) -> list[ContainerSpec]:
    if not loaded.configuration.enabled:
        job.journal.step("Gestion des conteneurs désactivée : aucune image à mettre à jour.")
        return []
    return list(loaded.configuration.containers)


def _availabilities(engine: Engine, specs: list[ContainerSpec], job: Job,
                    retried: set[str] | None = None) -> list[Availability]:
    """retried: names whose rolled-back version is offered again (the administrator asked for them)."""
    outcomes = {name: outcome for name, outcome in History(job.settings.history_file).load().items()
                if name not in (retried or set())}
    return availabilities(engine, specs, _by_name(engine), outcomes)


def _by_name(engine: Engine) -> dict[str, ObservedContainer]:
    return {container.name: container for container in engine.containers()}


def describe(found: list[Availability]) -> str:
    rows = [("Nom", "Image", "En service", "Sur le registre", "État")]
    rows += [(item.spec.name, str(item.spec.image), _short(item.running_digest or item.running) or "-",
              _short(item.registry) or "-", item.state) for item in found]
    return table(rows)


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _backed_up_first(loaded: Loaded, job: Job, engine: Engine, wanted: list[ContainerSpec]) -> list[ContainerSpec]:
    """The containers to update, once saved when backups are in place; a container that could not be saved
    is not updated (its data is never put at risk without a copy)."""
    policy, place = loaded.configuration.backup, job.settings.backup_place
    record = Record(place.state)
    if policy.frequency == "non" and not record.knows(policy.repository):
        job.journal.step("Pas de sauvegarde avant la mise à jour : sauvegardes non configurées "
                         "(conteneurs_sauvegarde_frequence = non, dépôt jamais utilisé)")
        return wanted
    job.journal.step(f"Sauvegarde avant la mise à jour : {', '.join(spec.name for spec in wanted)}")
    recover(record, engine, job.journal)
    try:
        saved = back_up(loaded, wanted, engine, place, job.journal, job.settings.endpoints, BEFORE_UPDATE_PREFIX)
    except EoleConteneursError as error:
        job.journal.fail(f"sauvegarde avant la mise à jour impossible : {error} ; aucune mise à jour installée")
        return []
    for name, why in saved.failed.items():
        job.journal.fail(f"{name} non sauvegardé ({why}) : pas mis à jour")
    return [spec for spec in wanted if spec.name in saved.containers]


def _install(specs: tuple[ContainerSpec, ...], job: Job, engine: Engine, wanted: list[ContainerSpec],
             found: list[Availability]) -> None:
    converger = converger_for(job, engine)
    names = frozenset(spec.name for spec in wanted)
    newer = [item.spec for item in found if item.spec.name in names and item.registry and not item.error]
    converger.pull(newer)
    images = local_images(engine, specs)
    registry = Registry(job.settings.persistence_file)
    protected = registry.load()
    plan = converger.plan(specs, images, protected=protected, updating=names)
    updates = tuple(action for action in plan.actions
                    if isinstance(action, Recreate) and action.update and action.name in names)
    before = _by_name(engine)
    for spec in wanted:
        current = before.get(spec.name)
        if any(action.name == spec.name for action in updates):
            continue
        if current is not None and images.get(spec.image_key) == current.image_id:
            job.journal.fail(f"{spec.name} non mis à jour : la nouvelle image n'a pas été récupérée")
        else:
            job.journal.warn(f"{spec.name} non mis à jour : sa déclaration a changé depuis le dernier reconfigure, "
                             "ou il n'est pas en place ; lancer reconfigure")
    # Every declared container is known to the dependency checks, not only those updated (a finished one-shot).
    converger.dependencies.specs.update((spec.name, spec) for spec in specs)
    converger.apply(_only(plan, updates))
    after = _by_name(engine)
    protection = updated_protection(protected, list(specs), list(after.values()))
    if protection != protected:  # a persistent container replaced: its new id is the protected one
        registry.save(protection)
    done = {action.name for action in updates
            if action.name in after and after[action.name].image_id != before[action.name].image_id}
    for action in updates:
        job.journal.step(f"Mise à jour de {action.name} : " + ("installée" if action.name in done else
                                                                "non installée (voir ci-dessus)"))
    _restart_dependents(job, converger, specs, done, after, {action.name for action in updates})


def _restart_dependents(job: Job, converger: Converger, specs: tuple[ContainerSpec, ...], done: set[str],
                        observed: dict[str, ObservedContainer], recreated: set[str]) -> None:
    """Running containers depending on an updated one (not recreated themselves): restarted once it is healthy,
    in dependency order, each waited for before the containers depending on it."""
    readiness = converger.dependencies
    restarted = set(done)
    for spec in _in_dependency_order(specs):
        if spec.name in recreated or not restarted.intersection(spec.dependencies):
            continue
        container = observed.get(spec.name)
        if container is None or not container.running:
            continue
        origin = ", ".join(sorted(restarted.intersection(spec.dependencies)))
        job.journal.step(f"Redémarrage de {spec.name}, qui dépend de {origin} (mis à jour) : {spec.technology} restart {spec.name}")
        try:
            converger.restart(spec, container)
        except EoleConteneursError as error:
            job.journal.fail(f"conteneur {spec.name} : {error}")
            continue
        why = readiness.wait_until_ready(spec.name, job.journal)
        if why:
            job.journal.warn(f"conteneur {spec.name} redémarré mais pas prêt : {why}")
        restarted.add(spec.name)


def _in_dependency_order(specs: tuple[ContainerSpec, ...]) -> list[ContainerSpec]:
    by_name = {spec.name: spec for spec in specs}
    ordered: list[ContainerSpec] = []

    def visit(spec: ContainerSpec, seen: frozenset[str]) -> None:
        if spec in ordered or spec.name in seen:
            return
        for dependency in spec.dependencies:
            if dependency in by_name:
                visit(by_name[dependency], seen | {spec.name})
        ordered.append(spec)

    for spec in specs:
        visit(spec, frozenset())
    return ordered
