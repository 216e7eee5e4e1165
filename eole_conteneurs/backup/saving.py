"""`eole-conteneurs sauvegarde`: exports, then one borg archive of every container that could be saved.

A container whose export fails (or whose data cannot be found) is left out of the archive and
reported; the others are saved. An archive is recorded as a container's last backup only once borg
has committed it: an interrupted or failed create leaves nothing taken for a good backup.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from eole_conteneurs import files
from eole_conteneurs.backup.borg import Borg
from eole_conteneurs.backup.inventory import (EXPORT, MANIFEST, ContainerNotSaved, Item, Manifest, items_of,
                                              manifest_of)
from eole_conteneurs.backup.keys import read_passphrase
from eole_conteneurs.backup.place import BackupPlace
from eole_conteneurs.backup.record import Record
from eole_conteneurs.backup.variables import VARIABLES, write_variables
from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.config.model import ContainerSpec
from eole_conteneurs.engine.api import Engine, ObservedContainer
from eole_conteneurs.engine.execution import ExecFailed, run_with_output
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal

ARCHIVE_PREFIX, BEFORE_RESTORE_PREFIX = "conteneurs-", "avant-restauration-"
EXPORT_TIMEOUT = 6 * 3600  # an export that hangs must not hold the lock forever


@dataclass
class Saved:
    """What one run saved, and what it could not."""

    archive: str = ""
    containers: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def selected(loaded: Loaded, names: list[str]) -> list[ContainerSpec]:
    """The declared containers named (all of them without a name); an unknown name is an error."""
    declared = {spec.name: spec for spec in loaded.configuration.containers}
    unknown = [name for name in names if name not in declared]
    if unknown:
        raise EoleConteneursError(f"conteneur non déclaré : {', '.join(unknown)}")
    return [declared[name] for name in dict.fromkeys(names)] if names else list(declared.values())


def borg_for(loaded: Loaded, place: BackupPlace, create_passphrase: bool, journal: Journal) -> Borg:
    passphrase, created = read_passphrase(place.passphrase, create_passphrase)
    if created:
        journal.warn(f"phrase secrète des sauvegardes créée dans {place.passphrase} : conservez-en une copie "
                     "hors du serveur, sans elle les sauvegardes sont illisibles")
    return Borg(loaded.configuration.backup.repository, passphrase, place.borg_base)


def back_up(loaded: Loaded, specs: list[ContainerSpec], engine: Engine, place: BackupPlace, journal: Journal,
            docker_url: str, prefix: str = ARCHIVE_PREFIX) -> Saved:
    """Exports, then the archive; raises BackupEngineError (nothing recorded) when borg fails.

    Before a restore, a failed export does not leave the container out: its files, which the restore
    replaces, are saved without it (a container just recreated, empty, on a new host has nothing to export).
    """
    record = Record(place.state)
    restart_leftovers(record, engine, journal)
    borg = borg_for(loaded, place, create_passphrase=True, journal=journal)
    if not borg.exists():
        journal.step(f"Création du dépôt chiffré {borg.repository}")
        borg.init()
    result = Saved()
    observed = {container.name: container for container in engine.containers()}
    items: list[Item] = []
    for spec in specs:
        try:
            items += stage_container(spec, observed.get(spec.name), engine, place, journal, docker_url,
                                     export_required=prefix == ARCHIVE_PREFIX)
            result.containers.append(spec.name)
        except (ContainerNotSaved, ExecFailed) as error:
            result.failed[spec.name] = str(error)
            journal.fail(str(error))
    if not result.containers:
        return result
    write_variables(loaded, place.staging, place.state, borg.passphrase)
    trees = [str(place.staging / VARIABLES)] + [str(place.staging / name) for name in result.containers]
    trees += list(dict.fromkeys(item.host for item in items))
    result.archive = f"{prefix}{datetime.now():%Y-%m-%d_%H-%M-%S}-{secrets.token_hex(2)}"
    stopping = [observed[spec.name] for spec in specs if spec.name in result.containers and spec.backup.stop
                and spec.name in observed and observed[spec.name].running]
    with stopped_during_copy(stopping, record, engine, journal):
        journal.step(f"Sauvegarde de {', '.join(result.containers)} : archive {result.archive}")
        borg.create(result.archive, [tree.lstrip("/") for tree in trees], result.containers, cwd=Path("/"))
    if prefix == ARCHIVE_PREFIX:  # an archive made before a restore is not a regular backup
        record.saved(result.containers, result.archive, borg.repository, datetime.now())
        prune(loaded, borg, record, journal)
    return result


def stage_container(spec: ContainerSpec, container: ObservedContainer | None, engine: Engine, place: BackupPlace,
                    journal: Journal, docker_url: str, export_required: bool = True) -> tuple[Item, ...]:
    """The container's export and manifest in the staging directory; the trees to save with them."""
    items = items_of(spec, container)
    directory = place.staging / spec.name
    files.make_directories(directory)
    os.chmod(place.staging, 0o700)
    exported = False
    if spec.backup.dump_command:
        try:
            if container is None or container.state != "running":
                raise ContainerNotSaved(spec.name, "conteneur arrêté ou absent : sa commande d'export ne peut "
                                                   "pas être lancée")
            journal.step(f"Export de {spec.name} : {' '.join(spec.backup.dump_command)}")
            export_to(directory / EXPORT, spec, docker_url)
            exported = True
        except (ExecFailed, ContainerNotSaved) as error:
            if export_required:
                raise
            (directory / EXPORT).unlink(missing_ok=True)  # an older export is not the data saved now
            reason = error.reason if isinstance(error, ContainerNotSaved) else str(error)
            journal.warn(f"export de {spec.name} impossible ({reason}) : ses fichiers sont sauvegardés sans export")
    else:
        (directory / EXPORT).unlink(missing_ok=True)
    manifest = replace(manifest_of(spec, container, engine, items), export=exported).as_bytes()
    if not (directory / MANIFEST).is_file() or (directory / MANIFEST).read_bytes() != manifest:
        files.write_durably(directory / MANIFEST, manifest, 0o600)
    return items


def export_to(target: Path, spec: ContainerSpec, docker_url: str) -> None:
    """The export command's output, renamed over the previous one only when the command succeeded."""
    partial = target.with_name(f".{target.name}.partiel")
    try:
        with open(partial, "wb") as output:
            os.fchmod(output.fileno(), 0o600)
            run_with_output(spec.name, spec.backup.dump_command, output, docker_url, EXPORT_TIMEOUT)
            output.flush()
            os.fsync(output.fileno())
        os.replace(partial, target)
    except OSError as error:
        raise ContainerNotSaved(spec.name, f"export impossible à écrire dans {target.parent} ({error.strerror})") from None
    finally:
        partial.unlink(missing_ok=True)


class stopped_during_copy:
    """Stops containers (recorded first), and always starts them again afterwards."""

    def __init__(self, containers: list[ObservedContainer], record: Record, engine: Engine, journal: Journal):
        self.containers, self.record, self.engine, self.journal = containers, record, engine, journal

    def __enter__(self) -> None:
        self.record.stopping([container.id for container in self.containers])
        for container in self.containers:
            self.journal.step(f"Arrêt de {container.name} pendant la copie de ses données")
            self.engine.stop(container.id)

    def __exit__(self, *exc: object) -> None:
        for container in self.containers:
            try:
                self.engine.start(container.id)
                self.journal.step(f"Redémarrage de {container.name}")
            except EoleConteneursError as error:
                self.journal.fail(f"redémarrage de {container.name} après la sauvegarde : {error}")
        self.record.stopping([])


def restart_leftovers(record: Record, engine: Engine, journal: Journal) -> None:
    """Containers a killed backup left stopped are started again before anything else."""
    leftovers = set(record.stopped())
    if not leftovers:
        return
    for container in engine.containers():
        if container.id in leftovers and not container.running:
            journal.step(f"Redémarrage de {container.name}, arrêté par une sauvegarde interrompue")
            engine.start(container.id)
    record.stopping([])


def prune(loaded: Loaded, borg: Borg, record: Record, journal: Journal) -> None:
    """Retention applied once a day (it keeps the last archive of each day: more often changes nothing)."""
    today = datetime.now().date().isoformat()
    if record.pruned_on(borg.repository) == today:
        return
    retention = loaded.configuration.backup.retention
    if borg.prune(retention, ARCHIVE_PREFIX):
        journal.step(f"Archives anciennes supprimées (conservation {retention.daily} {retention.weekly} "
                     f"{retention.monthly})")
        borg.compact()
    record.pruned(borg.repository, today)


def read_manifest(borg: Borg, archive: str, place: BackupPlace, name: str) -> Manifest:
    data = borg.read(archive, f"{str(place.staging / name / MANIFEST).lstrip('/')}")
    return Manifest.from_bytes(data, archive)
