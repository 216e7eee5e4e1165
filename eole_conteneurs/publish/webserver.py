"""A web server's files changed as a transaction: test before reload, reload confirmed, rollback on failure.

In the spirit of certbot's installers and their reverter: the server's own check (`nginx -t`,
`apache2ctl configtest`) runs before anything is written (a configuration already broken is never
made worse) and after; a refused check or a failed reload puts the previous files back. A run
killed in between is recovered when the next transaction opens. nginx and Apache differ only in
how they are checked, reloaded and found running (publish/nginx.py, publish/apache.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal
from eole_conteneurs.publish.transaction import FileChange, FileTransaction

if TYPE_CHECKING:
    import subprocess

OUTPUT_LINES = 8


class WebServerError(EoleConteneursError):
    """The web server refused a change; the message ends with its own last lines."""

    def __init__(self, text: str, output: str = "", server: str = "du serveur web"):
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-OUTPUT_LINES:])
        super().__init__(f"{text}\nSortie {server} :\n{tail}" if tail else text)


class AlreadyBroken(WebServerError):
    """The check failed before anything was written."""


class Rejected(WebServerError):
    """The check refused the new files; the previous ones were restored."""


class ReloadFailed(WebServerError):
    """The reload failed; the previous files were restored and the server reloaded again."""


@dataclass(eq=False)
class WebServer(ABC):
    """One web server and the module's files in its configuration."""

    journal: Journal
    backup_dir: Path  # the caller says where (under the module's state directory)
    binary: str = ""  # the server's own tool

    # What each server says and runs (class constants, not fields).
    label: ClassVar[str] = "serveur web"      # « Configuration nginx rechargée »
    check_command: ClassVar[str] = "test"     # « refusée par « nginx -t » »
    output_label: ClassVar[str] = "du serveur web"
    check_args: ClassVar[tuple[str, ...]] = ()   # the tool's arguments to test the configuration
    reload_args: ClassVar[tuple[str, ...]] = ()  # … and to have the running server read it again

    @abstractmethod
    def master(self) -> int | None:
        """The running server's master process, None when it does not run."""

    @abstractmethod
    def confirm_reload(self, master: int, before: set[int]) -> None:
        """Wait for the proof that the master (whose children were `before`) read the new configuration,
        or raise WebServerError."""

    def command(self, *arguments: str) -> list[str]:
        return [self.binary, *arguments]

    def check(self) -> tuple[bool, str]:
        """The server's own configuration test: (accepted, its output)."""
        result = run_tool(self.command(*self.check_args), self.label)
        return result.returncode == 0, result.stdout

    def running(self) -> bool:
        """A master process serves the configuration (else files are only written)."""
        return self.master() is not None

    def reload(self) -> None:
        """Make the running server use the files now, or raise WebServerError."""
        master = self.master()
        if master is None:
            self.journal.step(f"{self.label} n'est pas démarré : la configuration sera utilisée à son prochain démarrage")
            return
        before = children(master)
        result = run_tool(self.command(*self.reload_args), self.label)
        if result.returncode != 0:
            raise self._error(WebServerError, f"Rechargement de la configuration {self.label} impossible", result.stdout)
        self.confirm_reload(master, before)

    @property
    def installed(self) -> bool:
        return Path(self.binary).is_file()

    @property
    def transaction(self) -> FileTransaction:
        return FileTransaction(self.backup_dir, self.journal, self.label, f"configuration {self.label}")

    @property
    def unchanged(self) -> str:
        return f"Configuration {self.label} inchangée : pas de rechargement"

    def publish(self, changes: list[FileChange]) -> bool:
        """Write, test, reload at once; True when the server got new files."""
        recovered = self.transaction.recover()
        pending = [change for change in changes if not change.applied]
        # After a recovery the server may still run the interrupted run's files: reload even if nothing differs.
        if not recovered and not pending:
            self.journal.step(self.unchanged)
            return False
        self._write(pending)
        self._test(pending)
        self._reload_or_rollback()
        if pending:
            self.transaction.commit()
        verb = "rechargée" if self.running() else "écrite"
        self.journal.step(f"Configuration {self.label} {verb} ({len(pending)} fichier(s) modifié(s))")
        return True

    def abandon(self) -> bool:
        """An unfinished transaction (a killed run's): previous files back."""
        return self.transaction.recover()

    def _error(self, cls: type[WebServerError], text: str, output: str = "") -> WebServerError:
        return cls(text, output, self.output_label)

    def _write(self, pending: list[FileChange]) -> None:
        ok, output = self.check()
        if not ok:
            raise self._error(AlreadyBroken, f"Configuration {self.label} déjà invalide avant modification : "
                                             "rien n'est écrit", output)
        if not pending:
            return
        try:
            self.transaction.write(pending)
        except OSError as error:
            raise self._error(WebServerError, f"Écriture de la configuration {self.label} impossible ({error}) : "
                                              "configuration précédente conservée") from error

    def _test(self, pending: list[FileChange]) -> None:
        ok, output = self.check()
        if not ok:
            if self.transaction.open:
                self.transaction.rollback()
            names = ", ".join(str(change.path) for change in pending)
            raise self._error(Rejected, f"Configuration {self.label} refusée par « {self.check_command} » "
                                        f"({names}) : fichiers précédents restaurés", output)

    def _reload_or_rollback(self) -> None:
        try:
            self.reload()
        except WebServerError as error:
            if self.transaction.open:
                self.transaction.rollback()
            try:
                self.reload()
            except WebServerError as again:
                self.journal.fail(f"{self.label} non rechargé après restauration : {again}")
            raise self._error(ReloadFailed, f"Rechargement de {self.label} en échec : fichiers précédents restaurés "
                                            f"et {self.label} rechargé", error.output or str(error)) from error


def run_tool(command: list[str], what: str) -> subprocess.CompletedProcess[str]:
    """A server's own tool, its output merged; a tool that cannot run is a WebServerError."""
    import subprocess  # only when a server is run: a no-op reconfigure does not run one

    try:
        return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise WebServerError(f"{what} ne peut pas être exécuté ({command[0]} : {error})") from error


def children(parent: int) -> set[int]:
    """Pids of the processes whose parent is this one (a server's workers or children)."""
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
