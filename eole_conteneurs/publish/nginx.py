"""nginx as a web server of the module: `nginx -t`, a reload confirmed by new workers, its master found.

The transaction itself (check, write, test, reload or roll back) is WebServer's.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eole_conteneurs.publish.detection import NGINX_BINARY, NGINX_PID_FILE, NGINX_TITLE, server_master
from eole_conteneurs.publish.webserver import WebServer, WebServerError, children, run_tool

if TYPE_CHECKING:
    import subprocess

DEFAULT_PREFIX = Path("/usr/share/nginx")  # Debian's compiled-in prefix, for relative pid paths


@dataclass(eq=False)
class Nginx(WebServer):
    """The nginx binary, its running master, and the module's files changed as a transaction."""

    binary: str = str(NGINX_BINARY)
    args: tuple[str, ...] = ()
    reload_timeout: float = 10.0

    label = "nginx"
    check_command = "nginx -t"
    output_label = "de nginx"
    check_args = ("-t",)
    # `nginx -s reload` only sends SIGHUP and exits 0 even when the master then fails to apply the
    # configuration (e.g. a port already in use): new workers appearing is the proof it worked.
    reload_args = ("-s", "reload")

    def command(self, *arguments: str) -> list[str]:
        return [self.binary, *self.args, *arguments]

    def master(self) -> int | None:
        return server_master(self._pid_file(), NGINX_TITLE)

    def confirm_reload(self, master: int, before: set[int]) -> None:
        deadline = time.monotonic() + self.reload_timeout
        while not (children(master) - before):
            if time.monotonic() > deadline:
                raise self._error(WebServerError, "nginx n'a pas appliqué la nouvelle configuration "
                                                  "(voir son journal d'erreurs)")
            time.sleep(0.05)
        # Old workers accept connections until the master tells them to quit: wait for that, so
        # that the next request sees the new configuration (a long connection may keep one alive).
        while any(_serving(worker) for worker in before) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _pid_file(self) -> Path:
        dump = self._run("-T")
        match = re.search(r"^\s*pid\s+([^;\s]+)\s*;", dump.stdout, re.MULTILINE) if dump.returncode == 0 else None
        if match is None:
            return NGINX_PID_FILE
        path = Path(match.group(1))
        args = list(self.args)
        prefix = Path(args[args.index("-p") + 1]) if "-p" in args[:-1] else DEFAULT_PREFIX
        return path if path.is_absolute() else prefix / path

    def _run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return run_tool(self.command(*extra), "nginx")


def _serving(worker: int) -> bool:
    """Alive and not yet told to quit (nginx retitles a quitting worker "... is shutting down")."""
    try:
        title = Path(f"/proc/{worker}/cmdline").read_bytes()
    except OSError:
        return False
    return b"shutting down" not in title
