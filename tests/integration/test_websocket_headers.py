"""The rendered nginx file forwards Upgrade/Connection for websocket upgrades only.

Self-contained: the seed's conteneur2 file is rendered from the templates, served by a private nginx
(its own configuration, pid, logs and ports under the test's directory; never /etc/nginx nor the
system's nginx) in front of a small Python backend that answers with the request headers it received.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from eole_conteneurs.config.loading import load_validated
from eole_conteneurs.creole.buildtime import expand_templates
from eole_conteneurs.creole.rendering import rendered_files
from tests.conftest import CHECKOUT
from tests.integration.conftest import private_nginx_conf

NGINX = "/usr/sbin/nginx"
SNIPPET = "/etc/eole-conteneurs/web/nginx/conteneur2.conf"
PREFIX = "/my-apache-app"

pytestmark = pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx absent")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Echo(BaseHTTPRequestHandler):
    """Answers with the path and headers it received; /tunnel accepts a websocket upgrade and echoes 4 bytes."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/tunnel" and (self.headers.get("Upgrade") or "").lower() == "websocket":
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.write(self.rfile.read(4))
            self.wfile.flush()
            self.close_connection = True
            return
        body = json.dumps({"path": self.path, "headers": [[k.lower(), v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 (BaseHTTPRequestHandler's name)
        pass


@pytest.fixture
def backend():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class PrivateNginx:
    """An nginx of the test's own, serving the rendered file in a server block, as the module's site does."""

    def __init__(self, root: Path, snippet: str):
        self.root, self.port = root, free_port()
        web = root / "web.d"
        web.mkdir()
        # The file's own logs go to the test's directory, not /var/log/nginx.
        (web / "conteneur2.conf").write_text(snippet.replace("/var/log/nginx/", f"{root}/"))
        self.pid_file = root / "nginx.pid"
        self.args = ["-c", str(root / "nginx.conf"), "-p", str(root), "-e", str(root / "error.log")]
        (root / "nginx.conf").write_text(private_nginx_conf(root, self.port, web, daemon=True))

    def start(self) -> None:
        tested = subprocess.run([NGINX, "-t", *self.args], capture_output=True, text=True, timeout=30)
        assert tested.returncode == 0, tested.stderr
        subprocess.run([NGINX, *self.args], check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 10
        while not self._accepts():
            assert time.monotonic() < deadline, "nginx privé non démarré"
            time.sleep(0.05)

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return self.pid_file.exists()

    def stop(self) -> None:
        try:
            master = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return
        os.kill(master, signal.SIGTERM)  # fast shutdown: nothing to finish gracefully
        deadline = time.monotonic() + 10
        while _running(master) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _running(master):
            os.kill(master, signal.SIGKILL)

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict]:
        """Status and, from the backend, {"path": …, "headers": {name: value}} (lower-case names)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            return response.status, {}
        received = json.loads(body)
        return response.status, {"path": received["path"], "headers": dict(received["headers"])}


def _running(pid: int) -> bool:
    """Alive, not a zombie waiting for init to reap it (the daemonized master's parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def proxy(tmp_path, write_config, dicos, seed, backend):
    """Start a private nginx serving the seed's conteneur2 file (port: the backend's), with `changes`."""
    templates = tmp_path / "tmpl"
    expand_templates(CHECKOUT / "tmpl", templates, 20)
    started: list[PrivateNginx] = []

    def start(**changes) -> PrivateNginx:
        values = dict(seed, conteneur2_port_hote={"0": str(backend)}, **changes)
        loaded = load_validated(write_config(values), dicos)
        files = {declaration.name: content for declaration, content in
                 rendered_files(loaded.dictionary, loaded.values, templates)}
        root = tmp_path / f"nginx{len(started)}"
        root.mkdir()
        instance = PrivateNginx(root, files[SNIPPET])
        started.append(instance)
        instance.start()
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.mark.parametrize("upgrade, connection", [
    ("h2c", "Upgrade, HTTP2-Settings"),
    ("h2c", "upgrade"),
    ("TLS/1.2", "Upgrade"),
    ("websocket, h2c", "Upgrade"),
    ("", "Upgrade"),
    (None, "keep-alive"),
])
def test_other_upgrades_never_reach_the_container(proxy, upgrade, connection):
    nginx = proxy()
    headers = {"Connection": connection} | ({"Upgrade": upgrade} if upgrade is not None else {})
    status, received = nginx.get(f"{PREFIX}/a/b?x=1", headers)
    assert status == 200 and received["path"] == "/a/b?x=1"
    assert "upgrade" not in received["headers"], received
    assert "upgrade" not in received["headers"].get("connection", "").lower(), received


@pytest.mark.parametrize("upgrade", ["websocket", "WebSocket"])
def test_websocket_upgrades_reach_the_container(proxy, upgrade):
    nginx = proxy()
    status, received = nginx.get(f"{PREFIX}/a/b?x=1", {"Upgrade": upgrade, "Connection": "keep-alive, Upgrade"})
    assert status == 200 and received["path"] == "/a/b?x=1"
    assert received["headers"]["upgrade"] == "websocket"
    assert received["headers"]["connection"] == "upgrade"
    assert received["headers"]["x-forwarded-prefix"] == PREFIX


def test_a_websocket_connection_is_tunnelled(proxy):
    nginx = proxy()
    with socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as client:
        client.sendall(f"GET {PREFIX}/tunnel HTTP/1.1\r\nHost: serveur\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        client.sendall(b"ping")
        echoed = head.partition(b"\r\n\r\n")[2]
        while len(echoed) < 4:
            chunk = client.recv(4096)
            assert chunk, echoed
            echoed += chunk
        assert echoed == b"ping"


def test_allowed_networks_still_apply_to_websocket_requests(proxy):
    """The if block (set only) inherits allow/deny: a websocket request from elsewhere is refused too."""
    nginx = proxy(conteneur2_reseau_autorise=["192.168.0.0"], conteneur2_masque_autorise={"0": "255.255.255.0"})
    for headers in ({"Upgrade": "websocket", "Connection": "Upgrade"}, {}):
        status, _ = nginx.get(f"{PREFIX}/", headers)
        assert status == 403
