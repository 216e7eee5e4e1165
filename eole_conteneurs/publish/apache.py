"""Apache as a web server of the module: `apache2ctl configtest`, a graceful reload confirmed, its master found.

Used where Apache already serves the web (EOLE's eole-web): the containers are published as
Location blocks in Apache's own configuration, nginx is not started. The transaction itself is
WebServer's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from eole_conteneurs.publish.detection import APACHE_CTL, APACHE_PID_FILE
from eole_conteneurs.publish.webserver import WebServer, WebServerError, children, process_title, run_tool

SITE_DIR = Path("/etc/apache2/eole-conteneurs")  # one snippet per container
CONF_AVAILABLE = Path("/etc/apache2/conf-available/eole-conteneurs.conf")
CONF_ENABLED = Path("/etc/apache2/conf-enabled/eole-conteneurs.conf")
CONF_LINK = "../conf-available/eole-conteneurs.conf"  # what a2enconf writes


@dataclass(eq=False)
class Apache(WebServer):
    """apache2ctl, Apache's running master, and the module's files changed as a transaction."""

    binary: str = str(APACHE_CTL)
    pid_file: Path = APACHE_PID_FILE
    reload_timeout: float = 15.0

    label = "Apache"
    check_command = "apache2ctl configtest"
    output_label = "d'Apache"

    def check(self) -> tuple[bool, str]:
        result = run_tool([self.binary, "configtest"], "Apache")
        return result.returncode == 0, result.stdout

    def running(self) -> bool:
        return self._master() is not None

    def reload(self) -> None:
        master = self._master()
        if master is None:
            self.journal.step("Apache n'est pas démarré : la configuration sera utilisée à son prochain démarrage")
            return
        before = children(master)
        result = run_tool([self.binary, "graceful"], "Apache")
        if result.returncode != 0:
            raise WebServerError("Rechargement d'Apache impossible", result.stdout, self.output_label)
        # A graceful restart keeps the master and replaces its children: a new child is the proof
        # that the master read the new configuration (a master that failed to do so exits).
        deadline = time.monotonic() + self.reload_timeout
        while not (children(master) - before):
            if self._master() != master or time.monotonic() > deadline:
                raise WebServerError("Apache n'a pas appliqué la nouvelle configuration (voir son journal d'erreurs)",
                                     "", self.output_label)
            time.sleep(0.05)

    def _master(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        # A stale pid file may name a recycled pid: require Apache's own process.
        return pid if process_title(pid).split(b"\0")[0].rsplit(b"/", 1)[-1] == b"apache2" else None
