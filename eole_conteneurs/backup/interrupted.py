"""What a backup or a restore changes for a while, written down first, so that a kill -9 at any instant
leaves the next run (backup, restore, reconfigure) able to undo it: containers stopped for a copy or a
swap are started again, destinations half-swapped by a restore get their previous data back."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from eole_conteneurs.backup.record import Record
from eole_conteneurs.engine.api import Engine, ObservedContainer
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal

WHOLE, ENTRIES = "renommage", "entrees"  # how a destination is swapped (see restoring.put_in_place)


@dataclass
class Swap:
    """One destination and its extracted copy. WHOLE: the copy is beside it (same file system) and the two
    are exchanged by renames. ENTRIES (a mount point): the copy is inside it and its entries are moved."""

    target: Path
    staged: Path
    mode: str = WHOLE
    replaced: Path | None = None  # the previous content, set aside during the swap

    def as_json(self) -> dict[str, str]:
        return {"cible": str(self.target), "copie": str(self.staged), "mode": self.mode,
                "ancien": str(self.replaced) if self.replaced else ""}

    @classmethod
    def from_json(cls, entry: dict[str, str]) -> "Swap":
        return cls(Path(entry["cible"]), Path(entry["copie"]), entry.get("mode", WHOLE),
                   Path(entry["ancien"]) if entry.get("ancien") else None)


@dataclass(eq=False)
class Stopped:
    """Stops containers when asked, each recorded before its stop; all started again on the way out.

    One that fails to start stays recorded (the next run tries again) and fails the job.
    """

    record: Record
    engine: Engine
    journal: Journal
    done: list[ObservedContainer] = field(default_factory=list)

    def __enter__(self) -> "Stopped":
        return self

    def stop(self, containers: list[ObservedContainer], why: str = "") -> None:
        for container in containers:
            if not container.running or any(container.id == done.id for done in self.done):
                continue
            self.done.append(container)
            self.record.stopping([done.id for done in self.done])
            self.journal.step(f"Arrêt de {container.name}{why}")
            self.engine.stop(container.id)

    def __exit__(self, *exc: object) -> None:
        failed = []
        for container in self.done:
            try:
                self.engine.start(container.id)
                self.journal.step(f"Redémarrage de {container.name}")
            except EoleConteneursError as error:
                failed.append(container.id)
                self.journal.fail(f"redémarrage de {container.name} impossible : {error}")
        self.record.stopping(failed)


def recover(record: Record, engine: Engine, journal: Journal) -> None:
    """Undoes what a killed backup or restore left: previous data back in place, containers started."""
    swaps = record.swaps()
    if swaps:
        for entry in swaps:
            undo(Swap.from_json(entry))
        record.swapping([])
        journal.warn("restauration interrompue : les données d'avant ont été remises en place (elles sont aussi "
                     "dans l'archive avant-restauration-…) ; relancez la restauration")
    leftovers = set(record.stopped())
    if not leftovers:
        return
    for container in engine.containers():
        if container.id in leftovers and not container.running:
            journal.step(f"Redémarrage de {container.name}, arrêté par une sauvegarde ou une restauration interrompue")
            try:
                engine.start(container.id)
            except EoleConteneursError as error:  # its own problem: reconfigure's to converge, not this run's
                journal.warn(f"{container.name} ne redémarre pas : {error}")
    record.stopping([])


def undo(swap: Swap) -> None:
    """The destination as it was before swap, whichever of its steps were done; the copy removed."""
    if swap.mode == ENTRIES:
        if swap.replaced is not None and swap.replaced.is_dir():
            for entry in list(swap.target.iterdir()):
                if entry not in (swap.staged, swap.replaced):
                    os.rename(entry, swap.staged / entry.name) if swap.staged.is_dir() else _remove(entry)
            for entry in list(swap.replaced.iterdir()):
                os.rename(entry, swap.target / entry.name)
            swap.replaced.rmdir()
    elif swap.replaced is not None and swap.replaced.exists():
        if swap.target.exists():
            discarded = swap.staged if not swap.staged.exists() else swap.staged.with_name(swap.staged.name + "-x")
            os.rename(swap.target, discarded)
            _remove(discarded)
        os.rename(swap.replaced, swap.target)
    swap.replaced = None
    _remove(swap.staged)


def _remove(path: Path) -> None:
    """A tree of one file system only: never into something mounted below it."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        device = path.stat().st_dev
        for entry in list(path.iterdir()):
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_dev != device:
                raise OSError(f"{entry} : autre système de fichiers, laissé en place")
            _remove(entry)
        path.rmdir()


def discard(path: Path) -> None:
    """Best effort, one file system: what a restore leaves beside a destination once it is done."""
    try:
        _remove(path)
    except OSError:
        pass  # left for the administrator: never a reason to fail a restore that is done
