"""nginx on top of the file transaction: `nginx -t` before a reload, reload confirmed, rollback on failure.

The module's files are changed in one of two ways: publish() writes, tests and reloads at once;
in reconfigure, the files are written by the template step (stage(), or Creole itself after
expect()) and commit() tests and reloads them once the containers have converged. Any failure
puts the previous files back; a run killed in between is recovered at the next opening.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal
from eole_conteneurs.publish.transaction import FileChange, FileTransaction

if TYPE_CHECKING:
    import subprocess

DEFAULT_PID_FILE = Path("/run/nginx.pid")
DEFAULT_PREFIX = Path("/usr/share/nginx")  # Debian's compiled-in prefix, for relative pid paths
OUTPUT_LINES = 8
UNCHANGED = "Configuration nginx inchangée : pas de rechargement"


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


@dataclass(eq=False)
class Nginx:
    """The nginx binary, its running master, and the module's files changed as a transaction."""

    journal: Journal
    backup_dir: Path  # the caller says where (under the module's state directory)
    binary: str = "/usr/sbin/nginx"
    args: tuple[str, ...] = ()
    # `nginx -s reload` only sends SIGHUP and exits 0 even when the master then fails to apply the
    # configuration (e.g. a port already in use): new workers appearing is the proof it worked.
    reload_timeout: float = 10.0

    @property
    def transaction(self) -> FileTransaction:
        return FileTransaction(self.backup_dir, self.journal, "nginx", "configuration nginx")

    @property
    def pending(self) -> bool:
        """Files written by the template step await commit()."""
        return self.transaction.open

    def check(self) -> tuple[bool, str]:
        result = self._run("-t")
        return result.returncode == 0, result.stdout

    def running(self) -> bool:
        return self._master() is not None

    # --- the ways files change ----------------------------------------------------------------

    def publish(self, changes: list[FileChange]) -> bool:
        """Write, test, reload at once; True when nginx got new files."""
        recovered = self.transaction.recover()
        pending = [change for change in changes if not change.applied]
        # After a recovery nginx may still run the interrupted run's files: reload even if nothing differs.
        if not recovered and not pending:
            self.journal.step(UNCHANGED)
            return False
        self._write(pending)
        self._test(pending)
        self._reload_or_rollback()
        if pending:
            self.transaction.commit()
        verb = "rechargée" if self.running() else "écrite"
        self.journal.step(f"Configuration nginx {verb} ({len(pending)} fichier(s) modifié(s))")
        return True

    def stage(self, changes: list[FileChange]) -> list[FileChange]:
        """Write the files now (reconfigure's template step); commit() tests and reloads them later.

        Returns the changes written (none: nothing to commit). reconfigure has put back what a killed
        run left before its scripts ran (abandon()); the checkpoint would recover it anyway.
        """
        pending = [change for change in changes if not change.applied]
        if pending:
            self._write(pending)
        return pending

    def expect(self, paths: list[Path]) -> None:
        """Someone else (Creole's template step) is about to write these: checkpoint them.

        A killed run's backup is recovered first (by the checkpoint), never overwritten.
        """
        self.transaction.checkpoint(paths)

    def commit(self) -> bool:
        """After the template step: keep the new files if nginx accepts them and reloads, else roll back.

        Returns True when nginx was reloaded; False when nothing differed from the checkpoint.
        """
        transaction = self.transaction
        if not transaction.open:
            self.journal.step(UNCHANGED)
            return False
        ok, output = self.check()
        if not ok:
            transaction.rollback()
            raise NginxRejected("Configuration nginx générée refusée par « nginx -t » : fichiers précédents restaurés",
                                output)
        changed = transaction.changed()
        if changed:
            self._reload_or_rollback()
        transaction.commit()
        self.journal.step("Configuration nginx rechargée" if changed else UNCHANGED)
        return changed

    def abandon(self) -> bool:
        """An unfinished transaction (a failure after the template step, a killed run): previous files back."""
        return self.transaction.recover()

    def _write(self, pending: list[FileChange]) -> None:
        ok, output = self.check()
        if not ok:
            raise NginxAlreadyBroken("Configuration nginx déjà invalide avant modification : rien n'est écrit", output)
        if not pending:
            return
        try:
            self.transaction.write(pending)
        except OSError as error:
            raise NginxError(f"Écriture de la configuration nginx impossible ({error}) : "
                             "configuration précédente conservée") from error

    def _test(self, pending: list[FileChange]) -> None:
        ok, output = self.check()
        if not ok:
            if self.transaction.open:
                self.transaction.rollback()
            names = ", ".join(str(change.path) for change in pending)
            raise NginxRejected(f"Configuration nginx refusée par « nginx -t » ({names}) : fichiers précédents restaurés",
                                output)

    # --- reload -----------------------------------------------------------------------------

    def _reload_or_rollback(self) -> None:
        try:
            self.reload()
        except NginxError as error:
            if self.transaction.open:
                self.transaction.rollback()
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

    def _run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        import subprocess  # only when nginx is run: a no-op reconfigure does not run it

        try:
            return subprocess.run([self.binary, *self.args, *extra], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="replace", timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise NginxError(f"nginx ne peut pas être exécuté ({self.binary} : {error})") from error

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
