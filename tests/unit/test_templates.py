"""Rendering the module's templates with Creole's settings: golden file, options, file lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eole_conteneurs.creole.buildtime import expand_templates
from eole_conteneurs.config.loading import load_validated
from eole_conteneurs.creole.rendering import (CREOLE_COMPILER_SETTINGS, MasterValue, memo_key, render, render_text,
                                              rendered_files, template_namespace)
from tests.conftest import CHECKOUT

GOLDEN = CHECKOUT / "tests" / "golden"
NGINX, APACHE = "/etc/eole-conteneurs/web/nginx/conteneur{}.conf", "/etc/eole-conteneurs/web/apache/conteneur{}.conf"


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("tmpl")
    expand_templates(CHECKOUT / "tmpl", output, 20)
    return output


def files_for(write_config, dicos, templates, values) -> dict[str, str | None]:
    loaded = load_validated(write_config(values), dicos)
    return {declaration.name: content for declaration, content in
            rendered_files(loaded.dictionary, loaded.values, templates)}


def test_seed_renders_the_golden_file(write_config, dicos, templates, seed):
    files = files_for(write_config, dicos, templates, seed)
    assert files[NGINX.format(2)] == (GOLDEN / "conteneur2.conf").read_text()


def test_golden_file_keeps_the_seed_block(write_config, dicos, templates, seed):
    """The seed's lines are all there; the rest are the documented improvements."""
    rendered = files_for(write_config, dicos, templates, seed)[NGINX.format(2)]
    for line in ("access_log /var/log/nginx/conteneur2-access.log;",
                 "error_log /var/log/nginx/conteneur2-error.log;",
                 "proxy_pass http://127.0.0.1:8081/;",
                 "X-Forwarded-Proto $scheme;", "allow all;", "# Deny by default", "deny all;"):
        assert line in rendered
    assert "location /my-apache-app/ {" in rendered
    assert "location = /my-apache-app {" in rendered and "return 301 /my-apache-app/$is_args$args;" in rendered
    assert rendered.index("allow all;") < rendered.index("deny all;")


def test_container_without_port_says_so_and_disabled_ones_have_no_file(write_config, dicos, templates, seed):
    files = files_for(write_config, dicos, templates, seed)
    for template in (NGINX, APACHE):
        assert files[template.format(1)].strip() == "# Pas de port de sortie : conteneur non publié."
        assert all(files[template.format(n)] is None for n in range(3, 21))
    assert set(files) == {template.format(n) for template in (NGINX, APACHE) for n in range(1, 21)}


def test_everything_disappears_when_disabled(write_config, dicos, templates, seed):
    seed["activer_conteneurs"] = "non"
    assert set(files_for(write_config, dicos, templates, seed).values()) == {None}


def test_a_container_can_stay_off_the_web(write_config, dicos, templates, seed):
    seed["conteneur2_publication"] = "non"
    files = files_for(write_config, dicos, templates, seed)
    assert files[NGINX.format(2)] is None and files[APACHE.format(2)] is None


def test_apache_snippet_has_the_same_redirect_headers_and_networks(write_config, dicos, templates, seed):
    seed.update(conteneur2_reseau_autorise=["192.168.10.0", "10.0.0.0"],
                conteneur2_masque_autorise={"0": "255.255.255.0", "1": "255.0.0.0"})
    rendered = files_for(write_config, dicos, templates, seed)[APACHE.format(2)]
    assert 'RedirectMatch 301 "^/my-apache-app$" "/my-apache-app/"' in rendered
    assert '<Location "/my-apache-app/">' in rendered
    assert 'ProxyPass "http://127.0.0.1:8081/" upgrade=websocket' in rendered
    assert 'RequestHeader set X-Forwarded-Prefix "/my-apache-app"' in rendered
    assert 'RequestHeader set X-Forwarded-Proto "expr=%{REQUEST_SCHEME}"' in rendered
    assert '<If "-R \'192.168.10.0/24\' || -R \'10.0.0.0/8\'">' in rendered
    assert re.findall(r"^\s*Require (.+)$", rendered, re.MULTILINE) == ["all granted", "all denied"]
    assert "<If \"%{HTTPS} != 'on'\">" in rendered
    seed.update(conteneur2_reseau_autorise=[], conteneur2_masque_autorise={})
    rendered = files_for(write_config, dicos, templates, seed)[APACHE.format(2)]
    assert re.findall(r"^\s*Require (.+)$", rendered, re.MULTILINE) == ["all granted"]


def site(dicos, write_config, templates, seed, template, facts):
    from eole_conteneurs.creole.dictionary import FileDecl
    loaded = load_validated(write_config(seed), dicos)
    [(_, content)] = rendered_files(loaded.dictionary, loaded.values, templates, None,
                                    [FileDecl("/x", template)], facts)
    return content


def test_nginx_site_answers_for_the_given_names_only(write_config, dicos, templates, seed):
    facts = dict(noms_80="scribe.ac-test.lan scribe", noms_443="scribe.ac-test.lan scribe", defaut_80="",
                 defaut_443=" default_server", certificat="/c.crt", cle="/c.key")
    rendered = site(dicos, write_config, templates, seed, "eole-conteneurs-site.conf", facts)
    assert "~" not in rendered and "server_name _" not in rendered
    assert re.findall(r"^\s*(listen|server_name) (.+);", rendered, re.MULTILINE) == [
        ("listen", "80"), ("server_name", "scribe.ac-test.lan scribe"),
        ("listen", "443 ssl default_server"), ("server_name", "scribe.ac-test.lan scribe")]
    assert "ssl_certificate /c.crt;" in rendered and "include /etc/nginx/web.d/*.conf;" in rendered
    facts["noms_80"] = ""
    rendered = site(dicos, write_config, templates, seed, "eole-conteneurs-site.conf", facts)
    assert re.findall(r"^\s*listen (.+);", rendered, re.MULTILINE) == ["443 ssl default_server"]


@pytest.mark.parametrize("https", [True, False])
def test_apache_file_loads_what_it_needs_and_includes_the_snippets(write_config, dicos, templates, seed, https):
    rendered = site(dicos, write_config, templates, seed, "eole-conteneurs-apache.conf", {"apache_https": https})
    for module in ("proxy", "proxy_http", "headers"):
        assert f"<IfModule !{module}_module>" in rendered
    assert ("Define EOLE_CONTENEURS_HTTPS" in rendered) is https
    assert rendered.rstrip().endswith("IncludeOptional /etc/apache2/eole-conteneurs/*.conf")


def test_allowed_networks_become_cidr_rules(write_config, dicos, templates, seed):
    seed.update(conteneur2_reseau_autorise=["192.168.10.0", "10.0.0.0", "172.16.5.4"],
                conteneur2_masque_autorise={"0": "255.255.255.0", "1": "255.0.0.0", "2": "255.255.255.255"})
    rendered = files_for(write_config, dicos, templates, seed)[NGINX.format(2)]
    rules = re.findall(r"^\s*(allow|deny) (\S+);", rendered, re.MULTILINE)
    assert rules == [("allow", "192.168.10.0/24"), ("allow", "10.0.0.0/8"), ("allow", "172.16.5.4/32"),
                     ("deny", "all")]


def test_custom_path_and_first_port(write_config, dicos, templates, seed):
    seed.update(conteneur2_chemin="/applis/site/", conteneur2_port_conteneur=["80", "443"],
                conteneur2_port_hote={"0": "9080", "1": "9443"})
    rendered = files_for(write_config, dicos, templates, seed)[NGINX.format(2)]
    assert "location /applis/site/ {" in rendered
    assert "X-Forwarded-Prefix /applis/site;" in rendered
    assert "proxy_pass http://127.0.0.1:9080/;" in rendered


@pytest.mark.parametrize("path", ["/", "applis", "/a b", "/a;b", "/a{b", "/a/../b", "/a//b", "/$x", "/a\nb"])
def test_bad_paths_never_reach_a_template(write_config, dicos, seed, path):
    from eole_conteneurs.errors import InvalidConfiguration
    seed["conteneur2_chemin"] = path
    with pytest.raises(InvalidConfiguration) as caught:
        load_validated(write_config(seed), dicos)
    assert caught.value.variables() == {"conteneur2_chemin"}


def test_same_path_twice_is_refused(write_config, dicos, seed):
    from eole_conteneurs.errors import InvalidConfiguration
    seed.update(conteneur1_chemin="/my-apache-app")
    with pytest.raises(InvalidConfiguration) as caught:
        load_validated(write_config(seed), dicos)
    (problem,) = caught.value.problems
    assert problem.variable == "conteneur2_nom" and "conteneur1_chemin" in str(problem)


@pytest.mark.parametrize("network, mask, variable", [
    ("192.168.1.5", "255.255.255.0", "conteneur2_reseau_autorise"),
    ("192.168.1.0", "255.0.255.0", "conteneur2_masque_autorise"),
    ("192.168.1", "255.255.255.0", "conteneur2_reseau_autorise"),
    ("192.168.1.0", None, "conteneur2_masque_autorise"),
])
def test_bad_networks_are_refused(write_config, dicos, seed, network, mask, variable):
    from eole_conteneurs.errors import InvalidConfiguration
    seed["conteneur2_reseau_autorise"] = [network]
    seed["conteneur2_masque_autorise"] = {"0": mask} if mask else {}
    with pytest.raises(InvalidConfiguration) as caught:
        load_validated(write_config(seed), dicos)
    assert caught.value.variables() == {variable}


def test_creole_syntax_leaves_nginx_variables_and_comments_alone(tmp_path):
    source = tmp_path / "t.conf"
    source.write_text("# commentaire\n## double\n%set %%x = 1\nset $a %%nom;%slurp\n\n%for %%p in %%ports\n"
                      "%%p.port_hote;\n%end for\n")
    namespace = {"nom": "web", "ports": [MasterValue(80, {"port_hote": 8081})]}
    assert render(source, namespace) == "# commentaire\n## double\nset $a web;\n8081;\n"


def test_disabled_variables_are_unknown_to_templates(write_config, dicos, seed):
    loaded = load_validated(write_config(seed), dicos)
    namespace = template_namespace(loaded.dictionary, loaded.values)
    assert "conteneur2_nom" in namespace and "conteneur3_nom" not in namespace
    assert namespace["is_defined"]("conteneur2_nom") and not namespace["is_defined"]("conteneur3_nom")


def test_loop_items_have_value_index_and_slaves(write_config, dicos, seed):
    """As in Creole: an entry of a master in a %for loop has .value, .index and its slaves."""
    assert CREOLE_COMPILER_SETTINGS["directiveStartToken"] == "%"
    seed.update(conteneur1_port_conteneur=["80", "443"], conteneur1_port_hote={"0": "8080", "1": "8443"})
    loaded = load_validated(write_config(seed), dicos)
    namespace = template_namespace(loaded.dictionary, loaded.values)
    text = "%for %%p in %%conteneur1_port_conteneur\n%%p.index:%%p.value:%%p.conteneur1_port_hote\n%end for\n"
    assert render_text("t.conf", text, namespace) == "0:80:8080\n1:443:8443\n"


def test_the_memo_key_includes_the_index():
    """Two renderings that differ only by an entry's position are not the same rendering."""
    text = "%for %%p in %%ports\n%%p.index\n%end for\n"
    first = {"ports": [MasterValue(80, {"port_hote": 8081}, 0)]}
    second = {"ports": [MasterValue(80, {"port_hote": 8081}, 1)]}
    assert memo_key(text, first, None) != memo_key(text, second, None)
    assert memo_key(text, first, None) == memo_key(text, {"ports": [MasterValue(80, {"port_hote": 8081}, 0)]}, None)


def test_upgrade_headers_are_forwarded_for_websocket_only(write_config, dicos, templates, seed):
    """The client's Upgrade/Connection never pass as they are; an if holding only set decides, with no map
    (the file may be included by another site, whose http block the module does not write)."""
    rendered = files_for(write_config, dicos, templates, seed)[NGINX.format(2)]
    assert "$http_connection" not in rendered and "$connection_upgrade" not in rendered
    assert re.findall(r"^\s*proxy_set_header\s+(Upgrade|Connection) (\S+);", rendered, re.MULTILINE) == [
        ("Upgrade", "$eole_conteneurs_upgrade"), ("Connection", "$eole_conteneurs_connection")]
    [(condition, body)] = re.findall(r"^\s*if \((.*)\) \{\n(.*?)^\s*\}", rendered, re.MULTILINE | re.DOTALL)
    assert condition == '$http_upgrade ~* "^websocket$"'
    assert [line.split()[0] for line in body.splitlines()] == ["set", "set"]
    assert 'set $eole_conteneurs_upgrade "";' in rendered and 'set $eole_conteneurs_connection "";' in rendered
