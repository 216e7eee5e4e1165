"""`eole-conteneurs sauvegarde` and `eole-conteneurs restauration`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eole_conteneurs.backup import eole
from eole_conteneurs.backup.borg import Borg
from eole_conteneurs.backup.interrupted import recover
from eole_conteneurs.backup.record import Record
from eole_conteneurs.backup.saving import (Staging, archived, back_up, borg_for, forget_undeclared, observed_by_name,
                                           passphrase_of, selected)
from eole_conteneurs.backup.variables import VARIABLES, as_config_eol, write_variables
from eole_conteneurs.commands.text import table
from eole_conteneurs.config.backup import REPOSITORY_EXPECTED, checked_repository
from eole_conteneurs.config.loading import Loaded, load_dictionary
from eole_conteneurs.config.model import ContainerSpec
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.jobs.context import EXIT_ERROR, EXIT_OK, Job
from eole_conteneurs.jobs.engines import connected


def save(loaded: Loaded, job: Job, names: list[str]) -> int:
    """Exit 1 when any container could not be saved (the others were)."""
    specs = _selected(loaded, names)
    if not specs:
        job.journal.step("Aucun conteneur déclaré : rien à sauvegarder.")
        return EXIT_OK
    engine, reached = connected(job, specs)
    if not names:
        forget_undeclared(job.settings.backup_place, loaded)
    recover(Record(job.settings.backup_place.state), engine, job.journal)
    result = back_up(loaded, list(reached), engine, job.settings.backup_place, job.journal, job.settings.endpoints)
    if result.archive:
        job.journal.step(f"Sauvegarde terminée : archive {result.archive} ({len(result.containers)} conteneur(s))")
    if result.failed:
        job.journal.step(f"Non sauvegardé(s) : {', '.join(result.failed)}")
    return EXIT_ERROR if job.journal.failed else EXIT_OK  # a container not started again fails it too


def export_only(loaded: Loaded, job: Job, names: list[str]) -> int:
    """EOLE's pre-backup step: exports, manifests and variables written for Bareos, no archive.

    Containers disabled: nothing to export, and the Bareos list is withdrawn (EOLE's nightly backup
    must not fail, nor keep saving trees the module no longer manages).
    """
    place = job.settings.backup_place
    if not loaded.configuration.enabled:
        eole.remove_fileset()
        job.journal.step("Gestion des conteneurs désactivée : aucun export pour la sauvegarde d'EOLE")
        return EXIT_OK
    specs = selected(loaded, names)
    if not names:
        forget_undeclared(place, loaded)
    engine, reached = connected(job, specs)
    recover(Record(place.state), engine, job.journal)
    items, staged = Staging(engine, place, job.journal, job.settings.endpoints).run(list(reached),
                                                                                  observed_by_name(engine))
    if specs:
        write_variables(loaded, place.staging, place.state, passphrase_of(place, create=True, journal=job.journal))
    written = eole.write_fileset(place.staging, items)
    if written:
        job.journal.step(f"Liste Bareos écrite : {written}")
    job.journal.step(f"Exports prêts pour la sauvegarde d'EOLE dans {place.staging}")
    return EXIT_ERROR if staged.failed or job.journal.failed else EXIT_OK


def list_archives(loaded: Loaded, job: Job) -> int:
    passphrase_of(job.settings.backup_place, create=False, journal=job.journal)
    borg = borg_for(loaded, job.settings.backup_place)
    archives = borg.archives()
    if not archives:
        job.journal.step(f"Aucune archive dans {borg.repository}.")
        return EXIT_OK
    rows = [("Archive", "Date", "Conteneurs")]
    rows += [(archive.name, archive.time[:19].replace("T", " "), ", ".join(archive.containers) or "-")
             for archive in archives]
    job.journal.step(table(rows))
    return EXIT_OK


def restore_containers(loaded: Loaded, job: Job, names: list[str], archive: str | None) -> int:
    from eole_conteneurs.backup.restoring import RestoreRefused, restore  # what a backup never needs
    specs = _selected(loaded, names)
    if not specs:
        raise RestoreRefused("aucun conteneur déclaré à restaurer")
    engine, reached = connected(job, specs)
    result = restore(loaded, list(reached), engine, job.settings.backup_place, job.journal, job.settings.endpoints,
                     archive)
    ending = "Restauration terminée avec des erreurs" if job.journal.failed else "Restauration terminée"
    job.journal.step(f"{ending} depuis l'archive {result.archive} ; données remplacées conservées dans "
                     f"l'archive {result.safety_archive}")
    return EXIT_ERROR if job.journal.failed else EXIT_OK


def restore_configuration(loaded: Loaded | None, job: Job, target: Path, repository: str | None,
                          archive: str | None) -> int:
    """The saved variables written as a config.eol (secrets decrypted), never over an existing file."""
    from eole_conteneurs.backup.restoring import RestoreRefused, choose_archive
    if repository is not None:
        try:
            repository = checked_repository(repository)
        except ValueError as error:
            raise RestoreRefused(f"--depot « {repository} » : {error} ; attendu : {REPOSITORY_EXPECTED}") from None
    elif loaded is None:
        raise RestoreRefused("dépôt inconnu : donnez --depot (configuration illisible)")
    place = job.settings.backup_place
    passphrase = passphrase_of(place, create=False, journal=job.journal)
    borg = Borg(repository or (loaded.configuration.backup.repository if loaded else ""), place.passphrase,
                place.borg_base)
    chosen = choose_archive(borg, [], archive)
    dictionary = loaded.dictionary if loaded else load_dictionary(job.settings.dicos)
    config = as_config_eol(borg.read(chosen.name, archived(place.staging / VARIABLES)), passphrase, dictionary)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:  # made root's alone at its creation: the secrets in it are in clear
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise RestoreRefused(f"{target} existe déjà : choisissez un autre fichier (il n'est jamais remplacé)") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as output:
        json.dump(config, output, ensure_ascii=False, indent=1)
    job.journal.step(f"Variables du module de l'archive {chosen.name} écrites dans {target} (lisible par root seul)")
    return EXIT_OK


def _selected(loaded: Loaded, names: list[str]) -> list[ContainerSpec]:
    if not loaded.configuration.enabled:
        raise EoleConteneursError("gestion des conteneurs désactivée (activer_conteneurs = non) : rien à sauvegarder "
                                  "ni à restaurer")
    return selected(loaded, names)

