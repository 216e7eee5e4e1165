"""Where the secrets live on the host, and the keyed digest that tells a change without showing a value.

Each secret is a file <root>/<container>/<generation>/<name>, bind-mounted read-only at
/run/secrets/<name>. A generation is one set of values: new values go to a new directory, so
that the container still using the old ones (until its replacement has started, or for ever
when it is persistent and its change pending) keeps them, even if it is restarted.
The root and every directory under it are root-only (0700): nobody else on the host can reach
a file, whatever its own mode. The file itself is readable by every user of the container (0444,
as Swarm's secrets are) because the service often drops root before reading it. The root lies in
the module's state directory, which no shared directory may be (config/paths.py).

A container's labels hold HMAC-SHA256(key, value), never the value: the key is random, root-only,
so a digest read from `docker inspect` cannot be tried against guessed passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from eole_conteneurs.config.model import ContainerSpec, Secret
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.files import fsync_dir, remove_tree, write_durably

KEY_FILE = ".cle"
KEY_BYTES = 32
GENERATION_LENGTH = 16
SECRET_MODE = 0o444
KEY_MODE = 0o600
DIRECTORY_MODE = 0o700


class SecretStoreError(EoleConteneursError):
    """The secrets directory cannot be used safely."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"secrets : {path} : {reason}")


@dataclass(eq=False)
class SecretStore:
    """The secrets of the declared containers, on the host."""

    root: Path
    writable: bool = True  # False (plan): nothing is written, a missing key is not made
    renewed_key: bool = field(default=False, init=False)  # a key was made while secrets existed already
    _key: bytes | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)  # parallel creations

    def digest(self, secret: Secret) -> str:
        """Stable for one value and one host: the name is included, so equal values differ by name."""
        message = f"{secret.name}\0{secret.value}".encode("utf-8")
        return hmac.new(self.key(), message, hashlib.sha256).hexdigest()

    def key(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = self._read_or_make_key()
            return self._key

    def generation(self, spec: ContainerSpec) -> str:
        """Names spec's set of values without revealing them (built from the keyed digests)."""
        material = json.dumps(sorted((secret.name, self.digest(secret)) for secret in spec.secrets))
        return hashlib.sha256(material.encode("utf-8")).hexdigest()[:GENERATION_LENGTH]

    def directory(self, spec: ContainerSpec) -> Path:
        return self.root / spec.name / self.generation(spec)

    def _read_or_make_key(self) -> bytes:
        path = self.root / KEY_FILE
        if self.writable:
            self._make_private(self.root)
        try:
            with open(path, "rb") as stream:
                key = stream.read()
            if len(key) == KEY_BYTES:
                return key
        except FileNotFoundError:
            pass
        except OSError as error:
            raise SecretStoreError(path, error.strerror or str(error)) from error
        # Missing or damaged: a new key only means every secret counts as changed once.
        self.renewed_key = any(child.is_dir() for child in self._children(self.root))
        key = os.urandom(KEY_BYTES)
        if self.writable:
            self._write(path, key, KEY_MODE)
        return key

    def write(self, spec: ContainerSpec) -> Path:
        """The files of spec's secrets in their generation's directory (each written only if it differs).

        Returns the directory. A file is replaced by a rename: a running container keeps the value
        it started with.
        """
        if not self.writable:
            raise SecretStoreError(self.root, "écriture non permise (simulation)")
        directory = self.directory(spec)
        for level in (self.root, directory.parent, directory):
            self._make_private(level)
        declared = {secret.name for secret in spec.secrets}
        for secret in spec.secrets:
            path = directory / secret.name
            wanted = secret.value.encode("utf-8")
            if _content(path) != wanted or (path.stat().st_mode & 0o777) != SECRET_MODE:
                self._write(path, wanted, SECRET_MODE)
        stale = [path for path in self._children(directory) if path.name not in declared]
        for path in stale:
            path.unlink()
        if stale:
            fsync_dir(directory)
        return directory

    def forget_others(self, spec: ContainerSpec) -> None:
        """Every generation of spec's container but spec's own: the container that used them is gone."""
        if not spec.secrets:
            self.remove(spec.name)
            return
        keep = self.generation(spec)
        for child in self._children(self.root / spec.name):
            if child.name != keep and child.is_dir() and not child.is_symlink():
                remove_tree(child)

    def remove(self, container: str) -> None:
        """The secrets of a container that is gone."""
        directory = self.root / container
        if directory.is_dir() and not directory.is_symlink():
            remove_tree(directory)

    @staticmethod
    def _children(directory: Path) -> list[Path]:
        try:
            return list(directory.iterdir())
        except FileNotFoundError:
            return []

    @staticmethod
    def _write(path: Path, content: bytes, mode: int) -> None:
        try:
            write_durably(path, content, mode)
        except OSError as error:  # disk full, read-only: reported as the secrets' problem, nothing half-done
            raise SecretStoreError(path, error.strerror or str(error)) from error

    def _make_private(self, directory: Path) -> None:
        """A root-only directory, refused when it is a link or belongs to someone else."""
        try:
            directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
            status = os.lstat(directory)
        except OSError as error:
            raise SecretStoreError(directory, error.strerror or str(error)) from error
        if not os.path.isdir(directory) or os.path.islink(directory):
            raise SecretStoreError(directory, "n'est pas un répertoire")
        if status.st_uid != os.geteuid():
            raise SecretStoreError(directory, "appartient à un autre utilisateur")
        if status.st_mode & 0o777 != DIRECTORY_MODE:
            os.chmod(directory, DIRECTORY_MODE)


def _content(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
