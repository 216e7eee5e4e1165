"""What became of each container's last new version: applied, or rolled back and why.

Written by the recreations that change a container's image (reconfigure, `mise-a-jour`), read by the
planner (an image rolled back is not taken again by itself), `status`, `diagnose` and `mise-a-jour`.
One JSON file under the state directory; it holds image ids and reasons, nothing secret.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from eole_conteneurs.errors import StateFileError, os_reason
from eole_conteneurs.files import write_durably

APPLIED, ROLLED_BACK = "appliquee", "annulee"
_WRITING = threading.Lock()


@dataclass(frozen=True)
class Outcome:
    """One new version of one container: image ids before and after (the refused one when rolled back)."""

    result: str  # APPLIED | ROLLED_BACK
    image: str  # the declared reference
    before: str
    after: str
    reason: str = ""
    date: str = ""  # local time, "YYYY-MM-DD HH:MM"

    @property
    def rolled_back(self) -> bool:
        return self.result == ROLLED_BACK

    @property
    def image_refused(self) -> bool:
        """A new image rolled back (not only new settings on the same image)."""
        return self.rolled_back and self.after != self.before

    def describe(self) -> str:
        if self.rolled_back:
            return f"annulée le {self.date} ({self.reason}) : version précédente en service"
        return f"appliquée le {self.date}"


@dataclass(frozen=True, eq=False)
class History:
    path: Path

    def load(self) -> dict[str, Outcome]:
        """By container name; an unreadable file is an error naming it (never silently forgotten)."""
        try:
            document = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise StateFileError(self.path, f"lecture impossible ({os_reason(error)})") from error
        except ValueError as error:
            raise StateFileError(self.path, f"contenu illisible ({error})") from error
        entries = document.get("conteneurs") if isinstance(document, dict) else None
        outcomes: dict[str, Outcome] = {}
        for name, entry in (entries.items() if isinstance(entries, dict) else ()):
            try:
                outcomes[str(name)] = Outcome(**{key: str(value) for key, value in entry.items()})
            except (TypeError, AttributeError):
                continue  # a field this version does not know: that entry only is dropped
        return outcomes

    def refused(self) -> dict[str, str]:
        """Container name → the image id rolled back (the planner does not take it again by itself)."""
        return {name: outcome.after for name, outcome in self.load().items() if outcome.image_refused}

    def record(self, name: str, outcome: Outcome) -> None:
        with _WRITING:  # recreations run side by side: one read-modify-write at a time
            self._save({**self.load(), name: outcome if outcome.date else _dated(outcome)})

    def settled(self, name: str) -> None:
        """A new version of name with the same image is healthy: a rollback of settings recorded before no longer
        holds (a rolled-back image still does: it is not the one in service)."""
        with _WRITING:
            outcomes = self.load()
            if name in outcomes and outcomes[name].rolled_back and not outcomes[name].image_refused:
                self._save({other: outcome for other, outcome in outcomes.items() if other != name})

    def forget(self, names: set[str]) -> None:
        with _WRITING:
            outcomes = self.load()
            if names & outcomes.keys():
                self._save({name: outcome for name, outcome in outcomes.items() if name not in names})

    def _save(self, outcomes: dict[str, Outcome]) -> None:
        document = {"version": 1, "conteneurs": {name: asdict(outcome) for name, outcome in sorted(outcomes.items())}}
        try:
            write_durably(self.path, json.dumps(document, ensure_ascii=False, indent=1).encode(), 0o644)
        except OSError as error:
            raise StateFileError(self.path, f"écriture impossible ({os_reason(error)})") from error


def _dated(outcome: Outcome) -> Outcome:
    return replace(outcome, date=time.strftime("%Y-%m-%d %H:%M"))
