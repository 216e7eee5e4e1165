"""Durable file primitives shared by every writer of system files (transactions, state, caches)."""

from __future__ import annotations

import os
from pathlib import Path


def write_durably(path: Path, content: bytes, mode: int) -> None:
    """Temp file in the same directory, fsync, rename: readers see the old or the new bytes, never a mix.

    The mode is set on the open file, so no umask can loosen it.
    """
    import tempfile  # only when a file changes

    make_directories(path.parent)
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
    fsync_dir(path.parent)


def link_durably(path: Path, target: str) -> None:
    """A symbolic link made under a temporary name then renamed over the destination."""
    make_directories(path.parent)
    temp = path.with_name(f".{path.name}.lien")
    temp.unlink(missing_ok=True)
    os.symlink(target, temp)
    os.replace(temp, path)
    fsync_dir(path.parent)


def remove_durably(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)


def remove_tree(path: Path) -> None:
    import shutil  # only when there is a tree to remove

    shutil.rmtree(path)


def make_directories(directory: Path) -> None:
    """mkdir -p, each directory it creates made durable in its parent: a file written into a new
    directory is not lost with it at a crash (an entry is durable once the directory holding it is)."""
    missing = []
    while not directory.is_dir():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for created in reversed(missing):
        created.mkdir(exist_ok=True)
        fsync_dir(created.parent)


def fsync_dir(directory: Path) -> None:
    """A rename or an unlink is durable once its directory is."""
    if not directory.exists():
        return
    handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
