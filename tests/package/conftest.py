"""Shared by the package tests: building and installing the Debian package, running what it installed.

Fixtures are used by name; the plain helpers below are imported from here (a conftest), so that the
test modules never import one another. `lab` and `nginx_files` come from the integration bench's
conftest, which pytest does not show to this directory by itself.

Installing needs root (`make test` runs as root); the machine is left as it was: whatever a test
installed is purged, and purges run with a label scope of their own, so that the containers of other
scopes (the demo's, a benchmark's) are never touched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
import warnings
from pathlib import Path

import pytest

from tests.conftest import config_document
from tests.integration.conftest import docker, lab, nginx_files  # noqa: F401  (fixtures by name here)

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGE = "eole-conteneurs"
NB_MAX = 20

DICTIONARY = "usr/share/eole/creole/dicos/60_conteneurs.xml"
EXAMPLE = "usr/share/doc/eole-conteneurs/examples/config.eol"
PYTHON_PACKAGE = "usr/lib/python3/dist-packages/eole_conteneurs"
COMMAND = "usr/bin/eole-conteneurs"

SCOPE_LABEL = "fr.eole.conteneurs.managed"
NGINX_PID = Path("/run/nginx.pid")


def run(command: list[str], cwd: Path | str = CHECKOUT, env: dict[str, str] | None = None,
        timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8",
                          timeout=timeout, check=False)


def report(result: subprocess.CompletedProcess) -> str:
    return (f"$ {' '.join(map(str, result.args))}\nexit {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}")


def clean_env() -> dict[str, str]:
    """The environment of an administrator's shell: nothing pointing at the checkout."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}


def installed_status() -> str:
    return run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", PACKAGE], cwd="/").stdout.strip()


def installed_version() -> str:
    return run(["dpkg-query", "-W", "-f=${Version}", PACKAGE], cwd="/").stdout.strip()


def changelog_version(changelog: str) -> str:
    """The version of debian/changelog's first entry: `eole-conteneurs (0.2.0) unstable; …`."""
    match = re.match(r"\S+ \(([^)\s]+)\)", changelog)
    assert match, f"debian/changelog sans version en première ligne : {changelog[:200]!r}"
    return match.group(1)


def build_deb(checkout: Path, env: dict[str, str] | None = None) -> Path:
    """`make deb` in a checkout (its Makefile copies the files git knows about): the .deb built."""
    env = dict(env if env is not None else os.environ, NB_MAX=str(NB_MAX))
    result = run(["make", "deb"], cwd=checkout, env=env)
    assert result.returncode == 0, report(result)
    # build/deb is emptied by each `make deb`; build/ may keep the packages of other versions.
    built = sorted((checkout / "build" / "deb").glob(f"{PACKAGE}_*_all.deb"))
    assert len(built) == 1, f"{built}\n{report(result)}"
    path = checkout / "build" / built[0].name
    assert path.is_file(), report(result)
    return path


def dpkg_install(deb: Path, upgrade: bool = False) -> subprocess.CompletedProcess:
    """`dpkg -i`; replacing an installation the tests did not make is worth a warning."""
    if not upgrade and installed_status().startswith("ii"):
        warnings.warn(f"{PACKAGE} {installed_version()} was already installed: it is replaced now "
                      "and purged at the end")
    return run(["dpkg", "-i", str(deb)], cwd="/")


def purge(scope: str | None = None) -> subprocess.CompletedProcess:
    """`dpkg --purge`; the maintainer script removes the disposable containers of `scope` only.

    Without a scope, one nobody uses: the default one ("eole") may hold the demo's containers.
    """
    scope = scope or f"test-purge-{uuid.uuid4().hex[:10]}"
    return run(["dpkg", "--purge", PACKAGE], cwd="/", env=dict(clean_env(), EOLE_CONTENEURS_SCOPE=scope))


def remove_scope(scope: str) -> None:
    """Every container labelled with the test's scope, persistent ones included."""
    ids = docker("ps", "-aq", "--filter", f"label={SCOPE_LABEL}={scope}").stdout.split()
    if ids:
        docker("rm", "-f", *ids, check=False)


def container(index: int, name: str, port: int | None, host_dir: Path, persistent: str) -> dict:
    """Variables of one httpd container (the seed's image) serving host_dir; published if it has a port."""
    values = {
        f"conteneur{index}_nom": name, f"conteneur{index}_hub": "127.0.0.1:5000",
        f"conteneur{index}_depot": "httpd", f"conteneur{index}_tag": "2.4",
        f"conteneur{index}_rep_hote": [str(host_dir)],
        f"conteneur{index}_rep_conteneur": {"0": "/usr/local/apache2/htdocs"},
        f"conteneur{index}_persistance": persistent,
        f"conteneur{index}_mise_a_jour_delai": "1",  # a recreated version kept after 1 s of running (30 by default)
    }
    if port is not None:
        values.update({f"conteneur{index}_port_conteneur": ["80"],
                       f"conteneur{index}_port_hote": {"0": str(port)}})
    return values


def write_config(path: Path, values: dict) -> Path:
    path.write_text(json.dumps(config_document(values)), encoding="utf-8")
    return path


def reconfigure(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The installed command, as an administrator runs it: cwd=/, no PYTHONPATH."""
    return run([f"/{COMMAND}", "reconfigure", "--config", str(config)], cwd="/", env=env)


def nginx_workers() -> set[int]:
    """The system nginx's active workers: a reload replaces them all.

    Workers of an earlier reload still finishing their requests ("is shutting down") and the cache
    processes, which come and go by themselves, are left out so that only a reload changes the set.
    """
    master = NGINX_PID.read_text().strip()
    workers = set()
    for pid in run(["pgrep", "-P", master], cwd="/").stdout.split():
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"nginx: worker process") and b"shutting down" not in title:
            workers.add(int(pid))
    return workers


@pytest.fixture(scope="session")
def deb() -> Path:
    """`make deb` from the checkout, with the default number of families (built once per session)."""
    path = build_deb(CHECKOUT)
    version = run(["/usr/bin/python3", "-c", "import eole_conteneurs; print(eole_conteneurs.__version__)"])
    assert path.name == f"{PACKAGE}_{version.stdout.strip()}_all.deb", report(version)
    return path


@pytest.fixture(scope="module")
def installation(deb: Path):
    """`dpkg -i` of the package; `dpkg --purge` at the end of the module."""
    if os.geteuid() != 0:
        pytest.skip("installing a package needs root")
    result = dpkg_install(deb)
    yield result
    purged = purge()
    assert purged.returncode == 0, report(purged)
    assert not installed_status().startswith("ii"), installed_status()
    assert not Path("/", DICTIONARY).exists()
    assert not Path("/", PYTHON_PACKAGE).exists()


@pytest.fixture(scope="module")
def installed(installation: subprocess.CompletedProcess) -> None:
    if installation.returncode != 0:
        pytest.fail("the package is not installed:\n" + report(installation))


@pytest.fixture
def scoped(lab):  # noqa: F811
    """A label scope and a name prefix of the test's own; its containers are removed at the end."""
    scope = f"test-{uuid.uuid4().hex[:10]}"
    prefix = f"p{uuid.uuid4().hex[:6]}"
    env = dict(clean_env(), EOLE_CONTENEURS_SCOPE=scope)
    yield scope, prefix, env
    remove_scope(scope)
