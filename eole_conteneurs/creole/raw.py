"""What a source stored, not yet typed: shared by the readers (stored) and the upgrade step (upgrade)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RawValue:
    """A stored value: a scalar, a list (multi) or an index-keyed mapping (slave)."""

    val: Any
    owner: Any = None


@dataclass(frozen=True)
class RawConfig:
    """The stored values of one source (a config.eol file, or Creole's client)."""

    source: str
    values: dict[str, RawValue]
