"""`eole-conteneurs reconfigure`: Creole's reconfigure sequence for this module, on hosts without Creole.

load and check → pretemplate hooks → files generated (checkpointed) → posttemplate hooks
(containers converge, nginx validated and reloaded) → postservice hooks. One run at a time;
every line also goes to /var/log/reconfigure.log.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from .configuration import CHECKOUT, Loaded
from .errors import EoleConteneursError
from .journal import Journal
from .locking import DEFAULT_WAIT, Lock
from .context import EXIT_ERROR, EXIT_OK, GENERATION_ENV, GENERATION_EXTERNAL, Context
from .docker_engine import EarlyReads, images_of_last_run
from .publication import Publication

LOG_FILE = Path("/var/log/reconfigure.log")
INSTALLED_HOOKS = Path("/usr/share/eole")
HOOK_NAME = re.compile(r"[A-Za-z0-9_-]+")  # run-parts: no dots, so no backups or packaging leftovers
# The module's own hooks are shims to `eole_conteneurs.hooks`: comments, the distutils setting, one exec.
SHIM_IGNORED = re.compile(r"#.*|export SETUPTOOLS_USE_DISTUTILS=stdlib|")
SHIM_INTERPRETER = "/usr/bin/python3"
SHIM_COMMAND = re.compile(r'exec /usr/bin/python3 -m eole_conteneurs\.hooks (pretemplate|posttemplate) "\$@"')


class HookFailed(EoleConteneursError):
    def __init__(self, hook: Path, status: int):
        super().__init__(f"le script {hook} a échoué (code {status})")


class Tee:
    """The journal's stream: the terminal and the reconfigure log."""

    def __init__(self, *streams: TextIO):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@dataclass
class Runner:
    context: Context
    hooks_root: Path
    wait: float = DEFAULT_WAIT

    @property
    def journal(self) -> Journal:
        return self.context.journal

    def run(self) -> int:
        with self._locked():
            # dockerd and the registry answer while the configuration is parsed (see EarlyReads).
            early = EarlyReads(self.context.docker_url, images_of_last_run(self.context.cache_dir))
            loaded = self.context.load()
            count = len(loaded.configuration.containers)
            self.journal.step(f"Configuration valide ({loaded.configuration.source}) : {count} conteneur(s) actif(s)")
            nginx = self.context.nginx()
            nginx.recover()
            try:
                early = self._phase("pretemplate", loaded, early)
                publication = self._generate(loaded)
                self._phase("posttemplate", loaded, early)
            except EoleConteneursError:
                # Files written but not validated by posttemplate: put the previous ones back.
                nginx.recover()
                raise
            if nginx.checkpointed:  # no posttemplate hook validated the files
                nginx.commit()
            self._phase("postservice", loaded, None)
            publication.report_urls()
        failed = self.journal.failed
        self.journal.step("Reconfiguration terminée" + (" avec des erreurs" if failed else ""))
        return EXIT_ERROR if failed else EXIT_OK

    def _generate(self, loaded: Loaded) -> Publication:
        self.journal.step("Génération des fichiers de configuration")
        publication = self.context.publication(loaded)
        publication.prepare()
        publication.report(self.context.nginx().stage(publication.changes()))
        return publication

    def _phase(self, phase: str, loaded: Loaded, early: EarlyReads | None) -> EarlyReads | None:
        """Runs the phase's scripts; returns the early reads while they may still be trusted."""
        directory = self.hooks_root / phase
        hooks = sorted(path for path in directory.iterdir()
                       if HOOK_NAME.fullmatch(path.name) and path.is_file() and os.access(path, os.X_OK)
                       ) if directory.is_dir() else []
        for hook in hooks:
            self.journal.step(f"Exécution de {hook}")
            own_phase = shim_phase(hook) if _same_interpreter_as_shims() else None
            if own_phase:
                status = self._run_in_process(own_phase, loaded, early)
            else:
                early = None  # another module's script may change containers or images: read again
                status = self._run_hook(hook)
            if status != 0:
                raise HookFailed(hook, status)
        return early

    def _run_hook(self, hook: Path) -> int:
        import subprocess  # only for other modules' scripts: the module's own run in-process

        env = dict(os.environ, **{GENERATION_ENV: GENERATION_EXTERNAL,
                                  "EOLE_CONTENEURS_SCOPE": self.context.scope,
                                  "DOCKER_HOST": self.context.docker_url,
                                  "PYTHONPATH": _package_parent()})
        if self.context.config is not None:
            env["EOLE_CONTENEURS_CONFIG"] = str(self.context.config)
        if self.context.dicos is not None:
            env["EOLE_CONTENEURS_DICOS"] = str(self.context.dicos)
        process = subprocess.Popen([str(hook), "reconfigure"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True, env=env)
        for line in process.stdout:
            self.journal.step(line.rstrip("\n"))
        return process.wait()

    def _run_in_process(self, phase: str, loaded: Loaded, early: EarlyReads | None) -> int:
        """What the shim would run, without starting an interpreter: exit status and messages alike."""
        journal = Journal(self.journal.out)
        context = replace(self.context, journal=journal, external_generation=True, early=early)
        try:
            from . import hooks  # the convergence code: loaded only when a hook of the module runs

            return hooks.run_phase(phase, context, loaded)
        except EoleConteneursError as error:
            journal.step(f"Erreur : {error}")
        except Exception as error:  # noqa: BLE001 - as the shim's process would: one line, exit 1
            journal.step(f"Erreur inattendue : {error.__class__.__name__} : {error}")
        return EXIT_ERROR

    def _locked(self) -> Lock:
        return Lock(self.context.lock_file, self.wait, self.journal)


def shim_phase(hook: Path) -> str | None:
    """The phase of one of the module's own shims, None for any other script (run as it is)."""
    try:
        lines = [line.strip() for line in hook.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError):
        return None
    commands = [line for line in lines if not SHIM_IGNORED.fullmatch(line)]
    match = SHIM_COMMAND.fullmatch(commands[0]) if len(commands) == 1 else None
    return match.group(1) if match else None


def _same_interpreter_as_shims() -> bool:
    """The shims run Debian's /usr/bin/python3 (its packages): only there may their work run in-process.

    A virtual environment links to the same binary but not to the same packages.
    """
    try:
        return sys.prefix == sys.base_prefix and os.path.samefile(sys.executable, SHIM_INTERPRETER)
    except OSError:
        return False


def _package_parent() -> str:
    return str(Path(__file__).resolve().parent.parent)


def hooks_root() -> Path:
    """The checkout's hook folders when run from one, the installed ones otherwise."""
    return CHECKOUT if (CHECKOUT / "pretemplate").is_dir() and (CHECKOUT / "dicos").is_dir() else INSTALLED_HOOKS


def open_log(path: Path = LOG_FILE) -> TextIO | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a", encoding="utf-8")
    except OSError as error:
        print(f"Attention : journal {path} inaccessible ({error.strerror})", file=sys.stderr)
        return None


def reconfigure(context: Context, wait: float = DEFAULT_WAIT, log: Path = LOG_FILE) -> int:
    """Run the sequence with the journal also appended to the reconfigure log."""
    stream = open_log(log)
    journal = Journal(Tee(sys.stdout, stream) if stream else sys.stdout)
    journal.step(f"=== eole-conteneurs reconfigure, {time.strftime('%Y-%m-%d %H:%M:%S')} ===")
    context = Context(**{**context.__dict__, "journal": journal})
    try:
        return Runner(context, hooks_root(), wait=wait).run()
    except EoleConteneursError as error:
        journal.fail(str(error))
        journal.step("Reconfiguration interrompue (voir les erreurs ci-dessus)")
        return EXIT_ERROR
    finally:
        if stream:
            stream.close()
