"""French progress lines, one per step, as in the seed's reconfigure log."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Protocol

from eole_conteneurs.errors import visible


class Stream(Protocol):
    """Where the lines go: a terminal, a log, both (jobs.runner.Tee), a buffer (io.StringIO)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


@dataclass(eq=False)
class Journal:
    """Where a job reports, and what went wrong (its exit status)."""

    out: Stream = field(default_factory=lambda: sys.stdout)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def step(self, text: str) -> None:
        """A line may quote a value (a reason, a container's name): its control characters are escaped."""
        print(visible(text, keep="\n\t"), file=self.out, flush=True)

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        self.step(f"Attention : {text}")

    def fail(self, text: str) -> None:
        self.errors.append(text)
        self.step(f"Erreur : {text}")

    def merge(self, other: "Journal") -> None:
        """Lines another journal buffered (a parallel task), written here in one piece."""
        text = other.out.getvalue() if hasattr(other.out, "getvalue") else ""
        if text:
            self.out.write(text)
            self.out.flush()
        self.errors += other.errors
        self.warnings += other.warnings

    @property
    def failed(self) -> bool:
        return bool(self.errors)
