"""Containers are removed only when activer_conteneurs = non was stored (issue 14, item 9): a config.eol
without the module's variables — empty, or pushed before the module was installed — says nothing."""

from __future__ import annotations

import json

import pytest

from eole_conteneurs.config import loading
from eole_conteneurs.config.loading import load_validated


@pytest.mark.parametrize("document, unconfirmed", [
    ({}, True),
    ({"nom_machine": {"owner": "gen_config", "val": "scribe"}}, True),
    ({"activer_conteneurs": {"owner": "default", "val": "non"}}, False),
    ({"activer_conteneurs": {"owner": "gen_config", "val": "non"}}, False),
])
def test_disabled_by_default_only_is_unconfirmed(dicos, tmp_path, document, unconfirmed):
    config = tmp_path / "config.eol"
    config.write_text(json.dumps(document))
    configuration = load_validated(config, dicos).configuration
    assert not configuration.enabled
    assert configuration.unconfirmed is unconfirmed


def test_on_an_eolebase_the_stored_file_tells(dicos, tmp_path, monkeypatch):
    """Creole's client answers the default for a variable its config.eol lacks."""
    stored = tmp_path / "config.eol"
    monkeypatch.setattr(loading, "DEFAULT_CONFIG", stored)
    raw = loading.RawConfig("creole", {})
    stored.write_text(json.dumps({"nom_machine": {"owner": "gen_config", "val": "amon"}}))
    assert loading._switch_stored(raw, creole_values=True) is False
    stored.write_text(json.dumps({"activer_conteneurs": {"owner": "gen_config", "val": "non"}}))
    assert loading._switch_stored(raw, creole_values=True) is True
    stored.write_text("{")
    assert loading._switch_stored(raw, creole_values=True) is False  # unreadable: nothing removed on a guess
