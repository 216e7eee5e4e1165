"""`eole-conteneurs reconfigure` end to end: hooks, files, nginx, log, lock, Zéphir pushes, SIGKILL."""

from __future__ import annotations

import fcntl
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from eole_conteneurs.jobs.lock import LOCK_FILE

from tests.conftest import CHECKOUT
from tests.integration.conftest import WEB_D, docker, enabled, free_port, hello, https, httpd, sh

LOG = Path("/var/log/reconfigure.log")
LOCK = LOCK_FILE


def reconfigure(bench, *args, timeout=300) -> subprocess.CompletedProcess:
    return bench.command("reconfigure", *args, timeout=timeout)


def events_during(bench, action) -> list[str]:
    since = docker("system", "info", "--format", "{{.SystemTime}}").stdout.strip()
    action()
    until = docker("system", "info", "--format", "{{.SystemTime}}").stdout.strip()
    return docker("events", "--since", since, "--until", until, "--filter", "type=container",
                  "--filter", f"label=fr.eole.conteneurs.managed={bench.scope}", "--format", "{{.Action}}").stdout.split()


@pytest.fixture
def site(bench, nginx_files):
    port = free_port()
    values = enabled(2, hello(bench, 1), httpd(bench, 2, "web", port))
    bench.write(values)
    (bench.root / "www-web").mkdir()
    (bench.root / "www-web" / "index.html").write_text("page web")
    return values


def test_reconfigure_runs_the_creole_sequence(bench, site):
    log_size = LOG.stat().st_size if LOG.exists() else 0
    result = reconfigure(bench)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    steps = ["Configuration valide", "Exécution de", "pretemplate/60-conteneurs", "httpd:2.4",
             "Génération des fichiers de configuration", "posttemplate/60-conteneurs", "Lancement du conteneur",
             "Configuration nginx rechargée", f"/{bench.name('web')}/", "Reconfiguration terminée"]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions), out
    assert https(f"/{bench.name('web')}/")[:2] == (200, "page web")
    appended = LOG.read_bytes()[log_size:].decode("utf-8")
    assert "=== eole-conteneurs reconfigure" in appended and "Reconfiguration terminée" in appended
    assert "Lancement du conteneur" in appended, "hook output is logged too"


def test_second_reconfigure_changes_nothing(bench, site):
    assert reconfigure(bench).returncode == 0
    results = []
    assert events_during(bench, lambda: results.append(reconfigure(bench))) == []
    assert results[0].returncode == 0
    assert "pas de rechargement" in results[0].stdout


def test_zephir_push_converges_and_bad_push_changes_nothing(bench, site):
    values = site
    assert reconfigure(bench).returncode == 0
    values["conteneur2_port_hote"] = {"0": str(free_port())}
    bench.write(values, owner="zephir")
    pushed = reconfigure(bench)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    state = bench.inspect(bench.name("web"))
    assert state["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"] == values["conteneur2_port_hote"]["0"]
    assert https(f"/{bench.name('web')}/")[:2] == (200, "page web")

    before = {name: bench.identity(name) for name in bench.managed()}
    files = {path: path.read_bytes() for path in WEB_D.iterdir()}
    values["conteneur2_rep_hote"] = ["/etc"]
    values["conteneur1_tag"] = "autre"
    bench.write(values, owner="zephir")
    refused = reconfigure(bench)
    assert refused.returncode == 1
    assert "conteneur2_rep_hote (valeur n°1) : « /etc »" in refused.stdout
    assert "Exécution de" not in refused.stdout, "refused before any hook runs"
    assert {name: bench.identity(name) for name in bench.managed()} == before
    assert {path: path.read_bytes() for path in WEB_D.iterdir()} == files


def test_lock_waits_then_gives_up_clearly(bench, site):
    LOCK.parent.mkdir(mode=0o700, exist_ok=True)
    with open(LOCK, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("pid test\n")
        held.flush()
        started = time.monotonic()
        result = reconfigure(bench, "--attente", "2")
        waited = time.monotonic() - started
    assert result.returncode == 1
    assert "un autre reconfigure est en cours" in result.stdout
    assert 2 <= waited < 30
    assert bench.managed() == [], "nothing done while another run held the lock"


def test_lock_of_a_killed_run_does_not_block(bench, site):
    holder = subprocess.Popen(["/usr/bin/python3", "-c",
                               "import fcntl,time,sys; f=open(sys.argv[1],'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
                               "print('ok', flush=True); time.sleep(600)", str(LOCK)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "ok"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    result = reconfigure(bench, "--attente", "5")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("delay", [0.4, 1.0, 2.0, 4.0, 7.0])
def test_sigkill_at_any_step_then_reconfigure_converges(bench, site, delay):
    values = site
    assert reconfigure(bench).returncode == 0
    # Changes that need a recreation (its stop takes a while): the kill lands in various steps.
    values["conteneur2_port_hote"] = {"0": str(free_port())}
    values["conteneur2_chemin"] = "/autre-chemin"
    bench.write(values)
    process = subprocess.Popen(["/usr/bin/python3", "-m", "eole_conteneurs", "reconfigure", "--config",
                                str(bench.config_path)], cwd=CHECKOUT, env=bench.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(delay)
    sh("pkill", "-KILL", "-s", str(process.pid), check=False)  # the run and its hooks
    process.wait()

    result = reconfigure(bench)
    assert result.returncode == 0, result.stdout + result.stderr
    assert bench.managed() == sorted([bench.name("hello-world"), bench.name("web")]), "no orphan container"
    state = bench.inspect(bench.name("web"))
    assert state["State"]["Running"]
    assert state["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"] == values["conteneur2_port_hote"]["0"]
    assert sh("nginx", "-t", check=False).returncode == 0
    assert https("/autre-chemin/")[:2] == (200, "page web")
    assert bench.plan().returncode == 0


def test_status_and_diagnose(bench, site):
    assert reconfigure(bench).returncode == 0
    result = bench.command("status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = {entry["nom"]: entry for entry in json.loads(result.stdout)}
    web = statuses[bench.name("web")]
    assert web["etat"] == "en cours d'exécution" and web["persistance"] == "non"
    assert web["empreinte"].startswith("sha256:") and web["url"].endswith(f"/{bench.name('web')}/")
    assert web["ports"] == [f"127.0.0.1:{site['conteneur2_port_hote']['0']}→80"]
    assert statuses[bench.name("hello-world")]["etat"] == "terminé normalement"
    table = bench.command("status")
    assert bench.name("web") in table.stdout and "Empreinte" in table.stdout

    diagnose = sh(CHECKOUT / "diagnose" / "60-conteneurs", check=False, env=bench.env)
    assert diagnose.returncode == 0, diagnose.stdout + diagnose.stderr
    header, *checks = diagnose.stdout.splitlines()
    assert header == "*** Conteneurs (eole-conteneurs)", diagnose.stdout
    assert checks and all(text.startswith(".  ") and " => " in text for text in checks), diagnose.stdout
    assert any(text.startswith(".  Docker ") and text.endswith(" => Ok") for text in checks), diagnose.stdout
    assert f"Conteneur {bench.name('web')}" in diagnose.stdout
    assert f"Web /{bench.name('web')}/" in diagnose.stdout and "Erreur" not in diagnose.stdout

    docker("stop", "-t", "1", bench.name("web"))
    assert bench.command("status").returncode == 1
    broken = sh(CHECKOUT / "diagnose" / "60-conteneurs", check=False, env=bench.env)
    assert broken.returncode == 0, "EOLE's diagnose scripts always exit 0: the problem is an Erreur line"
    assert f".  Conteneur {bench.name('web')}" in broken.stdout and "=> Erreur" in broken.stdout


def image_pulls_during(action) -> list[str]:
    since = docker("system", "info", "--format", "{{.SystemTime}}").stdout.strip()
    action()
    until = docker("system", "info", "--format", "{{.SystemTime}}").stdout.strip()
    return docker("events", "--since", since, "--until", until, "--filter", "type=image",
                  "--filter", "event=pull", "--format", "{{.Actor.ID}}").stdout.split()


def test_unchanged_reconfigure_is_one_interpreter_without_sdk_cheetah_or_pull(bench, site):
    """The no-op path reads through the Engine API, reuses the renderings and runs the module's hooks itself."""
    bench.env["EOLE_CONTENEURS_CACHE"] = str(bench.root / "cache")
    assert reconfigure(bench).returncode == 0
    results = []
    bench.env["PYTHONPROFILEIMPORTTIME"] = "1"  # inherited: a hook's own interpreter would report its imports too
    pulls = image_pulls_during(lambda: results.append(reconfigure(bench)))
    result = results[0]
    assert result.returncode == 0, result.stdout + result.stderr
    imports = [line.rsplit("|", 1)[-1].strip() for line in (result.stdout + result.stderr).splitlines()
               if line.startswith("import time:")]
    assert imports.count("encodings") == 1, "one interpreter for the whole reconfigure"
    assert not [name for name in imports if name.split(".")[0] in ("docker", "requests", "Cheetah")]
    assert pulls == []
    assert "Image à jour (même empreinte que sur le dépôt)" in result.stdout
    assert "pas de rechargement" in result.stdout
    assert https(f"/{bench.name('web')}/")[:2] == (200, "page web")
