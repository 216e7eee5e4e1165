"""What a reconfigure may reuse from the previous one, kept in /var/cache/eole-conteneurs.

Only a speed-up: a missing, unreadable or doubtful file is ignored and rebuilt. The files are
JSON (never code) and are trusted only when they and their directory belong to the user running
the module and nobody else can write them (they are created so, whatever the umask).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any


CACHE_DIR = Path("/var/cache/eole-conteneurs")
CACHE_ENV = "EOLE_CONTENEURS_CACHE"  # another directory (tests, benchmark)


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
    try:
        with open(path, "rb") as stream:
            if not (_trusted(os.fstat(stream.fileno())) and _trusted(os.stat(path.parent))):
                return None
            data = json.load(stream)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic replacement, not made durable: a cache lost in a crash only costs time next run."""
    import tempfile  # only when something changed: a no-op run writes no cache

    try:
        # 0o700 and mkstemp's 0o600: no umask can make them writable by others.
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(data, stream, ensure_ascii=False)
        os.replace(temporary, path)
    except (OSError, TypeError, ValueError):
        try:
            os.unlink(temporary)
        except OSError:
            pass
