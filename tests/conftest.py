"""Shared fixtures: a dictionary built from the repository's source, config.eol writers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

from eole_conteneurs.creole.buildtime import build_directory  # noqa: E402

SEED = {
    "activer_conteneurs": "oui",
    "nombre_conteneurs": "2",
    "conteneur1_nom": "hello-world",
    "conteneur1_hub": "127.0.0.1:5000",
    "conteneur1_depot": "hello-world",
    "conteneur2_nom": "my-apache-app",
    "conteneur2_hub": "127.0.0.1:5000",
    "conteneur2_depot": "httpd",
    "conteneur2_tag": "2.4",
    "conteneur2_rep_hote": ["/var/eole-httpd/"],
    "conteneur2_rep_conteneur": {"0": "/usr/local/apache2/htdocs/"},
    "conteneur2_port_conteneur": ["80"],
    "conteneur2_port_hote": {"0": "8081"},
    "conteneur2_persistance": "non",
}


def config_document(values: dict, owner: str = "gen_config") -> dict:
    """config.eol as Creole writes it: slaves (dict values) get owners keyed by index too."""
    document = {}
    for name, val in values.items():
        entry_owner = {key: owner for key in val} if isinstance(val, dict) else owner
        document[name] = {"owner": entry_owner, "val": val}
    document["___version___"] = "2.8.0"
    return document


@pytest.fixture(scope="session")
def dicos(tmp_path_factory) -> Path:
    """The module's dictionary rendered with the default NB_MAX (20)."""
    output = tmp_path_factory.mktemp("dicos")
    build_directory(CHECKOUT / "dicos", output, 20)
    return output


@pytest.fixture
def write_config(tmp_path):
    def write(values: dict, owner: str = "gen_config", name: str = "config.eol") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(config_document(values, owner), ensure_ascii=False, indent=1), encoding="utf-8")
        return path
    return write


@pytest.fixture
def seed() -> dict:
    return json.loads(json.dumps(SEED))
