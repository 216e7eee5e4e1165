"""The thin Engine API client: replies as dockerd writes them, served by a plain fake on a unix socket."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from eole_conteneurs.engine.api import DockerOperationError, DockerUnavailable
from eole_conteneurs.engine.dockerd import DockerEngine
from eole_conteneurs.engine.prefetch import PROBES, Prefetch
from eole_conteneurs.cache import write_json
from eole_conteneurs.jobs.memory import images_of_last_run, remember_images
from eole_conteneurs.engine.reader import EngineSocket, EngineSocketError


class FakeDockerd:
    """Answers each request with the raw bytes routes[path] gives; records the request lines."""

    def __init__(self, path, routes):
        self.routes, self.requests = routes, []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(8)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += connection.recv(4096)
                line = request.split(b"\r\n", 1)[0].decode()
                self.requests.append(line)
                path = line.split(" ")[1]
                connection.sendall(self.routes.get(path, reply(404, {"message": "No such object"})))

    def close(self):
        self.server.close()


def reply(status, body, chunked=False, length=True):
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    headers = [f"HTTP/1.1 {status} X", "Content-Type: application/json", "Api-Version: 1.41"]
    if chunked:
        headers.append("Transfer-Encoding: chunked")
        data = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (data[:7], data[7:])) + b"0\r\n\r\n"
    elif length:
        headers.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + data


@pytest.fixture
def dockerd(tmp_path):
    fakes = []

    def start(routes):
        fake = FakeDockerd(tmp_path / "docker.sock", routes)
        fakes.append(fake)
        return fake, EngineSocket(path=str(tmp_path / "docker.sock"))
    yield start
    for fake in fakes:
        fake.close()


CONTAINERS = [{"Id": "a" * 64, "Names": ["/web"], "ImageID": "sha256:1", "State": "exited",
               "Status": "Exited (3) 2 minutes ago", "Labels": {"k": "v"}}]


@pytest.mark.parametrize("encoding", ["length", "chunked", "until-close"])
def test_containers_whatever_the_framing(dockerd, encoding):
    routes = {"/containers/json?all=1": reply(200, CONTAINERS, chunked=encoding == "chunked",
                                              length=encoding == "length")}
    _, client = dockerd(routes)
    assert client.containers() == CONTAINERS


def test_missing_image_and_container_are_none(dockerd):
    _, client = dockerd({})
    assert client.image("127.0.0.1:5000/httpd:2.4") is None
    assert client.container("web") is None


def test_names_are_quoted_in_the_path(dockerd):
    fake, client = dockerd({"/images/127.0.0.1%3A5000%2Fhttpd%3A2.4/json": reply(200, {"Id": "sha256:9"})})
    assert client.image("127.0.0.1:5000/httpd:2.4") == {"Id": "sha256:9"}
    assert fake.requests == ["GET /images/127.0.0.1%3A5000%2Fhttpd%3A2.4/json HTTP/1.0"]


def test_daemon_error_message_is_kept(dockerd):
    _, client = dockerd({"/containers/json?all=1": reply(500, {"message": "disque plein"})})
    with pytest.raises(EngineSocketError, match="HTTP 500 disque plein"):
        client.containers()


@pytest.mark.parametrize("raw", [b"", b"garbage", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}",
                                 b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{x}",
                                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"])
def test_malformed_replies_are_errors(dockerd, raw):
    _, client = dockerd({"/containers/json?all=1": raw})
    with pytest.raises(EngineSocketError):
        client.containers()


def test_absent_socket_is_an_error(tmp_path):
    with pytest.raises(EngineSocketError):
        EngineSocket(path=str(tmp_path / "absent.sock")).ping()


@pytest.mark.parametrize("url, expected", [
    ("unix:///var/run/docker.sock", EngineSocket(path="/var/run/docker.sock")),
    ("tcp://127.0.0.1:2375", EngineSocket(address=("127.0.0.1", 2375))),
    ("tcp://localhost", EngineSocket(address=("localhost", 2375))),
    ("ssh://user@host", None),
    ("https://127.0.0.1:2376", None),
])
def test_from_url(url, expected):
    assert EngineSocket.from_url(url) == expected


REF = "127.0.0.1:5000/httpd:2.4"
IMAGE_PATH = "/images/127.0.0.1%3A5000%2Fhttpd%3A2.4/json"
DISTRIBUTION_PATH = "/distribution/127.0.0.1:5000/httpd:2.4/json"


def engine_for(tmp_path, dockerd, routes):
    fake, _ = dockerd({"/_ping": reply(200, b"OK"), **routes})
    return fake, DockerEngine.connect(f"unix://{tmp_path}/docker.sock")


@pytest.mark.parametrize("local, remote, expected", [
    (["127.0.0.1:5000/httpd@sha256:aa"], reply(200, {"Descriptor": {"digest": "sha256:aa"}}), True),
    (["127.0.0.1:5000/httpd@sha256:aa"], reply(200, {"Descriptor": {"digest": "sha256:bb"}}), False),
    ([], reply(200, {"Descriptor": {"digest": "sha256:aa"}}), False),
    (["127.0.0.1:5000/httpd@sha256:aa"], reply(500, {"message": "registre injoignable"}), False),
    (["127.0.0.1:5000/httpd@sha256:aa"], reply(200, {"Descriptor": {}}), False),
])
def test_up_to_date_only_when_the_registry_digest_is_local(tmp_path, dockerd, local, remote, expected):
    _, engine = engine_for(tmp_path, dockerd, {IMAGE_PATH: reply(200, {"Id": "sha256:1", "RepoDigests": local}),
                                               DISTRIBUTION_PATH: remote})
    assert engine.up_to_date(REF) is expected


def test_no_local_image_means_pull_without_asking_the_registry(tmp_path, dockerd):
    fake, engine = engine_for(tmp_path, dockerd, {})
    assert engine.up_to_date(REF) is False
    assert not [line for line in fake.requests if "/distribution/" in line]


def test_engine_reads_without_the_sdk(tmp_path, dockerd):
    _, engine = engine_for(tmp_path, dockerd, {"/containers/json?all=1": reply(200, CONTAINERS)})
    [observed] = engine.containers()
    assert (observed.name, observed.state, observed.exit_code, observed.labels) == ("web", "exited", 3, {"k": "v"})
    assert engine.writer.client._client is None  # the SDK was not even imported for that


def test_image_labels_come_from_the_images_already_read(tmp_path, dockerd):
    """A no-op run reads its images by reference: their labels answer without another request."""
    fake, engine = engine_for(tmp_path, dockerd, {
        IMAGE_PATH: reply(200, {"Id": "sha256:1", "Config": {"Labels": {"k": "v"}}}),
        "/images/sha256%3A2/json": reply(200, {"Id": "sha256:2", "Config": {"Labels": None}})})
    engine.image_id(REF)
    assert engine.image_labels("sha256:1") == {"k": "v"}
    assert not [line for line in fake.requests if "sha256%3A1" in line]
    assert engine.image_labels("sha256:2") == {} and engine.image_labels("sha256:2") == {}
    assert len([line for line in fake.requests if "sha256%3A2" in line]) == 1, "inspected once by id"
    assert engine.image_labels("sha256:absente") == {}


def test_engine_read_failure_names_the_operation(tmp_path, dockerd):
    _, engine = engine_for(tmp_path, dockerd, {"/containers/json?all=1": reply(500, {"message": "panne"})})
    with pytest.raises(DockerOperationError, match="liste des conteneurs de Docker impossible : .*panne"):
        engine.containers()


def test_unreachable_dockerd_is_unavailable(tmp_path):
    with pytest.raises(DockerUnavailable):
        DockerEngine.connect(f"unix://{tmp_path}/absent.sock")


@pytest.mark.parametrize("url", ["tcp://127.0.0.1:abc", "tcp://127.0.0.1:99999"])
def test_unusable_tcp_port_is_left_to_the_sdk(url):
    assert EngineSocket.from_url(url) is None


def test_status_in_digits_that_int_refuses_is_malformed(dockerd):
    _, client = dockerd({"/containers/json?all=1": "HTTP/1.1 ²00 OK\r\n\r\n[]".encode("latin-1")})
    with pytest.raises(EngineSocketError, match="malformée"):
        client.containers()


def test_length_in_digits_that_int_refuses_is_ignored(dockerd):
    """The body then runs to the end of the connection (HTTP/1.0), as without the header."""
    _, client = dockerd({"/containers/json?all=1": "HTTP/1.1 200 OK\r\nContent-Length: ²\r\n\r\n[]".encode("latin-1")})
    assert client.containers() == []


@pytest.mark.parametrize("image, remote", [
    ([1, 2], {"Descriptor": {"digest": "sha256:aa"}}),
    ({"RepoDigests": "127.0.0.1:5000/httpd@sha256:aa"}, {"Descriptor": {"digest": "sha256:aa"}}),
    ({"RepoDigests": [None, 3]}, {"Descriptor": {"digest": "sha256:aa"}}),
    ({"RepoDigests": ["127.0.0.1:5000/httpd@sha256:aa"]}, ["sha256:aa"]),
    ({"RepoDigests": ["127.0.0.1:5000/httpd@sha256:aa"]}, {"Descriptor": "sha256:aa"}),
])
def test_unexpected_answers_mean_pull(tmp_path, dockerd, image, remote):
    _, engine = engine_for(tmp_path, dockerd, {IMAGE_PATH: reply(200, image), DISTRIBUTION_PATH: reply(200, remote)})
    assert engine.up_to_date(REF) is False


def early_routes(containers, digests):
    routes = {"/containers/json?all=1": reply(200, containers)}
    for ref, (local, remote) in digests.items():
        image_path = "/images/" + ref.replace(":", "%3A").replace("/", "%2F") + "/json"
        routes[image_path] = reply(200, {"Id": "sha256:1", "RepoDigests": [f"{ref.rsplit(':', 1)[0]}@{local}"]})
        routes[f"/distribution/{ref}/json"] = reply(200, {"Descriptor": {"digest": remote}})
    return routes


def test_early_reads_list_and_ask_about_the_images_given(tmp_path, dockerd):
    other = "127.0.0.1:5000/autre:1"
    fake, _ = dockerd(early_routes(CONTAINERS, {REF: ("sha256:aa", "sha256:aa"), other: ("sha256:aa", "sha256:bb")}))
    early = Prefetch.start(f"unix://{tmp_path}/docker.sock", [REF, other])
    assert [container.name for container in early.take_containers()] == ["web"]
    assert (early.up_to_date(REF), early.up_to_date(other), early.up_to_date("x/y:1")) == (True, False, None)
    assert sorted(line for line in fake.requests if "/distribution/" in line) == [
        f"GET /distribution/{other}/json HTTP/1.0", f"GET /distribution/{REF}/json HTTP/1.0"]


def test_early_reads_ask_about_a_few_images_only(tmp_path, dockerd):
    refs = [f"127.0.0.1:5000/image{number}:1" for number in range(PROBES + 3)]
    fake, _ = dockerd(early_routes(CONTAINERS, {ref: ("sha256:aa", "sha256:aa") for ref in refs}))
    early = Prefetch.start(f"unix://{tmp_path}/docker.sock", refs)
    assert [early.up_to_date(ref) for ref in refs] == [True] * PROBES + [None] * 3
    assert len([line for line in fake.requests if "/distribution/" in line]) == PROBES


@pytest.mark.parametrize("url", ["unix:///nonexistent/docker.sock", "ssh://user@host"])
def test_early_reads_without_an_answer_are_none(url):
    early = Prefetch.start(url, [REF])
    assert early.take_containers() is None and early.up_to_date(REF) is None


def test_images_of_the_last_run_are_remembered(tmp_path):
    assert images_of_last_run(tmp_path) == [] and images_of_last_run(None) == []
    remember_images(tmp_path, [REF, "127.0.0.1:5000/autre:1"])
    assert images_of_last_run(tmp_path) == [REF, "127.0.0.1:5000/autre:1"]
    write_json(tmp_path / "images.json", {"images": [1, "a:1"]})  # sealed, but not what this code wrote
    assert images_of_last_run(tmp_path) == ["a:1"]
    (tmp_path / "images.json").write_text('{"images": ["b:1"]}')  # not sealed: ignored
    assert images_of_last_run(tmp_path) == []
