"""A thin, read-only client of the Docker Engine API, on the standard library alone.

A reconfigure that changes nothing only reads: is dockerd up, which containers exist, which
images are present and whether the registry has a newer one. Importing the Docker SDK for that
costs more than the whole answer (requests, urllib3, …), so reads go through this client and the
SDK is imported only when something has to change (docker_engine.py).

Plain HTTP/1.0 requests: dockerd answers with the whole body and closes the connection.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

READ_TIMEOUT = 30.0
DIGITS = re.compile(r"[0-9]+")  # not str.isdigit(): it accepts « ² » and other digits int() refuses
NOT_FOUND = 404


class EngineSocketError(OSError):
    """dockerd did not answer as expected (connection refused, timeout, malformed reply)."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    def json(self):
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
        return socket.create_connection(self.address, timeout=timeout)

    # -- the reads the module needs ------------------------------------------------------

    def ping(self, timeout: float = 5.0) -> None:
        reply = self.get("/_ping", timeout)
        if reply.status != 200:
            raise EngineSocketError(f"/_ping : HTTP {reply.status}")

    def containers(self) -> list[dict]:
        return self._expect_ok(self.get("/containers/json?all=1"), "liste des conteneurs")

    def image(self, ref: str) -> dict | None:
        return self._found(self.get(f"/images/{quote(ref, safe='')}/json"), ref)

    def container(self, name: str) -> dict | None:
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

    def _found(self, reply: Reply, what: str) -> dict | None:
        return None if reply.status == NOT_FOUND else self._expect_ok(reply, what)

    @staticmethod
    def _expect_ok(reply: Reply, what: str):
        if reply.status != 200:
            message = reply.body.decode("utf-8", "replace").strip()
            try:
                message = json.loads(message).get("message", message)
            except (ValueError, AttributeError):
                pass
            raise EngineSocketError(f"{what} : HTTP {reply.status} {message}".strip())
        return reply.json()


def _read_all(connection: socket.socket) -> bytes:
    chunks = []
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
    parts, position = [], 0
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
