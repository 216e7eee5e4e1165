"""Validation of the backup variables: the repository, its retention and schedule (conteneurs_sauvegarde_*),
and what each container adds to a backup (conteneurN_sauvegarde_*, conteneurN_restauration_commande)."""

from __future__ import annotations

import re

from eole_conteneurs.config import paths, services
from eole_conteneurs.config.model import (DEFAULT_REPOSITORY, BackupPolicy, ContainerBackup, Retention,
                                          VolumeMapping, variable)
from eole_conteneurs.config.validator import Validator

REPOSITORY_VAR, RETENTION_VAR = "conteneurs_sauvegarde_depot", "conteneurs_sauvegarde_conservation"
FREQUENCY_VAR, TIME_VAR = "conteneurs_sauvegarde_frequence", "conteneurs_sauvegarde_heure"
FREQUENCIES = ("non", "quotidienne", "hebdomadaire")
# borg's own form of a remote repository; user and host as OpenSSH takes them, never an option ("-o…").
REMOTE = re.compile(r"ssh://(?:(?P<user>[a-z_][a-z0-9_.-]{0,31})@)?"
                    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])"
                    r"(?::(?P<port>[0-9]{1,5}))?(?P<path>/.*)", re.ASCII)
REPOSITORY_EXPECTED = ("un chemin absolu (ex. : /var/backups/eole-conteneurs) ou un dépôt distant "
                       "ssh://utilisateur@hôte[:port]/chemin")
RETENTION = re.compile(r"\s*([0-9]{1,4})(?:\s*[ ,;/]\s*([0-9]{1,4}))?(?:\s*[ ,;/]\s*([0-9]{1,4}))?\s*")
RETENTION_EXPECTED = ("de 1 à 3 nombres : archives quotidiennes, hebdomadaires et mensuelles gardées "
                      "(ex. : 7 4 6), au moins une")
TIME = re.compile(r"([01]?[0-9]|2[0-3])[:hH]([0-5][0-9])")
TIME_EXPECTED = "une heure HH:MM (ex. : 03:15)"
DUMP_EXPECTED = "une commande sur une ligne, guillemets équilibrés (ex. : mariadb-dump --all-databases)"


def policy(validator: Validator, shared_dirs: list[str]) -> BackupPolicy:
    """shared_dirs: every declared container's host directories (a repository must not be among them)."""
    repository = validator.checked(REPOSITORY_VAR, checked_repository, REPOSITORY_EXPECTED) or DEFAULT_REPOSITORY
    for directory in shared_dirs:
        if not repository.startswith("ssh://") and (_inside(repository, directory) or _inside(directory, repository)):
            validator.refuse(REPOSITORY_VAR, repository, "un dépôt hors des répertoires partagés avec les conteneurs",
                             reason=f"le répertoire partagé {directory} le contient ou est dedans")
            break
    retention = validator.checked(RETENTION_VAR, _retention, RETENTION_EXPECTED) or Retention()
    frequency = validator.scalar(FREQUENCY_VAR) or "non"
    if frequency not in FREQUENCIES:
        validator.refuse(FREQUENCY_VAR, frequency, "non, quotidienne ou hebdomadaire")
        frequency = "non"
    time = validator.checked(TIME_VAR, checked_time, TIME_EXPECTED) or BackupPolicy.time
    return BackupPolicy(repository, retention, frequency, time)


def container(validator: Validator, index: int) -> ContainerBackup:
    dump_var = variable(index, "sauvegarde_commande")
    dump = validator.checked(dump_var, services.command, DUMP_EXPECTED) or ()
    restore = validator.checked(variable(index, "restauration_commande"), services.command, DUMP_EXPECTED) or ()
    if restore and not validator.values.get(dump_var):  # a refused export command is reported once, as itself
        validator.refuse(variable(index, "restauration_commande"), " ".join(restore),
                         f"une commande de restauration avec une commande de sauvegarde ({dump_var})",
                         reason="rien à lui donner à lire")
    stop = validator.scalar(variable(index, "sauvegarde_arret")) == "oui"
    return ContainerBackup(dump, restore, stop)


def host_dirs(volumes: tuple[VolumeMapping, ...]) -> list[str]:
    return [volume.host_dir for volume in volumes]


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def checked_repository(value: str) -> str:
    """The repository as borg is given it, or ValueError(reason) (also for `restauration --depot`)."""
    value = value.strip()
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("caractère de contrôle")
    if value.startswith("ssh://"):
        match = REMOTE.fullmatch(value)
        if not match:
            raise ValueError("dépôt distant invalide")
        if match["port"] and not 1 <= int(match["port"]) <= 65535:
            raise ValueError("port hors de 1 à 65535")
        if match["path"] != "/" and not re.fullmatch(r"(/~)?(/[\w.@+-]+)+/?", match["path"], re.ASCII):
            raise ValueError("chemin distant invalide")
        return value
    if not value.startswith("/"):
        raise ValueError("chemin relatif : le dépôt dépendrait du répertoire courant")
    normalised = paths.normalise_absolute(value)
    if paths.is_forbidden(normalised):
        raise ValueError(f"répertoire système « {normalised} »")
    weak = paths.writable_ancestor(normalised)
    if weak is not None:
        raise ValueError(weak)
    return normalised


def _retention(value: str) -> Retention:
    match = RETENTION.fullmatch(value)
    if not match:
        raise ValueError("pas un nombre")
    daily, weekly, monthly = (int(group) if group else 0 for group in match.groups())
    if not daily + weekly + monthly:
        raise ValueError("aucune archive gardée")
    return Retention(daily, weekly, monthly)


def checked_time(value: str) -> tuple[int, int]:
    match = TIME.fullmatch(value.strip())
    if not match:
        raise ValueError("heure invalide")
    return int(match[1]), int(match[2])
