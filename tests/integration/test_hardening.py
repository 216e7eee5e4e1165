"""Issue 14 against the real dockerd: ownership that an image cannot give, the defaults every container
gets, shared directories checked again before use, and a config.eol that says nothing about containers."""

from __future__ import annotations

import io
import os

from eole_conteneurs.config.loading import load_validated
from eole_conteneurs.containers.executor import Converger
from eole_conteneurs.journal import Journal

from tests.integration.conftest import BOTH, enabled, free_port, http_get, httpd

TECHNOLOGIES = BOTH


def applied(bench, values):
    bench.write(values)
    result = bench.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_a_copy_run_from_a_committed_image_is_not_the_modules(bench):
    port = free_port()
    web = bench.name("web")
    applied(bench, enabled(1, httpd(bench, 1, "web", port)))
    image, copy = f"{bench.prefix}-copie:1", bench.name("copie")
    bench.cli("commit", web, image)
    try:
        bench.run("-d", "--name", copy, image)
        labels = bench.inspect(copy)["Config"]["Labels"]
        assert labels["fr.eole.conteneurs.managed"] == bench.scope, "the copy did inherit the labels"
        copy_id = bench.inspect(copy)["Id"]

        plan = bench.plan()
        assert copy not in plan.stdout, plan.stdout  # neither « supprimer » nor anything else
        # Nothing declared any more: the module's container goes, the copy stays.
        applied(bench, {"activer_conteneurs": "oui", "nombre_conteneurs": "1",
                        **httpd(bench, 1, "autre", free_port())})
        assert not bench.exists(web)
        assert bench.inspect(copy)["Id"] == copy_id
        # Under a declared name, it is a conflict: reported, never recreated.
        bench.cli("rm", "-f", copy)
        bench.run("-d", "--name", web, image)
        taken_id = bench.inspect(web)["Id"]
        bench.write(enabled(1, httpd(bench, 1, "web", port)))
        refused = bench.apply()
        assert refused.returncode != 0 and "n'est pas géré par eole-conteneurs" in refused.stdout + refused.stderr
        assert bench.inspect(web)["Id"] == taken_id
    finally:
        bench.cli("rm", "-f", copy, web, check=False)
        bench.cli("rmi", image, check=False)


def test_containers_start_without_the_capabilities_they_do_not_need(bench):
    port = free_port()
    values = enabled(2, httpd(bench, 1, "sobre", port),
                     httpd(bench, 2, "ping", free_port(), capacites=["NET_RAW"], processus_max="300"))
    applied(bench, values)
    plain = bench.inspect(bench.name("sobre"))["HostConfig"]
    assert {"no-new-privileges:true", "no-new-privileges"} & set(plain["SecurityOpt"])  # Podman: without value
    assert sorted(plain["CapDrop"]) == ["AUDIT_WRITE", "MKNOD", "NET_RAW", "SETFCAP", "SETPCAP", "SYS_CHROOT"]
    assert plain["PidsLimit"] == 4096
    (bench.root / "www-sobre" / "index.html").write_text("sobre")
    assert http_get(port) == "sobre", "a web service runs without them"
    given = bench.inspect(bench.name("ping"))["HostConfig"]
    assert "NET_RAW" not in given["CapDrop"] and given["PidsLimit"] == 300
    # Unchanged declarations: nothing touched on the next run.
    again = bench.apply()
    assert again.returncode == 0 and "Recréation" not in again.stdout


def test_a_config_eol_without_the_module_variables_touches_nothing(bench):
    web = bench.name("web")
    applied(bench, enabled(1, httpd(bench, 1, "web", free_port())))
    before = bench.identity(web)
    bench.config_path.write_text("{}")
    result = bench.apply()
    assert "activer_conteneurs n'est pas enregistré" in result.stdout + result.stderr
    assert bench.identity(web) == before
    plan = bench.plan()
    assert plan.returncode == 0 and "activer_conteneurs n'est pas enregistré" in plan.stdout
    assert "Docker ne tourne pas" not in plan.stdout
    applied(bench, {"activer_conteneurs": "non"})  # said explicitly: the disposable container goes
    assert not bench.exists(web)


def test_the_resolved_host_directory_is_bound(bench):
    real = bench.root / "vrai"
    real.mkdir()
    (bench.root / "lien").symlink_to(real)
    applied(bench, enabled(1, httpd(bench, 1, "web", free_port(), rep_hote=[str(bench.root / "lien")])))
    mounts = bench.inspect(bench.name("web"))["Mounts"]
    assert [mount["Source"] for mount in mounts if mount["Type"] == "bind"] == [str(real)]


def test_a_directory_swapped_after_validation_is_neither_bound_nor_started(bench):
    """Validation saw a plain directory; between it and the creation (or a later start) the path became a
    link to /etc: the container is not made onto /etc, and a stopped one is not started onto it."""
    data = bench.root / "donnees"
    loaded = load_validated(bench.write(enabled(1, httpd(bench, 1, "web", free_port(), rep_hote=[str(data)]))))
    specs = loaded.configuration.containers
    data.symlink_to("/etc")
    engine = bench.engine()
    journal = Journal(io.StringIO())
    converger = Converger(engine, journal, bench.scope)
    converger.apply(converger.plan(specs, converger.pull(specs)))
    assert journal.failed and "conteneur1_rep_hote" in journal.out.getvalue(), journal.out.getvalue()
    assert not bench.exists(bench.name("web"))

    data.unlink()
    converger.apply(converger.plan(specs, converger.pull(specs)))  # made on a plain directory
    bench.cli("stop", "-t", "1", bench.name("web"))
    os.rename(data, bench.root / "ailleurs")
    data.symlink_to("/etc")
    journal = Journal(io.StringIO())
    converger = Converger(engine, journal, bench.scope)
    converger.apply(converger.plan(specs, converger.pull(specs)))
    assert journal.failed and "/etc" in journal.out.getvalue(), journal.out.getvalue()
    assert bench.inspect(bench.name("web"))["State"]["Running"] is False
