"""What a reconfigure may reuse from the previous one, kept in /var/cache/eole-conteneurs.

Only a speed-up: a missing, unreadable or doubtful file is ignored and rebuilt. The files are
JSON (never code), private to the user running the module, and sealed: each carries an HMAC
made with a key kept in the module's state directory (root's alone, never shareable with a
container). A file the module did not write itself — altered in place by whoever could reach
the cache, even as root from inside a container — is ignored: a cache never decides what is
valid, which template runs or where a file goes; it only repeats what this module computed
from the same inputs.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path
from typing import Any

from eole_conteneurs.files import write_durably


CACHE_DIR = Path("/var/cache/eole-conteneurs")
CACHE_ENV = "EOLE_CONTENEURS_CACHE"  # another directory (tests, benchmark)
KEY_FILE = Path("/var/lib/eole-conteneurs/cle-caches")
KEY_ENV = "EOLE_CONTENEURS_CACHE_KEY"  # another key file (tests)
KEY_SIZE = 32
SEAL = b"eole-conteneurs-cache-1 "


def file_stamp(*paths: Path | str) -> list | None:
    """What a cached result depends on among files: their identity and version (None if one is missing).

    Code files count too: the code that built a result may change without the package version
    (a checkout, a patched host). Size, ns modification time and inode change with any rewrite.
    """
    stamp = []
    for path in paths:
        try:
            status = os.stat(path)
        except OSError:
            return None
        stamp.append([str(path), status.st_size, status.st_mtime_ns, status.st_ino])
    return stamp


def cache_dir_from_environment() -> Path:
    return Path(os.environ.get(CACHE_ENV) or CACHE_DIR)


def _trusted(status: os.stat_result) -> bool:
    return status.st_uid == os.geteuid() and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def read_json(path: Path) -> dict[str, Any] | None:
    key = cache_key()
    if key is None:
        return None
    try:
        with open(path, "rb") as stream:
            if not (_trusted(os.fstat(stream.fileno())) and _trusted(os.stat(path.parent))):
                return None
            header, _, body = stream.read().partition(b"\n")
        if not (header.startswith(SEAL) and hmac.compare_digest(header[len(SEAL):], _seal(key, body))):
            return None
        data = json.loads(body)
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic replacement, not made durable: a cache lost in a crash only costs time next run."""
    import tempfile  # only when something changed: a no-op run writes no cache

    key = cache_key()
    if key is None:
        return
    try:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        # 0o700 and mkstemp's 0o600: no umask can make them writable by others.
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except (OSError, TypeError, ValueError):
        return
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(SEAL + _seal(key, body) + b"\n" + body)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def _seal(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).hexdigest().encode("ascii")


def key_path() -> Path:
    return Path(os.environ.get(KEY_ENV) or KEY_FILE)


def cache_key() -> bytes | None:
    return _key_at(key_path())


@functools.lru_cache(maxsize=4)
def _key_at(path: Path) -> bytes | None:
    """The key sealing the caches: read if it is root's alone, made otherwise (None: no cache this run)."""
    try:
        if not _trusted(os.stat(path.parent)):
            return None  # whoever may write there could put their own key
    except OSError:
        pass  # made below
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            status = os.fstat(handle)
            key = os.read(handle, KEY_SIZE + 1)
        finally:
            os.close(handle)
        if (stat.S_ISREG(status.st_mode) and status.st_uid == os.geteuid() and not status.st_mode & 0o077
                and len(key) == KEY_SIZE):
            return key
    except OSError:
        pass
    return _new_key(path)


def _new_key(path: Path) -> bytes | None:
    """A new key replaces a missing or doubtful one: the caches it sealed are simply rebuilt.

    Renamed over the old name, so that a link planted there is replaced, never followed."""
    key = os.urandom(KEY_SIZE)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_durably(path, key, 0o600)
    except OSError:
        return None
    return key
