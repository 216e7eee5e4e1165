"""EOLE diagnose lines for the module (diagnose/60-conteneurs is a shim to this).

As EOLE's own diagnose scripts: a header `*** Section`, then one line per check,
`.  Label                         => Ok|Erreur` (an optional detail in parentheses), and
always exit 0 — a refused configuration or a Docker that does not answer is an Erreur
line, never a traceback nor a failing exit code (`eole-conteneurs status` has those).
"""

from __future__ import annotations

import ssl
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta

from eole_conteneurs.backup.record import LastBackup
from eole_conteneurs.commands.status import collect, last_backups, updates
from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.containers.history import Outcome
from eole_conteneurs.engine.api import DOCKER, TECHNOLOGIES, DockerUnavailable, Engine, of_technology
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.jobs.context import EXIT_OK, Job, RunMode, Settings
from eole_conteneurs.jobs.engines import reach
from eole_conteneurs.publish.names import primary_name

HEADER = "*** Conteneurs (eole-conteneurs)"
LABEL_WIDTH = 30


def line(label: str, ok: bool, detail: str = "") -> str:
    suffix = f" ({detail})" if detail else ""
    return f".  {label:<{LABEL_WIDTH}} => {'Ok' if ok else 'Erreur'}{suffix}"


def one_line(error: BaseException) -> str:
    """A message on one line (a refused configuration lists its problems on several)."""
    return " ".join(part.strip() for part in str(error).splitlines() if part.strip())


def answers(path: str, host: str | None = None) -> tuple[bool, str]:
    """The location answers through the web server on loopback (403 from allow rules still answers).

    host: the Host header (the server's own name, so that its server block is the one asked);
    the connection is to 127.0.0.1 whatever it is, and the certificate is not verified.
    """
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(f"https://127.0.0.1{path}/", headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return True, str(response.status)
    except urllib.error.HTTPError as error:
        return error.code < 500, str(error.code)
    except (urllib.error.URLError, OSError) as error:
        return False, str(getattr(error, "reason", error))


def diagnose(job: Job) -> list[str]:
    lines = [HEADER]
    try:
        loaded = job.load()
    except EoleConteneursError as error:
        return lines + [line("Configuration", False, one_line(error))]
    lines.append(line("Configuration", True))
    if not loaded.configuration.enabled:
        return lines + [line("Gestion des conteneurs", True, "désactivée")]
    backups = last_backups(loaded, job)
    try:
        outcomes = updates(job)
    except EoleConteneursError as error:
        outcomes = {}
        lines.append(line("Mises à jour", False, one_line(error)))
    try:
        reached = reach(job, loaded.configuration.containers, start=False, report=False)
        lines += engine_lines(loaded, reached.refused, reached.engine)
        if reached.engine is None:
            return lines
        statuses = collect(loaded, job.settings.scope, reached.engine, backups, outcomes)
    except EoleConteneursError as error:
        return lines + [line("Docker", False, one_line(error))]
    for status in statuses:
        if status.declared:
            health = f"santé : {status.health}" if status.health != "-" else ""
            lines.append(line(f"Conteneur {status.name}", status.ok, health if status.ok else
                              ", ".join(filter(None, (status.state, health)))))
    return lines + web_lines(loaded) + backup_lines(loaded, backups) + update_lines(loaded, outcomes)


def engine_lines(loaded: Loaded, refused: dict[str, DockerUnavailable], engine: Engine | None) -> list[str]:
    """One line per technology some container is declared with (Docker when none is), naming those it leaves out."""
    declared = {spec.technology for spec in loaded.configuration.containers} or {DOCKER}
    lines = []
    for technology in (technology for technology in TECHNOLOGIES if technology in declared):
        label = technology.capitalize()
        if technology in refused:
            names = ", ".join(spec.name for spec in loaded.configuration.containers if spec.technology == technology)
            lines.append(line(label, False, one_line(refused[technology]) + (f" ; conteneurs : {names}" if names else "")))
        elif engine is not None:
            try:
                of_technology(engine, technology).ping()
                lines.append(line(label, True))
            except EoleConteneursError as error:
                lines.append(line(label, False, one_line(error)))
    return lines


def update_lines(loaded: Loaded, outcomes: dict[str, Outcome]) -> list[str]:
    """The schedule, and an Erreur line per declared container whose last new version was rolled back."""
    policy = loaded.configuration.updates
    schedule = ("désactivée : conteneurs_mise_a_jour_auto = non" if policy.frequency == "non"
                else f"{policy.frequency} à {policy.time[0]:02d}:{policy.time[1]:02d}")
    lines = [line("Mise à jour automatique", True, schedule)]
    for spec in loaded.configuration.containers:
        outcome = outcomes.get(spec.name)
        if outcome is not None and outcome.rolled_back:
            lines.append(line(f"Mise à jour {spec.name}", False, outcome.describe()))
    return lines


# How old the last backup may be: the period, and a margin for a backup that ran long or late.
ALLOWED_AGE = {"quotidienne": timedelta(hours=30), "hebdomadaire": timedelta(days=7, hours=6)}


def backup_lines(loaded: Loaded, last_backups: dict[str, LastBackup], now: datetime | None = None) -> list[str]:
    """With automatic backups, an Erreur line per container whose last backup is too old (or missing)."""
    policy = loaded.configuration.backup
    if policy.frequency not in ALLOWED_AGE:
        return [line("Sauvegarde automatique", True, "désactivée : conteneurs_sauvegarde_frequence = non")]
    now = now or datetime.now()
    lines = []
    for spec in loaded.configuration.containers:
        last = last_backups.get(spec.name)
        if last is None:
            lines.append(line(f"Sauvegarde {spec.name}", False, "jamais sauvegardé"))
            continue
        age = now - last.date
        ok = age <= ALLOWED_AGE[policy.frequency]
        detail = f"dernière : {last.date:%Y-%m-%d %H:%M}" + ("" if ok else f", plus ancienne que la fréquence "
                                                                          f"{policy.frequency} ne le permet")
        lines.append(line(f"Sauvegarde {spec.name}", ok, detail))
    return lines


def web_lines(loaded: Loaded) -> list[str]:
    """Each published location, asked under the server's own name."""
    published = [spec for spec in loaded.configuration.containers if spec.proxied_port is not None]
    if not published:
        return []
    if loaded.values.get("conteneurs_serveur_web") == "aucun":  # the administrator's own server: not ours to ask
        return [line("Web", True, "publication laissée à l'administrateur (conteneurs_serveur_web = aucun)")]
    host = primary_name(loaded)
    lines = []
    for spec in published:
        ok, detail = answers(spec.web_path, host)
        lines.append(line(f"Web {spec.web_path}/", ok, "" if ok else detail))
    return lines


def main() -> int:
    """Always 0, as EOLE's diagnose scripts: what went wrong is an Erreur line."""
    try:
        settings = Settings.from_environment()
        lines = diagnose(Job(settings, RunMode.for_command(settings)))
    except EoleConteneursError as error:
        lines = [HEADER, line("Configuration", False, one_line(error))]
    except KeyboardInterrupt:
        lines = [HEADER, line("Diagnostic", False, "interrompu")]
    except Exception as error:  # noqa: BLE001 - last resort, the detail is kept in the message
        lines = [HEADER, line("Diagnostic", False, f"erreur inattendue : {error.__class__.__name__} : {one_line(error)}")]
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:
        pass
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
