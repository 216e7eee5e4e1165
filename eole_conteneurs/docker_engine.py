"""The Docker adapter: the only module that imports docker (Debian's python3-docker).

It uses docker-py's low-level APIClient: one `containers` call lists everything the
planner needs, and pulls are read as a stream so that the registry's own error
(errorDetail) reaches the administrator as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import docker
import docker.errors
import requests.exceptions

from .context import DOCKER_SOCKET
from .errors import EoleConteneursError
from .spec import ContainerSpec
from .state import ObservedContainer, labels_for, restart_policy

STOP_TIMEOUT = 10
EXIT_STATUS = re.compile(r"Exited \((-?\d+)\)")
TRANSPORT_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


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


def _detail(error: Exception) -> str:
    if isinstance(error, docker.errors.APIError) and error.explanation:
        return str(error.explanation)
    return str(error) or error.__class__.__name__


class DockerEngine:
    def __init__(self, client: docker.APIClient):
        self.client = client

    @classmethod
    def connect(cls, base_url: str = DOCKER_SOCKET, timeout: int = 120) -> "DockerEngine":
        try:
            client = docker.APIClient(base_url=base_url, version="auto", timeout=timeout)
        except TRANSPORT_ERRORS as error:
            raise DockerUnavailable(_detail(error)) from error
        return cls(client)

    def _call(self, target: str, operation: str, function: Callable, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except TRANSPORT_ERRORS as error:
            raise DockerOperationError(target, operation, _detail(error)) from error

    # -- reading ----------------------------------------------------------------------

    def containers(self) -> list[ObservedContainer]:
        """Every container of the host, one API call (the planner needs unmanaged names too)."""
        summaries = self._call("Docker", "liste des conteneurs", self.client.containers, all=True)
        return [_observed(summary) for summary in summaries]

    def image_id(self, ref: str) -> str | None:
        try:
            return self.client.inspect_image(ref)["Id"]
        except docker.errors.ImageNotFound:
            return None
        except TRANSPORT_ERRORS as error:
            raise DockerOperationError(ref, "Lecture de l'image", _detail(error)) from error

    def inspect(self, container: str) -> dict | None:
        try:
            return self.client.inspect_container(container)
        except docker.errors.NotFound:
            return None
        except TRANSPORT_ERRORS as error:
            raise DockerOperationError(container, "Lecture du conteneur", _detail(error)) from error

    def repo_digests(self, image: str) -> list[str]:
        try:
            return self.client.inspect_image(image).get("RepoDigests") or []
        except docker.errors.ImageNotFound:
            return []
        except TRANSPORT_ERRORS as error:
            raise DockerOperationError(image, "Lecture de l'image", _detail(error)) from error

    # -- images -----------------------------------------------------------------------

    def pull(self, ref: str) -> PullResult:
        repository, tag = ref.rsplit(":", 1)
        messages = []
        try:
            for event in self.client.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in event or "errorDetail" in event:
                    detail = event.get("errorDetail", {}).get("message") or event.get("error")
                    raise DockerOperationError(ref, "Récupération de l'image", detail)
                status = event.get("status", "")
                if status.startswith(("Digest:", "Status:")):
                    messages.append(status)
        except TRANSPORT_ERRORS as error:
            raise DockerOperationError(ref, "Récupération de l'image", _detail(error)) from error
        return PullResult(ref, tuple(messages))

    # -- containers ---------------------------------------------------------------------

    def create(self, spec: ContainerSpec, scope: str, name: str | None = None) -> str:
        """Create (not start) the container of spec; returns its id."""
        name = name or spec.name
        host_config = self.client.create_host_config(
            port_bindings=_port_bindings(spec),
            binds=[f"{v.host_dir}:{v.container_dir}:rw" for v in spec.volumes],
            restart_policy={"Name": restart_policy(spec)},
            security_opt=["no-new-privileges:true"],
            privileged=False,
        )
        created = self._call(name, "Création du conteneur", self.client.create_container,
                             image=str(spec.image), name=name, detach=True, labels=labels_for(spec, scope),
                             ports=sorted({(p.container_port, "tcp") for p in spec.ports}),
                             host_config=host_config)
        return created["Id"]

    def start(self, container: str) -> None:
        self._call(container, "Démarrage du conteneur", self.client.start, container)

    def stop(self, container: str, timeout: int = STOP_TIMEOUT) -> None:
        self._call(container, "Extinction du conteneur", self.client.stop, container, timeout=timeout)

    def remove(self, container: str) -> None:
        # v=False: anonymous volumes hold data; they are never deleted by the module.
        self._call(container, "Suppression du conteneur", self.client.remove_container,
                   container, v=False, force=True)

    def rename(self, container: str, name: str) -> None:
        self._call(container, "Renommage du conteneur", self.client.rename, container, name)


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
