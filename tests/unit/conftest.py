"""Shared by the unit tests: container specs as the seed declares them, and the containers the module
would have created from them (plain ObservedContainer objects carrying the module's labels).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from eole_conteneurs import cache
from eole_conteneurs.config.model import ContainerSpec, ImageRef, PortMapping, UpdateSettings, VolumeMapping
from eole_conteneurs.containers.labels import LABEL_PERSISTENT, labels_for
from eole_conteneurs.engine.api import ObservedContainer

SCOPE = "eole-test"
OTHER_SCOPE = "eole"
HUB = "127.0.0.1:5000"
IMAGE_ID = "sha256:" + "a" * 64
NEWER_IMAGE_ID = "sha256:" + "b" * 64


def hello(**changes) -> ContainerSpec:
    """A one-shot container: no port, so restart policy "no"."""
    spec = ContainerSpec(index=1, name="hello-world", technology="docker",
                         image=ImageRef(HUB, "hello-world", "latest"))
    return replace(spec, **changes)


def apache(**changes) -> ContainerSpec:
    """A service: ports, so restart policy "unless-stopped"."""
    spec = ContainerSpec(index=2, name="my-apache-app", technology="docker",
                         image=ImageRef(HUB, "httpd", "2.4"),
                         volumes=(VolumeMapping("/var/eole-httpd", "/usr/local/apache2/htdocs"),),
                         ports=(PortMapping(80, 8081),),
                         update=UpdateSettings(delay=0))  # a new version is kept once started (no wait here)
    return replace(spec, **changes)


def observed_for(spec: ContainerSpec, scope: str = SCOPE, image_id: str = IMAGE_ID, state: str = "running",
                 exit_code: int | None = None, persistent: bool | None = None,
                 name: str | None = None, labels: dict | None = None) -> ObservedContainer:
    """The container the module would have created from `spec` (labels of `spec`).

    `persistent` overrides the persistence label; `name` the container name (to simulate a
    container created from an older spec, pass that older spec and the current name).
    """
    if labels is None:
        labels = labels_for(spec, scope)
        if persistent is not None:
            labels[LABEL_PERSISTENT] = "oui" if persistent else "non"
    cname = name or spec.name
    return ObservedContainer(id=(cname.encode().hex() + "0" * 64)[:64], name=cname, image_id=image_id,
                             state=state, exit_code=exit_code, labels=labels)


@pytest.fixture(autouse=True)
def own_cache_key(tmp_path, monkeypatch):
    """The key sealing the caches in the test's own directory, never the host's state directory."""
    key = tmp_path / "etat-cle" / "cle"
    monkeypatch.setenv(cache.KEY_ENV, str(key))
    yield key
    cache._key_at.cache_clear()


def images_for(*specs: ContainerSpec, image_id: str | None = IMAGE_ID) -> dict[str, str | None]:
    return {str(spec.image): image_id for spec in specs}


# -- the fuzzer's count (test_fuzz.py), shown at the end of every run (make test included) ----------

FUZZ_RUNS: dict[str, dict[str, float]] = {}  # test → cases, accepted, start, seconds


@pytest.fixture(scope="session")
def fuzz_runs() -> dict[str, dict[str, float]]:
    """Where test_fuzz.py counts its cases (session-scoped: Hypothesis runs each example in one call)."""
    return FUZZ_RUNS


def pytest_terminal_summary(terminalreporter) -> None:
    if not FUZZ_RUNS:
        return
    terminalreporter.write_sep("-", "fuzzer (tests/unit/test_fuzz.py)")
    for name, run in FUZZ_RUNS.items():
        terminalreporter.write_line(f"{name} : {int(run['cases'])} cas, dont {int(run['accepted'])} configuration(s) "
                                    f"acceptée(s), en {run['seconds']:.1f} s")
    cases, seconds = sum(run["cases"] for run in FUZZ_RUNS.values()), sum(run["seconds"] for run in FUZZ_RUNS.values())
    terminalreporter.write_line(f"Fuzzer : {int(cases)} cas au total en {seconds:.1f} s")
