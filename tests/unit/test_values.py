"""Reading values: every form of config.eol, defaults, disabled families, Creole's client."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types

import pytest

from eole_conteneurs.creole import stored as values_module
from eole_conteneurs.jobs import context as context_module
from eole_conteneurs.jobs.context import Job, RunMode, Settings, Templates
from eole_conteneurs.config.loading import load_configuration, load_dictionary
from eole_conteneurs.errors import ConfigFileError, InvalidConfiguration
from eole_conteneurs.creole.stored import RawConfig, RawValue, read_config_eol, read_values
from eole_conteneurs.creole.values import resolve


def test_seed_configuration_is_understood(write_config, dicos, seed):
    configuration = load_configuration(write_config(seed), dicos)
    hello, apache = configuration.containers
    assert (hello.index, hello.name, str(hello.image), hello.ports, hello.volumes) == \
        (1, "hello-world", "127.0.0.1:5000/hello-world:latest", (), ())
    assert apache.name == "my-apache-app" and str(apache.image) == "127.0.0.1:5000/httpd:2.4"
    assert [(p.host_ip, p.host_port, p.container_port) for p in apache.ports] == [("127.0.0.1", 8081, 80)]
    assert [(v.host_dir, v.container_dir) for v in apache.volumes] == \
        [("/var/eole-httpd", "/usr/local/apache2/htdocs")]
    assert not apache.persistent and apache.proxied_port == 8081 and hello.proxied_port is None


def test_shipped_example_is_the_seed(dicos, write_config, seed):
    from tests.conftest import CHECKOUT
    shipped = load_configuration(CHECKOUT / "examples" / "config.eol", dicos)
    assert shipped.containers == load_configuration(write_config(seed), dicos).containers


@pytest.mark.parametrize("owner", ["gen_config", "forced", "user", "zephir", "creoleset", "import", "default"])
def test_every_owner_is_read(write_config, dicos, seed, owner):
    assert len(load_configuration(write_config(seed, owner=owner), dicos).containers) == 2


def test_numbers_may_be_stored_as_numbers(write_config, dicos, seed):
    seed.update(nombre_conteneurs=2, conteneur2_port_conteneur=[80], conteneur2_port_hote={"0": 8081})
    apache = load_configuration(write_config(seed), dicos).containers[1]
    assert (apache.ports[0].container_port, apache.ports[0].host_port) == (80, 8081)


def test_slaves_may_be_stored_as_lists(write_config, dicos, seed):
    seed.update(conteneur2_port_hote=["8081"], conteneur2_rep_conteneur=["/usr/local/apache2/htdocs"])
    assert load_configuration(write_config(seed), dicos).containers[1].ports[0].host_port == 8081


def test_slave_indexes_keep_their_master_entry(write_config, dicos, seed):
    seed.update(conteneur2_port_conteneur=["80", "81"], conteneur2_port_hote={"1": "9001", "0": "9000"})
    ports = load_configuration(write_config(seed), dicos).containers[1].ports
    assert [(p.container_port, p.host_port) for p in ports] == [(80, 9000), (81, 9001)]


def test_missing_slave_index_is_a_missing_value(write_config, dicos, seed):
    seed.update(conteneur2_port_conteneur=["80", "81"], conteneur2_port_hote={"1": "9001"})
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(seed), dicos)
    assert [(p.variable, p.index) for p in caught.value.problems] == [("conteneur2_port_hote", 0)]


def test_bad_slave_index_is_refused(write_config, dicos, seed):
    seed.update(conteneur2_port_hote={"zero": "8081"})
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(seed), dicos)
    assert "conteneur2_port_hote" in caught.value.variables()


def test_defaults_come_from_the_dictionary(write_config, dicos):
    values = {"activer_conteneurs": "oui", "conteneur1_nom": "web", "conteneur1_depot": "nginx"}
    (spec,) = load_configuration(write_config(values), dicos).containers
    assert (spec.technology, spec.image.tag, spec.image.hub, spec.persistent) == ("docker", "latest", "", False)


def test_empty_configuration_means_disabled(write_config, dicos):
    configuration = load_configuration(write_config({}), dicos)
    assert not configuration.enabled and configuration.containers == ()


def test_families_beyond_the_count_are_disabled(write_config, dicos, seed):
    seed["nombre_conteneurs"] = "1"
    assert [s.name for s in load_configuration(write_config(seed), dicos).containers] == ["hello-world"]


def test_every_family_is_disabled_when_containers_are_off(dicos):
    dictionary = load_dictionary(dicos)
    raw = RawConfig("test", {"activer_conteneurs": RawValue("non"), "nombre_conteneurs": RawValue("3")})
    values, problems = resolve(dictionary, raw)
    assert problems == []
    assert "nombre_conteneurs" in values.disabled
    assert all(f"conteneur{n}_nom" in values.disabled for n in range(1, 21))


def test_count_disables_exactly_the_families_beyond_it(dicos):
    dictionary = load_dictionary(dicos)
    raw = RawConfig("test", {"activer_conteneurs": RawValue("oui"), "nombre_conteneurs": RawValue(7)})
    values, _ = resolve(dictionary, raw)
    enabled = [n for n in range(1, 21) if f"conteneur{n}_depot" not in values.disabled]
    assert enabled == list(range(1, 8))


def test_other_modules_variables_and_version_are_ignored(write_config, dicos, seed):
    seed.update(nom_machine="eolebase", adresse_ip_eth0="192.0.2.10", activer_apache="oui")
    assert len(load_configuration(write_config(seed), dicos).containers) == 2


def test_null_values_are_empty(write_config, dicos, seed):
    seed.update(conteneur1_tag=None, conteneur1_hub=None, conteneur1_rep_hote=None)
    hello = load_configuration(write_config(seed), dicos).containers[0]
    assert str(hello.image) == "hello-world:latest"


def test_list_for_a_single_value_variable_is_refused(write_config, dicos, seed):
    seed["conteneur1_nom"] = ["a", "b"]
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(seed), dicos)
    assert caught.value.variables() == {"conteneur1_nom"}


def test_invalid_json_gives_line_and_column(tmp_path):
    path = tmp_path / "config.eol"
    path.write_text('{\n  "activer_conteneurs": {"owner": "gen_config", "val": "oui"},\n  "x" 1\n}\n')
    with pytest.raises(ConfigFileError) as caught:
        read_config_eol(path)
    assert (caught.value.line, caught.value.column) == (3, 7)
    assert "ligne 3, colonne 7" in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("document", ['["a"]', '{"x": 1}', '{"x": {"owner": "gen_config"}}'])
def test_unexpected_json_shapes_are_refused(tmp_path, document):
    path = tmp_path / "config.eol"
    path.write_text(document)
    with pytest.raises(ConfigFileError):
        read_config_eol(path)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigFileError, match="introuvable"):
        read_config_eol(tmp_path / "absent.eol")


def test_explicit_path_is_used_even_with_creole(monkeypatch, write_config, seed, dicos):
    """The run mode is decided at the entry point: --config means the file, Creole installed or not."""
    monkeypatch.setattr(values_module, "read_creole_client", lambda: pytest.fail("Creole must not be asked"))
    monkeypatch.setattr(context_module, "creole_available", lambda: True)
    settings = Settings(config=write_config(seed), dicos=dicos)
    assert RunMode.for_command(settings).creole_values is False
    assert RunMode.for_command(Settings(dicos=dicos)).creole_values is True
    loaded = Job(settings, RunMode.for_command(settings)).load()
    assert loaded.values.get("conteneur1_nom") == "hello-world"


def test_without_creole_the_default_path_is_read(monkeypatch, write_config, seed):
    path = write_config(seed)
    monkeypatch.setattr(values_module, "DEFAULT_CONFIG", path)
    assert read_values(None, creole=False).source == str(path)


def fake_creole(root, monkeypatch, with_client: bool) -> types.ModuleType:
    """A package named creole on sys.path, with Creole's client module or without it."""
    package = root / "site" / "creole"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    if with_client:
        (package / "client.py").write_text("")
    monkeypatch.syspath_prepend(str(root / "site"))
    module = types.ModuleType("creole")
    module.__spec__ = importlib.machinery.ModuleSpec("creole", None, is_package=True)
    module.__spec__.submodule_search_locations = [str(package)]
    return module


def test_another_creole_package_is_not_creole(monkeypatch, tmp_path, write_config, seed, dicos):
    """A package of that name without Creole's client (python-creole, a markup converter): config.eol."""
    fake_creole(tmp_path, monkeypatch, with_client=False)
    monkeypatch.setattr(values_module, "DEFAULT_CONFIG", write_config(seed))
    settings = Settings(dicos=dicos)
    mode = RunMode.for_hook(settings)
    assert not mode.creole_values and mode.templates is Templates.MODULE
    assert [spec.name for spec in Job(settings, mode).load().configuration.containers] == [
        "hello-world", "my-apache-app"]


@pytest.mark.parametrize("generation, creole, templates", [
    ("externe", False, Templates.RUNNER), ("externe", True, Templates.RUNNER),
    (None, True, Templates.CREOLE), (None, False, Templates.MODULE)])
def test_a_hook_knows_who_writes_the_files(monkeypatch, generation, creole, templates):
    """Run by `eole-conteneurs reconfigure` (it says so in the environment), by Creole's, or by hand."""
    monkeypatch.setattr(context_module, "creole_available", lambda: creole)
    if generation:
        monkeypatch.setenv(context_module.GENERATION_ENV, generation)
    else:
        monkeypatch.delenv(context_module.GENERATION_ENV, raising=False)
    mode = RunMode.for_hook(Settings())
    assert (mode.creole_values, mode.templates) == (creole, templates)
    assert Job(Settings(), mode).in_runner is (templates is Templates.RUNNER)


def test_creole_client_is_used_where_installed(monkeypatch, dicos, seed, tmp_path):
    """On an Eolebase, Creole's client gives plain values (slaves as lists)."""
    stored = {name: (list(value.values()) if isinstance(value, dict) else value) for name, value in seed.items()}

    class FakeCreoleClient:
        def get_creole(self):
            return json.loads(json.dumps(stored))

    creole = fake_creole(tmp_path, monkeypatch, with_client=True)
    client = types.ModuleType("creole.client")
    client.CreoleClient = FakeCreoleClient
    monkeypatch.setitem(sys.modules, "creole", creole)
    monkeypatch.setitem(sys.modules, "creole.client", client)
    settings = Settings(dicos=dicos)
    mode = RunMode.for_hook(settings)
    assert mode.creole_values and mode.templates is Templates.CREOLE
    configuration = Job(settings, mode).load().configuration
    assert configuration.source == "creole"
    assert [spec.name for spec in configuration.containers] == ["hello-world", "my-apache-app"]


@pytest.mark.parametrize("index", ["²", "-1", "10000", "5000000"])
def test_slave_indexes_are_bounded_digits(write_config, dicos, seed, index):
    seed["conteneur2_port_hote"] = {index: "8081"}
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(seed), dicos)
    assert "conteneur2_port_hote" in caught.value.variables()
    assert len(str(caught.value)) < 2000
