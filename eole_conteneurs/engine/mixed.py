"""One Engine over the engines of several technologies (Docker and Podman on one host).

The planner and the executor see one host: the containers of every engine, each marked with its
technology. What names a container (an id or a name) goes to the engine that listed or made it;
a creation goes to the technology the request names; networks and volumes go to the technology
the configuration declares them for (Placement: validation keeps each name to one technology).
Images are asked of the engine of the technology they are for (api.of_technology): each engine
has its own image store, and the same reference may be at two versions in them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from eole_conteneurs.engine.api import (STOP_TIMEOUT, DockerOperationError, Engine, ObservedContainer,
                                        ObservedResource, PullResult)

if TYPE_CHECKING:
    from eole_conteneurs.engine.creation import CreateRequest


@dataclass(frozen=True)
class Placement:
    """The technology each declared network and data volume belongs to (undeclared ones: where they are)."""

    networks: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class MixedEngine:
    engines: dict[str, Engine]  # technology → its engine, for those reached; the first answers image questions
    placement: Placement = Placement()
    _where: dict[str, str] = field(default_factory=dict, init=False, repr=False)  # container id or name → technology
    _images: dict[str, str] = field(default_factory=dict, init=False, repr=False)  # image id → a technology having it
    _listed: dict[tuple[str, str], set[str]] = field(default_factory=dict, init=False, repr=False)

    def of_technology(self, technology: str) -> Engine:
        engine = self.engines.get(technology)
        if engine is None:
            raise DockerOperationError(technology, "Accès au moteur", f"{technology} n'est pas disponible sur ce serveur")
        return engine

    @property
    def _default(self) -> Engine:
        return next(iter(self.engines.values()))

    # -- reading ------------------------------------------------------------------------

    def ping(self) -> None:
        for engine in self.engines.values():
            engine.ping()

    def containers(self) -> list[ObservedContainer]:
        listed = []
        for technology, engine in self.engines.items():
            for container in engine.containers():
                self._where[container.id] = self._where[container.name] = technology
                self._images.setdefault(container.image_id, technology)
                listed.append(replace(container, technology=technology))
        return listed

    def inspect(self, container: str) -> dict[str, Any] | None:
        technology = self._where.get(container)
        if technology in self.engines:
            return self.engines[technology].inspect(container)
        for technology, engine in self.engines.items():
            found = engine.inspect(container)
            if found is not None:
                self._where[container] = technology
                return found
        return None

    def image(self, ref: str) -> dict[str, Any] | None:
        return self._default.image(ref)

    def image_id(self, ref: str) -> str | None:
        return self._default.image_id(ref)

    def image_labels(self, image_id: str) -> dict[str, str]:
        return self.engines.get(self._images.get(image_id, ""), self._default).image_labels(image_id)

    def repo_digests(self, ref: str) -> list[str]:
        return self._default.repo_digests(ref)

    def up_to_date(self, ref: str) -> bool:
        return self._default.up_to_date(ref)

    def registry_digest(self, ref: str) -> str:
        return self._default.registry_digest(ref)

    def networks(self) -> list[ObservedResource]:
        return self._resources("network", self.placement.networks, lambda engine: engine.networks())

    def volumes(self) -> list[ObservedResource]:
        return self._resources("volume", self.placement.volumes, lambda engine: engine.volumes())

    def _resources(self, kind: str, declared: dict[str, str], listing: Any) -> list[ObservedResource]:
        """Each engine's, but a declared name only from the engine it is declared for: the planner then
        creates it there even when another engine has one of that name (left from before a change)."""
        found = []
        for technology, engine in self.engines.items():
            for resource in listing(engine):
                self._listed.setdefault((kind, resource.name), set()).add(technology)
                if declared.get(resource.name, technology) == technology:
                    found.append(replace(resource, technology=technology))
        return found

    def volume_sizes(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for technology, engine in self.engines.items():
            for name, size in engine.volume_sizes().items():
                if self.placement.volumes.get(name, technology) == technology:
                    sizes[name] = size
        return sizes

    # -- changing -----------------------------------------------------------------------

    def pull(self, ref: str) -> PullResult:
        return self._default.pull(ref)

    def create(self, request: CreateRequest) -> str:
        created = self.of_technology(request.technology).create(request)
        self._where[created] = self._where[request.name] = request.technology
        return created

    def start(self, container: str) -> None:
        self._holding(container).start(container)

    def stop(self, container: str, timeout: int = STOP_TIMEOUT) -> None:
        self._holding(container).stop(container, timeout)

    def remove(self, container: str) -> None:
        self._holding(container).remove(container)

    def rename(self, container: str, name: str) -> None:
        engine = self._holding(container)
        engine.rename(container, name)
        self._where[name] = self._where[container]

    def create_network(self, name: str, labels: dict[str, str]) -> None:
        self._declared_for("network", name).create_network(name, labels)

    def remove_network(self, name: str) -> None:
        for engine in self._listing("network", name):
            engine.remove_network(name)

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self._declared_for("volume", name).create_volume(name, labels)

    def remove_volume(self, name: str) -> None:
        for engine in self._listing("volume", name):
            engine.remove_volume(name)

    def _holding(self, container: str) -> Engine:
        """The engine that has the container (listed, made, or found by asking each)."""
        if container not in self._where:
            self.inspect(container)
        technology = self._where.get(container)
        if technology is None:
            raise DockerOperationError(container, "Recherche du conteneur", "aucun moteur ne le connaît")
        return self.of_technology(technology)

    def _declared_for(self, kind: str, name: str) -> Engine:
        declared = self.placement.networks if kind == "network" else self.placement.volumes
        return self.of_technology(declared.get(name, next(iter(self.engines))))

    def _listing(self, kind: str, name: str) -> list[Engine]:
        """Where a resource was listed: an unused network may be left on several engines."""
        listed = self._listed.get((kind, name)) or {next(iter(self.engines))}
        return [self.engines[technology] for technology in listed if technology in self.engines]
