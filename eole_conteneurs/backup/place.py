"""Where backups keep their files on the host (Settings gives them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BackupPlace:
    staging: Path  # exports, manifests, variables: saved with the data (and listed for Bareos)
    state: Path  # the record of backups: never saved itself
    passphrase: Path
    borg_base: Path  # BORG_BASE_DIR: borg's cache and its record of known repositories
