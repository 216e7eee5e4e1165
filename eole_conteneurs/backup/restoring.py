"""`eole-conteneurs restauration`: the saved data of the named containers put back, destroying nothing.

Order, so that a failure at any step leaves the service as it was:
1. everything is read first (the archive, its manifests) and each saved tree extracted beside its
   destination, while the containers still run;
2. the current data of those containers is itself saved (archive avant-restauration-…);
3. the containers are stopped, each destination swapped with its extracted copy (renames), and on any
   failure the swapped ones are put back; the containers are always started again;
4. once they are ready, the restore command of each container reads its saved export.
Other containers are never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from eole_conteneurs.backup.borg import Archive, Borg
from eole_conteneurs.backup.inventory import ANONYMOUS, DIRECTORY, EXPORT, VOLUME, Item, Manifest
from eole_conteneurs.backup.place import BackupPlace
from eole_conteneurs.backup.saving import BEFORE_RESTORE_PREFIX, back_up, borg_for, read_manifest, restart_leftovers
from eole_conteneurs.backup.record import Record
from eole_conteneurs.config import paths
from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.config.model import ContainerSpec
from eole_conteneurs.containers.readiness import Readiness
from eole_conteneurs.engine.api import Engine, ObservedContainer
from eole_conteneurs.engine.execution import run_with_input
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal

STAGED, REPLACED = ".restauration-", ".avant-restauration-"


class RestoreRefused(EoleConteneursError):
    """Nothing was changed: names what is missing."""


@dataclass
class Swap:
    """One destination and its extracted copy beside it (same file system: the swap is two renames)."""

    item: Item
    target: Path
    staged: Path
    replaced: Path | None = None  # the previous content, set aside during the swap


@dataclass
class Restoration:
    archive: str
    safety_archive: str = ""
    swaps: list[Swap] = field(default_factory=list)
    exports: dict[str, Path] = field(default_factory=dict)  # container → its extracted export


def choose_archive(borg: Borg, specs: list[ContainerSpec], wanted: str | None) -> Archive:
    """The archive named, or the latest regular one holding every container of specs (an archive made
    before a restore holds what the restore replaced: only ever taken by its name)."""
    archives = borg.archives()
    names = {spec.name for spec in specs}
    if wanted:
        archive = next((archive for archive in archives if archive.name == wanted), None)
        if archive is None:
            raise RestoreRefused(f"archive {wanted} absente du dépôt {borg.repository}")
        missing = names - set(archive.containers)
        if missing:
            raise RestoreRefused(f"archive {wanted} : ne contient pas {', '.join(sorted(missing))}")
        return archive
    for archive in reversed(archives):
        if names <= set(archive.containers) and not archive.name.startswith(BEFORE_RESTORE_PREFIX):
            return archive
    raise RestoreRefused(f"aucune archive du dépôt {borg.repository} ne contient {', '.join(sorted(names))}")


def restore(loaded: Loaded, specs: list[ContainerSpec], engine: Engine, place: BackupPlace, journal: Journal,
            docker_url: str, wanted: str | None = None) -> Restoration:
    restart_leftovers(Record(place.state), engine, journal)
    borg = borg_for(loaded, place, create_passphrase=False, journal=journal)
    archive = choose_archive(borg, specs, wanted)
    observed = {container.name: container for container in engine.containers()}
    absent = [spec.name for spec in specs if spec.name not in observed]
    if absent:
        raise RestoreRefused(f"conteneur absent : {', '.join(absent)} (lancez d'abord reconfigure)")
    manifests = {spec.name: read_manifest(borg, archive.name, place, spec.name) for spec in specs}
    result = Restoration(archive.name)
    journal.step(f"Restauration de {', '.join(manifests)} depuis l'archive {archive.name}")
    try:
        for spec in specs:
            result.swaps += extract(borg, archive, spec, manifests[spec.name], observed[spec.name], journal)
            if manifests[spec.name].export:
                result.exports[spec.name] = extract_export(borg, archive, place, spec.name)
        running = [observed[spec.name] for spec in specs if observed[spec.name].running]
        with stopped(running, engine, journal) as stop:
            # Those without an export stopped first: the copy of their data made just below is consistent;
            # those with one still run for it, and are stopped just before their data is replaced.
            stop([observed[spec.name] for spec in specs if not spec.backup.dump_command])
            saved = back_up(loaded, specs, engine, place, journal, docker_url, prefix=BEFORE_RESTORE_PREFIX)
            if saved.failed:
                raise RestoreRefused("sauvegarde des données actuelles impossible : restauration abandonnée, "
                                     "rien n'a été modifié")
            result.safety_archive = saved.archive
            journal.step(f"Données actuelles sauvegardées dans l'archive {saved.archive}")
            stop(running)
            swap_all(result.swaps)
        finish(result, specs, engine, journal, docker_url)
        remember(Record(place.state), archive, [spec.name for spec in specs], borg.repository)
    finally:
        for swap in result.swaps:
            shutil.rmtree(swap.staged, ignore_errors=True)
            if swap.replaced is not None:
                shutil.rmtree(swap.replaced, ignore_errors=True)
        for export in result.exports.values():
            shutil.rmtree(export.parent, ignore_errors=True)
    return result


def remember(record: Record, archive: Archive, names: list[str], repository: str) -> None:
    """The archive restored is a good backup of its containers: a host rebuilt from it (its record purged
    with the package) shows it as their last one, unless a newer one is recorded."""
    try:
        when = datetime.fromisoformat(archive.time[:26])
    except ValueError:
        return
    known = record.last_backups()
    newer = [name for name in names if name not in known or known[name].date.replace(tzinfo=None) < when]
    if newer:
        record.saved(newer, archive.name, repository, when)


def extract(borg: Borg, archive: Archive, spec: ContainerSpec, manifest: Manifest, container: ObservedContainer,
            journal: Journal) -> list[Swap]:
    swaps = []
    for item in manifest.items:
        target = destination(item, spec, container)
        if target is None:
            journal.warn(f"{spec.name} : {item.container} n'est plus déclaré ({item.kind}), non restauré")
            continue
        staged = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGED}", dir=target.parent))
        swaps.append(Swap(item, target, staged))
        borg.extract(archive.name, item.host.lstrip("/"), staged)
    return swaps


def destination(item: Item, spec: ContainerSpec, container: ObservedContainer) -> Path | None:
    """Where item goes now: the declared directory or the container's volume at the same place."""
    if item.kind == DIRECTORY:
        declared = next((volume for volume in spec.volumes if volume.container_dir == item.container), None)
        if declared is None:
            return None
        try:
            target = Path(paths.usable_host_dir(declared.host_dir))
        except ValueError as error:
            raise RestoreRefused(f"{spec.name} : {declared.host_dir} : {error}") from None
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        return target
    for mount in container.mounts:
        if mount.destination == item.container and mount.kind == "volume" and mount.source:
            if item.kind == VOLUME and mount.name != item.name:
                return None
            if item.kind in (VOLUME, ANONYMOUS):
                return Path(mount.source)
    return None


def extract_export(borg: Borg, archive: Archive, place: BackupPlace, name: str) -> Path:
    place.state.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=".export-", dir=place.state))
    saved = str(place.staging / name / EXPORT).lstrip("/")
    borg.extract(archive.name, saved, directory, keep_last=True)
    return directory / EXPORT


class stopped:
    """Stops containers when asked (once each), always starts the ones it stopped again on the way out."""

    def __init__(self, running: list[ObservedContainer], engine: Engine, journal: Journal):
        self.running, self.engine, self.journal = running, engine, journal
        self.done: list[ObservedContainer] = []

    def __enter__(self) -> Callable[[list[ObservedContainer]], None]:
        return self.stop

    def stop(self, containers: list[ObservedContainer]) -> None:
        for container in containers:
            if container in self.running and container not in self.done:
                self.journal.step(f"Arrêt de {container.name}")
                self.engine.stop(container.id)
                self.done.append(container)

    def __exit__(self, *exc: object) -> None:
        for container in self.done:
            try:
                self.engine.start(container.id)
                self.journal.step(f"Redémarrage de {container.name}")
            except EoleConteneursError as error:
                self.journal.fail(f"redémarrage de {container.name} après la restauration : {error}")


def swap_all(swaps: list[Swap]) -> None:
    """Every extracted copy put in place, or none: on a failure the swapped ones are put back."""
    done: list[Swap] = []
    try:
        for swap in swaps:
            done.append(swap)
            put_in_place(swap)
    except OSError as error:
        for swap in reversed(done):
            put_back(swap)
        raise RestoreRefused(f"remplacement de {done[-1].target} impossible ({error.strerror}) : les données "
                             "d'avant ont été remises") from None


def put_in_place(swap: Swap) -> None:
    """Two renames when the destination is not a mount point, else its content replaced in place."""
    target, staged = swap.target, swap.staged
    status = target.stat()
    os.chown(staged, status.st_uid, status.st_gid)
    os.chmod(staged, status.st_mode & 0o7777)
    if target.stat().st_dev == target.parent.stat().st_dev and not os.path.ismount(target):
        swap.replaced = staged.with_name(staged.name.replace(STAGED, REPLACED))
        os.rename(target, swap.replaced)
        os.rename(staged, target)
        return
    # A mount point stays where it is: its entries are replaced (the previous ones are in the archive
    # avant-restauration-… made just before).
    for entry in list(target.iterdir()):
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    for entry in list(staged.iterdir()):
        shutil.move(str(entry), str(target / entry.name))


def put_back(swap: Swap) -> None:
    """Undoes put_in_place's renames, whichever of them were done."""
    if swap.replaced is not None and swap.replaced.exists():
        if swap.target.exists():
            os.rename(swap.target, swap.staged)
        os.rename(swap.replaced, swap.target)
        swap.replaced = None


def finish(result: Restoration, specs: list[ContainerSpec], engine: Engine, journal: Journal,
           docker_url: str) -> None:
    """Each export read back by its container's restore command, once the container is ready."""
    readiness = Readiness(engine, {spec.name: spec for spec in specs})
    for spec in specs:
        export = result.exports.get(spec.name)
        if export is None:
            continue
        if not spec.backup.restore_command:
            journal.warn(f"{spec.name} : export sauvegardé non rechargé (pas de commande de restauration)")
            continue
        why = readiness.wait_until_ready(spec.name, journal)
        if why:
            raise EoleConteneursError(f"{spec.name} non prêt après la restauration de ses données ({why}) : export "
                                      f"non rechargé")
        journal.step(f"Rechargement de l'export de {spec.name} : {' '.join(spec.backup.restore_command)}")
        run_with_input(spec.name, spec.backup.restore_command, export, docker_url)
