"""`eole-conteneurs reconfigure`: Creole's reconfigure sequence for this module, on hosts without Creole.

load and check → pretemplate hooks → files generated (into the module's own directory) → posttemplate
hooks (containers converge, then published: the web server tested and reloaded) → postservice hooks.
One run at a time;
every line also goes to /var/log/reconfigure.log.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from eole_conteneurs.config.loading import CHECKOUT, Loaded
from eole_conteneurs.engine.prefetch import Prefetch
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.jobs.context import (EXIT_ERROR, EXIT_OK, GENERATION_ENV, GENERATION_EXTERNAL, Job, RunMode,
                                          Settings, publication)
from eole_conteneurs.jobs.lock import DEFAULT_WAIT, Lock
from eole_conteneurs.jobs.memory import images_of_last_run
from eole_conteneurs.jobs.shims import INTERPRETER, own_phase
from eole_conteneurs.journal import Journal, Stream

LOG_FILE = Path("/var/log/reconfigure.log")
INSTALLED_HOOKS = Path("/usr/share/eole")
HOOK_NAME = re.compile(r"[A-Za-z0-9_-]+")  # run-parts: no dots, so no backups or packaging leftovers


class HookFailed(EoleConteneursError):
    def __init__(self, hook: Path, status: int):
        super().__init__(f"le script {hook} a échoué (code {status})")


class Tee:
    """The journal's stream: the terminal and the reconfigure log."""

    def __init__(self, *streams: Stream):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@dataclass(eq=False)
class Runner:
    """One `eole-conteneurs reconfigure`: its settings, its journal, the hook folders it runs."""

    settings: Settings
    journal: Journal
    hooks_root: Path
    wait: float = DEFAULT_WAIT

    def run(self) -> int:
        with Lock(self.settings.lock_file, self.wait, self.journal):
            # dockerd and the registry answer while the configuration is parsed (engine.prefetch).
            prefetch = Prefetch.start(self.settings.docker_url, images_of_last_run(self.settings.cache_dir))
            job = Job(self.settings, RunMode.for_runner(self.settings), self.journal, prefetch)
            loaded = job.load()
            count = len(loaded.configuration.containers)
            self.journal.step(f"Configuration valide ({loaded.configuration.source}) : {count} conteneur(s) actif(s)")
            files = publication(job, loaded)
            files.abandon()  # a killed run's files go back before any script sees them
            job = self._phase("pretemplate", job, loaded)
            self.journal.step("Génération des fichiers de configuration")
            files.stage()
            self._phase("posttemplate", job, loaded)
            if files.pending:  # no posttemplate hook published them
                files.publish()
            self._phase("postservice", replace(job, prefetch=None), loaded)
        failed = self.journal.failed
        self.journal.step("Reconfiguration terminée" + (" avec des erreurs" if failed else ""))
        return EXIT_ERROR if failed else EXIT_OK

    def _phase(self, phase: str, job: Job, loaded: Loaded) -> Job:
        """Runs the phase's scripts; returns the job, without its early reads once they may be stale."""
        directory = self.hooks_root / phase
        hooks = sorted(path for path in directory.iterdir()
                       if HOOK_NAME.fullmatch(path.name) and path.is_file() and os.access(path, os.X_OK)
                       ) if directory.is_dir() else []
        for hook in hooks:
            self.journal.step(f"Exécution de {hook}")
            own = own_phase(hook) if _same_interpreter_as_shims() else None
            if own is not None:
                status = self._run_in_process(own, job, loaded)
            else:
                job = replace(job, prefetch=None)  # another module's script may change containers or images
                status = self._run_hook(hook)
            if status != 0:
                raise HookFailed(hook, status)
        return job

    def _run_hook(self, hook: Path) -> int:
        import subprocess  # only for other modules' scripts: the module's own run in-process

        env = dict(os.environ, **self.settings.environment(),
                   **{GENERATION_ENV: GENERATION_EXTERNAL, "PYTHONPATH": _package_parent()})
        process = subprocess.Popen([str(hook), "reconfigure"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True, env=env)
        assert process.stdout is not None
        for line in process.stdout:
            self.journal.step(line.rstrip("\n"))
        return process.wait()

    def _run_in_process(self, phase: str, job: Job, loaded: Loaded) -> int:
        """What the script would run, without starting an interpreter: exit status and messages alike."""
        journal = Journal(self.journal.out)  # the script's own: its errors make its exit status
        try:
            from eole_conteneurs.jobs import hooks  # the convergence code: loaded only when a hook of the module runs

            return hooks.run_phase(phase, replace(job, journal=journal), loaded)
        except EoleConteneursError as error:
            journal.step(f"Erreur : {error}")
        except Exception as error:  # noqa: BLE001 - as the script's process would: one line, exit 1
            journal.step(f"Erreur inattendue : {error.__class__.__name__} : {error}")
        return EXIT_ERROR


def _same_interpreter_as_shims() -> bool:
    """The shims run Debian's /usr/bin/python3 (its packages): only there may their work run in-process.

    A virtual environment links to the same binary but not to the same packages.
    """
    try:
        return sys.prefix == sys.base_prefix and os.path.samefile(sys.executable, INTERPRETER)
    except OSError:
        return False


def _package_parent() -> str:
    return str(Path(__file__).resolve().parents[2])


def hooks_root() -> Path:
    """The checkout's hook folders when run from one, the installed ones otherwise."""
    return CHECKOUT if (CHECKOUT / "pretemplate").is_dir() and (CHECKOUT / "dicos").is_dir() else INSTALLED_HOOKS


def open_log(path: Path = LOG_FILE) -> IO[str] | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a", encoding="utf-8")
    except OSError as error:
        print(f"Attention : journal {path} inaccessible ({error.strerror})", file=sys.stderr)
        return None


def reconfigure(settings: Settings, wait: float = DEFAULT_WAIT, log: Path = LOG_FILE) -> int:
    """Run the sequence with the journal also appended to the reconfigure log."""
    stream = open_log(log)
    journal = Journal(Tee(sys.stdout, stream)) if stream else Journal(sys.stdout)
    journal.step(f"=== eole-conteneurs reconfigure, {time.strftime('%Y-%m-%d %H:%M:%S')} ===")
    try:
        return Runner(settings, journal, hooks_root(), wait=wait).run()
    except EoleConteneursError as error:
        journal.fail(str(error))
        journal.step("Reconfiguration interrompue (voir les erreurs ci-dessus)")
        return EXIT_ERROR
    finally:
        if stream:
            stream.close()
