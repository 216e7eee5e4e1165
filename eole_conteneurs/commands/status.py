"""`eole-conteneurs status`: what runs, as seen from the engine, next to what is declared."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from eole_conteneurs.backup.record import LastBackup, Record
from eole_conteneurs.commands.text import table
from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.config.model import ContainerSpec
from eole_conteneurs.containers.history import History, Outcome
from eole_conteneurs.containers.labels import (finished, is_persistent, managed_by, stored_parameters,
                                               with_image_labels)
from eole_conteneurs.engine.api import DOCKER, Engine, ObservedContainer, of_technology
from eole_conteneurs.jobs.engines import connected
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.jobs.context import EXIT_ERROR, EXIT_OK, Job
from eole_conteneurs.publish.names import primary_name


@dataclass(frozen=True)
class ContainerStatus:
    """One line of `status`: a declared container, or a managed one no longer declared."""

    name: str
    declared: bool
    image: str
    digest: str
    state: str
    health: str
    ports: list[str]
    url: str
    persistent: bool
    ok: bool
    volumes: list[str] = field(default_factory=list)  # data volumes, "name → path"
    networks: list[str] = field(default_factory=list)  # private networks
    last_backup: str = ""  # ISO date of the last good backup (eole-conteneurs sauvegarde), "" never
    update: Outcome | None = None  # what became of its last new version (containers/history.py)
    technology: str = DOCKER  # declared (conteneurN_technologie), or the engine running an undeclared one

    def as_json(self) -> dict[str, Any]:
        """The keys of `status --json`, a French interface scripts read: they never change (new ones are added)."""
        return {"nom": self.name, "declare": self.declared, "image": self.image, "empreinte": self.digest,
                "etat": self.state, "sante": self.health, "ports": self.ports, "url": self.url,
                "persistance": _yes_no(self.persistent), "ok": self.ok, "volumes": self.volumes,
                "reseaux": self.networks, "derniere_sauvegarde": self.last_backup,
                "mise_a_jour": self.update.describe() if self.update else "", "technologie": self.technology}


def last_backups(loaded: Loaded, job: Job) -> dict[str, LastBackup]:
    """The last good backup of each container, made into the repository declared now."""
    return Record(job.settings.backup_place.state).last_backups_in(loaded.configuration.backup.repository)


def _yes_no(flag: bool) -> str:
    return "oui" if flag else "non"


def updates(job: Job) -> dict[str, Outcome]:
    """What became of each container's last new version (an unreadable record is an error naming it)."""
    return History(job.settings.history_file).load()


def collect(loaded: Loaded, scope: str, engine: Engine, last_backups: dict[str, LastBackup] | None = None,
            updates: dict[str, Outcome] | None = None, unreached: set[str] | None = None) -> list[ContainerStatus]:
    """unreached: declared containers whose engine does not answer (their state is unknown, not absent)."""
    observed = {container.name: container
                for container in with_image_labels(engine.containers(), scope, engine.image_labels)}
    host = primary_name(loaded)
    backups, outcomes = last_backups or {}, updates or {}
    statuses = [replace(_declared(spec, observed.get(spec.name), engine, host, backups.get(spec.name)),
                        update=outcomes.get(spec.name)) for spec in loaded.configuration.containers]
    statuses = [replace(status, state=f"inconnu (service {status.technology} injoignable)")
                if status.name in (unreached or set()) else status for status in statuses]
    declared = {spec.name for spec in loaded.configuration.containers}
    statuses += [_undeclared(container, engine) for container in observed.values()
                 if managed_by(container, scope) and container.name not in declared]
    return statuses


def _declared(spec: ContainerSpec, container: ObservedContainer | None, engine: Engine, host: str,
              backup: LastBackup | None) -> ContainerStatus:
    details = engine.inspect(container.id) if container else None
    state, health, ok = _state(container, details)
    return ContainerStatus(
        name=spec.name, declared=True, image=str(spec.image), technology=spec.technology,
        digest=_digest(engine, container), state=state, health=health,
        ports=[str(port) for port in spec.ports],
        url=f"https://{host}{spec.web_path}/" if spec.proxied_port is not None else "",
        persistent=spec.persistent, ok=ok, volumes=[str(volume) for volume in spec.data_volumes],
        networks=list(spec.private_networks),
        last_backup=backup.date.isoformat(timespec="seconds") if backup else "")


def _undeclared(container: ObservedContainer, engine: Engine) -> ContainerStatus:
    state, health, _ = _state(container, engine.inspect(container.id))
    return ContainerStatus(name=container.name, declared=False, image=stored_parameters(container).get("image", ""),
                           digest=_digest(engine, container), state=state, health=health, ports=[], url="",
                           persistent=is_persistent(container), ok=True, technology=container.technology)


def _state(container: ObservedContainer | None, details: dict[str, Any] | None) -> tuple[str, str, bool]:
    if container is None or details is None:
        return "absent", "-", False
    health = (details["State"].get("Health") or {}).get("Status", "-")
    if container.running:
        return "en cours d'exécution", health, health in ("-", "healthy", "starting")
    if finished(container):
        return "terminé normalement", health, True
    return f"arrêté ({container.state}, code {details['State'].get('ExitCode')})", health, False


def _digest(engine: Engine, container: ObservedContainer | None) -> str:
    if container is None:
        return ""
    digests = of_technology(engine, container.technology).repo_digests(container.image_id)
    return digests[0].split("@", 1)[1] if digests else container.image_id


def show(loaded: Loaded, job: Job, as_json: bool = False) -> int:
    """Exit 1 when a declared container is absent, stopped or unhealthy."""
    engine, reached = connected(job, loaded.configuration.containers)
    try:
        outcomes = updates(job)
    except EoleConteneursError as error:  # the containers' state is still worth showing
        job.journal.warn(str(error))
        outcomes = {}
    statuses = collect(loaded, job.settings.scope, engine, last_backups(loaded, job), outcomes,
                       unreached={spec.name for spec in loaded.configuration.containers} - {spec.name for spec in reached})
    if as_json:
        job.journal.step(json.dumps([status.as_json() for status in statuses], ensure_ascii=False, indent=1))
    else:
        job.journal.step(describe(statuses))
        from eole_conteneurs.commands import volumes  # what a status without volumes never needs
        data = volumes.collect(loaded, job, engine)
        if data:
            job.journal.step("\nVolumes de données :\n" + volumes.describe(data))
    return EXIT_OK if all(status.ok for status in statuses) else EXIT_ERROR


def describe(statuses: list[ContainerStatus]) -> str:
    if not statuses:
        return "Aucun conteneur déclaré ni géré."
    rows = [("Nom", "Technologie", "Image", "Empreinte", "État", "Santé", "Ports", "URL", "Persistance", "Sauvegarde",
             "Mise à jour")]
    for status in statuses:
        name = status.name if status.declared else f"{status.name} (non déclaré)"
        rows.append((name, status.technology, status.image, status.digest[:19], status.state, status.health,
                     ", ".join(status.ports) or "-", status.url or "-", _yes_no(status.persistent),
                     status.last_backup.replace("T", " ")[:16] if status.last_backup else "jamais",
                     _update(status.update)))
    lines = [table(rows)]
    lines += [f"Mise à jour de {status.name} {status.update.describe()}" for status in statuses
              if status.update is not None and status.update.rolled_back]
    return "\n".join(lines)


def _update(outcome: Outcome | None) -> str:
    if outcome is None:
        return "-"
    return f"{'annulée' if outcome.rolled_back else 'appliquée'} {outcome.date}"
