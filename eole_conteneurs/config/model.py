"""The container model: what the administrator declared, validated and normalised."""

from __future__ import annotations

from dataclasses import dataclass

DOCKER_HUB = ""
LOOPBACK = "127.0.0.1"


def variable(index: int, field: str) -> str:
    """Name of a per-container variable, e.g. variable(2, "nom") -> "conteneur2_nom"."""
    return f"conteneur{index}_{field}"


@dataclass(frozen=True)
class PortMapping:
    """A published port: host_ip:host_port on the host → container_port in the container."""

    container_port: int
    host_port: int
    host_ip: str = LOOPBACK

    def __str__(self) -> str:
        return f"{self.host_ip}:{self.host_port}→{self.container_port}"


@dataclass(frozen=True)
class VolumeMapping:
    """A shared host directory and where the container sees it."""

    host_dir: str
    container_dir: str

    def __str__(self) -> str:
        return f"{self.host_dir} → {self.container_dir}"


@dataclass(frozen=True)
class ImageRef:
    """An image reference, [hub/]repository:tag."""

    hub: str  # host[:port], DOCKER_HUB ("") for Docker Hub
    repository: str
    tag: str

    def __str__(self) -> str:
        prefix = f"{self.hub}/" if self.hub else ""
        return f"{prefix}{self.repository}:{self.tag}"


@dataclass(frozen=True)
class ContainerSpec:
    """One declared container (family Conteneur-N), validated and normalised."""

    index: int
    name: str
    technology: str
    image: ImageRef
    volumes: tuple[VolumeMapping, ...] = ()
    ports: tuple[PortMapping, ...] = ()
    persistent: bool = False
    web_path: str = ""  # /<nom> unless conteneurN_chemin says otherwise
    allowed_networks: tuple[str, ...] = ()  # CIDR; empty: everybody

    @property
    def proxied_port(self) -> int | None:
        """nginx proxies to the first host port; a container without ports is not published."""
        return self.ports[0].host_port if self.ports else None


@dataclass(frozen=True)
class Configuration:
    """The whole declared state: empty when activer_conteneurs is non."""

    source: str
    enabled: bool
    containers: tuple[ContainerSpec, ...] = ()
