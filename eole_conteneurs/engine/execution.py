"""Commands run inside a running container with a file on their standard output or input (backup exports).

Through the engine's own client (`docker exec`, `podman exec`), which streams both ways: the SDK's exec
cannot close a command's standard input without closing the whole connection.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from eole_conteneurs.engine.api import DOCKER, PODMAN, Endpoints
from eole_conteneurs.errors import EoleConteneursError, clipped, visible

CLIENTS = {DOCKER: "/usr/bin/docker", PODMAN: "/usr/bin/podman"}
PACKAGES = {DOCKER: "docker.io", PODMAN: "podman"}
REASON_CHARS = 400  # of the command's error output, in the message


class ExecFailed(EoleConteneursError):
    """A command run in a container failed: names the container, the command and why."""

    def __init__(self, container: str, command: tuple[str, ...], detail: str):
        self.container, self.detail = container, detail
        shown = clipped(" ".join(command), 80)
        super().__init__(f"commande « {shown} » dans le conteneur {container} : {detail}")


@dataclass(frozen=True)
class Where:
    """A container, and the engine that runs it."""

    container: str
    technology: str = DOCKER
    endpoints: Endpoints = Endpoints()


def run_with_output(where: Where, command: tuple[str, ...], output: IO[bytes], timeout: float | None = None) -> None:
    """Runs command in the container, its standard output written to output; raises ExecFailed unless it exits 0."""
    _run(where, command, stdin=subprocess.DEVNULL, stdout=output, timeout=timeout)


def run_with_input(where: Where, command: tuple[str, ...], source: Path, timeout: float | None = None) -> None:
    """Runs command in the container with source on its standard input; raises ExecFailed unless it exits 0."""
    with open(source, "rb") as stdin:
        _run(where, command, stdin=stdin, stdout=subprocess.DEVNULL, timeout=timeout, interactive=True)


def _run(where: Where, command: tuple[str, ...], stdin: int | IO[bytes], stdout: int | IO[bytes],
         timeout: float | None, interactive: bool = False) -> None:
    container, client = where.container, CLIENTS[where.technology]
    if not os.access(client, os.X_OK):
        raise ExecFailed(container, command, f"{client} absent (paquet {PACKAGES[where.technology]})")
    # Podman's client works on the host's containers itself: no service in between.
    engine = ["-H", where.endpoints.docker] if where.technology == DOCKER else []
    argv = [client, *engine, "exec"] + (["-i"] if interactive else []) + [container, *command]
    try:
        done = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ExecFailed(container, command, f"toujours en cours après {timeout:.0f} s, interrompue") from None
    except OSError as error:
        raise ExecFailed(container, command, error.strerror or str(error)) from None
    if done.returncode != 0:
        reason = visible(done.stderr.decode("utf-8", "replace").strip()[-REASON_CHARS:]) or "aucun message"
        raise ExecFailed(container, command, f"code de sortie {done.returncode} ({reason})")
