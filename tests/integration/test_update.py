"""`eole-conteneurs mise-a-jour` against the real dockerd, a registry and nginx (issue « mises à jour d'images »).

Each test publishes its own busybox web images (tests/integration/conftest.push_web_image) on a registry of
this file's own (fault tests stop the shared one now and then): version 1 is deployed by `reconfigure`, a later
version is pushed under the same tag, and what the module does with it is checked from outside — exit codes,
its journal, `docker inspect`, the page on the container's host port and through nginx.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass

import pytest

from tests.integration.conftest import (BOTH, CHECKOUT, WEB_D, WEB_IMAGE_CHECK, enabled, free_port, http_get, https,
                                       push_web_image, sh, technology_of, timestamp)

TECHNOLOGIES = BOTH
DIAGNOSE = ("/usr/bin/python3", "-m", "eole_conteneurs.commands.diagnose")


@pytest.fixture(scope="module")
def registry(lab, tmp_path_factory):
    """A registry (Debian's docker-registry) on a free port of 127.0.0.1, for this file's tests only: "host:port"."""
    root = tmp_path_factory.mktemp("registre")
    address = f"127.0.0.1:{free_port()}"
    (root / "registry.yml").write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                                       f"    rootdirectory: {root / 'donnees'}\nhttp:\n  addr: {address}\n")
    with open(root / "registry.log", "wb") as log:
        process = subprocess.Popen(["/usr/bin/docker-registry", "serve", str(root / "registry.yml")],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{address}/v2/", timeout=2).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (root / "registry.log").read_text()
                time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Images:
    """The test's image repositories on the file's registry: f"{bench.prefix}-<short>"."""

    hub: str
    prefix: str

    def repository(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    def ref(self, short: str) -> str:
        return f"{self.hub}/{self.repository(short)}:1"


@pytest.fixture
def images(bench, registry):
    """The test's Images; their local images removed after it, with the containers that use them."""
    yield Images(registry, bench.prefix)
    bench.cleanup()  # the containers first (bench's own teardown then finds nothing left)
    listed = [line.split() for line in bench.cli("images", "--format", "{{.Repository}} {{.ID}}").stdout.splitlines()]
    ids = sorted({entry[1] for entry in listed
                  if len(entry) == 2 and entry[0].partition("/")[2].startswith(f"{bench.prefix}-")})
    if ids:
        bench.cli("rmi", "-f", *ids, check=False)


def web(bench, images: Images, index: int, short: str, port: int, repository: str = "", **extra) -> dict:
    """Variables of one container of a test image (its repository: short unless given), tag 1, short delays."""
    values = {
        f"conteneur{index}_nom": bench.name(short),
        f"conteneur{index}_hub": images.hub,
        f"conteneur{index}_depot": images.repository(repository or short),
        f"conteneur{index}_tag": "1",
        f"conteneur{index}_port_conteneur": ["80"],
        f"conteneur{index}_port_hote": {"0": str(port)},
        f"conteneur{index}_persistance": "non",
        f"conteneur{index}_sante_delai": "12",
        f"conteneur{index}_mise_a_jour_delai": "2",
        **technology_of(bench, index),
    }
    values.update({f"conteneur{index}_{key}": value for key, value in extra.items()})
    return values


def reconfigure(bench) -> subprocess.CompletedProcess:
    result = bench.command("reconfigure")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def update(bench, *args) -> subprocess.CompletedProcess:
    return bench.command("mise-a-jour", *args)


def published(name: str) -> bool:
    return any(f"location /{name}/ {{" in snippet.read_text() for snippet in WEB_D.glob("conteneur*.conf"))


def page(bench, name: str) -> tuple[int, str]:
    """(status, body) of the service's page on its host port and, through nginx (https://127.0.0.1/<name>/), the
    same. Other benches publish through the same nginx meanwhile, and put their own files back after them: it is
    asked through nginx while this bench's publication is in place."""
    port = bench.inspect(name)["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"]
    direct = (200, http_get(int(port)))
    if published(name):
        status, body, _ = https(f"/{name}/")
        if published(name):  # not replaced by another bench's in between
            assert (status, body) == direct, f"nginx: {status} {body}"
    return direct


def copies(bench, name: str) -> list[str]:
    """The test's containers of the service name: itself and any set aside (name--ancien-…)."""
    return [other for other in bench.managed() if other == name or other.startswith(f"{name}--")]


def image_id(bench, ref: str) -> str:
    return bench.cli("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def status_json(bench) -> dict:
    result = bench.command("status", "--json")
    return {entry["nom"]: entry for entry in json.loads(result.stdout)}


def deployed(bench, *containers: dict) -> None:
    bench.write(enabled(len(containers), *containers))
    reconfigure(bench)


def deployed_app(bench, images: Images, healthcheck: bool = False, **extra) -> tuple[str, str, dict]:
    """The test image's container "app", version 1 (its image's health check: healthcheck), deployed by
    reconfigure: its name, its image reference and the values written."""
    name, ref = bench.name("app"), images.ref("app")
    push_web_image(ref, "1", healthcheck=healthcheck)
    values = enabled(1, web(bench, images, 1, "app", free_port(), **extra))
    bench.write(values)
    reconfigure(bench)
    return name, ref, values


# -- 1. a good update ------------------------------------------------------------------------------

def test_a_healthy_new_version_replaces_the_old_one(bench, images, nginx_files):
    name, ref, _ = deployed_app(bench, images, sante_commande=WEB_IMAGE_CHECK)
    assert page(bench, name) == (200, "version 1")
    old = bench.inspect(name)

    digest = push_web_image(ref, "2")
    check = update(bench, "--verifier")
    assert check.returncode == 2, check.stdout + check.stderr
    row = next(line for line in check.stdout.splitlines() if name in line)
    assert "nouvelle version sur le registre" in row and digest.removeprefix("sha256:")[:12] in row
    # The version in service by its registry digest, the one the registry's is compared with.
    in_service = json.loads(bench.cli("image", "inspect", "--format", "{{json .RepoDigests}}", old["Image"]).stdout)
    assert in_service and in_service[0].rpartition("@sha256:")[2][:12] in row
    assert image_id(bench, ref) == old["Image"], "--verifier pulls nothing"
    assert update(bench, "--verifier", name).returncode == 2
    for args in (("--verifier", bench.name("inconnu")), (bench.name("inconnu"),)):
        unknown = update(bench, *args)
        assert unknown.returncode == 1 and f"conteneur non déclaré : {bench.name('inconnu')}" in unknown.stderr
    assert bench.inspect(name)["Id"] == old["Id"]

    result = update(bench)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Nouvelle version de {name} saine" in result.stdout
    assert page(bench, name) == (200, "version 2")
    assert copies(bench, name) == [name]
    new = bench.inspect(name)
    assert new["Id"] != old["Id"] and new["Image"] != old["Image"] and new["State"]["Running"]
    assert new["Image"] == image_id(bench, ref)
    assert not bench.cli("ps", "-aq", "--filter", f"id={old['Id']}").stdout.strip()

    again = update(bench, "--verifier")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "à jour" in next(line for line in again.stdout.splitlines() if name in line)
    assert status_json(bench)[name]["mise_a_jour"].startswith("appliquée")


# -- 2. an unhealthy new version (declared health check) -------------------------------------------

def test_a_new_version_failing_its_health_check_is_rolled_back_and_not_taken_again(bench, images, nginx_files):
    name, ref, _ = deployed_app(bench, images, sante_commande=WEB_IMAGE_CHECK, sante_delai="8")
    old = bench.inspect(name)
    push_web_image(ref, "2", mode="malade")

    result = update(bench)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Nouvelle version de {name} non saine (toujours « starting » après 8 s" in result.stdout
    assert "retour à la version précédente" in result.stdout
    assert page(bench, name) == (200, "version 1")
    assert copies(bench, name) == [name]
    state = bench.inspect(name)
    assert (state["Id"], state["Image"]) == (old["Id"], old["Image"]) and state["State"]["Running"]
    assert image_id(bench, ref) != old["Image"], "the new image was pulled"

    # Said by status, status --json and diagnose.
    status = bench.command("status")
    row = next(line for line in status.stdout.splitlines() if line.startswith(name))
    assert "annulée" in row and "Mise à jour" in status.stdout
    assert status_json(bench)[name]["mise_a_jour"].startswith("annulée")
    diagnose = sh(*DIAGNOSE, env=bench.env, cwd=CHECKOUT)
    assert any(line.startswith(f".  Mise à jour {name}") and "=> Erreur" in line
               for line in diagnose.stdout.splitlines()), diagnose.stdout

    # Not taken again by itself: reconfigure, plan, --verifier and mise-a-jour leave the previous version.
    identity = bench.identity(name)
    reconfigure(bench)
    assert bench.identity(name) == identity
    plan = bench.plan()
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "en attente" in plan.stdout and "n'a pas été saine" in plan.stdout
    check = update(bench, "--verifier")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "refusée" in next(line for line in check.stdout.splitlines() if name in line)
    quiet = update(bench)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "Aucune mise à jour à installer." in quiet.stdout and bench.identity(name) == identity

    # Asked by name: tried again, and rolled back again.
    retry = update(bench, name)
    assert retry.returncode == 1, retry.stdout + retry.stderr
    assert "retour à la version précédente" in retry.stdout
    assert page(bench, name) == (200, "version 1")
    assert copies(bench, name) == [name] and bench.inspect(name)["Id"] == old["Id"]


# -- 3. a new version that ends at once (no health check) -----------------------------------------

def test_a_new_version_that_stops_at_once_is_rolled_back(bench, images, nginx_files):
    name, ref, _ = deployed_app(bench, images, mise_a_jour_delai="3")
    old = bench.inspect(name)
    assert page(bench, name) == (200, "version 1")
    push_web_image(ref, "2", mode="arret")

    result = update(bench)
    assert result.returncode == 1, result.stdout + result.stderr
    # Seen exited, or already restarted by Docker (--restart unless-stopped): either way, not kept.
    assert re.search(rf"Nouvelle version de {name} non saine \((redémarrée par Docker après un arrêt|arrêtée) "
                     r"\(code 3\)\) : retour à la version précédente", result.stdout), result.stdout
    assert page(bench, name) == (200, "version 1")
    assert copies(bench, name) == [name]
    state = bench.inspect(name)
    assert state["Id"] == old["Id"] and state["State"]["Running"]


# -- 4. the image's own HEALTHCHECK ---------------------------------------------------------------

def test_the_images_health_check_decides(bench, images, nginx_files):
    name, ref, _ = deployed_app(bench, images, healthcheck=True)
    old = bench.inspect(name)
    assert old["Config"]["Healthcheck"]["Test"][-1].startswith(WEB_IMAGE_CHECK), "no declared check: the image's"

    push_web_image(ref, "2", healthcheck=True)
    result = update(bench)
    assert result.returncode == 0, result.stdout + result.stderr
    if bench.technology == "docker":  # Podman's check runs when its state is read (engine/podman.py): no wait
        assert f"Vérification de la nouvelle version de {name} : attente de « healthy » (au plus 12 s)" in result.stdout
    assert f"Nouvelle version de {name} saine" in result.stdout, result.stdout
    assert page(bench, name) == (200, "version 2")
    new = bench.inspect(name)
    assert new["Id"] != old["Id"] and new["State"]["Health"]["Status"] == "healthy"
    assert copies(bench, name) == [name]

    # Its check failing (2 retries, 1 s apart): rolled back once unhealthy, not at the end of the delay.
    push_web_image(ref, "3", mode="malade", healthcheck=True)
    bad = update(bench)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"Nouvelle version de {name} non saine (vérification de santé en échec (code 1" in bad.stdout
    assert page(bench, name) == (200, "version 2")
    assert bench.inspect(name)["Id"] == new["Id"] and copies(bench, name) == [name]


# -- 5. the containers that depend on an updated one ------------------------------------------------

def test_dependents_are_restarted_once_the_new_version_is_healthy(bench, images, nginx_files):
    base, app, base_ref = bench.name("base"), bench.name("appli"), images.ref("base")
    push_web_image(base_ref, "1", healthcheck=True)
    push_web_image(images.ref("appli"), "1")
    deployed(bench, web(bench, images, 1, "base", free_port()),
             web(bench, images, 2, "appli", free_port(), dependance=[base]))
    app_before = bench.inspect(app)

    push_web_image(base_ref, "2", healthcheck=True)
    result = update(bench)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    healthy = next(i for i, line in enumerate(lines) if line.startswith(f"Nouvelle version de {base} saine"))
    restart = next(i for i, line in enumerate(lines)
                   if line.startswith(f"Redémarrage de {app}, qui dépend de {base} (mis à jour)"))
    assert healthy < restart
    assert f"Recréation du conteneur {app}" not in result.stdout, "only the updated one is recreated"

    new_base, app_after = bench.inspect(base), bench.inspect(app)
    first_healthy = min(timestamp(entry["End"]) for entry in new_base["State"]["Health"]["Log"]
                        if entry["ExitCode"] == 0)
    assert timestamp(app_after["State"]["StartedAt"]) > first_healthy > timestamp(new_base["State"]["StartedAt"])
    assert app_after["Id"] == app_before["Id"] and app_after["State"]["Running"]
    assert timestamp(app_after["State"]["StartedAt"]) > timestamp(app_before["State"]["StartedAt"])
    assert page(bench, base) == (200, "version 2") and page(bench, app) == (200, "version 1")

    # A new version rolled back: the dependents keep running as they were.
    app_identity = bench.identity(app)
    push_web_image(base_ref, "3", mode="malade", healthcheck=True)
    bad = update(bench)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "retour à la version précédente" in bad.stdout and "Redémarrage" not in bad.stdout
    assert bench.identity(app) == app_identity and bench.inspect(base)["Id"] == new_base["Id"]
    assert page(bench, base) == (200, "version 2")


# -- 6. a registry that does not answer ------------------------------------------------------------

class closed_port:
    """A port of 127.0.0.1 bound and never listened on: connections are refused, and nobody else takes it."""

    def __enter__(self) -> int:
        import socket
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        return self.socket.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.socket.close()


def test_a_registry_that_does_not_answer_changes_nothing(bench, images, nginx_files):
    name, other = bench.name("perdu"), bench.name("autre")
    push_web_image(images.ref("autre"), "1")
    with closed_port() as port:
        hub = f"127.0.0.1:{port}"
        lost_ref = f"{hub}/{images.repository('perdu')}:1"
        # Its registry is gone since its image was pulled: the host has it, under that registry's name.
        push_web_image(images.ref("perdu"), "1")
        bench.pull(images.ref("perdu"))
        bench.cli("tag", images.ref("perdu"), lost_ref)
        bench.write(enabled(2, web(bench, images, 1, "perdu", free_port(), hub=hub),
                            web(bench, images, 2, "autre", free_port())))
        first = reconfigure(bench)
        assert f"l'image déjà présente localement est utilisée ({lost_ref})" in first.stdout
        identity = bench.identity(name)
        push_web_image(images.ref("autre"), "2")

        check = update(bench, "--verifier")
        assert check.returncode == 1, check.stdout + check.stderr
        row = next(line for line in check.stdout.splitlines() if line.startswith(name))
        assert lost_ref in row and "registre injoignable ou en erreur" in row
        assert "nouvelle version sur le registre" in next(line for line in check.stdout.splitlines()
                                                          if line.startswith(other))

        result = update(bench)
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"{name} : registre injoignable ou en erreur" in result.stdout + result.stderr
        assert "rien n'est modifié pour ce conteneur" in result.stdout + result.stderr
        assert bench.identity(name) == identity and copies(bench, name) == [name]
        assert image_id(bench, lost_ref) == bench.inspect(name)["Image"]
    # The other registry's update is installed all the same.
    assert page(bench, other) == (200, "version 2")


# -- 7. persistent containers: only with the administrator's consent -------------------------------

def test_a_persistent_container_is_updated_only_with_consent(bench, images, nginx_files):
    name, ref = bench.name("garde"), images.ref("garde")
    push_web_image(ref, "1")
    values = enabled(1, web(bench, images, 1, "garde", free_port(), persistance="oui"))
    bench.write(values)
    reconfigure(bench)
    identity, old_image = bench.identity(name), bench.inspect(name)["Image"]
    push_web_image(ref, "2")

    check = update(bench, "--verifier")
    assert check.returncode == 2, check.stdout + check.stderr
    assert "conteneur persistant, mis à jour seulement avec conteneur1_mise_a_jour_auto = oui" in check.stdout
    result = update(bench)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Aucune mise à jour à installer." in result.stdout
    assert bench.identity(name) == identity and page(bench, name) == (200, "version 1")

    # Refused: reconfigure does not even pull it.
    values["conteneur1_mise_a_jour_auto"] = "non"
    bench.write(values)
    refused = reconfigure(bench)
    assert f"Image conservée, mises à jour refusées (mise_a_jour_auto = non) : {ref}" in refused.stdout
    assert image_id(bench, ref) == old_image
    refused_check = update(bench, "--verifier")
    assert "mises à jour refusées (conteneur1_mise_a_jour_auto = non)" in refused_check.stdout
    assert refused_check.returncode == 0, "the administrator's refusal is not an update for monitoring"
    assert update(bench).returncode == 0
    named = update(bench, name)  # asked by name, refused: said, naming the variable
    assert named.returncode == 1 and "mise à jour non acceptée (conteneur1_mise_a_jour_auto = non)" in named.stdout
    assert bench.identity(name) == identity and image_id(bench, ref) == old_image

    # Consented: installed, and the new container is persistent too.
    values["conteneur1_mise_a_jour_auto"] = "oui"
    bench.write(values)
    consented = update(bench)
    assert consented.returncode == 0, consented.stdout + consented.stderr
    assert page(bench, name) == (200, "version 2")
    state = bench.inspect(name)
    assert state["Id"] != identity[0] and state["Config"]["Labels"]["fr.eole.conteneurs.persistant"] == "oui"
    assert copies(bench, name) == [name]
    assert update(bench, "--verifier").returncode == 0


# -- 8. an image pinned to its digest ---------------------------------------------------------------

def test_an_image_pinned_to_a_digest_is_never_updated(bench, images, nginx_files):
    ref = images.ref("fixe")
    digest = push_web_image(ref, "1")
    one, two = bench.name("fixe"), bench.name("fixe-bis")
    bench.write(enabled(2, web(bench, images, 1, "fixe", free_port(), tag=f"@{digest}"),
                        web(bench, images, 2, "fixe-bis", free_port(), repository="fixe", tag=digest)))
    reconfigure(bench)
    pinned = f"{images.hub}/{images.repository('fixe')}@{digest}"
    assert bench.inspect(one)["Config"]["Image"] == pinned == bench.inspect(two)["Config"]["Image"]
    identities = [bench.identity(one), bench.identity(two)]
    push_web_image(ref, "2")

    check = update(bench, "--verifier")
    assert check.returncode == 0, check.stdout + check.stderr
    rows = [line for line in check.stdout.splitlines() if line.startswith((one + " ", two + " "))]
    assert len(rows) == 2 and all(pinned in row and "épinglée" in row for row in rows), check.stdout
    result = update(bench)
    assert result.returncode == 0, result.stdout + result.stderr
    assert update(bench, one).returncode == 0
    reconfigure(bench)
    assert [bench.identity(one), bench.identity(two)] == identities
    assert page(bench, one) == (200, "version 1") and page(bench, two) == (200, "version 1")


# -- 9. reconfigure's recreations: the same verdict ------------------------------------------------

def test_a_recreation_by_reconfigure_that_is_not_healthy_is_rolled_back(bench, images, nginx_files):
    name, ref, values = deployed_app(bench, images)
    old = bench.inspect(name)

    # A changed command that ends at once: the previous container serves again.
    values["conteneur1_commande"] = "sh -c 'exit 4'"
    bench.write(values)
    result = bench.command("reconfigure")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Recréation du conteneur {name} : commande" in result.stdout
    assert f"Nouvelle version de {name} non saine" in result.stdout
    assert "retour à la version précédente" in result.stdout
    state = bench.inspect(name)
    assert state["Id"] == old["Id"] and state["State"]["Running"] and copies(bench, name) == [name]
    assert page(bench, name) == (200, "version 1")

    # A new image pulled by reconfigure that ends at once: rolled back, and not taken again by the next one.
    del values["conteneur1_commande"]
    bench.write(values)
    assert bench.plan().returncode == 0, "the previous container is the declared one"
    push_web_image(ref, "2", mode="arret")
    pulled = bench.command("reconfigure")
    assert pulled.returncode == 1, pulled.stdout + pulled.stderr
    assert f"{bench.technology} pull {ref}" in pulled.stdout and "retour à la version précédente" in pulled.stdout
    assert page(bench, name) == (200, "version 1") and bench.inspect(name)["Id"] == old["Id"]
    identity = bench.identity(name)
    reconfigure(bench)
    assert bench.identity(name) == identity and copies(bench, name) == [name]
    assert status_json(bench)[name]["mise_a_jour"].startswith("annulée")

    # A settings change made since is applied with the image in service, not the rolled-back one.
    values["conteneur1_env_nom"] = ["MODE"]
    values["conteneur1_env_valeur"] = {"0": "x"}
    bench.write(values)
    changed = bench.command("reconfigure")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "avec l'image en service" in changed.stdout
    state = bench.inspect(name)
    assert state["Id"] != old["Id"] and state["Image"] == old["Image"] and "MODE=x" in state["Config"]["Env"]
    assert page(bench, name) == (200, "version 1") and copies(bench, name) == [name]


# -- 10. an update killed half-way (kill -9) --------------------------------------------------------

def killed_update(bench, name: str) -> None:
    """mise-a-jour killed (its whole process group, SIGKILL) while it checks the new version: the old container
    set aside (name--ancien-…), the new one under the name."""
    process = subprocess.Popen(["/usr/bin/python3", "-m", "eole_conteneurs", "mise-a-jour", "--config",
                                str(bench.config_path)], env=bench.env, cwd=CHECKOUT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while len(copies(bench, name)) < 2:
            assert process.poll() is None, "mise-a-jour ended before the new version was checked"
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize(("mode", "next_run", "served", "code"),
                         [("sain", "apply", "version 2", 0), ("malade", "mise-a-jour", "version 1", 1)])
def test_an_update_killed_half_way_is_finished_or_rolled_back_by_the_next_run(bench, images, nginx_files,
                                                                             mode, next_run, served, code):
    name, ref, _ = deployed_app(bench, images, sante_commande=WEB_IMAGE_CHECK, sante_delai="6")
    old = bench.inspect(name)
    push_web_image(ref, "2", mode=mode)

    killed_update(bench, name)
    assert copies(bench, name) == [name, f"{name}--ancien-{old['Id'][:12]}"]
    assert bench.inspect(name)["Id"] != old["Id"]

    result = bench.command(next_run)
    assert result.returncode == code, result.stdout + result.stderr
    assert f"Conteneur {name} : recréation interrompue : le nouveau conteneur" in result.stdout
    assert copies(bench, name) == [name], "never two containers of one service"
    assert page(bench, name) == (200, served)
    state = bench.inspect(name)
    assert state["State"]["Running"] and (state["Id"] == old["Id"]) == (mode == "malade")
    again = update(bench)
    assert again.returncode == 0, again.stdout + again.stderr
    assert bench.identity(name) == (state["Id"], state["State"]["StartedAt"])


# -- a declaration changed since the last reconfigure ---------------------------------------------

def test_an_update_leaves_a_container_whose_declaration_changed_to_reconfigure(bench, images, nginx_files):
    name, ref, values = deployed_app(bench, images)
    identity = bench.identity(name)
    push_web_image(ref, "2")
    values.update({"conteneur1_env_nom": ["MODE"], "conteneur1_env_valeur": {"0": "essai"}})
    bench.write(values)

    result = update(bench)
    assert result.returncode == 0, result.stdout + result.stderr  # a warning: reconfigure is to be run first
    assert f"{name} non mis à jour : sa déclaration a changé depuis le dernier reconfigure" in result.stdout
    assert bench.identity(name) == identity and page(bench, name) == (200, "version 1")

    # reconfigure takes both, the new image checked like an update.
    after = reconfigure(bench)
    assert f"Nouvelle version de {name} saine" in after.stdout
    assert page(bench, name) == (200, "version 2") and copies(bench, name) == [name]
    assert "MODE=essai" in bench.inspect(name)["Config"]["Env"]


# -- what the module reports afterwards (a product bug found by this file) ---------------------------

def test_a_good_recreation_after_a_rolled_back_one_is_what_status_reports(bench, images):
    name = bench.name("app")
    push_web_image(images.ref("app"), "1")
    values = enabled(1, web(bench, images, 1, "app", free_port()))
    bench.write(values)
    assert bench.apply().returncode == 0
    values["conteneur1_commande"] = "sh -c 'exit 4'"
    bench.write(values)
    assert bench.apply().returncode == 1
    assert status_json(bench)[name]["mise_a_jour"].startswith("annulée")

    del values["conteneur1_commande"]
    values.update({"conteneur1_env_nom": ["MODE"], "conteneur1_env_valeur": {"0": "essai"}})
    bench.write(values)
    good = bench.apply()
    assert good.returncode == 0 and f"Recréation du conteneur {name} : environnement" in good.stdout
    assert "MODE=essai" in bench.inspect(name)["Config"]["Env"], "the new settings are in service"
    assert not status_json(bench)[name]["mise_a_jour"].startswith("annulée")
    diagnose = sh(*DIAGNOSE, env=bench.env, cwd=CHECKOUT).stdout
    assert f"Mise à jour {name}" not in diagnose, diagnose

