"""Convergence against the real dockerd and registry: the seed's behaviour, idempotent."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import (BOTH, LAB, REGISTRY, docker, enabled, free_port, hello, http_get, https, httpd,
                                        image_handled, sh, socket_listening)

TECHNOLOGIES = BOTH


def seed_like(bench, port):
    return enabled(2, hello(bench, 1), httpd(bench, 2, "my-apache-app", port))


def test_seed_containers_run_as_declared(bench):
    port = free_port()
    bench.write(seed_like(bench, port))
    result = bench.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert image_handled(out, f"{REGISTRY}/httpd:2.4"), out
    assert f"Traitement du conteneur {bench.name('hello-world')} (conteneur-1)" in out
    assert "Pas de port de sortie" in out
    assert f"Numéro de port de sortie à configurer : {port}" in out
    assert f"Lancement du conteneur : {bench.technology} run -d --name" in out

    hello_state = bench.inspect(bench.name("hello-world"))
    assert hello_state["State"]["Status"] == "exited" and hello_state["State"]["ExitCode"] == 0
    assert "Hello from Docker" in bench.cli("logs", bench.name("hello-world")).stdout

    apache = bench.inspect(bench.name("my-apache-app"))
    assert apache["State"]["Running"]
    assert apache["Config"]["Image"] == f"{REGISTRY}/httpd:2.4"
    assert apache["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    host_dir = bench.root / "www-my-apache-app"
    assert [(m["Source"], m["Destination"]) for m in apache["Mounts"]] == \
        [(str(host_dir), "/usr/local/apache2/htdocs")]
    # Podman's compatible API shows the option without its value: the kernel's flag tells for both.
    assert {"no-new-privileges:true", "no-new-privileges"} & set(apache["HostConfig"]["SecurityOpt"])
    status = bench.cli("exec", bench.name("my-apache-app"), "cat", "/proc/1/status").stdout
    assert "NoNewPrivs:\t1" in status, status
    assert apache["HostConfig"]["Privileged"] is False
    assert apache["Config"]["Labels"]["fr.eole.conteneurs.managed"] == bench.scope

    assert host_dir.is_dir(), "the host directory is created when missing"
    (host_dir / "index.html").write_text("<h1>page de l'hôte</h1>")
    assert http_get(port) == "<h1>page de l'hôte</h1>"


def test_plan_apply_apply_plan(bench):
    port = free_port()
    bench.write(seed_like(bench, port))
    first_plan = bench.plan()
    assert first_plan.returncode == 2, first_plan.stdout + first_plan.stderr
    assert "créer" in first_plan.stdout
    assert bench.managed() == [], "plan changes nothing"

    since = bench.now()
    assert bench.apply().returncode == 0
    first = bench.events(since, bench.now())
    assert f"start {bench.name('my-apache-app')}" in first, f"the engine's events are read: {first}"
    before = {name: bench.identity(name) for name in bench.managed()}
    assert len(before) == 2

    since = bench.now()
    second = bench.apply()
    assert second.returncode == 0, second.stdout + second.stderr
    assert bench.events(since, bench.now()) == [], "zero container operations the second time"
    for word in ("Extinction", "Suppression", "Lancement", "Démarrage du conteneur"):
        assert word not in second.stdout
    assert {name: bench.identity(name) for name in bench.managed()} == before

    last_plan = bench.plan()
    assert last_plan.returncode == 0, last_plan.stdout + last_plan.stderr
    assert "Rien à faire." in last_plan.stdout


@pytest.mark.parametrize("change", ["tag", "port", "directory"])
def test_one_change_recreates_exactly_one_container(bench, change):
    ports = [free_port(), free_port()]
    values = enabled(3, hello(bench, 1), httpd(bench, 2, "a", ports[0]), httpd(bench, 3, "b", ports[1]))
    bench.write(values)
    assert bench.apply().returncode == 0
    before = {name: bench.identity(name) for name in bench.managed()}

    if change == "tag":
        docker("tag", f"{REGISTRY}/httpd:2.4", f"{REGISTRY}/httpd:{bench.prefix}")
        docker("push", f"{REGISTRY}/httpd:{bench.prefix}")
        values["conteneur3_tag"] = bench.prefix
    elif change == "port":
        values["conteneur3_port_hote"] = {"0": str(free_port())}
    else:
        values["conteneur3_rep_hote"] = [str(bench.root / "autre")]
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, result.stdout + result.stderr

    after = {name: bench.identity(name) for name in bench.managed()}
    changed = sorted(name for name in before if after[name] != before[name])
    assert changed == [bench.name("b")]
    assert bench.managed() == sorted(before), "the old container is removed, no leftover"
    if change == "directory":
        assert (bench.root / "autre").is_dir()


def test_newer_image_behind_same_tag_recreates_non_persistent_only(bench):
    repository = f"{bench.prefix}/httpd"
    sh("bash", LAB, "build-image", f"{repository}:1", "v1", "/bin/httpd", "-f", "-p", "80", "-h",
       "/usr/local/apache2/htdocs")
    ports = [free_port(), free_port()]
    values = enabled(2, httpd(bench, 1, "jetable", ports[0], depot=repository, tag="1"),
                     httpd(bench, 2, "garde", ports[1], depot=repository, tag="1", persistance="oui"))
    bench.write(values)
    assert bench.apply().returncode == 0
    disposable, kept = bench.identity(bench.name("jetable")), bench.identity(bench.name("garde"))

    sh("bash", LAB, "build-image", f"{repository}:1", "v2", "/bin/httpd", "-f", "-p", "80", "-h",
       "/usr/local/apache2/htdocs")
    bench.cli("rmi", f"{REGISTRY}/{repository}:1", check=False)  # as if built elsewhere: only the registry has it
    result = bench.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    pulled = "Downloaded newer image" if bench.technology == "docker" else "récupérée par Podman"
    assert pulled in result.stdout, result.stdout
    assert bench.identity(bench.name("jetable"))[0] != disposable[0]
    assert bench.identity(bench.name("garde")) == kept
    assert f"--recreer {bench.name('garde')}" in result.stdout
    version = bench.cli("exec", bench.name("jetable"), "cat", "/image-version").stdout.strip()
    assert version == "v2"


def test_persistent_container_keeps_its_writable_layer(bench):
    port = free_port()
    values = enabled(1, httpd(bench, 1, "persistant", port, persistance="oui"))
    bench.write(values)
    assert bench.apply().returncode == 0
    name = bench.name("persistant")
    bench.cli("exec", name, "sh", "-c", "echo donnee > /tmp/fichier-interne")
    identity = bench.identity(name)

    values["conteneur1_port_hote"] = {"0": str(free_port())}
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert bench.identity(name) == identity, "a persistent container is not recreated implicitly"
    assert f"eole-conteneurs apply --recreer {name}" in result.stdout
    pending = bench.plan()
    assert pending.returncode == 0, "apply cannot do more without --recreer"
    assert "en attente" in pending.stdout and f"--recreer {name}" in pending.stdout

    bench.cli("stop", "-t", "1", name)
    result = bench.apply()
    assert f"Démarrage du conteneur : {bench.technology} start" in result.stdout
    assert bench.identity(name)[0] == identity[0]
    assert bench.cli("exec", name, "cat", "/tmp/fichier-interne").stdout.strip() == "donnee"

    result = bench.apply("--recreer", name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert bench.identity(name)[0] != identity[0]
    assert bench.cli("exec", name, "cat", "/tmp/fichier-interne", check=False).returncode != 0


def test_undeclared_containers_are_removed_or_stopped(bench):
    ports = [free_port(), free_port(), free_port()]
    values = enabled(3, httpd(bench, 1, "reste", ports[0]), httpd(bench, 2, "jetable", ports[1]),
                     httpd(bench, 3, "garde", ports[2], persistance="oui"))
    bench.write(values)
    assert bench.apply().returncode == 0
    kept = bench.identity(bench.name("reste"))

    values["nombre_conteneurs"] = "1"
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert not bench.exists(bench.name("jetable"))
    garde = bench.inspect(bench.name("garde"))
    assert garde["State"]["Status"] == "exited"
    assert "Image persistante pas de suppression du conteneur" in result.stdout
    assert bench.identity(bench.name("reste")) == kept

    values["activer_conteneurs"] = "non"
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert bench.managed() == [bench.name("garde")]
    assert (bench.root / "www-reste").is_dir(), "host directories are never deleted"


def test_registry_down_keeps_the_old_container(bench):
    port = free_port()
    values = enabled(1, httpd(bench, 1, "web", port))
    bench.write(values)
    assert bench.apply().returncode == 0
    (bench.root / "www-web" / "index.html").write_text("toujours là")
    identity = bench.identity(bench.name("web"))
    sh("bash", LAB, "stop-registry")
    try:
        unchanged = bench.apply()
        assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
        assert "l'image déjà présente localement est utilisée" in unchanged.stdout

        values["conteneur1_tag"] = "introuvable"
        bench.write(values)
        missing = bench.apply()
        assert missing.returncode == 1
        assert f"{REGISTRY}/httpd:introuvable" in missing.stdout
        assert bench.identity(bench.name("web")) == identity
        assert http_get(port) == "toujours là"
    finally:
        sh("bash", LAB, "start-registry")


def test_unknown_tag_leaves_container_running_and_others_converge(bench):
    ports = [free_port(), free_port()]
    values = enabled(1, httpd(bench, 1, "web", ports[0]))
    bench.write(values)
    assert bench.apply().returncode == 0
    identity = bench.identity(bench.name("web"))

    values.update(enabled(2, httpd(bench, 2, "nouveau", ports[1])))
    values["conteneur1_tag"] = "n-existe-pas"
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 1
    assert "n-existe-pas" in result.stdout and "Erreur" in result.stdout
    assert bench.identity(bench.name("web")) == identity
    assert bench.inspect(bench.name("nouveau"))["State"]["Running"]


def test_port_taken_by_another_process_puts_the_old_container_back(bench):
    port = free_port()
    values = enabled(1, httpd(bench, 1, "web", port))
    bench.write(values)
    assert bench.apply().returncode == 0
    (bench.root / "www-web" / "index.html").write_text("ancien")
    identity = bench.identity(bench.name("web"))

    with socket_listening() as taken:
        values["conteneur1_port_hote"] = {"0": str(taken)}
        bench.write(values)
        result = bench.apply()
    assert result.returncode == 1
    assert "remis en service" in result.stdout
    assert bench.identity(bench.name("web"))[0] == identity[0]
    assert bench.inspect(bench.name("web"))["State"]["Running"]
    assert bench.managed() == [bench.name("web")], "no half-created container left"
    assert http_get(port) == "ancien"


def test_new_container_on_a_taken_port_leaves_nothing(bench):
    with socket_listening() as taken:
        bench.write(enabled(2, httpd(bench, 1, "bloque", taken), hello(bench, 2)))
        result = bench.apply()
    assert result.returncode == 1
    assert not bench.exists(bench.name("bloque"))
    assert bench.exists(bench.name("hello-world")), "the other container converged"


def test_unlabelled_same_named_container_is_left_alone(bench):
    name = bench.name("intrus")
    bench.run("-d", "--name", name, f"{REGISTRY}/httpd:2.4")
    try:
        before = bench.identity(name)
        bench.write(enabled(2, httpd(bench, 1, "intrus", free_port()), hello(bench, 2)))
        result = bench.apply()
        assert result.returncode == 1
        assert f"un conteneur « {name} »" in result.stdout
        assert bench.identity(name) == before
        assert bench.exists(bench.name("hello-world"))
        assert bench.plan().returncode == 1
    finally:
        bench.cli("rm", "-f", name, check=False)


def test_refused_configuration_changes_nothing(bench, nginx_files):
    port = free_port()
    values = enabled(1, httpd(bench, 1, "web", port))
    bench.write(values)
    assert bench.apply().returncode == 0
    identity = bench.identity(bench.name("web"))
    values["conteneur1_rep_hote"] = ["/etc"]
    values["conteneur1_tag"] = "autre"
    bench.write(values)
    for run in (bench.apply, bench.plan, lambda: bench.hook("pretemplate"), lambda: bench.hook("posttemplate")):
        result = run()
        assert result.returncode == 1
        assert "conteneur1_rep_hote" in result.stderr
    assert bench.identity(bench.name("web")) == identity


def test_hooks_pull_then_converge(bench, nginx_files):
    port = free_port()
    values = enabled(1, httpd(bench, 1, "web", port))
    bench.write(values)
    pre = bench.hook("pretemplate", "instance")
    assert pre.returncode == 0, pre.stdout + pre.stderr
    assert image_handled(pre.stdout, f"{REGISTRY}/httpd:2.4"), pre.stdout
    assert bench.managed() == [], "pretemplate touches no container"
    post = bench.hook("posttemplate", "instance")
    assert post.returncode == 0, post.stdout + post.stderr
    assert "docker pull" not in post.stdout, "images were pulled by pretemplate"
    identity = bench.identity(bench.name("web"))
    (bench.root / "www-web" / "index.html").write_text("publiée")
    assert https(f"/{bench.name('web')}/")[:2] == (200, "publiée"), "posttemplate published nginx"

    values["conteneur1_port_hote"] = {"0": str(free_port())}
    bench.write(values)
    assert bench.hook("pretemplate").returncode == 0
    assert bench.identity(bench.name("web")) == identity, "pretemplate touches no running container"
    assert bench.hook("posttemplate").returncode == 0
    assert bench.identity(bench.name("web"))[0] != identity[0]


def test_hooks_do_nothing_when_disabled(bench, nginx_files):
    bench.write({"activer_conteneurs": "non"})
    pre = bench.hook("pretemplate")
    assert pre.returncode == 0 and "docker pull" not in pre.stdout
    assert "désactivée" in pre.stdout
    assert bench.hook("posttemplate").returncode == 0


def test_engine_down_is_a_clear_error(bench):
    """Its service down and impossible to start: exit 1, the service and the container named."""
    bench.write(enabled(1, hello(bench, 1)))
    if bench.technology == "docker":
        env = {"DOCKER_HOST": f"unix://{bench.root}/absent.sock"}
        said, tried = "le service Docker ne répond pas", "service docker start"
    else:  # a socket nobody may create: the service started by the module ends at once
        env = {"EOLE_CONTENEURS_PODMAN": "unix:///proc/eole-conteneurs-absent/podman.sock"}
        said, tried = "Service Podman arrêté et impossible à démarrer", "podman system service"
    started = time.monotonic()
    result = bench.hook("pretemplate", env=env)
    assert result.returncode == 1
    assert said in result.stderr and bench.name("hello-world") in result.stderr, result.stderr
    assert tried in result.stdout
    assert time.monotonic() - started < 200


def two_web_containers(bench) -> tuple[list[int], dict]:
    """Containers a and b deployed, each serving its own name on its own port."""
    ports = [free_port(), free_port()]
    values = enabled(2, httpd(bench, 1, "a", ports[0]), httpd(bench, 2, "b", ports[1]))
    bench.write(values)
    assert bench.apply().returncode == 0
    for short in ("a", "b"):
        (bench.root / f"www-{short}" / "index.html").write_text(short)
    return ports, values


def test_two_containers_swapping_host_ports_converge_in_one_run(bench):
    """Issue 14, item 6: recreated together, both on the other's port; the next run changes nothing."""
    ports, values = two_web_containers(bench)
    before = {name: bench.identity(name) for name in bench.managed()}

    values["conteneur1_port_hote"], values["conteneur2_port_hote"] = {"0": str(ports[1])}, {"0": str(ports[0])}
    bench.write(values)
    plan = bench.plan()
    started = time.monotonic()
    result = bench.apply()
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert bench.managed() == sorted(before), "no set-aside container left"
    assert all(bench.identity(name)[0] != before[name][0] for name in before)
    assert (http_get(ports[0]), http_get(ports[1])) == ("b", "a")
    assert result.stdout.count("Extinction du conteneur") == 2, "each old one stopped once"
    assert f"recréés ensemble ({bench.name('a')} prend le port 127.0.0.1:{ports[1]} de {bench.name('b')}" \
        in plan.stdout, plan.stdout
    print(f"échange de ports : {elapsed:.1f} s")

    after = {name: bench.identity(name) for name in bench.managed()}
    again = bench.apply()
    assert again.returncode == 0 and {name: bench.identity(name) for name in bench.managed()} == after
    assert "Extinction" not in again.stdout and "Rien à faire." in bench.plan().stdout


def test_swapping_onto_a_port_another_program_holds_puts_both_containers_back(bench):
    ports, values = two_web_containers(bench)
    before = {name: bench.identity(name)[0] for name in bench.managed()}

    with socket_listening() as taken:
        values["conteneur1_port_hote"], values["conteneur2_port_hote"] = {"0": str(ports[1])}, {"0": str(taken)}
        bench.write(values)
        result = bench.apply()
    assert result.returncode == 1
    assert f"conteneur {bench.name('b')} (ports de l'hôte : 127.0.0.1:{taken})" in result.stdout
    assert "les anciens conteneurs sont remis en service" in result.stdout
    assert {name: bench.inspect(name)["Id"] for name in bench.managed()} == before, "the old ones, under their names"
    assert all(bench.inspect(name)["State"]["Running"] for name in before)
    assert (http_get(ports[0]), http_get(ports[1])) == ("a", "b")


PERSISTENCE_REGISTRY = "/var/lib/eole-conteneurs/persistants"


def remembered(container_id: str) -> bool:
    with open(PERSISTENCE_REGISTRY, encoding="utf-8") as registry:
        return container_id in registry.read().split()


def test_persistence_remembered_by_id_lasts_until_recreer(bench):
    """Issue 14, item 8: created non-persistent, declared persistent, then non-persistent with a new tag: kept
    (change pending) run after run, its id remembered, until `apply --recreer`."""
    values = enabled(1, httpd(bench, 1, "web", free_port()))
    bench.write(values)
    assert bench.apply().returncode == 0
    name = bench.name("web")
    identity = bench.identity(name)

    values["conteneur1_persistance"] = "oui"
    bench.write(values)
    assert bench.apply().returncode == 0 and bench.identity(name) == identity
    assert remembered(identity[0])

    docker("tag", f"{REGISTRY}/httpd:2.4", f"{REGISTRY}/httpd:{bench.prefix}")
    docker("push", f"{REGISTRY}/httpd:{bench.prefix}")
    values["conteneur1_persistance"], values["conteneur1_tag"] = "non", bench.prefix
    bench.write(values)
    for run in ("A", "B"):
        result = bench.apply()
        assert result.returncode == 0, result.stdout + result.stderr
        assert bench.identity(name) == identity, f"run {run}: not recreated without --recreer"
        assert remembered(identity[0]), f"run {run}: still protected"
        assert "persistance : oui → non, prise en compte à la prochaine recréation" in result.stdout
        assert f"eole-conteneurs apply --recreer {name}" in result.stdout

    result = bench.apply("--recreer", name)
    assert result.returncode == 0, result.stdout + result.stderr
    new = bench.identity(name)[0]
    assert new != identity[0] and not remembered(identity[0]) and not remembered(new)
    assert "Rien à faire." in bench.plan().stdout
