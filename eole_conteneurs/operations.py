"""The module's jobs, shared by the command and the reconfigure hooks: pull, plan, converge, publish.

Each returns an exit status: 0 done (or nothing to do), 1 error, 2 (plan only) changes pending.
Nothing is touched when the configuration is refused: it is loaded and validated first.
"""

from __future__ import annotations

from pathlib import Path

from .configuration import Loaded
from .context import CREOLE_SOURCE, EXIT_CHANGES, EXIT_ERROR, EXIT_OK, Context
from .convergence import Converger, docker_run_command
from .docker_engine import DockerEngine, DockerUnavailable, remember_images
from .errors import EoleConteneursError
from .host import connect_or_start_docker, enable_ip_forward
from .journal import Journal
from .planner import Kind, Plan
from .state import updated_protection


def _status(journal: Journal) -> int:
    return EXIT_ERROR if journal.failed else EXIT_OK


# -- reconfigure phases ----------------------------------------------------------------------

def pretemplate(context: Context, loaded: Loaded | None = None) -> int:
    """Docker running, forwarding on, every image pulled; no container touched.

    Where Creole renders the templates itself, the nginx files are saved first so that
    posttemplate can put them back if nginx refuses what was generated.
    """
    loaded = loaded or context.load()
    if loaded.values.source == CREOLE_SOURCE:
        nginx = context.nginx()
        nginx.checkpoint([Path(declaration.name) for declaration in loaded.dictionary.templates])
        # The site Creole is about to render names the certificate: it must exist by then.
        context.publication(loaded).prepare()
    return pull_images(loaded, context)


def posttemplate(context: Context, loaded: Loaded | None = None) -> int:
    """Containers converged, then nginx published (or, after Creole's rendering, validated)."""
    nginx = context.nginx()
    try:
        loaded = loaded or context.load()
    except EoleConteneursError:
        # Files Creole rendered from refused values must not stay for nginx's next start.
        if nginx.checkpointed and not context.external_generation:
            nginx.recover()
        raise
    generated_elsewhere = loaded.values.source == CREOLE_SOURCE or context.external_generation
    try:
        status = converge(loaded, context, pull_all=False)
    finally:
        if generated_elsewhere:
            nginx.commit()
        else:
            publish(loaded, context)
    return max(status, _status(context.journal))


# -- jobs ----------------------------------------------------------------------------------------

def pull_images(loaded: Loaded, context: Context) -> int:
    configuration, journal = loaded.configuration, context.journal
    if not configuration.enabled:
        journal.step("Gestion des conteneurs désactivée (activer_conteneurs = non) : pas de récupération d'image")
        return EXIT_OK
    enable_ip_forward(journal)
    engine = connect_or_start_docker(journal, context.docker_url)
    Converger(engine, journal, context.scope).pull(configuration.containers, strict=False, early=context.early)
    remember_images(context.cache_dir, sorted({str(spec.image) for spec in configuration.containers}))
    return _status(journal)


def converge(loaded: Loaded, context: Context, pull_all: bool, recreate: frozenset[str] = frozenset()) -> int:
    """Make the containers what the configuration declares."""
    specs = loaded.configuration.containers
    _check_recreate(loaded, recreate)
    engine = _engine_for(loaded, context, start=True)
    if engine is None:
        return EXIT_OK
    converger = Converger(engine, context.journal, context.scope)
    images = converger.pull(specs, only_missing=not pull_all)
    registry = context.registry()
    protected = registry.load()
    listed = context.early.containers() if context.early is not None else None
    plan = converger.plan(specs, images, recreate, protected, listed)
    converger.apply(plan)
    if any(action.kind is Kind.RESTORE for action in plan.actions):
        # What an interrupted run set aside is back under its name: now converge it.
        converger.apply(converger.plan(specs, images, recreate, protected))
    # Listing 100 containers costs dockerd milliseconds: only again when something was done.
    after = engine.containers() if plan.changes else list(plan.observed)
    updated = updated_protection(protected, list(specs), after)
    if updated != protected:
        registry.save(updated)
    return _status(context.journal)


def _check_recreate(loaded: Loaded, recreate: frozenset[str]) -> None:
    unknown = recreate - {spec.name for spec in loaded.configuration.containers}
    if unknown:
        raise EoleConteneursError(f"--recreer : conteneur(s) non déclaré(s) : {', '.join(sorted(unknown))}")


def _engine_for(loaded: Loaded, context: Context, start: bool) -> DockerEngine | None:
    """When containers are disabled, Docker is not started: if it runs, managed containers go."""
    if loaded.configuration.enabled:
        if start:
            return connect_or_start_docker(context.journal, context.docker_url)
        return DockerEngine.connect(context.docker_url)
    context.journal.step("Gestion des conteneurs désactivée (activer_conteneurs = non)")
    try:
        return DockerEngine.connect(context.docker_url)
    except DockerUnavailable:
        return None


def publish(loaded: Loaded, context: Context) -> int:
    """Render the nginx files from the validated configuration and swap them in as a transaction."""
    context.publication(loaded).publish()
    return _status(context.journal)


def show_plan(loaded: Loaded, context: Context, recreate: frozenset[str] = frozenset()) -> int:
    """Dry run: nothing pulled, nothing changed; compares with the images present locally."""
    specs = loaded.configuration.containers
    _check_recreate(loaded, recreate)
    engine = _engine_for(loaded, context, start=False)
    if engine is None:
        context.journal.step("Docker ne tourne pas : aucun conteneur géré. Rien à faire.")
        return EXIT_OK
    images = {str(spec.image): engine.image_id(str(spec.image)) for spec in specs}
    plan = Converger(engine, context.journal, context.scope).plan(specs, images, recreate,
                                                                  context.registry().load())
    context.journal.step(describe_plan(plan))
    if plan.conflicts:
        return EXIT_ERROR
    return EXIT_CHANGES if plan.changes else EXIT_OK


def describe_plan(plan: Plan) -> str:
    lines = [f"Image à récupérer : {ref} (absente localement)" for ref in plan.pulls]
    if not plan.actions:
        lines.append("Aucun conteneur déclaré ni géré.")
    for action in plan.actions:
        lines.append(f"{action.name} : {action.kind.value} — {action.reason}")
        if action.pending:
            lines.append(f"    en attente : {action.pending}")
        if action.spec is not None and action.kind in (Kind.CREATE, Kind.RECREATE):
            lines.append(f"    {docker_run_command(action.spec)}")
    lines.append("Des modifications sont à appliquer." if plan.changes else "Rien à faire.")
    return "\n".join(lines)
