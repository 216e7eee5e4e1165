"""Where the configuration values come from: Creole's own client, or config.eol.

This is the one adapter that knows about both. Everything after it sees a plain
mapping of variable name -> RawValue (what Creole stored, not yet typed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eole_conteneurs.errors import ConfigFileError

DEFAULT_CONFIG = Path("/etc/eole/config.eol")
VERSION_KEY = "___version___"


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


def read_config_eol(path: Path) -> RawConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ConfigFileError(str(path), "fichier introuvable") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigFileError(str(path), f"lecture impossible ({error})") from error
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        reason = f"JSON invalide : {error.msg}"
        raise ConfigFileError(str(path), reason, error.lineno, error.colno) from error
    return RawConfig(str(path), _entries(str(path), document))


def _entries(path: str, document: Any) -> dict[str, RawValue]:
    if not isinstance(document, dict):
        raise ConfigFileError(path, "un objet JSON {\"variable\": {\"owner\": …, \"val\": …}} est attendu")
    entries = {}
    for name, entry in document.items():
        if name == VERSION_KEY:
            continue
        if not isinstance(entry, dict) or "val" not in entry:
            raise ConfigFileError(path, f"entrée « {name} » sans clé \"val\" (attendu : {{\"owner\": …, \"val\": …}})")
        entries[name] = RawValue(entry["val"], entry.get("owner"))
    return entries


def creole_available() -> bool:
    """An Eolebase: Creole's client module is installed (found without importing anything).

    Another package named `creole` (a wiki markup converter has that name) has no `client`.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("creole")
    except (ImportError, ValueError):
        return False
    locations = (spec.submodule_search_locations or []) if spec is not None else []
    return any((Path(location) / "client.py").is_file() or (Path(location) / "client" / "__init__.py").is_file()
               for location in locations)


def read_creole_client() -> RawConfig:
    """Values from Creole's daemon on an Eolebase."""
    try:
        from creole.client import CreoleClient
    except ImportError as error:
        raise ConfigFileError("creole", f"client Creole introuvable ({error})") from error
    # get_creole() returns {name: value} for every enabled variable, slaves as lists.
    try:
        values = CreoleClient().get_creole()
    except Exception as error:  # the client's own errors (creoled down…) are not part of our contract
        raise ConfigFileError("creole", f"lecture des valeurs par le client Creole impossible ({error})") from error
    return RawConfig("creole", {name: RawValue(value, "creole") for name, value in values.items()})


def read_values(config: Path | None, creole: bool) -> RawConfig:
    """Creole's client on an Eolebase (the run mode says so); otherwise config.eol (DEFAULT_CONFIG if none)."""
    if creole:
        return read_creole_client()
    return read_config_eol(config or DEFAULT_CONFIG)
