"""EOLE's own backup (Bareos) and the schedule of the module's engine.

- Bareos: a FileSet fragment in /etc/bareos/bareosfichiers.d/ (only where that directory exists) lists
  the staging directory (exports, manifests, variables with encrypted secrets) and every saved tree; the
  pre-backup script /usr/share/eole/schedule/scripts/eole-conteneurs writes the exports before EOLE saves.
- The module's engine: a line of the module's cron file (cron.py) runs `eole-conteneurs sauvegarde` daily or
  on Sundays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from eole_conteneurs import cron, files
from eole_conteneurs.config.model import BackupPolicy

if TYPE_CHECKING:  # every reconfigure writes the schedule; only a host with Bareos lists the trees
    from eole_conteneurs.backup.inventory import Item

BAREOS_DIR = Path(os.environ.get("EOLE_CONTENEURS_BAREOS", "/etc/bareos/bareosfichiers.d"))
BAREOS_FILE = "eole-conteneurs.conf"
LOG = "/var/log/eole-conteneurs-sauvegarde.log"  # root's alone (umask 077), rotated by logrotate


def fileset(staging: Path, items: Iterable[Item]) -> str:
    """Bareos' Include syntax; paths are quoted (they were validated: no quote, no newline in them)."""
    trees = [str(staging)] + list(dict.fromkeys(item.host for item in items))
    lines = ["# Écrit par eole-conteneurs : données des conteneurs pour la sauvegarde d'EOLE (Bareos).",
             "Include {", "  Options {", "    signature = MD5", "    compression = GZIP", "  }"]
    lines += [f'  File = "{tree}"' for tree in trees]
    return "\n".join(lines + ["}", ""])


def write_fileset(staging: Path, items: Iterable[Item]) -> Path | None:
    """Written only where Bareos' fragments directory exists, and only when it changes."""
    if not BAREOS_DIR.is_dir():
        return None
    target = BAREOS_DIR / BAREOS_FILE
    content = fileset(staging, items).encode()
    if not target.exists() or target.read_bytes() != content:
        files.write_durably(target, content, 0o644)
    return target


def remove_fileset() -> None:
    target = BAREOS_DIR / BAREOS_FILE
    if target.exists():
        files.remove_durably(target)


def cron_line(policy: BackupPolicy) -> str | None:
    """The scheduled backup's line of the module's cron file (None: not scheduled)."""
    return cron.line(policy.frequency, policy.time, "sauvegarde --planifiee", LOG)
