"""Docker and Podman on one host: a mixed configuration, a technology changed, Podman after a reboot, Podman absent.

The suites shared by both technologies (TECHNOLOGIES = BOTH) check each engine alone; this one checks
what only exists when both are there, with each engine's own client for what it alone can tell.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.integration.conftest import (REGISTRY, enabled, engine_cli, free_port, http_get, https, httpd, sh)

PODMAN = Path("/usr/bin/podman")
HTDOCS = "/usr/local/apache2/htdocs"
QUICK_STOP = f"trap 'exit 0' TERM; httpd -f -p 80 -h {HTDOCS} & wait"  # busybox httpd ignores SIGTERM


def inspect(technology: str, name: str) -> dict:
    return json.loads(engine_cli(technology, "inspect", name).stdout)[0]


def identity(technology: str, name: str) -> tuple[str, str]:
    state = inspect(technology, name)
    return state["Id"], state["State"]["StartedAt"]


def mixed(bench) -> tuple[dict, dict[str, int]]:
    """A web container on Docker, one on Podman, and a Podman back end the Podman one reaches by name."""
    ports = {"docker": free_port(), "podman": free_port()}
    values = enabled(3, httpd(bench, 1, "sur-docker", ports["docker"]),
                     httpd(bench, 2, "sur-podman", ports["podman"], technologie="podman", reseau_prive=["interne"],
                           dependance=[bench.name("arriere")]),
                     {"conteneur3_nom": bench.name("arriere"), "conteneur3_technologie": "podman",
                      "conteneur3_hub": REGISTRY, "conteneur3_depot": "httpd", "conteneur3_tag": "2.4",
                      "conteneur3_commande": f'sh -c "{QUICK_STOP}"', "conteneur3_reseau_prive": ["interne"],
                      "conteneur3_sante_commande": "wget -q -O /dev/null http://127.0.0.1/ || test -e /etc/passwd"})
    for short in ("sur-docker", "sur-podman"):
        (bench.root / f"www-{short}").mkdir()
        (bench.root / f"www-{short}" / "index.html").write_text(f"page {short}")
    return values, ports


def test_a_mixed_configuration_converges_is_published_and_then_left_alone(bench, nginx_files):
    values, ports = mixed(bench)
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lancement du conteneur : docker run" in result.stdout
    assert "Lancement du conteneur : podman run" in result.stdout
    # Each engine has its own, seen by its own client.
    on_podman = sh("podman", "ps", "--filter", f"label=fr.eole.conteneurs.managed={bench.scope}",
                   "--format", "{{.Names}}").stdout.split()
    assert sorted(on_podman) == sorted([bench.name("sur-podman"), bench.name("arriere")])
    on_docker = engine_cli("docker", "ps", "--filter", f"label=fr.eole.conteneurs.managed={bench.scope}",
                           "--format", "{{.Names}}").stdout.split()
    assert on_docker == [bench.name("sur-docker")]
    # Ports on the loopback only, for both.
    for technology, short in (("docker", "sur-docker"), ("podman", "sur-podman")):
        bindings = inspect(technology, bench.name(short))["HostConfig"]["PortBindings"]["80/tcp"]
        assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(ports[technology])}]
        assert http_get(ports[technology]) == f"page {short}"
    # The private network joins the Podman containers by name (Podman's DNS).
    reached = engine_cli("podman", "exec", bench.name("sur-podman"), "wget", "-q", "-O-",
                         f"http://{bench.name('arriere')}/", check=False, timeout=30)
    assert reached.returncode == 0, reached.stderr
    published = bench.command("publish")
    assert published.returncode == 0, published.stdout + published.stderr
    for short in ("sur-docker", "sur-podman"):
        assert https(f"/{bench.name(short)}/")[:2] == (200, f"page {short}")
    status = bench.command("status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    technologies = {entry["nom"]: entry["technologie"] for entry in json.loads(status.stdout)}
    assert technologies == {bench.name("sur-docker"): "docker", bench.name("sur-podman"): "podman",
                            bench.name("arriere"): "podman"}

    before = {name: identity(technology, name) for technology, name in
              (("docker", bench.name("sur-docker")), ("podman", bench.name("sur-podman")),
               ("podman", bench.name("arriere")))}
    since = bench.now()
    again = bench.apply()
    assert again.returncode == 0, again.stdout + again.stderr
    assert bench.events(since, bench.now()) == []
    bench.technology = "podman"
    assert bench.events(since, bench.now()) == [], "no operation on either engine the second time"
    after = {name: identity(technology, name) for technology, name in
             (("docker", bench.name("sur-docker")), ("podman", bench.name("sur-podman")),
              ("podman", bench.name("arriere")))}
    assert after == before
    plan = bench.plan()
    assert plan.returncode == 0 and "Rien à faire." in plan.stdout, plan.stdout + plan.stderr


def test_a_technology_changed_moves_the_container_and_keeps_it_served(bench, nginx_files):
    port = free_port()
    values = enabled(1, httpd(bench, 1, "web", port))
    bench.write(values)
    (bench.root / "www-web").mkdir()
    (bench.root / "www-web" / "index.html").write_text("servie")
    assert bench.apply().returncode == 0
    assert bench.command("publish").returncode == 0
    name = bench.name("web")
    on_docker = identity("docker", name)

    values["conteneur1_technologie"] = "podman"
    bench.write(values)
    plan = bench.plan()
    assert plan.returncode == 2 and "technologie : docker → podman" in plan.stdout, plan.stdout + plan.stderr
    moved = bench.apply()
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert engine_cli("docker", "inspect", name, check=False).returncode != 0, "the Docker one is gone"
    assert inspect("podman", name)["State"]["Running"]
    assert inspect("podman", name)["Id"] != on_docker[0]
    assert http_get(port) == "servie"
    assert https(f"/{name}/")[:2] == (200, "servie")

    del values["conteneur1_technologie"]  # back to the default: Docker
    bench.write(values)
    back = bench.apply()
    assert back.returncode == 0, back.stdout + back.stderr
    assert engine_cli("podman", "inspect", name, check=False).returncode != 0
    assert inspect("docker", name)["State"]["Running"] and http_get(port) == "servie"


def test_podman_containers_come_back_after_a_reboot(bench):
    """No daemon restarts Podman's containers: the package's service runs `eole-conteneurs demarrage` at boot.

    The reboot is played as the host would see it: the API service gone, the containers stopped.
    """
    values, ports = mixed(bench)
    bench.write(values)
    assert bench.apply().returncode == 0
    docker_before = identity("docker", bench.name("sur-docker"))
    sh("pkill", "-f", "podman.*system service", check=False)
    for short in ("sur-podman", "arriere"):
        sh("podman", "stop", "-t", "1", bench.name(short))
    assert not inspect_podman_running(bench.name("sur-podman"))

    unit = (Path(__file__).resolve().parents[2] / "debian" / "eole-conteneurs.service").read_text()
    assert "ExecStart=/usr/bin/eole-conteneurs demarrage" in unit and "WantedBy=multi-user.target" in unit
    booted = bench.command("demarrage")
    assert booted.returncode == 0, booted.stdout + booted.stderr
    assert "Démarrage du service : podman system service" in booted.stdout
    socket = Path("/run/podman/podman.sock").stat()
    assert socket.st_uid == 0 and socket.st_mode & 0o077 == 0, "the API the module started is root's alone"
    # Dependency first, then its dependent once it is healthy.
    started = [line for line in booted.stdout.splitlines() if line.startswith("Démarrage du conteneur")]
    assert started == [f"Démarrage du conteneur : podman start {bench.name('arriere')}",
                       f"Démarrage du conteneur : podman start {bench.name('sur-podman')}"], booted.stdout
    assert inspect_podman_running(bench.name("sur-podman")) and inspect_podman_running(bench.name("arriere"))
    assert http_get(ports["podman"]) == "page sur-podman"
    assert identity("docker", bench.name("sur-docker")) == docker_before, "Docker's are Docker's business"
    again = bench.command("demarrage")
    assert again.returncode == 0 and "déjà démarrés" in again.stdout


def inspect_podman_running(name: str) -> bool:
    return sh("podman", "inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"


def test_podman_absent_names_its_containers_and_docker_ones_still_converge(bench):
    port, other = free_port(), free_port()
    bench.write(enabled(2, httpd(bench, 1, "sur-docker", port), httpd(bench, 2, "sur-podman", other,
                                                                       technologie="podman")))
    hidden = PODMAN.with_name("podman.eole-conteneurs-test")
    os.rename(PODMAN, hidden)
    try:
        result = bench.command_env({"EOLE_CONTENEURS_PODMAN": f"unix://{bench.root}/absent/podman.sock"}, "apply")
    finally:
        os.rename(hidden, PODMAN)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("Podman n'est pas installé sur ce serveur (paquet podman) : conteneur(s) laissé(s) tel(s) quel(s) : "
            f"{bench.name('sur-podman')} (conteneur2_technologie = podman)") in result.stdout + result.stderr, \
        result.stdout + result.stderr
    assert inspect("docker", bench.name("sur-docker"))["State"]["Running"], "Docker's still converge"
    assert engine_cli("podman", "inspect", bench.name("sur-podman"), check=False).returncode != 0


def test_an_unknown_technology_is_refused_and_nothing_is_made(bench):
    bench.write(enabled(2, httpd(bench, 1, "web", free_port()),
                        httpd(bench, 2, "autre", free_port(), technologie="lxc")))
    result = bench.apply()
    assert result.returncode == 1
    assert "conteneur2_technologie" in result.stderr and "lxc" in result.stderr, result.stderr
    assert bench.managed() == []
