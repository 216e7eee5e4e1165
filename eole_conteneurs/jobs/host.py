"""The host around Docker: the docker service and IP forwarding (the seed's two extra steps)."""

from __future__ import annotations

import time
from pathlib import Path

from eole_conteneurs.engine.api import DockerUnavailable
from eole_conteneurs.engine.dockerd import DockerEngine
from eole_conteneurs.journal import Journal

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
SERVICE_TIMEOUT = 60


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
    import subprocess  # only when dockerd is down: a no-op reconfigure never runs a command

    journal.step("Démarrage du service : service docker start")
    try:
        started = subprocess.run(["service", "docker", "start"], capture_output=True, text=True,
                                 timeout=SERVICE_TIMEOUT, check=False)
        output = (started.stdout + started.stderr).strip().splitlines()
    except (OSError, subprocess.TimeoutExpired) as error:
        output = [str(error)]
    deadline = time.monotonic() + wait
    while True:
        try:
            return DockerEngine.connect(base_url)
        except DockerUnavailable as error:
            if time.monotonic() >= deadline:
                detail = output[-1] if output else "aucune sortie"
                raise DockerUnavailable(f"{base_url} ; « service docker start » : {detail}") from error
        time.sleep(0.5)
