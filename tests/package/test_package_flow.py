"""The whole flow from the built package: install, reconfigure, curl, change, reconfigure, purge.

Runs the installed command only (cwd=/, no PYTHONPATH), with its hooks from /usr/share/eole.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import WEB_D, docker, free_port, https, sh
from tests.package.conftest import PACKAGE, container, report, run, write_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installing a package needs root")


def podman(*args, **kwargs) -> subprocess.CompletedProcess:
    return sh("podman", *args, **kwargs)


@pytest.fixture
def flow(scoped, nginx_files, installed, tmp_path):
    scope, prefix, env = scoped
    yield scope, prefix, env, tmp_path


def test_install_reconfigure_change_purge(flow):
    scope, prefix, env, root = flow
    web, data, other = f"{prefix}-web", f"{prefix}-donnees", f"{prefix}-podman"
    values = {"activer_conteneurs": "oui", "nombre_conteneurs": "3",
              **container(1, web, free_port(), root / "web", "non"),
              **container(2, data, free_port(), root / "donnees", "oui"),
              **container(3, other, free_port(), root / "podman", "non"), "conteneur3_technologie": "podman"}
    config = write_config(root / "config.eol", values)
    for directory, page in (("web", "depuis le paquet"), ("podman", "sous Podman")):
        (root / directory).mkdir()
        (root / directory / "index.html").write_text(page)

    first = run(["/usr/bin/eole-conteneurs", "reconfigure", "--config", str(config)], cwd="/", env=env)
    assert first.returncode == 0, report(first)
    assert "/usr/share/eole/pretemplate/60-conteneurs" in first.stdout
    assert "/usr/share/eole/posttemplate/60-conteneurs" in first.stdout
    assert https(f"/{web}/")[:2] == (200, "depuis le paquet")
    assert https(f"/{other}/")[:2] == (200, "sous Podman")
    assert podman("inspect", "-f", "{{.State.Running}}", other).stdout.strip() == "true"
    ids = {name: docker("inspect", "-f", "{{.Id}}", name).stdout.strip() for name in (web, data)}

    values["conteneur1_port_hote"] = {"0": str(free_port())}
    write_config(config, values)
    second = run(["/usr/bin/eole-conteneurs", "reconfigure", "--config", str(config)], cwd="/", env=env)
    assert second.returncode == 0, report(second)
    after = {name: docker("inspect", "-f", "{{.Id}}", name).stdout.strip() for name in (web, data)}
    assert after[web] != ids[web] and after[data] == ids[data], "only the changed container is recreated"
    assert https(f"/{web}/")[:2] == (200, "depuis le paquet")

    # A copy of the web container, run from an image committed from it, inherits the module's labels:
    # it is not the module's, and the purge must leave it (issue 14, item 5).
    copy, copy_image = f"{prefix}-copie", f"{prefix}-copie:1"
    docker("commit", web, copy_image)
    docker("run", "-d", "--name", copy, copy_image)
    try:
        purge = subprocess.run(["apt-get", "purge", "-y", "-q", PACKAGE], capture_output=True, text=True,
                               env=dict(env, DEBIAN_FRONTEND="noninteractive"), timeout=600)
        assert purge.returncode == 0, purge.stdout + purge.stderr
        assert docker("inspect", copy, check=False).returncode == 0, "a copy the module did not make is kept"
    finally:
        docker("rm", "-f", copy, check=False)
        docker("rmi", copy_image, check=False)
    assert not list(WEB_D.glob("conteneur[0-9]*.conf")), "generated nginx files removed"
    assert not Path("/etc/nginx/conf.d/eole-conteneurs.conf").exists()
    assert not Path("/var/lib/eole-conteneurs").exists(), "state removed"
    assert docker("inspect", web, check=False).returncode != 0, "disposable container removed"
    assert podman("inspect", other, check=False).returncode != 0, "on Podman too"
    assert docker("inspect", "-f", "{{.Id}}", data).stdout.strip() == ids[data], "persistent container kept"
    assert (root / "web" / "index.html").read_text() == "depuis le paquet", "host directories kept"
    assert (root / "donnees").is_dir()
    assert subprocess.run(["nginx", "-t"], capture_output=True).returncode == 0
