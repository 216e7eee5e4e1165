"""EOLE diagnose lines for the module: `Label => Ok|Erreur` (diagnose/60-conteneurs is a shim to this)."""

from __future__ import annotations

import ssl
import sys
import urllib.error
import urllib.request

from eole_conteneurs.commands.status import collect
from eole_conteneurs.engine.dockerd import DockerEngine
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.jobs.context import EXIT_ERROR, EXIT_OK, Job, RunMode, Settings, guarded

LABEL_WIDTH = 40


def line(label: str, ok: bool, detail: str = "") -> str:
    suffix = f" ({detail})" if detail else ""
    return f"{label:<{LABEL_WIDTH}} => {'Ok' if ok else 'Erreur'}{suffix}"


def answers(path: str) -> tuple[bool, str]:
    """The location answers through nginx on loopback (403 from allow rules still answers)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"https://127.0.0.1{path}/", timeout=5, context=context) as response:
            return True, str(response.status)
    except urllib.error.HTTPError as error:
        return error.code < 500, str(error.code)
    except (urllib.error.URLError, OSError) as error:
        return False, str(getattr(error, "reason", error))


def diagnose(job: Job) -> list[str]:
    lines = ["*** Conteneurs (eole-conteneurs)"]
    loaded = job.load()
    if not loaded.configuration.enabled:
        return lines + ["Gestion des conteneurs désactivée"]
    try:
        engine = DockerEngine.connect(job.settings.docker_url)
    except EoleConteneursError as error:
        return lines + [line("Docker", False, str(error))]
    lines.append(line("Docker", True))
    statuses = collect(loaded, job.settings.scope, engine)
    for status in statuses:
        if status.declared:
            health = f"santé : {status.health}" if status.health != "-" else ""
            lines.append(line(f"Conteneur {status.name}", status.ok, health if status.ok else
                              ", ".join(filter(None, (status.state, health)))))
    for spec in loaded.configuration.containers:
        if spec.ports:
            ok, detail = answers(spec.web_path)
            lines.append(line(f"Web {spec.web_path}/", ok, "" if ok else detail))
    return lines


def main() -> int:
    def run() -> int:
        settings = Settings.from_environment()
        lines = diagnose(Job(settings, RunMode.for_command(settings)))
        print("\n".join(lines))
        return EXIT_ERROR if any(text.endswith("Erreur") or "=> Erreur" in text for text in lines) else EXIT_OK
    return guarded(run)


if __name__ == "__main__":
    sys.exit(main())
