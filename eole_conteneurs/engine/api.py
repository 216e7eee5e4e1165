"""The container-engine interface the rest of the module sees, and what crosses it.

Neutral on purpose: an engine reports containers and images and carries out requests; what the
module's labels mean (ownership, declared parameters, persistence) is decided by containers/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from eole_conteneurs.errors import EoleConteneursError

if TYPE_CHECKING:  # loaded only when a container is created (a no-op run creates none)
    from eole_conteneurs.engine.creation import CreateRequest

DOCKER_SOCKET = "unix:///var/run/docker.sock"
# Podman's Docker-compatible API, served by `podman system service` (jobs/host.py starts it): root only.
PODMAN_SOCKET = "unix:///run/podman/podman.sock"
DOCKER, PODMAN = "docker", "podman"  # conteneurN_technologie
TECHNOLOGIES = (DOCKER, PODMAN)
EXIT_STATUS = re.compile(r"Exited \((-?\d+)\)")
STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL, as `docker stop`


@dataclass(frozen=True)
class Endpoints:
    """Where each technology's engine listens (DOCKER_HOST, EOLE_CONTENEURS_PODMAN)."""

    docker: str = DOCKER_SOCKET
    podman: str = PODMAN_SOCKET

    def url(self, technology: str) -> str:
        return self.podman if technology == PODMAN else self.docker


class DockerUnavailable(EoleConteneursError):
    """The engine's service does not answer."""

    def __init__(self, detail: str, message: str = ""):
        self.detail = detail
        super().__init__(message or f"le service Docker ne répond pas ({detail})")


class PodmanUnavailable(DockerUnavailable):
    def __init__(self, detail: str, message: str = ""):
        super().__init__(detail, message or f"Service Podman arrêté et impossible à démarrer ({detail})")


class DockerOperationError(EoleConteneursError):
    """One operation on one container or image failed; names what and why."""

    def __init__(self, target: str, operation: str, detail: str):
        self.target, self.operation, self.detail = target, operation, detail
        super().__init__(f"{operation} de {target} impossible : {detail}")


@dataclass(frozen=True)
class PullResult:
    """A pulled image and the lines `docker pull` would print."""

    ref: str
    messages: tuple[str, ...]  # Digest / Status lines, as `docker pull` prints them


@dataclass(frozen=True)
class ObservedMount:
    """A mount of a container as the engine lists it: kind "bind" or "volume" (name set)."""

    kind: str
    name: str  # the volume's name; "" for a bind mount
    source: str
    destination: str


@dataclass(frozen=True)
class ObservedContainer:
    """One container as the engine lists it."""

    id: str
    name: str
    image_id: str
    state: str  # created, running, paused, restarting, exited, dead
    exit_code: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    networks: tuple[str, ...] = ()
    mounts: tuple[ObservedMount, ...] = ()
    # The labels of its image (a container inherits them: they tell which of its labels it was given);
    # not in the engine's list: set by whoever needs them (containers/labels.with_image_labels).
    image_labels: dict[str, str] = field(default_factory=dict)
    technology: str = DOCKER  # the engine that runs it (engine/mixed.py sets it)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting", "paused")

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> "ObservedContainer":
        """From one entry of the engine's container list (GET /containers/json)."""
        names = summary.get("Names") or ["/"]
        match = EXIT_STATUS.search(summary.get("Status", ""))
        return cls(
            id=summary["Id"],
            name=names[0].lstrip("/"),
            image_id=summary.get("ImageID", ""),
            state=summary.get("State", ""),
            exit_code=int(match.group(1)) if match else None,
            labels=summary.get("Labels") or {},
            networks=tuple((summary.get("NetworkSettings") or {}).get("Networks") or ()),
            mounts=tuple(ObservedMount(mount.get("Type", ""), mount.get("Name", ""), mount.get("Source", ""),
                                       mount.get("Destination", "")) for mount in summary.get("Mounts") or ()),
        )


@dataclass(frozen=True)
class ObservedResource:
    """A network or a volume as the engine lists it."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    technology: str = DOCKER

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> "ObservedResource":
        return cls(summary.get("Name", ""), summary.get("Labels") or {})


class Reader(Protocol):
    """What a no-op run needs: reads only."""

    def ping(self) -> None: ...

    def containers(self) -> list[ObservedContainer]: ...

    def image(self, ref: str) -> dict[str, Any] | None: ...

    def inspect(self, container: str) -> dict[str, Any] | None: ...

    def up_to_date(self, ref: str) -> bool: ...

    def registry_digest(self, ref: str) -> str: ...

    def networks(self) -> list[ObservedResource]: ...

    def volumes(self) -> list[ObservedResource]: ...

    def volume_sizes(self) -> dict[str, int]: ...


class Writer(Protocol):
    """What a change needs."""

    def pull(self, ref: str) -> PullResult: ...

    def create(self, request: CreateRequest) -> str: ...

    def start(self, container: str) -> None: ...

    def stop(self, container: str, timeout: int = STOP_TIMEOUT) -> None: ...

    def remove(self, container: str) -> None: ...

    def rename(self, container: str, name: str) -> None: ...

    def create_network(self, name: str, labels: dict[str, str]) -> None: ...

    def remove_network(self, name: str) -> None: ...

    def create_volume(self, name: str, labels: dict[str, str]) -> None: ...

    def remove_volume(self, name: str) -> None: ...


class Engine(Reader, Writer, Protocol):
    """The interface the executor, the operations and the status command use."""

    def image_id(self, ref: str) -> str | None: ...

    def image_labels(self, image_id: str) -> dict[str, str]: ...

    def repo_digests(self, ref: str) -> list[str]: ...


def running_for(state: dict[str, Any]) -> float:
    """Seconds since the container's start as the engine recorded it (State of an inspect; 0 when unreadable)."""
    text = str(state.get("StartedAt") or "")
    try:  # "2026-12-05T10:27:50.123456789Z": Python reads six digits of fraction at most
        head, _, fraction = text.rstrip("Z").partition(".")
        started = datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}+00:00")
    except ValueError:
        return 0.0
    return (datetime.now(timezone.utc) - started).total_seconds()


def of_technology(engine: Engine, technology: str) -> Engine:
    """The engine that runs containers of this technology: a host with both routes (engine/mixed.py),
    an engine of one technology is its own. Images are asked of it: each engine has its own store."""
    route = getattr(engine, "of_technology", None)
    if callable(route):
        routed: Engine = route(technology)
        return routed
    if getattr(engine, "technology", technology) != technology:  # never another store than the one asked for
        raise DockerOperationError(technology, "Accès au moteur", f"{technology} n'est pas disponible sur ce serveur")
    return engine
