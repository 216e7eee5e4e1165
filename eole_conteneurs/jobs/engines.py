"""The engines a job talks to: those of the declared technologies, and any other that answers.

A technology some container is declared with is reached (its service started when the job changes
things); when it cannot be, its containers are reported by name and left out of the run, and the
others still converge. An engine no container is declared for is asked only when the module ever had
containers there (remembered) and it answers: those left there (a technology changed, containers
disabled) must still go, and a host that never ran Podman for the module (or runs it for other
services) does not pay for listing its containers. Explicit commands on volumes ask every engine.
A host of Docker alone gets the Docker engine itself; otherwise one MixedEngine over those reached.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlsplit

from eole_conteneurs.config.model import ContainerSpec, variable
from eole_conteneurs.containers.labels import Registry
from eole_conteneurs.engine.api import DOCKER, PODMAN, TECHNOLOGIES, DockerUnavailable, Engine
from eole_conteneurs.engine.dockerd import DockerEngine
from eole_conteneurs.engine.mixed import MixedEngine, Placement
from eole_conteneurs.engine.prefetch import PrefetchingEngine
from eole_conteneurs.jobs.context import Job
from eole_conteneurs.jobs.host import connect_or_start_docker, connect_or_start_podman

TECHNOLOGIES_FILE = "technologies"  # "scope:technology" lines: where the module ever had containers


@dataclass(frozen=True)
class Reached:
    engine: Engine | None  # None: no engine answers (and none was needed)
    specs: tuple[ContainerSpec, ...]  # the declared containers whose engine answers
    refused: dict[str, DockerUnavailable]  # technology → why it could not be reached
    left_out: tuple[ContainerSpec, ...] = ()  # declared on a technology not reached: never touched by this run


def connected(job: Job, specs: Sequence[ContainerSpec], start: bool = False,
              every: bool = False) -> tuple[Engine, tuple[ContainerSpec, ...]]:
    """reach(), for a command that needs an engine: DockerUnavailable when none answers."""
    reached = reach(job, specs, start, every=every)
    if reached.engine is None:
        raise DockerUnavailable(job.settings.docker_url)
    return reached.engine, reached.specs


def reach(job: Job, specs: Sequence[ContainerSpec], start: bool, report: bool = True, every: bool = False) -> Reached:
    """Raises DockerUnavailable only when no declared technology can be reached at all; report: the
    containers of a technology that cannot be are said in the journal as failed; every: each engine
    that answers is asked, remembered or not."""
    declared = {spec.technology for spec in specs}
    engines: dict[str, Engine] = {}
    refused: dict[str, DockerUnavailable] = {}
    remembered = set(TECHNOLOGIES) if every else _remembered(job)
    for technology in TECHNOLOGIES:
        if technology not in declared and not (technology in remembered and _may_answer(job, technology)):
            continue
        try:
            engines[technology] = _connect(job, technology, start and technology in declared)
        except DockerUnavailable as error:
            if technology in declared:
                refused[technology] = error
    if refused and not engines.keys() & declared and report:
        technology, first = next(iter(refused.items()))
        raise DockerUnavailable(first.detail, _left_out(technology, specs, first))
    for technology, why in refused.items() if report else ():
        job.journal.fail(_left_out(technology, specs, why))
    kept = tuple(spec for spec in specs if spec.technology in engines)
    left_out = tuple(spec for spec in specs if spec.technology not in engines)
    if not engines:
        return Reached(None, kept, refused, left_out)
    if engines.keys() == {DOCKER}:
        return Reached(engines[DOCKER], kept, refused, left_out)
    return Reached(MixedEngine(engines, placement(kept)), kept, refused, left_out)


def remember(job: Job, technologies: set[str]) -> None:
    """Before a run changes anything: the technologies it declares, and those the module's containers are on,
    are added. Never forgotten: its volumes and networks may stay there without any container."""
    scope = job.settings.scope
    before = _remembered(job)
    now = before | (technologies & set(TECHNOLOGIES))
    registry = _registry(job)
    if now != before or f"{scope}:" not in registry.load():
        others = {entry for entry in registry.load() if not entry.startswith(f"{scope}:")}
        # "scope:" alone says the scope was recorded, even with no container left anywhere.
        registry.save(frozenset(others | {f"{scope}:"} | {f"{scope}:{technology}" for technology in now}))


def _remembered(job: Job) -> set[str]:
    """Never recorded (eole-conteneurs < 0.8.0 did not), the module's containers could only be Docker's."""
    prefix = f"{job.settings.scope}:"
    entries = {entry.removeprefix(prefix) for entry in _registry(job).load() if entry.startswith(prefix)}
    return entries & set(TECHNOLOGIES) if entries else {DOCKER}


def _registry(job: Job) -> Registry:
    return Registry(job.settings.state_dir / TECHNOLOGIES_FILE)


def _may_answer(job: Job, technology: str) -> bool:
    """An undeclared engine is asked only if its socket is there (a missing one costs nothing to tell)."""
    url = job.settings.podman_url if technology == PODMAN else job.settings.docker_url
    parts = urlsplit(url)
    return parts.scheme not in ("unix", "http+unix") or os.path.exists(parts.path)


def _connect(job: Job, technology: str, start: bool) -> Engine:
    settings = job.settings
    if technology == PODMAN:
        from eole_conteneurs.engine import podman  # what a host of Docker alone never loads

        return connect_or_start_podman(job.journal, settings.podman_url) if start else podman.connect(settings.podman_url)
    engine: Engine = (connect_or_start_docker(job.journal, settings.docker_url) if start
                      else DockerEngine.connect(settings.docker_url))
    # reconfigure's early reads are dockerd's
    return PrefetchingEngine(engine, job.prefetch) if job.prefetch is not None else engine


def _left_out(technology: str, specs: Sequence[ContainerSpec], error: DockerUnavailable) -> str:
    concerned = [spec for spec in specs if spec.technology == technology]
    names = ", ".join(f"{spec.name} ({variable(spec.index, 'technologie')} = {technology})" for spec in concerned)
    return f"{error} : conteneur(s) laissé(s) tel(s) quel(s) : {names}"


def placement(specs: Sequence[ContainerSpec]) -> Placement:
    """Validation keeps each network and data volume name to one technology."""
    return Placement({network: spec.technology for spec in specs for network in spec.private_networks},
                     {volume.name: spec.technology for spec in specs for volume in spec.data_volumes})
