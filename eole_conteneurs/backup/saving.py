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
from eole_conteneurs.backup.borg import BackupEngineError, Borg
from eole_conteneurs.backup.interrupted import Stopped, discard
from eole_conteneurs.backup.inventory import (EXPORT, MANIFEST, ContainerNotSaved, Item, Manifest, items_of,
                                              manifest_of)
from eole_conteneurs.backup.keys import read_passphrase
from eole_conteneurs.backup.place import BackupPlace
from eole_conteneurs.backup.record import Record
from eole_conteneurs.backup.variables import VARIABLES, write_variables
from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.config.model import ContainerSpec
from eole_conteneurs.engine.api import Endpoints, Engine, ObservedContainer
from eole_conteneurs.engine.execution import ExecFailed, Where, run_with_output
from eole_conteneurs.errors import EoleConteneursError, os_reason
from eole_conteneurs.journal import Journal

ARCHIVE_PREFIX, BEFORE_RESTORE_PREFIX = "conteneurs-", "avant-restauration-"
# Only the containers about to be updated: pruned apart, so that the day's full archive is the one kept.
BEFORE_UPDATE_PREFIX = "avant-mise-a-jour-"
PARTIAL_EXPORT = ".export.partiel"
EXPORT_TIMEOUT = 6 * 3600  # an export that hangs must not hold the lock forever


@dataclass
class Saved:
    """What one run saved, and what it could not."""

    archive: str = ""
    containers: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class NotDeclared(EoleConteneursError):
    def __init__(self, names: list[str]):
        super().__init__(f"conteneur non déclaré : {', '.join(names)}")


def selected(loaded: Loaded, names: list[str]) -> list[ContainerSpec]:
    """The declared containers named (all of them without a name); an unknown name is an error."""
    declared = {spec.name: spec for spec in loaded.configuration.containers}
    unknown = [name for name in names if name not in declared]
    if unknown:
        raise NotDeclared(unknown)
    return [declared[name] for name in dict.fromkeys(names)] if names else list(declared.values())


def forget_undeclared(place: BackupPlace, loaded: Loaded) -> None:
    """The staged exports of containers no longer declared (copies: their archives keep them) go, so that
    neither the module's archives nor EOLE's Bareos save them again and again."""
    declared = {spec.name for spec in loaded.configuration.containers}
    if place.staging.is_dir():
        for entry in place.staging.iterdir():
            if entry.is_dir() and not entry.is_symlink() and entry.name not in declared:
                discard(entry)


def passphrase_of(place: BackupPlace, create: bool, journal: Journal) -> str:
    passphrase, created = read_passphrase(place.passphrase, create)
    if created:
        journal.warn(f"phrase secrète des sauvegardes créée dans {place.passphrase} : conservez-en une copie "
                     "hors du serveur, sans elle les sauvegardes sont illisibles")
    return passphrase


def borg_for(loaded: Loaded, place: BackupPlace) -> Borg:
    return Borg(loaded.configuration.backup.repository, place.passphrase, place.borg_base)


def observed_by_name(engine: Engine) -> dict[str, ObservedContainer]:
    return {container.name: container for container in engine.containers()}


def archived(path: Path | str) -> str:
    """A host path as borg stores it (relative: archives are made from /)."""
    return str(path).lstrip("/")


def back_up(loaded: Loaded, specs: list[ContainerSpec], engine: Engine, place: BackupPlace, journal: Journal,
            endpoints: Endpoints, prefix: str = ARCHIVE_PREFIX, also: list[Path] | None = None) -> Saved:
    """Exports, then the archive; raises BackupEngineError (nothing recorded) when borg fails.

    Before a restore (prefix BEFORE_RESTORE_PREFIX), a failed export does not leave the container out:
    its files, which the restore replaces, are saved without it (a container just recreated, empty, on
    a new host has nothing to export); also: the destinations the restore will replace, saved whatever
    the declaration says of them now.
    """
    record = Record(place.state)  # what a killed run left is the caller's to recover (a restore calls this)
    passphrase = passphrase_of(place, create=True, journal=journal)
    borg = borg_for(loaded, place)
    ensure_repository(borg, record, journal)
    observed = observed_by_name(engine)
    staging = Staging(engine, place, journal, endpoints, export_required=prefix != BEFORE_RESTORE_PREFIX)
    items, result = staging.run(specs, observed)
    if not result.containers:
        return result
    write_variables(loaded, place.staging, place.state, passphrase)
    trees = [place.staging / VARIABLES] + [place.staging / name for name in result.containers]
    trees += [Path(item.host) for item in items] + list(also or ())
    result.archive = f"{prefix}{datetime.now():%Y-%m-%d_%H-%M-%S}-{secrets.token_hex(2)}"
    with Stopped(record, engine, journal) as stopped:
        stopped.stop([observed[spec.name] for spec in specs if spec.name in result.containers and spec.backup.stop
                      and spec.name in observed], " pendant la copie de ses données")
        journal.step(f"Sauvegarde de {', '.join(result.containers)} : archive {result.archive}")
        for warning in borg.create(result.archive, list(dict.fromkeys(archived(tree) for tree in trees)),
                                   result.containers, cwd=Path("/")):
            journal.warn(f"fichier modifié ou supprimé pendant sa lecture : {warning}")
    if prefix == ARCHIVE_PREFIX:  # an archive made before a restore or an update is not a regular backup
        record.saved(result.containers, result.archive, borg.repository, datetime.now())
    if prefix != BEFORE_RESTORE_PREFIX:
        prune(loaded, borg, record, journal)
    return result


def ensure_repository(borg: Borg, record: Record, journal: Journal) -> None:
    """A new repository is made only where this host never wrote one: a repository it knows that is gone
    (an unmounted disk, a deleted directory) is an error, not a reason to start again from nothing."""
    if borg.exists():
        record.used(borg.repository)
        return
    if record.knows(borg.repository):
        raise BackupEngineError(borg.repository, "sauvegarde", "dépôt introuvable alors que des sauvegardes y ont "
                                "été faites (disque non monté ? déplacé ?) ; pour repartir d'un dépôt vide, "
                                "choisir un autre chemin")
    journal.step(f"Création du dépôt chiffré {borg.repository}")
    borg.init()
    record.used(borg.repository)


@dataclass
class Staging:
    """Writes each container's export and manifest in the staging directory (what the archive, or EOLE's
    Bareos, saves with its data); a container that cannot be staged is reported and left out."""

    engine: Engine
    place: BackupPlace
    journal: Journal
    endpoints: Endpoints
    export_required: bool = True  # False: a failed export is a warning, the files are still saved
    digests: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by image id: containers share images

    def run(self, specs: list[ContainerSpec], observed: dict[str, ObservedContainer]) -> tuple[list[Item], Saved]:
        items: list[Item] = []
        result = Saved()
        for spec in specs:
            try:
                items += self.container(spec, observed.get(spec.name))
                result.containers.append(spec.name)
            except (ContainerNotSaved, ExecFailed) as error:
                result.failed[spec.name] = str(error)
                self.journal.fail(str(error))
        return items, result

    def container(self, spec: ContainerSpec, container: ObservedContainer | None) -> tuple[Item, ...]:
        """The trees of spec to save; its export and manifest written beside them."""
        items = items_of(spec, container)
        directory = self.place.staging / spec.name
        try:
            files.make_directories(directory)
            os.chmod(self.place.staging, 0o700)
            (directory / PARTIAL_EXPORT).unlink(missing_ok=True)  # a killed export's: never a good one
            exported = self.export(spec, container, directory / EXPORT) if spec.backup.dump_command else False
            if not exported:
                (directory / EXPORT).unlink(missing_ok=True)  # an older export is not the data saved now
            manifest = manifest_of(spec, container, self.engine, items, self.digests)
            data = replace(manifest, export=exported).as_bytes()
            if not (directory / MANIFEST).is_file() or (directory / MANIFEST).read_bytes() != data:
                files.write_durably(directory / MANIFEST, data, 0o600)
        except OSError as error:
            raise ContainerNotSaved(spec.name, f"{error.filename or directory} : {os_reason(error)}") from None
        return items

    def export(self, spec: ContainerSpec, container: ObservedContainer | None, target: Path) -> bool:
        try:
            if container is None or container.state != "running":
                raise ContainerNotSaved(spec.name, "conteneur arrêté ou absent : sa commande d'export ne peut "
                                                   "pas être lancée")
            self.journal.step(f"Export de {spec.name} : {spec.backup.dump_command[0]}…")
            export_to(target, spec, self.endpoints)
            return True
        except (ExecFailed, ContainerNotSaved) as error:
            target.unlink(missing_ok=True)  # the previous export must not be saved as tonight's
            if self.export_required:
                raise
            reason = error.reason if isinstance(error, ContainerNotSaved) else str(error)
            self.journal.warn(f"export de {spec.name} impossible ({reason}) : ses fichiers sont sauvegardés "
                              "sans export")
            return False


def export_to(target: Path, spec: ContainerSpec, endpoints: Endpoints) -> None:
    """The export command's output, renamed over the previous one only when the command succeeded."""
    partial = target.with_name(PARTIAL_EXPORT)
    try:
        with open(partial, "wb") as output:
            os.fchmod(output.fileno(), 0o600)
            run_with_output(Where(spec.name, spec.technology, endpoints), spec.backup.dump_command, output, EXPORT_TIMEOUT)
            output.flush()
            os.fsync(output.fileno())
        os.replace(partial, target)
    except OSError as error:
        raise ContainerNotSaved(spec.name, f"export impossible à écrire dans {target.parent} ({error.strerror})") from None
    finally:
        partial.unlink(missing_ok=True)


def prune(loaded: Loaded, borg: Borg, record: Record, journal: Journal) -> None:
    """Retention applied once a day (it keeps the last archive of each day: more often changes nothing)."""
    today = datetime.now().date().isoformat()
    if record.pruned_on(borg.repository) == today:
        return
    retention = loaded.configuration.backup.retention
    # Each kind apart: the retention keeps one archive a day of each, never a partial one for a full one.
    if any([borg.prune(retention, ARCHIVE_PREFIX), borg.prune(retention, BEFORE_UPDATE_PREFIX)]):
        journal.step(f"Archives anciennes supprimées (conservation {retention.daily} {retention.weekly} "
                     f"{retention.monthly})")
        borg.compact()
    record.pruned(borg.repository, today)


def read_manifest(borg: Borg, archive: str, place: BackupPlace, name: str) -> Manifest:
    data = borg.read(archive, archived(place.staging / name / MANIFEST))
    return Manifest.from_bytes(data, archive)
