"""`eole-conteneurs status`: what runs, as seen from Docker, next to what is declared."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .configuration import Loaded
from .docker_engine import DockerEngine
from .context import EXIT_ERROR, EXIT_OK, Context
from .publication import server_name
from .spec import ContainerSpec
from .state import ObservedContainer


@dataclass(frozen=True)
class ContainerStatus:
    nom: str
    declare: bool
    image: str
    empreinte: str
    etat: str
    sante: str
    ports: list[str]
    url: str
    persistance: str
    ok: bool


def collect(loaded: Loaded, context: Context, engine: DockerEngine) -> list[ContainerStatus]:
    observed = {container.name: container for container in engine.containers()}
    statuses = [_declared(spec, observed.get(spec.name), engine) for spec in loaded.configuration.containers]
    declared = {spec.name for spec in loaded.configuration.containers}
    statuses += [_undeclared(container, engine) for container in observed.values()
                 if container.managed_by(context.scope) and container.name not in declared]
    return statuses


def _declared(spec: ContainerSpec, container: ObservedContainer | None, engine: DockerEngine) -> ContainerStatus:
    details = engine.inspect(container.id) if container else None
    state, health, ok = _state(container, details)
    return ContainerStatus(
        nom=spec.name, declare=True, image=str(spec.image),
        empreinte=_digest(engine, container), etat=state, sante=health,
        ports=[str(port) for port in spec.ports],
        url=f"https://{server_name()}{spec.web_path}/" if spec.ports else "",
        persistance="oui" if spec.persistent else "non", ok=ok)


def _undeclared(container: ObservedContainer, engine: DockerEngine) -> ContainerStatus:
    state, health, _ = _state(container, engine.inspect(container.id))
    return ContainerStatus(nom=container.name, declare=False, image=container.declared_parameters().get("image", ""),
                           empreinte=_digest(engine, container), etat=state, sante=health, ports=[], url="",
                           persistance="oui" if container.persistent else "non", ok=True)


def _state(container: ObservedContainer | None, details: dict | None) -> tuple[str, str, bool]:
    if container is None or details is None:
        return "absent", "-", False
    health = (details["State"].get("Health") or {}).get("Status", "-")
    if container.running:
        return "en cours d'exécution", health, health in ("-", "healthy", "starting")
    if container.finished:
        return "terminé normalement", health, True
    return f"arrêté ({container.state}, code {details['State'].get('ExitCode')})", health, False


def _digest(engine: DockerEngine, container: ObservedContainer | None) -> str:
    if container is None:
        return ""
    digests = engine.repo_digests(container.image_id)
    return digests[0].split("@", 1)[1] if digests else container.image_id


def show(loaded: Loaded, context: Context, as_json: bool = False) -> int:
    """Exit 1 when a declared container is absent, stopped or unhealthy."""
    statuses = collect(loaded, context, DockerEngine.connect(context.docker_url))
    if as_json:
        context.journal.step(json.dumps([asdict(status) for status in statuses], ensure_ascii=False, indent=1))
    else:
        context.journal.step(describe(statuses))
    return EXIT_OK if all(status.ok for status in statuses) else EXIT_ERROR


def describe(statuses: list[ContainerStatus]) -> str:
    if not statuses:
        return "Aucun conteneur déclaré ni géré."
    from .cli import table
    rows = [("Nom", "Image", "Empreinte", "État", "Santé", "Ports", "URL", "Persistance")]
    for status in statuses:
        name = status.nom if status.declare else f"{status.nom} (non déclaré)"
        rows.append((name, status.image, status.empreinte[:19], status.etat, status.sante,
                     ", ".join(status.ports) or "-", status.url or "-", status.persistance))
    return table(rows)
