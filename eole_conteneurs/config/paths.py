"""Which directories may be shared with a container.

A bind mount gives root in the container write access to the host directory, so
system trees, the Docker socket and paths escaping through ".." or symlinks are
refused. Each function raises ValueError carrying what is accepted (French).
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Callable

MAX_PATH = 4096
COMPONENT = re.compile(r"[\w.@+-]+")

# Neither these directories nor anything below them.
FORBIDDEN_TREES = (
    "/etc", "/proc", "/sys", "/dev", "/run", "/var/run", "/boot", "/root",
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    "/var/lib/docker", "/var/lib/containerd", "/var/lib/docker-registry",
    # Host state that root in a container must not be able to write.
    "/var/lib/eole-conteneurs", "/var/lib/dpkg", "/var/lib/apt", "/var/lib/systemd", "/var/spool/cron",
    "/var/lib/eole", "/var/lib/creole",
)
# Never mounted over inside the container either: the container would not start.
CONTAINER_FORBIDDEN = ("/proc", "/sys", "/dev")
# These directories themselves (sharing a subdirectory is fine).
FORBIDDEN_EXACT = (
    "/", "/var", "/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/backups",
    "/home", "/opt", "/srv", "/tmp", "/mnt", "/media",
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
    resolved = posixpath.normpath(realpath(normalised))
    if is_forbidden(resolved):
        raise ValueError(f"lien symbolique vers le répertoire système « {resolved} »")
    if os.path.exists(resolved) and not os.path.isdir(resolved):
        raise ValueError(f"« {resolved} » existe et n'est pas un répertoire")
    return normalised


def safe_container_dir(path: str) -> str:
    normalised = normalise_absolute(path)
    if normalised == "/":
        raise ValueError("la racine du conteneur ne peut pas être remplacée")
    if any(normalised == tree or normalised.startswith(tree + "/") for tree in CONTAINER_FORBIDDEN):
        raise ValueError(f"répertoire système du conteneur « {normalised} »")
    return normalised
