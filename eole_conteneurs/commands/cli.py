"""The eole-conteneurs command."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from eole_conteneurs import __version__
from eole_conteneurs.commands.text import table
from eole_conteneurs.config.model import Configuration, ContainerSpec
from eole_conteneurs.jobs.context import EXIT_OK, Job, RunMode, Settings, guarded, locked
from eole_conteneurs.jobs.lock import DEFAULT_WAIT


TEMPLATES_HELP = "répertoire des gabarits (défaut : ceux du module)"


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="eole-conteneurs",
                                   description="Gestion des conteneurs déclarés dans la configuration EOLE.")
    main.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = main.add_subparsers(dest="command", metavar="COMMANDE", required=True)
    check = commands.add_parser("check", help="vérifie la configuration et affiche les conteneurs actifs")
    _configuration_options(check)
    plan = commands.add_parser("plan", help="affiche ce que « apply » ferait, sans rien modifier "
                                            "(sortie 0 : rien à faire, 2 : modifications à appliquer)")
    apply = commands.add_parser("apply", help="récupère les images et fait converger les conteneurs")
    publish = commands.add_parser("publish", help="publie les conteneurs par le serveur web de l'hôte "
                                                  "(rien n'est rechargé si rien n'a changé)")
    _configuration_options(publish)
    publish.add_argument("--gabarits", dest="templates", type=Path, metavar="RÉPERTOIRE", help=TEMPLATES_HELP)
    reconfigure = commands.add_parser("reconfigure", help="séquence reconfigure du module sans Creole : scripts "
                                                          "pretemplate, fichiers, posttemplate, postservice")
    _configuration_options(reconfigure)
    reconfigure.add_argument("--gabarits", dest="templates", type=Path, metavar="RÉPERTOIRE", help=TEMPLATES_HELP)
    reconfigure.add_argument("--attente", dest="wait", type=float, default=DEFAULT_WAIT, metavar="SECONDES",
                             help="attente maximale quand un autre reconfigure est en cours (défaut : 120)")
    state = commands.add_parser("status", help="état des conteneurs : image, empreinte, état, santé, ports, URL")
    _configuration_options(state)
    state.add_argument("--json", action="store_true", help="sortie JSON")
    volume = commands.add_parser("volume", help="volumes de données : liste, adoption, suppression explicite")
    actions = volume.add_subparsers(dest="volume_command", metavar="ACTION", required=True)
    listing = actions.add_parser("liste", help="volumes du module et volumes déclarés : origine, taille, utilisateurs")
    listing.add_argument("--json", action="store_true", help="sortie JSON")
    adopt = actions.add_parser("adopter", help="autorise les conteneurs qui le déclarent à utiliser un volume "
                                               "existant qui n'a pas été créé par eole-conteneurs")
    remove = actions.add_parser("supprimer", help="supprime un volume et ses données (refusé s'il est utilisé "
                                                  "ou encore déclaré)")
    for command in (adopt, remove):
        command.add_argument("name", metavar="NOM", help="nom du volume")
    for command in (listing, adopt, remove):
        _configuration_options(command)
    _backup_parsers(commands)
    _update_parser(commands)
    boot = commands.add_parser("demarrage", help="au démarrage du serveur (service eole-conteneurs) : démarre les "
                                                 "conteneurs Podman arrêtés ; Docker redémarre les siens")
    _configuration_options(boot)
    for command in (plan, apply):
        _configuration_options(command)
        command.add_argument("--recreer", dest="recreate", action="append", default=[], metavar="NOM",
                             help="recrée ce conteneur même s'il est persistant (répétable)")
    return main


def _backup_parsers(commands: argparse._SubParsersAction) -> None:
    save = commands.add_parser("sauvegarde", help="sauvegarde chiffrée (BorgBackup) des données des conteneurs : "
                                                  "répertoires partagés, volumes, exports, variables, images")
    save.add_argument("names", nargs="*", metavar="NOM", help="conteneurs à sauvegarder (défaut : tous)")
    what = save.add_mutually_exclusive_group()
    what.add_argument("--liste", dest="listing", action="store_true", help="liste les archives du dépôt")
    what.add_argument("--exports", action="store_true",
                      help="exports et liste Bareos seulement, pour la sauvegarde d'EOLE (script de pré-sauvegarde)")
    save.add_argument("--planifiee", dest="scheduled", action="store_true",
                      help="lancée par cron : attend jusqu'à une heure la fin d'un reconfigure en cours")
    restore = commands.add_parser("restauration", help="remet les données sauvegardées des conteneurs (les données "
                                                       "remplacées sont d'abord sauvegardées)")
    restore.add_argument("names", nargs="*", metavar="NOM", help="conteneurs à restaurer (défaut : tous)")
    restore.add_argument("--archive", metavar="ARCHIVE", help="archive à restaurer (défaut : la plus récente "
                                                              "qui contient ces conteneurs)")
    restore.add_argument("--configuration", dest="write_config", type=Path, metavar="CHEMIN",
                         help="écrit seulement les variables sauvegardées dans un nouveau fichier config.eol")
    restore.add_argument("--depot", dest="repository", metavar="DÉPÔT",
                         help="dépôt à lire avec --configuration (défaut : conteneurs_sauvegarde_depot)")
    for command in (save, restore):
        _configuration_options(command)


def _update_parser(commands: argparse._SubParsersAction) -> None:
    update = commands.add_parser("mise-a-jour", help="installe les nouvelles images publiées sous le même tag ; une "
                                                     "nouvelle version qui n'est pas saine à temps est annulée")
    update.add_argument("names", nargs="*", metavar="NOM",
                        help="conteneurs à mettre à jour (défaut : tous ; nommé, une version annulée est réessayée)")
    update.add_argument("--verifier", dest="check", action="store_true",
                        help="interroge les registres sans rien récupérer (sortie 2 : mises à jour disponibles)")
    update.add_argument("--planifiee", dest="scheduled", action="store_true",
                        help="lancée par cron : attend jusqu'à une heure la fin d'un reconfigure en cours")
    _configuration_options(update)


def _configuration_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", type=Path, metavar="CHEMIN",
                         help="fichier config.eol à lire (défaut : Creole, sinon /etc/eole/config.eol)")
    command.add_argument("--dicos", type=Path, metavar="CHEMIN",
                         help="dictionnaire Creole ou répertoire de dictionnaires (défaut : celui du module)")


def run_check(args: argparse.Namespace) -> int:
    # Reads only what it is given (no environment, no cache): a check changes nothing on the host.
    settings = Settings(config=args.config, dicos=args.dicos)
    configuration = Job(settings, RunMode.for_command(settings)).load().configuration
    print(describe(configuration))
    return EXIT_OK


def describe(configuration: Configuration) -> str:
    if configuration.unconfirmed:
        return (f"Configuration valide ({configuration.source}) : activer_conteneurs n'y est pas enregistré, "
                "aucun conteneur actif ; les conteneurs existants ne seront pas modifiés.")
    if not configuration.enabled:
        return (f"Configuration valide ({configuration.source}) : gestion des conteneurs désactivée "
                "(activer_conteneurs = non), aucun conteneur actif.")
    rows: list[tuple[str, ...]] = [("N°", "Nom", "Image", "Ports", "Répertoires", "Persistance")]
    rows += [_row(spec) for spec in configuration.containers]
    header = f"Configuration valide ({configuration.source}) : {len(configuration.containers)} conteneur(s) actif(s)"
    return header + "\n" + table(rows)


def _row(spec: ContainerSpec) -> tuple[str, ...]:
    ports = ", ".join(str(port) for port in spec.ports) or "Pas de port de sortie"
    volumes = ", ".join(str(volume) for volume in spec.volumes) or "-"
    return (str(spec.index), spec.name, str(spec.image), ports, volumes, "oui" if spec.persistent else "non")


# Docker-facing modules are imported by the commands that need them: `check` and
# `reconfigure`'s own process then start without loading the Docker SDK.

def run_plan(args: argparse.Namespace) -> int:
    from eole_conteneurs.jobs import operations
    job = _job(args)
    return operations.show_plan(job.load(), job, frozenset(args.recreate))


def run_apply(args: argparse.Namespace) -> int:
    from eole_conteneurs.jobs import operations
    job = _job(args)
    with locked(job):
        return operations.converge(job.load(), job, pull_all=True, recreate=frozenset(args.recreate))


def run_publish(args: argparse.Namespace) -> int:
    from eole_conteneurs.jobs import operations
    job = _job(args)
    with locked(job):
        return operations.publish(job.load(), job)


def run_reconfigure(args: argparse.Namespace) -> int:
    from eole_conteneurs.jobs import runner
    return runner.reconfigure(_settings(args), wait=args.wait)


def run_status(args: argparse.Namespace) -> int:
    from eole_conteneurs.commands import status
    job = _job(args)
    return status.show(job.load(), job, as_json=args.json)


def run_volume(args: argparse.Namespace) -> int:
    from eole_conteneurs.commands import volumes
    job = _job(args)
    if args.volume_command == "liste":
        return volumes.show(job.load(), job, as_json=args.json)
    with locked(job):  # never while a reconfigure creates or uses volumes
        if args.volume_command == "adopter":
            return volumes.adopt(job.load(), job, args.name)
        return volumes.remove(job.load(), job, args.name)


SCHEDULED_WAIT = 3600.0


def run_backup(args: argparse.Namespace) -> int:
    from eole_conteneurs.commands import backup
    job = _job(args)
    if args.listing:
        return backup.list_archives(job.load(), job)
    with locked(job, SCHEDULED_WAIT if args.scheduled else DEFAULT_WAIT):
        if args.exports:
            return backup.export_only(job.load(), job, args.names)
        return backup.save(job.load(), job, args.names)


def run_restore(args: argparse.Namespace) -> int:
    from eole_conteneurs.commands import backup
    from eole_conteneurs.errors import EoleConteneursError
    job = _job(args)
    if args.repository is not None and args.write_config is None:
        raise EoleConteneursError("--depot ne sert qu'avec --configuration (sinon : conteneurs_sauvegarde_depot)")
    if args.write_config is not None:
        try:
            loaded = job.load()
        except EoleConteneursError:
            loaded = None  # a fresh host: no configuration yet, the repository is given
        return backup.restore_configuration(loaded, job, args.write_config, args.repository, args.archive)
    with locked(job):
        return backup.restore_containers(job.load(), job, args.names, args.archive)


def run_update(args: argparse.Namespace) -> int:
    from eole_conteneurs.commands import update
    job = _job(args)
    if args.check:
        return update.check(job.load(), job, args.names)
    with locked(job, SCHEDULED_WAIT if args.scheduled else DEFAULT_WAIT):
        return update.update(job.load(), job, args.names)


def run_boot(args: argparse.Namespace) -> int:
    from eole_conteneurs.jobs import operations
    job = _job(args)
    with locked(job):
        return operations.start_after_boot(job.load(), job)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_environment(args.config, args.dicos, getattr(args, "templates", None))


def _job(args: argparse.Namespace) -> Job:
    """The run mode is decided here, once: a command writes the module's files itself."""
    settings = _settings(args)
    return Job(settings, RunMode.for_command(settings))


COMMANDS = {"check": run_check, "plan": run_plan, "apply": run_apply, "publish": run_publish,
            "reconfigure": run_reconfigure, "status": run_status, "volume": run_volume,
            "sauvegarde": run_backup, "restauration": run_restore, "mise-a-jour": run_update, "demarrage": run_boot}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return guarded(lambda: COMMANDS[args.command](args))


def command() -> int:
    """The `eole-conteneurs` process: main(), then it ends."""
    # A run allocates thousands of small objects (the dictionary's variables, the values) and frees
    # them by reference counting: the cyclic collector, run every 700 allocations by default, only
    # walks them again and again (≈ 10 ms at 100 containers). Still run, far less often.
    gc.set_threshold(50_000, 20, 100)
    status = main()
    # Spares the exit's collection of everything the run built (≈ 6 ms for 100 containers).
    gc.freeze()
    return status
