"""Apache as a web server of the module: `apache2ctl configtest`, a graceful reload confirmed, its master found.

Used where Apache already serves the web (EOLE's eole-web): the containers are published as
Location blocks in Apache's own configuration, nginx is not started. The transaction itself is
WebServer's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from eole_conteneurs.publish.detection import APACHE_CTL, APACHE_PID_FILE, APACHE_TITLE, server_master
from eole_conteneurs.publish.webserver import WebServer, WebServerError, children

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
    check_args = ("configtest",)
    reload_args = ("graceful",)

    def master(self) -> int | None:
        return server_master(self.pid_file, APACHE_TITLE)

    def confirm_reload(self, master: int, before: set[int]) -> None:
        deadline = time.monotonic() + self.reload_timeout
        # A graceful restart keeps the master and replaces its children: a new child is the proof
        # that the master read the new configuration (a master that failed to do so exits).
        while not (children(master) - before):
            if self.master() != master or time.monotonic() > deadline:
                raise self._error(WebServerError, "Apache n'a pas appliqué la nouvelle configuration "
                                                  "(voir son journal d'erreurs)")
            time.sleep(0.05)
