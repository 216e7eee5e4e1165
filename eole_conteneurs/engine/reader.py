"""The reader implementation for local engines: a thin client of the Engine API on the standard library.

A reconfigure that changes nothing only reads: is dockerd up, which containers exist, which
images are present and whether the registry has a newer one. Importing the Docker SDK for that
costs more than the whole answer (requests, urllib3, …), so reads go through this client and the
SDK is imported only when something has to change (sdk.py).

Plain HTTP/1.0 requests: dockerd answers with the whole body and closes the connection.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from eole_conteneurs.engine.api import DockerOperationError, DockerUnavailable, ObservedContainer, ObservedResource

READ_TIMEOUT = 30.0
PROBE_TIMEOUT = 10.0  # asking the registry for a digest: beyond that, pull as the seed does
DIGITS = re.compile(r"[0-9]+")  # not str.isdigit(): it accepts « ² » and other digits int() refuses
NOT_FOUND = 404


class EngineSocketError(OSError):
    """dockerd did not answer as expected (connection refused, timeout, malformed reply)."""


@dataclass(frozen=True)
class Reply:
    """An HTTP reply of the Engine API."""

    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise EngineSocketError(f"réponse illisible de Docker ({error})") from error


@dataclass(frozen=True)
class EngineSocket:
    """Where dockerd listens: a unix socket path, or a host and port (tcp:// without TLS)."""

    path: str | None = None
    address: tuple[str, int] | None = None

    @classmethod
    def from_url(cls, url: str) -> "EngineSocket | None":
        """None for what only the SDK handles (TLS, ssh, npipe): reads then go through it."""
        parts = urlsplit(url)
        if parts.scheme in ("unix", "http+unix") and parts.path:
            return cls(path=parts.path)
        if parts.scheme == "tcp" and parts.hostname:
            try:
                return cls(address=(parts.hostname, parts.port or 2375))
            except ValueError:  # tcp://host:abc: the SDK reports the address as it sees it
                return None
        return None

    def get(self, path: str, timeout: float = READ_TIMEOUT) -> Reply:
        try:
            with self._connect(timeout) as connection:
                connection.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode("ascii"))
                raw = _read_all(connection)
        except OSError as error:
            raise EngineSocketError(str(error) or error.__class__.__name__) from error
        return _parse_reply(raw)

    def _connect(self, timeout: float) -> socket.socket:
        if self.path is not None:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(timeout)
            try:
                connection.connect(self.path)
            except OSError:
                connection.close()
                raise
            return connection
        assert self.address is not None  # from_url sets one of path and address
        return socket.create_connection(self.address, timeout=timeout)

    # -- the reads the module needs ------------------------------------------------------

    def ping(self, timeout: float = 5.0) -> None:
        reply = self.get("/_ping", timeout)
        if reply.status != 200:
            raise EngineSocketError(f"/_ping : HTTP {reply.status}")

    def containers(self) -> list[dict[str, Any]]:
        return self.listing("/containers/json?all=1", "liste des conteneurs")

    def image(self, ref: str) -> dict[str, Any] | None:
        return self._found(self.get(f"/images/{quote(ref, safe='')}/json"), ref)

    def disk_usage(self) -> Any:
        return self._expect_ok(self.get("/system/df"), "occupation des volumes")

    def listing(self, path: str, what: str, key: str | None = None) -> list[dict[str, Any]]:
        """A list of objects (containers, networks), or the one under key of the answer (volumes)."""
        listed = self._expect_ok(self.get(path), what)
        if key is not None:
            listed = (listed.get(key) or []) if isinstance(listed, dict) else None
        if not isinstance(listed, list) or not all(isinstance(entry, dict) for entry in listed):
            raise EngineSocketError(f"{what} : réponse inattendue de Docker")
        return listed

    def container(self, name: str) -> dict[str, Any] | None:
        return self._found(self.get(f"/containers/{quote(name, safe='')}/json"), name)

    def registry_digest(self, ref: str, timeout: float) -> str:
        """The digest the registry gives for ref now, asked through dockerd (its registry settings apply)."""
        reply = self.get(f"/distribution/{quote(ref, safe='/:')}/json", timeout)
        answer = self._expect_ok(reply, ref)
        descriptor = answer.get("Descriptor") if isinstance(answer, dict) else None
        digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
        if not isinstance(digest, str) or not digest:
            raise EngineSocketError(f"{ref} : pas d'empreinte dans la réponse du registre")
        return digest

    def _found(self, reply: Reply, what: str) -> dict[str, Any] | None:
        return None if reply.status == NOT_FOUND else self._expect_ok(reply, what)

    @staticmethod
    def _expect_ok(reply: Reply, what: str) -> Any:
        if reply.status != 200:
            message = reply.body.decode("utf-8", "replace").strip()
            try:
                message = json.loads(message).get("message", message)
            except (ValueError, AttributeError):
                pass
            raise EngineSocketError(f"{what} : HTTP {reply.status} {message}".strip())
        return reply.json()


@dataclass(frozen=True, eq=False)
class SocketReader:
    """The engine's Reader on EngineSocket: errors become the module's own."""

    client: EngineSocket

    @classmethod
    def for_url(cls, url: str) -> "SocketReader | None":
        """None for engines only the SDK reaches (TLS, ssh)."""
        socket = EngineSocket.from_url(url)
        return cls(socket) if socket is not None else None

    def ping(self) -> None:
        try:
            self.client.ping()
        except EngineSocketError as error:
            raise DockerUnavailable(str(error)) from error

    def containers(self) -> list[ObservedContainer]:
        try:
            summaries = self.client.containers()
        except EngineSocketError as error:
            raise DockerOperationError("Docker", "liste des conteneurs", str(error)) from error
        return [ObservedContainer.from_summary(summary) for summary in summaries]

    def image(self, ref: str) -> dict[str, Any] | None:
        try:
            return self.client.image(self._local_name(ref))
        except EngineSocketError as error:
            raise DockerOperationError(ref, "Lecture de l'image", str(error)) from error

    def _local_name(self, ref: str) -> str:
        """What the engine's image store knows ref by (Podman's: engine/podman.py)."""
        return ref

    def _registry_digest(self, ref: str) -> str:
        """The registry's digest for ref, asked through dockerd; EngineSocketError when there is none."""
        return self.client.registry_digest(ref, PROBE_TIMEOUT)

    def networks(self) -> list[ObservedResource]:
        return [ObservedResource.from_summary(entry) for entry in self._listing("/networks", "liste des réseaux")]

    def volumes(self) -> list[ObservedResource]:
        listed = self._listing("/volumes", "liste des volumes", "Volumes")
        return [ObservedResource.from_summary(entry) for entry in listed]

    def volume_sizes(self) -> dict[str, int]:
        try:
            usage = self.client.disk_usage()
        except EngineSocketError as error:
            raise DockerOperationError("Docker", "occupation des volumes", str(error)) from error
        return volume_sizes(usage)

    def _listing(self, path: str, what: str, key: str | None = None) -> list[dict[str, Any]]:
        try:
            return self.client.listing(path, what, key)
        except EngineSocketError as error:
            raise DockerOperationError("Docker", what, str(error)) from error

    def inspect(self, container: str) -> dict[str, Any] | None:
        try:
            return self.client.container(container)
        except EngineSocketError as error:
            raise DockerOperationError(container, "Lecture du conteneur", str(error)) from error

    def registry_digest(self, ref: str) -> str:
        """The digest the registry has under ref now (nothing pulled); DockerOperationError when it does not answer."""
        try:
            return self._registry_digest(ref)
        except EngineSocketError as error:
            raise DockerOperationError(ref, "Interrogation du registre", str(error)) from error

    def up_to_date(self, ref: str) -> bool:
        """True when the local image is the one the registry has under ref now: no pull needed.

        Any doubt (no local image, registry unreachable or slow) means False: the image is
        then pulled, as the seed always does. An image pinned by digest is the same everywhere:
        present is enough.
        """
        try:
            local = self.client.image(self._local_name(ref))
            digests = local.get("RepoDigests") if isinstance(local, dict) else None
            if pinned(ref) and isinstance(local, dict):
                return True
            if not isinstance(digests, list) or not digests:
                return False
            digest = self._registry_digest(ref)
        except EngineSocketError:
            return False
        return any(isinstance(entry, str) and entry.rpartition("@")[2] == digest for entry in digests)


def pinned(ref: str) -> bool:
    """repository@sha256:…: one exact image, the same on every registry."""
    return "@" in ref


def volume_sizes(usage: Any) -> dict[str, int]:
    """Volume name → bytes used, from the engine's disk usage report (-1 when it does not know)."""
    sizes = {}
    for volume in (usage.get("Volumes") or []) if isinstance(usage, dict) else []:
        size = (volume.get("UsageData") or {}).get("Size") if isinstance(volume, dict) else None
        if isinstance(volume, dict) and isinstance(size, int):
            sizes[str(volume.get("Name"))] = size
    return sizes


def _read_all(connection: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _parse_reply(raw: bytes) -> Reply:
    head, separator, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if not separator or len(status_line) < 2 or not DIGITS.fullmatch(status_line[1]):
        raise EngineSocketError("réponse HTTP malformée de Docker")
    headers = {key.strip().lower(): value.strip() for key, _, value in
               (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    elif DIGITS.fullmatch(headers.get("content-length", "")):
        length = int(headers["content-length"])
        if len(body) < length:
            raise EngineSocketError("réponse de Docker tronquée")
        body = body[:length]
    return Reply(int(status_line[1]), body)


def _unchunk(body: bytes) -> bytes:
    parts: list[bytes] = []
    position = 0
    while True:
        end = body.find(b"\r\n", position)
        if end < 0:
            raise EngineSocketError("réponse de Docker tronquée")
        try:
            size = int(body[position:end].split(b";")[0], 16)
        except ValueError as error:
            raise EngineSocketError("réponse de Docker malformée") from error
        if size == 0:
            return b"".join(parts)
        start = end + 2
        if len(body) < start + size:
            raise EngineSocketError("réponse de Docker tronquée")
        parts.append(body[start:start + size])
        position = start + size + 2
