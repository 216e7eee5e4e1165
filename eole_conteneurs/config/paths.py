"""Which directories may be shared with a container.

A bind mount gives root in the container write access to the host directory, so
system trees, the Docker socket and paths escaping through ".." or symlinks are
refused. Docker resolves the path again at every start (and at boot): a directory on the way
that another user may write lets that user swap a component for a link to /etc afterwards, so
such paths are refused too (the rule of OpenSSH's secure_filename). Each function raises
ValueError carrying the reason (French).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import stat
from typing import Callable, Iterator

MAX_PATH = 4096
# ASCII only: "/еtc" with a Cyrillic е looks like /etc to whoever reads the configuration.
COMPONENT = re.compile(r"[\w.@+-]+", re.ASCII)

# Neither these directories nor anything below them.
FORBIDDEN_TREES = (
    "/etc", "/proc", "/sys", "/dev", "/run", "/var/run", "/boot", "/root",
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    "/var/lib/docker", "/var/lib/containerd", "/var/lib/docker-registry",
    # Host state that root in a container must not be able to write.
    "/var/lib/eole-conteneurs", "/var/lib/dpkg", "/var/lib/apt", "/var/lib/systemd", "/var/spool/cron",
    "/var/lib/eole", "/var/lib/creole", "/var/lib/polkit-1", "/var/lib/sudo", "/var/lib/private",
    # Credentials and directory data of an EOLE server (Samba AD and its SYSVOL scripts, SSSD, LDAP).
    "/var/lib/samba", "/var/lib/sss", "/var/lib/ldap", "/var/lib/openldap",
    # Other container and VM engines' storage.
    "/var/lib/containers", "/var/lib/libvirt", "/var/lib/lxc", "/var/lib/lxd",
    # Logs a daemon running as root reopens (a link planted there is written as root).
    "/var/log/nginx", "/var/log/apache2", "/var/log/journal", "/var/log/samba", "/var/log/apt",
    "/var/log/audit", "/var/log/private", "/var/log/installer",
    "/var/mail", "/var/spool/mail", "/var/spool/postfix", "/var/spool/cups", "/snap",
    # The module's cache (its state is above, its lock under /run, its generated files under /etc).
    "/var/cache/eole-conteneurs",
)
# Never mounted over inside the container either: the container would not start.
CONTAINER_FORBIDDEN = ("/proc", "/sys", "/dev")
# These directories themselves (sharing a subdirectory is fine).
FORBIDDEN_EXACT = (
    "/", "/var", "/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/backups",
    "/home", "/opt", "/srv", "/tmp", "/var/tmp", "/mnt", "/media",
)

HOST_EXPECTED = ("un chemin absolu de répertoire (lettres, chiffres, « . », « _ », « - », « @ », « + »), "
                 "hors des répertoires système (/, /etc, /proc, /sys, /dev, /run, /usr, /boot…) et de la socket Docker")
CONTAINER_EXPECTED = "un chemin absolu dans le conteneur, sans « .. », hors de /, /proc, /sys et /dev"


def normalise_absolute(path: str) -> str:
    """Normalised form of an absolute path written with safe characters and no '..'."""
    if not path.startswith("/"):
        raise ValueError("chemin relatif")
    if len(path) > MAX_PATH:
        raise ValueError("chemin trop long")
    components = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in components:
        raise ValueError("« .. » interdit")
    bad = next((part for part in components if not COMPONENT.fullmatch(part)), None)
    if bad is not None:
        raise ValueError(f"caractère interdit dans « {bad} »")
    return "/" + "/".join(components)


_FORBIDDEN_BELOW = tuple(tree + "/" for tree in FORBIDDEN_TREES)


def is_forbidden(path: str) -> bool:
    return path in FORBIDDEN_EXACT or path in FORBIDDEN_TREES or path.startswith(_FORBIDDEN_BELOW)


def safe_host_dir(path: str, realpath: Callable[[str], str] = os.path.realpath) -> str:
    """The normalised host directory, or ValueError(reason) when it must not be shared."""
    normalised = normalise_absolute(path)
    if is_forbidden(normalised):
        raise ValueError(f"répertoire système « {normalised} »")
    usable_host_dir(normalised, realpath)
    return normalised


def usable_host_dir(normalised: str, realpath: Callable[[str], str] = os.path.realpath) -> str:
    """The directory a bind mount of `normalised` reaches now, checked: what to give the engine.

    Called at validation and again just before a container is created or started: between the
    two, only root can have changed what the path leads to.
    """
    resolved = posixpath.normpath(realpath(normalised) if realpath is not os.path.realpath else _real(normalised))
    if is_forbidden(resolved):
        raise ValueError(f"lien symbolique vers le répertoire système « {resolved} »")
    for checked in dict.fromkeys((normalised, resolved)):
        weak = writable_ancestor(checked)
        if weak is not None:
            raise ValueError(weak)
    found = _status(resolved, follow=False)
    if found is not None and not stat.S_ISDIR(found.st_mode):
        raise ValueError(f"« {resolved} » existe et n'est pas un répertoire")
    return resolved


def _real(path: str) -> str:
    """os.path.realpath of a normalised absolute path, through the remembered statuses: itself when no
    component is a link (the usual case: one lstat per new component), realpath's answer otherwise."""
    current = ""
    for part in path.split("/")[1:]:
        current += "/" + part
        found = _status(current, follow=False)
        if found is None:
            return path  # nothing further exists: kept as written, as realpath does
        if stat.S_ISLNK(found.st_mode):
            return os.path.realpath(path)
    return path


def writable_ancestor(path: str) -> str | None:
    """Why a user other than root could make `path` lead elsewhere, or None.

    Each directory on the way must be writable by root only; a sticky one (/tmp) is fine when
    the entry under it exists and belongs to root (nobody else may rename or remove it). The
    first missing component will be created by root: its parent must be root's alone.
    """
    components = [part for part in path.split("/") if part]
    parent = "/"
    for component in components:
        directory = _status(parent, follow=False)
        if directory is not None and stat.S_ISLNK(directory.st_mode):
            directory = _status(parent, follow=True)
        if directory is None:
            return None  # nothing further exists: the rest is created by root, under a checked parent
        entry = posixpath.join(parent, component)
        found = _status(entry, follow=False)
        owner = found.st_uid if found is not None else None
        if _writable_by_others(directory, parent) and not (directory.st_mode & stat.S_ISVTX and owner == 0):
            return (f"le répertoire « {parent} » peut être modifié par un autre utilisateur que root "
                    f"(propriétaire uid {directory.st_uid}, droits {stat.filemode(directory.st_mode)}) : "
                    "il pourrait y remplacer le chemin par un lien symbolique ; choisir un répertoire "
                    "dont les parents n'appartiennent qu'à root")
        if owner is None:
            return None
        parent = entry
    return None


# While validation runs, the directories many shared paths have in common are looked at once; the
# checks just before a create or a start (containers/hostdirs.py) always look again.
_remembered: dict[tuple[str, bool], os.stat_result | None] | None = None


@contextlib.contextmanager
def stats_remembered() -> Iterator[None]:
    global _remembered
    previous, _remembered = _remembered, {}
    try:
        yield
    finally:
        _remembered = previous


def _status(path: str, follow: bool) -> os.stat_result | None:
    if _remembered is not None and (path, follow) in _remembered:
        return _remembered[path, follow]
    try:
        found: os.stat_result | None = os.stat(path) if follow else os.lstat(path)
    except OSError:
        found = None
    if _remembered is not None:
        _remembered[path, follow] = found
    return found


def _writable_by_others(status: os.stat_result, path: str) -> bool:
    """Owner, group or others other than root may write; with an access ACL, the group bits are its mask
    (named users may write through it): any group write is then taken as someone else's."""
    if status.st_uid != 0 or status.st_mode & stat.S_IWOTH:
        return True
    if not status.st_mode & stat.S_IWGRP:
        return False
    return status.st_gid != 0 or _has_acl(path)


def _has_acl(path: str) -> bool:
    try:
        os.getxattr(path, "system.posix_acl_access")
    except OSError:
        return False  # none (ENODATA), or not supported by the filesystem
    return True


def safe_container_dir(path: str) -> str:
    normalised = normalise_absolute(path)
    if normalised == "/":
        raise ValueError("la racine du conteneur ne peut pas être remplacée")
    if any(normalised == tree or normalised.startswith(tree + "/") for tree in CONTAINER_FORBIDDEN):
        raise ValueError(f"répertoire système du conteneur « {normalised} »")
    return normalised
