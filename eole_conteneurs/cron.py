"""The module's cron file: the scheduled backup and the scheduled update, each at the administrator's time.

One file, /etc/cron.d/eole-conteneurs, rewritten whole when a line changes and removed when none is left.
Each job runs with umask 077 (its log is root's alone) and waits for a reconfigure in progress through
the module's lock (`--planifiee`): the two never run at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from eole_conteneurs import files

CRON_FILE = Path(os.environ.get("EOLE_CONTENEURS_CRON", "/etc/cron.d/eole-conteneurs"))
COMMAND = "/usr/bin/eole-conteneurs"
HEADER = "# Écrit par eole-conteneurs (conteneurs_sauvegarde_frequence, conteneurs_mise_a_jour_auto) : ne pas modifier."


def line(frequency: str, time: tuple[int, int], arguments: str, log: str) -> str | None:
    """One job: daily, or on Sundays (hebdomadaire); None for non."""
    if frequency == "non":
        return None
    hour, minute = time
    days = "*" if frequency == "quotidienne" else "0"
    return f"{minute} {hour} * * {days} root umask 077; [ -x {COMMAND} ] && {COMMAND} {arguments} >> {log} 2>&1"


def text(lines: list[str | None]) -> str | None:
    jobs = [job for job in lines if job]
    if not jobs:
        return None
    return "\n".join([HEADER, "SHELL=/bin/sh", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", *jobs, ""])


def write(lines: list[str | None]) -> bool:
    """The file as the lines say (removed when there is none); True when it changed."""
    content = text(lines)
    if content is None:
        if CRON_FILE.exists():
            files.remove_durably(CRON_FILE)
            return True
        return False
    if CRON_FILE.exists() and CRON_FILE.read_text(errors="replace") == content:
        return False
    files.write_durably(CRON_FILE, content.encode(), 0o644)
    return True
