"""What the module remembers of its backups: the last good one of each container, the day of the last
pruning, and the containers a backup stopped (started again by the next run if it was killed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from eole_conteneurs import files
from eole_conteneurs.backup.place import STOPPED, SWAPS
from eole_conteneurs.errors import StateFileError, os_reason

STATE = "etat.json"


@dataclass(frozen=True)
class LastBackup:
    archive: str
    date: datetime
    repository: str


@dataclass(frozen=True)
class Record:
    """Files in the staging directory's parent state (never archived themselves)."""

    directory: Path

    def last_backups(self) -> dict[str, LastBackup]:
        found = {}
        for name, entry in (self._state().get("conteneurs") or {}).items():
            try:
                found[str(name)] = LastBackup(str(entry["archive"]), datetime.fromisoformat(str(entry["date"])),
                                              str(entry.get("depot", "")))
            except (KeyError, TypeError, ValueError):
                continue  # an entry damaged by hand: as if never saved
        return found

    def last_backups_in(self, repository: str) -> dict[str, LastBackup]:
        """The last backups made into repository (those of a repository no longer declared do not count);
        an unreadable record counts as none (status and diagnose report, they do not fail on it)."""
        try:
            return {name: last for name, last in self.last_backups().items() if last.repository == repository}
        except StateFileError:
            return {}

    def saved(self, names: list[str], archive: str, repository: str, when: datetime) -> None:
        state = self._state()
        containers = state.setdefault("conteneurs", {})
        for name in names:
            containers[name] = {"archive": archive, "date": when.isoformat(timespec="seconds"), "depot": repository}
        self._write(STATE, state)

    def pruned_on(self, repository: str) -> str:
        """The day retention was last applied to repository ("" never)."""
        days = self._state().get("nettoyage")
        return str(days.get(repository, "")) if isinstance(days, dict) else ""

    def pruned(self, repository: str, day: str) -> None:
        state = self._state()
        days = state.get("nettoyage")
        state["nettoyage"] = {**(days if isinstance(days, dict) else {}), repository: day}
        self._write(STATE, state)

    def stopped(self) -> list[str]:
        """Ids of containers a backup stopped and has not started again."""
        data = self._read(STOPPED)
        return [str(entry) for entry in data] if isinstance(data, list) else []

    def stopping(self, ids: list[str]) -> None:
        """Written before the first stop: a kill -9 afterwards leaves the next run knowing what to start."""
        if ids:
            self._write(STOPPED, ids)
        else:
            files.remove_durably(self.directory / STOPPED)

    def swaps(self) -> list[dict[str, str]]:
        """The destinations a restore was swapping (interrupted.Swap.as_json entries)."""
        data = self._read(SWAPS)
        return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []

    def swapping(self, entries: list[dict[str, str]]) -> None:
        """Written before each step of a swap, removed once the restore no longer needs it."""
        if entries:
            self._write(SWAPS, entries)
        else:
            files.remove_durably(self.directory / SWAPS)

    def knows(self, repository: str) -> bool:
        """Whether this host has already written to repository (a missing one is then a lost one)."""
        state = self._state()
        repositories = state.get("depots")
        return (isinstance(repositories, list) and repository in repositories) or any(
            isinstance(entry, dict) and entry.get("depot") == repository
            for entry in (state.get("conteneurs") or {}).values())

    def used(self, repository: str) -> None:
        state = self._state()
        known = state.get("depots")
        repositories: list[str] = known if isinstance(known, list) else []
        if repository not in repositories:
            state["depots"] = [*repositories, repository]
            self._write(STATE, state)

    def _state(self) -> dict[str, Any]:
        data = self._read(STATE)
        return data if isinstance(data, dict) else {}

    def _read(self, name: str) -> Any:
        path = self.directory / name
        try:
            return json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # half-written by hand: the next write replaces it
        except OSError as error:
            raise StateFileError(path, os_reason(error)) from None

    def _write(self, name: str, data: Any) -> None:
        try:
            if not self.directory.is_dir():
                files.make_directories(self.directory)
                self.directory.chmod(0o700)  # root's alone, as the staging directory
            files.write_durably(self.directory / name, json.dumps(data, ensure_ascii=False, indent=1).encode(), 0o600)
        except OSError as error:
            raise StateFileError(self.directory / name, os_reason(error)) from None
