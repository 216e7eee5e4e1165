"""Commands run inside a running container with a file on their standard output or input (backup exports).

Through the engine's own client (`docker exec`), which streams both ways: the SDK's exec cannot close
a command's standard input without closing the whole connection.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import IO

from eole_conteneurs.engine.api import DOCKER_SOCKET
from eole_conteneurs.errors import EoleConteneursError, clipped, visible

DOCKER_CLI = "/usr/bin/docker"
REASON_CHARS = 400  # of the command's error output, in the message


class ExecFailed(EoleConteneursError):
    """A command run in a container failed: names the container, the command and why."""

    def __init__(self, container: str, command: tuple[str, ...], detail: str):
        self.container, self.detail = container, detail
        shown = clipped(" ".join(command), 80)
        super().__init__(f"commande « {shown} » dans le conteneur {container} : {detail}")


def run_with_output(container: str, command: tuple[str, ...], output: IO[bytes],
                    docker_url: str = DOCKER_SOCKET, timeout: float | None = None) -> None:
    """Runs command in container, its standard output written to output; raises ExecFailed unless it exits 0."""
    _run(container, command, docker_url, stdin=subprocess.DEVNULL, stdout=output, timeout=timeout)


def run_with_input(container: str, command: tuple[str, ...], source: Path,
                   docker_url: str = DOCKER_SOCKET, timeout: float | None = None) -> None:
    """Runs command in container with source on its standard input; raises ExecFailed unless it exits 0."""
    with open(source, "rb") as stdin:
        _run(container, command, docker_url, stdin=stdin, stdout=subprocess.DEVNULL, timeout=timeout, interactive=True)


def _run(container: str, command: tuple[str, ...], docker_url: str, stdin: int | IO[bytes],
         stdout: int | IO[bytes], timeout: float | None, interactive: bool = False) -> None:
    if not os.access(DOCKER_CLI, os.X_OK):
        raise ExecFailed(container, command, f"{DOCKER_CLI} absent (paquet docker.io)")
    argv = [DOCKER_CLI, "-H", docker_url, "exec"] + (["-i"] if interactive else []) + [container, *command]
    try:
        done = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ExecFailed(container, command, f"toujours en cours après {timeout:.0f} s, interrompue") from None
    except OSError as error:
        raise ExecFailed(container, command, error.strerror or str(error)) from None
    if done.returncode != 0:
        reason = visible(done.stderr.decode("utf-8", "replace").strip()[-REASON_CHARS:]) or "aucun message"
        raise ExecFailed(container, command, f"code de sortie {done.returncode} ({reason})")
