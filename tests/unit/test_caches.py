"""What a reconfigure reuses from the previous run: the JSON store and the rendering memo."""

from __future__ import annotations

import os

import pytest

from eole_conteneurs.creole import rendering as templating
from eole_conteneurs.creole.buildtime import expand_templates
from eole_conteneurs.cache import read_json, write_json
from eole_conteneurs.config.loading import load_validated
from eole_conteneurs.creole.rendering import MEMO_FILE, rendered_files
from tests.conftest import CHECKOUT


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    output = tmp_path_factory.mktemp("tmpl")
    expand_templates(CHECKOUT / "tmpl", output, 20)
    return output


def test_store_round_trip_and_permissions(tmp_path):
    path = tmp_path / "cache" / "data.json"
    write_json(path, {"clé": "valeur"})
    assert read_json(path) == {"clé": "valeur"}
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o077 == 0


def test_store_is_private_whatever_the_umask(tmp_path):
    previous = os.umask(0)
    try:
        write_json(tmp_path / "cache" / "data.json", {"a": 1})
    finally:
        os.umask(previous)
    assert read_json(tmp_path / "cache" / "data.json") == {"a": 1}


@pytest.mark.parametrize("spoil", ["world-writable", "other-owner", "corrupt", "not-a-dict", "dir-writable"])
def test_doubtful_store_is_ignored(tmp_path, spoil):
    path = tmp_path / "cache" / "data.json"
    write_json(path, {"a": 1})
    if spoil == "world-writable":
        path.chmod(0o666)
    elif spoil == "other-owner":
        if os.geteuid() != 0:
            pytest.skip("changing a file's owner needs root")
        os.chown(path, 1, 1)
    elif spoil == "corrupt":
        path.write_text('{"a": ')
    elif spoil == "not-a-dict":
        path.write_text("[1, 2]")
    else:
        path.parent.chmod(0o777)
    assert read_json(path) is None


def test_unwritable_store_is_only_a_missed_speed_up(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    write_json(blocker / "data.json", {"a": 1})  # its directory cannot exist: nothing raised
    assert read_json(blocker / "data.json") is None


class CountingRender:
    def __init__(self, monkeypatch):
        self.names: list[str] = []
        original = templating.render_text

        def counting(name, text, namespace):
            self.names.append(name)
            return original(name, text, namespace)
        monkeypatch.setattr(templating, "render_text", counting)


def render_all(write_config, dicos, templates, values, memo):
    loaded = load_validated(write_config(values), dicos)
    return {declaration.name: content for declaration, content in
            rendered_files(loaded.dictionary, loaded.values, templates, memo)}


def test_memo_gives_what_rendering_gives(write_config, dicos, templates, seed, tmp_path, monkeypatch):
    without_memo = render_all(write_config, dicos, templates, seed, None)
    first = render_all(write_config, dicos, templates, seed, tmp_path)
    counter = CountingRender(monkeypatch)
    second = render_all(write_config, dicos, templates, seed, tmp_path)
    assert first == second == without_memo
    assert counter.names == []
    assert (tmp_path / MEMO_FILE).exists()


def test_one_changed_value_renders_its_template_only(write_config, dicos, templates, seed, tmp_path, monkeypatch):
    render_all(write_config, dicos, templates, seed, tmp_path)
    counter = CountingRender(monkeypatch)
    changed = render_all(write_config, dicos, templates, {**seed, "conteneur2_port_hote": {"0": "8099"}}, tmp_path)
    assert sorted(name.rsplit("/", 1)[-1] for name in counter.names) == ["apache-conteneur2.conf", "conteneur2.conf"]
    assert "127.0.0.1:8099" in changed["/etc/eole-conteneurs/web/nginx/conteneur2.conf"]


def test_changed_template_text_is_rendered_again(write_config, dicos, templates, seed, tmp_path, monkeypatch):
    render_all(write_config, dicos, templates, seed, tmp_path)
    edited = tmp_path / "tmpl"
    expand_templates(CHECKOUT / "tmpl", edited, 20)
    target = edited / "conteneur2.conf"
    target.write_text("# édité\n" + target.read_text())
    counter = CountingRender(monkeypatch)
    files = render_all(write_config, dicos, edited, seed, tmp_path)
    assert sorted(name.rsplit("/", 1)[-1] for name in counter.names) == ["conteneur2.conf"]
    assert files["/etc/eole-conteneurs/web/nginx/conteneur2.conf"].startswith("# édité\n")


def test_a_disabled_variable_changes_the_key(write_config, dicos, templates, seed, tmp_path):
    """A template asking is_defined('x') renders differently when x is enabled or not."""
    render_all(write_config, dicos, templates, seed, tmp_path)
    off = render_all(write_config, dicos, templates, {**seed, "conteneurs_serveur_web": "aucun"}, tmp_path)
    assert off == render_all(write_config, dicos, templates, {**seed, "conteneurs_serveur_web": "aucun"}, None)


def test_dictionary_model_round_trips_through_the_cache(dicos, tmp_path, monkeypatch):
    from eole_conteneurs.creole import dictionary as module
    paths = module.dictionary_files(dicos)
    parsed = module.load_dictionaries(paths)
    module.load_dictionaries(paths, tmp_path)

    def no_parsing(path):
        raise AssertionError(f"{path} parsed again")
    monkeypatch.setattr(module, "parse_file", no_parsing)
    cached = module.load_dictionaries(paths, tmp_path)
    assert cached == parsed
    assert cached.master_of("conteneur2_port_hote") == parsed.master_of("conteneur2_port_hote")
    assert cached.checks_for("conteneur2_nom") == parsed.checks_for("conteneur2_nom")


def test_edited_dictionary_is_parsed_again(dicos, tmp_path):
    from eole_conteneurs.creole import dictionary as module
    copy = tmp_path / "dicos"
    copy.mkdir()
    source = module.dictionary_files(dicos)[0]
    target = copy / source.name
    target.write_text(source.read_text())
    module.load_dictionaries([target], tmp_path / "cache")
    target.write_text(source.read_text().replace('description="', 'description="Édité : ', 1))
    edited = module.load_dictionaries([target], tmp_path / "cache")
    assert any(variable.description.startswith("Édité : ") for variable in edited.variables.values())


def test_broken_dictionary_is_reported_even_after_a_cached_load(dicos, tmp_path):
    from eole_conteneurs.creole import dictionary as module
    from eole_conteneurs.errors import DictionaryError
    target = tmp_path / "60_conteneurs.xml"
    target.write_text(module.dictionary_files(dicos)[0].read_text())
    module.load_dictionaries([target], tmp_path / "cache")
    target.write_text(target.read_text().replace("<variables>", "<variables><inconnu/>", 1))
    with pytest.raises(DictionaryError, match="inconnu"):
        module.load_dictionaries([target], tmp_path / "cache")


def test_template_reaching_values_by_computed_name_is_always_rendered(write_config, dicos, templates, seed,
                                                                       tmp_path, monkeypatch):
    """getVar('conteneur' + '1_nom') names no variable literally: the memo could not see it change."""
    edited = tmp_path / "tmpl"
    expand_templates(CHECKOUT / "tmpl", edited, 20)
    target = edited / "conteneur2.conf"
    target.write_text("# %%getVar('conteneur' + '1_nom')\n" + target.read_text())
    render_all(write_config, dicos, edited, seed, tmp_path / "memo")
    renamed = render_all(write_config, dicos, edited, {**seed, "conteneur1_nom": "autre"}, tmp_path / "memo")
    assert renamed["/etc/eole-conteneurs/web/nginx/conteneur2.conf"].startswith("# autre\n")


def test_code_of_the_module_is_part_of_the_stamps(dicos, tmp_path):
    """A fix of the parser or of the renderer without a new version must not reuse old results."""
    from eole_conteneurs.creole import dictionary as module
    from eole_conteneurs.cache import file_stamp
    stamp = module._stamp(module.dictionary_files(dicos))
    assert str(module.__file__) in {entry[0] for entry in stamp[1]}
    assert file_stamp(templating.__file__)[0][0] == templating.__file__
    assert file_stamp(tmp_path / "absent") is None


def test_no_dictionary_cache_when_its_stamp_cannot_be_taken(dicos, tmp_path, monkeypatch):
    from eole_conteneurs.creole import dictionary as module
    monkeypatch.setattr(module, "__file__", str(tmp_path / "absent.py"))  # e.g. run from a zip
    loaded = module.load_dictionaries(module.dictionary_files(dicos), tmp_path / "cache")
    assert loaded.variables
    assert not (tmp_path / "cache" / module.CACHE_FILE).exists()


def test_an_unchanged_run_reuses_every_rendering_without_a_key_per_template(write_config, dicos, templates, seed,
                                                                           tmp_path, monkeypatch):
    """One key for the whole set (every text, every value): a no-op run computes it, not 200 of them."""
    first = render_all(write_config, dicos, templates, seed, tmp_path)

    def no_key(self, text):
        raise AssertionError("a key per template")
    with monkeypatch.context() as patched:  # the test's own cache key (conftest) stays
        patched.setattr(templating.MemoKeys, "key", no_key)
        counter = CountingRender(patched)
        assert render_all(write_config, dicos, templates, seed, tmp_path) == first
        assert counter.names == []
    # One value changed: the whole key differs, each template's own key decides again.
    changed = render_all(write_config, dicos, templates, {**seed, "conteneur2_port_hote": {"0": "8098"}}, tmp_path)
    assert "127.0.0.1:8098" in changed["/etc/eole-conteneurs/web/nginx/conteneur2.conf"]
    off = render_all(write_config, dicos, templates, {**seed, "conteneurs_serveur_web": "aucun"}, tmp_path)
    assert off == render_all(write_config, dicos, templates, {**seed, "conteneurs_serveur_web": "aucun"}, None)
