"""Where a job reads its configuration, which Docker it talks to, where it keeps its state.

Kept free of the docker import so that commands that do not talk to Docker start fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import cache_dir_from_environment
from .configuration import Loaded, default_sources, load_validated
from .journal import Journal
from .locking import DEFAULT_WAIT, LOCK_FILE, Lock
from .nginx import Nginx
from .publication import Publication
from .state import DEFAULT_SCOPE, PersistenceRegistry

if TYPE_CHECKING:
    from .docker_engine import EarlyReads

DOCKER_SOCKET = "unix:///var/run/docker.sock"
EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
STATE_DIR = Path("/var/lib/eole-conteneurs")
CREOLE_SOURCE = "creole"
# Set by `eole-conteneurs reconfigure` for its hooks: it renders the templates itself, like Creole.
GENERATION_ENV, GENERATION_EXTERNAL = "EOLE_CONTENEURS_GENERATION", "externe"


@dataclass(frozen=True)
class Context:
    """Where the job reads its configuration and which Docker it talks to."""

    config: Path | None = None
    dicos: Path | None = None
    templates: Path | None = None
    state_dir: Path = STATE_DIR
    lock_file: Path = LOCK_FILE
    docker_url: str = DOCKER_SOCKET
    scope: str = DEFAULT_SCOPE
    external_generation: bool = False
    cache_dir: Path | None = None  # None: every run starts from scratch
    journal: Journal = field(default_factory=Journal)
    early: EarlyReads | None = None  # what reconfigure asked dockerd for at its start

    @classmethod
    def from_environment(cls, config: Path | None = None, dicos: Path | None = None,
                         templates: Path | None = None) -> "Context":
        """DOCKER_HOST as docker's own tools read it; the scope separates test benches."""
        env_config, env_dicos = os.environ.get("EOLE_CONTENEURS_CONFIG"), os.environ.get("EOLE_CONTENEURS_DICOS")
        return cls(config=config or (Path(env_config) if env_config else None),
                   dicos=dicos or (Path(env_dicos) if env_dicos else None), templates=templates,
                   docker_url=os.environ.get("DOCKER_HOST", DOCKER_SOCKET),
                   scope=os.environ.get("EOLE_CONTENEURS_SCOPE", DEFAULT_SCOPE),
                   external_generation=os.environ.get(GENERATION_ENV) == GENERATION_EXTERNAL,
                   cache_dir=cache_dir_from_environment())

    def load(self) -> Loaded:
        return load_validated(self.config, self.dicos, self.cache_dir)

    def publication(self, loaded: Loaded) -> Publication:
        return Publication(loaded, self.templates or default_sources().templates, self.nginx(), self.journal,
                           memo_dir=self.cache_dir)

    def locked(self) -> Lock:
        """Held by every job that changes something (reconfigure's own hooks run under its lock)."""
        return Lock(self.lock_file, DEFAULT_WAIT, self.journal)

    def nginx(self) -> Nginx:
        return Nginx(self.journal, backup_dir=self.state_dir / "nginx-sauvegarde")

    def registry(self) -> PersistenceRegistry:
        return PersistenceRegistry(self.state_dir / "persistants")
