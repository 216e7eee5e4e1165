"""The service of examples/service-notes.eol on real software, through `reconfigure` and nginx.

A MariaDB server (Debian's packages, tests/images/service.sh) and an application that writes and
reads notes in it over a private network, reaching it by name, with its password from a secret.
The example is taken as it is, only renamed for the bench (names, volume, network, port, secrets).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.integration.conftest import (SECRETS, build_service_images, docker, free_port, https, service_example,
                                       sh, timestamp)

LOG = Path("/var/log/reconfigure.log")


@pytest.fixture(scope="module")
def service_images(lab):
    build_service_images()


@pytest.fixture
def notes(bench, nginx_files, service_images):
    """The example renamed for this bench, with passwords nobody else uses."""
    document, passwords = service_example(bench.prefix, free_port())
    bench.config_path.write_text(json.dumps(document, ensure_ascii=False))
    yield document, passwords
    docker("volume", "rm", bench.name("notes-donnees"), check=False)


def reconfigure(bench) -> subprocess.CompletedProcess:
    result = bench.command("reconfigure", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def notes_page(bench, query: str = "") -> tuple[int, str]:
    status, body, _ = https(f"/{bench.name('notes-appli')}/cgi-bin/notes{query}")
    return status, body


def first_healthy(state: dict) -> datetime:
    log = state["State"]["Health"]["Log"]
    return min(timestamp(entry["End"]) for entry in log if entry["ExitCode"] == 0)


def wait_healthy(bench, seconds: float = 60) -> subprocess.CompletedProcess:
    """status --json once the database reports healthy (its first check comes 5 s after its start)."""
    deadline = time.monotonic() + seconds
    while True:
        status = bench.command("status", "--json")
        if json.loads(status.stdout)[0]["sante"] == "healthy" or time.monotonic() > deadline:
            assert json.loads(status.stdout)[0]["sante"] == "healthy", status.stdout
            return status
        time.sleep(1)


def test_notes_service_end_to_end(bench, notes):
    document, passwords = notes
    base, appli = bench.name("notes-base"), bench.name("notes-appli")
    log_size = LOG.stat().st_size if LOG.exists() else 0

    first = reconfigure(bench)
    # The database was healthy before the application was created.
    assert timestamp(bench.inspect(appli)["Created"]) > first_healthy(bench.inspect(base))
    assert bench.inspect(base)["State"]["Health"]["Status"] == "healthy"

    # The application writes and reads through the database, reached by name on the private network.
    assert notes_page(bench, "?ajout=bonjour") == (200, "bonjour\n")
    assert notes_page(bench) == (200, "bonjour\n")
    network = json.loads(docker("network", "inspect", bench.name("notes")).stdout)[0]
    assert network["Labels"]["fr.eole.conteneurs.managed"] == bench.scope
    assert {base, appli} <= {entry["Name"] for entry in network["Containers"].values()}

    # A new tag recreates the database; the data is in its volume, so it is still there.
    old_id = bench.inspect(base)["Id"]
    document["conteneur1_tag"]["val"] = "10.11-bis"
    bench.config_path.write_text(json.dumps(document, ensure_ascii=False))
    second = reconfigure(bench)
    assert bench.inspect(base)["Id"] != old_id
    assert bench.inspect(base)["Config"]["Image"].endswith("eole-test/mariadb:10.11-bis")
    wait_healthy(bench)  # the new server opens its database a few seconds after its start
    assert notes_page(bench, "?ajout=encore")[1] == "bonjour\nencore\n"

    # Unchanged: nothing touched, plan says so.
    identities = [bench.identity(base), bench.identity(appli)]
    third = reconfigure(bench)
    assert [bench.identity(base), bench.identity(appli)] == identities
    plan = bench.plan()
    assert plan.returncode == 0, plan.stdout

    # The passwords appear nowhere they must not. (The recreated database is healthy a few seconds later.)
    status = wait_healthy(bench)
    outputs = [first.stdout, first.stderr, second.stdout, third.stdout, plan.stdout, status.stdout,
               bench.command("status").stdout, docker("inspect", base, appli).stdout,
               docker("logs", base).stdout + docker("logs", base).stderr,
               LOG.read_bytes()[log_size:].decode("utf-8", "replace")]
    for password in passwords.values():
        assert not any(password in text for text in outputs), password
    secret_file = Path(next(mount["Source"] for mount in bench.inspect(base)["Mounts"]
                            if mount["Destination"] == "/run/secrets/db_root"))
    assert secret_file.is_relative_to(SECRETS / base) and secret_file.read_text() == passwords["root"]
    denied = sh("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", secret_file, check=False)
    assert denied.returncode != 0 and passwords["root"] not in denied.stdout
