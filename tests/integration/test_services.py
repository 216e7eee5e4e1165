"""Real services against the real dockerd: environment, command, memory, secrets, data volumes (named and
anonymous), private networks, dependencies with health checks, and bad values refused before anything
is made. Everything is checked from outside: docker inspect/exec, volume and network inspect, HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import stat
import tempfile
import uuid
from pathlib import Path

import pytest

from eole_conteneurs.containers.labels import Registry
from eole_conteneurs.jobs.context import Settings
from tests.integration.conftest import (BOTH, REGISTRY, SECRETS, docker, enabled, free_port, hello, http_get, httpd,
                                       sh, socket_listening, technology_of, timestamp)

TECHNOLOGIES = BOTH
SCOPE_LABEL = "fr.eole.conteneurs.managed"
HTDOCS = "/usr/local/apache2/htdocs"
HTTPD_COMMAND = f"httpd -f -p 80 -h {HTDOCS}"
# httpd as PID 1 ignores SIGTERM: each `docker stop` would wait its 10 s. The shell's trap ends it at once.
QUICK_STOP = f"trap 'exit 0' TERM; {HTTPD_COMMAND} & wait"
SERVICE = f'sh -c "{QUICK_STOP}"'


def web(bench, index: int, short: str, **extra) -> dict:
    """Variables of one httpd container with no port and no host directory, quick to stop."""
    values = {
        f"conteneur{index}_nom": bench.name(short),
        f"conteneur{index}_hub": REGISTRY,
        f"conteneur{index}_depot": "httpd",
        f"conteneur{index}_tag": "2.4",
        f"conteneur{index}_persistance": "non",
        f"conteneur{index}_commande": SERVICE,
        f"conteneur{index}_mise_a_jour_delai": "1",  # a recreated version kept after 1 s of running (30 by default)
        **technology_of(bench, index),
    }
    values.update({f"conteneur{index}_{key}": value for key, value in extra.items()})
    return values


def output(result) -> str:
    return result.stdout + result.stderr


def volume_labels(bench, name: str) -> dict:
    return json.loads(bench.cli("volume", "inspect", name).stdout)[0]["Labels"] or {}


def network_details(bench, name: str) -> dict:
    return json.loads(bench.cli("network", "inspect", name).stdout)[0]


def exists(bench, kind: str, name: str) -> bool:
    return bench.cli(kind, "inspect", name, check=False).returncode == 0


# -- 1. environment, command, memory ----------------------------------------------------------------

def test_environment_command_and_memory(bench):
    command = f"sh -c \"echo 'démarré ici' > /tmp/trace; {QUICK_STOP}\""
    values = enabled(1, web(bench, 1, "env", env_nom=["APP_MODE", "VIDE"],
                            env_valeur={"0": "production = «é»", "1": ""}, commande=command, memoire="64M"))
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, output(result)
    name = bench.name("env")

    state = bench.inspect(name)
    assert state["State"]["Running"]
    assert "APP_MODE=production = «é»" in state["Config"]["Env"]
    assert "VIDE=" in state["Config"]["Env"]
    assert state["Config"]["Cmd"] == shlex.split(command)
    assert state["Config"]["Cmd"][-1].endswith(QUICK_STOP), "the quoted argument is one word"
    assert state["HostConfig"]["Memory"] == 64 * 1024**2
    assert bench.cli("exec", name, "sh", "-c", 'echo "$APP_MODE"').stdout == "production = «é»\n"
    assert bench.cli("exec", name, "cat", "/tmp/trace").stdout == "démarré ici\n", "the declared command ran"

    identity = bench.identity(name)
    again = bench.apply()
    assert again.returncode == 0, output(again)
    assert bench.identity(name) == identity
    unchanged = bench.plan()
    assert unchanged.returncode == 0, output(unchanged)
    assert "Rien à faire." in unchanged.stdout

    values["conteneur1_env_valeur"] = {"0": "recette", "1": ""}
    bench.write(values)
    planned = bench.plan()
    assert planned.returncode == 2, output(planned)
    assert "recréer" in planned.stdout and "environnement" in planned.stdout
    assert bench.identity(name) == identity, "plan changes nothing"
    changed = bench.apply()
    assert changed.returncode == 0, output(changed)
    assert bench.identity(name)[0] != identity[0]
    state = bench.inspect(name)
    assert "APP_MODE=recette" in state["Config"]["Env"]
    assert "APP_MODE=production = «é»" not in state["Config"]["Env"]
    assert state["HostConfig"]["Memory"] == 64 * 1024**2


# -- 2. secrets --------------------------------------------------------------------------------------

def test_secret_given_as_a_file_and_shown_nowhere(bench):
    first, second = f"Prem1er-{uuid.uuid4().hex}", f"Deux1eme-{uuid.uuid4().hex}"
    name = bench.name("secret")
    values = enabled(1, httpd(bench, 1, "secret", free_port(), commande=SERVICE,
                              secret_nom=["db_pass"], secret_valeur={"0": first},
                              env_nom=["DB_PASS_FILE"], env_valeur={"0": "/run/secrets/db_pass"}))
    bench.write(values)
    outputs = [bench.plan()]
    outputs.append(bench.apply())
    assert outputs[-1].returncode == 0, output(outputs[-1])
    outputs += [bench.command("status"), bench.command("status", "--json")]
    assert outputs[-1].returncode == 0, output(outputs[-1])
    outputs.append(bench.plan())
    assert outputs[-1].returncode == 0, output(outputs[-1])

    assert bench.cli("exec", name, "cat", "/run/secrets/db_pass").stdout == first
    state = bench.inspect(name)
    mounts = {mount["Destination"]: mount for mount in state["Mounts"]}
    assert mounts["/run/secrets/db_pass"]["RW"] is False
    written = bench.cli("exec", name, "sh", "-c", "echo autre > /run/secrets/db_pass", check=False)
    assert written.returncode != 0, "the secret is mounted read-only"
    assert bench.cli("exec", name, "cat", "/run/secrets/db_pass").stdout == first
    assert "DB_PASS_FILE=/run/secrets/db_pass" in state["Config"]["Env"]

    assert first not in bench.cli("inspect", name).stdout
    assert first not in json.dumps(state["Config"]["Labels"])
    for result in outputs:
        assert first not in output(result), result.args

    host_file = Path(mounts["/run/secrets/db_pass"]["Source"])  # <root>/<container>/<generation>/<name>
    assert host_file.parent.parent == SECRETS / name
    assert host_file.read_text() == first
    for directory in (SECRETS, SECRETS / name, host_file.parent):
        status = os.lstat(directory)
        assert stat.S_ISDIR(status.st_mode) and status.st_uid == 0, directory
        assert stat.S_IMODE(status.st_mode) == 0o700, (directory, oct(status.st_mode))
    stranger = sh("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", host_file, check=False)
    assert stranger.returncode != 0 and first not in stranger.stdout

    identity = bench.identity(name)
    values["conteneur1_secret_valeur"] = {"0": second}
    bench.write(values)
    planned = bench.plan()
    assert planned.returncode == 2, output(planned)
    assert "secret modifié" in planned.stdout and "db_pass" in planned.stdout
    changed = bench.apply()
    assert changed.returncode == 0, output(changed)
    for result in (planned, changed, bench.command("status"), bench.command("status", "--json")):
        assert first not in output(result) and second not in output(result), result.args
    assert bench.identity(name)[0] != identity[0]
    assert bench.cli("exec", name, "cat", "/run/secrets/db_pass").stdout == second
    details = bench.cli("inspect", name).stdout
    assert first not in details and second not in details
    new_file = Path(next(mount["Source"] for mount in bench.inspect(name)["Mounts"]
                         if mount["Destination"] == "/run/secrets/db_pass"))
    assert new_file.read_text() == second
    assert not host_file.exists(), "the replaced container's values went with it"


def test_a_failed_replacement_keeps_the_old_values(bench):
    """The new container cannot start (its new port is taken): the old one is put back with its own secrets,
    even across a restart."""
    name, port = bench.name("retour"), free_port()
    values = enabled(1, httpd(bench, 1, "retour", port, commande=SERVICE, secret_nom=["a", "b"],
                              secret_valeur={"0": "ancien-a", "1": "ancien-b"}))
    bench.write(values)
    assert bench.apply().returncode == 0
    identity = bench.identity(name)
    with socket_listening() as taken:
        values.update({"conteneur1_port_hote": {"0": str(taken)}, "conteneur1_secret_nom": ["a"],
                       "conteneur1_secret_valeur": {"0": "nouveau-a"}})
        bench.write(values)
        failed = bench.apply()
    assert failed.returncode == 1 and "remis en service" in failed.stdout, output(failed)
    assert bench.identity(name)[0] == identity[0]
    bench.cli("restart", "-t", "1", name)
    assert bench.cli("exec", name, "cat", "/run/secrets/a", "/run/secrets/b").stdout == "ancien-aancien-b"


# -- 3. data volumes ---------------------------------------------------------------------------------

def test_shared_data_volume_outlives_its_containers(bench):
    volume = bench.name("donnees")
    shared = {"volume_nom": [volume], "volume_chemin": {"0": "/data"}}
    values = enabled(2, web(bench, 1, "v1", **shared), web(bench, 2, "v2", **shared))
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, output(result)
    one, two = bench.name("v1"), bench.name("v2")
    assert volume_labels(bench, volume).get(SCOPE_LABEL) == bench.scope

    bench.cli("exec", one, "sh", "-c", "echo partage > /data/f")
    assert bench.cli("exec", two, "cat", "/data/f").stdout == "partage\n"

    identity = bench.identity(one)
    values.update(web(bench, 1, "v1", env_nom=["A"], env_valeur={"0": "1"}, **shared))
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, output(result)
    assert bench.identity(one)[0] != identity[0]
    assert bench.cli("exec", one, "cat", "/data/f").stdout == "partage\n"
    assert [mount["Name"] for mount in bench.inspect(one)["Mounts"] if mount["Destination"] == "/data"] == [volume]

    listing = bench.command("volume", "liste")
    assert listing.returncode == 0, output(listing)
    line = next((line for line in listing.stdout.splitlines() if volume in line), "")
    assert re.search(r"\b\d+(?:\.\d)? (?:o|Kio|Mio)\b", line), listing.stdout

    refused = bench.command("volume", "supprimer", volume)
    assert refused.returncode != 0, output(refused)
    assert volume in output(refused) and "utilisé" in output(refused)
    assert exists(bench, "volume", volume)

    values["nombre_conteneurs"] = "1"
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, output(result)
    assert not bench.exists(two), "an undeclared container is removed"
    assert exists(bench, "volume", volume), "its volume is not"

    bench.cli("rm", "-f", one)  # unused now, but still declared
    refused = bench.command("volume", "supprimer", volume)
    assert refused.returncode != 0, output(refused)
    assert volume in output(refused) and "conteneur1_volume_nom" in output(refused)
    assert exists(bench, "volume", volume)

    values["activer_conteneurs"] = "non"
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, output(result)
    assert bench.managed() == []
    assert exists(bench, "volume", volume), "reconfigure never removes a data volume"
    assert bench.run("--rm", "-v", f"{volume}:/data", f"{REGISTRY}/httpd:2.4", "cat", "/data/f").stdout \
        == "partage\n"
    removed = bench.command("volume", "supprimer", volume)
    assert removed.returncode == 0, output(removed)
    assert not exists(bench, "volume", volume)


def test_foreign_volume_is_used_only_once_adopted(bench):
    volume = bench.name("etranger")
    bench.cli("volume", "create", volume)
    try:
        mountpoint = Path(json.loads(bench.cli("volume", "inspect", volume).stdout)[0]["Mountpoint"])
        (mountpoint / "f").write_text("données d'avant\n")
        values = enabled(1, web(bench, 1, "adopte", volume_nom=[volume], volume_chemin={"0": "/data"}))
        bench.write(values)

        refused = bench.apply()
        assert refused.returncode != 0, output(refused)
        assert "conteneur1_volume_nom" in output(refused) and volume in output(refused)
        assert not bench.exists(bench.name("adopte"))
        assert volume_labels(bench, volume) == {}, "the foreign volume is not touched"

        adopted = bench.command("volume", "adopter", volume)
        assert adopted.returncode == 0, output(adopted)
        result = bench.apply()
        assert result.returncode == 0, output(result)
        assert bench.cli("exec", bench.name("adopte"), "cat", "/data/f").stdout == "données d'avant\n"
        assert volume_labels(bench, volume) == {}

        # Undeclared: still listed as adopted, then removable explicitly (and its adoption forgotten).
        bench.write({"activer_conteneurs": "oui", "nombre_conteneurs": "1", **hello(bench, 1)})
        assert bench.apply().returncode == 0
        listed = json.loads(bench.command("volume", "liste", "--json").stdout)
        assert [(entry["nom"], entry["origine"]) for entry in listed if entry["nom"] == volume] == [(volume, "adopté")]
        removed = bench.command("volume", "supprimer", volume)
        assert removed.returncode == 0, output(removed)
        assert bench.cli("volume", "inspect", volume, check=False).returncode != 0
        assert volume not in Registry(Settings().adopted_volumes_file).load()
    finally:
        bench.cleanup()
        bench.cli("volume", "rm", "-f", volume, check=False)
        forget_adoption(volume)


def forget_adoption(volume: str) -> None:
    """The test's adoption is not left in the host's list, whatever stopped the test."""
    registry = Registry(Settings().adopted_volumes_file)
    if volume in registry.load():
        registry.save(registry.load() - {volume})


# -- 4. anonymous volumes of the image -------------------------------------------------------------

ANONYMOUS_TOOLS = ("sh", "echo", "cat", "ls", "sleep", "httpd", "wget")
ANONYMOUS_RECIPE = f"busybox+{','.join(ANONYMOUS_TOOLS)};VOLUME /data;CMD sh -c {QUICK_STOP}"


@pytest.fixture(scope="module")
def anonymous_image(lab) -> tuple[str, str]:
    """(repository, tag) of a busybox image declaring VOLUME /data, pushed once per recipe."""
    repository = "eole-test/anonyme"
    busybox = Path("/bin/busybox").read_bytes()
    tag = hashlib.sha256(ANONYMOUS_RECIPE.encode() + busybox).hexdigest()[:12]
    ref = f"{REGISTRY}/{repository}:{tag}"
    listed = sh("curl", "-fsS", f"http://{REGISTRY}/v2/{repository}/tags/list", check=False).stdout
    if f'"{tag}"' not in listed:
        with tempfile.TemporaryDirectory() as root:
            (Path(root) / "bin").mkdir()
            (Path(root) / "data").mkdir()
            (Path(root) / "tmp").mkdir()
            (Path(root) / HTDOCS.lstrip("/")).mkdir(parents=True)
            (Path(root) / "bin" / "busybox").write_bytes(busybox)
            os.chmod(Path(root) / "bin" / "busybox", 0o755)
            for tool in ANONYMOUS_TOOLS:
                os.symlink("busybox", Path(root) / "bin" / tool)
            archive = Path(root) / "image.tar"
            sh("tar", "-C", root, "--exclude", "./image.tar", "-cf", archive, ".")
            cmd = json.dumps(["/bin/sh", "-c", QUICK_STOP])
            docker("import", "-c", 'VOLUME ["/data"]', "-c", f"CMD {cmd}", archive, ref)
        docker("push", ref)
    return repository, tag


@pytest.fixture
def anonymous_volumes(bench):
    """Names of anonymous volumes to remove once the test's containers are gone (docker rm -v keeps a
    volume mounted by name, as a carried one is)."""
    names: list[str] = []
    yield names
    bench.cleanup()
    for name in names:
        bench.cli("volume", "rm", name, check=False)


def test_anonymous_volume_is_carried_over_a_recreation(bench, anonymous_image, anonymous_volumes):
    repository, tag = anonymous_image
    name = bench.name("anonyme")
    values = enabled(1, web(bench, 1, "anonyme", depot=repository, tag=tag, env_nom=["A"], env_valeur={"0": "1"}))
    del values["conteneur1_commande"]  # the image's own
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, output(result)

    def data_mounts() -> list[tuple[str, str]]:
        return [(mount["Type"], mount["Name"]) for mount in bench.inspect(name)["Mounts"]
                if mount["Destination"] == "/data"]

    mounts = data_mounts()
    assert len(mounts) == 1 and mounts[0][0] == "volume" and re.fullmatch(r"[0-9a-f]{64}", mounts[0][1]), mounts
    anonymous_volumes.append(mounts[0][1])
    bench.cli("exec", name, "sh", "-c", "echo conserve > /data/f")
    identity = bench.identity(name)

    values["conteneur1_env_valeur"] = {"0": "2"}
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, output(result)
    assert bench.identity(name)[0] != identity[0]
    assert data_mounts() == mounts, "the same anonymous volume is mounted again"
    assert bench.cli("exec", name, "cat", "/data/f").stdout == "conserve\n"
    assert f"Volume anonyme {mounts[0][1][:12]} repris sur /data" in result.stdout


# -- 5. private networks -----------------------------------------------------------------------------

def test_private_network_joins_containers_by_name(bench):
    network = bench.name("reseau")
    ports = [free_port(), free_port(), free_port()]
    for short in ("a", "b", "c"):
        (bench.root / f"www-{short}").mkdir()
        (bench.root / f"www-{short}" / "index.html").write_text(f"page {short}")
    values = enabled(3, httpd(bench, 1, "a", ports[0], commande=SERVICE, reseau_prive=[network]),
                     httpd(bench, 2, "b", ports[1], commande=SERVICE, reseau_prive=[network]),
                     httpd(bench, 3, "c", ports[2], commande=SERVICE))
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, output(result)
    a, b, c = bench.name("a"), bench.name("b"), bench.name("c")

    details = network_details(bench, network)
    assert details["Labels"].get(SCOPE_LABEL) == bench.scope
    assert sorted(member["Name"] for member in details["Containers"].values()) == [a, b]
    assert bench.cli("exec", a, "wget", "-q", "-O-", f"http://{b}/").stdout == "page b"
    assert bench.cli("exec", b, "wget", "-q", "-O-", f"http://{a}/").stdout == "page a"
    outsider = bench.cli("exec", c, "wget", "-q", "-O-", f"http://{b}/", check=False, timeout=30)
    assert outsider.returncode != 0 and "bad address" in outsider.stderr, output(outsider)

    for short, port in zip((a, b, c), ports):
        bindings = bench.inspect(short)["HostConfig"]["PortBindings"]
        assert bindings == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}, bindings
    assert http_get(ports[0]) == "page a" and http_get(ports[1]) == "page b"

    values["conteneur1_reseau_prive"] = []
    values["conteneur2_reseau_prive"] = []
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, output(result)
    assert not exists(bench, "network", network), "no declared container uses it any more\n" + result.stdout
    assert http_get(ports[0]) == "page a"
    after = bench.plan()
    assert after.returncode == 0, output(after)


def test_foreign_network_is_never_joined(bench):
    network = bench.name("etranger")
    bench.cli("network", "create", network)
    try:
        before = network_details(bench, network)
        bench.write(enabled(2, web(bench, 1, "joint", reseau_prive=[network]), web(bench, 2, "seul")))
        result = bench.apply()
        assert result.returncode != 0, output(result)
        assert "conteneur1_reseau_prive" in output(result) and network in output(result)
        assert not bench.exists(bench.name("joint"))
        assert bench.inspect(bench.name("seul"))["State"]["Running"], "the others converge"
        after = network_details(bench, network)
        assert after["Id"] == before["Id"] and after["Labels"] == before["Labels"] == {}
        assert after["Containers"] == {}
    finally:
        bench.cleanup()
        bench.cli("network", "rm", network, check=False)


# -- 6. dependencies and health ----------------------------------------------------------------------

def test_dependent_starts_after_its_dependency_is_healthy(bench):
    db, app = bench.name("db"), bench.name("app")
    slow = f'sh -c "sleep 4; touch /tmp/pret; exec {HTTPD_COMMAND}"'
    # The dependent is declared first: the order comes from the dependency, not from the indexes.
    bench.write(enabled(2, web(bench, 1, "app", dependance=[db]),
                        web(bench, 2, "db", commande=slow, sante_commande="test -f /tmp/pret")))
    result = bench.apply()
    assert result.returncode == 0, output(result)

    health = bench.inspect(db)["State"]["Health"]
    assert health["Status"] == "healthy"
    healthy_at = min(timestamp(probe["End"]) for probe in health["Log"] if probe["ExitCode"] == 0)
    created = timestamp(bench.inspect(app)["Created"])
    assert created > healthy_at, (created, health["Log"])
    assert bench.inspect(app)["State"]["Running"]

    status = bench.command("status")
    assert status.returncode == 0, output(status)
    line = next(line for line in status.stdout.splitlines() if db in line)
    assert "healthy" in line, status.stdout
    listed = bench.command("status", "--json")
    assert listed.returncode == 0, output(listed)
    by_name = {entry["nom"]: entry for entry in json.loads(listed.stdout)}
    assert by_name[db]["sante"] == "healthy" and by_name[db]["ok"] is True


def test_unhealthy_dependency_leaves_dependents_as_they_are(bench):
    db, app, late = bench.name("db"), bench.name("app"), bench.name("tardif")
    sick = web(bench, 1, "db", sante_commande="false", sante_delai="3")
    values = enabled(2, sick, web(bench, 2, "app"))
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, output(result)
    identity = bench.identity(app)

    values = enabled(3, sick, web(bench, 2, "app", dependance=[db], env_nom=["A"], env_valeur={"0": "1"}),
                     web(bench, 3, "tardif", dependance=[db]))
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 1, output(result)
    assert db in result.stdout and "non prête" in result.stdout, result.stdout
    assert not bench.exists(late), "a new dependent is not created"
    assert bench.identity(app) == identity, "an existing dependent is not recreated"
    assert "A=1" not in (bench.inspect(app)["Config"]["Env"] or [])
    assert bench.inspect(db)["State"]["Running"]


# -- 7. bad values refused before anything is made ----------------------------------------------------

@pytest.mark.parametrize("case", ["cycle", "reseau-host", "env-nom"])
def test_bad_values_are_refused_before_anything_is_made(bench, case):
    a, b = bench.name("a"), bench.name("b")
    first, second = web(bench, 1, "a"), web(bench, 2, "b", reseau_prive=[bench.name("reseau")])
    if case == "cycle":
        first["conteneur1_dependance"], second["conteneur2_dependance"] = [b], [a]
        variables = ("conteneur1_dependance", "conteneur2_dependance")
    elif case == "reseau-host":
        first["conteneur1_reseau_prive"] = ["host"]
        variables = ("conteneur1_reseau_prive",)
    else:
        first["conteneur1_env_nom"], first["conteneur1_env_valeur"] = ["1A"], {"0": "x"}
        variables = ("conteneur1_env_nom",)
    bench.write(enabled(2, first, second))
    result = bench.apply()
    assert result.returncode != 0, output(result)
    assert "Configuration refusée" in output(result) and "attendu" in output(result), output(result)
    assert any(variable in output(result) for variable in variables), output(result)
    assert bench.managed() == []
    label = f"label={SCOPE_LABEL}={bench.scope}"
    assert bench.cli("network", "ls", "-q", "--filter", label).stdout.split() == []
    assert not exists(bench, "network", bench.name("reseau"))
