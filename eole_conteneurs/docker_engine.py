"""The Docker adapter: the only module that imports docker (Debian's python3-docker).

Reads go through a thin client of the Engine API (docker_socket.py); the SDK's low-level
APIClient is imported on the first change only (pull, create, start, stop, rm, rename), so a
reconfigure that changes nothing never pays for it. Pulls are read as a stream so that the
registry's own error (errorDetail) reaches the administrator as it is.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .cache import read_json, write_json
from .context import DOCKER_SOCKET
from .docker_socket import EngineSocket, EngineSocketError
from .errors import EoleConteneursError
from .spec import ContainerSpec
from .state import ObservedContainer, labels_for, restart_policy

STOP_TIMEOUT = 10
CLIENT_TIMEOUT = 120
PROBE_TIMEOUT = 10.0  # asking the registry for a digest: beyond that, pull as the seed does
EARLY_PROBES = 4  # images asked about before the configuration is known (EarlyReads)
IMAGES_FILE = "images.json"
EXIT_STATUS = re.compile(r"Exited \((-?\d+)\)")


class DockerUnavailable(EoleConteneursError):
    def __init__(self, detail: str):
        super().__init__(f"le service Docker ne répond pas ({detail})")


class DockerOperationError(EoleConteneursError):
    """One operation on one container or image failed; names what and why."""

    def __init__(self, target: str, operation: str, detail: str):
        self.target, self.operation, self.detail = target, operation, detail
        super().__init__(f"{operation} de {target} impossible : {detail}")


@dataclass(frozen=True)
class PullResult:
    ref: str
    messages: tuple[str, ...]  # Digest / Status lines, as `docker pull` prints them


def _import_sdk():
    """The SDK, with the standard library's distutils it imports.

    setuptools' distutils shim (a .pth file) would otherwise import all of setuptools for
    docker's `distutils.version`, doubling the SDK's import time.
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


def _sdk_errors() -> tuple[type[BaseException], ...]:
    """The SDK's transport errors; none can be raised before it is imported."""
    if "docker.errors" not in sys.modules:
        return ()
    import docker.errors
    import requests.exceptions
    return docker.errors.DockerException, requests.exceptions.RequestException


def _detail(error: BaseException) -> str:
    explanation = getattr(error, "explanation", None)
    if explanation:
        return str(explanation)
    return str(error) or error.__class__.__name__


@dataclass
class DockerEngine:
    base_url: str
    reader: EngineSocket | None  # None: dockerd is reached in a way only the SDK handles
    timeout: int = CLIENT_TIMEOUT
    _client: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def connect(cls, base_url: str = DOCKER_SOCKET, timeout: int = CLIENT_TIMEOUT) -> "DockerEngine":
        engine = cls(base_url, EngineSocket.from_url(base_url), timeout)
        if engine.reader is None:
            engine.client  # noqa: B018 — the SDK connects (and negotiates the API version) here
            return engine
        try:
            engine.reader.ping()
        except EngineSocketError as error:
            raise DockerUnavailable(str(error)) from error
        return engine

    @property
    def client(self):
        """The SDK's APIClient, created once, on first use (parallel pulls and creations share it)."""
        with self._lock:
            if self._client is None:
                docker = _import_sdk()
                try:
                    self._client = docker.APIClient(base_url=self.base_url, version="auto", timeout=self.timeout)
                except _sdk_errors() as error:
                    raise DockerUnavailable(_detail(error)) from error
            return self._client

    def _call(self, target: str, operation: str, method: str, *args, **kwargs):
        client = self.client
        try:
            return getattr(client, method)(*args, **kwargs)
        except _sdk_errors() as error:
            raise DockerOperationError(target, operation, _detail(error)) from error

    def _read(self, target: str, operation: str, read: Callable[[EngineSocket], Any]):
        try:
            return read(self.reader)
        except EngineSocketError as error:
            raise DockerOperationError(target, operation, str(error)) from error

    # -- reading ----------------------------------------------------------------------

    def containers(self) -> list[ObservedContainer]:
        """Every container of the host, one API call (the planner needs unmanaged names too)."""
        if self.reader is None:
            summaries = self._call("Docker", "liste des conteneurs", "containers", all=True)
        else:
            summaries = self._read("Docker", "liste des conteneurs", EngineSocket.containers)
        return [_observed(summary) for summary in summaries]

    def image(self, ref: str) -> dict | None:
        if self.reader is not None:
            return self._read(ref, "Lecture de l'image", lambda reader: reader.image(ref))
        client = self.client
        import docker.errors
        try:
            return client.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return None
        except _sdk_errors() as error:
            raise DockerOperationError(ref, "Lecture de l'image", _detail(error)) from error

    def image_id(self, ref: str) -> str | None:
        image = self.image(ref)
        return image["Id"] if image else None

    def repo_digests(self, ref: str) -> list[str]:
        image = self.image(ref)
        return (image or {}).get("RepoDigests") or []

    def inspect(self, container: str) -> dict | None:
        if self.reader is not None:
            return self._read(container, "Lecture du conteneur", lambda reader: reader.container(container))
        client = self.client
        import docker.errors
        try:
            return client.inspect_container(container)
        except docker.errors.NotFound:
            return None
        except _sdk_errors() as error:
            raise DockerOperationError(container, "Lecture du conteneur", _detail(error)) from error

    def up_to_date(self, ref: str) -> bool:
        """True when the local image is the one the registry has under ref now: no pull needed.

        Any doubt (no local image, registry unreachable or slow, no thin client) means False:
        the image is then pulled, as the seed always does.
        """
        if self.reader is None:
            return False
        try:
            local = self.reader.image(ref)
            digests = local.get("RepoDigests") if isinstance(local, dict) else None
            if not isinstance(digests, list) or not digests:
                return False
            digest = self.reader.registry_digest(ref, PROBE_TIMEOUT)
        except EngineSocketError:
            return False
        return any(isinstance(entry, str) and entry.rpartition("@")[2] == digest for entry in digests)

    # -- images -----------------------------------------------------------------------

    def pull(self, ref: str) -> PullResult:
        repository, tag = ref.rsplit(":", 1)
        messages = []
        client = self.client
        try:
            for event in client.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in event or "errorDetail" in event:
                    detail = event.get("errorDetail", {}).get("message") or event.get("error")
                    raise DockerOperationError(ref, "Récupération de l'image", detail)
                status = event.get("status", "")
                if status.startswith(("Digest:", "Status:")):
                    messages.append(status)
        except _sdk_errors() as error:
            raise DockerOperationError(ref, "Récupération de l'image", _detail(error)) from error
        return PullResult(ref, tuple(messages))

    # -- containers ---------------------------------------------------------------------

    def create(self, spec: ContainerSpec, scope: str, name: str | None = None) -> str:
        """Create (not start) the container of spec; returns its id."""
        name = name or spec.name
        host_config = self._call(
            name, "Création du conteneur", "create_host_config",
            port_bindings=_port_bindings(spec),
            binds=[f"{v.host_dir}:{v.container_dir}:rw" for v in spec.volumes],
            restart_policy={"Name": restart_policy(spec)},
            security_opt=["no-new-privileges:true"],
            privileged=False,
        )
        created = self._call(name, "Création du conteneur", "create_container",
                             image=str(spec.image), name=name, detach=True, labels=labels_for(spec, scope),
                             ports=sorted({(p.container_port, "tcp") for p in spec.ports}),
                             host_config=host_config)
        return created["Id"]

    def start(self, container: str) -> None:
        self._call(container, "Démarrage du conteneur", "start", container)

    def stop(self, container: str, timeout: int = STOP_TIMEOUT) -> None:
        self._call(container, "Extinction du conteneur", "stop", container, timeout=timeout)

    def remove(self, container: str) -> None:
        # v=False: anonymous volumes hold data; they are never deleted by the module.
        self._call(container, "Suppression du conteneur", "remove_container",
                   container, v=False, force=True)

    def rename(self, container: str, name: str) -> None:
        self._call(container, "Renommage du conteneur", "rename", container, name)


class EarlyReads:
    """Docker reads reconfigure starts before it parses the configuration, taken when needed.

    While Python loads and validates the configuration, dockerd lists the containers and the
    registry is asked whether the images of the previous run (at most EARLY_PROBES) are still
    its latest. pretemplate uses these answers for the images it would ask about, posttemplate
    plans with the list. Nothing of the module changes a container or an image before then;
    whoever else might (another module's script) makes the caller drop them. A read that
    failed is no answer: the caller then reads for itself.
    """

    def __init__(self, base_url: str, refs: list[str]):
        reader = EngineSocket.from_url(base_url)
        self._engine = DockerEngine(base_url, reader) if reader is not None else None
        self._containers: list[ObservedContainer] | None = None
        self._fresh: dict[str, bool] = {}
        self._threads = [threading.Thread(target=self._list, name="liste des conteneurs", daemon=True)]
        self._threads += [threading.Thread(target=self._probe, args=(ref,), name=f"empreinte de {ref}", daemon=True)
                          for ref in refs[:EARLY_PROBES]]
        if self._engine is not None:
            for thread in self._threads:
                thread.start()

    def _list(self) -> None:
        try:
            self._containers = self._engine.containers()
        except EoleConteneursError:
            pass

    def _probe(self, ref: str) -> None:
        self._fresh[ref] = self._engine.up_to_date(ref)

    def _wait(self) -> None:
        if self._engine is not None:
            for thread in self._threads:
                thread.join()

    def containers(self) -> list[ObservedContainer] | None:
        self._wait()
        return self._containers

    def up_to_date(self, ref: str) -> bool | None:
        """None: not asked early, or dockerd did not answer then (it may have been started since)."""
        self._wait()
        return self._fresh.get(ref) if self._containers is not None else None


def images_of_last_run(cache_dir: Path | None) -> list[str]:
    """The images the previous run asked the registry about (EarlyReads asks again first)."""
    stored = read_json(cache_dir / IMAGES_FILE) if cache_dir is not None else None
    refs = stored.get("images") if stored is not None else None
    return [ref for ref in refs if isinstance(ref, str)] if isinstance(refs, list) else []


def remember_images(cache_dir: Path | None, refs: list[str]) -> None:
    if cache_dir is not None and images_of_last_run(cache_dir) != refs:
        write_json(cache_dir / IMAGES_FILE, {"images": refs})


def _port_bindings(spec: ContainerSpec) -> dict[str, list[tuple[str, int]]]:
    """Lists, since one container port may be published on several host ports."""
    bindings: dict[str, list[tuple[str, int]]] = {}
    for port in spec.ports:
        bindings.setdefault(f"{port.container_port}/tcp", []).append((port.host_ip, port.host_port))
    return bindings


def _observed(summary: dict) -> ObservedContainer:
    names = summary.get("Names") or ["/"]
    match = EXIT_STATUS.search(summary.get("Status", ""))
    return ObservedContainer(
        id=summary["Id"],
        name=names[0].lstrip("/"),
        image_id=summary.get("ImageID", ""),
        state=summary.get("State", ""),
        exit_code=int(match.group(1)) if match else None,
        labels=summary.get("Labels") or {},
    )
