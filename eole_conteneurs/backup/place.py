"""Where backups keep their files on the host (Settings gives them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# In the record's directory (BackupPlace.state): what a killed backup or restore leaves to undo.
STOPPED, SWAPS = "arretes-pour-sauvegarde", "restauration-en-cours"
PASSPHRASE_FILE = Path("/etc/eole-conteneurs/sauvegarde/phrase-secrete")
PASSPHRASE_ENV = "EOLE_CONTENEURS_PHRASE"  # another file (tests, a passphrase kept elsewhere)


def passphrase_file() -> Path:
    return Path(os.environ.get(PASSPHRASE_ENV) or PASSPHRASE_FILE)


@dataclass(frozen=True)
class BackupPlace:
    staging: Path  # exports, manifests, variables: saved with the data (and listed for Bareos)
    state: Path  # the record of backups: never saved itself
    passphrase: Path
    borg_base: Path  # BORG_BASE_DIR: borg's cache and its record of known repositories


def leftovers(state: Path) -> bool:
    """Whether a killed backup or restore left something to undo (two stat calls: every reconfigure asks)."""
    return (state / STOPPED).exists() or (state / SWAPS).exists()
