"""Creole's own reconfigure: values come from Creole's client and Creole renders the templates.

Creole is not installable here: a stand-in `creole.client` module (its one call, get_creole(name, default))
serves the values; everything else is real (hooks, dockerd, nginx). Between the two hooks the
test renders the module's files (into /etc/eole-conteneurs/web) as Creole's template step would.
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
    """EOLE's attested call only: one name at a time, with its default (no form without a name)."""

    def get_creole(self, name, default):
        with open(os.environ["FAKE_CREOLE_VALUES"]) as stream:
            return json.load(stream).get(name, default)
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


STAGED = Path("/etc/eole-conteneurs/web/nginx/conteneur1.conf")


def live_files() -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in [*(WEB_D.iterdir() if WEB_D.exists() else []), SITE]
            if path.exists()}


def test_creole_renders_then_posttemplate_publishes(bench, creole):
    serve, env = creole
    values = enabled(1, httpd(bench, 1, "web", free_port()))
    serve(values)
    (bench.root / "www-web").mkdir()
    (bench.root / "www-web" / "index.html").write_text("rendu par Creole")
    before = live_files()

    pre = hook(bench, "pretemplate", env)
    assert pre.returncode == 0, pre.stdout + pre.stderr
    render_as_creole(bench, values)
    assert f"location /{bench.name('web')}/" in STAGED.read_text()
    assert live_files() == before, "Creole's template step writes only the module's own directory"

    post = hook(bench, "posttemplate", env)
    assert post.returncode == 0, post.stdout + post.stderr
    assert "Configuration nginx rechargée" in post.stdout
    assert not BACKUP.exists()
    assert (WEB_D / "conteneur1.conf").read_bytes() == STAGED.read_bytes()
    assert https(f"/{bench.name('web')}/")[:2] == (200, "rendu par Creole")


def test_creole_flow_keeps_what_nginx_refuses_out(bench, creole):
    serve, env = creole
    values = enabled(1, httpd(bench, 1, "web", free_port()))
    serve(values)
    render_as_creole(bench, values)  # a previous, valid generation
    assert hook(bench, "pretemplate", env).returncode == 0
    assert hook(bench, "posttemplate", env).returncode == 0
    before = live_files()
    assert hook(bench, "pretemplate", env).returncode == 0
    STAGED.write_bytes(b"location /casse/ { directive_inconnue; }\n")

    post = hook(bench, "posttemplate", env)
    assert post.returncode == 1
    assert "directive_inconnue" in post.stderr
    assert live_files() == before
    assert sh("nginx", "-t", check=False).returncode == 0


def test_creole_flow_refused_values_never_reach_nginx(bench, creole):
    """Creole renders raw values into the module's directory: when ours refuse them, nothing is published."""
    serve, env = creole
    values = enabled(1, httpd(bench, 1, "web", free_port()))
    serve(values)
    before = live_files()
    assert hook(bench, "pretemplate", env).returncode == 0
    values["conteneur1_nom"] = "x { } location / { return 200; } location /y"
    serve(values)
    STAGED.parent.mkdir(parents=True, exist_ok=True)
    STAGED.write_bytes(b"location = /x { } location / { return 200; } location /y/ {}\n")

    post = hook(bench, "posttemplate", env)
    assert post.returncode == 1
    assert "conteneur1_nom" in post.stderr
    assert live_files() == before
