"""Creole's own reconfigure: values come from Creole's client and Creole renders the templates.

Creole is not installable here: a stand-in `creole.client` module (its one call, get_creole())
serves the values; everything else is real (hooks, dockerd, nginx). Between the two hooks the
test writes the nginx files as Creole's template step would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT
from tests.integration.conftest import WEB_D, enabled, free_port, https, httpd, sh

BACKUP = Path("/var/lib/eole-conteneurs/nginx-sauvegarde")

CLIENT = '''
import json, os


class CreoleClient:
    def get_creole(self):
        with open(os.environ["FAKE_CREOLE_VALUES"]) as stream:
            return json.load(stream)
'''


@pytest.fixture
def creole(bench, nginx_files, tmp_path):
    package = tmp_path / "fake" / "creole"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "client.py").write_text(CLIENT)
    values_file = tmp_path / "creole-values.json"
    env = {"PYTHONPATH": f"{package.parent}:{CHECKOUT}", "FAKE_CREOLE_VALUES": str(values_file),
           "EOLE_CONTENEURS_CONFIG": ""}

    def serve(values: dict) -> None:
        # Creole's client gives plain values, slaves as lists.
        plain = {name: (list(value.values()) if isinstance(value, dict) else value) for name, value in values.items()}
        values_file.write_text(json.dumps(plain))
    return serve, env


def hook(bench, phase: str, env: dict):
    environment = {key: value for key, value in {**bench.env, **env}.items() if value != ""}
    return sh(CHECKOUT / phase / "60-conteneurs", "reconfigure", check=False, env=environment, cwd="/", timeout=300)


SITE = Path("/etc/nginx/conf.d/eole-conteneurs.conf")


def render_as_creole(bench, values: dict) -> None:
    """Creole's template step: the module's files written with the same templates and settings."""
    from eole_conteneurs.config.loading import default_sources, load_validated
    from eole_conteneurs.creole.rendering import rendered_files
    bench.write(values)
    loaded = load_validated(bench.config_path)
    for declaration, content in rendered_files(loaded.dictionary, loaded.values, default_sources().templates):
        path = Path(declaration.name)
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)


def test_creole_flow_checkpoint_then_commit(bench, creole):
    serve, env = creole
    values = enabled(1, httpd(bench, 1, "web", free_port()))
    serve(values)
    (bench.root / "www-web").mkdir()
    (bench.root / "www-web" / "index.html").write_text("rendu par Creole")

    pre = hook(bench, "pretemplate", env)
    assert pre.returncode == 0, pre.stdout + pre.stderr
    assert (BACKUP / "sauvegarde-complete").exists(), "pretemplate saved the module's nginx files"
    render_as_creole(bench, values)

    post = hook(bench, "posttemplate", env)
    assert post.returncode == 0, post.stdout + post.stderr
    assert "Configuration nginx rechargée" in post.stdout
    assert not BACKUP.exists()
    assert https(f"/{bench.name('web')}/")[:2] == (200, "rendu par Creole")


def test_creole_flow_restores_what_nginx_refuses(bench, creole):
    serve, env = creole
    values = enabled(1, httpd(bench, 1, "web", free_port()))
    serve(values)
    render_as_creole(bench, values)  # a previous, valid generation
    assert hook(bench, "pretemplate", env).returncode == 0
    assert hook(bench, "posttemplate", env).returncode == 0
    before = {path: path.read_bytes() for path in [*WEB_D.iterdir(), SITE]}
    assert hook(bench, "pretemplate", env).returncode == 0
    (WEB_D / "conteneur1.conf").write_bytes(b"location /casse/ { directive_inconnue; }\n")

    post = hook(bench, "posttemplate", env)
    assert post.returncode == 1
    assert "directive_inconnue" in post.stderr
    assert {path: path.read_bytes() for path in [*WEB_D.iterdir(), SITE]} == before
    assert sh("nginx", "-t", check=False).returncode == 0


def test_creole_flow_refused_values_are_not_left_in_nginx(bench, creole):
    """Creole renders raw values: when ours refuse them, posttemplate puts the saved files back."""
    serve, env = creole
    values = enabled(1, httpd(bench, 1, "web", free_port()))
    serve(values)
    before = {path: path.read_bytes() for path in WEB_D.iterdir()} if WEB_D.exists() else {}
    assert hook(bench, "pretemplate", env).returncode == 0
    values["conteneur1_nom"] = "x { } location / { return 200; } location /y"
    serve(values)
    WEB_D.mkdir(exist_ok=True)
    (WEB_D / "conteneur1.conf").write_bytes(b"location = /x { } location / { return 200; } location /y/ {}\n")

    post = hook(bench, "posttemplate", env)
    assert post.returncode == 1
    assert "conteneur1_nom" in post.stderr
    assert {path: path.read_bytes() for path in WEB_D.iterdir()} == before
