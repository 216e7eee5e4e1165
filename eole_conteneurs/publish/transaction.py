"""Files changed together, as a transaction: checkpoint, write, then commit or roll back.

In the spirit of certbot's reverter. The backup is complete (and marked so) before any
destination is touched, so a run killed at any point leaves either an incomplete backup
(nothing touched yet: discard it) or a complete one (restore it); recover() handles both and
every opening of a transaction calls it first.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from eole_conteneurs.files import fsync_dir, link_durably, remove_durably, remove_tree, write_durably
from eole_conteneurs.journal import Journal

MANIFEST = "manifest.json"
COMPLETE = "sauvegarde-complete"


@dataclass(frozen=True)
class FileChange:
    """What one file must become (its bytes and mode, or a symbolic link), or that it must not exist."""

    path: Path             # absolute destination
    content: bytes | None  # None (and no link): the file must not exist
    mode: int = 0o644
    link: str | None = None  # a symbolic link to this target (Debian's conf-enabled → conf-available)

    @property
    def applied(self) -> bool:
        """The destination already is what this change asks for."""
        if self.link is not None:
            return self.path.is_symlink() and os.readlink(self.path) == self.link
        if self.content is None:
            return not self.path.exists() and not self.path.is_symlink()
        try:
            return stat.S_IMODE(self.path.stat().st_mode) == self.mode and self.path.read_bytes() == self.content
        except OSError:
            return False


class SavedFile(TypedDict):
    """One entry of the backup's manifest."""

    path: str
    existed: bool
    mode: int | None  # of the saved file
    copy: str | None  # its copy's name in the backup directory
    link: str | None  # the target, when it was a symbolic link (absent from older manifests)


@dataclass(frozen=True, eq=False)
class FileTransaction:
    """One set of files, one backup directory (the caller says where: under the module's state)."""

    backup_dir: Path
    journal: Journal
    name: str  # for the messages: « Sauvegarde nginx incomplète supprimée »
    what: str  # « Exécution interrompue : configuration nginx précédente restaurée »

    @property
    def open(self) -> bool:
        """A checkpoint awaits its commit or rollback."""
        return (self.backup_dir / COMPLETE).exists()

    def recover(self) -> bool:
        """What an unfinished transaction left (a killed run's): True when previous files were put back."""
        if not self.backup_dir.exists():
            return False
        if not self.open:
            # Killed while checkpointing: no destination was touched yet.
            remove_tree(self.backup_dir)
            self.journal.step(f"Sauvegarde {self.name} incomplète supprimée : aucun fichier n'avait été modifié")
            return False
        count = self.rollback()
        self.journal.step(f"Exécution interrompue : {self.what} précédente restaurée ({count} fichier(s))")
        return True

    def checkpoint(self, paths: list[Path]) -> None:
        """Save these files as they are now, before anyone writes them.

        A backup still there is an unfinished transaction's: it is recovered first, never overwritten.
        """
        self.recover()
        self.backup_dir.mkdir(parents=True, mode=0o700)
        entries: list[SavedFile] = []
        for number, path in enumerate(paths):
            entry = SavedFile(path=str(path), existed=path.exists() or path.is_symlink(), mode=None, copy=None,
                              link=os.readlink(path) if path.is_symlink() else None)
            if entry["existed"] and entry["link"] is None:
                entry["mode"], entry["copy"] = stat.S_IMODE(path.stat().st_mode), f"fichier-{number}"
                write_durably(self.backup_dir / f"fichier-{number}", path.read_bytes(), 0o600)
            entries.append(entry)
        write_durably(self.backup_dir / MANIFEST, json.dumps(entries, indent=1).encode(), 0o600)
        # Written last: its presence is what tells recover() that destinations may have been touched.
        write_durably(self.backup_dir / COMPLETE, b"", 0o600)

    def write(self, changes: list[FileChange]) -> None:
        """Checkpoint the destinations, then write the changes (the caller leaves out those in place).

        A write that fails puts the previous files back before raising; a checkpoint that fails
        leaves the destinations untouched (its incomplete backup is discarded by the next recover()).
        """
        self.checkpoint([change.path for change in changes])
        try:
            for change in changes:
                if change.link is not None:
                    link_durably(change.path, change.link)
                elif change.content is None:
                    remove_durably(change.path)
                else:
                    write_durably(change.path, change.content, change.mode)
        except OSError:
            self.rollback()
            raise

    def commit(self) -> None:
        """Keep the new files: the backup goes."""
        self._discard()

    def rollback(self) -> int:
        """Put the checkpointed files back; returns how many."""
        entries = self._manifest()
        for entry in entries:
            path = Path(entry["path"])
            link = entry.get("link")
            if link is not None:
                link_durably(path, link)
            elif entry["copy"] is not None and entry["mode"] is not None:
                write_durably(path, (self.backup_dir / entry["copy"]).read_bytes(), entry["mode"])
            else:
                remove_durably(path)
        self._discard()
        return len(entries)

    def _discard(self) -> None:
        # Marker first: an interrupted removal then reads as "nothing to restore", which is true.
        (self.backup_dir / COMPLETE).unlink(missing_ok=True)
        fsync_dir(self.backup_dir)
        remove_tree(self.backup_dir)

    def _manifest(self) -> list[SavedFile]:
        entries: list[SavedFile] = json.loads((self.backup_dir / MANIFEST).read_text())
        return entries
