"""Publication through the real nginx (system instance, ports 80/443) to real containers.

The module's nginx files are saved before each test and put back after it, so the demo's
publication (if any) is left as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eole_conteneurs.publish.names import server_names
from tests.integration.conftest import BOTH, SITE, WEB_D, enabled, free_port, hello, https, httpd, sh

PID_FILE = Path("/run/nginx.pid")

TECHNOLOGIES = BOTH


def workers() -> set[str]:
    master = PID_FILE.read_text().strip()
    return set(sh("pgrep", "-P", master, check=False).stdout.split())


@pytest.fixture
def published(bench, nginx_files):
    """The seed's my-apache-app (own name, free port) with hello-world, applied and published."""
    port = free_port()
    values = enabled(2, hello(bench, 1), httpd(bench, 2, "my-apache-app", port))
    bench.write(values)
    www = bench.root / "www-my-apache-app"
    (www / "a").mkdir(parents=True)
    (www / "index.html").write_text("<h1>page du répertoire de l'hôte</h1>")
    (www / "a" / "b.html").write_text("fichier b")
    (www / "cgi-bin").mkdir()
    (www / "cgi-bin" / "env").write_text('#!/bin/sh\necho "Content-Type: text/plain"\necho\nenv\n')
    (www / "cgi-bin" / "env").chmod(0o755)
    assert bench.apply().returncode == 0
    result = bench.command("publish")
    assert result.returncode == 0, result.stdout + result.stderr
    return values, result


def test_https_reaches_the_container(bench, published):
    _, result = published
    name = bench.name("my-apache-app")
    assert f"/{name}/" in result.stdout
    status, body, _ = https(f"/{name}/")
    assert (status, body) == (200, "<h1>page du répertoire de l'hôte</h1>")
    assert https(f"/{name}/a/b.html")[:2] == (200, "fichier b")
    status, _, location = https(f"/{name}")
    assert status == 301 and location == f"https://127.0.0.1/{name}/"


def test_plain_http_redirects_to_https_for_the_servers_name_only(bench, published):
    name, host = bench.name("my-apache-app"), server_names({})[0]
    out = sh("curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--resolve", f"{host}:80:127.0.0.1",
             f"http://{host}/{name}/").stdout
    assert out == f"301 https://{host}/{name}/"
    # No catch-all: another name on port 80 stays with the host's default site (Debian's).
    other = sh("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1/{name}/").stdout
    assert other == "404"
    assert "~" not in SITE.read_text()


def test_forwarded_headers_reach_the_container(bench, published):
    name = bench.name("my-apache-app")
    status, body, _ = https(f"/{name}/cgi-bin/env")
    assert status == 200
    environment = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
    assert environment["HTTP_X_FORWARDED_PROTO"] == "https"
    assert environment["HTTP_X_FORWARDED_PREFIX"] == f"/{name}"
    assert environment["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
    assert environment["HTTP_HOST"] == "127.0.0.1"


def test_container_file_and_logs(bench, published):
    conf = (WEB_D / "conteneur2.conf").read_text()
    assert f"location /{bench.name('my-apache-app')}/ {{" in conf
    assert not (WEB_D / "conteneur1.conf").exists(), "hello-world has no port: no nginx file"
    https(f"/{bench.name('my-apache-app')}/")
    assert Path("/var/log/nginx/conteneur2-access.log").exists()


def test_allowed_networks_refuse_other_clients(bench, published):
    values, _ = published
    values.update(conteneur2_reseau_autorise=["127.0.0.1"], conteneur2_masque_autorise={"0": "255.255.255.255"})
    bench.write(values)
    assert bench.command("publish").returncode == 0
    path = f"/{bench.name('my-apache-app')}/"
    assert https(path)[0] == 200
    assert https(path, source="127.0.0.2")[0] == 403


def test_nothing_changed_means_no_reload(bench, published):
    before = workers()
    result = bench.command("publish")
    assert result.returncode == 0
    assert "pas de rechargement" in result.stdout
    assert workers() == before


def test_disabled_container_file_disappears(bench, published):
    values, _ = published
    values["nombre_conteneurs"] = "1"
    bench.write(values)
    result = bench.command("publish")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (WEB_D / "conteneur2.conf").exists()
    assert https(f"/{bench.name('my-apache-app')}/")[0] == 404


def test_rejected_configuration_is_rolled_back(bench, published):
    """A path clashing with another site's location: nginx -t refuses, the old files stay."""
    values, _ = published
    before = {path: path.read_bytes() for path in WEB_D.iterdir()}
    name = bench.name("my-apache-app")
    (WEB_D / "zz-autre-site.conf").write_text("location /occupe/ { return 200 'autre'; }\n")
    try:
        values["conteneur2_chemin"] = "/occupe"
        bench.write(values)
        old_workers = workers()
        result = bench.command("publish")
        assert result.returncode == 1
        assert "duplicate location" in result.stderr
        assert "Erreur" in result.stderr
        assert {path: path.read_bytes() for path in WEB_D.iterdir() if path.name != "zz-autre-site.conf"} == before
        assert workers() == old_workers
        assert https(f"/{name}/")[0] == 200, "nginx still serves the previous configuration"
    finally:
        (WEB_D / "zz-autre-site.conf").unlink()


def test_broken_nginx_before_the_run_writes_nothing(bench, published):
    values, _ = published
    broken = Path("/etc/nginx/conf.d/zz-casse.conf")
    broken.write_text("directive_inconnue;\n")
    try:
        values["conteneur2_chemin"] = "/ailleurs"
        bench.write(values)
        before = (WEB_D / "conteneur2.conf").read_bytes()
        result = bench.command("publish")
        assert result.returncode == 1
        assert "déjà invalide" in result.stderr
        assert (WEB_D / "conteneur2.conf").read_bytes() == before
    finally:
        broken.unlink()


def test_interrupted_run_is_recovered(bench, published):
    """A backup left by a killed run is restored before anything else."""
    from eole_conteneurs.journal import Journal
    from eole_conteneurs.publish.nginx import Nginx
    from eole_conteneurs.publish.transaction import FileChange
    backup = Path("/var/lib/eole-conteneurs/nginx-sauvegarde")
    original = (WEB_D / "conteneur2.conf").read_bytes()
    nginx = Nginx(Journal(), backup_dir=backup)
    change = FileChange(WEB_D / "conteneur2.conf", b"# ecrit puis interrompu\n")
    nginx.transaction.write([change])  # killed here: the file is modified, the backup is complete
    result = bench.command("publish")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "restaurée" in result.stdout
    assert (WEB_D / "conteneur2.conf").read_bytes() == original
    assert not backup.exists()


def test_generated_files_pass_nginx_t(bench, nginx_files):
    """Every file the templates can produce, with all options, is accepted by nginx."""
    values = enabled(3, httpd(bench, 1, "un", free_port()),
                     httpd(bench, 2, "deux", free_port(), chemin="/applis/deux",
                           reseau_autorise=["192.168.0.0", "10.1.2.3"],
                           masque_autorise={"0": "255.255.0.0", "1": "255.255.255.255"}),
                     hello(bench, 3))
    bench.write(values)
    result = bench.command("publish")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sh("nginx", "-t", check=False).returncode == 0
    assert "allow 10.1.2.3/32;" in (WEB_D / "conteneur2.conf").read_text()
