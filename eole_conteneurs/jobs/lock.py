"""One job at a time: reconfigure, apply, publish and the hooks change the same containers and files."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal

LOCK_FILE = Path("/run/lock/eole-conteneurs.lock")
DEFAULT_WAIT = 120


class ReconfigureBusy(EoleConteneursError):
    def __init__(self, lock: Path, waited: float, holder: str):
        super().__init__(f"un autre reconfigure est en cours ({holder}, verrou {lock}) : abandon après "
                         f"{waited:.0f} s d'attente")


class Lock:
    """flock: the kernel releases it when its holder dies, so a killed run never blocks the next one."""

    def __init__(self, path: Path, wait: float, journal: Journal):
        self.path, self.wait, self.journal = path, wait, journal

    def __enter__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        started, announced = time.monotonic(), False
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= self.wait:
                    self.handle.seek(0)
                    holder = self.handle.read().strip() or "processus inconnu"
                    self.handle.close()
                    raise ReconfigureBusy(self.path, waited, holder) from None
                if not announced:
                    self.journal.step(f"Un autre reconfigure est en cours : attente (au plus {self.wait:.0f} s)")
                    announced = True
                time.sleep(0.2)
        self.handle.truncate(0)
        self.handle.write(f"pid {os.getpid()}, depuis {time.strftime('%H:%M:%S')}\n")
        self.handle.flush()

    def __exit__(self, *exc) -> None:
        self.handle.truncate(0)
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
