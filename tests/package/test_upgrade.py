"""No deployment orphaned by an upgrade: what the previous release deployed, the new one takes over as is.

The previous release is found in the git history (the last commit before debian/changelog took the
current version) and built by its own `make deb` from a clone of that commit. It is installed and run
on a configuration; the current package is installed over it with `dpkg -i` and run on the same
configuration. Nothing changed in the configuration, so nothing may change on the machine: no container
event, the same containers, no nginx reload, the page still served.

Runs the installed command only (cwd=/, no PYTHONPATH), in a label scope of the test's own.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import docker, free_port, https
from tests.package.conftest import (CHECKOUT, SCOPE_LABEL, build_deb, changelog_version, clean_env, container,
                                    dpkg_install, installed_status, installed_version, nginx_workers, purge,
                                    reconfigure, report, run, write_config)

PAGE = "servie depuis la version precedente"


@dataclass(frozen=True)
class Release:
    commit: str
    version: str


def git(*args: str, cwd: Path = CHECKOUT) -> str:
    result = run(["git", *args], cwd=cwd)
    assert result.returncode == 0, report(result)
    return result.stdout.strip()


def current_version(checkout: Path = CHECKOUT) -> str:
    return changelog_version((checkout / "debian" / "changelog").read_text(encoding="utf-8"))


def previous_release(checkout: Path = CHECKOUT) -> Release:
    """The newest commit whose debian/changelog has another version than the work tree's.

    Walking the commits that touched debian/changelog, newest first: the oldest one still at the current
    version bumped it, so its parent is the previous release's last commit; if none is (the bump is not
    committed yet), HEAD is.
    """
    current = current_version(checkout)
    bump = None
    for commit in git("log", "--format=%H", "--", "debian/changelog", cwd=checkout).split():
        if changelog_version(git("show", f"{commit}:debian/changelog", cwd=checkout)) == current:
            bump = commit
            continue
        found = run(["git", "rev-parse", "--verify", "--quiet", f"{bump}^" if bump else "HEAD"], cwd=checkout)
        if found.returncode == 0:
            release = found.stdout.strip()
            return Release(release, changelog_version(git("show", f"{release}:debian/changelog", cwd=checkout)))
        break
    shallow = git("rev-parse", "--is-shallow-repository", cwd=checkout) == "true"
    pytest.fail(f"version précédant {current} introuvable dans l'historique de git"
                + (" : le dépôt est un clone superficiel (git fetch --unshallow)" if shallow else "")
                + " ; le test de mise à jour a besoin de l'historique de debian/changelog")


def deployment(scope: str) -> dict[str, tuple]:
    """Each container of the scope: id, creation, start and state; any change means it was touched."""
    ids = docker("ps", "-aq", "--no-trunc", "--filter", f"label={SCOPE_LABEL}={scope}").stdout.split()
    if not ids:
        return {}
    return {state["Name"].lstrip("/"): (state["Id"], state["Created"], state["State"]["StartedAt"],
                                        state["State"]["Status"])
            for state in json.loads(docker("inspect", *ids).stdout)}


def container_events(scope: str, since: float, until: float) -> list[str]:
    """What dockerd reported about the scope's containers between two instants (create, start, destroy…)."""
    listed = docker("events", "--since", f"{since:.9f}", "--until", f"{until:.9f}",
                    "--filter", f"label={SCOPE_LABEL}={scope}", "--format", "{{json .}}", timeout=60)
    events = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    return [f"{event.get('Type')} {event.get('Action')} {event.get('Actor', {}).get('Attributes', {}).get('name')}"
            for event in events]


@pytest.fixture(scope="module")
def previous() -> Release:
    return previous_release()


@pytest.fixture(scope="module")
def previous_deb(previous: Release, tmp_path_factory) -> Iterator[Path]:
    """The previous release's package, built once per module from a clone of its commit.

    Its Makefile lists the files with `git ls-files`, hence a git checkout; a shared clone borrows the
    objects and writes nothing into the checkout's .git. Removed at the end of the module.
    """
    root = tmp_path_factory.mktemp("version-precedente")
    clone = root / "eole-conteneurs"
    try:
        git("clone", "--quiet", "--shared", "--no-checkout", str(CHECKOUT), str(clone), cwd=root)
        git("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", previous.commit, cwd=clone)
        yield build_deb(clone, clean_env())
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def upgrade(scoped, nginx_files, tmp_path):
    """The test's scope, names and directory; afterwards, whatever happened: the package purged (only the
    scope's disposable containers go with it), nginx's files put back, the scope's containers removed."""
    scope, prefix, env = scoped
    yield scope, prefix, env, tmp_path
    purged = purge(scope)
    assert purged.returncode == 0, report(purged)
    assert not installed_status().startswith("ii"), installed_status()


def test_previous_release_is_older(previous: Release):
    """An upgrade, not a downgrade: dpkg orders the versions the same way."""
    current = current_version()
    assert previous.version != current
    result = run(["dpkg", "--compare-versions", previous.version, "lt", current])
    assert result.returncode == 0, f"{previous} n'est pas antérieure à {current}"


@pytest.mark.skipif(os.geteuid() != 0, reason="installing a package needs root")
def test_upgrade_orphans_no_deployment(previous: Release, previous_deb: Path, deb: Path, upgrade):
    """A server upgraded then reconfigured without any change keeps its services as they were: the new
    release recognises the containers the previous one deployed instead of recreating them."""
    scope, prefix, env, root = upgrade
    web, data = f"{prefix}-web", f"{prefix}-donnees"
    # As gen_config saved it for the previous release: a number for the count, the web switch set.
    values = {"activer_conteneurs": "oui", "nombre_conteneurs": 2, "conteneurs_serveur_web": "oui",
              **container(1, web, free_port(), root / "web", "non"),
              **container(2, data, None, root / "donnees", "oui")}
    config = write_config(root / "config.eol", values)
    (root / "web").mkdir()
    (root / "web" / "index.html").write_text(PAGE)

    # Deployed by the previous release.
    old = dpkg_install(previous_deb)
    assert old.returncode == 0, report(old)
    assert installed_version() == previous.version
    since = time.time()
    first = reconfigure(config, env)
    assert first.returncode == 0, report(first)
    created = container_events(scope, since, time.time())
    for name in (web, data):
        assert f"container create {name}" in created, f"the events are seen: {created}"
    assert https(f"/{web}/")[:2] == (200, PAGE), report(first)
    before = deployment(scope)
    assert set(before) == {web, data}, before

    # Upgraded, then reconfigured with the same configuration.
    new = dpkg_install(deb, upgrade=True)
    assert new.returncode == 0, report(new)
    assert installed_version() == current_version()
    since = time.time()
    second = reconfigure(config, env)
    events = container_events(scope, since, time.time())
    assert second.returncode == 0, report(second)
    assert events == [], f"containers touched by the new release: {events}\n{report(second)}"
    assert deployment(scope) == before, report(second)
    assert https(f"/{web}/")[:2] == (200, PAGE), report(second)
    # The one change on a bare host: the module's site loses its catch-all name (one reload, then none).
    assert "~^" not in Path("/etc/nginx/conf.d/eole-conteneurs.conf").read_text()
    workers = nginx_workers()
    third = reconfigure(config, env)
    assert third.returncode == 0, report(third)
    assert nginx_workers() == workers, f"nginx reloaded (workers {workers})\n{report(third)}"
    assert deployment(scope) == before, report(third)
