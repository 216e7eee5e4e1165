"""What the module writes on a container (labels) and reads back (ObservedContainer).

The labels are the module's claim of ownership: a container without them is never
touched. The declared parameters are stored in a label too, so that a change can be
told and explained without inspecting anything else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .spec import ContainerSpec

LABEL_SCOPE = "fr.eole.conteneurs.managed"
LABEL_SPEC = "fr.eole.conteneurs.spec"
LABEL_FINGERPRINT = "fr.eole.conteneurs.fingerprint"
LABEL_PERSISTENT = "fr.eole.conteneurs.persistant"
LABEL_INDEX = "fr.eole.conteneurs.index"
DEFAULT_SCOPE = "eole"
SPEC_VERSION = 1

# A one-shot container (no port, like hello-world) runs once; a service comes back after a reboot.
RESTART_SERVICE = "unless-stopped"
RESTART_ONE_SHOT = "no"


def restart_policy(spec: ContainerSpec) -> str:
    return RESTART_SERVICE if spec.ports else RESTART_ONE_SHOT


def declared_parameters(spec: ContainerSpec) -> dict[str, Any]:
    """Everything that, when changed, needs a new container (persistence does not)."""
    return {
        "version": SPEC_VERSION,
        "image": str(spec.image),
        "ports": [str(port) for port in spec.ports],
        "volumes": [str(volume) for volume in spec.volumes],
        "restart": restart_policy(spec),
    }


def fingerprint(parameters: dict[str, Any]) -> str:
    canonical = json.dumps(parameters, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def labels_for(spec: ContainerSpec, scope: str) -> dict[str, str]:
    parameters = declared_parameters(spec)
    return {
        LABEL_SCOPE: scope,
        LABEL_SPEC: json.dumps(parameters, sort_keys=True, ensure_ascii=False),
        LABEL_FINGERPRINT: fingerprint(parameters),
        LABEL_PERSISTENT: "oui" if spec.persistent else "non",
        LABEL_INDEX: str(spec.index),
    }


@dataclass(frozen=True)
class ObservedContainer:
    id: str
    name: str
    image_id: str
    state: str  # created, running, paused, restarting, exited, dead
    exit_code: int | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting", "paused")

    @property
    def finished(self) -> bool:
        """A one-shot job (like hello-world) that ran to completion: nothing to restart.

        A service that exited, even with status 0 (stopped by hand), is started again.
        """
        one_shot = self.declared_parameters().get("restart") == RESTART_ONE_SHOT
        return one_shot and self.state == "exited" and self.exit_code == 0

    @property
    def persistent(self) -> bool:
        return self.labels.get(LABEL_PERSISTENT) == "oui"

    def managed_by(self, scope: str) -> bool:
        return self.labels.get(LABEL_SCOPE) == scope

    @property
    def fingerprint(self) -> str | None:
        return self.labels.get(LABEL_FINGERPRINT)

    def declared_parameters(self) -> dict[str, Any]:
        try:
            parameters = json.loads(self.labels.get(LABEL_SPEC, "{}"))
        except ValueError:
            return {}
        return parameters if isinstance(parameters, dict) else {}


@dataclass(frozen=True)
class PersistenceRegistry:
    """Ids of the containers whose declaration says persistent, kept across runs.

    Labels are fixed at creation: a container declared persistent afterwards is only
    protected through this file.
    """

    path: Path

    def load(self) -> frozenset[str]:
        try:
            return frozenset(self.path.read_text().split())
        except FileNotFoundError:
            return frozenset()

    def save(self, ids: frozenset[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text("".join(f"{container_id}\n" for container_id in sorted(ids)))
        temporary.replace(self.path)


def updated_protection(protected: frozenset[str], specs: list[ContainerSpec],
                       observed: list[ObservedContainer]) -> frozenset[str]:
    """The current declaration decides for declared containers; undeclared ones keep what was known."""
    by_name = {container.name: container.id for container in observed}
    existing = set(by_name.values())
    ids = {container_id for container_id in protected if container_id in existing}
    for spec in specs:
        container_id = by_name.get(spec.name)
        if container_id is not None:
            (ids.add if spec.persistent else ids.discard)(container_id)
    return frozenset(ids)
