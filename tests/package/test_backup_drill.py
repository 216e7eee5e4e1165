"""Issue 15's drill on a fresh host, with the built package: back up, lose everything, get it all back.

1. the package installed, two httpd containers declared (a shared host directory with a page; a named
   volume, an export and a restore command), `reconfigure`, `sauvegarde`;
2. the disk lost: the package purged (the backups' passphrase stays, and the purge says so), the
   containers, the volume, the host directory and the config.eol removed;
3. the package installed again, `restauration --configuration` (the variables back, 0600),
   `reconfigure` (containers recreated, empty), `restauration`: everything is checked from outside
   (curl on the host port, docker exec, docker inspect, the repository read with /usr/bin/borg),
   and `status` shows the date of the backup.

The real passphrase file (/etc/eole-conteneurs/sauvegarde/phrase-secrete) is used, as on a server: one
that was there before the test is set aside and put back at the end. Only the installed command runs
(cwd=/, no PYTHONPATH), with a label scope of the test's own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import config_document
from tests.integration.conftest import REGISTRY, docker, free_port, sh
from tests.package.conftest import PACKAGE, dpkg_install, installed_status, purge, report, run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installing a package needs root")

COMMAND = "/usr/bin/eole-conteneurs"
PASSPHRASE = Path("/etc/eole-conteneurs/sauvegarde/phrase-secrete")
KEPT_MESSAGE = f"phrase secrète des sauvegardes conservée dans {PASSPHRASE}"
STAGING = Path("/var/lib/eole-conteneurs/sauvegarde")
HTDOCS = "/usr/local/apache2/htdocs"
# busybox httpd as PID 1 ignores SIGTERM (each stop would wait 10 s): the shell's trap ends it at once.
SERVICE = f"sh -c \"trap 'exit 0' TERM; httpd -f -p 80 -h {HTDOCS} & wait\""
EXPORT = "sh -c 'cat /donnees/base'"
RELOAD = "sh -c 'cat > /donnees/recu'"
PAGE = "<h1>page du drill</h1>\n"
BASE = "ligne 1 de la base\nligne 2 de la base\n"


class Drill:
    """The test's names, files and command runs; everything it creates lives under root or its scope."""

    def __init__(self, root: Path, scope: str, prefix: str, env: dict[str, str]):
        self.root, self.scope = root, scope
        self.web, self.data = f"{prefix}-site", f"{prefix}-base"
        self.volume = f"{prefix}-donnees"
        self.www = root / "www"
        self.repository = root / "depot"
        self.config = root / "config.eol"
        self.port_web, self.port_data = free_port(), free_port()
        self.env = {key: value for key, value in env.items()
                    if key not in ("EOLE_CONTENEURS_PHRASE", "EOLE_CONTENEURS_CONFIG")}
        self.borg_base = root / "borg-base"  # our own reading of the repository: the product's cache is left alone

    def values(self) -> dict:
        return {
            "activer_conteneurs": "oui", "nombre_conteneurs": "2",
            "conteneurs_sauvegarde_depot": str(self.repository),
            "conteneur1_nom": self.web, "conteneur1_hub": REGISTRY, "conteneur1_depot": "httpd",
            "conteneur1_tag": "2.4", "conteneur1_commande": SERVICE, "conteneur1_persistance": "non",
            "conteneur1_rep_hote": [str(self.www)], "conteneur1_rep_conteneur": {"0": HTDOCS},
            "conteneur1_port_conteneur": ["80"], "conteneur1_port_hote": {"0": str(self.port_web)},
            "conteneur2_nom": self.data, "conteneur2_hub": REGISTRY, "conteneur2_depot": "httpd",
            "conteneur2_tag": "2.4", "conteneur2_commande": SERVICE, "conteneur2_persistance": "oui",
            "conteneur2_volume_nom": [self.volume], "conteneur2_volume_chemin": {"0": "/donnees"},
            "conteneur2_port_conteneur": ["80"], "conteneur2_port_hote": {"0": str(self.port_data)},
            "conteneur2_sauvegarde_commande": EXPORT, "conteneur2_restauration_commande": RELOAD,
        }

    def command(self, *args: str, config: bool = True) -> subprocess.CompletedProcess:
        """The installed command, as an administrator runs it."""
        extra = ["--config", str(self.config)] if config else []
        return run([COMMAND, *args, *extra], cwd="/", env=self.env)

    def ok(self, *args: str, config: bool = True) -> subprocess.CompletedProcess:
        result = self.command(*args, config=config)
        assert result.returncode == 0, report(result)
        assert "Traceback" not in result.stderr, report(result)
        return result

    def exists(self, name: str) -> bool:
        return docker("inspect", name, check=False).returncode == 0

    def running(self, name: str) -> bool:
        return docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"

    def served(self, port: int, path: str = "/index.html", tries: int = 50) -> str:
        """The page as curl gets it from the host port (a container just started may need a moment)."""
        for _ in range(tries):
            result = sh("curl", "-fsS", "--max-time", "3", f"http://127.0.0.1:{port}{path}", check=False)
            if result.returncode == 0:
                return result.stdout
            time.sleep(0.1)
        raise AssertionError(f"http://127.0.0.1:{port}{path} not served: {result.stderr}")

    def borg(self, *args: str) -> str:
        env = {key: value for key, value in os.environ.items() if not key.startswith("BORG_")}
        env.update(BORG_PASSPHRASE=PASSPHRASE.read_text().strip(), BORG_BASE_DIR=str(self.borg_base),
                   BORG_RELOCATED_REPO_ACCESS_IS_OK="yes", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="no",
                   LANG="C.UTF-8")
        return sh("/usr/bin/borg", *args, env=env, timeout=300).stdout

    def remove_data(self) -> None:
        """The containers, their volume, the host directory: what a lost disk takes."""
        docker("rm", "-f", self.web, self.data, check=False)
        docker("volume", "rm", "-f", self.volume, check=False)
        shutil.rmtree(self.www, ignore_errors=True)


class PassphraseState:
    """The real passphrase file as it was before the test: set aside now, put back (or removed) at the end."""

    def __init__(self, aside: Path):
        self.aside = aside
        self.had_tree = PASSPHRASE.parents[1].exists()  # /etc/eole-conteneurs
        self.had_dir = PASSPHRASE.parent.exists()
        self.dir_mode = stat.S_IMODE(PASSPHRASE.parent.stat().st_mode) if self.had_dir else None
        self.had_file = PASSPHRASE.exists()
        if self.had_file:
            shutil.copy2(PASSPHRASE, aside)
            PASSPHRASE.unlink()

    def put_back(self) -> None:
        if self.had_file:
            PASSPHRASE.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copy2(self.aside, PASSPHRASE)
            os.chown(PASSPHRASE, 0, 0)
            PASSPHRASE.chmod(0o600)
            self.aside.unlink()
        else:
            PASSPHRASE.unlink(missing_ok=True)
        if self.had_dir:
            if PASSPHRASE.parent.is_dir():
                PASSPHRASE.parent.chmod(self.dir_mode)
        elif PASSPHRASE.parent.is_dir() and not any(PASSPHRASE.parent.iterdir()):
            PASSPHRASE.parent.rmdir()
        tree = PASSPHRASE.parents[1]
        if not self.had_tree and tree.is_dir() and not any(tree.iterdir()):
            tree.rmdir()


@pytest.fixture
def drill(scoped, nginx_files, deb, tmp_path):
    scope, prefix, env = scoped
    drill = Drill(tmp_path, scope, prefix, env)
    passphrase = PassphraseState(tmp_path / "phrase-secrete-d-avant")
    try:
        yield drill, deb
    finally:
        purged = purge(scope)  # the test's scope: only its disposable containers are removed
        drill.remove_data()
        for staged in (STAGING / drill.web, STAGING / drill.data):
            shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(drill.repository, ignore_errors=True)
        shutil.rmtree(drill.borg_base, ignore_errors=True)
        passphrase.put_back()
    assert purged.returncode == 0, report(purged)
    assert not installed_status().startswith("ii"), installed_status()


def config_values(document: dict) -> dict:
    """name → value of a config.eol document (its version key left out), numbers as the text Creole reads:
    the backup keeps the values as the module typed them (a port 80, not "80")."""
    def text(value):
        if isinstance(value, dict):
            return {key: text(entry) for key, entry in value.items()}
        if isinstance(value, list):
            return [text(entry) for entry in value]
        return value if value is None else str(value)
    return {name: text(entry["val"]) for name, entry in document.items() if not name.startswith("___")}


def test_fresh_host_drill_with_the_package(drill):
    drill, deb = drill
    started = time.monotonic()

    # -- 1. a server in service, backed up -----------------------------------------------------------
    installed = dpkg_install(deb)
    assert installed.returncode == 0, report(installed)
    drill.www.mkdir()
    (drill.www / "index.html").write_text(PAGE)
    drill.config.write_text(json.dumps(config_document(drill.values()), ensure_ascii=False), encoding="utf-8")
    drill.ok("reconfigure")
    assert drill.served(drill.port_web) == PAGE
    docker("exec", drill.data, "sh", "-c", f"printf '{BASE}' > /donnees/base && mkdir /donnees/d && "
                                           "echo fichier > /donnees/d/f")
    assert not PASSPHRASE.exists()

    saved = drill.ok("sauvegarde")
    assert "Sauvegarde terminée" in saved.stdout, report(saved)
    assert PASSPHRASE.is_file() and stat.S_IMODE(PASSPHRASE.stat().st_mode) == 0o600, "made by the first backup"
    passphrase = PASSPHRASE.read_bytes()
    archives = json.loads(drill.borg("list", "--json", str(drill.repository)))["archives"]
    assert [archive["name"][:11] for archive in archives] == ["conteneurs-"], archives
    archive = archives[0]["name"]
    export = drill.borg("extract", "--stdout", f"{drill.repository}::{archive}",
                        str(STAGING / drill.data / "export").lstrip("/"))
    assert export == BASE, "the export command's output is in the archive"
    original = json.loads(drill.config.read_text())

    # -- 2. the disk is lost ---------------------------------------------------------------------------
    purged = purge(drill.scope)
    assert purged.returncode == 0, report(purged)
    assert not installed_status().startswith("ii"), installed_status()
    assert KEPT_MESSAGE in purged.stdout + purged.stderr, report(purged)
    assert PASSPHRASE.read_bytes() == passphrase, "the purge keeps the passphrase"
    assert stat.S_IMODE(PASSPHRASE.stat().st_mode) == 0o600
    assert (drill.repository / "config").is_file(), "the purge never touches the repository"
    assert not drill.exists(drill.web), "the disposable container goes with the purge"
    assert drill.exists(drill.data), "the persistent one stays"
    drill.remove_data()
    drill.config.unlink()
    assert not drill.exists(drill.data) and not drill.www.exists()
    assert docker("volume", "inspect", drill.volume, check=False).returncode != 0

    # -- 3. a fresh host: the package, the variables, the containers, their data -----------------------
    again = dpkg_install(deb)
    assert again.returncode == 0, report(again)
    variables = drill.ok("restauration", "--configuration", str(drill.config), "--depot", str(drill.repository),
                         config=False)
    assert str(drill.config) in variables.stdout, report(variables)
    assert stat.S_IMODE(drill.config.stat().st_mode) == 0o600
    restored_values = config_values(json.loads(drill.config.read_text()))
    for name, value in config_values(original).items():
        assert restored_values.get(name) == value, f"{name}: {restored_values.get(name)!r} != {value!r}"

    drill.ok("reconfigure")
    assert drill.running(drill.web) and drill.running(drill.data)
    assert not (drill.www / "index.html").exists(), "recreated empty"
    assert docker("exec", drill.data, "ls", "-A", "/donnees").stdout.split() == []

    restored = drill.ok("restauration")
    assert archive in restored.stdout, report(restored)
    # The recreated container has nothing to export: its (empty) files are still set aside first.
    assert f"export de {drill.data} impossible" in restored.stdout, report(restored)
    assert "ses fichiers sont sauvegardés sans export" in restored.stdout, report(restored)
    assert "avant-restauration-" in restored.stdout, report(restored)
    assert (drill.www / "index.html").read_text() == PAGE
    assert drill.served(drill.port_web) == PAGE
    assert docker("exec", drill.data, "cat", "/donnees/base").stdout == BASE
    assert docker("exec", drill.data, "cat", "/donnees/d/f").stdout == "fichier\n"
    assert docker("exec", drill.data, "cat", "/donnees/recu").stdout == export
    assert drill.running(drill.web) and drill.running(drill.data)

    status = drill.ok("status")
    for name in (drill.web, drill.data):
        line = next((line for line in status.stdout.splitlines() if name in line), "")
        # « Sauvegarde » then « Mise à jour » (none here: "-"), the last two columns.
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d\s+-\s*$", line), f"no backup date for {name}:\n{status.stdout}"

    elapsed = time.monotonic() - started
    assert elapsed < 120, f"the drill took {elapsed:.0f} s"
