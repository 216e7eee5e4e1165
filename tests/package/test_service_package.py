"""The real service (examples/service-notes.eol) from the built package: its data and secret survive an
upgrade of the package, and a purge followed by a reinstallation brings it back with its data.

Runs the installed command only (cwd=/, no PYTHONPATH), in a label scope of the test's own.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.integration.conftest import build_service_images, docker, free_port, https, service_example
from tests.package.conftest import (SCOPE_LABEL, dpkg_install, installed_status, purge, reconfigure, report,
                                    write_config)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installing a package needs root")
SECRETS = Path("/var/lib/eole-conteneurs/secrets")


@pytest.fixture
def service(scoped, nginx_files, deb, tmp_path):
    """The example renamed for the test; afterwards the package purged and the test's volume removed."""
    scope, prefix, env = scoped
    build_service_images()
    document, passwords = service_example(prefix, free_port())
    config = tmp_path / "config.eol"
    config.write_text(json.dumps(document, ensure_ascii=False))
    yield scope, prefix, env, config, passwords
    if installed_status().startswith("ii"):
        purged = purge(scope)
        assert purged.returncode == 0, report(purged)
    docker("rm", "-f", f"{prefix}-notes-base", f"{prefix}-notes-appli", check=False)
    docker("volume", "rm", f"{prefix}-notes-donnees", check=False)


def notes(prefix: str, query: str = "") -> tuple[int, str]:
    """The application's page through nginx; retried while the database it uses becomes ready."""
    deadline = time.monotonic() + 60
    while True:
        status, body, _ = https(f"/{prefix}-notes-appli/cgi-bin/notes{query}")
        if status == 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(1)


def events(scope: str, since: float) -> list[str]:
    """What was done to the scope's containers; the health checks' own runs (exec, health_status) are not."""
    listed = docker("events", "--since", f"{since:.9f}", "--until", f"{time.time():.9f}",
                    "--filter", f"label={SCOPE_LABEL}={scope}", "--format", "{{.Action}}", timeout=60)
    return [action for action in listed.stdout.splitlines()
            if not action.startswith(("exec_", "health_status"))]


def test_service_survives_upgrade_and_purge(service, deb):
    scope, prefix, env, config, passwords = service
    installed = dpkg_install(deb)
    assert installed.returncode == 0, report(installed)
    first = reconfigure(config, env)
    assert first.returncode == 0, report(first)
    assert notes(prefix, "?ajout=avant") == (200, "avant\n")

    # Upgraded (the same package installed over itself runs every upgrade script), then reconfigured.
    again = dpkg_install(deb, upgrade=True)
    assert again.returncode == 0, report(again)
    since = time.time()
    second = reconfigure(config, env)
    assert second.returncode == 0, report(second)
    assert events(scope, since) == [], report(second)
    assert notes(prefix) == (200, "avant\n")

    # Purged: the disposable containers, their network and their secrets go; the data volume stays.
    purged = purge(scope)
    assert purged.returncode == 0, report(purged)
    assert docker("inspect", f"{prefix}-notes-base", check=False).returncode != 0
    assert docker("network", "inspect", f"{prefix}-notes", check=False).returncode != 0
    assert not (SECRETS / f"{prefix}-notes-base").exists()
    volume = json.loads(docker("volume", "inspect", f"{prefix}-notes-donnees").stdout)[0]
    assert volume["Labels"][SCOPE_LABEL] == scope

    # Reinstalled with the same config.eol: the service is back, with its data.
    reinstalled = dpkg_install(deb, upgrade=True)
    assert reinstalled.returncode == 0, report(reinstalled)
    third = reconfigure(config, env)
    assert third.returncode == 0, report(third)
    assert notes(prefix, "?ajout=apres") == (200, "avant\napres\n")
    for password in passwords.values():
        assert all(password not in text for text in (first.stdout, second.stdout, third.stdout, purged.stdout,
                                                     purged.stderr)), password
