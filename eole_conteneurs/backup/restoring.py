"""`eole-conteneurs restauration`: the saved data of the named containers put back, destroying nothing.

Order, so that a failure at any step leaves the service as it was:
1. everything is read and checked first (the archive, its manifests, each destination: not shared with
   a container left out, no other file system mounted inside it); each saved tree is extracted beside
   its destination (inside it, for a mount point) while the containers still run;
2. the current data of those containers, and every destination, is itself saved (archive
   avant-restauration-…);
3. the containers are stopped and each destination swapped with its extracted copy by renames, each
   step written down first (interrupted.Swap): on a failure the swapped ones are put back, after a
   kill -9 the next run puts them back; the containers are always started again;
4. once each is ready, its restore command reads its saved export.
Other containers are never touched.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from eole_conteneurs.backup.borg import Archive, Borg
from eole_conteneurs.backup.interrupted import ENTRIES, WHOLE, Stopped, Swap, recover, discard, undo
from eole_conteneurs.backup.inventory import ANONYMOUS, DIRECTORY, EXPORT, VOLUME, Item, Manifest
from eole_conteneurs.backup.place import BackupPlace
from eole_conteneurs.backup.record import Record
from eole_conteneurs.backup.saving import (BEFORE_RESTORE_PREFIX, EXPORT_TIMEOUT, archived, back_up, borg_for,
                                           observed_by_name, passphrase_of, read_manifest)
from eole_conteneurs.config import paths
from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.config.model import ContainerSpec
from eole_conteneurs.containers.readiness import Readiness
from eole_conteneurs.engine.api import Endpoints, Engine, ObservedContainer
from eole_conteneurs.engine.execution import ExecFailed, Where, run_with_input
from eole_conteneurs.errors import EoleConteneursError, os_reason
from eole_conteneurs.journal import Journal

STAGED, REPLACED = ".restauration-", ".avant-restauration-"
MOUNTINFO = Path("/proc/self/mountinfo")


class RestoreRefused(EoleConteneursError):
    """Nothing was changed: names what is missing or in the way."""


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
            endpoints: Endpoints, wanted: str | None = None) -> Restoration:
    record = Record(place.state)
    recover(record, engine, journal)
    passphrase_of(place, create=False, journal=journal)  # there and root's alone, before borg reads it
    borg = borg_for(loaded, place)
    archive = choose_archive(borg, specs, wanted)
    observed = observed_by_name(engine)
    absent = [spec.name for spec in specs if spec.name not in observed]
    if absent:
        raise RestoreRefused(f"conteneur absent : {', '.join(absent)} (lancez d'abord reconfigure)")
    manifests = {spec.name: read_manifest(borg, archive.name, place, spec.name) for spec in specs}
    check_ready_for_exports(specs, manifests, observed)
    result = Restoration(archive.name)
    journal.step(f"Restauration de {', '.join(manifests)} depuis l'archive {archive.name}")
    restored = {spec.name for spec in specs}
    try:
        for spec in specs:
            manifest, container = manifests[spec.name], observed[spec.name]
            compare_images(manifest, container, journal)
            for item in manifest.items:
                swap = planned_swap(item, spec, container, observed, restored, journal)
                if swap is not None:
                    result.swaps.append(swap)
                    borg.extract(archive.name, archived(item.host), swap.staged)
            if manifest.export:
                result.exports[spec.name] = extract_export(borg, archive, place, spec.name)
        with Stopped(record, engine, journal) as stopped:
            # Those without an export stopped first: the copy of their data made just below is consistent;
            # those with one still run for it, and are stopped just before their data is replaced.
            stopped.stop([observed[spec.name] for spec in specs if not spec.backup.dump_command])
            saved = back_up(loaded, specs, engine, place, journal, endpoints, prefix=BEFORE_RESTORE_PREFIX,
                            also=[swap.target for swap in result.swaps])
            if saved.failed or not saved.archive:
                raise RestoreRefused("sauvegarde des données actuelles impossible : restauration abandonnée, "
                                     "rien n'a été modifié")
            result.safety_archive = saved.archive
            journal.step(f"Données actuelles sauvegardées dans l'archive {saved.archive}")
            stopped.stop([observed[spec.name] for spec in specs])
            swap_all(result.swaps, record)
        remember(record, archive, list(restored), borg.repository)
        finish(result, specs, engine, journal, endpoints, place)
    finally:
        for swap in result.swaps:
            discard(swap.staged)
            if swap.replaced is not None:
                discard(swap.replaced)
        record.swapping([])
        for export in result.exports.values():
            discard(export.parent)
    return result


def check_ready_for_exports(specs: list[ContainerSpec], manifests: dict[str, Manifest],
                            observed: dict[str, ObservedContainer]) -> None:
    """An export is read back by its running container: one that is stopped would fail after the swap."""
    stopped = [spec.name for spec in specs if manifests[spec.name].export and spec.backup.restore_command
               and not observed[spec.name].running]
    if stopped:
        raise RestoreRefused(f"conteneur arrêté : {', '.join(stopped)} (son export ne pourrait pas être rechargé ; "
                             "démarrez-le d'abord)")


def compare_images(manifest: Manifest, container: ObservedContainer, journal: Journal) -> None:
    if manifest.image_id and container.image_id != manifest.image_id:
        saved = manifest.digests[0] if manifest.digests else manifest.image_id
        journal.warn(f"{manifest.name} : l'image en service n'est plus celle de la sauvegarde ({saved}) ; "
                     "ses données sont restaurées pour l'image actuelle")


def planned_swap(item: Item, spec: ContainerSpec, container: ObservedContainer,
                 observed: dict[str, ObservedContainer], restored: set[str], journal: Journal) -> Swap | None:
    """Where item goes now, checked, and a place for its extracted copy on the same file system."""
    target = destination(item, spec, container)
    if target is None:
        journal.warn(f"{spec.name} : {item.container} n'est plus déclaré ({item.kind}), non restauré")
        return None
    check_not_shared(target, spec, observed, restored)
    check_no_mount_inside(target)
    if os.path.ismount(target):
        staged = Path(tempfile.mkdtemp(prefix=f".eole-conteneurs{STAGED}", dir=target))
        return Swap(target, staged, ENTRIES)
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGED}", dir=target.parent))
    return Swap(target, staged, WHOLE)


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


def check_not_shared(target: Path, spec: ContainerSpec, observed: dict[str, ObservedContainer],
                     restored: set[str]) -> None:
    """A destination another container also mounts would change under it (or be lost to it)."""
    users = sorted(name for name, container in observed.items() if name not in restored
                   and any(_overlap(Path(mount.source), target) for mount in container.mounts if mount.source))
    if users:
        raise RestoreRefused(f"{spec.name} : {target} est aussi utilisé par {', '.join(users)} ; restaurez-les "
                             f"ensemble (eole-conteneurs restauration {spec.name} {' '.join(users)})")


def _overlap(one: Path, other: Path) -> bool:
    return one == other or one in other.parents or other in one.parents


def check_no_mount_inside(target: Path) -> None:
    """A file system mounted below the destination would move with it, or be emptied by the swap."""
    try:
        lines = MOUNTINFO.read_text().splitlines()
    except OSError as error:
        raise RestoreRefused(f"{MOUNTINFO} illisible ({os_reason(error)})") from None
    for line in lines:
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape") if len(fields) > 4 else ""
        if target in Path(point).parents:
            raise RestoreRefused(f"{target} contient le point de montage {point} : restauration refusée "
                                 "(démontez-le, ou restaurez à la main avec borg extract)")


def extract_export(borg: Borg, archive: Archive, place: BackupPlace, name: str) -> Path:
    place.state.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=".export-", dir=place.state))
    borg.extract(archive.name, archived(place.staging / name / EXPORT), directory, keep_last=True)
    return directory / EXPORT


def swap_all(swaps: list[Swap], record: Record) -> None:
    """Every extracted copy put in place, or none: on a failure the swapped ones are put back."""
    done: list[Swap] = []
    try:
        for swap in swaps:
            done.append(swap)
            put_in_place(swap, lambda: record.swapping([entry.as_json() for entry in done]))
    except (OSError, EoleConteneursError) as error:  # the record itself not written: undone as well
        for swap in reversed(done):
            undo(swap)
        record.swapping([])
        reason = os_reason(error) if isinstance(error, OSError) else str(error)
        raise RestoreRefused(f"remplacement de {done[-1].target} impossible ({reason}) : les données "
                             "d'avant ont été remises") from None


def put_in_place(swap: Swap, write_down: Callable[[], None]) -> None:
    """WHOLE: two renames. ENTRIES (a mount point): its entries set aside, the copy's moved in."""
    target, staged = swap.target, swap.staged
    if swap.mode == WHOLE:
        status = target.stat()
        os.chown(staged, status.st_uid, status.st_gid)
        os.chmod(staged, status.st_mode & 0o7777)
        swap.replaced = staged.with_name(staged.name.replace(STAGED, REPLACED))
        write_down()
        os.rename(target, swap.replaced)
        os.rename(staged, target)
        return
    swap.replaced = Path(tempfile.mkdtemp(prefix=f".eole-conteneurs{REPLACED}", dir=target))
    write_down()
    for entry in list(target.iterdir()):
        if entry not in (staged, swap.replaced):
            os.rename(entry, swap.replaced / entry.name)
    for entry in list(staged.iterdir()):
        os.rename(entry, target / entry.name)


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


def finish(result: Restoration, specs: list[ContainerSpec], engine: Engine, journal: Journal, endpoints: Endpoints,
           place: BackupPlace) -> None:
    """Each export read back by its container's restore command once the container is ready; a failure
    is reported, its export kept for the administrator, and the others still go on."""
    readiness = Readiness(engine, {spec.name: spec for spec in specs})
    for spec in specs:
        export = result.exports.get(spec.name)
        if export is None:
            continue
        if not spec.backup.restore_command:
            journal.warn(f"{spec.name} : export sauvegardé non rechargé (pas de commande de restauration)")
            continue
        why = readiness.wait_until_ready(spec.name, journal)
        try:
            if why:
                raise ExecFailed(spec.name, spec.backup.restore_command, f"conteneur non prêt ({why})")
            journal.step(f"Rechargement de l'export de {spec.name} : {spec.backup.restore_command[0]}…")
            run_with_input(Where(spec.name, spec.technology, endpoints), spec.backup.restore_command, export,
                           EXPORT_TIMEOUT)
        except ExecFailed as error:
            kept = place.state / f"export-{spec.name}-{result.archive}"
            os.replace(export, kept)
            journal.fail(f"{error} ; fichiers restaurés, export non rechargé : il est gardé dans {kept} "
                         f"({spec.technology} exec -i {spec.name} {' '.join(spec.backup.restore_command)} < {kept})")

