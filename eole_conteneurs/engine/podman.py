"""Podman, through the Docker-compatible API of `podman system service`: the same Engine as dockerd's.

Reads and changes go through the same clients as Docker's (reader.py, sdk.py); what differs is here:
- pulls go through Podman's own endpoint, which takes tlsVerify: a registry on the loopback is
  spoken to in plain HTTP, as dockerd does by default (Podman would insist on TLS);
- the registry's digest is asked of the registry itself (no /distribution endpoint: registry.py);
- every container gets explicit nofile/nproc limits, those of the API service: Podman otherwise asks
  the runtime for 1048576 open files, which a host without CAP_SYS_RESOURCE refuses at start
  (« error setting rlimit type 7: operation not permitted »);
- health checks: Podman runs them from systemd timers; where there is no systemd they never run,
  so reading a running container with a health check runs it (`podman healthcheck run`) when one is
  due as dockerd would have run it (one interval after the start, then one per interval): the
  module's waits get Docker's answer at Docker's pace. A container without one reports no health,
  as dockerd does (Podman reports an empty status).
"""

from __future__ import annotations

import json
import resource
import socket
import struct
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from eole_conteneurs.engine.api import (PODMAN, PODMAN_SOCKET, DockerOperationError, ObservedResource,
                                        PodmanUnavailable, PullResult, running_for)
from eole_conteneurs.engine.dockerd import DockerEngine
from eole_conteneurs.engine.reader import PROBE_TIMEOUT, EngineSocketError, SocketReader, pinned
from eole_conteneurs.engine.reference import Reference, qualified
from eole_conteneurs.engine.sdk import CLIENT_TIMEOUT, SdkClient, SdkWriter, error_detail, import_sdk, sdk_errors

if TYPE_CHECKING:
    from eole_conteneurs.engine.creation import CreateRequest

LIBPOD = "/v4.0.0/libpod"  # Podman's own endpoints, beside the compatible ones
SYSTEMD = Path("/run/systemd/system")  # there when systemd is the init (Podman then times health checks itself)
DEFAULT_HEALTH_INTERVAL = 30.0  # s, Docker's and Podman's when a health check gives none
MAX_LIMIT = 1048576  # what Podman asks for by default: never more
LIMITS = {"nofile": ("Max open files", resource.RLIMIT_NOFILE), "nproc": ("Max processes", resource.RLIMIT_NPROC)}


@dataclass(frozen=True, eq=False)
class PodmanReader(SocketReader):
    # Container id → when its health check was last run here (time.monotonic()).
    _checked: dict[str, float] = field(default_factory=dict, repr=False)

    def ping(self) -> None:
        try:
            self.client.ping()
        except EngineSocketError as error:
            raise PodmanUnavailable(str(error)) from error

    def inspect(self, container: str) -> dict[str, Any] | None:
        found = super().inspect(container)
        if found is not None and self._health_check_due(found):
            self._run_health_check(str(found.get("Id") or container))
            found = super().inspect(container) or found
        return _without_empty_health(found) if found is not None else None

    def _health_check_due(self, container: dict[str, Any]) -> bool:
        """As dockerd schedules it: a first run one interval after the start, then one per interval. Under
        systemd, Podman's own timers run it."""
        state = container.get("State") or {}
        if not _health_check(container) or not state.get("Running") or SYSTEMD.is_dir():
            return False
        interval = ((container.get("Config") or {}).get("Healthcheck") or {}).get("Interval") or 0
        seconds = interval / 1e9 if isinstance(interval, (int, float)) and interval > 0 else DEFAULT_HEALTH_INTERVAL
        identifier, now = str(container.get("Id")), time.monotonic()
        last = self._checked.get(identifier)
        if (now - last if last is not None else running_for(state)) < seconds:
            return False
        self._checked[identifier] = now
        return True

    def _run_health_check(self, container: str) -> None:
        """Its result is recorded in the container's state, read next; a failure to run it is a failed check."""
        try:
            self.client.get(f"{LIBPOD}/containers/{quote(container, safe='')}/healthcheck")
        except EngineSocketError:
            pass  # read as it is: the state says what Podman knows

    def networks(self) -> list[ObservedResource]:
        """Podman's own list: its compatible one inspects every network (≈ 30 ms, on every run)."""
        listed = self._listing(f"{LIBPOD}/networks/json", "liste des réseaux")
        return [ObservedResource(str(entry.get("name", "")), entry.get("labels") or {}) for entry in listed]

    def _local_name(self, ref: str) -> str:
        return qualified(ref)

    def _registry_digest(self, ref: str) -> str:
        """Asked of the registry itself: Podman's API has no /distribution."""
        from eole_conteneurs.engine.registry import RegistryError, manifest_digest  # http.client, ssl: when asked

        try:
            return manifest_digest(ref, PROBE_TIMEOUT)
        except RegistryError as error:
            raise EngineSocketError(str(error)) from error


def _health_check(container: dict[str, Any]) -> bool:
    test = ((container.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def _without_empty_health(container: dict[str, Any]) -> dict[str, Any]:
    state = container.get("State")
    if isinstance(state, dict) and "Health" in state and not _health_check(container):
        container = dict(container, State={key: value for key, value in state.items() if key != "Health"})
    return container


class PodmanWriter(SdkWriter):
    def __init__(self, client: SdkClient, socket_path: str):
        super().__init__(client)
        self.socket_path = socket_path
        self._limits: list[Any] | None = None

    def pull(self, ref: str) -> PullResult:
        """Podman's pull endpoint; its stream ends with the image id or an error."""
        query = {"reference": qualified(ref), "quiet": "false"}
        if Reference.parse(ref.split("@", 1)[0] if pinned(ref) else ref).plain_http:
            query["tlsVerify"] = "false"
        api = self.client.api  # a requests session: Podman's own endpoint is not in the SDK
        messages: list[str] = []
        try:
            with api.post(f"{api.base_url}{LIBPOD}/images/pull?{urlencode(query)}", stream=True,
                          timeout=self.client.timeout) as response:
                if response.status_code != 200:
                    raise DockerOperationError(ref, "Récupération de l'image",
                                               f"HTTP {response.status_code} {response.text.strip()}")
                for line in response.iter_lines():
                    event = json.loads(line) if line.strip() else {}
                    if event.get("error"):
                        raise DockerOperationError(ref, "Récupération de l'image", str(event["error"]))
                    if event.get("id"):
                        messages.append(f"Status: image {str(event['id'])[:12]} récupérée par Podman")
        except (ValueError, AttributeError) as error:
            raise DockerOperationError(ref, "Récupération de l'image", f"réponse illisible de Podman ({error})") from error
        except sdk_errors() as error:
            raise DockerOperationError(ref, "Récupération de l'image", error_detail(error)) from error
        return PullResult(ref, tuple(messages))

    def create(self, request: CreateRequest) -> str:
        return super().create(replace(request, image=qualified(request.image)))

    def host_options(self) -> dict[str, Any]:
        if self._limits is None:
            docker = import_sdk()
            self._limits = [docker.types.Ulimit(name=name, soft=limit, hard=limit)
                            for name, limit in service_limits(self.socket_path).items()]
        return {"ulimits": self._limits}


def service_limits(socket_path: str) -> dict[str, int]:
    """nofile and nproc: at most the hard limits of the process serving the API (the runtime it runs inherits
    them, and cannot raise them without CAP_SYS_RESOURCE) and this process's; never above Podman's default.

    The peer of the socket is the service when it listens itself (started by the module); under socket
    activation it is systemd, whose limits bound the service's too."""
    own = {name: resource.getrlimit(which)[1] for name, (_, which) in LIMITS.items()}
    served = _peer_limits(socket_path)
    return {name: min(value for value in (served.get(name), own[name], MAX_LIMIT)
                      if value is not None and value >= 0) for name in LIMITS}


def _peer_limits(socket_path: str) -> dict[str, int]:
    """The hard limits of whoever listens on the socket, from /proc (SO_PEERCRED gives its pid)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            probe.connect(socket_path)
            pid, _, _ = struct.unpack("3i", probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                             struct.calcsize("3i")))
        with open(f"/proc/{pid}/limits", encoding="ascii") as limits:
            lines = limits.read().splitlines()
    except (OSError, struct.error, UnicodeDecodeError):
        return {}
    found = {}
    for name, (title, _) in LIMITS.items():
        for line in lines:
            if line.startswith(title):
                hard = line[len(title):].split()[1:2]
                if hard and hard[0].isascii() and hard[0].isdigit():
                    found[name] = int(hard[0])
    return found


def connect(base_url: str = PODMAN_SOCKET, timeout: int = CLIENT_TIMEOUT) -> DockerEngine:
    """The engine of `podman system service` on a local socket; PodmanUnavailable when it does not answer."""
    parts = urlsplit(base_url)
    reader = PodmanReader.for_url(base_url)
    if parts.scheme not in ("unix", "http+unix") or not isinstance(reader, PodmanReader):
        raise PodmanUnavailable(f"{base_url} : seul un socket local est pris en charge")
    engine = DockerEngine(reader, PodmanWriter(SdkClient(base_url, timeout), parts.path), technology=PODMAN)
    engine.ping()  # PodmanReader's: PodmanUnavailable
    return engine
