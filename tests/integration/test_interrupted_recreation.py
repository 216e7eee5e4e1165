"""A recreation killed half-way (kill -9), then the next run, against the real dockerd (issue 14, item 7).

The killed run is the module's own, in this process: its engine's start (or remove) raises an exception
nothing catches at the moment a kill would hit, which leaves dockerd exactly as a kill would.
"""

from __future__ import annotations

import io

import pytest

from eole_conteneurs.config.loading import load_validated
from eole_conteneurs.containers.executor import Converger, local_images
from eole_conteneurs.journal import Journal
from tests.integration.conftest import BOTH, enabled, free_port, hello, http_get, httpd, socket_listening

TECHNOLOGIES = BOTH


class Killed(BaseException):
    """kill -9: nothing after it runs in the process, no clean-up."""


def killed_run(bench, monkeypatch, at: str, recreate: frozenset[str] = frozenset()) -> None:
    """Converge bench's configuration in this process, killed at the first engine call named `at`."""
    specs = load_validated(bench.config_path).configuration.containers
    engine = bench.engine()

    def kill(*args, **kwargs):
        raise Killed()

    monkeypatch.setattr(engine, at, kill)
    converger = Converger(engine, Journal(io.StringIO()), bench.scope)
    images = local_images(engine, specs)
    with pytest.raises(Killed):
        converger.apply(converger.plan(specs, images, recreate))


def set_aside(bench, name: str) -> list[str]:
    listed = bench.cli("ps", "-a", "--filter", f"label=fr.eole.conteneurs.managed={bench.scope}",
                    "--format", "{{.Names}} {{.State}}").stdout.split("\n")
    return sorted(line for line in listed if line.startswith(f"{name}--ancien-"))


def deployed_web(bench) -> tuple[dict, str, str, int]:
    """One web container deployed: its values, name, id and host port."""
    port = free_port()
    values = enabled(1, httpd(bench, 1, "web", port))
    bench.write(values)
    assert bench.apply().returncode == 0
    name = bench.name("web")
    return values, name, bench.inspect(name)["Id"], port


def test_killed_between_create_and_start_the_next_run_finishes_the_recreation(bench, monkeypatch):
    values, name, old_id, _ = deployed_web(bench)

    new_port = free_port()
    values["conteneur1_port_hote"] = {"0": str(new_port)}
    bench.write(values)
    killed_run(bench, monkeypatch, "start")
    assert bench.inspect(name)["State"]["Status"] == "created"
    assert set_aside(bench, name) == [f"{name}--ancien-{old_id[:12]} exited"]

    plan = bench.plan()
    since = bench.now()
    result = bench.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert bench.managed() == [name]
    assert bench.inspect(name)["State"]["Running"]
    events = bench.events(since, bench.now())
    steps = [f"start {name}", f"destroy {name}--ancien-{old_id[:12]}"]
    assert [event for event in events if event in steps] == steps, "the old one deleted once the new one runs"
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert f"{name} : reprendre la recréation — recréation interrompue : le nouveau conteneur" in plan.stdout
    assert "n'a pas été démarré : il est démarré, puis l'ancien" in plan.stdout
    (bench.root / "www-web" / "index.html").write_text("nouveau")
    assert http_get(new_port) == "nouveau"
    identity = bench.identity(name)
    again = bench.apply()
    assert again.returncode == 0 and bench.identity(name) == identity
    assert "Rien à faire." in bench.plan().stdout


def test_killed_between_create_and_start_a_new_container_that_cannot_start_gives_the_old_one_back(bench, monkeypatch):
    values, name, old_id, port = deployed_web(bench)
    (bench.root / "www-web" / "index.html").write_text("ancien")

    with socket_listening() as taken:
        values["conteneur1_port_hote"] = {"0": str(taken)}
        bench.write(values)
        killed_run(bench, monkeypatch, "start")  # creating does not bind the port: only starting does
        result = bench.apply()
    assert result.returncode == 1
    assert bench.managed() == [name], "the new container removed, the old one under its name"
    state = bench.inspect(name)
    assert state["Id"] == old_id and state["State"]["Running"]
    assert http_get(port) == "ancien"
    assert "Reprise de la recréation" in result.stdout and "l'ancien est remis en service" in result.stdout


def test_killed_after_the_start_the_next_run_deletes_the_old_one_and_leaves_the_new_one(bench, monkeypatch):
    """A persistent container replaced on request (--recreer), killed before its old one was deleted."""
    port = free_port()
    values = enabled(2, httpd(bench, 1, "garde", port, persistance="oui"), hello(bench, 2))
    bench.write(values)
    assert bench.apply().returncode == 0
    name = bench.name("garde")
    old_id = bench.inspect(name)["Id"]

    killed_run(bench, monkeypatch, "remove", recreate=frozenset({name}))
    new = bench.identity(name)
    assert new[0] != old_id and bench.inspect(name)["State"]["Running"]
    assert set_aside(bench, name) == [f"{name}--ancien-{old_id[:12]} exited"]

    plan = bench.plan()
    result = bench.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert bench.managed() == sorted([name, bench.name("hello-world")])
    assert bench.identity(name) == new, "the new one is not touched"
    assert "Rien à faire." in bench.plan().stdout
    assert f"{name} : terminer la recréation — recréation interrompue : le nouveau conteneur ({new[0][:12]}) a " \
           "démarré" in plan.stdout
