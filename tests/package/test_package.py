"""The Debian package: built by `make deb`, clean for lintian, installed, run, purged.

Installing needs root (`make test` runs as root); the machine is left as it was: the package is
purged at the end of the module, whatever happened (the `installation` fixture, conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tests.package.conftest import (COMMAND, DICTIONARY, EXAMPLE, NB_MAX, PACKAGE, PYTHON_PACKAGE, clean_env,
                                    installed_status, report, run)

EOLE_FILES = [DICTIONARY, EXAMPLE, f"{PYTHON_PACKAGE}/__init__.py", f"{PYTHON_PACKAGE}/commands/cli.py",
              f"{PYTHON_PACKAGE}/creole/data/creole.dtd", COMMAND]

EXPECTED_OUTPUT = ["hello-world", "my-apache-app", "127.0.0.1:5000/httpd:2.4", "127.0.0.1:8081→80",
                   "/var/eole-httpd → /usr/local/apache2/htdocs"]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="installing a package needs root")


def family_names(dictionary: Path) -> list[str]:
    return [family.get("name") for family in ElementTree.parse(dictionary).iter("family")]


def test_lintian_reports_no_error_nor_warning(deb: Path):
    changes = sorted(deb.parent.glob(f"deb/{PACKAGE}_*.changes"))
    assert len(changes) == 1, changes
    result = run(["lintian", "--fail-on", "error,warning", "--display-info", str(changes[0])])
    assert result.returncode == 0, report(result)
    assert not [line for line in result.stdout.splitlines() if line.startswith(("E:", "W:"))], report(result)


@needs_root
def test_package_installs(installation: subprocess.CompletedProcess):
    assert installation.returncode == 0, report(installation)
    assert installed_status() == "ii"


@needs_root
@pytest.mark.parametrize("path", EOLE_FILES)
def test_files_are_in_eole_locations(installed, path: str):
    assert Path("/", path).is_file()


@needs_root
def test_boot_service_is_installed_and_enabled(installed):
    """Podman's containers come back at boot through it (dockerd restarts Docker's itself)."""
    unit = Path("/lib/systemd/system/eole-conteneurs.service")
    assert "ExecStart=/usr/bin/eole-conteneurs demarrage" in unit.read_text()
    assert Path("/etc/systemd/system/multi-user.target.wants/eole-conteneurs.service").resolve() == unit.resolve()


@needs_root
def test_command_is_executable(installed):
    assert os.access(Path("/", COMMAND), os.X_OK)


@needs_root
def test_installed_dictionary_has_nb_max_families(installed):
    names = family_names(Path("/", DICTIONARY))
    for index in range(1, NB_MAX + 1):
        assert f"conteneur-{index}" in names
    assert f"conteneur-{NB_MAX + 1}" not in names


@needs_root
def test_installed_package_is_the_one_imported(installed):
    result = run(["/usr/bin/python3", "-c", "import eole_conteneurs; print(eole_conteneurs.__file__)"],
                 cwd="/", env=clean_env())
    assert result.returncode == 0, report(result)
    assert result.stdout.strip() == f"/{PYTHON_PACKAGE}/__init__.py", report(result)


@needs_root
def test_installed_command_checks_the_example(installed):
    result = run([f"/{COMMAND}", "check", "--config", f"/{EXAMPLE}"], cwd="/", env=clean_env())
    assert result.returncode == 0, report(result)
    for expected in EXPECTED_OUTPUT:
        assert expected in result.stdout, report(result)


@needs_root
def test_installed_command_refuses_a_bad_name(installed, tmp_path: Path):
    config = tmp_path / "config.eol"
    config.write_text(json.dumps({
        "activer_conteneurs": {"owner": "gen_config", "val": "oui"},
        "nombre_conteneurs": {"owner": "gen_config", "val": "1"},
        "conteneur1_nom": {"owner": "gen_config", "val": "bad;name"},
        "conteneur1_depot": {"owner": "gen_config", "val": "httpd"},
        "___version___": "2.8.0",
    }), encoding="utf-8")
    result = run([f"/{COMMAND}", "check", "--config", str(config)], cwd="/", env=clean_env())
    assert result.returncode == 1, report(result)
    assert "conteneur1_nom" in result.stderr, report(result)
    assert "Traceback" not in result.stderr, report(result)


def test_make_install_uses_the_same_locations(deb: Path, tmp_path: Path):
    """`make install DESTDIR=…` (no pybuild) puts the files where the package does."""
    destdir = tmp_path / "root"
    result = run(["make", "install", f"DESTDIR={destdir}", f"NB_MAX={NB_MAX}"])
    assert result.returncode == 0, report(result)
    for path in EOLE_FILES:
        assert (destdir / path).is_file(), path
    names = family_names(destdir / DICTIONARY)
    assert f"conteneur-{NB_MAX}" in names and f"conteneur-{NB_MAX + 1}" not in names

    # Every file of the package's EOLE part and Python package, at the same place.
    in_deb = {path for path in _deb_files(deb)
              if path.startswith(("usr/share/eole/", f"{EXAMPLE.rsplit('/', 1)[0]}/", f"{PYTHON_PACKAGE}/"))}
    installed_files = {str(path.relative_to(destdir)) for path in destdir.rglob("*") if path.is_file()}
    assert in_deb <= installed_files, sorted(in_deb - installed_files)


def _deb_files(deb: Path) -> set[str]:
    result = run(["dpkg-deb", "--contents", str(deb)])
    assert result.returncode == 0, report(result)
    files = set()
    for line in result.stdout.splitlines():
        permissions, *_, name = line.split(maxsplit=5)
        if permissions.startswith("-"):
            files.add(name.removeprefix("./"))
    return files
