"""Rendering the module's templates with Creole's settings: golden file, options, file lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eole_conteneurs.creole.buildtime import expand_templates
from eole_conteneurs.config.loading import load_validated
from eole_conteneurs.creole.rendering import MasterValue, render, rendered_files, template_namespace
from tests.conftest import CHECKOUT

GOLDEN = CHECKOUT / "tests" / "golden"


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
    assert files["/etc/nginx/web.d/conteneur2.conf"] == (GOLDEN / "conteneur2.conf").read_text()


def test_golden_file_keeps_the_seed_block(write_config, dicos, templates, seed):
    """The seed's lines are all there; the rest are the documented improvements."""
    rendered = files_for(write_config, dicos, templates, seed)["/etc/nginx/web.d/conteneur2.conf"]
    for line in ("access_log /var/log/nginx/conteneur2-access.log;",
                 "error_log /var/log/nginx/conteneur2-error.log;",
                 "proxy_pass http://127.0.0.1:8081/;",
                 "X-Forwarded-Proto $scheme;", "allow all;", "# Deny by default", "deny all;"):
        assert line in rendered
    assert "location /my-apache-app/ {" in rendered
    assert "location = /my-apache-app {" in rendered and "return 301 /my-apache-app/$is_args$args;" in rendered
    assert rendered.index("allow all;") < rendered.index("deny all;")


def test_container_without_port_and_disabled_ones_have_no_file(write_config, dicos, templates, seed):
    files = files_for(write_config, dicos, templates, seed)
    assert files["/etc/nginx/web.d/conteneur1.conf"] is None, "hello-world: pas de port de sortie"
    assert all(files[f"/etc/nginx/web.d/conteneur{n}.conf"] is None for n in range(3, 21))
    assert "include /etc/nginx/web.d/*.conf;" in files["/etc/nginx/conf.d/eole-conteneurs.conf"]


def test_everything_disappears_when_disabled(write_config, dicos, templates, seed):
    seed["activer_conteneurs"] = "non"
    assert set(files_for(write_config, dicos, templates, seed).values()) == {None}


def test_site_can_be_left_to_an_eole_web_module(write_config, dicos, templates, seed):
    seed["conteneurs_serveur_web"] = "non"
    files = files_for(write_config, dicos, templates, seed)
    assert files["/etc/nginx/conf.d/eole-conteneurs.conf"] is None
    assert files["/etc/nginx/web.d/conteneur2.conf"] is not None


def test_allowed_networks_become_cidr_rules(write_config, dicos, templates, seed):
    seed.update(conteneur2_reseau_autorise=["192.168.10.0", "10.0.0.0", "172.16.5.4"],
                conteneur2_masque_autorise={"0": "255.255.255.0", "1": "255.0.0.0", "2": "255.255.255.255"})
    rendered = files_for(write_config, dicos, templates, seed)["/etc/nginx/web.d/conteneur2.conf"]
    rules = re.findall(r"^\s*(allow|deny) (\S+);", rendered, re.MULTILINE)
    assert rules == [("allow", "192.168.10.0/24"), ("allow", "10.0.0.0/8"), ("allow", "172.16.5.4/32"),
                     ("deny", "all")]


def test_custom_path_and_first_port(write_config, dicos, templates, seed):
    seed.update(conteneur2_chemin="/applis/site/", conteneur2_port_conteneur=["80", "443"],
                conteneur2_port_hote={"0": "9080", "1": "9443"})
    rendered = files_for(write_config, dicos, templates, seed)["/etc/nginx/web.d/conteneur2.conf"]
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
