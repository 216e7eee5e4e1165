"""What real services need, without a daemon: the rules of each new variable, the parameters and
fingerprint they add, the plan's wording (a secret is named, never shown), the dependency order
and the secret store on disk."""

from __future__ import annotations

import os
import stat
from dataclasses import replace

import pytest

from eole_conteneurs.config.loading import load_configuration
from eole_conteneurs.config.model import DataVolume, Health, Secret
from eole_conteneurs.config.services import find_cycle
from eole_conteneurs.containers.labels import LABEL_SCOPE, declared_parameters, fingerprint, labels_for
from eole_conteneurs.containers.planner import Conflict, Create, Keep, Recreate, Resources, make_plan
from eole_conteneurs.containers.readiness import dependency_levels
from eole_conteneurs.containers.secrets import SecretStore
from eole_conteneurs.engine.api import ObservedContainer, ObservedResource
from eole_conteneurs.errors import InvalidConfiguration
from eole_conteneurs.jobs.operations import describe_plan
from tests.unit.conftest import SCOPE, apache, hello, images_for, observed_for

SECRET_VALUE = "Tr3s-S3cret!"


def service(**overrides):
    values = {"activer_conteneurs": "oui", "nombre_conteneurs": "2",
              "conteneur1_nom": "base", "conteneur1_depot": "mariadb",
              "conteneur2_nom": "appli", "conteneur2_depot": "appli"}
    values.update(overrides)
    return values


def problems(write_config, dicos, values) -> list[tuple[str, int | None, str]]:
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(values), dicos)
    return [(problem.variable, problem.index, str(problem)) for problem in caught.value.problems]


def refused_variable(write_config, dicos, values) -> str:
    found = problems(write_config, dicos, values)
    assert len(found) == 1, found
    variable, _, message = found[0]
    assert message.startswith(variable) and "attendu" in message
    return variable


# -- accepted values --------------------------------------------------------------------------------

def test_a_whole_service_is_read(write_config, dicos):
    configuration = load_configuration(write_config(service(
        conteneur1_env_nom=["MARIADB_DATABASE", "VIDE"], conteneur1_env_valeur={"0": "wiki = «é»", "1": ""},
        conteneur1_secret_nom=["db_root"], conteneur1_secret_valeur={"0": SECRET_VALUE},
        conteneur1_volume_nom=["wiki-base"], conteneur1_volume_chemin={"0": "/var/lib/mysql/"},
        conteneur1_reseau_prive=["wiki", "wiki"], conteneur1_sante_commande="mariadb-admin ping",
        conteneur1_sante_delai="30", conteneur1_commande="mariadbd --port=3306 'a b'", conteneur1_memoire="1.5G",
        conteneur2_dependance=["base"], conteneur2_reseau_prive=["wiki"])), dicos)
    base, appli = configuration.containers
    assert base.environment == (("MARIADB_DATABASE", "wiki = «é»"), ("VIDE", ""))
    assert base.secrets == (Secret("db_root", SECRET_VALUE),)
    assert SECRET_VALUE not in repr(base)
    assert base.data_volumes == (DataVolume("wiki-base", "/var/lib/mysql"),)
    assert base.private_networks == ("wiki",)
    assert base.health == Health("mariadb-admin ping", 30)
    assert base.command == ("mariadbd", "--port=3306", "a b")
    assert base.memory == int(1.5 * 1024**3)
    assert appli.dependencies == ("base",) and appli.health.wait == 120
    assert base.service and appli.service  # both come back after a reboot


@pytest.mark.parametrize("size, expected", [("512M", 512 * 1024**2), ("2G", 2 * 1024**3), ("64m", 64 * 1024**2),
                                            ("1024Mo", 1024**3), ("7000000", 7000000)])
def test_memory_sizes(write_config, dicos, size, expected):
    (spec, _) = load_configuration(write_config(service(conteneur1_memoire=size)), dicos).containers
    assert spec.memory == expected


# -- refused values: each names its variable, nothing is half-accepted -------------------------------

@pytest.mark.parametrize("name", ["1A", "A-B", "A=B", "A B", "É"])
def test_bad_environment_names(write_config, dicos, name):
    values = service(conteneur1_env_nom=[name], conteneur1_env_valeur={"0": "x"})
    assert refused_variable(write_config, dicos, values) == "conteneur1_env_nom"


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\0b"])
def test_environment_values_on_one_line(write_config, dicos, value):
    values = service(conteneur1_env_nom=["A"], conteneur1_env_valeur={"0": value})
    assert refused_variable(write_config, dicos, values) == "conteneur1_env_valeur"


def test_environment_names_are_unique(write_config, dicos):
    values = service(conteneur1_env_nom=["A", "A"], conteneur1_env_valeur={"0": "1", "1": "2"})
    assert refused_variable(write_config, dicos, values) == "conteneur1_env_nom"


@pytest.mark.parametrize("name", ["a/b", "..", "a..b", "../x", "/x", ".cache", "a b"])
def test_bad_secret_names(write_config, dicos, name):
    values = service(conteneur1_secret_nom=[name], conteneur1_secret_valeur={"0": SECRET_VALUE})
    assert refused_variable(write_config, dicos, values) == "conteneur1_secret_nom"


def test_a_refused_secret_value_is_never_shown(write_config, dicos):
    values = service(conteneur1_secret_nom=["db"], conteneur1_secret_valeur={"0": "fuite\0" + SECRET_VALUE})
    found = problems(write_config, dicos, values)
    assert [(variable, index) for variable, index, _ in found] == [("conteneur1_secret_valeur", 0)]
    assert SECRET_VALUE not in found[0][2] and "non affichée" in found[0][2]


def test_a_secret_longer_than_its_names_is_not_shown(write_config, dicos):
    values = service(conteneur1_secret_nom=["db"], conteneur1_secret_valeur={"0": "a", "1": SECRET_VALUE})
    found = problems(write_config, dicos, values)
    assert found and all(SECRET_VALUE not in message for _, _, message in found)


def test_a_secret_needs_a_value(write_config, dicos):
    values = service(conteneur1_secret_nom=["db"])
    assert refused_variable(write_config, dicos, values) == "conteneur1_secret_valeur"


@pytest.mark.parametrize("name", ["a/b", "..", "a..b", "x", "-x", "a b"])
def test_bad_volume_names(write_config, dicos, name):
    values = service(conteneur1_volume_nom=[name], conteneur1_volume_chemin={"0": "/data"})
    assert refused_variable(write_config, dicos, values) == "conteneur1_volume_nom"


@pytest.mark.parametrize("path", ["data", "../data", "/", "/proc/x"])
def test_bad_volume_paths(write_config, dicos, path):
    values = service(conteneur1_volume_nom=["data"], conteneur1_volume_chemin={"0": path})
    assert refused_variable(write_config, dicos, values) == "conteneur1_volume_chemin"


def test_one_container_path_is_mounted_once(write_config, dicos, tmp_path):
    values = service(conteneur1_rep_hote=[str(tmp_path / "www")], conteneur1_rep_conteneur={"0": "/data"},
                     conteneur1_volume_nom=["data"], conteneur1_volume_chemin={"0": "/data/"})
    assert refused_variable(write_config, dicos, values) == "conteneur1_volume_chemin"


@pytest.mark.parametrize("network", ["host", "bridge", "none", "HOST", "a/b", "a b", "-x"])
def test_bad_networks(write_config, dicos, network):
    values = service(conteneur1_reseau_prive=[network])
    assert refused_variable(write_config, dicos, values) == "conteneur1_reseau_prive"


def test_a_container_cannot_depend_on_itself(write_config, dicos):
    found = problems(write_config, dicos, service(conteneur1_dependance=["base"]))
    assert [(variable, index) for variable, index, _ in found] == [("conteneur1_dependance", 0)]


def test_a_dependency_must_be_declared(write_config, dicos):
    found = problems(write_config, dicos, service(conteneur2_dependance=["inconnu"]))
    assert [(variable, index) for variable, index, _ in found] == [("conteneur2_dependance", 0)]
    assert "inconnu" in found[0][2]


def test_a_container_beyond_the_count_is_unknown(write_config, dicos):
    values = service(nombre_conteneurs="1", conteneur1_dependance=["appli"])
    assert refused_variable(write_config, dicos, values) == "conteneur1_dependance"


def test_a_cycle_is_refused_and_shown(write_config, dicos):
    found = problems(write_config, dicos, service(conteneur1_dependance=["appli"], conteneur2_dependance=["base"]))
    assert len(found) == 1 and found[0][0] in ("conteneur1_dependance", "conteneur2_dependance")
    assert "base → appli → base" in found[0][2] or "appli → base → appli" in found[0][2]


def test_cycles_are_found_in_any_graph():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) == []
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}) == []  # a diamond is no cycle
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": [], "a": ["b"], "b": ["b"]}) == ["b", "b"]


def test_health_command_on_one_line(write_config, dicos):
    assert refused_variable(write_config, dicos, service(conteneur1_sante_commande="true\nrm -rf /")) == \
        "conteneur1_sante_commande"


@pytest.mark.parametrize("delay", ["0", "-1", "3601", "abc"])
def test_health_delay_range(write_config, dicos, delay):
    assert refused_variable(write_config, dicos, service(conteneur1_sante_delai=delay)) == "conteneur1_sante_delai"


@pytest.mark.parametrize("size", ["12xb", "G", "2 Go de plus", "1K", "-5M", "5M", "99999999999T", "1025T", "9" * 5000])
def test_bad_memory(write_config, dicos, size):
    assert refused_variable(write_config, dicos, service(conteneur1_memoire=size)) == "conteneur1_memoire"


@pytest.mark.parametrize("command", ["sh -c 'echo", 'echo "a', "a\nb"])
def test_bad_commands(write_config, dicos, command):
    assert refused_variable(write_config, dicos, service(conteneur1_commande=command)) == "conteneur1_commande"


# -- parameters, fingerprint, plan ------------------------------------------------------------------

def digest(secret: Secret) -> str:
    return f"condensat-{secret.name}-{len(secret.value)}"


def test_containers_made_before_these_settings_keep_their_fingerprint():
    """Nothing declared of the new settings: the parameters are those release 0.2 stored."""
    for spec in (hello(), apache()):
        assert set(declared_parameters(spec)) == {"version", "image", "ports", "volumes", "restart"}


def test_a_secret_is_stored_as_its_digest_only():
    spec = apache(secrets=(Secret("db", SECRET_VALUE),))
    labels = labels_for(spec, SCOPE, digest)
    assert SECRET_VALUE not in repr(labels)
    assert '"secrets": {"db": "condensat-db-12"}' in labels["fr.eole.conteneurs.spec"]


def test_a_changed_secret_is_named_not_shown(tmp_path):
    old = apache(secrets=(Secret("db", "ancien"),), environment=(("A", "1"),))
    new = replace(old, secrets=(Secret("db", SECRET_VALUE),))
    keyed = SecretStore(tmp_path, writable=False)  # a key of its own, kept for the test's life
    current = observed_for(old, labels=labels_for(old, SCOPE, keyed.digest))
    plan = make_plan([new], [current], images_for(new), SCOPE, digest=keyed.digest)
    (action,) = plan.actions
    assert isinstance(action, Recreate) and action.reason == "secret modifié : db"
    text = describe_plan(plan, "/var/lib/eole-conteneurs/secrets")
    assert SECRET_VALUE not in text and "ancien" not in text
    assert "src=/var/lib/eole-conteneurs/secrets/my-apache-app/…/db,dst=/run/secrets/db,readonly" in text


@pytest.mark.parametrize("change, label", [
    ({"environment": (("A", "2"),)}, "environnement : A=1 → A=2"),
    ({"data_volumes": (DataVolume("donnees", "/data"),)}, "volumes : aucun → donnees → /data"),
    ({"private_networks": ("wiki",)}, "réseaux privés : aucun → wiki"),
    ({"health": Health("true")}, "santé : aucun → true"),
    ({"command": ("httpd", "-f")}, "commande : aucun → httpd, -f"),
    ({"memory": 64 * 1024**2}, "mémoire : aucun → 67108864"),
])
def test_each_new_setting_recreates_and_says_why(change, label):
    old = apache(environment=(("A", "1"),))
    new = replace(old, **change)
    (action,) = make_plan([new], [observed_for(old)], images_for(new), SCOPE).actions
    assert isinstance(action, Recreate) and label in action.reason


def test_the_health_delay_alone_changes_nothing():
    old = apache(health=Health("true", 30))
    (action,) = make_plan([replace(old, health=Health("true", 300))], [observed_for(old)],
                          images_for(old), SCOPE).actions
    assert isinstance(action, Keep)


def test_networks_and_volumes_are_planned():
    spec = apache(private_networks=("wiki", "commun"), data_volumes=(DataVolume("donnees", "/data"),))
    ours = {LABEL_SCOPE: SCOPE}
    resources = Resources(networks=(ObservedResource("commun", ours), ObservedResource("ancien", ours),
                                    ObservedResource("bridge", {})),
                          volumes=(ObservedResource("autre", {}),))
    plan = make_plan([spec], [], images_for(spec), SCOPE, resources=resources)
    assert (plan.new_networks, plan.new_volumes, plan.unused_networks) == (("wiki",), ("donnees",), ("ancien",))
    assert isinstance(plan.actions[0], Create)


def test_a_network_still_attached_is_not_removed():
    """A persistent container no longer declared is only stopped: its network stays for its next start."""
    spec = apache()
    other = replace(observed_for(hello(), persistent=True), networks=("ancien",))
    resources = Resources(networks=(ObservedResource("ancien", {LABEL_SCOPE: SCOPE}),))
    assert make_plan([spec], [other], images_for(spec), SCOPE, resources=resources).unused_networks == ()


def test_a_network_whose_last_container_goes_is_removed_in_the_same_run():
    """Its container is removed (or replaced without it) by this very plan: no second run needed."""
    gone = replace(observed_for(hello(name="parti")), networks=("ancien",))
    spec = apache(private_networks=("ancien",))
    replaced = replace(observed_for(spec), networks=("ancien",))
    resources = Resources(networks=(ObservedResource("ancien", {LABEL_SCOPE: SCOPE}),))
    assert make_plan([], [gone], {}, SCOPE, resources=resources).unused_networks == ("ancien",)
    without = replace(spec, private_networks=())
    assert make_plan([without], [replaced], images_for(spec), SCOPE, resources=resources).unused_networks == (
        "ancien",)


@pytest.mark.parametrize("kind", ["network", "volume"])
def test_what_the_module_did_not_make_is_never_taken(kind):
    spec = apache(private_networks=("wiki",), data_volumes=(DataVolume("donnees", "/data"),))
    foreign = (ObservedResource("wiki" if kind == "network" else "donnees", {}),)
    resources = Resources(networks=foreign) if kind == "network" else Resources(volumes=foreign)
    for current in (None, observed_for(spec)):
        plan = make_plan([spec], [current] if current else [], images_for(spec), SCOPE, resources=resources)
        (action,) = plan.actions
        assert isinstance(action, Conflict)
        assert action.reason.startswith("conteneur2_reseau_prive" if kind == "network" else "conteneur2_volume_nom")


def test_an_adopted_volume_is_used():
    spec = apache(data_volumes=(DataVolume("donnees", "/data"),))
    resources = Resources(volumes=(ObservedResource("donnees", {}),), adopted=frozenset({"donnees"}))
    plan = make_plan([spec], [], images_for(spec), SCOPE, resources=resources)
    assert isinstance(plan.actions[0], Create) and plan.new_volumes == ()


# -- dependency order --------------------------------------------------------------------------------

def test_dependency_levels_keep_plan_order_inside_a_level():
    base = hello(name="base")
    cache = hello(name="cache", index=2)
    appli = apache(dependencies=("base", "cache"))
    front = apache(name="front", index=4, dependencies=("my-apache-app",))
    alone = apache(name="seul", index=5)
    plan = make_plan([front, appli, base, cache, alone], [], images_for(front, appli, base, cache, alone), SCOPE)
    levels = [[action.name for action in level] for level in dependency_levels(list(plan.actions))]
    assert levels == [["base", "cache", "seul"], ["my-apache-app"], ["front"]]


def test_without_dependencies_one_level():
    plan = make_plan([apache(), hello()], [], images_for(apache(), hello()), SCOPE)
    assert [len(level) for level in dependency_levels(list(plan.actions))] == [2]


# -- the secret store -------------------------------------------------------------------------------

def test_secret_files_are_reachable_by_root_only(tmp_path):
    store = SecretStore(tmp_path / "secrets")
    spec = apache(secrets=(Secret("db", SECRET_VALUE), Secret("api", "x")))
    directory = store.write(spec)
    assert directory.parent == tmp_path / "secrets" / spec.name
    assert (directory / "db").read_text() == SECRET_VALUE
    for path in (tmp_path / "secrets", directory.parent, directory):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(directory / "db").st_mode) == 0o444
    assert stat.S_IMODE(os.stat(tmp_path / "secrets" / ".cle").st_mode) == 0o600
    assert store.write(spec) == directory, "same values, same directory"


def test_new_values_go_to_a_new_generation_the_old_one_stays_until_forgotten(tmp_path):
    """The container still running on the old values (a failed replacement, a pending change) keeps them."""
    store = SecretStore(tmp_path / "secrets")
    old = apache(secrets=(Secret("db", "ancien"), Secret("api", "x")))
    new = replace(old, secrets=(Secret("db", SECRET_VALUE),))
    before, after = store.write(old), store.write(new)
    assert before != after
    assert (before / "db").read_text() == "ancien" and (before / "api").read_text() == "x"
    assert sorted(path.name for path in after.iterdir()) == ["db"]
    store.forget_others(new)
    assert not before.exists() and (after / "db").read_text() == SECRET_VALUE
    store.forget_others(replace(new, secrets=()))
    assert not (tmp_path / "secrets" / new.name).exists()


def test_a_lost_key_is_replaced_and_said(tmp_path):
    store = SecretStore(tmp_path / "secrets")
    store.write(apache(secrets=(Secret("db", "x"),)))
    assert not store.renewed_key
    (tmp_path / "secrets" / ".cle").unlink()
    again = SecretStore(tmp_path / "secrets")
    again.key()
    assert again.renewed_key


def test_parallel_first_uses_share_one_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    store = SecretStore(tmp_path / "secrets")
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: store.key(), range(32)))
    assert len(keys) == 1 and (tmp_path / "secrets" / ".cle").read_bytes() in keys
    assert repr(keys.pop()) not in repr(store), "the key is not shown"


def test_digests_are_keyed_and_stable(tmp_path):
    secret = Secret("db", SECRET_VALUE)
    first = SecretStore(tmp_path / "a").digest(secret)
    assert first == SecretStore(tmp_path / "a").digest(secret)  # same key, read back
    assert first != SecretStore(tmp_path / "b").digest(secret)  # another host, another key
    assert SECRET_VALUE not in first and len(first) == 64


def test_a_dry_run_writes_nothing(tmp_path):
    store = SecretStore(tmp_path / "secrets", writable=False)
    store.digest(Secret("db", "x"))
    assert not (tmp_path / "secrets").exists()


def test_unchanged_parameters_same_fingerprint():
    spec = apache(environment=(("A", "1"),), secrets=(Secret("db", "v"),))
    assert fingerprint(declared_parameters(spec, digest)) == fingerprint(declared_parameters(spec, digest))
    assert isinstance(ObservedContainer.from_summary({"Id": "x", "Mounts": [{"Type": "volume", "Name": "n",
                                                                              "Destination": "/d"}]}).mounts[0].name,
                      str)


def test_a_secret_file_is_a_mount_point_too(write_config, dicos):
    values = service(conteneur1_volume_nom=["donnees"], conteneur1_volume_chemin={"0": "/run/secrets/db"},
                      conteneur1_secret_nom=["db"], conteneur1_secret_valeur={"0": SECRET_VALUE})
    assert refused_variable(write_config, dicos, values) == "conteneur1_volume_chemin"


def test_an_empty_program_is_refused(write_config, dicos):
    assert refused_variable(write_config, dicos, service(conteneur1_commande='"" -x')) == "conteneur1_commande"


def test_a_refused_secret_is_not_in_a_traceback_either(write_config, dicos):
    values = service(conteneur1_secret_nom=["db"], conteneur1_secret_valeur={"0": "fuite\0" + SECRET_VALUE})
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(values), dicos)
    assert SECRET_VALUE not in repr(caught.value.problems) and SECRET_VALUE not in repr(caught.value)


# -- readiness of a dependency (the engine's answers faked: pure logic) -------------------------------

class Inspected:
    """An engine that answers `inspect` with the given states, one after the other (the last one stays)."""

    def __init__(self, *states: dict | None):
        self.states = list(states)

    def inspect(self, name: str) -> dict | None:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def readiness_of(dependency, *states) -> str:
    from io import StringIO
    from eole_conteneurs.containers.readiness import Readiness
    from eole_conteneurs.journal import Journal
    readiness = Readiness(Inspected(*states), {dependency.name: dependency})
    dependent = apache(name="dependant", dependencies=(dependency.name,))
    readiness.resolve([Create(dependent)], set(), Journal(StringIO()))
    return readiness.ready[dependency.name]


RUNNING = {"State": {"Running": True, "Status": "running"}}


def test_ready_when_running_without_a_health_check():
    assert readiness_of(apache(name="base"), RUNNING) == ""


def test_ready_once_healthy():
    starting = {"State": {"Running": True, "Status": "running", "Health": {"Status": "starting"}}}
    healthy = {"State": {"Running": True, "Status": "running", "Health": {"Status": "healthy"}}}
    assert readiness_of(apache(name="base", health=Health("true", 5)), starting, healthy) == ""


def test_a_finished_one_shot_dependency_is_ready_a_stopped_service_is_not():
    ended = {"State": {"Running": False, "Status": "exited", "ExitCode": 0}}
    assert readiness_of(hello(name="migration"), ended) == ""
    assert readiness_of(apache(name="base"), ended) == "arrêté (exited, code 0)"
    assert readiness_of(apache(name="base"), None) == "absent"


def test_not_ready_in_time_says_what_it_was():
    restarting = {"State": {"Running": False, "Restarting": True, "Status": "restarting"}}
    why = readiness_of(apache(name="base", health=Health("", 1)), restarting)
    assert why == "toujours « restarting » après 1 s"


def test_a_dependent_of_a_failed_container_is_left_as_it_was():
    from eole_conteneurs.containers.readiness import DependencyNotReady, Readiness
    readiness = Readiness(Inspected(RUNNING))
    with pytest.raises(DependencyNotReady, match="base non prête .son traitement a échoué"):
        readiness.check(apache(dependencies=("base",)), frozenset({"base"}))
