"""The backup drill on real software: the MariaDB service of examples/service-notes.eol.

The database's export is a logical dump made inside its container (`mariadb-dump`, as the image's root,
who authenticates by the server's unix socket: no password on any command line), reloaded by the
`mariadb` client reading it on its standard input. Notes are written and read through the application,
over https and the host's nginx, as a user would.

Each test has its own borg repository and passphrase under its temporary directory; the module's shared
state (/var/lib/eole-conteneurs/sauvegarde, sauvegarde-etat, borg) only loses what concerns this bench.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import (SECRETS, build_service_images, docker, forget_borg_repository, free_port, https,
                                       service_example)

# As the README quotes them: a consistent InnoDB dump without locking the tables, all databases (the
# users and their rights with them, effective at once after the reload).
DUMP = "mariadb-dump --all-databases --single-transaction --flush-privileges"
RELOAD = "mariadb"

STATE_DIR = Path("/var/lib/eole-conteneurs")
STAGING, RECORD, BORG_BASE = STATE_DIR / "sauvegarde", STATE_DIR / "sauvegarde-etat", STATE_DIR / "borg"
MODULE_LOCK = Path("/run/eole-conteneurs/verrou")
BORG = "/usr/bin/borg"


@pytest.fixture(scope="module")
def service_images(lab):
    build_service_images()


@dataclass
class Notes:
    document: dict
    passwords: dict[str, str]
    repository: Path
    passphrase: Path


@pytest.fixture
def notes(bench, nginx_files, service_images):
    """The example renamed for this bench, its database saved by a dump into a repository of its own."""
    document, passwords = service_example(bench.prefix, free_port())
    repository = bench.root / "depot"
    document["conteneurs_sauvegarde_depot"] = {"owner": "gen_config", "val": str(repository)}
    document["conteneur1_sauvegarde_commande"] = {"owner": "gen_config", "val": DUMP}
    document["conteneur1_restauration_commande"] = {"owner": "gen_config", "val": RELOAD}
    bench.config_path.write_text(json.dumps(document, ensure_ascii=False))
    passphrase = bench.root / "phrase"
    # The schedule and Bareos files of this bench stay in its own directory.
    bench.env.update(EOLE_CONTENEURS_PHRASE=str(passphrase), EOLE_CONTENEURS_CRON=str(bench.root / "cron"),
                     EOLE_CONTENEURS_BAREOS=str(bench.root / "bareos"))
    yield Notes(document, passwords, repository, passphrase)
    docker("volume", "rm", bench.name("notes-donnees"), check=False)
    forget_backups(bench, repository)


def run(bench, *args, timeout=600) -> subprocess.CompletedProcess:
    result = bench.command(*args, timeout=timeout)
    assert result.returncode == 0, f"{args} → {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def notes_page(bench, query: str = "") -> tuple[int, str]:
    status, body, _ = https(f"/{bench.name('notes-appli')}/cgi-bin/notes{query}")
    return status, body


def sql(bench, statement: str) -> str:
    """A statement run by the database container's root (unix socket), as an administrator would."""
    return docker("exec", bench.name("notes-base"), "mariadb", "--batch", "--skip-column-names",
                  "-e", statement).stdout


def wait_healthy(bench, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        health = bench.inspect(bench.name("notes-base"))["State"].get("Health", {}).get("Status")
        if health == "healthy":
            return
        assert time.monotonic() < deadline, f"base toujours « {health} »"
        time.sleep(1)


def archives(bench) -> list[str]:
    listing = run(bench, "sauvegarde", "--liste").stdout
    return [line.split()[0] for line in listing.splitlines()
            if line.startswith(("conteneurs-", "avant-restauration-"))]


def borg_read(notes: Notes, archive: str, path: str) -> bytes:
    env = dict(os.environ, BORG_PASSPHRASE=notes.passphrase.read_text().strip(), BORG_BASE_DIR=str(BORG_BASE))
    return subprocess.run([BORG, "extract", "--stdout", f"{notes.repository}::{archive}", path.lstrip("/")],
                          env=env, capture_output=True, check=True, timeout=120).stdout


@contextmanager
def module_lock():
    """The lock of reconfigure, sauvegarde and restauration: the shared state is edited by nobody else."""
    MODULE_LOCK.parent.mkdir(mode=0o700, exist_ok=True)
    handle = os.open(MODULE_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def forget_backups(bench, repository: Path) -> None:
    """What the module keeps on the host about this bench's backups, gone as a purge removes it, without
    touching what other benches (or the host) keep: exports and manifests of its containers, its entries
    in the record, borg's cache and security data of its repository (named by the repository's id)."""
    with module_lock():
        for name in ("notes-base", "notes-appli"):
            shutil.rmtree(STAGING / bench.name(name), ignore_errors=True)
        # Rewritten by every backup before it is archived (under this lock): removed when it is this
        # bench's (another bench's stays for its test to read).
        variables = STAGING / "variables.json"
        if variables.exists():
            saved = json.loads(variables.read_text()).get("variables") or {}
            if saved.get("conteneur1_nom") == bench.name("notes-base"):
                variables.unlink()
        record = RECORD / "etat.json"
        if record.exists():
            state = json.loads(record.read_text())
            for name in list(state.get("conteneurs") or {}):
                if name.startswith(f"{bench.prefix}-"):
                    del state["conteneurs"][name]
            partial = record.with_name(".etat.json.test")
            partial.write_text(json.dumps(state, ensure_ascii=False, indent=1))
            os.chmod(partial, 0o600)
            os.replace(partial, record)
        forget_borg_repository(repository, BORG_BASE)


def plain(value):
    """Values as the module reads them: a slave's keyed by index as a list, numbers as text (the restored
    file writes the typed values: lists, ports as numbers)."""
    if isinstance(value, dict):
        value = [value[key] for key in sorted(value, key=int)]
    if isinstance(value, list):
        return [plain(entry) for entry in value]
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def test_database_backup_and_restore(bench, notes):
    base = bench.name("notes-base")
    run(bench, "reconfigure")
    assert notes_page(bench, "?ajout=premier&ajout=second") == (200, "premier\nsecond\n")

    saved = run(bench, "sauvegarde")
    assert "Export de" in saved.stdout, saved.stdout
    assert oct(notes.passphrase.stat().st_mode & 0o777) == "0o600"
    regular = [name for name in archives(bench) if name.startswith("conteneurs-")]
    assert len(regular) == 1, regular
    export = borg_read(notes, regular[0], f"{STAGING}/{base}/export")
    assert b"INSERT INTO `notes` VALUES" in export and b"'premier'" in export
    variables = json.loads(borg_read(notes, regular[0], f"{STAGING}/variables.json"))["variables"]
    assert "chiffre" in variables["conteneur1_secret_valeur"]
    for password in notes.passwords.values():
        assert password not in json.dumps(variables)

    # Damage: a note deleted, one changed by hand, one added through the application.
    sql(bench, "DELETE FROM notes.notes WHERE texte = 'premier'; "
               "UPDATE notes.notes SET texte = 'abime' WHERE texte = 'second'")
    assert notes_page(bench, "?ajout=apres") == (200, "abime\napres\n")

    restored = run(bench, "restauration")
    assert regular[0] in restored.stdout, restored.stdout
    assert f"Rechargement de l'export de {base} : {RELOAD}" in restored.stdout, restored.stdout
    assert notes_page(bench) == (200, "premier\nsecond\n")
    wait_healthy(bench)
    assert bench.inspect(base)["State"]["Health"]["Status"] == "healthy"
    assert run(bench, "status").returncode == 0

    # What the restore replaced (the damaged notes) was saved first, in an archive of its own.
    before = [name for name in archives(bench) if name.startswith("avant-restauration-")]
    assert len(before) == 1, before
    replaced = borg_read(notes, before[0], f"{STAGING}/{base}/export")
    assert b"'abime'" in replaced and b"'apres'" in replaced and b"'premier'" not in replaced


def test_fresh_host_drill(bench, notes):
    base, appli = bench.name("notes-base"), bench.name("notes-appli")
    volume, network = bench.name("notes-donnees"), bench.name("notes")
    run(bench, "reconfigure")
    assert notes_page(bench, "?ajout=avant&ajout=purge") == (200, "avant\npurge\n")
    run(bench, "sauvegarde")

    # The host loses everything but the repository and the passphrase (kept apart by the administrator).
    docker("rm", "-f", base, appli)
    docker("volume", "rm", volume)
    docker("network", "rm", network)
    for directory in SECRETS.glob(f"{bench.prefix}-*"):
        shutil.rmtree(directory)
    forget_backups(bench, notes.repository)
    bench.config_path.unlink()
    assert not bench.exists(base) and docker("volume", "inspect", volume, check=False).returncode != 0

    # 1. The configuration, from the repository alone (the module has none to read).
    written = run(bench, "restauration", "--configuration", bench.config_path, "--depot", notes.repository)
    assert oct(bench.config_path.stat().st_mode & 0o777) == "0o600", written.stdout
    restored = json.loads(bench.config_path.read_text())
    for name, entry in notes.document.items():
        if name != "___version___":
            assert plain(restored[name]["val"]) == plain(entry["val"]), name

    # 2. reconfigure: the containers again, the image's fresh empty database.
    run(bench, "reconfigure")
    assert notes_page(bench) == (200, "")

    # 3. The data back.
    run(bench, "restauration")
    assert notes_page(bench) == (200, "avant\npurge\n")
    wait_healthy(bench)
    status = run(bench, "status", "--json")
    assert {entry["nom"]: entry["sante"] for entry in json.loads(status.stdout)}[base] == "healthy"
    assert run(bench, "status").returncode == 0
    # The application's user still has its password and its rights (the users were restored with the data).
    assert notes_page(bench, "?ajout=ensuite") == (200, "avant\npurge\nensuite\n")
