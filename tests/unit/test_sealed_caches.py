"""A cache only repeats what the module computed (issue 14, item 2): altered in place — by root, from a
container that could reach it — it is ignored, and can neither accept a refused value, nor change what
a template produces, nor choose where a file goes."""

from __future__ import annotations

import json
import os

import pytest

from eole_conteneurs import cache
from eole_conteneurs.config.loading import load_validated
from eole_conteneurs.creole.buildtime import expand_templates
from eole_conteneurs.creole.dictionary import CACHE_FILE
from eole_conteneurs.creole.rendering import MEMO_FILE, rendered_files
from eole_conteneurs.errors import InvalidConfiguration
from tests.conftest import CHECKOUT

BAD_TECHNOLOGY = {"activer_conteneurs": "oui", "nombre_conteneurs": "1", "conteneur1_nom": "service",
                  "conteneur1_depot": "httpd", "conteneur1_technologie": "inconnue"}


@pytest.fixture
def own_key(own_cache_key):
    return own_cache_key  # tests/unit/conftest.py: every unit test has its own key


def alter(path, change, keep_seal=True):
    """Rewrite a cache file's JSON as someone without the key would (keeping the old seal, or none)."""
    header, _, body = path.read_bytes().partition(b"\n")
    data = json.loads(body)
    change(data)
    altered = json.dumps(data, ensure_ascii=False).encode("utf-8")
    path.write_bytes((header + b"\n" + altered) if keep_seal else altered)


@pytest.mark.parametrize("keep_seal", [True, False])
def test_an_altered_dictionary_model_cannot_accept_a_refused_value(write_config, dicos, tmp_path, keep_seal):
    memo = tmp_path / "cache"
    load_validated(write_config({"activer_conteneurs": "non"}), dicos, memo)

    def widen(data):
        for check in data["dictionary"]["checks"]:
            if check["target"] == "conteneur1_technologie":
                check["params"] = [[None, "['docker', 'inconnue']"]]
    alter(memo / CACHE_FILE, widen, keep_seal)
    with pytest.raises(InvalidConfiguration) as caught:
        load_validated(write_config(BAD_TECHNOLOGY), dicos, memo)
    assert [problem.variable for problem in caught.value.problems] == ["conteneur1_technologie"]


def test_an_altered_dictionary_model_cannot_choose_where_files_go(write_config, dicos, tmp_path):
    memo = tmp_path / "cache"
    expected = [decl.name for decl in load_validated(write_config({"activer_conteneurs": "non"}), dicos,
                                                     memo).dictionary.templates]

    def elsewhere(data):
        for template in data["dictionary"]["templates"]:
            template["name"] = "/etc/cron.d/eole"
    alter(memo / CACHE_FILE, elsewhere)
    loaded = load_validated(write_config({"activer_conteneurs": "non"}), dicos, memo)
    assert [decl.name for decl in loaded.dictionary.templates] == expected


def test_an_altered_rendering_memo_changes_nothing(write_config, dicos, seed, tmp_path):
    templates = tmp_path / "tmpl"
    expand_templates(CHECKOUT / "tmpl", templates, 20)
    loaded = load_validated(write_config(seed), dicos)
    honest = rendered_files(loaded.dictionary, loaded.values, templates)
    rendered_files(loaded.dictionary, loaded.values, templates, tmp_path / "memo")

    def poison(data):
        data["rendus"] = {key: "location / { proxy_pass http://10.0.0.66/; }\n" for key in data["rendus"]}
        data["noms"] = {key: [] for key in data["noms"]}
    alter(tmp_path / "memo" / MEMO_FILE, poison)
    assert rendered_files(loaded.dictionary, loaded.values, templates, tmp_path / "memo") == honest


def test_the_key_is_private_and_never_followed(tmp_path, own_key):
    victim = tmp_path / "victime"
    victim.write_bytes(b"intact")
    own_key.parent.mkdir()
    os.symlink(victim, own_key)
    key = cache.cache_key()
    assert key is not None and len(key) == cache.KEY_SIZE
    assert victim.read_bytes() == b"intact" and not own_key.is_symlink()
    assert own_key.stat().st_mode & 0o777 == 0o600


def test_the_key_directory_is_made_private(own_key):
    assert cache.cache_key() is not None
    assert own_key.parent.stat().st_mode & 0o077 == 0


def test_a_key_in_a_directory_others_may_write_is_not_used(own_key, tmp_path):
    own_key.parent.mkdir()
    own_key.parent.chmod(0o777)
    assert cache.cache_key() is None
    cache.write_json(tmp_path / "c" / "x.json", {"a": 1})
    assert cache.read_json(tmp_path / "c" / "x.json") is None


def test_a_key_others_may_read_is_replaced(own_key):
    own_key.parent.mkdir()
    own_key.write_bytes(b"k" * cache.KEY_SIZE)
    own_key.chmod(0o644)
    assert cache.cache_key() != b"k" * cache.KEY_SIZE


def test_without_a_key_there_is_no_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "fichier"
    blocker.write_text("")
    monkeypatch.setenv(cache.KEY_ENV, str(blocker / "cle"))  # cannot exist: no key
    cache.write_json(tmp_path / "c" / "x.json", {"a": 1})
    assert cache.read_json(tmp_path / "c" / "x.json") is None
