"""BorgBackup, the module's backup engine: a thin client over the `borg` command (Debian's borgbackup).

Each call runs `borg --log-json …`; a failure becomes a French BackupEngineError naming the repository
and the variable that declares it, from borg's message id (not its English text).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from eole_conteneurs.config.backup import REPOSITORY_VAR
from eole_conteneurs.config.model import Retention
from eole_conteneurs.errors import EoleConteneursError, clipped, os_reason, visible

BORG = "/usr/bin/borg"
# Debian's borg module run directly: its /usr/bin/borg wrapper first looks up its entry point among the
# installed distributions (≈ 25 ms a call). And borg's test helpers, loaded at start for its self-test
# (disabled below), import pytest when it is installed (a developer's host, a test bench: not a server),
# ≈ 0.1 s a call; borg runs without it, as on a server: it is made unimportable for borg's process only.
RUN_BORG = ("/usr/bin/python3", "-c",
            "import sys; sys.modules['pytest'] = None; from borg.archiver import main; main()")
COMPRESSION = "zstd,3"  # borg's advice for a good ratio at a speed close to lz4's
# Numeric owners: a container's files belong to its own users (mysql is 100 in one image, 105 in
# another), whose names on the host mean nothing; a restore on another host must give the same numbers.
NUMERIC = "--numeric-ids"
# Never a question on a terminal: an unknown host key, a relocated repository, a passphrase prompt.
SSH = "ssh -o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=30"
# Seconds to wait for the repository's lock: a borg killed an instant ago may still hold it (the module's
# own lock already keeps two of its runs apart; another client, e.g. a `borg list` by hand, may not).
LOCK_WAIT = 30
COMMENT_PREFIX = "conteneurs="
# The copy a restore extracts inside a mount point it restores (restoring.STAGED): never data of its own.
IN_PLACE_COPIES = "sh:**/.eole-conteneurs.restauration-*"
CHECKPOINT_SUFFIX = ".checkpoint"  # what borg leaves of an interrupted create: never a good archive
MESSAGES = {
    "Repository.DoesNotExist": "le dépôt n'existe pas",
    "Repository.InvalidRepository": "ce n'est pas un dépôt BorgBackup",
    "Repository.ParentPathDoesNotExist": "le répertoire parent du dépôt n'existe pas",
    "Repository.InsufficientFreeSpaceError": "espace disque insuffisant sur la destination",
    "Repository.AlreadyExists": "un dépôt existe déjà à cet endroit",
    "Repository.PathAlreadyExists": "un fichier, ou un répertoire non vide qui n'est pas un dépôt BorgBackup, occupe "
                                    "déjà cet emplacement",
    "PassphraseWrong": "phrase secrète incorrecte",
    "PasswordRetriesExceeded": "phrase secrète incorrecte",
    "LockTimeout": "dépôt verrouillé par une autre sauvegarde en cours",
    "LockFailed": "verrou du dépôt impossible à prendre",
    "ConnectionClosed": "dépôt distant injoignable (connexion SSH fermée)",
    "ConnectionClosedWithHint": "dépôt distant injoignable (connexion SSH fermée)",
    "Archive.DoesNotExist": "archive absente du dépôt",
    "Archive.AlreadyExists": "une archive de ce nom existe déjà",
}


class BackupEngineError(EoleConteneursError):
    """borg failed: names the repository, its variable, what was being done and why."""

    def __init__(self, repository: str, operation: str, detail: str):
        self.repository, self.operation, self.detail = repository, operation, detail
        super().__init__(f"{operation} : dépôt {repository} ({REPOSITORY_VAR}) : {detail}")


@dataclass(frozen=True)
class Archive:
    name: str
    time: str  # ISO 8601, the host's local time as borg records it
    containers: tuple[str, ...]  # those the archive saved (from its comment)


@dataclass(frozen=True)
class Borg:
    repository: str
    passphrase_file: Path  # read by borg itself (BORG_PASSCOMMAND): the passphrase is in no environment
    base_dir: Path  # BORG_BASE_DIR: borg's cache and its record of known repositories

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("BORG_")}
        env.update(BORG_PASSCOMMAND=f"cat -- {shlex.quote(str(self.passphrase_file))}",
                   BORG_BASE_DIR=str(self.base_dir), BORG_RSH=SSH,
                   BORG_RELOCATED_REPO_ACCESS_IS_OK="yes", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="no",
                   BORG_DISPLAY_PASSPHRASE="no", BORG_EXIT_CODES="legacy", LANG="C.UTF-8",
                   # borg's self-test loads pytest at each call (≈ 50 ms); documented as safe to skip.
                   BORG_SELFTEST="disabled")
        return env

    def exists(self) -> bool:
        """Whether the repository is there (a local one is looked at; a remote one asked)."""
        if not self.repository.startswith("ssh://"):
            return (Path(self.repository) / "config").is_file()
        try:
            self._run("accès", ["info", "--json", self.repository])
        except BackupEngineError as error:
            if error.detail == MESSAGES["Repository.DoesNotExist"]:
                return False
            raise
        return True

    def init(self) -> None:
        """A new repository, encrypted with the passphrase (the key kept in the repository itself)."""
        if not self.repository.startswith("ssh://"):
            try:
                Path(self.repository).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as error:  # a regular file on the way, a read-only file system
                reason = "pas un répertoire" if isinstance(error, FileExistsError) else os_reason(error)
                raise BackupEngineError(self.repository, "création du dépôt",
                                        f"{error.filename or self.repository} : {reason}") from None
        self._run("création du dépôt", ["init", "--encryption=repokey-blake2", "--make-parent-dirs", self.repository])

    def create(self, archive: str, paths: Sequence[str], containers: Sequence[str], cwd: Path) -> list[str]:
        """One archive of paths (relative to cwd keep their place under it); raises unless borg saved it.

        Returns borg's warnings about files that vanished or changed while they were read (a running
        service's temporary files): the archive is good. Any other warning (a tree missing, a file
        unreadable) makes the archive incomplete: it is deleted, and BackupEngineError raised.
        """
        comment = COMMENT_PREFIX + ",".join(containers)
        done = self._run("sauvegarde", ["create", NUMERIC, "--compression", COMPRESSION, "--comment", comment,
                                        "--exclude", IN_PLACE_COPIES, f"{self.repository}::{archive}", "--", *paths],
                         cwd=cwd, warnings=True)
        harmless, serious = _file_warnings(done.stderr, set(paths))
        if serious:
            self._run("suppression de l'archive incomplète", ["delete", f"{self.repository}::{archive}"])
            raise BackupEngineError(self.repository, "sauvegarde", "archive incomplète, supprimée : "
                                    + visible(clipped("; ".join(serious), 600)))
        return harmless

    def archives(self) -> list[Archive]:
        """Complete archives, oldest first (an interrupted create's checkpoint is not one)."""
        listing = json.loads(self._run("lecture du dépôt", ["list", "--json", "--format", "{comment}",
                                                           self.repository]).stdout)
        found = []
        for entry in listing.get("archives", []):
            name, comment = str(entry.get("name", "")), str(entry.get("comment", ""))
            if name.endswith(CHECKPOINT_SUFFIX):
                continue
            names = comment[len(COMMENT_PREFIX):].split(",") if comment.startswith(COMMENT_PREFIX) else []
            found.append(Archive(name, str(entry.get("start", "")), tuple(name for name in names if name)))
        return found

    def read(self, archive: str, path: str) -> bytes:
        """One file of an archive (path as stored: relative)."""
        return self._run("lecture de l'archive", ["extract", "--stdout", f"{self.repository}::{archive}", "--",
                                                  path]).stdout

    def extract(self, archive: str, path: str, target: Path, keep_last: bool = False) -> None:
        """The tree path of the archive into the existing directory target: its content (keep_last: the
        file or directory itself)."""
        strip = len(Path(path).parts) - (1 if keep_last else 0)
        self._run("restauration", ["extract", NUMERIC, "--strip-components", str(strip),
                                    f"{self.repository}::{archive}", "--", path], cwd=target)

    def prune(self, retention: Retention, prefix: str) -> bool:
        """Applies retention to the archives named prefix…; True when some were deleted."""
        keep = [f"--keep-daily={retention.daily}", f"--keep-weekly={retention.weekly}",
                f"--keep-monthly={retention.monthly}"]
        done = self._run("nettoyage du dépôt", ["prune", "--list", "--glob-archives", prefix + "*", *keep,
                                                self.repository])
        return b"Pruning archive" in done.stderr

    def compact(self) -> None:
        self._run("compactage du dépôt", ["compact", self.repository])

    def _run(self, operation: str, arguments: list[str], cwd: Path | None = None,
             warnings: bool = False) -> subprocess.CompletedProcess[bytes]:
        """borg's exit 1 says it warned: a failure (an extract that could not write a file, a path never
        matched), unless the caller reads the warnings itself."""
        if not os.access(BORG, os.X_OK):
            raise BackupEngineError(self.repository, operation, f"{BORG} absent (paquet borgbackup)")
        command = [*RUN_BORG, "--log-json", f"--lock-wait={LOCK_WAIT}", *arguments]
        try:
            done = subprocess.run(command, cwd=cwd, env=self.environment(), stdin=subprocess.DEVNULL,
                                  capture_output=True, check=False)
        except OSError as error:
            raise BackupEngineError(self.repository, operation, error.strerror or str(error)) from None
        if done.returncode == 1 and not warnings:
            raise BackupEngineError(self.repository, operation, _reason(done.stderr, 1, levels=("WARNING",)))
        if done.returncode not in (0, 1):
            raise BackupEngineError(self.repository, operation, _reason(done.stderr, done.returncode))
        return done


def _file_warnings(stderr: bytes, trees: set[str]) -> tuple[list[str], list[str]]:
    """(harmless, serious) warnings of a create: "<path>: <operation>: [Errno …] …" lines."""
    harmless: list[str] = []
    serious: list[str] = []
    for entry in _log_entries(stderr):
        if entry.get("levelname") != "WARNING":
            continue
        message = str(entry.get("message", "")).strip()
        path = message.split(": ", 1)[0]
        if "changed while we backed it up" in message:
            harmless.append(message)
        elif "[Errno " in message:  # a file or a tree borg could not read
            vanished = "[Errno 2]" in message and path not in trees  # deleted between listing and reading
            (harmless if vanished else serious).append(message)
        # Other warnings are borg's own news (a stale lock of a killed borg removed): nothing lost.
    return harmless, serious


def _log_entries(stderr: bytes) -> list[dict[str, object]]:
    entries = []
    for line in stderr.decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = {"levelname": "ERROR", "message": line}
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def _reason(stderr: bytes, code: int, levels: tuple[str, ...] = ("ERROR", "CRITICAL")) -> str:
    """borg's error, in French when its message id is known, else its own last words."""
    last = ""
    for entry in _log_entries(stderr):
        if entry.get("levelname") not in levels:
            continue
        message = str(entry.get("message", ""))
        if entry.get("msgid") in MESSAGES:
            return MESSAGES[str(entry["msgid"])]
        if "No space left on device" in message:
            return "espace disque insuffisant sur la destination (No space left on device)"
        last = message.strip().splitlines()[-1] if message.strip() else last
    if code >= 128:
        return f"borg interrompu (signal {code - 128})"
    return visible(clipped(last, 300)) or f"borg a échoué (code {code})"
