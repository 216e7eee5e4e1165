"""Podman as a second technology, without a daemon: registry digests (a local HTTP server), the mixed
engine's routing (fake engines), Podman's reader quirks, rlimits, validation through the real dictionary,
labels and plans per technology, which engines a job reaches, and the exec command lines."""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from eole_conteneurs.config.loading import load_configuration
from eole_conteneurs.config.model import DataVolume, ImageRef, split_image_key
from eole_conteneurs.containers.executor import Converger
from eole_conteneurs.containers.labels import (LABEL_FINGERPRINT, LABEL_SCOPE, declared_parameters, fingerprint,
                                               labels_for)
from eole_conteneurs.containers.planner import Kind, make_plan
from eole_conteneurs.engine import api, execution, podman
from eole_conteneurs.engine.api import (DockerOperationError, DockerUnavailable, ObservedContainer, ObservedResource,
                                        PodmanUnavailable)
from eole_conteneurs.engine.creation import CreateRequest
from eole_conteneurs.engine.mixed import MixedEngine, Placement
from eole_conteneurs.engine.reader import EngineSocketError, Reply
from eole_conteneurs.engine.reference import qualified
from eole_conteneurs.engine.registry import Reference, RegistryError, manifest_digest
from eole_conteneurs.errors import InvalidConfiguration
from eole_conteneurs.jobs import engines
from eole_conteneurs.jobs.context import Job, RunMode, Settings, Templates
from eole_conteneurs.jobs.operations import describe_plan
from eole_conteneurs.journal import Journal
from tests.unit.conftest import IMAGE_ID, NEWER_IMAGE_ID, SCOPE, apache, hello, observed_for

DIGEST = "sha256:" + "c" * 64

# -- registry.py: references --------------------------------------------------------------------------------


@pytest.mark.parametrize("ref, expected", [
    ("httpd", ("registry-1.docker.io", "library/httpd", "latest")),
    ("httpd:2.4", ("registry-1.docker.io", "library/httpd", "2.4")),
    ("eole/app:1", ("registry-1.docker.io", "eole/app", "1")),
    ("127.0.0.1:5000/httpd:2.4", ("127.0.0.1:5000", "httpd", "2.4")),
    ("127.0.0.1:5000/a/b", ("127.0.0.1:5000", "a/b", "latest")),
    ("localhost/app", ("localhost", "app", "latest")),
    ("localhost:5000/app:1.0", ("localhost:5000", "app", "1.0")),
    ("registre.ac-test.fr/eole/app", ("registre.ac-test.fr", "eole/app", "latest")),
    ("[::1]:5000/x:1", ("[::1]:5000", "x", "1")),
])
def test_reference_is_split_as_a_registry_sees_it(ref, expected):
    parsed = Reference.parse(ref)
    assert (parsed.host, parsed.repository, parsed.tag) == expected


@pytest.mark.parametrize("host, plain", [
    ("127.0.0.1:5000", True), ("127.1.2.3", True), ("[::1]:5000", True), ("[::1]", True), ("localhost", True),
    ("localhost:5000", True), ("registry-1.docker.io", False), ("registre.ac-test.fr:8443", False),
    ("10.0.0.1:5000", False), ("[2001:db8::1]:5000", False), ("localhost.example.fr", False),
])
def test_only_loopback_registries_are_spoken_to_in_plain_http(host, plain):
    assert Reference(host, "a", "latest").plain_http is plain


# -- registry.py: the digest, asked of a registry served here --------------------------------------------------


class RegistryServer(ThreadingHTTPServer):
    """A registry on 127.0.0.1: .route(method, path, headers) → (status, headers, body); .seen records requests."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RegistryHandler)
        self.seen: list[tuple[str, str, dict]] = []
        self.route = lambda method, path, headers: (404, {}, b"")
        self.host = f"127.0.0.1:{self.server_address[1]}"


class RegistryHandler(BaseHTTPRequestHandler):
    server: RegistryServer

    def log_message(self, *args):
        pass

    def do_GET(self):  # and HEAD: the body is left out
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        status, headers, body = self.server.route(self.command, self.path, self.headers)
        self.send_response(status)
        for key, value in dict(headers, **{"Content-Length": str(len(body))}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET


@pytest.fixture
def registry():
    server = RegistryServer()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_digest_is_the_manifest_header(registry):
    registry.route = lambda method, path, headers: (200, {"Docker-Content-Digest": DIGEST}, b"")
    assert manifest_digest(f"{registry.host}/eole/app:2.4", 5) == DIGEST
    [(method, path, headers)] = registry.seen
    assert (method, path) == ("HEAD", "/v2/eole/app/manifests/2.4")
    assert "application/vnd.oci.image.index.v1+json" in headers["Accept"]
    assert "application/vnd.docker.distribution.manifest.list.v2+json" in headers["Accept"]


def test_bearer_challenge_fetches_an_anonymous_token(registry):
    challenge = f'Bearer realm="http://{registry.host}/token",service="x",scope="repository:a:pull"'

    def route(method, path, headers):
        if path.startswith("/token"):
            return 200, {"Content-Type": "application/json"}, json.dumps({"token": "t"}).encode()
        if headers.get("Authorization") == "Bearer t":
            return 200, {"Docker-Content-Digest": DIGEST}, b""
        return 401, {"WWW-Authenticate": challenge}, b""

    registry.route = route
    assert manifest_digest(f"{registry.host}/a:1", 5) == DIGEST
    assert [(method, urlsplit(path).path) for method, path, _ in registry.seen] == [
        ("HEAD", "/v2/a/manifests/1"), ("GET", "/token"), ("HEAD", "/v2/a/manifests/1")]
    assert parse_qs(urlsplit(registry.seen[1][1]).query) == {"service": ["x"], "scope": ["repository:a:pull"]}
    assert "Authorization" not in registry.seen[0][2] and registry.seen[2][2]["Authorization"] == "Bearer t"


def test_refused_token_is_a_registry_error(registry):
    challenge = f'Bearer realm="http://{registry.host}/token",service="x"'
    registry.route = lambda method, path, headers: ((403, {}, b"{}") if path.startswith("/token")
                                                    else (401, {"WWW-Authenticate": challenge}, b""))
    with pytest.raises(RegistryError, match="jeton refusé") as caught:
        manifest_digest(f"{registry.host}/a:1", 5)
    assert registry.host in str(caught.value) and "403" in str(caught.value)


@pytest.mark.parametrize("status, headers, words", [
    (404, {}, ("HTTP 404", "eole/app:9.9")),
    (401, {"WWW-Authenticate": 'Basic realm="x"'}, ("HTTP 401", "eole/app:9.9")),
    (200, {}, ("pas d'empreinte",)),
    (200, {"Docker-Content-Digest": "sha256:abc"}, ("pas d'empreinte",)),
    (200, {"Docker-Content-Digest": "md5:" + "c" * 64}, ("pas d'empreinte",)),
])
def test_no_digest_is_a_registry_error_naming_the_registry(registry, status, headers, words):
    registry.route = lambda method, path, _: (status, headers, b"")
    with pytest.raises(RegistryError) as caught:
        manifest_digest(f"{registry.host}/eole/app:9.9", 5)
    assert all(word in str(caught.value) for word in (registry.host, *words)), str(caught.value)


def test_unreachable_registry_is_a_registry_error():
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RegistryError) as caught:
        manifest_digest(f"127.0.0.1:{port}/a:1", 2)
    assert f"127.0.0.1:{port}" in str(caught.value)


# -- mixed.py: one engine over Docker's and Podman's -------------------------------------------------------------


def container(name: str, image_id: str = IMAGE_ID) -> ObservedContainer:
    return ObservedContainer(id=(name.encode().hex() + "0" * 64)[:64], name=name, image_id=image_id, state="running")


class FakeEngine:
    """Answers the listings it is given (containers, networks, volumes, volume_sizes); records every other call."""

    def __init__(self, technology, **listings):
        self.technology, self.calls = technology, []
        self.listings = {"containers": [], "networks": (), "volumes": (), "volume_sizes": {}, **listings}
        for kind in ("networks", "volumes"):
            self.listings[kind] = [ObservedResource(name) for name in self.listings[kind]]

    def __getattr__(self, name):
        if name.startswith("_") or name == "of_technology":  # one technology: api.of_technology gives it back
            raise AttributeError(name)
        if name in self.listings:
            return lambda: self.listings[name]
        return lambda *args: self.calls.append((name, *args))

    def inspect(self, name):
        self.calls.append(("inspect", name))
        return {"Id": name} if any(name in (c.id, c.name) for c in self.listings["containers"]) else None

    def create(self, request):
        self.calls.append(("create", request.name))
        return f"{self.technology}-{request.name}"

    def image_labels(self, image_id):
        return {"engine": self.technology}


def mixed(placement=Placement(), docker=None, podman_=None):
    """A MixedEngine over two FakeEngines (their listings given as dicts), and the two fakes."""
    fakes = FakeEngine("docker", **(docker or {})), FakeEngine("podman", **(podman_ or {}))
    return MixedEngine({"docker": fakes[0], "podman": fakes[1]}, placement), *fakes


def test_what_names_a_listed_container_goes_to_the_engine_that_listed_it():
    web, db = container("web", "sha256:d"), container("db", "sha256:p")
    engine, docker, podman_ = mixed(docker={"containers": [web]}, podman_={"containers": [db]})
    assert [(c.name, c.technology) for c in engine.containers()] == [("web", "docker"), ("db", "podman")]
    engine.start("db")
    engine.stop(db.id, 3)
    engine.remove("web")
    assert engine.inspect("db") == {"Id": "db"}
    assert podman_.calls == [("start", "db"), ("stop", db.id, 3), ("inspect", "db")]
    assert docker.calls == [("remove", "web")]
    assert (engine.image_labels("sha256:p"), engine.image_labels("sha256:d")) == ({"engine": "podman"},
                                                                                  {"engine": "docker"})


def test_a_container_not_listed_is_looked_for_in_each_engine():
    engine, docker, podman_ = mixed(podman_={"containers": [container("db")]})
    engine.start("db")
    assert docker.calls == [("inspect", "db")] and podman_.calls == [("inspect", "db"), ("start", "db")]
    with pytest.raises(DockerOperationError, match="aucun moteur") as caught:
        engine.stop("ghost")
    assert caught.value.target == "ghost"


def test_creation_goes_to_the_requested_technology_and_the_new_container_stays_there():
    engine, docker, podman_ = mixed()
    made = engine.create(CreateRequest("app", "127.0.0.1:5000/httpd:2.4", {}, technology="podman"))
    engine.start(made)
    engine.stop("app")
    assert made == "podman-app"
    assert podman_.calls == [("create", "app"), ("start", "podman-app"), ("stop", "app", 10)] and docker.calls == []
    engine.create(CreateRequest("other", "httpd:2.4", {}))  # docker by default
    assert docker.calls == [("create", "other")]


def test_a_renamed_container_is_found_under_its_new_name():
    web = container("web")
    engine, docker, podman_ = mixed(docker={"containers": [web]})
    engine.containers()
    engine.rename(web.id, "web-mis-de-cote")
    engine.start("web-mis-de-cote")
    made = engine.create(CreateRequest("web", "httpd", {}, technology="podman"))  # the same name, now under Podman
    engine.rename(made, "web-2")
    engine.stop("web-2")
    assert docker.calls == [("rename", web.id, "web-mis-de-cote"), ("start", "web-mis-de-cote")]
    assert podman_.calls == [("create", "web"), ("rename", "podman-web", "web-2"), ("stop", "web-2", 10)]


def test_declared_networks_and_volumes_are_seen_only_in_their_technology():
    placement = Placement(networks={"interne": "podman"}, volumes={"donnees": "docker"})
    engine, _, _ = mixed(placement, {"networks": ("interne", "bridge"), "volumes": ("donnees", "libre"),
                                     "volume_sizes": {"donnees": 1, "libre": 2}},
                         {"networks": ("interne",), "volumes": ("donnees",), "volume_sizes": {"donnees": 3}})
    assert [(n.name, n.technology) for n in engine.networks()] == [("bridge", "docker"), ("interne", "podman")]
    assert [(v.name, v.technology) for v in engine.volumes()] == [("donnees", "docker"), ("libre", "docker")]
    assert engine.volume_sizes() == {"donnees": 1, "libre": 2}


def test_networks_and_volumes_are_made_where_declared_and_removed_wherever_listed():
    engine, docker, podman_ = mixed(Placement({"interne": "podman"}, {"donnees": "podman"}),
                                    docker={"networks": ("ancien", "seul")}, podman_={"networks": ("ancien",)})
    engine.create_network("interne", {})
    engine.create_volume("donnees", {})
    engine.create_network("ailleurs", {})  # undeclared: the first engine's
    engine.networks()
    engine.remove_network("ancien")  # an unused network left on both engines
    engine.remove_network("seul")
    assert podman_.calls == [("create_network", "interne", {}), ("create_volume", "donnees", {}),
                             ("remove_network", "ancien")]
    assert docker.calls == [("create_network", "ailleurs", {}), ("remove_network", "ancien"),
                            ("remove_network", "seul")]


def test_a_technology_not_reached_is_an_operation_error():
    engine = MixedEngine({"docker": FakeEngine("docker")})
    with pytest.raises(DockerOperationError) as caught:
        engine.of_technology("podman")
    assert "podman" in str(caught.value) and "disponible" in str(caught.value)
    with pytest.raises(DockerOperationError, match="podman"):
        engine.create(CreateRequest("app", "httpd", {}, technology="podman"))


def test_of_technology_routes_a_mixed_engine_and_keeps_a_single_one():
    single = FakeEngine("docker")
    assert api.of_technology(single, "docker") is single
    with pytest.raises(DockerOperationError, match="podman n'est pas disponible"):
        api.of_technology(single, "podman")  # never Docker's image store for a Podman container
    engine, docker, podman_ = mixed()
    assert api.of_technology(engine, "podman") is podman_ and api.of_technology(engine, "docker") is docker
    engine.ping()
    assert docker.calls == podman_.calls == [("ping",)]


# -- podman.py: the reader's health checks -------------------------------------------------------------------


def inspected(running: bool = True, test=("CMD-SHELL", "true"), status: str = "starting", age: float = 3600,
              interval: int = 0) -> dict:
    """A container's inspect as Podman answers it: started age seconds ago, its check every interval ns."""
    started = (datetime.now(timezone.utc) - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"Id": "abc/1", "State": {"Running": running, "Health": {"Status": status}, "StartedAt": started},
            "Config": {"Healthcheck": {"Test": list(test), "Interval": interval}} if test is not None else {}}


class FakePodmanSocket:
    """EngineSocket-like: .container() answers in turn (the last one again), .get() runs the check."""

    def __init__(self, *answers, failing: bool = False):
        self.answers, self.failing, self.calls = list(answers), failing, []

    def container(self, name):
        self.calls.append(("container", name))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def get(self, path):
        self.calls.append(("get", path))
        if self.failing:
            raise EngineSocketError("connexion refusée")
        return Reply(200, b"")

    def ping(self):
        raise EngineSocketError("connexion refusée")


@pytest.mark.parametrize("failing, status", [(False, "healthy"), (True, "unhealthy")])
def test_a_running_container_with_a_health_check_has_it_run_then_read_again(failing, status, monkeypatch, tmp_path):
    monkeypatch.setattr(podman, "SYSTEMD", tmp_path / "absent")
    client = FakePodmanSocket(inspected(status="starting"), inspected(status=status), failing=failing)
    found = podman.PodmanReader(client).inspect("web")
    assert client.calls == [("container", "web"), ("get", "/v4.0.0/libpod/containers/abc%2F1/healthcheck"),
                            ("container", "web")]
    assert found["State"]["Health"] == {"Status": status}  # a check that could not run: read as Podman knows it


def test_the_health_check_runs_at_dockers_pace(monkeypatch, tmp_path):
    """One interval after the start (30 s when the check gives none), then once per interval; none under systemd."""
    monkeypatch.setattr(podman, "SYSTEMD", tmp_path / "absent")
    young = FakePodmanSocket(inspected(age=10))
    podman.PodmanReader(young).inspect("web")
    assert ("get", "/v4.0.0/libpod/containers/abc%2F1/healthcheck") not in young.calls, "not due: 10 s < 30 s"
    every_2s = FakePodmanSocket(inspected(age=3, interval=2 * 10**9))
    reader = podman.PodmanReader(every_2s)
    reader.inspect("web")
    reader.inspect("web")  # asked again at once: the interval has not passed since the run
    assert [call for call in every_2s.calls if call[0] == "get"] == [
        ("get", "/v4.0.0/libpod/containers/abc%2F1/healthcheck")]
    monkeypatch.setattr(podman, "SYSTEMD", tmp_path)  # systemd is the init: Podman's timers run it
    timed = FakePodmanSocket(inspected())
    podman.PodmanReader(timed).inspect("web")
    assert timed.calls == [("container", "web")]


@pytest.mark.parametrize("details, health", [
    (inspected(running=False, status="unhealthy"), {"Status": "unhealthy"}),  # stopped: its last check is kept
    (inspected(test=None, status=""), None), (inspected(test=("NONE",), status=""), None),
    (inspected(test=(), status=""), None),  # Podman's empty health of a container without check: removed
])
def test_no_health_check_is_run_when_stopped_or_without_one(details, health):
    client = FakePodmanSocket(details)
    found = podman.PodmanReader(client).inspect("web")
    assert found["State"].get("Health") == health and found["State"]["Running"] == details["State"]["Running"]
    assert client.calls == [("container", "web")]
    assert details["State"]["Health"]  # the answer read is not changed


def test_an_absent_container_reads_as_none_and_a_silent_service_as_podman_unavailable():
    client = FakePodmanSocket(None)
    assert podman.PodmanReader(client).inspect("web") is None and client.calls == [("container", "web")]
    with pytest.raises(PodmanUnavailable, match="Podman"):
        podman.PodmanReader(client).ping()


# -- podman.py: the nofile/nproc limits given to every container -----------------------------------------------


@pytest.fixture
def listening_socket():
    """A unix socket this process listens on: its peer, seen from a client, is this very process."""
    directory = tempfile.mkdtemp(prefix="pm", dir="/tmp")  # short: a socket path has at most 107 bytes
    path = os.path.join(directory, "api.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(4)
        yield path
    shutil.rmtree(directory)


def test_limits_are_those_of_the_listening_process_capped(listening_socket):
    hard = {name: resource.getrlimit(which)[1] for name, (_, which) in podman.LIMITS.items()}
    assert podman._peer_limits(listening_socket) == {name: limit for name, limit in hard.items()
                                                     if limit != resource.RLIM_INFINITY}
    assert podman.service_limits(listening_socket) == {
        name: podman.MAX_LIMIT if limit == resource.RLIM_INFINITY else min(limit, podman.MAX_LIMIT)
        for name, limit in hard.items()}


def test_service_limits_take_the_lowest_of_the_service_own_and_podmans_default(tmp_path, monkeypatch):
    path, lowered = str(tmp_path / "s"), {"nofile": 1000, "nproc": 2000}  # the service's: lower than ours
    limits = {resource.RLIMIT_NOFILE: lowered["nofile"], resource.RLIMIT_NPROC: lowered["nproc"]}
    service = subprocess.Popen(
        ["/usr/bin/python3", "-c", "import socket, sys, time; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); "
         "s.listen(); print('prêt', flush=True); time.sleep(60)", path], stdout=subprocess.PIPE,
        preexec_fn=lambda: [resource.setrlimit(which, (value, value)) for which, value in limits.items()])
    try:
        assert service.stdout.readline().strip() == "prêt".encode()
        monkeypatch.setattr(podman.resource, "getrlimit", lambda which: (64, 4 * podman.MAX_LIMIT))
        assert podman.service_limits(path) == lowered
        monkeypatch.setattr(podman.resource, "getrlimit", lambda which: (64, 100))  # own: below everything
        assert podman.service_limits(path) == {"nofile": 100, "nproc": 100}
    finally:
        service.kill()
        service.wait()


def test_without_a_service_own_limits_count_and_unlimited_is_the_cap(monkeypatch, tmp_path):
    absent = str(tmp_path / "absent.sock")
    assert podman._peer_limits(absent) == {}
    monkeypatch.setattr(podman.resource, "getrlimit", lambda which: (64, resource.RLIM_INFINITY))
    assert podman.service_limits(absent) == {"nofile": podman.MAX_LIMIT, "nproc": podman.MAX_LIMIT}


def test_unlimited_hard_limits_of_the_service_are_not_read_as_numbers(listening_socket, monkeypatch):
    limits = ("Limit                     Soft Limit           Hard Limit           Units     \n"
              "Max processes             63423                63423                processes \n"
              "Max open files            1024                 unlimited            files     \n")
    monkeypatch.setattr(podman, "open", lambda path, encoding=None: io.StringIO(limits), raising=False)
    assert podman._peer_limits(listening_socket) == {"nproc": 63423}


# -- validation through the real dictionary ---------------------------------------------------------------------


def two_containers(technologies=("docker", "podman"), **overrides):
    values = {"activer_conteneurs": "oui", "nombre_conteneurs": "2",
              "conteneur1_nom": "base", "conteneur1_depot": "mariadb", "conteneur1_technologie": technologies[0],
              "conteneur2_nom": "appli", "conteneur2_depot": "httpd", "conteneur2_technologie": technologies[1]}
    return dict(values, **overrides)


def refused(write_config, dicos, values) -> InvalidConfiguration:
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(values), dicos)
    return caught.value


def test_podman_is_an_accepted_technology_and_docker_the_default(write_config, dicos):
    values = two_containers()
    del values["conteneur1_technologie"]
    configuration = load_configuration(write_config(values), dicos)
    assert [spec.technology for spec in configuration.containers] == ["docker", "podman"]


def test_an_unknown_technology_is_refused_by_name_and_value(write_config, dicos):
    error = refused(write_config, dicos, two_containers(("docker", "lxc")))
    assert [problem.variable for problem in error.problems] == ["conteneur2_technologie"]
    assert "lxc" in str(error.problems[0])


SHARED_NETWORK = {"conteneur1_reseau_prive": ["interne"], "conteneur2_reseau_prive": ["interne"]}
SHARED_VOLUME = {"conteneur1_volume_nom": ["donnees"], "conteneur1_volume_chemin": {"0": "/var/lib/mysql"},
                 "conteneur2_volume_nom": ["donnees"], "conteneur2_volume_chemin": {"0": "/srv/donnees"}}


@pytest.mark.parametrize("shared, variable, name", [(SHARED_NETWORK, "conteneur2_reseau_prive", "interne"),
                                                     (SHARED_VOLUME, "conteneur2_volume_nom", "donnees")])
@pytest.mark.parametrize("technologies", [("docker", "podman"), ("podman", "docker")])
def test_a_network_or_volume_shared_across_technologies_is_refused(write_config, dicos, shared, variable, name,
                                                                   technologies):
    error = refused(write_config, dicos, two_containers(technologies, **shared))
    assert [problem.variable for problem in error.problems] == [variable]
    message = str(error.problems[0])
    assert message.startswith(variable) and f"« {name} »" in message
    assert "base" in message and "appli" in message and "technologie" in message


@pytest.mark.parametrize("shared", [SHARED_NETWORK, SHARED_VOLUME])
def test_a_network_or_volume_shared_by_podman_containers_is_accepted(write_config, dicos, shared):
    configuration = load_configuration(write_config(two_containers(("podman", "podman"), **shared)), dicos)
    assert [spec.technology for spec in configuration.containers] == ["podman", "podman"]
    assert configuration.containers[0].private_networks or configuration.containers[0].data_volumes


# -- labels and plans per technology ------------------------------------------------------------------------


def test_docker_containers_keep_the_parameters_and_fingerprint_they_had_before_podman():
    parameters = declared_parameters(apache())
    assert parameters == {"version": 1, "image": "127.0.0.1:5000/httpd:2.4", "ports": ["127.0.0.1:8081→80"],
                          "volumes": ["/var/eole-httpd → /usr/local/apache2/htdocs"], "restart": "unless-stopped"}
    assert fingerprint(parameters) == "dd4581c94fb16ea9c8ecfe8b04cb4eee89dbd7c3169bbc45b9517e0d50be5869"
    docker, podman_ = apache(), apache(technology="podman")  # Podman's declare their technology
    assert declared_parameters(podman_) == dict(parameters, technology="podman")
    assert labels_for(podman_, SCOPE)[LABEL_FINGERPRINT] != labels_for(docker, SCOPE)[LABEL_FINGERPRINT]


@pytest.mark.parametrize("technology, hub, key", [
    ("docker", "127.0.0.1:5000", "127.0.0.1:5000/httpd:2.4"),
    ("podman", "127.0.0.1:5000", "podman 127.0.0.1:5000/httpd:2.4"),
    ("docker", "", "httpd:2.4"),
    ("podman", "", "podman httpd:2.4"),
    ("podman", "podman:5000", "podman podman:5000/httpd:2.4"),
    ("docker", "podman:5000", "podman:5000/httpd:2.4"),  # a registry host named podman (conteneurN_hub accepts it)
])
def test_image_key_round_trips(technology, hub, key):
    spec = apache(technology=technology, image=ImageRef(hub, "httpd", "2.4"))
    assert spec.image_key == key
    assert split_image_key(spec.image_key) == (technology, str(spec.image))


@pytest.mark.parametrize("before, now", [("docker", "podman"), ("podman", "docker")])
def test_a_container_whose_technology_changed_is_recreated(before, now):
    current, spec = observed_for(apache(technology=before)), apache(technology=now)
    [action] = make_plan([spec], [current], {spec.image_key: IMAGE_ID}, SCOPE).actions
    assert action.kind is Kind.RECREATE and action.current is current
    assert f"technologie : {before} → {now}" in action.reason, action.reason  # Docker's default named, not « aucun »


@pytest.mark.parametrize("technology", ["docker", "podman"])
def test_an_unchanged_container_of_either_technology_is_kept(technology):
    spec = apache(technology=technology)
    plan = make_plan([spec], [observed_for(spec)], {spec.image_key: IMAGE_ID}, SCOPE)
    assert [action.kind for action in plan.actions] == [Kind.KEEP] and not plan.changes and plan.pulls == ()


def test_a_persistent_container_changing_technology_is_kept_with_the_change_pending():
    spec = apache(technology="podman", persistent=True)
    [action] = make_plan([spec], [observed_for(apache(persistent=True))], {spec.image_key: IMAGE_ID}, SCOPE).actions
    assert action.kind is Kind.KEEP and "technologie" in action.pending and "--recreer" in action.pending


def test_images_are_looked_up_in_the_store_of_their_technology():
    docker, podman_ = hello(), hello(index=2, name="web", technology="podman")
    plan = make_plan([docker, podman_], [], {str(docker.image): IMAGE_ID}, SCOPE)  # only Docker has it
    assert plan.pulls == ("podman 127.0.0.1:5000/hello-world:latest",)
    assert [action.kind for action in plan.actions] == [Kind.CREATE, Kind.CREATE]
    assert describe_plan(plan).splitlines()[0] == ("Image à récupérer : 127.0.0.1:5000/hello-world:latest "
                                                   "(podman, absente localement)")


def test_a_newer_image_in_the_other_store_does_not_recreate():
    spec = apache(technology="podman")
    current = observed_for(spec)
    images = {str(spec.image): NEWER_IMAGE_ID, spec.image_key: IMAGE_ID}  # Docker's store has a newer one
    assert [a.kind for a in make_plan([spec], [current], images, SCOPE).actions] == [Kind.KEEP]
    images = {str(spec.image): IMAGE_ID, spec.image_key: NEWER_IMAGE_ID}  # Podman's has
    [action] = make_plan([spec], [current], images, SCOPE).actions
    assert action.kind is Kind.RECREATE and "nouvelle image" in action.reason


# -- jobs/engines.py: which engines a job reaches ------------------------------------------------------------


@pytest.fixture
def job(tmp_path):
    settings = Settings(docker_url=f"unix://{tmp_path}/docker.sock", podman_url=f"unix://{tmp_path}/podman.sock",
                        state_dir=tmp_path / "etat", scope=SCOPE)
    settings.state_dir.mkdir()
    return Job(settings, RunMode(False, Templates.MODULE), Journal(io.StringIO()))


def connecting(monkeypatch, **answers):
    """_connect replaced: each technology's answer (an engine, or an exception raised); the calls recorded."""
    calls = []

    def connect(job, technology, start):
        calls.append((technology, start))
        if isinstance(answers[technology], Exception):
            raise answers[technology]
        return answers[technology]

    monkeypatch.setattr(engines, "_connect", connect)
    return calls


DOCKER_SPEC = apache(private_networks=("interne",))
PODMAN_SPEC = hello(index=3, name="appli", technology="podman",
                    data_volumes=(DataVolume("donnees", "/srv"),), private_networks=("cache",))


def test_a_docker_only_host_gets_the_docker_engine_itself(monkeypatch, job):
    docker = FakeEngine("docker")
    calls = connecting(monkeypatch, docker=docker, podman=AssertionError("Podman asked"))
    reached = engines.reach(job, [DOCKER_SPEC], start=True)
    assert reached.engine is docker and reached.specs == (DOCKER_SPEC,) and reached.refused == {}
    assert calls == [("docker", True)]  # no podman socket here: not tried


def test_an_undeclared_engine_is_asked_only_if_remembered_and_its_socket_is_there(monkeypatch, job, tmp_path):
    docker, podman_ = FakeEngine("docker"), FakeEngine("podman")
    (tmp_path / "podman.sock").touch()
    calls = connecting(monkeypatch, docker=docker, podman=podman_)
    reached = engines.reach(job, [DOCKER_SPEC], start=True)
    assert calls == [("docker", True)], "the module never had containers on Podman: not asked"
    managed = observed_for(hello())  # a container of the module, on Docker
    engines.remember(job, {managed.technology, "podman"})
    assert recorded(job) == [f"{SCOPE}:", f"{SCOPE}:docker", f"{SCOPE}:podman"]  # docker: never recorded before
    calls.clear()
    reached = engines.reach(job, [DOCKER_SPEC], start=True)
    assert calls == [("docker", True), ("podman", False)]  # an undeclared engine is never started
    assert isinstance(reached.engine, MixedEngine) and reached.engine.engines == {"docker": docker, "podman": podman_}
    assert reached.engine.placement == Placement({"interne": "docker"}, {})
    connecting(monkeypatch, docker=docker, podman=PodmanUnavailable("connexion refusée"))  # not answering: no failure
    reached = engines.reach(job, [DOCKER_SPEC], start=False)
    assert reached.engine is docker and reached.refused == {} and not job.journal.failed
    (tmp_path / "podman.sock").unlink()
    calls = connecting(monkeypatch, docker=docker, podman=podman_)
    engines.reach(job, [DOCKER_SPEC], start=False)
    assert calls == [("docker", False)], "no socket: not asked"
    # Never forgotten: the module's volumes may stay there without any container.
    engines.remember(job, set())
    assert recorded(job) == [f"{SCOPE}:", f"{SCOPE}:docker", f"{SCOPE}:podman"]  # docker: never recorded before
    (tmp_path / "docker.sock").touch()
    (tmp_path / "podman.sock").touch()
    other = replace(job, settings=replace(job.settings, scope="autre"))  # nothing remembered for it
    calls = connecting(monkeypatch, docker=docker, podman=podman_)
    engines.reach(other, [], start=False)
    assert calls == [("docker", False)], "never recorded: Docker's only"
    calls.clear()
    engines.reach(other, [], start=False, every=True)
    assert calls == [("docker", False), ("podman", False)], "the volume commands ask every engine that answers"


def recorded(job) -> list[str]:
    return (job.settings.state_dir / "technologies").read_text().split()


def test_a_scope_never_recorded_remembers_docker_only(job):
    assert engines._remembered(job) == {"docker"}  # what eole-conteneurs < 0.8.0 left


def test_podman_failing_leaves_its_containers_out_and_says_which(monkeypatch, job):
    docker, failure = FakeEngine("docker"), PodmanUnavailable("podman absent")
    connecting(monkeypatch, docker=docker, podman=failure)
    reached = engines.reach(job, [DOCKER_SPEC, PODMAN_SPEC], start=True)
    assert reached.engine is docker and reached.specs == (DOCKER_SPEC,) and reached.refused == {"podman": failure}
    [error] = job.journal.errors
    assert "appli (conteneur3_technologie = podman)" in error and "Podman" in error and "podman absent" in error
    assert DOCKER_SPEC.name not in error and f"Erreur : {error}" in job.journal.out.getvalue()


def test_docker_failing_keeps_podman_containers_in_a_mixed_engine(monkeypatch, job):
    podman_ = FakeEngine("podman")
    connecting(monkeypatch, docker=DockerUnavailable("connexion refusée"), podman=podman_)
    reached = engines.reach(job, [DOCKER_SPEC, PODMAN_SPEC], start=True)
    assert reached.specs == (PODMAN_SPEC,) and isinstance(reached.engine, MixedEngine)
    assert reached.engine.engines == {"podman": podman_}
    assert reached.engine.placement == Placement({"cache": "podman"}, {"donnees": "podman"})
    assert job.journal.errors and "my-apache-app (conteneur2_technologie = docker)" in job.journal.errors[0]


def test_every_declared_technology_failing_raises(monkeypatch, job, tmp_path):
    (tmp_path / "docker.sock").touch()
    docker_failure = DockerUnavailable("connexion refusée")
    connecting(monkeypatch, docker=docker_failure, podman=PodmanUnavailable("podman absent"))
    with pytest.raises(DockerUnavailable) as caught:
        engines.reach(job, [DOCKER_SPEC, PODMAN_SPEC], start=True)
    assert str(docker_failure) in str(caught.value) and "connexion refusée" in str(caught.value)
    # Podman alone declared: Docker answering (undeclared) is not enough.
    connecting(monkeypatch, docker=FakeEngine("docker"), podman=PodmanUnavailable("podman absent"))
    with pytest.raises(DockerUnavailable) as caught:
        engines.reach(job, [PODMAN_SPEC], start=True)
    assert "Podman" in str(caught.value) and "appli (conteneur3_technologie = podman)" in str(caught.value)


def test_without_report_a_failure_is_returned_not_raised(monkeypatch, job):
    failure = PodmanUnavailable("podman absent")
    connecting(monkeypatch, docker=DockerUnavailable("absent"), podman=failure)
    reached = engines.reach(job, [PODMAN_SPEC], start=False, report=False)
    assert reached.engine is None and reached.specs == () and reached.refused == {"podman": failure}
    assert not job.journal.failed
    with pytest.raises(DockerUnavailable, match="podman absent"):
        engines.connected(job, [PODMAN_SPEC])


# -- execution.py: commands run inside a container -----------------------------------------------------------


@pytest.fixture
def exec_argv(monkeypatch):
    """The command lines run (the clients are said present); the answer's returncode and stderr may be set."""
    runs, answer = [], {"returncode": 0, "stderr": b""}

    def run(argv, **options):
        runs.append(argv)
        return subprocess.CompletedProcess(argv, answer["returncode"], stderr=answer["stderr"])

    monkeypatch.setattr(execution.os, "access", lambda path, mode: path in execution.CLIENTS.values())
    monkeypatch.setattr(execution.subprocess, "run", run)
    return runs, answer


def test_exec_goes_through_podman_alone_or_dockerd_named(exec_argv, tmp_path):
    runs, _ = exec_argv
    source = tmp_path / "export.sql"
    source.write_bytes(b"SELECT 1;")
    execution.run_with_output(execution.Where("base", "podman"), ("mariadb-dump", "--all"), io.BytesIO())
    execution.run_with_input(execution.Where("base", "podman"), ("mariadb",), source)
    execution.run_with_input(execution.Where("base", "docker", api.Endpoints(docker="tcp://127.0.0.1:2375")),
                             ("mariadb",), source)
    execution.run_with_output(execution.Where("base"), ("true",), io.BytesIO())
    assert runs == [["/usr/bin/podman", "exec", "base", "mariadb-dump", "--all"],  # no service in between
                    ["/usr/bin/podman", "exec", "-i", "base", "mariadb"],
                    ["/usr/bin/docker", "-H", "tcp://127.0.0.1:2375", "exec", "-i", "base", "mariadb"],
                    ["/usr/bin/docker", "-H", "unix:///var/run/docker.sock", "exec", "base", "true"]]


def test_a_failed_exec_names_the_container_and_the_exit_status(exec_argv):
    _, answer = exec_argv
    answer.update(returncode=125, stderr=b"Error: no container with name or ID \"base\" found")
    with pytest.raises(execution.ExecFailed) as caught:
        execution.run_with_output(execution.Where("base", "podman"), ("mariadb-dump",), io.BytesIO())
    message = str(caught.value)
    assert "base" in message and "125" in message and "no container" in message and "mariadb-dump" in message


def test_an_absent_podman_client_names_its_package(monkeypatch):
    monkeypatch.setattr(execution.os, "access", lambda path, mode: False)
    monkeypatch.setattr(execution.subprocess, "run", lambda *a, **k: pytest.fail("nothing may run"))
    with pytest.raises(execution.ExecFailed) as caught:
        execution.run_with_output(execution.Where("base", "podman"), ("true",), io.BytesIO())
    assert "/usr/bin/podman absent" in str(caught.value) and "paquet podman" in str(caught.value)


# -- a technology not reached: what bears its containers' names is left alone --------------------------------


def test_the_containers_of_a_technology_not_reached_are_out_of_the_plan():
    """web moved to Podman, which does not answer: its Docker container, one set aside by a killed recreation and
    their network stay as they are (they would be removed as undeclared otherwise)."""
    moved = apache(technology="podman", private_networks=("interne",))
    old = observed_for(apache(private_networks=("interne",)))
    set_aside = observed_for(apache(), name=f"{moved.name}--ancien-{'c' * 12}", state="exited", exit_code=0)
    docker = FakeEngine("docker", containers=[old, set_aside])
    docker.listings["networks"] = [ObservedResource("interne", {LABEL_SCOPE: SCOPE})]
    converger = Converger(docker, Journal(io.StringIO()), SCOPE)
    assert converger.plan([], {}, left_alone=[moved]).actions == ()
    assert converger.plan([], {}, left_alone=[moved]).unused_networks == ()
    unguarded = converger.plan([], {})
    assert Kind.REMOVE in {action.kind for action in unguarded.actions} and unguarded.unused_networks == ("interne",)


def test_a_name_on_both_engines_is_planned_for_the_modules_container():
    ours, foreign = observed_for(apache()), replace(observed_for(apache()), id="autre", labels={}, technology="podman")
    [action] = make_plan([apache()], [ours, foreign], {apache().image_key: IMAGE_ID}, SCOPE).actions
    assert action.kind is Kind.KEEP and action.current is ours


@pytest.mark.parametrize("ref, full", [
    ("httpd", "docker.io/library/httpd:latest"), ("eole/app:1", "docker.io/eole/app:1"),
    ("127.0.0.1:5000/httpd:2.4", "127.0.0.1:5000/httpd:2.4"), ("localhost/x", "localhost/x:latest"),
    (f"httpd@sha256:{'b' * 64}", f"docker.io/library/httpd@sha256:{'b' * 64}"),
    (f"sha256:{'c' * 64}", f"sha256:{'c' * 64}"),  # an image id is not a name
])
def test_podman_is_given_docker_hub_names_in_full(ref, full):
    assert qualified(ref) == full
