"""Reads started before they are needed, and the Engine wrapper that answers from them.

reconfigure starts them at its very beginning: while Python loads and validates the configuration,
dockerd lists the containers and the registry is asked whether the images of the previous run
(at most PROBES) are still its latest. The wrapper answers the first container list and those
image questions from them, then reads for itself: a change made through it (a creation, a pull)
makes the answers it concerns stale. Nothing of the module changes a container or an image
before then; whoever else might (another module's script) must make the runner drop the wrapper.
A read that failed is no answer: the wrapper then reads for itself.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from eole_conteneurs.engine.api import STOP_TIMEOUT, Engine, ObservedContainer, ObservedResource, PullResult, Reader
from eole_conteneurs.engine.reader import SocketReader
from eole_conteneurs.errors import EoleConteneursError

if TYPE_CHECKING:
    from eole_conteneurs.engine.creation import CreateRequest

PROBES = 4  # images asked about before the configuration is known


class Prefetch:
    """Background reads through reader (None: the engine is reached in a way only the SDK handles)."""

    def __init__(self, reader: Reader | None, refs: list[str]):
        self._reader = reader
        self._containers: list[ObservedContainer] | None = None
        self._fresh: dict[str, bool] = {}
        self._answered = False  # dockerd answered the early list (its answers may be used)
        self._threads = [threading.Thread(target=self._list, name="liste des conteneurs", daemon=True)]
        self._threads += [threading.Thread(target=self._probe, args=(ref,), name=f"empreinte de {ref}", daemon=True)
                          for ref in refs[:PROBES]]
        if reader is not None:
            for thread in self._threads:
                thread.start()

    @classmethod
    def start(cls, base_url: str, refs: list[str]) -> "Prefetch":
        """Started now; without the socket client (an engine only the SDK reaches), nothing is read early."""
        return cls(SocketReader.for_url(base_url), refs)

    def _list(self) -> None:
        assert self._reader is not None
        try:
            self._containers = self._reader.containers()
        except EoleConteneursError:
            pass

    def _probe(self, ref: str) -> None:
        assert self._reader is not None
        self._fresh[ref] = self._reader.up_to_date(ref)

    def _wait(self) -> None:
        if self._reader is not None:
            for thread in self._threads:
                thread.join()

    def take_containers(self) -> list[ObservedContainer] | None:
        """The early list, once: whoever asks again has changed something or wants a fresh one."""
        self._wait()
        listed, self._containers = self._containers, None
        self._answered = self._answered or listed is not None
        return listed

    def up_to_date(self, ref: str) -> bool | None:
        """None: not asked early, already used up by a pull, or dockerd did not answer then."""
        self._wait()
        return self._fresh.get(ref) if self._answered or self._containers is not None else None

    def forget(self, ref: str | None = None) -> None:
        """After a change: the answers about ref (every answer when None) no longer hold."""
        self._wait()  # a read still running would otherwise put its answer back afterwards
        if ref is None:
            self._fresh.clear()
            self._containers = None
        else:
            self._fresh.pop(ref, None)


class PrefetchingEngine:
    """An Engine that answers from a Prefetch while its answers still hold."""

    def __init__(self, inner: Engine, prefetch: Prefetch):
        self.inner, self.prefetch = inner, prefetch

    # -- answered from the prefetch while nothing changed ----------------------------------

    def containers(self) -> list[ObservedContainer]:
        listed = self.prefetch.take_containers()
        return listed if listed is not None else self.inner.containers()

    def up_to_date(self, ref: str) -> bool:
        answer = self.prefetch.up_to_date(ref)
        return answer if answer is not None else self.inner.up_to_date(ref)

    # -- changes make the prefetched answers stale -----------------------------------------

    def pull(self, ref: str) -> PullResult:
        self.prefetch.forget(ref)
        return self.inner.pull(ref)

    def create(self, request: CreateRequest) -> str:
        self.prefetch.forget()
        return self.inner.create(request)

    def start(self, container: str) -> None:
        self.prefetch.forget()
        self.inner.start(container)

    def stop(self, container: str, timeout: int = STOP_TIMEOUT) -> None:
        self.prefetch.forget()
        self.inner.stop(container, timeout)

    def remove(self, container: str) -> None:
        self.prefetch.forget()
        self.inner.remove(container)

    def rename(self, container: str, name: str) -> None:
        self.prefetch.forget()
        self.inner.rename(container, name)

    # Networks and volumes are not prefetched: changing them leaves the answers about containers true.

    def create_network(self, name: str, labels: dict[str, str]) -> None:
        self.inner.create_network(name, labels)

    def remove_network(self, name: str) -> None:
        self.inner.remove_network(name)

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.inner.create_volume(name, labels)

    def remove_volume(self, name: str) -> None:
        self.inner.remove_volume(name)

    # -- read through -------------------------------------------------------------------------

    def ping(self) -> None:
        self.inner.ping()

    def image(self, ref: str) -> dict[str, Any] | None:
        return self.inner.image(ref)

    def image_id(self, ref: str) -> str | None:
        return self.inner.image_id(ref)

    def image_labels(self, image_id: str) -> dict[str, str]:
        return self.inner.image_labels(image_id)

    def repo_digests(self, ref: str) -> list[str]:
        return self.inner.repo_digests(ref)

    def registry_digest(self, ref: str) -> str:
        return self.inner.registry_digest(ref)

    def inspect(self, container: str) -> dict[str, Any] | None:
        return self.inner.inspect(container)

    def networks(self) -> list[ObservedResource]:
        return self.inner.networks()

    def volumes(self) -> list[ObservedResource]:
        return self.inner.volumes()

    def volume_sizes(self) -> dict[str, int]:
        return self.inner.volume_sizes()
