"""The shared host directories, checked again just before a container is created or started.

Validation checked them when the configuration was read; a directory may have been replaced since
(by root only, if validation's rule held — but the check costs a few stat calls). The engine is
given the resolved path, so that what it mounts is what was checked.
"""

from __future__ import annotations

import os
from typing import Callable

from eole_conteneurs.config.model import SECRETS_MOUNT, ContainerSpec, variable
from eole_conteneurs.config.paths import usable_host_dir
from eole_conteneurs.engine.api import DockerOperationError, ObservedContainer, ObservedMount
from eole_conteneurs.errors import os_reason

OPERATION = "Vérification du répertoire de l'hôte"


class HostDirRefused(DockerOperationError):
    """A shared directory that is no longer safe: the container is neither created nor started."""

    def __init__(self, spec: ContainerSpec, entry: int | None, path: str, reason: str):
        self.variable = variable(spec.index, "rep_hote")
        which = f"{self.variable} (valeur n°{entry + 1})" if entry is not None else f"ancien partage de {self.variable}"
        super().__init__(spec.name, OPERATION, f"{which} : « {path} » refusé maintenant : {reason}")


def resolved_host_dirs(spec: ContainerSpec, report: Callable[[str], None]) -> dict[str, str]:
    """Declared host directory → the directory to bind, each checked now; missing ones created (root, 0755)."""
    resolved: dict[str, str] = {}
    for entry, volume in enumerate(spec.volumes):
        try:
            target = usable_host_dir(volume.host_dir)
        except ValueError as error:
            raise HostDirRefused(spec, entry, volume.host_dir, str(error)) from None
        if not os.path.isdir(target):
            report(f"Création du répertoire de l'hôte {target}")
            try:
                os.makedirs(target, mode=0o755, exist_ok=True)
            except OSError as error:
                raise DockerOperationError(spec.name, "Création du répertoire de l'hôte",
                                           f"{target} : {os_reason(error)}") from error
        resolved[volume.host_dir] = target
    return resolved


def check_bound_dirs(spec: ContainerSpec, container: ObservedContainer) -> None:
    """Before an existing container starts: what each of its host directories leads to now is still allowed.

    The engine resolves a bind's source again at each start; a container made before sources were
    resolved at creation names the declared path.
    """
    refused = unsafe_bind(container)
    if refused is not None:
        mount, reason = refused
        entry = next((entry for entry, volume in enumerate(spec.volumes)
                      if volume.container_dir == mount.destination), None)
        raise HostDirRefused(spec, entry, mount.source, reason)


def unsafe_bind(container: ObservedContainer) -> tuple[ObservedMount, str] | None:
    """The first bind mount of container no longer allowed, and why. Every bind counts, declared now or not
    (a persistent container may wait for --recreer with an old one), but the secrets' files (the module's
    own, read-only, under its state directory)."""
    for mount in container.mounts:
        if mount.kind != "bind" or mount.destination.startswith(SECRETS_MOUNT + "/"):
            continue
        try:
            usable_host_dir(mount.source)
        except ValueError as error:
            return mount, str(error)
    return None


def check_unchanged(spec: ContainerSpec, host_dirs: dict[str, str]) -> None:
    """Just before the start of a container bound to host_dirs: each still leads where it was checked."""
    for entry, volume in enumerate(spec.volumes):
        bound = host_dirs.get(volume.host_dir, volume.host_dir)
        try:
            now = usable_host_dir(bound)
        except ValueError as error:
            raise HostDirRefused(spec, entry, bound, str(error)) from None
        if now != bound:
            raise HostDirRefused(spec, entry, bound, f"mène maintenant à « {now} »")
