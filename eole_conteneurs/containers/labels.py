"""What the module writes on a container (labels, the creation request) and reads back from its labels.

The labels are the module's claim of ownership: a container without them is never
touched. The declared parameters are stored in a label too, so that a change can be
told and explained without inspecting anything else. Their keys are a contract with every
container already deployed: they never change (a renamed key would orphan them).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from eole_conteneurs.config.model import DEFAULT_PIDS_LIMIT, ContainerSpec, Secret
from eole_conteneurs.engine.api import DOCKER, ObservedContainer
from eole_conteneurs.files import write_durably
from eole_conteneurs.errors import StateFileError, decode_reason, os_reason

if TYPE_CHECKING:
    from eole_conteneurs.engine.creation import CreateRequest

LABEL_SCOPE = "fr.eole.conteneurs.managed"
LABEL_SPEC = "fr.eole.conteneurs.spec"
LABEL_FINGERPRINT = "fr.eole.conteneurs.fingerprint"
LABEL_PERSISTENT = "fr.eole.conteneurs.persistant"
LABEL_INDEX = "fr.eole.conteneurs.index"
# A value drawn at each creation: an image committed from a managed container carries the module's
# labels, and a container run from it inherits them — but not a creation value of its own.
LABEL_CREATION = "fr.eole.conteneurs.creation"
DEFAULT_SCOPE = "eole"
SPEC_VERSION = 1

# A one-shot container (no port, like hello-world) runs once; a service comes back after a reboot.
RESTART_SERVICE = "unless-stopped"
RESTART_ONE_SHOT = "no"
SECURITY_OPTIONS = ("no-new-privileges:true",)


Digest = Callable[[Secret], str]  # the keyed digest of a secret (containers/secrets.py)


def restart_policy(spec: ContainerSpec) -> str:
    return RESTART_SERVICE if spec.service else RESTART_ONE_SHOT


def declared_parameters(spec: ContainerSpec, digest: Digest | None = None) -> dict[str, Any]:
    """Everything that, when changed, needs a new container (persistence and health delay do not).

    What a container does not use is left out, so that the parameters (and the fingerprint) of
    every container made before those settings existed stay what they were. A secret is stored
    as its keyed digest, never as its value.
    """
    if spec.secrets and digest is None:
        raise ValueError(f"{spec.name} : secrets sans clé de condensat")  # a programming error, never a user's
    parameters: dict[str, Any] = {
        "version": SPEC_VERSION,
        "image": str(spec.image),
        "ports": [str(port) for port in spec.ports],
        "volumes": [str(volume) for volume in spec.volumes],
        "restart": restart_policy(spec),
    }
    optional = {
        "env": [list(pair) for pair in spec.environment],
        "secrets": {secret.name: digest(secret) for secret in spec.secrets} if digest else {},
        "data_volumes": [str(volume) for volume in spec.data_volumes],
        "networks": list(spec.private_networks),
        "health": spec.health.command,
        "command": list(spec.command),
        "memory": spec.memory,
        "capabilities": list(spec.capabilities),
        # The default is left out: containers made before the limit existed keep their fingerprint.
        "pids": spec.pids_limit if spec.pids_limit != DEFAULT_PIDS_LIMIT else None,
        # Docker's is left out: its containers keep the fingerprint they had before Podman was offered.
        "technology": spec.technology if spec.technology != DOCKER else None,
    }
    parameters.update((key, value) for key, value in optional.items() if value)
    return parameters


def fingerprint(parameters: dict[str, Any]) -> str:
    canonical = json.dumps(parameters, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def labels_for(spec: ContainerSpec, scope: str, digest: Digest | None = None) -> dict[str, str]:
    parameters = declared_parameters(spec, digest)
    return {
        LABEL_SCOPE: scope,
        LABEL_SPEC: json.dumps(parameters, sort_keys=True, ensure_ascii=False),
        LABEL_FINGERPRINT: fingerprint(parameters),
        LABEL_PERSISTENT: "oui" if spec.persistent else "non",
        LABEL_INDEX: str(spec.index),
    }


def create_request(spec: ContainerSpec, scope: str, digest: Digest | None = None,
                   secrets_dir: str = "", carried: tuple[tuple[str, str], ...] = (),
                   host_dirs: Mapping[str, str] | None = None, image: str = "") -> CreateRequest:
    """The container spec asks for, labelled as the module's.

    secrets_dir: where this container's secret files are (SecretStore.write); carried: (volume,
    container path) of anonymous volumes taken over from the container it replaces; host_dirs:
    each declared host directory → the resolved one to bind (containers/hostdirs.py); image: an image
    id to make it from instead of the declared reference's (its labels still name the reference).
    """
    from eole_conteneurs.engine.creation import Bind, CreateRequest, Mount, PortBinding  # only when one is made

    mounts = [Mount("volume", volume.name, volume.container_dir) for volume in spec.data_volumes]
    mounts += [Mount("volume", name, target) for name, target in carried]
    mounts += [Mount("bind", f"{secrets_dir}/{secret.name}", secret.container_path, read_only=True)
               for secret in spec.secrets]
    import secrets  # only when one is made

    labels = dict(labels_for(spec, scope, digest), **{LABEL_CREATION: secrets.token_hex(16)})
    return CreateRequest(
        name=spec.name, image=image or str(spec.image), labels=labels,
        ports=tuple(PortBinding(port.container_port, port.host_ip, port.host_port) for port in spec.ports),
        binds=tuple(Bind((host_dirs or {}).get(volume.host_dir, volume.host_dir), volume.container_dir)
                    for volume in spec.volumes),
        restart=restart_policy(spec), security_options=SECURITY_OPTIONS,
        environment=tuple(f"{name}={value}" for name, value in spec.environment), mounts=tuple(mounts),
        networks=spec.private_networks, health_command=spec.health.command, command=spec.command,
        memory=spec.memory, pids_limit=spec.pids_limit, cap_drop=spec.dropped_capabilities, cap_add=spec.capabilities,
        technology=spec.technology)


def resource_labels(scope: str) -> dict[str, str]:
    """What marks a network or a volume as the module's (created by it, never taken)."""
    return {LABEL_SCOPE: scope}


# -- reading the labels back ----------------------------------------------------------------

def managed_by(container: ObservedContainer, scope: str) -> bool:
    """The module's claim of ownership: a container without it is never touched.

    Labels its image gives it prove nothing (anyone may run an image committed from a managed
    container): the module's containers have a creation value their image does not have. Those
    made before that value existed are the module's only when their image has none of its labels.
    """
    if container.labels.get(LABEL_SCOPE) != scope:
        return False
    image = container.image_labels
    return image.get(LABEL_SCOPE) is None or image.get(LABEL_CREATION) != container.labels.get(LABEL_CREATION)


def with_image_labels(observed: list[ObservedContainer], scope: str,
                      image_labels: Callable[[str], dict[str, str]]) -> list[ObservedContainer]:
    """The containers carrying the module's labels, with their image's (managed_by compares them); the others
    as listed. image_labels: Engine.image_labels (a no-op run's images were just read: nothing more asked)."""
    return [replace(container, image_labels=image_labels(container.image_id))
            if container.labels.get(LABEL_SCOPE) == scope and container.image_id else container
            for container in observed]


def is_persistent(container: ObservedContainer) -> bool:
    """Persistent when created: the label cannot change afterwards (see Registry)."""
    return container.labels.get(LABEL_PERSISTENT) == "oui"


def stored_fingerprint(container: ObservedContainer) -> str | None:
    return container.labels.get(LABEL_FINGERPRINT)


def stored_parameters(container: ObservedContainer) -> dict[str, Any]:
    """The declared parameters the container was created with ({} when unreadable)."""
    try:
        parameters = json.loads(container.labels.get(LABEL_SPEC, "{}"))
    except ValueError:
        return {}
    return parameters if isinstance(parameters, dict) else {}


def finished(container: ObservedContainer) -> bool:
    """A one-shot job (like hello-world) that ran to completion: nothing to restart.

    A service that exited, even with status 0 (stopped by hand), is started again.
    """
    one_shot = stored_parameters(container).get("restart") == RESTART_ONE_SHOT
    return one_shot and container.state == "exited" and container.exit_code == 0


@dataclass(frozen=True, eq=False)
class Registry:
    """A set of names kept across runs, one per line, root's.

    Two of them: the ids of the containers ever declared persistent (labels are fixed at creation: a
    container declared persistent afterwards is protected through that file until it is replaced), and
    the volumes made elsewhere that the administrator allowed the module to use.
    """

    path: Path

    def load(self) -> frozenset[str]:
        """The names kept ({} when the file is absent); StateFileError naming the file when it cannot be read."""
        try:
            return frozenset(self.path.read_bytes().decode("utf-8").split())
        except FileNotFoundError:
            return frozenset()
        except OSError as error:
            raise StateFileError(self.path, f"lecture impossible ({os_reason(error)})") from error
        except UnicodeDecodeError as error:
            raise StateFileError(self.path, f"{decode_reason(error)} ; un nom par ligne attendu") from error

    def save(self, ids: frozenset[str]) -> None:
        content = "".join(f"{container_id}\n" for container_id in sorted(ids)).encode()
        try:
            write_durably(self.path, content, 0o644)
        except OSError as error:
            raise StateFileError(self.path, f"écriture impossible ({os_reason(error)})") from error


def updated_protection(protected: frozenset[str], specs: list[ContainerSpec],
                       observed: list[ObservedContainer]) -> frozenset[str]:
    """The ids of containers ever declared persistent that still exist: the containers declared persistent now,
    and those remembered.

    Protection lasts as long as the container, as the label does: declared non-persistent afterwards, it
    stays protected (the change is pending) until it is replaced on request (`apply --recreer NOM`).
    """
    by_name = {container.name: container.id for container in observed}
    existing = set(by_name.values())
    ids = {container_id for container_id in protected if container_id in existing}
    ids.update(by_name[spec.name] for spec in specs if spec.persistent and spec.name in by_name)
    return frozenset(ids)
