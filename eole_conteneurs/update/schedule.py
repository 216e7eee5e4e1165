"""The scheduled update's line of the module's cron file (cron.py).

EOLE's own schedule (/usr/share/eole/schedule) runs its scripts around the nightly Bareos backup, at a time
the administrator does not choose per task: the update runs at conteneurs_mise_a_jour_heure through cron,
which every EOLE server has, and waits for a reconfigure in progress through the module's lock.
"""

from __future__ import annotations

from eole_conteneurs import cron
from eole_conteneurs.config.model import UpdatePolicy

LOG = "/var/log/eole-conteneurs-mise-a-jour.log"  # root's alone (umask 077), rotated by logrotate


def cron_line(policy: UpdatePolicy) -> str | None:
    return cron.line(policy.frequency, policy.time, "mise-a-jour --planifiee", LOG)
