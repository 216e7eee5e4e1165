"""Integration bench: the real dockerd and the real Podman, the real registry on 127.0.0.1:5000, checked from outside.

A module whose tests hold for both technologies says so with `TECHNOLOGIES = BOTH`: each of its tests
that uses the bench then runs once per technology, its containers declared with conteneurN_technologie
= podman on the second run. Containers are looked at through each engine's Docker-compatible API
(`docker -H <socket>`, Bench.cli), so that the same checks read the same fields.

Each test gets its own label scope (EOLE_CONTENEURS_SCOPE) and container names, so it never
touches containers it did not create (the demo's included); everything it created is removed
by label at the end. Host directories are created under the test's own temporary directory.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import textwrap
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT, config_document

REGISTRY = "127.0.0.1:5000"
WEB_D = Path("/etc/nginx/web.d")
SITE = Path("/etc/nginx/conf.d/eole-conteneurs.conf")
DOCKER = "/usr/bin/docker"
PODMAN_SOCKET = "unix:///run/podman/podman.sock"
BOTH = ("docker", "podman")
LAB = CHECKOUT / "tests" / "lab.sh"
SECRETS = Path("/var/lib/eole-conteneurs/secrets")


def sh(*args, check=True, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} → {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def docker(*args, **kwargs) -> subprocess.CompletedProcess:
    return sh(DOCKER, *args, **kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(port: int, path: str = "/", timeout: float = 5) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return response.read().decode()


def https(path: str, source: str | None = None) -> tuple[int, str, str]:
    """(status, body, Location) of https://127.0.0.1<path>, from another loopback address if asked."""
    command = ["curl", "-sk", "-o", "-", "-w", "\n%{http_code} %{redirect_url}", f"https://127.0.0.1{path}"]
    if source:
        command[1:1] = ["--interface", source]
    out = sh(*command, check=False).stdout
    body, _, last = out.rpartition("\n")
    status, _, location = last.partition(" ")
    return int(status), body, location


def pytest_generate_tests(metafunc):
    """The technologies a module's bench runs on: its TECHNOLOGIES, Docker's alone by default."""
    if "technology" in metafunc.fixturenames:
        metafunc.parametrize("technology", getattr(metafunc.module, "TECHNOLOGIES", ("docker",)))


@pytest.fixture(scope="session")
def lab():
    """dockerd, registry and the seed's images (started by `make test`; idempotent here), and Podman's API
    service, started as the module starts it: tests look at Podman's containers through it before any run."""
    sh("bash", LAB, "start", timeout=300)
    from eole_conteneurs.jobs.host import connect_or_start_podman
    from eole_conteneurs.journal import Journal
    connect_or_start_podman(Journal(io.StringIO()), PODMAN_SOCKET)
    return REGISTRY


class Bench:
    def __init__(self, root: Path, technology: str = "docker"):
        self.root = root
        self.technology = technology
        self.scope = f"test-{uuid.uuid4().hex[:10]}"
        self.prefix = f"t{uuid.uuid4().hex[:6]}"
        self.config_path = root / "config.eol"
        self.env = dict(os.environ, EOLE_CONTENEURS_SCOPE=self.scope, PYTHONPATH=str(CHECKOUT),
                        EOLE_CONTENEURS_CONFIG=str(self.config_path))

    def name(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    def write(self, values: dict, owner: str = "gen_config") -> Path:
        self.config_path.write_text(json.dumps(config_document(values, owner), ensure_ascii=False))
        return self.config_path

    def command(self, *args, timeout=300) -> subprocess.CompletedProcess:
        return sh("/usr/bin/python3", "-m", "eole_conteneurs", *args, "--config", self.config_path,
                  check=False, timeout=timeout, env=self.env, cwd=CHECKOUT)

    def command_env(self, env: dict, *args, timeout=300) -> subprocess.CompletedProcess:
        """command() with more environment variables."""
        return sh("/usr/bin/python3", "-m", "eole_conteneurs", *args, "--config", self.config_path,
                  check=False, timeout=timeout, env={**self.env, **env}, cwd=CHECKOUT)

    def apply(self, *args) -> subprocess.CompletedProcess:
        return self.command("apply", *args)

    def plan(self) -> subprocess.CompletedProcess:
        return self.command("plan")

    def hook(self, phase: str, mode: str = "reconfigure", env: dict | None = None) -> subprocess.CompletedProcess:
        return sh(CHECKOUT / phase / "60-conteneurs", mode, check=False, timeout=300,
                  env={**self.env, **(env or {})}, cwd="/")

    def cli(self, *args, **kwargs) -> subprocess.CompletedProcess:
        """docker's client on the engine of this bench's technology (Podman's through its compatible API)."""
        return engine_cli(self.technology, *args, **kwargs)

    def run(self, *args) -> subprocess.CompletedProcess:
        """`docker run ARGS… IMAGE …` made by hand on this bench's engine (the image pulled there first).

        Podman's default limits are refused on this kind of host (see engine/podman.py): explicit ones."""
        image = next((arg for arg in args if str(arg).startswith(REGISTRY)), None)
        if self.technology == "podman" and image and sh("podman", "image", "exists", image, check=False).returncode:
            self.pull(image)
        return self.cli("run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", *args)

    @staticmethod
    def now() -> str:
        """The host's clock (the engines' too), as their --since and --until take it."""
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def events(self, since: str, until: str) -> list[str]:
        """« action name » of this bench's containers between two instants, as dockerd names the actions.

        Podman's compatible API gives no past events: its own client reads its event log (up to now: its
        --until takes no absolute time here), nothing happening to the bench's containers since until."""
        label = f"label=fr.eole.conteneurs.managed={self.scope}"
        if self.technology == "podman":
            listed = sh("podman", "events", "--stream=false", "--since", since, "--filter", "type=container",
                        "--filter", label, "--format", "{{.Status}} {{.Name}}").stdout
            return [line.replace("remove ", "destroy ", 1) for line in listed.splitlines()]
        return docker("events", "--since", since, "--until", until, "--filter", "type=container", "--filter", label,
                      "--format", "{{.Action}} {{.Actor.Attributes.name}}").stdout.splitlines()

    def engine(self):
        """The module's engine for this bench's technology, in this process."""
        if self.technology == "podman":
            from eole_conteneurs.engine import podman
            return podman.connect(PODMAN_SOCKET)
        from eole_conteneurs.engine.dockerd import DockerEngine
        return DockerEngine.connect()

    def pull(self, ref: str) -> None:
        """ref into this bench's engine (Podman's client told that a loopback registry speaks plain HTTP)."""
        if self.technology == "podman":
            sh("podman", "pull", "-q", "--tls-verify=false", ref)
        else:
            docker("pull", ref)

    def inspect(self, name: str) -> dict:
        return json.loads(self.cli("inspect", name).stdout)[0]

    def exists(self, name: str) -> bool:
        return self.cli("inspect", name, check=False).returncode == 0

    def identity(self, name: str) -> tuple[str, str]:
        """Id and start time: both unchanged means the container was not touched."""
        state = self.inspect(name)
        return state["Id"], state["State"]["StartedAt"]

    def managed(self) -> list[str]:
        listed = self.cli("ps", "-a", "--filter", f"label=fr.eole.conteneurs.managed={self.scope}",
                          "--format", "{{.Names}}")
        return sorted(listed.stdout.split())

    def cleanup(self) -> None:
        """The test's containers on either engine, then its networks, volumes (the anonymous ones too) and secrets."""
        label = f"label=fr.eole.conteneurs.managed={self.scope}"
        for technology in BOTH:
            ids = engine_cli(technology, "ps", "-aq", "--filter", label, check=False).stdout.split()
            if ids:
                engine_cli(technology, "rm", "-f", "-v", *ids, check=False)
            for kind in ("network", "volume"):
                names = engine_cli(technology, kind, "ls", "-q", "--filter", label, check=False).stdout.split()
                if names:
                    engine_cli(technology, kind, "rm", *names, check=False)
        for directory in SECRETS.glob(f"{self.prefix}-*"):
            shutil.rmtree(directory, ignore_errors=True)


def engine_cli(technology: str, *args, **kwargs) -> subprocess.CompletedProcess:
    if technology == "podman":
        return sh(DOCKER, "-H", PODMAN_SOCKET, *args, **kwargs)
    return docker(*args, **kwargs)


@pytest.fixture
def technology() -> str:
    """Overridden by pytest_generate_tests for the modules that run on both technologies."""
    return "docker"


@pytest.fixture
def bench(lab, tmp_path, technology):
    bench = Bench(tmp_path, technology)
    yield bench
    bench.cleanup()


@pytest.fixture
def nginx_files(lab, tmp_path):
    """Save the module's nginx files; restore them and reload after the test."""
    saved = tmp_path / "nginx-sauvegarde-test"
    saved.mkdir()
    if WEB_D.exists():
        shutil.copytree(WEB_D, saved / "web.d")
    if SITE.exists():
        shutil.copy2(SITE, saved / "site.conf")
    yield
    shutil.rmtree(WEB_D, ignore_errors=True)
    if (saved / "web.d").exists():
        shutil.copytree(saved / "web.d", WEB_D)
    SITE.unlink(missing_ok=True)
    if (saved / "site.conf").exists():
        shutil.copy2(saved / "site.conf", SITE)
    sh("nginx", "-s", "reload", check=False)


def httpd(bench: Bench, index: int, short: str, host_port: int, host_dir: Path | None = None, **extra) -> dict:
    """Variables of one httpd container like the seed's my-apache-app."""
    host_dir = host_dir or bench.root / f"www-{short}"
    values = {
        f"conteneur{index}_nom": bench.name(short),
        f"conteneur{index}_hub": REGISTRY,
        f"conteneur{index}_depot": "httpd",
        f"conteneur{index}_tag": "2.4",
        f"conteneur{index}_rep_hote": [str(host_dir)],
        f"conteneur{index}_rep_conteneur": {"0": "/usr/local/apache2/htdocs/"},
        f"conteneur{index}_port_conteneur": ["80"],
        f"conteneur{index}_port_hote": {"0": str(host_port)},
        f"conteneur{index}_persistance": "non",
        # Kept after one second of running (30 by default): most tests recreate it for other reasons.
        f"conteneur{index}_mise_a_jour_delai": "1",
        **technology_of(bench, index),
    }
    values.update({f"conteneur{index}_{key}": value for key, value in extra.items()})
    return values


def hello(bench: Bench, index: int, short: str = "hello-world") -> dict:
    return {
        f"conteneur{index}_nom": bench.name(short),
        f"conteneur{index}_hub": REGISTRY,
        f"conteneur{index}_depot": "hello-world",
        **technology_of(bench, index),
    }


def technology_of(bench: Bench, index: int) -> dict:
    """Docker's containers are declared as before Podman was offered: without the variable (its default)."""
    return {f"conteneur{index}_technologie": bench.technology} if bench.technology != "docker" else {}


def image_handled(out: str, ref: str) -> bool:
    """pretemplate either pulled ref or found the local image to be the registry's."""
    return f"docker pull {ref}" in out or f"podman pull {ref}" in out or f"Image à jour (même empreinte que sur le dépôt) : {ref}" in out


def enabled(count: int, *containers: dict) -> dict:
    values = {"activer_conteneurs": "oui", "nombre_conteneurs": str(count)}
    for container in containers:
        values.update(container)
    return values


SERVICE_EXAMPLE = CHECKOUT / "examples" / "service-notes.eol"
SERVICE_IMAGES = CHECKOUT / "tests" / "images" / "service.sh"


def build_service_images() -> None:
    """The MariaDB and application images of the example (built once, then found in the registry)."""
    sh("bash", SERVICE_IMAGES, timeout=900)


def service_example(prefix: str, port: int) -> tuple[dict, dict[str, str]]:
    """examples/service-notes.eol renamed with prefix (names, volume, network), on port, with passwords of its
    own: (config.eol document, {"root": …, "appli": …})."""
    import secrets

    text = SERVICE_EXAMPLE.read_text()
    passwords = {"root": f"racine-{secrets.token_hex(8)}", "appli": f"appli-{secrets.token_hex(8)}"}
    text = text.replace("changer-ce-mot-de-passe-root", passwords["root"])
    text = text.replace("changer-ce-mot-de-passe-appli", passwords["appli"])
    for name in ("notes-base", "notes-appli", "notes-donnees"):
        text = text.replace(f'"{name}"', f'"{prefix}-{name}"')
    text = text.replace('["notes"]', f'["{prefix}-notes"]').replace('"8090"', f'"{port}"')
    return json.loads(text), passwords


def timestamp(text: str) -> datetime:
    """Docker's RFC 3339 times with nanoseconds, as aware datetimes (microseconds kept)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    assert match, text
    fraction = (match[2] or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match[3] == "Z" else match[3]
    return datetime.fromisoformat(f"{match[1]}.{fraction}{zone}")


class socket_listening:
    """A foreign process's port: a listening socket on 127.0.0.1."""

    def __enter__(self) -> int:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen()
        return self.socket.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.socket.close()


def private_nginx_conf(root: Path, port: int, web: Path, server_extra: str = "", daemon: bool = False) -> str:
    """An nginx.conf whose every file (pid, logs, temporary directories) is under root, serving on
    127.0.0.1:port the snippets of web: a private nginx beside the system's."""
    return textwrap.dedent(f"""\
        {"daemon on;" if daemon else ""}
        pid {root}/nginx.pid;
        error_log {root}/error.log;
        events {{}}
        http {{
            access_log off;
            client_body_temp_path {root}/body; proxy_temp_path {root}/proxy;
            fastcgi_temp_path {root}/fcgi; uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
            server {{ listen 127.0.0.1:{port}; {server_extra} include {web}/*.conf; }}
        }}
        """)


PRODUCT_BORG_BASE = Path("/var/lib/eole-conteneurs/borg")


def forget_borg_repository(repository: Path, base: Path = PRODUCT_BORG_BASE) -> None:
    """borg's cache and security record of one repository (named by its id, in its config) under base:
    a test's repository gone, the module's borg directory keeps nothing of it."""
    import configparser

    config = configparser.ConfigParser()
    if not config.read(repository / "config"):
        return
    identifier = config.get("repository", "id", fallback=None)
    if identifier:
        shutil.rmtree(base / ".cache" / "borg" / identifier, ignore_errors=True)
        shutil.rmtree(base / ".config" / "borg" / "security" / identifier, ignore_errors=True)


WEB_IMAGE_TOOLS = ("sh", "echo", "cat", "ls", "sleep", "httpd", "wget")
# busybox httpd as PID 1 ignores SIGTERM: the shell ends on it at once (a docker stop would wait 10 s).
WEB_IMAGE_SERVE = 'trap "exit 0" TERM; httpd -f -p 80 -h /www & wait'
WEB_IMAGE_CHECK = "wget -q -O /dev/null http://127.0.0.1/ok.html"


def push_web_image(ref: str, version: str, mode: str = "sain", healthcheck: bool = False) -> str:
    """Publish ref on the registry: busybox httpd serving "version <version>" at / (port 80); returns its digest.

    mode "sain": /ok.html exists (WEB_IMAGE_CHECK passes); "malade": it serves, /ok.html is missing;
    "arret": the container ends at once (code 3). healthcheck: the image has a HEALTHCHECK (WEB_IMAGE_CHECK).
    The host keeps what it had under ref (nothing when it had nothing): the registry is ahead of it, as a real
    update finds it.
    """
    import tempfile

    assert mode in ("sain", "malade", "arret"), mode
    previous = docker("image", "inspect", "--format", "{{.Id}}", ref, check=False).stdout.strip()
    with tempfile.TemporaryDirectory() as work:
        root, context = Path(work) / "root", Path(work) / "contexte"
        for directory in ("bin", "www", "tmp"):
            (root / directory).mkdir(parents=True)
        shutil.copy("/bin/busybox", root / "bin" / "busybox")
        for tool in WEB_IMAGE_TOOLS:
            (root / "bin" / tool).symlink_to("busybox")
        (root / "www" / "index.html").write_text(f"version {version}")
        if mode == "sain":
            (root / "www" / "ok.html").write_text("ok")
        command = ["/bin/sh", "-c", "exit 3" if mode == "arret" else WEB_IMAGE_SERVE]
        imported = f"{ref}-base" if healthcheck else ref
        archive = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout
        subprocess.run([DOCKER, "import", "-c", f"CMD {json.dumps(command)}", "-c", "EXPOSE 80", "-", imported],
                       input=archive, capture_output=True, check=True, timeout=120)
        if healthcheck:
            context.mkdir()
            (context / "Dockerfile").write_text(f"FROM {imported}\nHEALTHCHECK --interval=1s --timeout=2s "
                                                f"--retries=2 CMD {WEB_IMAGE_CHECK} || exit 1\n")
            sh(DOCKER, "build", "-q", "-t", ref, context, env=dict(os.environ, DOCKER_BUILDKIT="0"))
            docker("rmi", imported)
    docker("push", ref)
    name = ref.rpartition(":")[0]
    digests = docker("image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", ref).stdout
    digest = next(line.rpartition("@")[2] for line in digests.split() if line.startswith(f"{name}@"))
    docker("rmi", ref)
    if previous:
        docker("tag", previous, ref)
    return digest
