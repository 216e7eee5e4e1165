"""What a job is given: its settings (where things are), its run mode (decided once, at the entry
point), its journal, and — in reconfigure only — the engine reads started early.

Kept free of the docker import so that commands that do not talk to Docker start fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from eole_conteneurs.cache import cache_dir_from_environment
from eole_conteneurs.config.loading import Loaded, default_sources, load_validated
from eole_conteneurs.containers.labels import DEFAULT_SCOPE
from eole_conteneurs.creole.stored import creole_available
from eole_conteneurs.engine.api import DOCKER_SOCKET, PODMAN_SOCKET, Endpoints
from eole_conteneurs.errors import EoleConteneursError, visible
from eole_conteneurs.jobs.lock import DEFAULT_WAIT, LOCK_FILE, Lock
from eole_conteneurs.journal import Journal

if TYPE_CHECKING:  # reconfigure's only: other commands do not load the engine for this module
    from eole_conteneurs.backup.place import BackupPlace
    from eole_conteneurs.publish.publication import Publication
    from eole_conteneurs.engine.prefetch import Prefetch

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
STATE_DIR = Path("/var/lib/eole-conteneurs")
# Set by `eole-conteneurs reconfigure` for the scripts it runs: it renders the templates itself, like Creole.
GENERATION_ENV, GENERATION_EXTERNAL = "EOLE_CONTENEURS_GENERATION", "externe"
# What Settings reads from the environment (and reconfigure passes on to the scripts it runs).
CONFIG_ENV, DICOS_ENV, SCOPE_ENV, DOCKER_ENV = ("EOLE_CONTENEURS_CONFIG", "EOLE_CONTENEURS_DICOS",
                                                "EOLE_CONTENEURS_SCOPE", "DOCKER_HOST")
PODMAN_ENV = "EOLE_CONTENEURS_PODMAN"  # where Podman's API service listens (started there when needed)


@dataclass(frozen=True)
class Settings:
    """Where the job reads its configuration, which engine it talks to, where it keeps its state."""

    config: Path | None = None  # None: Creole's client where installed, else /etc/eole/config.eol
    dicos: Path | None = None
    templates: Path | None = None
    state_dir: Path = STATE_DIR
    lock_file: Path = LOCK_FILE
    docker_url: str = DOCKER_SOCKET
    podman_url: str = PODMAN_SOCKET
    scope: str = DEFAULT_SCOPE
    cache_dir: Path | None = None  # None: every run starts from scratch

    @classmethod
    def from_environment(cls, config: Path | None = None, dicos: Path | None = None,
                         templates: Path | None = None) -> "Settings":
        """DOCKER_HOST as docker's own tools read it; the scope separates test benches."""
        env_config, env_dicos = os.environ.get(CONFIG_ENV), os.environ.get(DICOS_ENV)
        return cls(config=config or (Path(env_config) if env_config else None),
                   dicos=dicos or (Path(env_dicos) if env_dicos else None), templates=templates,
                   docker_url=os.environ.get(DOCKER_ENV, DOCKER_SOCKET),
                   podman_url=os.environ.get(PODMAN_ENV, PODMAN_SOCKET),
                   scope=os.environ.get(SCOPE_ENV, DEFAULT_SCOPE),
                   cache_dir=cache_dir_from_environment())

    def environment(self) -> dict[str, str]:
        """The variables from_environment() reads, for a script run in another process."""
        env = {SCOPE_ENV: self.scope, DOCKER_ENV: self.docker_url, PODMAN_ENV: self.podman_url}
        if self.config is not None:
            env[CONFIG_ENV] = str(self.config)
        if self.dicos is not None:
            env[DICOS_ENV] = str(self.dicos)
        return env

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(self.docker_url, self.podman_url)

    @property
    def nginx_backup(self) -> Path:
        return self.state_dir / "nginx-sauvegarde"

    @property
    def apache_backup(self) -> Path:
        return self.state_dir / "apache-sauvegarde"

    @property
    def publication_pending(self) -> Path:
        return self.state_dir / "publication-en-attente"

    @property
    def certificate_backup(self) -> Path:
        return self.state_dir / "certificat-sauvegarde"

    @property
    def persistence_file(self) -> Path:
        return self.state_dir / "persistants"

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def history_file(self) -> Path:
        """What became of each container's last new version (containers/history.py)."""
        return self.state_dir / "mises-a-jour.json"

    @property
    def adopted_volumes_file(self) -> Path:
        return self.state_dir / "volumes-adoptes"

    @property
    def backup_place(self) -> BackupPlace:
        from eole_conteneurs.backup.place import BackupPlace, passphrase_file  # what a no-op run never needs

        return BackupPlace(staging=self.state_dir / "sauvegarde", state=self.state_dir / "sauvegarde-etat",
                           passphrase=passphrase_file(), borg_base=self.state_dir / "borg")


class Templates(Enum):
    """Who renders the module's files (into /etc/eole-conteneurs/web) between pretemplate and posttemplate.

    posttemplate always publishes them (copies into the web server's configuration, tests, reloads).
    """

    MODULE = "module"  # nobody: posttemplate renders them itself first
    RUNNER = "runner"  # `eole-conteneurs reconfigure`'s template step
    CREOLE = "creole"  # Creole's template step


@dataclass(frozen=True)
class RunMode:
    """How this run gets its values and who writes the module's files: decided once, at the entry point."""

    creole_values: bool  # values from Creole's client (an Eolebase), else from a config.eol file
    templates: Templates

    @classmethod
    def for_command(cls, settings: Settings) -> "RunMode":
        """A command typed by the administrator: the module writes its files itself."""
        return cls(_creole_values(settings), Templates.MODULE)

    @classmethod
    def for_runner(cls, settings: Settings) -> "RunMode":
        return cls(_creole_values(settings), Templates.RUNNER)

    @classmethod
    def for_hook(cls, settings: Settings) -> "RunMode":
        """A hook script: run by `eole-conteneurs reconfigure`, by Creole's reconfigure, or by hand."""
        creole = _creole_values(settings)
        if os.environ.get(GENERATION_ENV) == GENERATION_EXTERNAL:
            return cls(creole, Templates.RUNNER)
        return cls(creole, Templates.CREOLE if creole else Templates.MODULE)


def _creole_values(settings: Settings) -> bool:
    return settings.config is None and creole_available()


@dataclass(frozen=True, eq=False)
class Job:
    """What one command or hook works with; passed down, never looked up."""

    settings: Settings
    mode: RunMode
    journal: Journal = field(default_factory=Journal)
    prefetch: Prefetch | None = None  # reconfigure's early reads, while they may still be trusted

    def load(self) -> Loaded:
        """Loaded and validated: nothing is changed when this raises."""
        settings = self.settings
        return load_validated(settings.config, settings.dicos, settings.cache_dir, self.mode.creole_values)

    @property
    def in_runner(self) -> bool:
        """Run by `eole-conteneurs reconfigure`, which holds the lock and owns the template step."""
        return self.mode.templates is Templates.RUNNER


def locked(job: Job, wait: float = DEFAULT_WAIT) -> Lock:
    """Held by every job that changes something (reconfigure's own hooks run under its lock)."""
    return Lock(job.settings.lock_file, wait, job.journal)


def publication(job: Job, loaded: Loaded) -> Publication:
    """The module's files for this configuration, through the job's web server transactions."""
    from eole_conteneurs.publish.apache import Apache  # what the commands that publish nothing never load
    from eole_conteneurs.publish.nginx import Nginx
    from eole_conteneurs.publish.publication import Publication

    settings = job.settings
    return Publication(loaded, settings.templates or default_sources().templates,
                       Nginx(job.journal, backup_dir=settings.nginx_backup),
                       Apache(job.journal, backup_dir=settings.apache_backup), job.journal,
                       settings.certificate_backup, settings.publication_pending, memo_dir=settings.cache_dir)


def guarded(job: Callable[[], int]) -> int:
    """Every failure ends as one French message and exit 1, never as a traceback."""
    try:
        return job()
    except EoleConteneursError as error:
        print(f"Erreur : {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("Erreur : interrompu", file=sys.stderr)
    except BrokenPipeError:
        pass
    except Exception as error:  # noqa: BLE001 - last resort, the detail is kept in the message
        print(visible(f"Erreur inattendue : {error.__class__.__name__} : {error}", keep="\n"), file=sys.stderr)
    return EXIT_ERROR
