"""The Docker engine: a Reader and a Writer behind the one Engine interface.

Reads go through the socket client wherever dockerd is reached by a unix socket or plain TCP,
through the SDK otherwise (TLS, ssh); writes always go through the SDK, imported on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from eole_conteneurs.engine.api import (DOCKER, DOCKER_SOCKET, STOP_TIMEOUT, ObservedContainer, ObservedResource,
                                        PullResult, Reader, Writer)
from eole_conteneurs.engine.reader import SocketReader
from eole_conteneurs.engine.sdk import CLIENT_TIMEOUT, SdkClient, SdkReader, SdkWriter

if TYPE_CHECKING:
    from eole_conteneurs.engine.creation import CreateRequest



def reader_for(base_url: str, client: SdkClient) -> Reader:
    return SocketReader.for_url(base_url) or SdkReader(client)


@dataclass(eq=False)
class DockerEngine:
    """The Engine of a Docker daemon: reads through `reader`, changes through `writer`."""

    reader: Reader
    writer: Writer
    technology: str = DOCKER  # what its containers are said to run on (Podman's API: engine/podman.py)
    # Image id → its labels: an id names the image's content, so its labels never change.
    _labels: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def connect(cls, base_url: str = DOCKER_SOCKET, timeout: int = CLIENT_TIMEOUT) -> "DockerEngine":
        """Raises DockerUnavailable when dockerd does not answer."""
        client = SdkClient(base_url, timeout)
        engine = cls(reader_for(base_url, client), SdkWriter(client))
        engine.ping()
        return engine

    # -- reading ------------------------------------------------------------------------

    def ping(self) -> None:
        self.reader.ping()

    def containers(self) -> list[ObservedContainer]:
        """Every container of the host, one API call (the planner needs unmanaged names too)."""
        listed = self.reader.containers()
        return listed if self.technology == DOCKER else [replace(item, technology=self.technology) for item in listed]

    def image(self, ref: str) -> dict[str, Any] | None:
        image = self.reader.image(ref)
        if image and image.get("Id"):
            self._labels.setdefault(str(image["Id"]), _labels_of(image))
        return image

    def image_labels(self, image_id: str) -> dict[str, str]:
        """Known from an earlier read of the image (a no-op run asks nothing more), else inspected by id."""
        if image_id not in self._labels:
            image = self.reader.image(image_id)
            self._labels[image_id] = _labels_of(image) if image else {}
        return self._labels[image_id]

    def image_id(self, ref: str) -> str | None:
        image = self.image(ref)
        return str(image["Id"]) if image else None

    def repo_digests(self, ref: str) -> list[str]:
        image = self.image(ref)
        return list((image or {}).get("RepoDigests") or [])

    def inspect(self, container: str) -> dict[str, Any] | None:
        return self.reader.inspect(container)

    def up_to_date(self, ref: str) -> bool:
        return self.reader.up_to_date(ref)

    def registry_digest(self, ref: str) -> str:
        return self.reader.registry_digest(ref)

    def networks(self) -> list[ObservedResource]:
        return self.reader.networks()

    def volumes(self) -> list[ObservedResource]:
        return self.reader.volumes()

    def volume_sizes(self) -> dict[str, int]:
        return self.reader.volume_sizes()

    # -- changing -----------------------------------------------------------------------

    def pull(self, ref: str) -> PullResult:
        return self.writer.pull(ref)

    def create(self, request: CreateRequest) -> str:
        return self.writer.create(request)

    def start(self, container: str) -> None:
        self.writer.start(container)

    def stop(self, container: str, timeout: int = STOP_TIMEOUT) -> None:
        self.writer.stop(container, timeout)

    def remove(self, container: str) -> None:
        self.writer.remove(container)

    def rename(self, container: str, name: str) -> None:
        self.writer.rename(container, name)

    def create_network(self, name: str, labels: dict[str, str]) -> None:
        self.writer.create_network(name, labels)

    def remove_network(self, name: str) -> None:
        self.writer.remove_network(name)

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.writer.create_volume(name, labels)

    def remove_volume(self, name: str) -> None:
        self.writer.remove_volume(name)


def _labels_of(image: dict[str, Any]) -> dict[str, str]:
    labels = (image.get("Config") or {}).get("Labels")
    return dict(labels) if isinstance(labels, dict) else {}
