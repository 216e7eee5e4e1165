"""One job at a time: reconfigure, apply, publish and the hooks change the same containers and files.

The lock lives in a directory only root can write to (LOCK_DIR, 0700): no other account can create,
replace or even open it, so none can hold it. The directory and the file are checked before use
(a real directory and a regular file, the effective user's, nobody else's to write to) and the file
is opened without following a link: a planted link or directory is refused, never written through.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
import time
from pathlib import Path

from eole_conteneurs.errors import EoleConteneursError, os_reason
from eole_conteneurs.journal import Journal

LOCK_DIR = Path("/run/eole-conteneurs")
LOCK_FILE = LOCK_DIR / "verrou"
DEFAULT_WAIT = 120
DIRECTORY_MODE, FILE_MODE = 0o700, 0o600
HOLDER_MAX = 200  # bytes of the holder's line read back for the message
OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK


class ReconfigureBusy(EoleConteneursError):
    def __init__(self, lock: Path, waited: float, holder: str):
        super().__init__(f"un autre reconfigure est en cours ({holder}, verrou {lock}) : abandon après "
                         f"{waited:.0f} s d'attente")


class LockRefused(EoleConteneursError):
    """The lock's directory or file is not what the module made: nothing is written through it."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"verrou {path} refusé : {reason}")


class Lock:
    """flock: the kernel releases it when its holder dies, so a killed run never blocks the next one."""

    def __init__(self, path: Path, wait: float, journal: Journal):
        self.path, self.wait, self.journal = path, wait, journal
        self.handle = -1

    def __enter__(self) -> None:
        self.handle = _open_lock(self.path)
        try:
            self._acquire()
            os.ftruncate(self.handle, 0)
            os.pwrite(self.handle, f"pid {os.getpid()}, depuis {time.strftime('%H:%M:%S')}{_command()}\n".encode(), 0)
        except BaseException:
            os.close(self.handle)
            raise

    def _acquire(self) -> None:
        started, announced = time.monotonic(), False
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= self.wait:
                    holder = os.pread(self.handle, HOLDER_MAX, 0).decode("utf-8", "replace").strip()
                    raise ReconfigureBusy(self.path, waited, holder or "processus inconnu") from None
                if not announced:
                    self.journal.step("Un autre reconfigure (ou une sauvegarde, une restauration, une mise à jour) "
                                      f"est en cours : attente (au plus {self.wait:.0f} s)")
                    announced = True
                time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        try:
            os.ftruncate(self.handle, 0)
            fcntl.flock(self.handle, fcntl.LOCK_UN)
        finally:
            os.close(self.handle)


def _open_lock(path: Path) -> int:
    """The lock file's descriptor, opened through its checked directory."""
    directory = _private_directory(path.parent)
    try:
        try:
            handle = os.open(path.name, OPEN_FLAGS, FILE_MODE, dir_fd=directory)
        except OSError as error:
            raise LockRefused(path, _open_problem(error)) from error
    finally:
        os.close(directory)
    try:
        _check_file(path, handle)
    except BaseException:
        os.close(handle)
        raise
    return handle


def _private_directory(directory: Path) -> int:
    """Created 0700 when missing; refused unless a real directory, the effective user's, writable by nobody else."""
    try:
        os.mkdir(directory, DIRECTORY_MODE)
    except FileExistsError:
        pass
    except OSError as error:
        raise LockRefused(directory, f"création du répertoire impossible ({os_reason(error)})") from error
    try:
        status = os.lstat(directory)
    except OSError as error:
        raise LockRefused(directory, f"répertoire illisible ({os_reason(error)})") from error
    if stat.S_ISLNK(status.st_mode):
        raise LockRefused(directory, "le répertoire du verrou est un lien symbolique")
    if not stat.S_ISDIR(status.st_mode):
        raise LockRefused(directory, "le chemin du répertoire du verrou n'est pas un répertoire")
    _check_owner(directory, status, "le répertoire du verrou")
    try:
        handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise LockRefused(directory, f"répertoire inaccessible ({os_reason(error)})") from error
    if not os.path.samestat(os.fstat(handle), status):  # replaced between lstat and open
        os.close(handle)
        raise LockRefused(directory, "le répertoire du verrou a été remplacé pendant sa vérification")
    _private(handle, DIRECTORY_MODE)
    return handle


def _private(handle: int, mode: int) -> None:
    """Nobody else may even open the lock (a read-only shared flock would block every run): an
    existing directory or file of ours made by hand with wider rights is narrowed."""
    if stat.S_IMODE(os.fstat(handle).st_mode) != mode:
        os.fchmod(handle, mode)


def _check_owner(path: Path, status: os.stat_result, what: str) -> None:
    if status.st_uid != os.geteuid():
        raise LockRefused(path, f"{what} appartient à l'utilisateur n°{status.st_uid}, pas à "
                                f"l'utilisateur n°{os.geteuid()} qui exécute la commande")
    if status.st_mode & 0o022:
        raise LockRefused(path, f"{what} est modifiable par d'autres utilisateurs "
                                f"(droits {stat.S_IMODE(status.st_mode):04o})")


def _open_problem(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "c'est un lien symbolique (jamais suivi)"
    if error.errno == errno.EISDIR:
        return "c'est un répertoire, pas un fichier"
    return f"ouverture impossible ({os_reason(error)})"


def _check_file(path: Path, handle: int) -> None:
    status = os.fstat(handle)
    if not stat.S_ISREG(status.st_mode):
        raise LockRefused(path, "ce n'est pas un fichier ordinaire")
    _check_owner(path, status, "le fichier du verrou")
    if status.st_nlink != 1:  # a hard link to another file: writing the holder would change that file
        raise LockRefused(path, f"le fichier a {status.st_nlink} liens physiques (1 attendu)")
    _private(handle, FILE_MODE)


def _command() -> str:
    """Which of the module's commands holds the lock, for whoever waits for it (", eole-conteneurs mise-a-jour")."""
    words = [word for word in sys.argv[1:] if not word.startswith("-")][:1]
    return f", eole-conteneurs {words[0]}" if words and words[0].replace("-", "").isalpha() else ""
