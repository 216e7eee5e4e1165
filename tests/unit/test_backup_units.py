"""Backup and restore (issue 15), pure logic: no docker, no borg process.

The variables through the real loader (a config.eol written in tmp_path), borg's errors and listing
as borg 1.2 prints them (fed to a faked run), the manifest, the passphrase and the sealing of secrets,
the record of backups, the Bareos list and the cron entry.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from eole_conteneurs import cron
from eole_conteneurs.backup import eole, keys, place
from eole_conteneurs.backup.borg import Archive, BackupEngineError, Borg, _reason
from eole_conteneurs.backup.inventory import ANONYMOUS, DIRECTORY, VOLUME, Item, Manifest
from eole_conteneurs.backup.record import STATE, STOPPED, Record
from eole_conteneurs.backup.restoring import RestoreRefused, choose_archive
from eole_conteneurs.config.backup import RETENTION_VAR, REPOSITORY_VAR
from eole_conteneurs.config.loading import load_configuration
from eole_conteneurs.config.model import BackupPolicy, Retention
from eole_conteneurs.errors import EoleConteneursError, InvalidConfiguration


# -- the variables, through the loader ---------------------------------------------------------------

def one_container(**overrides):
    values = {"activer_conteneurs": "oui", "nombre_conteneurs": "1", "conteneur1_nom": "service",
              "conteneur1_depot": "httpd"}
    values.update(overrides)
    return values


def accepted(write_config, dicos, **overrides):
    return load_configuration(write_config(one_container(**overrides)), dicos)


def refused(write_config, dicos, **overrides) -> InvalidConfiguration:
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(one_container(**overrides)), dicos)
    return caught.value


def assert_only(error: InvalidConfiguration, variable: str, *words: str) -> None:
    assert [problem.variable for problem in error.problems] == [variable], error.summary()
    message = str(error.problems[0])
    assert message.startswith(variable) and "attendu" in message, message
    for word in words:
        assert word in message, message


def test_defaults(write_config, dicos):
    configuration = accepted(write_config, dicos)
    assert configuration.backup == BackupPolicy("/var/backups/eole-conteneurs", Retention(7, 4, 6), "non", (3, 15))
    backup = configuration.containers[0].backup
    assert (backup.dump_command, backup.restore_command, backup.stop) == ((), (), False)


@pytest.mark.parametrize("repository", ["sauvegardes", "./depot", "var/backups/x", "~/depot"])
def test_relative_repository_is_refused(write_config, dicos, repository):
    error = refused(write_config, dicos, conteneurs_sauvegarde_depot=repository)
    assert_only(error, REPOSITORY_VAR, repository)


@pytest.mark.parametrize("repository", ["ssh://user@host:2222/path", "ssh://borg@sauvegarde.example.org/~/depot",
                                        "ssh://host/srv/borg", "ssh://backup@[2001:db8::1]:22/depots/eole"])
def test_remote_repositories_are_accepted(write_config, dicos, repository):
    policy = accepted(write_config, dicos, conteneurs_sauvegarde_depot=repository).backup
    assert policy.repository == repository and policy.remote


@pytest.mark.parametrize("repository, reason", [
    ("ssh://user@host:99999/path", "port"),
    ("ssh://user@host:0/path", "port"),
    ("ssh://user@host:port/path", "invalide"),
    ("ssh://-oProxyCommand=touch /tmp/x/path", "invalide"),
    ("ssh://-oProxyCommand/path", "invalide"),
    ("ssh://-oProxyCommand@host/path", "invalide"),
    ("ssh://user@host", "invalide"),  # no path
    ("ssh://user@host/a b", "invalide"),
    ("ssh://user@host/depot;reboot", "invalide"),
])
def test_bad_remote_repositories_are_refused(write_config, dicos, repository, reason):
    error = refused(write_config, dicos, conteneurs_sauvegarde_depot=repository)
    assert_only(error, REPOSITORY_VAR, reason)


@pytest.mark.parametrize("repository", ["/etc/borg", "/proc/depot", "/"])
def test_system_directories_are_refused_as_repository(write_config, dicos, repository):
    assert_only(refused(write_config, dicos, conteneurs_sauvegarde_depot=repository), REPOSITORY_VAR)


def test_control_character_in_repository_is_refused(write_config, dicos):
    error = refused(write_config, dicos, conteneurs_sauvegarde_depot="/var/backups/a\nb")
    assert_only(error, REPOSITORY_VAR, "contrôle")
    assert "\n" not in str(error.problems[0])


def test_local_repository_is_normalised(write_config, dicos):
    policy = accepted(write_config, dicos, conteneurs_sauvegarde_depot="/var/backups//eole-conteneurs/").backup
    assert policy.repository == "/var/backups/eole-conteneurs" and not policy.remote


@pytest.mark.parametrize("host_dir, repository", [
    ("/srv/donnees", "/srv/donnees/borg"),  # the repository inside a shared directory
    ("/srv/donnees", "/srv/donnees"),
    ("/srv/donnees/appli", "/srv/donnees"),  # a shared directory inside the repository
])
def test_repository_and_shared_directories_are_apart(write_config, dicos, host_dir, repository):
    error = refused(write_config, dicos, conteneur1_rep_hote=[host_dir], conteneur1_rep_conteneur={"0": "/data"},
                    conteneurs_sauvegarde_depot=repository)
    assert_only(error, REPOSITORY_VAR, host_dir, "partagé")


def test_repository_beside_a_shared_directory_is_accepted(write_config, dicos):
    configuration = accepted(write_config, dicos, conteneur1_rep_hote=["/srv/donnees"],
                             conteneur1_rep_conteneur={"0": "/data"}, conteneurs_sauvegarde_depot="/srv/donnees-borg")
    assert configuration.backup.repository == "/srv/donnees-borg"


def test_remote_repository_is_never_a_shared_directory(write_config, dicos):
    configuration = accepted(write_config, dicos, conteneur1_rep_hote=["/srv/donnees"],
                             conteneur1_rep_conteneur={"0": "/data"},
                             conteneurs_sauvegarde_depot="ssh://borg@hote/srv/donnees")
    assert configuration.backup.remote


@pytest.mark.parametrize("value, retention", [
    ("7 4 6", Retention(7, 4, 6)), ("7", Retention(7, 0, 0)), ("7,4,6", Retention(7, 4, 6)),
    ("  14 ;  8 / 12 ", Retention(14, 8, 12)), ("0 0 1", Retention(0, 0, 1)), ("3 2", Retention(3, 2, 0)),
])
def test_retention_forms_are_accepted(write_config, dicos, value, retention):
    assert accepted(write_config, dicos, conteneurs_sauvegarde_conservation=value).backup.retention == retention


@pytest.mark.parametrize("value", ["abc", "0 0 0", "0", "-1", "7 4 6 2", "7.5", "99999", "7 -4"])
def test_bad_retention_is_refused(write_config, dicos, value):
    assert_only(refused(write_config, dicos, conteneurs_sauvegarde_conservation=value), RETENTION_VAR)


@pytest.mark.parametrize("value, expected", [("quotidienne", "quotidienne"), ("hebdomadaire", "hebdomadaire"),
                                             ("non", "non")])
def test_frequencies_are_accepted(write_config, dicos, value, expected):
    assert accepted(write_config, dicos, conteneurs_sauvegarde_frequence=value).backup.frequency == expected


@pytest.mark.parametrize("value", ["mensuelle", "oui", "Quotidienne", "daily"])
def test_bad_frequency_is_refused(write_config, dicos, value):
    assert_only(refused(write_config, dicos, conteneurs_sauvegarde_frequence=value), "conteneurs_sauvegarde_frequence")


@pytest.mark.parametrize("value, time", [("03:15", (3, 15)), ("3:15", (3, 15)), ("23:59", (23, 59)),
                                         ("00:00", (0, 0)), ("4h30", (4, 30)), (" 22:05 ", (22, 5))])
def test_times_are_accepted(write_config, dicos, value, time):
    assert accepted(write_config, dicos, conteneurs_sauvegarde_heure=value).backup.time == time


@pytest.mark.parametrize("value", ["24:00", "12:60", "midi", "12", "12:5", "-1:00", "12:15:00", "1 2:15"])
def test_bad_time_is_refused(write_config, dicos, value):
    assert_only(refused(write_config, dicos, conteneurs_sauvegarde_heure=value), "conteneurs_sauvegarde_heure",
                "HH:MM")


def test_dump_and_restore_commands_are_split_without_shell(write_config, dicos):
    configuration = accepted(write_config, dicos,
                             conteneur1_sauvegarde_commande="mariadb-dump --all-databases -p'mot de passe'",
                             conteneur1_restauration_commande="mariadb", conteneur1_sauvegarde_arret="oui")
    backup = configuration.containers[0].backup
    assert backup.dump_command == ("mariadb-dump", "--all-databases", "-pmot de passe")
    assert backup.restore_command == ("mariadb",)
    assert backup.stop


@pytest.mark.parametrize("command", ["pg_dumpall\nrm -rf /", "pg_dumpall\r\nx", "mariadb-dump 'non fermé"])
def test_bad_dump_command_is_refused(write_config, dicos, command):
    error = refused(write_config, dicos, conteneur1_sauvegarde_commande=command)
    assert_only(error, "conteneur1_sauvegarde_commande")
    assert "\n" not in str(error.problems[0])


def test_dump_command_of_the_second_container_names_it(write_config, dicos):
    error = refused(write_config, dicos, nombre_conteneurs="2", conteneur2_nom="autre", conteneur2_depot="httpd",
                    conteneur2_sauvegarde_commande="a\nb")
    assert_only(error, "conteneur2_sauvegarde_commande")


def test_restore_command_without_dump_command_is_refused(write_config, dicos):
    error = refused(write_config, dicos, conteneur1_restauration_commande="mariadb")
    assert_only(error, "conteneur1_restauration_commande", "conteneur1_sauvegarde_commande")


def test_backup_variables_are_not_checked_when_containers_are_disabled(write_config, dicos):
    configuration = accepted(write_config, dicos, activer_conteneurs="non", conteneurs_sauvegarde_depot="relatif",
                             conteneurs_sauvegarde_conservation="abc")
    assert not configuration.enabled


def test_all_backup_errors_are_reported_together(write_config, dicos):
    error = refused(write_config, dicos, conteneurs_sauvegarde_depot="relatif", conteneurs_sauvegarde_conservation="x",
                    conteneurs_sauvegarde_heure="99:99", conteneur1_restauration_commande="mariadb")
    assert sorted(problem.variable for problem in error.problems) == sorted([
        REPOSITORY_VAR, RETENTION_VAR, "conteneurs_sauvegarde_heure", "conteneur1_restauration_commande"])


# -- borg's errors ---------------------------------------------------------------------------------

def log(message: str, msgid: str | None = None, level: str = "ERROR") -> str:
    entry = {"type": "log_message", "time": 1796452545.37, "message": message, "levelname": level,
             "name": "borg.archiver"}
    if msgid is not None:
        entry["msgid"] = msgid
    return json.dumps(entry)


def stderr(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("msgid, message, french", [
    ("Repository.DoesNotExist", "Repository /srv/x does not exist.", "le dépôt n'existe pas"),
    ("PassphraseWrong", "passphrase supplied in BORG_PASSPHRASE, by BORG_PASSCOMMAND or via BORG_PASSPHRASE_FD is "
                        "incorrect.", "phrase secrète incorrecte"),
    ("LockTimeout", "Failed to create/acquire the lock /srv/x/lock (timeout).", "dépôt verrouillé"),
    ("Archive.DoesNotExist", "Archive nope does not exist", "archive absente du dépôt"),
    ("ConnectionClosedWithHint", "Connection closed by remote host. Is borg working on the server?",
     "dépôt distant injoignable"),
])
def test_known_message_ids_are_french(msgid, message, french):
    reason = _reason(stderr(log("Remote: some warning", level="WARNING"), log(message, msgid)), 2)
    assert reason.startswith(french)
    assert message not in reason


def test_no_space_left_is_named_whatever_the_message_id():
    traceback = ("Local Exception\nTraceback (most recent call last):\n  File \"borg/archiver.py\", line 5089\n"
                 "OSError: [Errno 28] No space left on device")
    reason = _reason(stderr(log(traceback, "Exception", level="CRITICAL")), 2)
    assert "espace disque insuffisant" in reason and "No space left on device" in reason


def test_unknown_error_gives_borgs_last_line():
    reason = _reason(stderr(log("first"), log("Some new failure\nwith its explanation")), 2)
    assert reason == "with its explanation"


def test_plain_text_and_warnings_are_not_taken_for_the_error():
    reason = _reason(stderr(log("just a warning", level="WARNING"), "", "borg: plain text line", "   "), 2)
    assert reason == "borg: plain text line"


def test_killed_borg_names_the_signal():
    assert _reason(b"", 137) == "borg interrompu (signal 9)"
    assert _reason(stderr(log("warning only", level="WARNING")), 143) == "borg interrompu (signal 15)"


def test_silent_failure_gives_the_code():
    assert _reason(b"", 2) == "borg a échoué (code 2)"


def test_control_characters_of_borg_are_escaped_and_long_lines_clipped():
    reason = _reason(stderr(log("bad \x1b[31mred\x1b[0m " + "x" * 1000)), 2)
    assert "\x1b" not in reason and len(reason) < 400


def test_engine_error_names_the_repository_and_its_variable():
    error = BackupEngineError("/srv/borg", "sauvegarde", "le dépôt n'existe pas")
    assert str(error) == "sauvegarde : dépôt /srv/borg (conteneurs_sauvegarde_depot) : le dépôt n'existe pas"


# -- borg's listing (a faked run: the JSON borg 1.2.4 prints for list --json --format '{comment}') ---------

LISTING = {
    "archives": [
        {"archive": "conteneurs-2026-12-01_03-15-00-ab12", "barchive": "conteneurs-2026-12-01_03-15-00-ab12",
         "comment": "conteneurs=notes-base,notes-appli", "id": "61de" * 16,
         "name": "conteneurs-2026-12-01_03-15-00-ab12", "start": "2026-12-01T03:15:00.000000",
         "time": "2026-12-01T03:15:00.000000"},
        {"archive": "conteneurs-2026-12-02_03-15-00-cd34.checkpoint",
         "barchive": "conteneurs-2026-12-02_03-15-00-cd34.checkpoint", "comment": "conteneurs=notes-base",
         "id": "72ef" * 16, "name": "conteneurs-2026-12-02_03-15-00-cd34.checkpoint",
         "start": "2026-12-02T03:15:00.000000", "time": "2026-12-02T03:15:00.000000"},
        {"archive": "avant-restauration-2026-12-03_10-00-00-ef56",
         "barchive": "avant-restauration-2026-12-03_10-00-00-ef56", "comment": "conteneurs=notes-base",
         "id": "83f0" * 16, "name": "avant-restauration-2026-12-03_10-00-00-ef56",
         "start": "2026-12-03T10:00:00.000000", "time": "2026-12-03T10:00:00.000000"},
        {"archive": "a-la-main", "barchive": "a-la-main", "comment": "", "id": "9401" * 16, "name": "a-la-main",
         "start": "2026-12-04T08:00:00.000000", "time": "2026-12-04T08:00:00.000000"},
        {"archive": "conteneurs-2026-12-04_03-15-00-0a0b", "barchive": "conteneurs-2026-12-04_03-15-00-0a0b",
         "comment": "conteneurs=notes-appli,", "id": "a512" * 16, "name": "conteneurs-2026-12-04_03-15-00-0a0b",
         "start": "2026-12-04T03:15:00.000000", "time": "2026-12-04T03:15:00.000000"},
    ],
    "encryption": {"mode": "repokey-blake2"},
    "repository": {"id": "8ef1" * 16, "last_modified": "2026-12-04T03:15:00.000000", "location": "/srv/borg"},
}


class FakedBorg(Borg):
    """Borg whose process is replaced by canned answers; records the arguments it was given."""

    def __init__(self, answers: dict[str, subprocess.CompletedProcess], repository: str = "/srv/borg"):
        super().__init__(repository, Path("/nulle-part/phrase"), Path("/nulle-part"))
        object.__setattr__(self, "answers", answers)
        object.__setattr__(self, "calls", [])

    def _run(self, operation, arguments, cwd=None, warnings=False):
        self.calls.append(arguments)
        answer = self.answers[arguments[0]]
        if answer.returncode == 1 and not warnings:
            raise BackupEngineError(self.repository, operation, _reason(answer.stderr, 1, levels=("WARNING",)))
        if answer.returncode not in (0, 1):
            raise BackupEngineError(self.repository, operation, _reason(answer.stderr, answer.returncode))
        return answer


def answer(stdout: bytes = b"", stderr: bytes = b"", code: int = 0) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(["borg"], code, stdout, stderr)


def listing_borg() -> FakedBorg:
    return FakedBorg({"list": answer(json.dumps(LISTING, indent=4).encode())})


def test_archives_skip_checkpoints_and_read_the_comment():
    borg = listing_borg()
    archives = borg.archives()
    assert archives == [
        Archive("conteneurs-2026-12-01_03-15-00-ab12", "2026-12-01T03:15:00.000000", ("notes-base", "notes-appli")),
        Archive("avant-restauration-2026-12-03_10-00-00-ef56", "2026-12-03T10:00:00.000000", ("notes-base",)),
        Archive("a-la-main", "2026-12-04T08:00:00.000000", ()),
        Archive("conteneurs-2026-12-04_03-15-00-0a0b", "2026-12-04T03:15:00.000000", ("notes-appli",)),
    ]
    assert borg.calls == [["list", "--json", "--format", "{comment}", "/srv/borg"]]


def test_empty_repository_has_no_archive():
    empty = {"archives": [], "encryption": {"mode": "repokey-blake2"}, "repository": {"location": "/srv/borg"}}
    assert FakedBorg({"list": answer(json.dumps(empty).encode())}).archives() == []


def test_listing_failure_is_a_french_engine_error():
    borg = FakedBorg({"list": answer(stderr=stderr(log("passphrase ... is incorrect.", "PassphraseWrong")), code=2)})
    with pytest.raises(BackupEngineError) as caught:
        borg.archives()
    assert caught.value.detail == "phrase secrète incorrecte"
    assert caught.value.operation == "lecture du dépôt"


def test_default_archive_is_the_latest_regular_one_holding_every_container():
    borg = listing_borg()
    base, appli = _spec("notes-base"), _spec("notes-appli")
    assert choose_archive(borg, [base], None).name == "conteneurs-2026-12-01_03-15-00-ab12"  # not avant-restauration
    assert choose_archive(borg, [appli], None).name == "conteneurs-2026-12-04_03-15-00-0a0b"
    assert choose_archive(borg, [base, appli], None).name == "conteneurs-2026-12-01_03-15-00-ab12"
    named = choose_archive(borg, [base], "avant-restauration-2026-12-03_10-00-00-ef56")
    assert named.name.startswith("avant-restauration-")  # taken when named


@pytest.mark.parametrize("specs, wanted, words", [
    (["autre"], None, "ne contient autre"),
    (["notes-base"], "conteneurs-2026-12-02_03-15-00-cd34.checkpoint", "absente"),  # a checkpoint is never one
    (["notes-base"], "conteneurs-2026-12-04_03-15-00-0a0b", "ne contient pas notes-base"),
])
def test_unsuitable_archive_is_refused(specs, wanted, words):
    with pytest.raises(RestoreRefused) as caught:
        choose_archive(listing_borg(), [_spec(name) for name in specs], wanted)
    assert words in str(caught.value)


def test_prune_keeps_the_retention_and_tells_whether_it_deleted():
    pruned = answer(stderr=stderr(log("Pruning archive: conteneurs-2026-11-01 …", level="INFO")))
    borg = FakedBorg({"prune": pruned})
    assert borg.prune(Retention(7, 0, 6), "conteneurs-")
    assert borg.calls == [["prune", "--list", "--glob-archives", "conteneurs-*", "--keep-daily=7", "--keep-weekly=0",
                           "--keep-monthly=6", "/srv/borg"]]
    kept = answer(stderr=stderr(log("Keeping archive (rule: daily #1): conteneurs-2026-12-04", level="INFO")))
    assert not FakedBorg({"prune": kept}).prune(Retention(), "conteneurs-")


def test_environment_never_passes_the_callers_borg_settings(monkeypatch):
    """borg reads the passphrase from its root-only file itself: the passphrase is in no environment."""
    monkeypatch.setenv("BORG_PASSCOMMAND", "cat /etc/shadow")
    monkeypatch.setenv("BORG_PASSPHRASE", "celle-de-l-appelant")
    monkeypatch.setenv("BORG_REPO", "/ailleurs")
    env = Borg("/srv/borg", Path("/etc/eole conteneurs/phrase"), Path("/var/lib/eole-conteneurs/borg")).environment()
    assert "BORG_REPO" not in env and "BORG_PASSPHRASE" not in env
    assert env["BORG_PASSCOMMAND"] == "cat -- '/etc/eole conteneurs/phrase'"
    assert env["BORG_BASE_DIR"] == "/var/lib/eole-conteneurs/borg"
    assert "BatchMode=yes" in env["BORG_RSH"]


def _spec(name: str):
    from eole_conteneurs.config.model import ContainerSpec, ImageRef

    return ContainerSpec(index=1, name=name, technology="docker", image=ImageRef("127.0.0.1:5000", "httpd", "2.4"))


# -- the manifest -----------------------------------------------------------------------------------

def test_manifest_round_trip():
    items = (Item(DIRECTORY, "/srv/notes/www", "/usr/local/apache2/htdocs"),
             Item(VOLUME, "/var/lib/docker/volumes/notes-donnees/_data", "/var/lib/mysql", "notes-donnees"),
             Item(ANONYMOUS, "/var/lib/docker/volumes/" + "f" * 64 + "/_data", "/cache"))
    manifest = Manifest("notes-base", "127.0.0.1:5000/service:1", "sha256:" + "a" * 64,
                        ("127.0.0.1:5000/service@sha256:" + "b" * 64,), items, True)
    data = manifest.as_bytes()
    assert Manifest.from_bytes(data, "conteneurs-x") == manifest
    document = json.loads(data)
    assert document["version"] == 1 and document["elements"][1] == {
        "type": "volume", "hote": "/var/lib/docker/volumes/notes-donnees/_data", "conteneur": "/var/lib/mysql",
        "nom": "notes-donnees"}


def test_manifest_is_the_same_bytes_for_the_same_container():
    """No date inside: an unchanged container's manifest is not written again (borg skips it too)."""
    assert Manifest("a", "img", "", (), (), False).as_bytes() == Manifest("a", "img", "", (), (), False).as_bytes()


def test_manifest_of_an_older_writer_without_optional_fields():
    data = json.dumps({"conteneur": "a", "image": "img", "elements": [{"type": "repertoire", "hote": "/srv/a",
                                                                        "conteneur": "/a"}]}).encode()
    manifest = Manifest.from_bytes(data, "x")
    assert manifest.items == (Item(DIRECTORY, "/srv/a", "/a"),)
    assert (manifest.image_id, manifest.digests, manifest.export) == ("", (), False)


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"conteneur": "a"}', b'{"conteneur": "a", "image": "i", '
                                                                         b'"elements": [{"type": "x"}]}'])
def test_unreadable_manifest_names_the_archive(data):
    with pytest.raises(EoleConteneursError) as caught:
        Manifest.from_bytes(data, "conteneurs-2026")
    assert str(caught.value) == "archive conteneurs-2026 : manifeste illisible"


# -- the passphrase and the sealing of secrets --------------------------------------------------------

def test_passphrase_is_created_root_only_then_read(tmp_path):
    path = tmp_path / "sauvegarde" / "phrase-secrete"
    phrase, created = keys.read_passphrase(path, create=True)
    assert created and len(phrase) >= 32
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert keys.read_passphrase(path, create=True) == (phrase, False)
    assert keys.read_passphrase(path, create=False) == (phrase, False)


def test_missing_passphrase_is_not_created_for_a_restore(tmp_path):
    with pytest.raises(keys.PassphraseError) as caught:
        keys.read_passphrase(tmp_path / "phrase", create=False)
    assert "absente" in str(caught.value) and str(tmp_path / "phrase") in str(caught.value)
    assert not (tmp_path / "phrase").exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_passphrase_readable_by_others_is_refused(tmp_path, mode):
    path = tmp_path / "phrase"
    path.write_text("une phrase assez longue\n")
    path.chmod(mode)
    with pytest.raises(keys.PassphraseError) as caught:
        keys.read_passphrase(path, create=False)
    assert "lisible par d'autres que root" in str(caught.value) and f"chmod 600 {path}" in str(caught.value)


def test_passphrase_symlink_is_refused(tmp_path):
    real = tmp_path / "vraie"
    real.write_text("une phrase assez longue\n")
    real.chmod(0o600)
    link = tmp_path / "phrase"
    link.symlink_to(real)
    with pytest.raises(keys.PassphraseError) as caught:
        keys.read_passphrase(link, create=True)
    assert "lien symbolique" in str(caught.value)
    dangling = tmp_path / "pendant"
    dangling.symlink_to(tmp_path / "absente")
    with pytest.raises(keys.PassphraseError):  # never created through the link
        keys.read_passphrase(dangling, create=True)
    assert not (tmp_path / "absente").exists()


def test_passphrase_not_a_regular_file_or_too_short_is_refused(tmp_path):
    directory = tmp_path / "rep"
    directory.mkdir(mode=0o700)
    with pytest.raises(keys.PassphraseError) as caught:
        keys.read_passphrase(directory, create=True)
    assert "pas un fichier ordinaire" in str(caught.value)
    short = tmp_path / "courte"
    short.write_text("abc\n")
    short.chmod(0o600)
    with pytest.raises(keys.PassphraseError) as caught:
        keys.read_passphrase(short, create=False)
    assert "moins de 8 caractères" in str(caught.value)


def test_passphrase_file_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(place.PASSPHRASE_ENV, str(tmp_path / "phrase"))
    assert place.passphrase_file() == tmp_path / "phrase"
    monkeypatch.delenv(place.PASSPHRASE_ENV)
    assert place.passphrase_file() == place.PASSPHRASE_FILE


@pytest.fixture(scope="module")
def sealer() -> keys.Sealer:
    return keys.Sealer("une phrase secrète", b"0123456789abcdef")


@pytest.mark.parametrize("value", ["mot de passe", ["a", "b"], {"0": "x"}, "", "é\n\"'"])
def test_sealed_values_come_back(sealer, value):
    sealed = sealer.seal(value)
    assert set(sealed) == {"chiffre"} and json.dumps(value) not in sealed["chiffre"]
    again = keys.Sealer("une phrase secrète", base64_decode(sealer.salt_text))
    assert again.unseal(sealed) == value


def base64_decode(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def test_wrong_passphrase_is_named(sealer):
    sealed = sealer.seal("mot de passe")
    with pytest.raises(EoleConteneursError) as caught:
        keys.Sealer("une autre phrase", sealer.salt).unseal(sealed)
    assert str(caught.value) == ("secret de la sauvegarde illisible : phrase secrète différente de celle de la "
                                 "sauvegarde")
    with pytest.raises(EoleConteneursError):
        sealer.unseal({"chiffre": "pas du fernet"})
    with pytest.raises(EoleConteneursError):
        sealer.unseal({})


def test_each_sealer_draws_its_own_salt():
    first, second = keys.Sealer("phrase"), keys.Sealer("phrase")
    assert len(first.salt) == 16 and first.salt != second.salt


# -- the record --------------------------------------------------------------------------------------

def test_record_of_saved_containers(tmp_path):
    record = Record(tmp_path / "etat")
    assert record.last_backups() == {} and record.stopped() == [] and record.pruned_on("/srv/borg") == ""
    first = datetime(2026, 12, 1, 3, 15, 0)
    record.saved(["a", "b"], "conteneurs-1", "/srv/borg", first)
    second = datetime(2026, 12, 2, 3, 15, 7)
    record.saved(["b"], "conteneurs-2", "/srv/borg", second)
    last = record.last_backups()
    assert set(last) == {"a", "b"}
    assert (last["a"].archive, last["a"].date, last["a"].repository) == ("conteneurs-1", first, "/srv/borg")
    assert (last["b"].archive, last["b"].date) == ("conteneurs-2", second)
    record.pruned("/srv/borg", "2026-12-02")
    assert record.pruned_on("/srv/borg") == "2026-12-02" and record.pruned_on("/ailleurs") == "" and set(record.last_backups()) == {"a", "b"}
    assert (tmp_path / "etat" / STATE).stat().st_mode & 0o777 == 0o600


def test_record_damaged_by_hand_is_as_if_never_saved(tmp_path):
    (tmp_path / STATE).write_text(json.dumps({"conteneurs": {"a": {"archive": "x", "date": "hier"},
                                                             "b": {"archive": "y", "date": "2026-12-01T03:15:00"},
                                                             "c": "texte"}}))
    assert list(Record(tmp_path).last_backups()) == ["b"]
    (tmp_path / STATE).write_text("{ à moitié")
    assert Record(tmp_path).last_backups() == {}
    Record(tmp_path).saved(["a"], "z", "/srv/borg", datetime(2026, 12, 1))
    assert list(Record(tmp_path).last_backups()) == ["a"]


def test_record_of_stopped_containers(tmp_path):
    record = Record(tmp_path)
    record.stopping(["id1", "id2"])
    assert record.stopped() == ["id1", "id2"]
    assert Record(tmp_path).stopped() == ["id1", "id2"]  # what the next run reads after a kill -9
    record.stopping([])
    assert record.stopped() == [] and not (tmp_path / STOPPED).exists()
    (tmp_path / STOPPED).write_text('{"pas": "une liste"}')
    assert record.stopped() == []


def test_record_unreadable_is_a_state_error(tmp_path):
    (tmp_path / STATE).mkdir()
    with pytest.raises(EoleConteneursError):
        Record(tmp_path).last_backups()


# -- EOLE: the Bareos list and the cron entry ---------------------------------------------------------

def test_fileset_lists_the_staging_directory_then_each_tree_once():
    items = [Item(DIRECTORY, "/srv/a", "/a"), Item(VOLUME, "/var/lib/docker/volumes/v/_data", "/v", "v"),
             Item(DIRECTORY, "/srv/a", "/autre")]
    text = eole.fileset(Path("/var/lib/eole-conteneurs/sauvegarde"), items)
    files = [line.strip() for line in text.splitlines() if line.strip().startswith("File =")]
    assert files == ['File = "/var/lib/eole-conteneurs/sauvegarde"', 'File = "/srv/a"',
                     'File = "/var/lib/docker/volumes/v/_data"']
    assert text.startswith("# ") and "Include {" in text and text.endswith("}\n")


def test_fileset_written_only_where_bareos_is_and_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(eole, "BAREOS_DIR", tmp_path / "bareosfichiers.d")
    staging = Path("/var/lib/eole-conteneurs/sauvegarde")
    assert eole.write_fileset(staging, []) is None
    (tmp_path / "bareosfichiers.d").mkdir()
    target = eole.write_fileset(staging, [Item(DIRECTORY, "/srv/a", "/a")])
    assert target == tmp_path / "bareosfichiers.d" / eole.BAREOS_FILE
    assert '"/srv/a"' in target.read_text() and target.stat().st_mode & 0o777 == 0o644
    before = target.stat().st_ino
    eole.write_fileset(staging, [Item(DIRECTORY, "/srv/a", "/a")])
    assert target.stat().st_ino == before  # unchanged: not rewritten
    eole.write_fileset(staging, [])
    assert '"/srv/a"' not in target.read_text()


@pytest.mark.parametrize("frequency, time, line", [
    ("quotidienne", (3, 15), "15 3 * * * root"),
    ("hebdomadaire", (22, 5), "5 22 * * 0 root"),
    ("quotidienne", (0, 0), "0 0 * * * root"),
])
def test_cron_line(frequency, time, line):
    entry = eole.cron_line(BackupPolicy(frequency=frequency, time=time))
    assert entry is not None and "\n" not in entry
    assert entry.startswith(line) and "/usr/bin/eole-conteneurs sauvegarde --planifiee" in entry
    assert entry.endswith(f">> {eole.LOG} 2>&1")


def test_no_cron_line_without_frequency():
    assert eole.cron_line(BackupPolicy()) is None


def test_write_schedule(tmp_path, monkeypatch):
    cron_file = tmp_path / "cron.d" / "eole-conteneurs"
    monkeypatch.setattr(cron, "CRON_FILE", cron_file)
    assert cron.write([eole.cron_line(BackupPolicy())]) is False and not cron_file.exists()
    daily = eole.cron_line(BackupPolicy(frequency="quotidienne", time=(4, 30)))
    assert cron.write([daily]) is True
    assert cron_file.read_text() == cron.text([daily]) and cron_file.stat().st_mode & 0o777 == 0o644
    assert cron_file.read_text().endswith("\n")  # cron ignores a last line without its newline
    assert cron.write([daily]) is False  # the same entry: untouched
    weekly = eole.cron_line(BackupPolicy(frequency="hebdomadaire", time=(4, 30)))
    assert cron.write([weekly, None]) is True and "30 4 * * 0 root" in cron_file.read_text()
    assert cron.write([None, None]) is True and not cron_file.exists()
    assert cron.write([]) is False


def test_cron_and_bareos_places_follow_the_environment(tmp_path):
    """EOLE_CONTENEURS_CRON / EOLE_CONTENEURS_BAREOS are read when the module is first imported."""
    code = "from eole_conteneurs import cron; from eole_conteneurs.backup import eole; print(cron.CRON_FILE); print(eole.BAREOS_DIR)"
    env = dict(os.environ, EOLE_CONTENEURS_CRON=str(tmp_path / "cron"), EOLE_CONTENEURS_BAREOS=str(tmp_path / "b"),
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    out = subprocess.run(["/usr/bin/python3", "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(tmp_path / "cron"), str(tmp_path / "b")]


# -- the saved variables ------------------------------------------------------------------------------

def test_variables_are_written_again_only_when_a_value_changed(write_config, dicos, tmp_path):
    from eole_conteneurs.backup.variables import VARIABLES, write_variables
    from eole_conteneurs.config.loading import load_validated

    staging, state = tmp_path / "sauvegarde", tmp_path / "etat"
    loaded = load_validated(write_config(one_container(conteneur1_secret_nom=["cle"],
                                                       conteneur1_secret_valeur={"0": "tres-secret"})), dicos)
    write_variables(loaded, staging, state, "phrase-de-test")
    first = (staging / VARIABLES).stat()
    assert b"tres-secret" not in (staging / VARIABLES).read_bytes()
    write_variables(loaded, staging, state, "phrase-de-test")
    assert (staging / VARIABLES).stat().st_ino == first.st_ino  # not rewritten: no key derivation either
    changed = load_validated(write_config(one_container(conteneur1_secret_nom=["cle"],
                                                        conteneur1_secret_valeur={"0": "autre-secret"})), dicos)
    write_variables(changed, staging, state, "phrase-de-test")
    assert (staging / VARIABLES).stat().st_ino != first.st_ino


def test_saved_variables_come_back_as_gen_config_writes_them(write_config, dicos, tmp_path):
    """Slaves keyed by the master's index, secrets decrypted; the file loads to the same configuration."""
    from eole_conteneurs.backup.variables import VARIABLES, as_config_eol, write_variables
    from eole_conteneurs.config.loading import load_dictionary, load_validated

    values = one_container(conteneur1_port_conteneur=["80"], conteneur1_port_hote={"0": "8081"},
                           conteneur1_secret_nom=["cle"], conteneur1_secret_valeur={"0": "tres-secret"})
    loaded = load_validated(write_config(values), dicos)
    write_variables(loaded, tmp_path, tmp_path / "etat", "phrase-de-test")
    config = as_config_eol((tmp_path / VARIABLES).read_bytes(), "phrase-de-test", load_dictionary(dicos))
    assert config["conteneur1_port_hote"] == {"owner": {"0": "restauration"}, "val": {"0": 8081}}
    assert config["conteneur1_secret_valeur"]["val"] == {"0": "tres-secret"}
    assert config["conteneur1_port_conteneur"] == {"owner": "restauration", "val": [80]}
    written = tmp_path / "config.eol"
    written.write_text(json.dumps(config))
    assert load_configuration(written, dicos) == loaded.configuration.__class__(
        str(written), True, loaded.configuration.containers, backup=loaded.configuration.backup)
    with pytest.raises(EoleConteneursError, match="phrase secrète différente"):
        as_config_eol((tmp_path / VARIABLES).read_bytes(), "une-autre-phrase", load_dictionary(dicos))


# -- borg's warnings ---------------------------------------------------------------------------------

def test_a_file_deleted_or_changed_while_read_keeps_the_archive():
    warned = answer(stderr=stderr(log("srv/www/cache/tmp-1: open: [Errno 2] No such file or directory: 'tmp-1'",
                                      level="WARNING"),
                                  log("srv/www/journal.log: file changed while we backed it up", level="WARNING")),
                    code=1)
    borg = FakedBorg({"create": warned})
    harmless = borg.create("conteneurs-x", ["srv/www"], ["www"], Path("/"))
    assert len(harmless) == 2 and [call[0] for call in borg.calls] == ["create"]
    assert borg.calls[0][-2:] == ["--", "srv/www"]  # never taken for an option, whatever the path


def test_news_of_a_stale_lock_removed_is_no_warning_about_the_data():
    news = answer(stderr=stderr(log("Killed stale lock vm@3281355014145.17675-0.", level="WARNING")), code=1)
    assert FakedBorg({"create": news}).create("conteneurs-x", ["srv/www"], ["www"], Path("/")) == []


def test_a_missing_tree_or_an_unreadable_file_deletes_the_incomplete_archive():
    for message in ("srv/www: open_root: [Errno 2] No such file or directory: 'www'",
                    "srv/www/base.db: read: [Errno 5] Input/output error"):
        borg = FakedBorg({"create": answer(stderr=stderr(log(message, level="WARNING")), code=1),
                          "delete": answer()})
        with pytest.raises(BackupEngineError, match="archive incomplète, supprimée") as caught:
            borg.create("conteneurs-x", ["srv/www"], ["www"], Path("/"))
        assert message.split(":")[0] in str(caught.value)
        assert [call[0] for call in borg.calls] == ["create", "delete"]


def test_a_warning_of_an_extract_is_a_failure():
    """A file it could not write (a full disk) or a path never matched: the copy is not the saved tree."""
    borg = FakedBorg({"extract": answer(stderr=stderr(log("srv/www/a: [Errno 28] No space left on device",
                                                          level="WARNING")), code=1)})
    with pytest.raises(BackupEngineError, match="espace disque insuffisant"):
        borg.extract("conteneurs-x", "srv/www", Path("/tmp"))


# -- a restore killed in the middle of a swap ---------------------------------------------------------

class StartOnlyEngine:
    """An engine that only lists and starts (what recover uses)."""

    def __init__(self, containers):
        self.listed, self.started = containers, []

    def containers(self):
        return self.listed

    def start(self, container):
        self.started.append(container)


@pytest.mark.parametrize("step", ["copie extraite", "cible mise de côté", "copie en place"])
def test_the_next_run_puts_back_the_data_of_a_restore_killed_at_any_step(tmp_path, step):
    from eole_conteneurs.backup.interrupted import Swap, recover
    from eole_conteneurs.engine.api import ObservedContainer
    from eole_conteneurs.journal import Journal
    import io

    target = tmp_path / "donnees"
    target.mkdir()
    (target / "f").write_text("avant")
    staged, replaced = tmp_path / ".donnees.restauration-x", tmp_path / ".donnees.avant-restauration-x"
    staged.mkdir()
    (staged / "f").write_text("sauvegarde")
    if step != "copie extraite":
        target.rename(replaced)
    if step == "copie en place":
        staged.rename(target)
    record = Record(tmp_path / "etat")
    record.swapping([Swap(target, staged, replaced=replaced).as_json()])
    record.stopping(["id-arrete"])
    engine = StartOnlyEngine([ObservedContainer("id-arrete", "base", "sha256:x", "exited")])
    journal = Journal(io.StringIO())

    recover(record, engine, journal)
    assert (target / "f").read_text() == "avant"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["donnees", "etat"]
    assert engine.started == ["id-arrete"] and record.swaps() == [] and record.stopped() == []
    assert "restauration interrompue" in journal.out.getvalue()


def test_a_swap_inside_a_mount_point_is_undone_entry_by_entry(tmp_path):
    from eole_conteneurs.backup.interrupted import ENTRIES, Swap, undo

    target = tmp_path / "point"
    (target / ".copie").mkdir(parents=True)
    (target / ".copie" / "nouveau").write_text("sauvegarde")
    replaced = target / ".ancien"
    replaced.mkdir()
    (replaced / "f").write_text("avant")  # set aside; the copy's entries half moved in
    os.rename(target / ".copie" / "nouveau", target / "nouveau")
    undo(Swap(target, target / ".copie", ENTRIES, replaced))
    assert sorted(path.name for path in target.iterdir()) == ["f"] and (target / "f").read_text() == "avant"


# -- diagnose: how old the last backup may be ---------------------------------------------------------

@pytest.mark.parametrize("frequency, age, ok", [
    ("quotidienne", "29h", True), ("quotidienne", "31h", False),
    ("hebdomadaire", "6d", True), ("hebdomadaire", "8d", False)])
def test_diagnose_reports_a_backup_older_than_its_frequency_allows(write_config, dicos, frequency, age, ok):
    from datetime import timedelta

    from eole_conteneurs.backup.record import LastBackup
    from eole_conteneurs.commands.diagnose import backup_lines
    from eole_conteneurs.config.loading import load_validated

    loaded = load_validated(write_config(one_container(conteneurs_sauvegarde_frequence=frequency)), dicos)
    now = datetime(2026, 12, 5, 8, 0)
    delta = timedelta(hours=int(age[:-1])) if age.endswith("h") else timedelta(days=int(age[:-1]))
    lines = backup_lines(loaded, {"service": LastBackup("conteneurs-x", now - delta, "/var/backups/eole-conteneurs")},
                         now)
    assert len(lines) == 1 and "Sauvegarde service" in lines[0]
    assert lines[0].split("=> ")[1].startswith("Ok" if ok else "Erreur"), lines[0]


def test_diagnose_reports_a_container_never_saved_and_says_when_backups_are_not_automatic(write_config, dicos):
    from eole_conteneurs.commands.diagnose import backup_lines
    from eole_conteneurs.config.loading import load_validated

    daily = load_validated(write_config(one_container(conteneurs_sauvegarde_frequence="quotidienne")), dicos)
    assert "=> Erreur (jamais sauvegardé)" in backup_lines(daily, {})[0]
    manual = load_validated(write_config(one_container()), dicos)
    assert backup_lines(manual, {}) == [".  Sauvegarde automatique         => Ok (désactivée : "
                                        "conteneurs_sauvegarde_frequence = non)"]


def test_status_counts_only_the_backups_of_the_declared_repository(tmp_path):
    record = Record(tmp_path)
    record.saved(["a"], "conteneurs-1", "/ancien/depot", datetime(2026, 12, 1))
    record.saved(["b"], "conteneurs-2", "/srv/borg", datetime(2026, 12, 2))
    assert set(record.last_backups_in("/srv/borg")) == {"b"}
    (tmp_path / STATE).write_text("{")  # damaged by hand: no backup known, no failure
    assert record.last_backups_in("/srv/borg") == {}


def test_a_refused_export_command_is_reported_once_not_again_through_the_restore_command(write_config, dicos):
    error = refused(write_config, dicos, conteneur1_sauvegarde_commande="mariadb-dump\n--all-databases",
                    conteneur1_restauration_commande="mariadb")
    assert_only(error, "conteneur1_sauvegarde_commande", "saut de ligne")
