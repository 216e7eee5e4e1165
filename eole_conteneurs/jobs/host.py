"""The host around the engines: the docker service, Podman's API service, IP forwarding (the seed's extra steps)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

from eole_conteneurs.engine.api import DockerUnavailable, PodmanUnavailable
from eole_conteneurs.engine.dockerd import DockerEngine
from eole_conteneurs.journal import Journal

if TYPE_CHECKING:
    import subprocess

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
SERVICE_TIMEOUT = 60
PODMAN_LOG = Path("/var/log/eole-conteneurs-podman.log")
SYSTEMD_SOCKET = "/run/podman/podman.sock"  # where podman.socket listens


class PodmanMissing(PodmanUnavailable):
    def __init__(self) -> None:
        super().__init__("podman absent", "Podman n'est pas installé sur ce serveur (paquet podman)")


def enable_ip_forward(journal: Journal, path: Path = IP_FORWARD) -> None:
    """Published ports need forwarding; Docker sets it too, but only when it starts."""
    journal.step("sysctl -w net.ipv4.ip_forward=1")
    try:
        if path.read_text().strip() != "1":
            path.write_text("1\n")
    except OSError as error:
        journal.warn(f"net.ipv4.ip_forward non modifiable ({error.strerror})")
        return
    journal.step("net.ipv4.ip_forward = 1")


def connect_or_start_docker(journal: Journal, base_url: str, wait: float = SERVICE_TIMEOUT) -> DockerEngine:
    """Connect to dockerd, starting the docker service first when it does not answer."""
    try:
        return DockerEngine.connect(base_url)
    except DockerUnavailable:
        pass
    journal.step("Démarrage du service : service docker start")
    detail = _run_service(["service", "docker", "start"])
    return _retry(lambda: DockerEngine.connect(base_url), wait, lambda: DockerUnavailable(f"{base_url} ; {detail}"))


def connect_or_start_podman(journal: Journal, base_url: str, wait: float = SERVICE_TIMEOUT) -> DockerEngine:
    """Connect to Podman's API service, starting it first when it does not answer (PodmanUnavailable otherwise).

    Under systemd, its podman.socket (root only, 0660 root:root) when the module uses that path; elsewhere
    `podman system service` started by the module, left running (--time=0) as dockerd is, on a socket in a
    directory only root may enter.
    """
    from eole_conteneurs.engine import podman

    try:
        return podman.connect(base_url)
    except PodmanUnavailable as error:
        if shutil.which("podman") is None:
            raise PodmanMissing() from error
        if urlsplit(base_url).scheme not in ("unix", "http+unix"):
            raise  # never an API service started on a network address
    path = urlsplit(base_url).path
    if podman.SYSTEMD.is_dir() and path == SYSTEMD_SOCKET:  # systemd is the init: its podman.socket serves the API
        journal.step("Démarrage du service : systemctl start podman.socket")
        detail = _run_service(["systemctl", "start", "podman.socket"])
    else:
        journal.step(f"Démarrage du service : podman system service --time=0 {base_url}")
        service = _spawn_podman(base_url, path)
        if isinstance(service, str):
            raise PodmanUnavailable(f"{base_url} ; {service}")
        started: subprocess.Popen[bytes] = service
        # Waited for while it runs: one that ended (its socket refused, say) will not answer.
        return _retry(lambda: podman.connect(base_url), wait,
                      lambda: PodmanUnavailable(f"{base_url} ; {_ended(started)}"), alive=lambda: started.poll() is None)
    return _retry(lambda: podman.connect(base_url), wait, lambda: PodmanUnavailable(f"{base_url} ; {detail}"))


def _spawn_podman(base_url: str, path: str) -> subprocess.Popen[bytes] | str:
    """The service started in a session of its own (it outlives the run), or why it could not be."""
    import subprocess  # only when the service is down

    try:
        Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(os.open(PODMAN_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as log:
            return subprocess.Popen(["podman", "--log-level=error", "system", "service", "--time=0", base_url],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd="/", start_new_session=True)
    except OSError as error:
        return f"« podman system service » : {error.strerror or error}"


def _ended(service: subprocess.Popen[bytes]) -> str:
    code = service.poll()
    state = "toujours sans réponse" if code is None else f"arrêté (code {code})"
    return f"« podman system service » {state} ; journal : {PODMAN_LOG}"


def _run_service(command: list[str]) -> str:
    import subprocess  # only when a service is down: a no-op reconfigure never runs a command

    try:
        started = subprocess.run(command, capture_output=True, text=True, timeout=SERVICE_TIMEOUT, check=False)
        output = (started.stdout + started.stderr).strip().splitlines()
    except (OSError, subprocess.TimeoutExpired) as error:
        output = [str(error)]
    return f"« {' '.join(command)} » : {output[-1] if output else 'aucune sortie'}"


def _retry(connect: Callable[[], DockerEngine], wait: float, failure: Callable[[], DockerUnavailable],
           alive: Callable[[], bool] = lambda: True) -> DockerEngine:
    deadline = time.monotonic() + wait
    while True:
        try:
            return connect()
        except DockerUnavailable as error:
            if time.monotonic() >= deadline or not alive():
                raise failure() from error
        time.sleep(0.5)
