"""Issue 15 against the real dockerd, registry and borg: `eole-conteneurs sauvegarde` and `restauration`.

Each test has its own repository under its temporary directory and its own passphrase file
(EOLE_CONTENEURS_PHRASE). Results are checked from outside: files on the host, docker exec/inspect,
HTTP, and the repository read with /usr/bin/borg itself.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT
from tests.integration.conftest import (BOTH, PRODUCT_BORG_BASE, enabled, forget_borg_repository, free_port,
                                       http_get, httpd, sh)

TECHNOLOGIES = BOTH
BORG = "/usr/bin/borg"
STAGING = Path("/var/lib/eole-conteneurs/sauvegarde")
RECORD = Path("/var/lib/eole-conteneurs/sauvegarde-etat/etat.json")
STOPPED = RECORD.with_name("arretes-pour-sauvegarde")  # containers a running backup stopped
HTDOCS = "/usr/local/apache2/htdocs"
# busybox httpd as PID 1 ignores SIGTERM (a stop would wait 10 s): the shell's trap ends it at once.
SERVICE = f"sh -c \"trap 'exit 0' TERM; httpd -f -p 80 -h {HTDOCS} & wait\""


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


class Backups:
    """One test's repository, passphrase and borg, beside its bench."""

    def __init__(self, bench):
        self.bench = bench
        self.repository = bench.root / "depot"
        self.phrase = bench.root / "phrase"
        self.phrase.write_text(secrets.token_urlsafe(24) + "\n")
        self.phrase.chmod(0o600)
        bench.env["EOLE_CONTENEURS_PHRASE"] = str(self.phrase)
        self.base = bench.root / "borg-base"  # our own borg cache: the product's is left alone

    def write(self, count: int, *containers: dict, **settings) -> None:
        values = enabled(count, *containers)
        values["conteneurs_sauvegarde_depot"] = str(settings.pop("depot", self.repository))
        values.update({f"conteneurs_sauvegarde_{key}": value for key, value in settings.items()})
        self.bench.write(values)

    def apply(self) -> None:
        result = self.bench.apply()
        assert result.returncode == 0, output(result)

    def save(self, *names: str, expect: int = 0) -> subprocess.CompletedProcess:
        result = self.bench.command("sauvegarde", *names)
        assert result.returncode == expect, output(result)
        return result

    def restore(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
        result = self.bench.command("restauration", *args)
        assert result.returncode == expect, output(result)
        return result

    def borg(self, *args, check=True, passphrase: str | None = None, timeout=300) -> subprocess.CompletedProcess:
        env = {key: value for key, value in os.environ.items() if not key.startswith("BORG_")}
        env.update(BORG_PASSPHRASE=passphrase or self.phrase.read_text().strip(), BORG_BASE_DIR=str(self.base),
                   BORG_RELOCATED_REPO_ACCESS_IS_OK="yes", LANG="C.UTF-8")
        return sh(BORG, *args, check=check, timeout=timeout, env=env)

    def archives(self, passphrase: str | None = None) -> dict[str, str]:
        """Every archive of the repository (checkpoints included), name → comment."""
        listing = json.loads(self.borg("list", "--json", "--format", "{comment}", self.repository,
                                       passphrase=passphrase).stdout)
        return {entry["name"]: entry.get("comment", "") for entry in listing["archives"]}

    def read(self, archive: str, path: Path | str) -> str:
        return self.borg("extract", "--stdout", f"{self.repository}::{archive}", str(path).lstrip("/")).stdout

    def cleanup(self) -> None:
        forget_borg_repository(self.repository)


@pytest.fixture
def backups(bench):
    backups = Backups(bench)
    yield backups
    backups.cleanup()
    for staged in STAGING.glob(f"{bench.prefix}-*"):
        sh("rm", "-rf", staged, check=False)


def recorded(name: str) -> str | None:
    """The archive etat.json holds as the container's last good backup."""
    try:
        state = json.loads(RECORD.read_text())
    except FileNotFoundError:
        return None
    return (state.get("conteneurs", {}).get(name) or {}).get("archive")


def volume_dir(bench, name: str) -> Path:
    return Path(json.loads(bench.cli("volume", "inspect", name).stdout)[0]["Mountpoint"])


def web(bench, index: int, short: str, **extra) -> dict:
    """An httpd container quick to stop, with its host directory and a port."""
    return httpd(bench, index, short, free_port(), commande=SERVICE, **extra)


def running(bench, name: str) -> bool:
    return bench.inspect(name)["State"]["Running"] is True


# -- 1. round trip -----------------------------------------------------------------------------------

def test_round_trip_puts_back_directory_volume_and_secret_exactly(bench, backups):
    name, volume, secret = bench.name("aller"), bench.name("vol"), f"jeton-{secrets.token_hex(8)}"
    container = web(bench, 1, "aller", volume_nom=[volume], volume_chemin={"0": "/donnees"},
                    secret_nom=["jeton"], secret_valeur={"0": secret})
    port = int(container["conteneur1_port_hote"]["0"])
    backups.write(1, container)
    backups.apply()
    www = bench.root / "www-aller"
    (www / "index.html").write_text("original")
    (www / "sous").mkdir()
    (www / "sous" / "garde.txt").write_text("gardé")
    bench.cli("exec", name, "sh", "-c", "echo base-1 > /donnees/base && mkdir -p /donnees/d && echo x > /donnees/d/f"
                                     " && chown 1234:2345 /donnees/d/f && chmod 640 /donnees/d/f")

    saved = backups.save()
    assert "Sauvegarde terminée" in saved.stdout, output(saved)
    listing = bench.command("sauvegarde", "--liste")
    assert listing.returncode == 0, output(listing)
    archive = next(line.split()[0] for line in listing.stdout.splitlines() if line.startswith("conteneurs-"))
    assert name in listing.stdout and recorded(name) == archive
    assert backups.archives() == {archive: f"conteneurs={name}"}

    # Damage: modified, added, deleted; in the directory and in the volume.
    (www / "index.html").write_text("abîmé")
    (www / "intrus.txt").write_text("en trop")
    (www / "sous" / "garde.txt").unlink()
    bench.cli("exec", name, "sh", "-c", "echo base-2 > /donnees/base && rm -r /donnees/d && echo z > /donnees/nouveau")

    identity = bench.identity(name)
    restored = backups.restore()
    assert archive in restored.stdout, output(restored)
    assert bench.identity(name)[0] == identity[0], "stopped and started again, not recreated"
    assert (www / "index.html").read_text() == "original"
    assert (www / "sous" / "garde.txt").read_text() == "gardé"
    assert sorted(path.name for path in www.iterdir()) == ["index.html", "sous"]
    assert bench.cli("exec", name, "cat", "/donnees/base").stdout == "base-1\n"
    assert bench.cli("exec", name, "cat", "/donnees/d/f").stdout == "x\n"
    assert bench.cli("exec", name, "ls", "-A", "/donnees").stdout.split() == ["base", "d"]
    owned = (volume_dir(bench, volume) / "d" / "f").stat()
    assert (owned.st_uid, owned.st_gid, stat.S_IMODE(owned.st_mode)) == (1234, 2345, 0o640), "numeric owner kept"
    assert running(bench, name)
    assert bench.cli("exec", name, "cat", "/run/secrets/jeton").stdout == secret
    assert http_get(port, "/index.html") == "original"

    before = [other for other in backups.archives() if other.startswith("avant-restauration-")]
    assert len(before) == 1, backups.archives()
    assert backups.read(before[0], www / "index.html") == "abîmé"
    assert backups.read(before[0], volume_dir(bench, volume) / "base") == "base-2\n"
    assert recorded(name) == archive, "a safety copy is not the container's last backup"


# -- 2. a restore touches only the containers named --------------------------------------------------

def test_restoring_one_container_leaves_the_other_untouched(bench, backups):
    one, two = bench.name("un"), bench.name("deux")
    backups.write(2, web(bench, 1, "un"), web(bench, 2, "deux"))
    backups.apply()
    www_one, www_two = bench.root / "www-un", bench.root / "www-deux"
    (www_one / "f").write_text("un-1")
    (www_two / "f").write_text("deux-1")
    backups.save()
    (www_one / "f").write_text("un-2")
    (www_two / "f").write_text("deux-2")
    (www_two / "ajout").write_text("ajout")
    other = bench.identity(two)

    backups.restore(one)
    assert (www_one / "f").read_text() == "un-1"
    assert (www_two / "f").read_text() == "deux-2" and (www_two / "ajout").exists()
    assert bench.identity(two) == other, "the other container was stopped or recreated"
    assert running(bench, one)
    safety = {name: comment for name, comment in backups.archives().items()
              if name.startswith("avant-restauration-")}
    assert list(safety.values()) == [f"conteneurs={one}"], safety

    # Again, without naming an archive: the regular one, never the copy made before the restore.
    regular = next(archive for archive in backups.archives() if archive.startswith("conteneurs-"))
    (www_one / "f").write_text("un-3")
    again = backups.restore(one)
    assert f"depuis l'archive {regular}" in again.stdout, output(again)
    assert (www_one / "f").read_text() == "un-1"


# -- 3. export and restore commands ------------------------------------------------------------------

def test_export_saved_and_read_back_and_a_failing_export_leaves_only_its_container_out(bench, backups):
    good, bad = bench.name("export"), bench.name("rate")
    volume = bench.name("base")
    backups.write(2, web(bench, 1, "export", volume_nom=[volume], volume_chemin={"0": "/donnees"},
                         sauvegarde_commande="sh -c 'cat /donnees/base'",
                         restauration_commande="sh -c 'cat > /donnees/recu'"),
                  web(bench, 2, "rate", sauvegarde_commande="sh -c 'exit 3'"))
    backups.apply()
    bench.cli("exec", good, "sh", "-c", "echo 'ligne 1' > /donnees/base && echo 'ligne 2' >> /donnees/base")
    identity = bench.identity(bad)

    failed = backups.save(expect=1)
    text = output(failed)
    assert bad in text and re.search(r"code\D{0,20}3", text), text
    archives = backups.archives()
    assert list(archives.values()) == [f"conteneurs={good}"], archives
    archive = next(iter(archives))
    assert backups.read(archive, STAGING / good / "export") == "ligne 1\nligne 2\n"
    assert recorded(good) == archive and recorded(bad) is None
    assert bench.identity(bad) == identity and running(bench, bad)

    bench.cli("exec", good, "sh", "-c", "echo changé > /donnees/base")
    backups.restore(good)
    assert bench.cli("exec", good, "cat", "/donnees/recu").stdout == "ligne 1\nligne 2\n"
    assert bench.cli("exec", good, "cat", "/donnees/base").stdout == "ligne 1\nligne 2\n"
    refused = backups.restore(expect=1)  # no archive holds the container that was never saved
    assert bad in output(refused), output(refused)


# -- 4. a container stopped for the copy is always started again -------------------------------------

def test_a_container_stopped_for_the_copy_is_started_again_even_when_borg_fails(bench, backups):
    name = bench.name("arret")
    backups.write(1, web(bench, 1, "arret", sauvegarde_arret="oui"))
    backups.apply()
    started = bench.identity(name)
    done = backups.save()
    assert name in done.stdout and "Arrêt" in done.stdout, output(done)
    after = bench.identity(name)
    assert after[0] == started[0] and after[1] != started[1], "stopped for the copy, same container"
    assert running(bench, name)

    backups.phrase.write_text("une-tout-autre-phrase\n")  # borg refuses the repository: create fails
    failed = backups.save(expect=1)
    assert "phrase secrète" in output(failed), output(failed)
    assert running(bench, name), "left stopped by a failed backup"
    assert bench.identity(name)[0] == started[0]


# -- 5. secrets ---------------------------------------------------------------------------------------

def test_secrets_are_never_saved_in_clear_and_come_back_in_a_new_configuration(bench, backups):
    secret = f"secret-{secrets.token_hex(12)}"
    backups.write(1, web(bench, 1, "secret", secret_nom=["mdp"], secret_valeur={"0": secret}))
    backups.apply()
    backups.save()
    for where in (backups.repository, STAGING, PRODUCT_BORG_BASE):
        found = sh("grep", "-rlF", secret, where, check=False)
        assert found.returncode == 1 and not found.stdout, f"{secret} in clear in {found.stdout}"
    extracted = bench.root / "extrait"
    extracted.mkdir()
    archive = next(iter(backups.archives()))
    sh(BORG, "extract", f"{backups.repository}::{archive}", cwd=extracted,
       env={**os.environ, "BORG_PASSPHRASE": backups.phrase.read_text().strip(), "BORG_BASE_DIR": str(backups.base)})
    assert sh("grep", "-rlF", secret, extracted, check=False).returncode == 1, "in clear inside the archive"

    target = bench.root / "nouveau" / "config.eol"
    written = backups.restore("--configuration", target)
    assert str(target) in written.stdout, output(written)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    values = json.loads(target.read_text())
    assert values["conteneur1_secret_valeur"]["val"] in ({"0": secret}, [secret], secret), values
    assert values["conteneurs_sauvegarde_depot"]["val"] == str(backups.repository)
    assert values["conteneur1_nom"]["val"] == bench.name("secret")

    before = target.read_bytes()
    refused = backups.restore("--configuration", target, expect=1)
    assert str(target) in output(refused) and "existe" in output(refused), output(refused)
    assert target.read_bytes() == before

    # A fresh host: no configuration yet, the repository given.
    bench.config_path.unlink()
    other = bench.root / "autre.eol"
    written = backups.restore("--configuration", other, "--depot", backups.repository)
    assert json.loads(other.read_text()) == values


# -- 6. faults ----------------------------------------------------------------------------------------

def untouched_after_failure(bench, backups, name: str, identity, result, *words: str) -> None:
    """exit 1 already checked: the message's words, the container as it was, nothing recorded."""
    text = output(result)
    for word in words:
        assert word in text, f"{word!r} missing:\n{text}"
    assert "Traceback" not in text and "inattendue" not in text, text
    assert bench.identity(name) == identity and running(bench, name)


def test_a_wrong_passphrase_is_named_and_records_nothing(bench, backups):
    name = bench.name("phrase")
    backups.write(1, web(bench, 1, "phrase"))
    backups.apply()
    backups.save()
    first = recorded(name)
    good = backups.phrase.read_text().strip()
    identity = bench.identity(name)
    backups.phrase.write_text("pas-la-bonne-phrase\n")
    failed = backups.save(expect=1)
    untouched_after_failure(bench, backups, name, identity, failed, "phrase secrète", str(backups.repository),
                            "conteneurs_sauvegarde_depot")
    assert list(backups.archives(passphrase=good)) == [first] and recorded(name) == first
    listing = bench.command("sauvegarde", "--liste")
    assert listing.returncode == 1 and "phrase secrète" in output(listing), output(listing)


def test_an_unreachable_or_impossible_repository_is_named(bench, backups):
    name = bench.name("distant")
    remote = "ssh://nobody@127.0.0.1:1/x"
    container = web(bench, 1, "distant")
    backups.write(1, container, depot=remote)
    backups.apply()
    identity = bench.identity(name)
    failed = backups.save(expect=1)
    untouched_after_failure(bench, backups, name, identity, failed, remote, "conteneurs_sauvegarde_depot",
                            "injoignable")
    assert recorded(name) is None

    blocking = bench.root / "fichier"
    blocking.write_text("un fichier ordinaire, pas un répertoire")
    backups.write(1, container, depot=blocking / "depot")
    failed = backups.save(expect=1)
    untouched_after_failure(bench, backups, name, identity, failed, str(blocking / "depot"),
                            "conteneurs_sauvegarde_depot", "pas un répertoire")
    assert recorded(name) is None and blocking.read_text().startswith("un fichier ordinaire")

    occupied = bench.root / "occupe"
    occupied.mkdir()
    (occupied / "autre-chose").write_text("pas un dépôt")
    backups.write(1, container, depot=occupied)
    failed = backups.save(expect=1)
    untouched_after_failure(bench, backups, name, identity, failed, str(occupied), "conteneurs_sauvegarde_depot",
                            "pas un dépôt BorgBackup")
    assert recorded(name) is None and [entry.name for entry in occupied.iterdir()] == ["autre-chose"]


def test_a_full_destination_disk_is_named_and_records_nothing(bench, backups):
    name, volume = bench.name("plein"), bench.name("gros")
    disk = bench.root / "disque"
    disk.mkdir()
    backups.repository = disk / "depot"
    backups.write(1, web(bench, 1, "plein", volume_nom=[volume], volume_chemin={"0": "/donnees"}))
    backups.apply()
    with open(volume_dir(bench, volume) / "alea", "wb") as data:
        data.write(os.urandom(20 << 20))
    identity = bench.identity(name)
    sh("mount", "-t", "tmpfs", "-o", "size=3M,mode=0755", "tmpfs", disk)
    try:
        failed = backups.save(expect=1)
        untouched_after_failure(bench, backups, name, identity, failed, "espace", str(backups.repository),
                                "conteneurs_sauvegarde_depot")
        assert recorded(name) is None
        assert backups.archives() == {}
    finally:
        backups.cleanup()
        sh("umount", disk, check=False)


def processes_of(group: int) -> dict[int, list[str]]:
    """pid → command line of the processes of a process group (zombies: an empty one)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if int(fields[2]) == group:
            found[int(entry.name)] = argv
    return found


def borg_creating(group: int) -> bool:
    """A `borg create` runs in the group (/usr/bin/borg, python3 -m borg or python3 -c "…borg…")."""
    return any("create" in argv and any(word == BORG or word == "borg" or "borg.archiver" in word for word in argv)
               for argv in processes_of(group).values())


def test_a_backup_killed_in_the_middle_leaves_no_good_archive_and_the_next_one_works(bench, backups):
    name, volume = bench.name("tue"), bench.name("lourd")
    backups.write(1, web(bench, 1, "tue", volume_nom=[volume], volume_chemin={"0": "/donnees"},
                         sauvegarde_arret="oui"))
    backups.apply()
    with open(volume_dir(bench, volume) / "alea", "wb") as data:
        for _ in range(300):
            data.write(os.urandom(1 << 20))
    journal = bench.root / "tuee.log"
    with open(journal, "wb") as log:
        killed = subprocess.Popen(["/usr/bin/python3", "-m", "eole_conteneurs", "sauvegarde", "--config",
                                   str(bench.config_path)], env=bench.env, cwd=CHECKOUT, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not borg_creating(killed.pid):
            assert killed.poll() is None and time.monotonic() < deadline, journal.read_text()
            time.sleep(0.05)
        time.sleep(1)  # borg reads and writes the 300 MB: well under way, far from done
        assert borg_creating(killed.pid), "borg already done: nothing was interrupted"
    finally:
        try:
            os.killpg(killed.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        killed.wait()
    deadline = time.monotonic() + 30
    while processes_of(killed.pid):  # borg itself gone too (reaped), as before any later run
        assert time.monotonic() < deadline, processes_of(killed.pid)
        time.sleep(0.05)
    archive = journal.read_text().split("archive ")[-1].split()[0]
    assert archive.startswith("conteneurs-") and recorded(name) is None, journal.read_text()
    container_id = bench.identity(name)[0]
    leftovers = STOPPED.read_text() if STOPPED.exists() else ""
    # Any later run of the host starts it again (the record is the host's): another test's, in a parallel run.
    stopped_before = not running(bench, name)
    assert container_id in leftovers or not stopped_before, "stopped without a record of it"

    again = backups.save()
    assert running(bench, name), "left stopped after the killed backup"
    waited = "en cours : attente" in again.stdout  # behind another run, which may have started it first
    assert "interrompue" in again.stdout or waited or not stopped_before, output(again)
    assert not STOPPED.exists() or container_id not in STOPPED.read_text()
    kept = backups.archives()
    assert archive not in kept
    good = [other for other in kept if not other.endswith(".checkpoint")]
    assert len(good) == 1 and recorded(name) == good[0], kept
    listing = bench.command("sauvegarde", "--liste")
    assert listing.returncode == 0 and good[0] in listing.stdout, output(listing)
    assert ".checkpoint" not in listing.stdout and archive not in listing.stdout
    backups.borg("check", backups.repository, timeout=600)
    saved = json.loads(backups.borg("list", "--json-lines", f"{backups.repository}::{good[0]}",
                                    str(volume_dir(bench, volume) / "alea").lstrip("/")).stdout)
    assert saved["size"] == 300 << 20
    backups.cleanup()
    sh("rm", "-rf", backups.repository)  # 600 MB: not kept with the test's temporary files


# -- 7. bad values ------------------------------------------------------------------------------------

@pytest.mark.parametrize("variable, value", [
    ("conteneurs_sauvegarde_depot", "sauvegardes/conteneurs"),
    ("conteneurs_sauvegarde_conservation", "abc"),
    ("conteneur1_sauvegarde_commande", "mariadb-dump --all-databases\nrm -rf /"),
    ("conteneurs_sauvegarde_heure", "25:00"),
    ("conteneurs_sauvegarde_frequence", "souvent"),
])
def test_bad_backup_values_are_refused_by_check(bench, variable, value):
    values = enabled(1, web(bench, 1, "refus"))
    values[variable] = value
    bench.write(values)
    refused = bench.command("check")
    assert refused.returncode == 1, output(refused)
    assert variable in output(refused) and "refusée" in output(refused), output(refused)


# -- 8. destinations a restore must not swap blindly -----------------------------------------------

def test_a_volume_shared_with_a_container_left_out_is_refused_and_nothing_changes(bench, backups):
    shared = bench.name("partage")
    one = web(bench, 1, "un", volume_nom=[shared], volume_chemin={"0": "/donnees"})
    two = web(bench, 2, "deux", volume_nom=[shared], volume_chemin={"0": "/donnees"})
    backups.write(2, one, two)
    backups.apply()
    bench.cli("exec", bench.name("un"), "sh", "-c", "echo avant > /donnees/f")
    backups.save()
    bench.cli("exec", bench.name("un"), "sh", "-c", "echo apres > /donnees/f")
    before = bench.identity(bench.name("deux")), bench.identity(bench.name("un"))

    refused = backups.restore(bench.name("un"), expect=1)
    assert bench.name("deux") in output(refused) and "ensemble" in output(refused), output(refused)
    assert bench.cli("exec", bench.name("un"), "cat", "/donnees/f").stdout == "apres\n"
    assert (bench.identity(bench.name("deux")), bench.identity(bench.name("un"))) == before
    assert not any(name.startswith("avant-restauration-") for name in backups.archives())

    backups.restore(bench.name("un"), bench.name("deux"))  # together, as the message says
    assert bench.cli("exec", bench.name("deux"), "cat", "/donnees/f").stdout == "avant\n"


def test_a_mount_point_is_restored_in_place_and_a_mount_inside_is_refused(bench, backups):
    www = bench.root / "monte"
    www.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", www)
    try:
        backups.write(1, web(bench, 1, "monte", rep_hote=[str(www)]))
        backups.apply()
        (www / "index.html").write_text("original")
        (www / "sous").mkdir()
        (www / "sous" / "a").write_text("a")
        backups.save()
        (www / "index.html").write_text("abime")
        (www / "ajout").write_text("x")
        (www / "sous" / "a").unlink()

        backups.restore()
        assert os.path.ismount(www), "the mount point stays where it is"
        assert sorted(path.name for path in www.iterdir()) == ["index.html", "sous"]
        assert (www / "index.html").read_text() == "original" and (www / "sous" / "a").read_text() == "a"
        assert http_get(int(bench.inspect(bench.name("monte"))["HostConfig"]["PortBindings"]["80/tcp"][0]
                            ["HostPort"]), "/index.html") == "original"

        inner = www / "sous"
        sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", inner)
        try:
            (inner / "precieux").write_text("ne pas effacer")
            refused = backups.restore(expect=1)
            assert "point de montage" in output(refused) and str(inner) in output(refused), output(refused)
            assert (inner / "precieux").read_text() == "ne pas effacer"
        finally:
            sh("umount", inner, check=False)
    finally:
        bench.cleanup()  # the container first: a mount it uses would not go
        sh("umount", www, check=False)
