"""Reading nginx's configuration for the other sites (files of the test's own) and the server's names."""

from __future__ import annotations

from pathlib import Path

import pytest

from eole_conteneurs.publish.detection import NginxServer, other_nginx_servers
from eole_conteneurs.publish.names import server_names


def configuration(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "nginx.conf"


def test_servers_are_read_through_includes_where_they_stand(tmp_path):
    main = configuration(tmp_path, {
        "nginx.conf": f"events {{}}\nhttp {{\n    include {tmp_path}/sites/*;\n"
                      f"    server {{ listen 8080; server_name foo#bar; include {tmp_path}/inc.conf;\n"
                      f"             location / {{ include {tmp_path}/loc.conf; }} }}\n}}\n"
                      f"stream {{ include {tmp_path}/stream/*; }}\n",
        "sites/reverse-proxy": "# EOLE's reverse proxy\nserver {\n  listen [::]:443 ssl http2 default_server;\n"
                               "  listen 127.0.0.1:443;  # a comment\n  server_name _ \"quoted.lan\";\n"
                               "  include /etc/nginx/web.d/*.conf;\n}\n",
        "inc.conf": "listen 443 ssl; server_name inc.example;\n",
        "loc.conf": "return 200;\n",
        "stream/tls": "server { listen 443; proxy_pass 127.0.0.1:8443; }\n",
    })
    servers = {Path(server.file).name: server for server in other_nginx_servers(set(), main)}
    assert set(servers) == {"reverse-proxy", "nginx.conf"}, "a stream server is no HTTP site"
    proxy = servers["reverse-proxy"]
    assert (proxy.ports, proxy.names, proxy.includes) == ({443}, {"_", "quoted.lan"}, ["/etc/nginx/web.d/*.conf"])
    inline = servers["nginx.conf"]
    assert inline.ports == {8080, 443} and inline.names == {"foo#bar", "inc.example"}


def test_the_modules_own_files_and_a_server_without_listen(tmp_path):
    main = configuration(tmp_path, {"nginx.conf": f"http {{ include {tmp_path}/conf.d/*.conf; }}\n",
                                    "conf.d/eole-conteneurs.conf": "server { listen 443; server_name a; }\n",
                                    "conf.d/autre.conf": "server { server_name b; }\n"})
    [server] = other_nginx_servers({tmp_path / "conf.d" / "eole-conteneurs.conf"}, main)
    assert server.names == {"b"} and server.ports == {80}, "nginx's default: listen *:80"


@pytest.mark.parametrize("pattern, claimed", [
    ("scribe.ac-test.lan", True), ("autre.lan", False), ("*.ac-test.lan", True), ("scribe.*", True),
    (".ac-test.lan", True), ("~^scr", True), ("~^www\\.", False), ("_", False), ("~(?<=x", True),
])
def test_a_name_is_claimed_as_nginx_would_match_it(pattern, claimed):
    assert NginxServer("f", {443}, {pattern}).claims("scribe.ac-test.lan") is claimed


def test_server_names_are_eoles_when_known_and_always_checked():
    assert server_names({"nom_machine": "Scribe", "nom_domaine_local": "ac-test.lan"}) == ("scribe.ac-test.lan",
                                                                                          "scribe")
    assert server_names({"nom_machine": "scribe"}) == ("scribe",)
    assert server_names({"nom_machine": "a;b", "nom_domaine_local": "x{y}"}) == ()
