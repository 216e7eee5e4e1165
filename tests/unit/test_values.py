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
from eole_conteneurs.config.loading import load_configuration, load_dictionary, load_validated
from eole_conteneurs.errors import ConfigFileError, InvalidConfiguration
from eole_conteneurs.creole.stored import (HOST_FACTS, RawConfig, RawValue, host_facts, read_config_eol,
                                           read_creole_client, read_values)
from eole_conteneurs.creole.upgrade import LEGACY_VALUES, upgraded
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
    monkeypatch.setattr(values_module, "read_creole_client", lambda names: pytest.fail("Creole must not be asked"))
    monkeypatch.setattr(context_module, "creole_available", lambda: True)
    settings = Settings(config=write_config(seed), dicos=dicos)
    assert RunMode.for_command(settings).creole_values is False
    assert RunMode.for_command(Settings(dicos=dicos)).creole_values is True
    loaded = Job(settings, RunMode.for_command(settings)).load()
    assert loaded.values.get("conteneur1_nom") == "hello-world"


def test_without_creole_the_default_path_is_read(monkeypatch, write_config, seed):
    path = write_config(seed)
    monkeypatch.setattr(values_module, "DEFAULT_CONFIG", path)
    assert read_values(None, creole=False, names=["activer_conteneurs"]).source == str(path)


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


def creole_client(monkeypatch, tmp_path, stored: dict, asked: list | None = None, failure: Exception | None = None):
    """Creole's client as EOLE attests it: get_creole(name, default), one name at a time, nothing else."""

    class FakeCreoleClient:
        def get_creole(self, name, default):
            if asked is not None:
                asked.append(name)
            if failure is not None:
                raise failure
            return json.loads(json.dumps(stored.get(name, default)))

    creole = fake_creole(tmp_path, monkeypatch, with_client=True)
    client = types.ModuleType("creole.client")
    client.CreoleClient = FakeCreoleClient
    monkeypatch.setitem(sys.modules, "creole", creole)
    monkeypatch.setitem(sys.modules, "creole.client", client)
    return FakeCreoleClient


def test_creole_client_is_used_where_installed(monkeypatch, dicos, seed, tmp_path):
    """On an Eolebase, Creole's client gives plain values (slaves as lists), asked by name."""
    stored = {name: (list(value.values()) if isinstance(value, dict) else value) for name, value in seed.items()}
    stored.update(nom_machine="scribe", activer_apache="oui")
    asked: list[str] = []
    fake = creole_client(monkeypatch, tmp_path, stored, asked)
    with pytest.raises(TypeError):
        fake().get_creole()  # no form without a name: the module must not rely on one
    settings = Settings(dicos=dicos)
    mode = RunMode.for_hook(settings)
    assert mode.creole_values and mode.templates is Templates.CREOLE
    loaded = Job(settings, mode).load()
    assert loaded.configuration.source == "creole"
    assert [spec.name for spec in loaded.configuration.containers] == ["hello-world", "my-apache-app"]
    dictionary = load_dictionary(dicos)
    sources = [condition.source for condition in dictionary.conditions]
    read = asked[len(set(sources)):]
    assert sorted(asked[:len(set(sources))]) == sorted(set(sources)), "the conditions' sources first"
    assert len(read) == len(set(read)) and set(HOST_FACTS) <= set(read), "then each name once"
    assert {"conteneur1_nom", "conteneur2_nom", "conteneur2_port_hote"} <= set(read)
    assert not any(name.startswith("conteneur3_") for name in read), "nombre_conteneurs = 2: families beyond not asked"
    assert "activer_apache" not in asked


def test_creole_client_asks_only_the_given_names(monkeypatch, tmp_path):
    stored = {"activer_conteneurs": "oui", "conteneur1_port_conteneur": [80], "conteneur1_port_hote": [8081],
              "nom_machine": "scribe", "autre": "x"}
    asked: list[str] = []
    creole_client(monkeypatch, tmp_path, stored, asked)
    raw = read_creole_client(["activer_conteneurs", "conteneur1_port_conteneur", "conteneur1_port_hote",
                              "conteneur1_nom", "nom_machine", "activer_conteneurs"])
    assert asked == ["activer_conteneurs", "conteneur1_port_conteneur", "conteneur1_port_hote", "conteneur1_nom",
                     "nom_machine"]
    assert raw.source == "creole"
    assert {name: value.val for name, value in raw.values.items()} == {
        "activer_conteneurs": "oui", "conteneur1_port_conteneur": [80], "conteneur1_port_hote": [8081],
        "nom_machine": "scribe"}, "None (no value) is left out, as config.eol leaves out what was never set"


def test_creole_client_errors_are_config_file_errors(monkeypatch, tmp_path):
    creole_client(monkeypatch, tmp_path, {}, failure=RuntimeError("creoled ne répond pas"))
    with pytest.raises(ConfigFileError) as caught:
        read_creole_client(["activer_conteneurs"])
    assert caught.value.path == "creole" and "creoled ne répond pas" in str(caught.value)


def test_creole_values_are_upgraded_too(monkeypatch, tmp_path):
    creole_client(monkeypatch, tmp_path, {"conteneurs_serveur_web": "non"})
    raw = read_values(None, True, ["conteneurs_serveur_web"])
    assert raw.values["conteneurs_serveur_web"] == RawValue("automatique", "upgrade")


@pytest.mark.parametrize("index", ["²", "-1", "10000", "5000000"])
def test_slave_indexes_are_bounded_digits(write_config, dicos, seed, index):
    seed["conteneur2_port_hote"] = {index: "8081"}
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(seed), dicos)
    assert "conteneur2_port_hote" in caught.value.variables()
    assert len(str(caught.value)) < 2000


# -- types: numbers, ports, counts -------------------------------------------------------

@pytest.mark.parametrize("stored", ["70000", "0", 70000, "abc", "8080.5", "-1", "1" * 30])
def test_ports_are_integers_from_1_to_65535(write_config, dicos, seed, stored):
    seed["conteneur2_port_hote"] = {"0": stored}
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(seed), dicos)
    (problem,) = caught.value.problems
    assert (problem.variable, problem.index) == ("conteneur2_port_hote", 0)
    assert problem.expected == "un entier de 1 à 65535"
    message = str(caught.value)
    assert "conteneur2_port_hote" in message and str(stored)[:30] in message and "un entier de 1 à 65535" in message


def test_a_container_port_is_checked_the_same_way(write_config, dicos, seed):
    seed["conteneur2_port_conteneur"] = ["abc"]
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(seed), dicos)
    assert [(p.variable, p.value, p.expected) for p in caught.value.problems] == [
        ("conteneur2_port_conteneur", "abc", "un entier de 1 à 65535")]


def test_json_integers_load_as_before(write_config, dicos, seed):
    seed.update(nombre_conteneurs=2, conteneur2_port_conteneur=[8080], conteneur2_port_hote={"0": 8081})
    loaded = load_validated(write_config(seed), dicos)
    assert loaded.values.get("conteneur2_port_conteneur") == [8080]
    assert loaded.values.get("conteneur2_port_hote") == [8081]
    assert loaded.values.get("nombre_conteneurs") == "2"
    assert [spec.name for spec in loaded.configuration.containers] == ["hello-world", "my-apache-app"]


@pytest.mark.parametrize("count", ["25", "0", "deux", 25])
def test_count_outside_the_list_is_refused_with_the_accepted_values(write_config, dicos, seed, count):
    seed["nombre_conteneurs"] = count
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(seed), dicos)
    (problem,) = caught.value.problems
    assert problem.variable == "nombre_conteneurs"
    assert problem.expected == "une valeur parmi " + ", ".join(str(n) for n in range(1, 21))


def test_old_types_stay_known_to_other_dictionaries(tmp_path):
    from eole_conteneurs.creole.dictionary import load_dictionaries
    path = tmp_path / "99_ancien.xml"
    path.write_text('<creole><variables><family name="f">'
                    '<variable name="p" type="port"/><variable name="r" type="network"/>'
                    '<variable name="c" type="filename"/></family></variables></creole>', encoding="utf-8")
    dictionary = load_dictionaries([path])
    raw = RawConfig("test", {"p": RawValue(8080), "r": RawValue("192.168.0.0"), "c": RawValue("/etc/x.crt")})
    values, problems = resolve(dictionary, raw)
    assert problems == []
    assert (values.get("p"), values.get("r"), values.get("c")) == (8080, "192.168.0.0", "/etc/x.crt")
    _, problems = resolve(dictionary, RawConfig("test", {"p": RawValue("70000")}))
    assert [p.variable for p in problems] == ["p"]


# -- values saved by 0.3.0 ------------------------------------------------------------------

@pytest.mark.parametrize("old, new", [("oui", "automatique"), ("non", "automatique")])
def test_legacy_web_server_values_are_upgraded(write_config, dicos, seed, old, new):
    seed.update(conteneurs_serveur_web=old, conteneurs_certificat="/etc/ssl/certs/eole.crt",
                conteneurs_cle="/etc/ssl/private/eole.key")
    path = write_config(seed)
    raw = read_values(path, False, [])
    assert raw.values["conteneurs_serveur_web"] == RawValue(new, "upgrade")
    assert raw.values["conteneurs_certificat"] == RawValue("/etc/ssl/certs/eole.crt", "gen_config"), "not mapped"
    assert raw.values["conteneurs_cle"] == RawValue("/etc/ssl/private/eole.key", "gen_config"), "not mapped"
    values, problems = resolve(load_dictionary(dicos), raw)
    assert [p.variable for p in problems] == [] and values.get("conteneurs_serveur_web") == new


def test_a_0_3_0_configuration_still_loads(write_config, dicos, seed):
    """What 0.3.0's gen_config saved: the old oui/non, the old certificate defaults, numbers as JSON numbers."""
    seed.update(conteneurs_serveur_web="oui", conteneurs_certificat="/etc/ssl/certs/eole.crt",
                conteneurs_cle="/etc/ssl/private/eole.key", nombre_conteneurs=2, conteneur2_port_conteneur=[80],
                conteneur2_port_hote={"0": 8081})
    configuration = load_configuration(write_config(seed), dicos)
    assert [spec.name for spec in configuration.containers] == ["hello-world", "my-apache-app"]
    assert configuration.containers[1].ports[0].host_port == 8081


def test_upgrade_keeps_every_other_value_untouched():
    values = {
        "conteneurs_serveur_web": RawValue("apache", "gen_config"),
        "conteneurs_certificat": RawValue("/etc/ssl/certs/eole.crt", "gen_config"),
        "conteneur1_persistance": RawValue("oui", "gen_config"),
        "conteneur1_port_hote": RawValue({"0": "non"}, {"0": "user"}),
        "activer_conteneurs": RawValue("non", "gen_config"),
    }
    raw = RawConfig("config.eol", dict(values))
    assert upgraded(raw) is raw, "nothing to upgrade: the very same values"
    assert raw.values == values
    assert set(LEGACY_VALUES) == {"conteneurs_serveur_web"}


def test_upgrade_changes_only_the_legacy_value():
    raw = RawConfig("config.eol", {"conteneurs_serveur_web": RawValue("oui", "gen_config"),
                                   "activer_conteneurs": RawValue("oui", "gen_config")})
    result = upgraded(raw)
    assert result.source == "config.eol"
    assert result.values == {"conteneurs_serveur_web": RawValue("automatique", "upgrade"),
                             "activer_conteneurs": RawValue("oui", "gen_config")}
    assert raw.values["conteneurs_serveur_web"] == RawValue("oui", "gen_config"), "the source is not changed"


# -- host facts ---------------------------------------------------------------------------

def test_host_facts_are_read_from_an_eole_config(write_config, seed):
    seed.update(nom_machine="scribe", nom_domaine_local="ac-test.lan", server_cert="/etc/ssl/certs/eole.crt",
                server_key="", adresse_ip_eth0="192.0.2.10")
    raw = read_values(write_config(seed), False, [])
    assert host_facts(raw) == {"nom_machine": "scribe", "nom_domaine_local": "ac-test.lan",
                               "server_cert": "/etc/ssl/certs/eole.crt"}


def test_host_facts_are_plain_non_empty_text():
    raw = RawConfig("test", {"nom_machine": RawValue(["a"]), "nom_domaine_local": RawValue("  "),
                             "server_cert": RawValue(None), "server_key": RawValue("/etc/ssl/private/eole.key")})
    assert host_facts(raw) == {"server_key": "/etc/ssl/private/eole.key"}
    assert host_facts(RawConfig("test", {})) == {}
