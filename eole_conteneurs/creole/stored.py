"""Where the configuration values come from: Creole's own client, or config.eol.

This is the one adapter that knows about both. Everything after it sees a plain
mapping of variable name -> RawValue (what Creole stored, not yet typed), with the
values of earlier releases already upgraded (upgrade.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from eole_conteneurs.creole.raw import RawConfig, RawValue
from eole_conteneurs.creole.upgrade import upgraded
from eole_conteneurs.errors import ConfigFileError, decode_reason, os_reason, show_value

__all__ = ["DEFAULT_CONFIG", "HOST_FACTS", "RawConfig", "RawValue", "creole_available", "host_facts",
           "read_config_eol", "read_creole_client", "read_values"]

DEFAULT_CONFIG = Path("/etc/eole/config.eol")
VERSION_KEY = "___version___"
# Variables of other EOLE dictionaries the module reads when the server has them.
HOST_FACTS = ("nom_machine", "nom_domaine_local", "server_cert", "server_key")
# Creole stores a scalar, a list or an index-keyed mapping: anything nested deeper is refused whole,
# before a recursive step (the upgrade, a message quoting the value) could exhaust Python's stack.
NESTING_MAX = 16


def read_config_eol(path: Path) -> RawConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ConfigFileError(str(path), "fichier introuvable") from error
    except OSError as error:
        raise ConfigFileError(str(path), f"lecture impossible ({os_reason(error)})") from error
    except UnicodeDecodeError as error:
        raise ConfigFileError(str(path), decode_reason(error)) from error
    try:
        document = json.loads(text, parse_int=_integer)
    except json.JSONDecodeError as error:
        reason = f"JSON invalide : {error.msg}"
        raise ConfigFileError(str(path), reason, error.lineno, error.colno) from error
    except RecursionError as error:
        raise ConfigFileError(str(path), "JSON invalide : listes ou objets imbriqués trop profondément "
                                         f"(au plus {NESTING_MAX} niveaux)") from error
    return RawConfig(str(path), _entries(str(path), document))


def _integer(literal: str) -> int | str:
    """A JSON integer; kept as its digits when Python refuses to convert it (over 4300 digits)."""
    try:
        return int(literal)
    except ValueError:
        return literal


_SCALARS = (str, int, float, bool, type(None))


def _flat(value: Any) -> bool:
    """A scalar, or a list or an object of scalars: what Creole writes (checked cheaply, then deeply if not)."""
    if isinstance(value, _SCALARS):
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    return items is not None and all(isinstance(item, _SCALARS) for item in items)


def _too_deep(value: Any) -> bool:
    """Nested beyond NESTING_MAX lists or objects (walked without recursion)."""
    pending = [(value, 0)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, (list, dict)):
            if depth >= NESTING_MAX:
                return True
            children = current.values() if isinstance(current, dict) else current
            pending.extend((child, depth + 1) for child in children)
    return False


def _entries(path: str, document: Any) -> dict[str, RawValue]:
    if not isinstance(document, dict):
        raise ConfigFileError(path, "un objet JSON {\"variable\": {\"owner\": …, \"val\": …}} est attendu")
    entries = {}
    for name, entry in document.items():
        if name == VERSION_KEY:
            continue
        if not isinstance(entry, dict) or "val" not in entry:
            raise ConfigFileError(path, f"entrée {show_value(name)} sans clé \"val\" "
                                        "(attendu : {\"owner\": …, \"val\": …})")
        if not all(map(_flat, entry.values())) and _too_deep(entry):
            raise ConfigFileError(path, f"entrée {show_value(name)} : listes ou objets imbriqués sur plus de "
                                        f"{NESTING_MAX} niveaux (attendu : un texte, une liste ou un objet "
                                        "{\"0\": …})")
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


def read_creole_client(names: Iterable[str]) -> RawConfig:
    """Values from Creole's daemon on an Eolebase, asked one name at a time.

    CreoleClient().get_creole(name, default) is the attested call: a multi comes back as
    a list, a slave as a list aligned on its master. A name Creole has no value for
    (None) is left out, as config.eol leaves out what was never set.
    """
    try:
        from creole.client import CreoleClient
    except ImportError as error:
        raise ConfigFileError("creole", f"client Creole introuvable ({error})") from error
    values: dict[str, RawValue] = {}
    try:
        client = CreoleClient()
        for name in dict.fromkeys(names):
            value = client.get_creole(name, None)
            if value is not None:
                values[name] = RawValue(value, "creole")
    except Exception as error:  # the client's own errors (creoled down…) are not part of our contract
        raise ConfigFileError("creole", f"lecture des valeurs par le client Creole impossible ({error})") from error
    return RawConfig("creole", values)


def read_values(config: Path | None, creole: bool, names: Iterable[str]) -> RawConfig:
    """Creole's client on an Eolebase (the run mode says so); otherwise config.eol (DEFAULT_CONFIG if none).

    names: the variables to ask Creole's client for (a config.eol file is read whole).
    Values saved by an earlier release come back upgraded, whatever the source.
    """
    raw = read_creole_client(names) if creole else read_config_eol(config or DEFAULT_CONFIG)
    return upgraded(raw)


def host_facts(raw: RawConfig) -> dict[str, str]:
    """The HOST_FACTS the source holds, as non-empty text (not validated: the caller does)."""
    facts = {}
    for name in HOST_FACTS:
        stored = raw.values.get(name)
        if stored is not None and isinstance(stored.val, str) and stored.val.strip():
            facts[name] = stored.val
    return facts
