"""The module's variables in a backup: saved as validated, secrets encrypted; given back as a config.eol."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from eole_conteneurs import files
from eole_conteneurs.backup.keys import Sealer
from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.creole.dictionary import Dictionary
from eole_conteneurs.errors import EoleConteneursError, StateFileError, os_reason

VARIABLES = "variables.json"
DIGEST = "variables.empreinte"  # in the record's directory: never saved itself
OWNER = "restauration"


def write_variables(loaded: Loaded, staging: Path, state: Path, passphrase: str) -> None:
    """The enabled variables' values, those of password variables encrypted (a salt per file).

    Written again only when a value changed: the key derivation is costly on purpose, and an unchanged
    file is not even read again by borg. What was written is known by a keyed digest kept in state.
    """
    plain = {name: loaded.values.get(name) for name in loaded.dictionary.variables if loaded.values.is_enabled(name)}
    digest = hmac.new(passphrase.encode(), json.dumps(plain, sort_keys=True).encode(), hashlib.sha256).hexdigest()
    written = state / DIGEST
    if (staging / VARIABLES).is_file() and written.is_file() and written.read_text() == digest:
        return
    secret = {name for name, value in plain.items()
              if loaded.dictionary.variables[name].type == "password" and value not in (None, [])}
    sealer = Sealer(passphrase)
    variables = {name: sealer.seal(value) if name in secret else value for name, value in plain.items()}
    document = {"sel": sealer.salt_text, "variables": variables}
    try:
        files.write_durably(staging / VARIABLES, json.dumps(document, ensure_ascii=False, indent=1).encode(), 0o600)
        files.write_durably(written, digest.encode(), 0o600)
    except OSError as error:  # a full /var: named, and nothing is archived without its variables
        raise StateFileError(error.filename or staging / VARIABLES, os_reason(error)) from None


def as_config_eol(saved: bytes, passphrase: str, dictionary: Dictionary) -> dict[str, Any]:
    """A config.eol document as gen_config writes one: a slave's value and owner keyed by the master's index."""
    try:
        document = json.loads(saved)
        sealer = Sealer(passphrase, base64.b64decode(document["sel"]))
        variables = dict(document["variables"])
    except (ValueError, KeyError, TypeError):
        raise EoleConteneursError("variables de la sauvegarde illisibles") from None
    config: dict[str, Any] = {}
    for name, value in variables.items():
        if isinstance(value, dict) and "chiffre" in value:
            value = sealer.unseal(value)
        if value is None or value == []:
            continue
        if dictionary.master_of(name) is not None and isinstance(value, list):
            indexed = {str(index): entry for index, entry in enumerate(value) if entry is not None}
            config[name] = {"owner": {index: OWNER for index in indexed}, "val": indexed}
        else:
            config[name] = {"owner": OWNER, "val": value}
    return config
