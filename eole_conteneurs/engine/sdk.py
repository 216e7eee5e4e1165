"""The Docker SDK (Debian's python3-docker): the Writer, and the Reader where only the SDK can connect.

The SDK is imported on the first change only (pull, create, start, stop, rm, rename), so a
reconfigure that changes nothing never pays for it. Pulls are read as a stream so that the
registry's own error (errorDetail) reaches the administrator as it is.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable

from eole_conteneurs.engine.api import (STOP_TIMEOUT, DockerOperationError, DockerUnavailable,
                                        ObservedContainer, ObservedResource, PullResult)
from eole_conteneurs.engine.reader import pinned, volume_sizes

if TYPE_CHECKING:
    from eole_conteneurs.engine.creation import CreateRequest

CLIENT_TIMEOUT = 120


def import_sdk() -> Any:
    """The SDK, with the standard library's distutils it imports.

    setuptools' distutils shim (a .pth file) would otherwise import all of setuptools for
    docker's `distutils.version`, doubling the SDK's import time. The one place that knows.
    """
    if "distutils" not in sys.modules:
        spec = importlib.machinery.PathFinder.find_spec("distutils")
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            sys.modules["distutils"] = module
            try:
                spec.loader.exec_module(module)
            except Exception:  # noqa: BLE001 — any failure: let docker import distutils its own way
                del sys.modules["distutils"]
    import docker
    import docker.errors
    return docker


def sdk_errors() -> tuple[type[BaseException], ...]:
    """The SDK's transport errors; none can be raised before it is imported."""
    if "docker.errors" not in sys.modules:
        return ()
    import docker.errors
    import requests.exceptions
    return docker.errors.DockerException, requests.exceptions.RequestException


def error_detail(error: BaseException) -> str:
    explanation = getattr(error, "explanation", None)
    if explanation:
        return str(explanation)
    return str(error) or error.__class__.__name__


class SdkClient:
    """The SDK's low-level APIClient, created once, on first use (parallel pulls and creations share it)."""

    def __init__(self, base_url: str, timeout: int = CLIENT_TIMEOUT):
        self.base_url, self.timeout = base_url, timeout
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def api(self) -> Any:
        with self._lock:
            if self._client is None:
                docker = import_sdk()
                try:
                    self._client = docker.APIClient(base_url=self.base_url, version="auto", timeout=self.timeout)
                except sdk_errors() as error:
                    raise DockerUnavailable(error_detail(error)) from error
            return self._client

    def call(self, target: str, operation: str, method: str, *args: Any, **kwargs: Any) -> Any:
        api = self.api
        try:
            return getattr(api, method)(*args, **kwargs)
        except sdk_errors() as error:
            raise DockerOperationError(target, operation, error_detail(error)) from error

    def found(self, target: str, operation: str, read: Callable[[Any], Any]) -> Any:
        """read(api), None when the engine says the object does not exist."""
        api = self.api
        import docker.errors
        try:
            return read(api)
        except docker.errors.NotFound:  # ImageNotFound is one too
            return None
        except sdk_errors() as error:
            raise DockerOperationError(target, operation, error_detail(error)) from error


HEALTH_INTERVAL = 5 * 10**9  # ns: often enough that dependents do not wait long, rare enough to cost nothing
HEALTH_TIMEOUT = 10 * 10**9
HEALTH_RETRIES = 3
HEALTH_START_PERIOD = 30 * 10**9  # failures while the service starts do not count


def _healthcheck(command: str) -> dict[str, Any] | None:
    """The declared health command, run by the container's shell as Docker's HEALTHCHECK CMD-SHELL does."""
    if not command:
        return None  # the image's own health check, if it has one
    return {"test": ["CMD-SHELL", command], "interval": HEALTH_INTERVAL, "timeout": HEALTH_TIMEOUT,
            "retries": HEALTH_RETRIES, "start_period": HEALTH_START_PERIOD}


class SdkReader:
    """The Reader for engines the socket client cannot reach (TLS, ssh): the SDK connects."""

    def __init__(self, client: SdkClient):
        self.client = client

    def ping(self) -> None:
        self.client.api  # noqa: B018 — the SDK connects (and negotiates the API version) here

    def containers(self) -> list[ObservedContainer]:
        summaries = self.client.call("Docker", "liste des conteneurs", "containers", all=True)
        return [ObservedContainer.from_summary(summary) for summary in summaries]

    def image(self, ref: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.client.found(ref, "Lecture de l'image", lambda api: api.inspect_image(ref))
        return found

    def inspect(self, container: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.client.found(container, "Lecture du conteneur",
                                                         lambda api: api.inspect_container(container))
        return found

    def up_to_date(self, ref: str) -> bool:
        """No registry probe through the SDK: pulled, as the seed does (a pinned image: present is enough)."""
        try:
            return pinned(ref) and self.image(ref) is not None
        except DockerOperationError:
            return False  # any doubt: pulled

    def registry_digest(self, ref: str) -> str:
        found = self.client.call(ref, "Interrogation du registre", "inspect_distribution", ref)
        digest = (found.get("Descriptor") or {}).get("digest") if isinstance(found, dict) else None
        if not isinstance(digest, str) or not digest:
            raise DockerOperationError(ref, "Interrogation du registre", "pas d'empreinte dans la réponse du registre")
        return digest

    def networks(self) -> list[ObservedResource]:
        listed = self.client.call("Docker", "liste des réseaux", "networks")
        return [ObservedResource.from_summary(entry) for entry in listed]

    def volumes(self) -> list[ObservedResource]:
        listed = self.client.call("Docker", "liste des volumes", "volumes").get("Volumes") or []
        return [ObservedResource.from_summary(entry) for entry in listed]

    def volume_sizes(self) -> dict[str, int]:
        return volume_sizes(self.client.call("Docker", "occupation des volumes", "df"))


class SdkWriter:
    """Every change goes through the SDK."""

    def __init__(self, client: SdkClient):
        self.client = client

    def pull(self, ref: str) -> PullResult:
        # repository@sha256:… (pinned) or repository:tag; the engine takes a digest where a tag goes.
        repository, tag = ref.split("@", 1) if pinned(ref) else ref.rsplit(":", 1)
        messages = []
        api = self.client.api
        try:
            for event in api.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in event or "errorDetail" in event:
                    detail = event.get("errorDetail", {}).get("message") or event.get("error")
                    raise DockerOperationError(ref, "Récupération de l'image", detail)
                status = event.get("status", "")
                if status.startswith(("Digest:", "Status:")):
                    messages.append(status)
        except sdk_errors() as error:
            raise DockerOperationError(ref, "Récupération de l'image", error_detail(error)) from error
        return PullResult(ref, tuple(messages))

    def create(self, request: CreateRequest) -> str:
        """Create (not start) the container, joined to its networks; returns its id."""
        docker = import_sdk()
        bindings: dict[str, list[tuple[str, int]]] = {}
        for port in request.ports:  # lists: one container port may be published on several host ports
            bindings.setdefault(f"{port.container_port}/tcp", []).append((port.host_ip, port.host_port))
        first_network = request.networks[0] if request.networks else None
        host_config = self.client.call(
            request.name, "Création du conteneur", "create_host_config",
            port_bindings=bindings,
            binds=[f"{bind.host_dir}:{bind.container_dir}:rw" for bind in request.binds],
            mounts=[docker.types.Mount(mount.target, mount.source, type=mount.kind, read_only=mount.read_only)
                    for mount in request.mounts],
            restart_policy={"Name": request.restart},
            security_opt=list(request.security_options),
            privileged=False,
            mem_limit=request.memory,
            pids_limit=request.pids_limit,
            cap_drop=list(request.cap_drop) or None,
            cap_add=list(request.cap_add) or None,
            network_mode=first_network,
            **self.host_options(),
        )
        # The engine takes one network at creation (API < 1.44): the others are joined before the start.
        networking = ({first_network: self.client.api.create_endpoint_config()} if first_network else None)
        created = self.client.call(request.name, "Création du conteneur", "create_container",
                                   image=request.image, name=request.name, detach=True, labels=request.labels,
                                   ports=sorted({(port.container_port, "tcp") for port in request.ports}),
                                   environment=list(request.environment) or None,
                                   command=list(request.command) or None,
                                   healthcheck=_healthcheck(request.health_command),
                                   networking_config=(self.client.api.create_networking_config(networking)
                                                      if networking else None),
                                   host_config=host_config)
        container = str(created["Id"])
        try:
            for network in request.networks[1:]:
                self._join(container, network)
        except DockerOperationError:
            self.remove(container)  # half-made: not left behind under the declared name
            raise
        return container

    def host_options(self) -> dict[str, Any]:
        """What this engine needs in every container's host configuration besides the request (none for dockerd)."""
        return {}

    def _join(self, container: str, network: str) -> None:
        self.client.call(container, f"Connexion au réseau {network}", "connect_container_to_network",
                         container, network)

    def create_network(self, name: str, labels: dict[str, str]) -> None:
        self.client.call(name, "Création du réseau", "create_network", name, driver="bridge", labels=labels,
                         check_duplicate=True)

    def remove_network(self, name: str) -> None:
        self.client.call(name, "Suppression du réseau", "remove_network", name)

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.client.call(name, "Création du volume", "create_volume", name, driver="local", labels=labels)

    def remove_volume(self, name: str) -> None:
        self.client.call(name, "Suppression du volume", "remove_volume", name)

    def start(self, container: str) -> None:
        self.client.call(container, "Démarrage du conteneur", "start", container)

    def stop(self, container: str, timeout: int = STOP_TIMEOUT) -> None:
        self.client.call(container, "Extinction du conteneur", "stop", container, timeout=timeout)

    def remove(self, container: str) -> None:
        # v=False: anonymous volumes hold data; they are never deleted by the module.
        self.client.call(container, "Suppression du conteneur", "remove_container", container, v=False, force=True)

    def rename(self, container: str, name: str) -> None:
        self.client.call(container, "Renommage du conteneur", "rename", container, name)
