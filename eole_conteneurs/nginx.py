"""nginx changed as a transaction: checkpoint, write, `nginx -t`, reload; restore on any failure.

The backup is complete (and marked so) before any destination is touched, so a run killed at any
point leaves either an incomplete backup (nothing touched yet: discard it) or a complete one
(restore it). recover() handles both and publish() calls it first.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import EoleConteneursError
from .journal import Journal

if TYPE_CHECKING:
    import subprocess

MANIFEST = "manifest.json"
COMPLETE = "sauvegarde-complete"
DEFAULT_PID_FILE = Path("/run/nginx.pid")
DEFAULT_PREFIX = Path("/usr/share/nginx")  # Debian's compiled-in prefix, for relative pid paths
OUTPUT_LINES = 8


@dataclass(frozen=True)
class FileChange:
    path: Path             # absolute destination
    content: bytes | None  # None: the file must not exist
    mode: int = 0o644

    @property
    def applied(self) -> bool:
        """The destination already is what this change asks for."""
        return _satisfied(self)


class NginxError(EoleConteneursError):
    """nginx refused a change; the message ends with nginx's own last lines."""

    def __init__(self, text: str, output: str = ""):
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-OUTPUT_LINES:])
        super().__init__(f"{text}\nSortie de nginx :\n{tail}" if tail else text)


class NginxAlreadyBroken(NginxError):
    """`nginx -t` failed before anything was written."""


class NginxRejected(NginxError):
    """`nginx -t` refused the new files; the previous ones were restored."""


class NginxReloadFailed(NginxError):
    """The reload failed; the previous files were restored and nginx reloaded again."""


@dataclass
class Nginx:
    journal: Journal
    backup_dir: Path  # the caller says where (Context: under its state directory)
    binary: str = "/usr/sbin/nginx"
    args: tuple[str, ...] = ()
    # `nginx -s reload` only sends SIGHUP and exits 0 even when the master then fails to apply the
    # configuration (e.g. a port already in use): new workers appearing is the proof it worked.
    reload_timeout: float = 10.0

    def check(self) -> tuple[bool, str]:
        result = self._run("-t")
        return result.returncode == 0, result.stdout

    def running(self) -> bool:
        return self._master() is not None

    def recover(self) -> bool:
        if not self.backup_dir.exists():
            return False
        if not (self.backup_dir / COMPLETE).exists():
            # Killed while checkpointing: no destination was touched yet.
            _remove_tree(self.backup_dir)
            self.journal.step("Sauvegarde nginx incomplète supprimée : aucun fichier n'avait été modifié")
            return False
        count = self._restore()
        self.journal.step(f"Exécution interrompue : configuration nginx précédente restaurée ({count} fichier(s))")
        return True

    def publish(self, changes: list[FileChange]) -> bool:
        recovered = self.recover()
        pending = [change for change in changes if not _satisfied(change)]
        # After a recovery nginx may still run the interrupted run's files: reload even if nothing differs.
        if not pending and not recovered:
            self.journal.step("Configuration nginx inchangée : pas de rechargement")
            return False
        ok, output = self.check()
        if not ok:
            raise NginxAlreadyBroken("Configuration nginx déjà invalide avant modification : rien n'est écrit", output)
        self._checkpoint(pending)
        try:
            self._apply(pending)
        except OSError as error:
            self._restore()
            raise NginxError(f"Écriture de la configuration nginx impossible ({error}) : "
                             "fichiers précédents restaurés") from error
        ok, output = self.check()
        if not ok:
            self._restore()
            names = ", ".join(str(change.path) for change in pending)
            raise NginxRejected(f"Configuration nginx refusée par « nginx -t » ({names}) : fichiers précédents restaurés",
                                output)
        self._reload_or_rollback()
        self._discard()
        verb = "rechargée" if self.running() else "écrite"
        self.journal.step(f"Configuration nginx {verb} ({len(pending)} fichier(s) modifié(s))")
        return True

    def stage(self, changes: list[FileChange]) -> list[FileChange]:
        """Write the files now, checkpointed, and leave `nginx -t` and the reload to commit().

        This is the template step of reconfigure: the containers converge between the two.
        Returns the changes written (none: nothing to commit).
        """
        self.recover()
        pending = [change for change in changes if not _satisfied(change)]
        if not pending:
            return []
        ok, output = self.check()
        if not ok:
            raise NginxAlreadyBroken("Configuration nginx déjà invalide avant modification : rien n'est écrit", output)
        self._checkpoint(pending)
        self._apply(pending)
        return pending

    @property
    def checkpointed(self) -> bool:
        """Files were staged or checkpointed and not yet committed."""
        return (self.backup_dir / COMPLETE).exists()

    def checkpoint(self, paths: list[Path]) -> None:
        """Save these files before someone else writes them (Creole's template step)."""
        self.recover()
        self._checkpoint([FileChange(path, None) for path in paths])

    def commit(self) -> bool:
        """After that step: keep the new files if nginx accepts them and reloads, else restore.

        Returns True when nginx was reloaded; False when nothing differed from the checkpoint.
        """
        if not (self.backup_dir / COMPLETE).exists():
            self.journal.step("Configuration nginx inchangée : pas de rechargement")
            return False
        ok, output = self.check()
        if not ok:
            self._restore()
            raise NginxRejected("Configuration nginx générée refusée par « nginx -t » : fichiers précédents restaurés",
                                output)
        changed = self._differs_from_checkpoint()
        if changed:
            self._reload_or_rollback()
        self._discard()
        self.journal.step("Configuration nginx rechargée" if changed else
                          "Configuration nginx inchangée : pas de rechargement")
        return changed

    def _differs_from_checkpoint(self) -> bool:
        for entry in json.loads((self.backup_dir / MANIFEST).read_text()):
            saved = None if not entry["existed"] else (self.backup_dir / entry["copy"]).read_bytes()
            change = FileChange(Path(entry["path"]), saved, entry["mode"] or 0o644)
            if not _satisfied(change):
                return True
        return False

    # --- reload -----------------------------------------------------------------------------

    def _reload_or_rollback(self) -> None:
        try:
            self.reload()
        except NginxError as error:
            self._restore()
            try:
                self.reload()
            except NginxError as again:
                self.journal.fail(f"nginx non rechargé après restauration : {again}")
            raise NginxReloadFailed("Rechargement de nginx en échec : fichiers précédents restaurés et nginx rechargé",
                                    error.output or str(error)) from error

    def reload(self) -> None:
        master = self._master()
        if master is None:
            self.journal.step("nginx n'est pas démarré : la configuration sera utilisée à son prochain démarrage")
            return
        before = _children(master)
        result = self._run("-s", "reload")
        if result.returncode != 0:
            raise NginxError("Rechargement de nginx impossible", result.stdout)
        deadline = time.monotonic() + self.reload_timeout
        while not (_children(master) - before):
            if time.monotonic() > deadline:
                raise NginxError("nginx n'a pas appliqué la nouvelle configuration (voir son journal d'erreurs)")
            time.sleep(0.05)
        # Old workers accept connections until the master tells them to quit: wait for that, so
        # that the next request sees the new configuration (a long connection may keep one alive).
        while any(_serving(worker) for worker in before) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _master(self) -> int | None:
        try:
            pid = int(self._pid_file().read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        # A stale pid file may name a recycled pid: require nginx's own master title.
        return pid if cmdline.startswith(b"nginx: master process") else None

    def _pid_file(self) -> Path:
        dump = self._run("-T")
        match = re.search(r"^\s*pid\s+([^;\s]+)\s*;", dump.stdout, re.MULTILINE) if dump.returncode == 0 else None
        if match is None:
            return DEFAULT_PID_FILE
        path = Path(match.group(1))
        args = list(self.args)
        prefix = Path(args[args.index("-p") + 1]) if "-p" in args[:-1] else DEFAULT_PREFIX
        return path if path.is_absolute() else prefix / path

    def _run(self, *extra: str) -> subprocess.CompletedProcess:
        import subprocess  # only when nginx is run: a no-op reconfigure does not run it

        try:
            return subprocess.run([self.binary, *self.args, *extra], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="replace", timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise NginxError(f"nginx ne peut pas être exécuté ({self.binary} : {error})") from error

    # --- checkpoint / apply / restore -------------------------------------------------------

    def _checkpoint(self, pending: list[FileChange]) -> None:
        if self.backup_dir.exists():
            _remove_tree(self.backup_dir)
        self.backup_dir.mkdir(parents=True, mode=0o700)
        entries = []
        for number, change in enumerate(pending):
            entry = {"path": str(change.path), "existed": change.path.exists(), "mode": None, "copy": None}
            if entry["existed"]:
                entry["mode"] = stat.S_IMODE(change.path.stat().st_mode)
                entry["copy"] = f"fichier-{number}"
                _write_durably(self.backup_dir / entry["copy"], change.path.read_bytes(), 0o600)
            entries.append(entry)
        _write_durably(self.backup_dir / MANIFEST, json.dumps(entries, indent=1).encode(), 0o600)
        # Written last: its presence is what tells recover() that destinations may have been touched.
        _write_durably(self.backup_dir / COMPLETE, b"", 0o600)

    def _apply(self, pending: list[FileChange]) -> None:
        for change in pending:
            if change.content is None:
                _remove(change.path)
            else:
                _write_durably(change.path, change.content, change.mode)

    def _restore(self) -> int:
        entries = json.loads((self.backup_dir / MANIFEST).read_text())
        for entry in entries:
            path = Path(entry["path"])
            if entry["existed"]:
                _write_durably(path, (self.backup_dir / entry["copy"]).read_bytes(), entry["mode"])
            else:
                _remove(path)
        self._discard()
        return len(entries)

    def _discard(self) -> None:
        # Marker first: an interrupted removal then reads as "nothing to restore", which is true.
        (self.backup_dir / COMPLETE).unlink(missing_ok=True)
        _fsync_dir(self.backup_dir)
        _remove_tree(self.backup_dir)


def _satisfied(change: FileChange) -> bool:
    if change.content is None:
        return not change.path.exists() and not change.path.is_symlink()
    try:
        return (stat.S_IMODE(change.path.stat().st_mode) == change.mode
                and change.path.read_bytes() == change.content)
    except OSError:
        return False


def _write_durably(path: Path, content: bytes, mode: int) -> None:
    """Temp file in the same directory, fsync, rename: readers see the old or the new bytes, never a mix."""
    import tempfile  # only when a file changes

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            os.fchmod(stream.fileno(), mode)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _remove_tree(path: Path) -> None:
    import shutil  # only when a backup exists

    shutil.rmtree(path)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    if not directory.exists():
        return
    handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _serving(worker: int) -> bool:
    """Alive and not yet told to quit (nginx retitles a quitting worker "... is shutting down")."""
    try:
        title = Path(f"/proc/{worker}/cmdline").read_bytes()
    except OSError:
        return False
    return b"shutting down" not in title


def _children(parent: int) -> set[int]:
    """Worker pids: processes whose parent is the nginx master."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            found.add(int(entry.name))
    return found
