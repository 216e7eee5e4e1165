"""Publication on three real hosts built from Debian's packages: an Apache server, an nginx with a site
of its own, and the bench's bare nginx (`conteneurs_serveur_web = automatique` chooses the server).

Each fixture saves /etc/apache2, /etc/nginx and /etc/eole-conteneurs, builds its host, and afterwards
puts the trees back, stops Apache and leaves the bench's nginx running on 80 as the other tests expect.
Everything is checked from outside: curl, files, processes (a reload replaces nginx's workers and
increments Apache's configuration generation).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import enabled, free_port, httpd, sh

APACHE_DIR = Path("/etc/apache2")
NGINX_DIR = Path("/etc/nginx")
MODULE_ETC = Path("/etc/eole-conteneurs")
SAVED_TREES = (APACHE_DIR, NGINX_DIR, MODULE_ETC)

NGINX_PID = Path("/run/nginx.pid")
APACHE_PID = Path("/run/apache2/apache2.pid")

# The module's files, by web server.
RENDERED_NGINX = MODULE_ETC / "web" / "nginx"
RENDERED_APACHE = MODULE_ETC / "web" / "apache"
WEB_D = NGINX_DIR / "web.d"
SITE = NGINX_DIR / "conf.d" / "eole-conteneurs.conf"
APACHE_SNIPPETS = APACHE_DIR / "eole-conteneurs"
APACHE_WRAPPER = APACHE_DIR / "conf-available" / "eole-conteneurs.conf"
APACHE_ENABLED = APACHE_DIR / "conf-enabled" / "eole-conteneurs.conf"

APACHE_MARKER_FILE = Path("/var/www/html/eole-web.html")
APACHE_MARKER = "site Apache existant (eole-web)"
OTHER_SITE = NGINX_DIR / "sites-enabled" / "autre-site"
OTHER_NAME = "autre.exemple.lan"
OTHER_MARKER = "autre site"
SNAKEOIL = Path("/etc/ssl/certs/ssl-cert-snakeoil.pem")
DOMAIN = "ac-test.lan"
REDIRECTS = (301, 302, 307, 308)


# --- outside checks ---------------------------------------------------------------------------------

def wait_until(predicate, what: str, seconds: float = 30) -> None:
    """Waiting for a daemon (not an assertion on time): fails only when it never happens."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"toujours pas au bout de {seconds} s : {what}")
        time.sleep(0.2)


def fetch(url: str, resolve: str | None = None, host: str | None = None,
          source: str | None = None) -> tuple[int, str, str]:
    """(status, body, Location) of url through curl (000 when nothing answers)."""
    command = ["curl", "-sk", "--max-time", "20", "-o", "-", "-w", "\n%{http_code} %{redirect_url}"]
    if resolve:
        command += ["--resolve", resolve]
    if host:
        command += ["-H", f"Host: {host}"]
    if source:
        command += ["--interface", source]
    out = sh(*command, url, check=False).stdout
    body, _, last = out.rpartition("\n")
    status, _, location = last.partition(" ")
    return int(status or 0), body, location


def by_name(scheme: str, name: str, path: str, source: str | None = None) -> tuple[int, str, str]:
    """scheme://name/path with name resolved to 127.0.0.1 (SNI and Host are name)."""
    port = 443 if scheme == "https" else 80
    return fetch(f"{scheme}://{name}{path}", resolve=f"{name}:{port}:127.0.0.1", source=source)


def processes(name: str) -> list[str]:
    return sh("pgrep", "-x", name, check=False).stdout.split()


def children(pid_file: Path, title: str | None = None) -> set[str]:
    """Children of the master named in pid_file (only those whose command line is title, if given)."""
    master = pid_file.read_text().strip()
    listed = sh("ps", "-o", "pid=,args=", "--ppid", master, check=False).stdout.splitlines()
    return {line.split(None, 1)[0] for line in listed
            if line.strip() and (title is None or line.split(None, 1)[1].strip() == title)}


def nginx_workers() -> set[str]:
    """The live workers, once those of an earlier reload have ended (they linger a moment, then are
    'shutting down' or defunct)."""
    return settled(lambda: children(NGINX_PID, "nginx: worker process"), "workers nginx stables")


def settled(read, what: str):
    """read() once two readings half a second apart agree (children ending after a graceful reload)."""
    last = [read()]

    def same() -> bool:
        time.sleep(0.5)
        current = read()
        stable, last[0] = current == last[0], current
        return stable

    wait_until(same, what)
    return last[0]


def apache_generation() -> tuple[str, str]:
    """What a reload changes, read from mod_status (Debian enables it for local clients): the configuration
    generation (+1 per graceful restart) and the restart time. Not the children's pids: Apache's own
    idle-process maintenance replaces a child now and then without any reload."""
    _, body, _ = fetch("https://127.0.0.1/server-status?auto")
    status = dict(line.split(": ", 1) for line in body.splitlines() if ": " in line)
    assert "ParentServerConfigGeneration" in status and "RestartTime" in status, body
    return status["ParentServerConfigGeneration"], status["RestartTime"]


def reload_lines(out: str) -> list[str]:
    """Journal lines about a reload other than 'nothing to reload'."""
    return [line for line in out.splitlines() if "recharg" in line.lower()
            and "pas de rechargement" not in line and "inchangée" not in line]


def module_names() -> tuple[str, str]:
    short = f"hote{uuid.uuid4().hex[:8]}"
    return short, f"{short}.{DOMAIN}"


# --- the hosts --------------------------------------------------------------------------------------

class Snapshot:
    """/etc/apache2, /etc/nginx and /etc/eole-conteneurs copied with cp -a (links, modes, owners)."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir()
        for tree in SAVED_TREES:
            if tree.exists():
                sh("cp", "-a", tree, root / tree.name)

    def restore(self) -> None:
        for tree in SAVED_TREES:
            shutil.rmtree(tree, ignore_errors=True)
            if (self.root / tree.name).exists():
                sh("cp", "-a", self.root / tree.name, tree)


def without_module_files() -> None:
    """The host as before the module: none of its live files in nginx's or Apache's configuration (a
    publication left by the demo or another test would hold 443 as default server)."""
    SITE.unlink(missing_ok=True)
    shutil.rmtree(WEB_D, ignore_errors=True)
    shutil.rmtree(APACHE_SNIPPETS, ignore_errors=True)
    APACHE_ENABLED.unlink(missing_ok=True)
    APACHE_WRAPPER.unlink(missing_ok=True)


def stop_apache() -> None:
    if not processes("apache2"):
        return
    sh("apache2ctl", "stop", check=False)
    wait_until(lambda: not processes("apache2"), "Apache arrêté")


def stop_nginx() -> None:
    if processes("nginx"):
        sh("nginx", "-s", "quit", check=False)
    wait_until(lambda: not processes("nginx"), "plus aucun processus nginx")


def bench_nginx_back() -> None:
    """The bench's nginx (tests/lab.sh start_nginx) running on the restored files, serving port 80."""
    sh("nginx", "-t", "-q")
    if processes("nginx"):
        sh("nginx", "-s", "reload")
    else:
        sh("nginx")
    wait_until(lambda: fetch("http://127.0.0.1/")[0] != 0, "nginx répond sur le port 80")


def no_apache_running() -> None:
    if processes("apache2"):
        pytest.fail("un Apache tourne déjà : ce banc publie par nginx (voir tests/setup-host.sh)")


@dataclass
class Host:
    short: str
    fqdn: str

    def values(self, bench, *containers: dict, serveur_web: str | None = None) -> dict:
        values = enabled(len(containers), *containers)
        values.update(nom_machine=self.short, nom_domaine_local=DOMAIN)
        if serveur_web:
            values["conteneurs_serveur_web"] = serveur_web
        return values


@pytest.fixture
def apache_host(lab, tmp_path):
    """The bench's nginx stopped; Apache from Debian with ssl and default-ssl (snakeoil) serving a page
    of its own on 80 and 443."""
    snapshot = Snapshot(tmp_path / "etc-sauvegarde")
    no_apache_running()
    marker_existed = APACHE_MARKER_FILE.exists()
    try:
        stop_nginx()
        without_module_files()
        if not SNAKEOIL.exists():
            sh("make-ssl-cert", "generate-default-snakeoil")
        sh("a2enmod", "-q", "ssl")
        sh("a2ensite", "-q", "default-ssl")
        APACHE_MARKER_FILE.parent.mkdir(parents=True, exist_ok=True)
        APACHE_MARKER_FILE.write_text(f"{APACHE_MARKER}\n")
        sh("apache2ctl", "configtest")
        sh("apache2ctl", "start")
        wait_until(lambda: APACHE_MARKER in fetch(f"https://127.0.0.1/{APACHE_MARKER_FILE.name}")[1],
                   "Apache répond sur le port 443")
        yield Host(*module_names())
    finally:
        stop_apache()
        snapshot.restore()
        if not marker_existed:
            APACHE_MARKER_FILE.unlink(missing_ok=True)
        bench_nginx_back()


@pytest.fixture
def other_nginx_site(lab, tmp_path):
    """The bench's nginx with another site, default server on 443 for every name (server_name _)."""
    snapshot = Snapshot(tmp_path / "etc-sauvegarde")
    no_apache_running()
    certs = tmp_path / "autre-site-certificat"
    certs.mkdir()
    try:
        without_module_files()
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={OTHER_NAME}",
           "-keyout", certs / "autre.key", "-out", certs / "autre.crt")
        OTHER_SITE.write_text(
            "server {\n"
            "    listen 443 ssl default_server;\n"
            "    server_name _;\n"
            f"    ssl_certificate {certs / 'autre.crt'};\n"
            f"    ssl_certificate_key {certs / 'autre.key'};\n"
            f'    return 200 "{OTHER_MARKER}\\n";\n'
            "}\n")
        bench_nginx_back()
        wait_until(lambda: by_name("https", OTHER_NAME, "/")[1].strip() == OTHER_MARKER,
                   "l'autre site répond sur le port 443")
        yield Host(*module_names())
    finally:
        snapshot.restore()
        bench_nginx_back()
        wait_until(lambda: by_name("https", OTHER_NAME, "/")[1].strip() != OTHER_MARKER,
                   "l'autre site n'est plus servi")


@pytest.fixture
def bare_host(lab, tmp_path):
    """The bench's nginx with Debian's default site only."""
    snapshot = Snapshot(tmp_path / "etc-sauvegarde")
    no_apache_running()
    try:
        without_module_files()
        bench_nginx_back()
        yield Host(*module_names())
    finally:
        snapshot.restore()
        bench_nginx_back()


def container(bench, index: int = 1, short: str = "web", **extra) -> dict:
    """An httpd container on a free port serving a page that names it."""
    www = bench.root / f"www-{short}"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text(f"page du conteneur {bench.name(short)}\n")
    return httpd(bench, index, short, free_port(), **extra)


def reconfigure(bench, values: dict) -> subprocess.CompletedProcess:
    bench.write(values)
    return bench.command("reconfigure")


def succeeded(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def refused_by_configtest(result: subprocess.CompletedProcess, broken: Path) -> None:
    """A handled failure (not a crash) that relays apache2ctl configtest's words about the broken file."""
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "Traceback" not in out, out
    assert broken.name in out, out


def module_apache_files() -> dict[Path, bytes | str]:
    """The module's live Apache files (the enabling link by its target)."""
    files: dict[Path, bytes | str] = {}
    if APACHE_SNIPPETS.is_dir():
        files.update({path: path.read_bytes() for path in sorted(APACHE_SNIPPETS.iterdir())})
    if APACHE_WRAPPER.exists():
        files[APACHE_WRAPPER] = APACHE_WRAPPER.read_bytes()
    if APACHE_ENABLED.is_symlink() or APACHE_ENABLED.exists():
        files[APACHE_ENABLED] = str(APACHE_ENABLED.readlink()) if APACHE_ENABLED.is_symlink() else "fichier"
    return files


# --- (a) an Apache server ------------------------------------------------------------------------------

@pytest.mark.parametrize("serveur_web", [None, "apache"], ids=["automatique", "apache"])
def test_apache_publishes_the_containers(bench, apache_host, serveur_web):
    # The server switched from nginx to Apache: the module's nginx files from before must go.
    WEB_D.mkdir(exist_ok=True)
    (WEB_D / "conteneur1.conf").write_text("# ancien fichier du module\n")
    SITE.write_text("# ancien site du module\n")
    name = bench.name("web")
    result = reconfigure(bench, apache_host.values(bench, container(bench), serveur_web=serveur_web))
    succeeded(result)

    status, body, _ = fetch(f"https://127.0.0.1/{name}/", host=apache_host.fqdn)
    assert (status, body.strip()) == (200, f"page du conteneur {name}")
    assert by_name("https", apache_host.fqdn, f"/{name}/")[:2] == (200, f"page du conteneur {name}\n")
    status, _, location = fetch(f"https://127.0.0.1/{name}", host=apache_host.fqdn)
    assert status in REDIRECTS and location.endswith(f"/{name}/"), (status, location)
    assert location.startswith("https://"), location
    status, _, location = by_name("http", apache_host.fqdn, f"/{name}/")
    assert status in REDIRECTS and location.startswith("https://"), (status, location)
    assert location.endswith(f"/{name}/"), location

    assert fetch(f"https://127.0.0.1/{APACHE_MARKER_FILE.name}")[:2] == (200, f"{APACHE_MARKER}\n")
    assert fetch(f"http://127.0.0.1/{APACHE_MARKER_FILE.name}")[:2] == (200, f"{APACHE_MARKER}\n")
    assert sh("apache2ctl", "configtest", check=False).returncode == 0

    assert (APACHE_SNIPPETS / "conteneur1.conf").is_file()
    assert APACHE_ENABLED.is_symlink() and APACHE_ENABLED.resolve() == APACHE_WRAPPER
    assert (RENDERED_APACHE / "conteneur1.conf").is_file() and (RENDERED_NGINX / "conteneur1.conf").is_file()
    assert processes("nginx") == [], "nginx ne doit pas être démarré à côté d'Apache"
    assert not SITE.exists() and not (WEB_D / "conteneur1.conf").exists()


def test_apache_forwards_the_client(bench, apache_host):
    name = bench.name("web")
    www = bench.root / "www-web"
    (www / "cgi-bin").mkdir(parents=True)
    (www / "cgi-bin" / "env").write_text('#!/bin/sh\necho "Content-Type: text/plain"\necho\nenv\n')
    (www / "cgi-bin" / "env").chmod(0o755)
    succeeded(reconfigure(bench, apache_host.values(bench, container(bench))))
    status, body, _ = by_name("https", apache_host.fqdn, f"/{name}/cgi-bin/env")
    assert status == 200, body
    environment = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
    assert environment.get("HTTP_X_FORWARDED_PROTO") == "https", body
    assert environment.get("HTTP_X_FORWARDED_PREFIX") == f"/{name}", body
    assert environment.get("HTTP_X_REAL_IP") == "127.0.0.1", body


@pytest.mark.parametrize("site_location", [False, True], ids=["seul", "location-du-site"])
def test_apache_allowed_networks_refuse_other_clients(bench, apache_host, site_location):
    """With site_location, the site has its own <Location /> granting all, merged by Apache after the
    main server's sections: the restriction must hold anyway."""
    if site_location:
        site = APACHE_DIR / "sites-enabled" / "default-ssl.conf"
        site.write_text(site.read_text().replace("</VirtualHost>", "<Location />\n Require all granted\n</Location>\n"
                                                                   "</VirtualHost>", 1))
        sh("apache2ctl", "graceful")
    name = bench.name("web")
    values = apache_host.values(bench, container(bench, reseau_autorise=["127.0.0.1"],
                                                 masque_autorise={"0": "255.255.255.255"}))
    succeeded(reconfigure(bench, values))
    assert by_name("https", apache_host.fqdn, f"/{name}/")[0] == 200
    assert by_name("https", apache_host.fqdn, f"/{name}/", source="127.0.0.2")[0] == 403
    assert by_name("https", apache_host.fqdn, f"/{APACHE_MARKER_FILE.name}", source="127.0.0.2")[0] == 200


def test_apache_second_run_reloads_nothing(bench, apache_host):
    values = apache_host.values(bench, container(bench))
    succeeded(reconfigure(bench, values))
    files = module_apache_files()
    before = apache_generation()
    result = reconfigure(bench, values)
    succeeded(result)
    assert reload_lines(result.stdout) == [], result.stdout
    assert apache_generation() == before, "Apache a été rechargé"
    assert module_apache_files() == files


def test_broken_apache_is_left_alone(bench, apache_host):
    """Apache's configuration already broken (by someone else): nothing written, nothing reloaded."""
    broken = APACHE_DIR / "conf-enabled" / "zz-casse-test.conf"
    broken.write_text("DirectiveInconnueDuTest active\n")
    generation = apache_generation()
    try:
        result = reconfigure(bench, apache_host.values(bench, container(bench), serveur_web="apache"))
        refused_by_configtest(result, broken)
        assert module_apache_files() == {}
        assert apache_generation() == generation
        assert fetch(f"https://127.0.0.1/{APACHE_MARKER_FILE.name}")[:2] == (200, f"{APACHE_MARKER}\n")
        assert processes("nginx") == []
    finally:
        broken.unlink()
    assert sh("apache2ctl", "configtest", check=False).returncode == 0


def test_broken_apache_keeps_the_previous_publication(bench, apache_host):
    name = bench.name("web")
    values = apache_host.values(bench, container(bench))
    succeeded(reconfigure(bench, values))
    files = module_apache_files()
    assert files
    broken = APACHE_DIR / "conf-enabled" / "zz-casse-test.conf"
    broken.write_text("DirectiveInconnueDuTest active\n")
    generation = apache_generation()
    try:
        values["conteneur1_chemin"] = "/ailleurs"
        result = reconfigure(bench, values)
        refused_by_configtest(result, broken)
        assert module_apache_files() == files
        assert apache_generation() == generation
        assert by_name("https", apache_host.fqdn, f"/{name}/")[:2] == (200, f"page du conteneur {name}\n")
    finally:
        broken.unlink()
    assert sh("apache2ctl", "configtest", check=False).returncode == 0


# --- (b) nginx with another site ----------------------------------------------------------------------

def test_other_nginx_site_keeps_its_names(bench, other_nginx_site):
    host = other_nginx_site
    name = bench.name("web")
    succeeded(reconfigure(bench, host.values(bench, container(bench))))

    assert by_name("https", OTHER_NAME, f"/{name}/")[:2] == (200, f"{OTHER_MARKER}\n")
    assert by_name("https", OTHER_NAME, "/")[:2] == (200, f"{OTHER_MARKER}\n")
    assert fetch(f"https://127.0.0.1/{name}/")[:2] == (200, f"{OTHER_MARKER}\n"), "l'autre site reste le défaut"
    for module_name in (host.fqdn, host.short):
        assert by_name("https", module_name, f"/{name}/")[:2] == (200, f"page du conteneur {name}\n"), module_name

    test = sh("nginx", "-t", check=False)
    assert test.returncode == 0, test.stderr
    assert "conflicting server name" not in test.stderr
    site = SITE.read_text()
    assert not re.search(r"listen\s+[^;]*443[^;]*default_server", site), site
    assert "~^.*$" not in site and "server_name _" not in site
    assert processes("apache2") == []


def test_names_another_server_names_are_left_to_it(bench, other_nginx_site):
    host = other_nginx_site
    crt, key = re.findall(r"ssl_certificate(?:_key)? (\S+);", OTHER_SITE.read_text())
    named = NGINX_DIR / "sites-enabled" / "site-nomme"
    named.write_text("server {\n    listen 443 ssl;\n"
                     f"    server_name {host.short};\n"
                     f"    ssl_certificate {crt};\n    ssl_certificate_key {key};\n"
                     '    return 200 "site nomme\\n";\n}\n')
    sh("nginx", "-s", "reload")
    wait_until(lambda: by_name("https", host.short, "/")[1] == "site nomme\n", "le site nommé répond")
    name = bench.name("web")
    succeeded(reconfigure(bench, host.values(bench, container(bench))))

    assert by_name("https", host.short, f"/{name}/")[:2] == (200, "site nomme\n")
    assert by_name("https", host.fqdn, f"/{name}/")[:2] == (200, f"page du conteneur {name}\n")
    test = sh("nginx", "-t", check=False)
    assert test.returncode == 0 and "conflicting server name" not in test.stderr, test.stderr


def test_a_site_that_includes_the_modules_locations_publishes_them(bench, other_nginx_site):
    """Like 0.3.0's `conteneurs_serveur_web = non`: another site includes /etc/nginx/web.d/*.conf, so the
    module adds no site of its own and that site serves the containers (the old value still works)."""
    OTHER_SITE.write_text(OTHER_SITE.read_text().replace(
        f'    return 200 "{OTHER_MARKER}\\n";\n',
        f'    location = / {{ return 200 "{OTHER_MARKER}\\n"; }}\n    include {WEB_D}/*.conf;\n'))
    sh("nginx", "-s", "reload")
    wait_until(lambda: by_name("https", OTHER_NAME, "/")[1].strip() == OTHER_MARKER, "l'autre site rechargé")
    name = bench.name("web")
    values = other_nginx_site.values(bench, container(bench))
    values["conteneurs_serveur_web"] = "non"  # as saved by 0.3.0
    result = reconfigure(bench, values)
    succeeded(result)
    assert "qui inclut /etc/nginx/web.d/*.conf" in result.stdout, result.stdout
    assert not SITE.exists()
    for host in (OTHER_NAME, other_nginx_site.fqdn):
        assert by_name("https", host, f"/{name}/")[:2] == (200, f"page du conteneur {name}\n"), host
    assert by_name("https", OTHER_NAME, "/")[:2] == (200, f"{OTHER_MARKER}\n")
    assert sh("nginx", "-t", check=False).returncode == 0


def test_other_nginx_site_second_run_reloads_nothing(bench, other_nginx_site):
    values = other_nginx_site.values(bench, container(bench))
    succeeded(reconfigure(bench, values))
    before = nginx_workers()
    site = SITE.read_bytes()
    result = reconfigure(bench, values)
    succeeded(result)
    assert reload_lines(result.stdout) == [], result.stdout
    assert nginx_workers() == before
    assert SITE.read_bytes() == site


# --- (c) the bench's bare nginx -------------------------------------------------------------------------

def test_bare_host_module_is_the_default_https_server(bench, bare_host):
    host = bare_host
    name = bench.name("web")
    succeeded(reconfigure(bench, host.values(bench, container(bench))))

    assert fetch(f"https://127.0.0.1/{name}/")[:2] == (200, f"page du conteneur {name}\n")
    assert by_name("https", host.fqdn, f"/{name}/")[:2] == (200, f"page du conteneur {name}\n")
    status, _, location = by_name("http", host.fqdn, f"/{name}/")
    assert (status, location) == (301, f"https://{host.fqdn}/{name}/")
    status, _, location = by_name("http", host.short, f"/{name}/")
    assert (status, location) == (301, f"https://{host.short}/{name}/")

    site = SITE.read_text()
    assert re.search(r"listen\s+[^;]*443[^;]*default_server", site), site
    assert not re.search(r"listen\s+(\[::\]:)?80\b[^;]*default_server", site), "Debian's default site holds 80"
    assert "~^.*$" not in site
    names = re.findall(r"server_name\s+([^;]+);", site)
    assert names and all(set(found.split()) == {host.fqdn, host.short} for found in names), names
    test = sh("nginx", "-t", check=False)
    assert test.returncode == 0 and "conflicting server name" not in test.stderr, test.stderr
    assert processes("apache2") == []
    assert not APACHE_ENABLED.exists() and not APACHE_ENABLED.is_symlink()


def test_bare_host_second_run_reloads_nothing(bench, bare_host):
    values = bare_host.values(bench, container(bench))
    succeeded(reconfigure(bench, values))
    before = nginx_workers()
    files = {path: path.read_bytes() for path in [SITE, *WEB_D.iterdir()]}
    result = reconfigure(bench, values)
    succeeded(result)
    assert reload_lines(result.stdout) == [], result.stdout
    assert nginx_workers() == before
    assert {path: path.read_bytes() for path in [SITE, *WEB_D.iterdir()]} == files


def test_bare_host_without_web_server_only_renders(bench, bare_host):
    """aucun: the snippets are rendered for the administrator; the module's live files are withdrawn
    (nginx reloaded once so that it stops serving them), then nothing is tested or reloaded any more."""
    values = bare_host.values(bench, container(bench))
    succeeded(reconfigure(bench, values))
    values["conteneurs_serveur_web"] = "aucun"
    result = reconfigure(bench, values)
    succeeded(result)
    assert (RENDERED_NGINX / "conteneur1.conf").is_file()
    assert (RENDERED_APACHE / "conteneur1.conf").is_file()
    assert not SITE.exists() and not (WEB_D / "conteneur1.conf").exists()
    assert module_apache_files() == {}
    assert by_name("https", bare_host.fqdn, f"/{bench.name('web')}/")[0] != 200, "no longer served"
    before = nginx_workers()
    again = reconfigure(bench, values)
    succeeded(again)
    assert reload_lines(again.stdout) == [], again.stdout
    assert nginx_workers() == before, "aucun : nginx n'est plus rechargé"
    assert processes("apache2") == []


