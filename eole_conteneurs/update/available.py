"""Which declared images have a newer version: asked of the registry, nothing pulled (`mise-a-jour --verifier`).

A container is behind when the registry's digest for its reference is not one of the local image's, or
when the local image (pulled by a reconfigure) is not the one it runs. A version that was rolled back
(containers/history.py) is not offered again until the registry has another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from eole_conteneurs.config.model import ContainerSpec, variable
from eole_conteneurs.containers.history import Outcome
from eole_conteneurs.containers.labels import is_persistent
from eole_conteneurs.containers.parallel import in_parallel
from eole_conteneurs.engine.api import DockerOperationError, Engine, ObservedContainer, of_technology
from eole_conteneurs.engine.reference import qualified

REGISTRY_WORKERS = 4


@dataclass(frozen=True)
class Availability:
    """What is known of one container's image: in service, local, on the registry, and what it means."""

    spec: ContainerSpec
    running: str  # image id of the container ("" when there is none)
    running_digest: str  # its registry digest when the host knows it (compared with registry), else ""
    local: str  # local image id of its reference ("" when absent)
    registry: str  # digest on the registry ("" when not asked or not answered)
    state: str  # what the administrator reads
    available: bool = False  # a version newer than the one in service can be installed
    error: bool = False  # the registry did not answer
    accepted: bool = False  # the administrator's consent: the new version may replace the container

    @property
    def to_apply(self) -> bool:
        return self.available and self.accepted


def availabilities(engine: Engine, specs: Sequence[ContainerSpec], observed: Mapping[str, ObservedContainer],
                   history: Mapping[str, Outcome]) -> list[Availability]:
    # Each technology asks for itself (Podman: of the registry directly), once per reference.
    refs = list(dict.fromkeys((spec.technology, str(spec.image)) for spec in specs if not spec.image.pinned))
    answers = dict(zip(refs, in_parallel(lambda ref: _registry_digest(of_technology(engine, ref[0]), ref[1]), refs,
                                         REGISTRY_WORKERS)))
    return [_availability(of_technology(engine, spec.technology), spec, observed.get(spec.name),
                          answers.get((spec.technology, str(spec.image))), history.get(spec.name)) for spec in specs]


def _registry_digest(engine: Engine, ref: str) -> str | DockerOperationError:
    try:
        return engine.registry_digest(ref)
    except DockerOperationError as error:
        return error


def _digest_of(engine: Engine, image_id: str, name: str) -> str:
    """The digest under which the registry of name knows the image (RepoDigests "name@sha256:…"), "" if none."""
    names = {name, qualified(f"{name}:latest").rsplit(":", 1)[0]}  # Podman records Docker Hub's names in full
    for entry in engine.repo_digests(image_id):
        repository, _, digest = entry.partition("@")
        if repository in names:
            return digest
    return ""


def _availability(engine: Engine, spec: ContainerSpec, current: ObservedContainer | None,
                  answer: str | DockerOperationError | None, outcome: Outcome | None) -> Availability:
    running = current.image_id if current is not None else ""
    in_service = _digest_of(engine, running, spec.image.name) if running else ""
    local = engine.image_id(str(spec.image)) or ""
    if spec.image.pinned:
        return Availability(spec, running, in_service, local, spec.image.tag, "épinglée (empreinte fixe, jamais mise à jour)")
    if isinstance(answer, DockerOperationError) or answer is None:
        detail = answer.detail if isinstance(answer, DockerOperationError) else "non interrogé"
        return Availability(spec, running, in_service, local, "", f"registre injoignable ou en erreur : {detail}", error=True)
    digests = {entry.rpartition("@")[2] for entry in engine.repo_digests(str(spec.image))} if local else set()
    newer = answer not in digests
    waiting = bool(local) and bool(running) and local != running  # pulled, not in service yet
    refused = outcome is not None and outcome.image_refused and not newer and outcome.after == local
    if refused:
        assert outcome is not None
        return Availability(spec, running, in_service, local, answer,
                            f"refusée : {outcome.describe()} ; pour réessayer : eole-conteneurs mise-a-jour {spec.name}")
    if not (newer or waiting):
        return Availability(spec, running, in_service, local, answer, "à jour")
    what = "nouvelle version sur le registre" if newer else "nouvelle version déjà récupérée, pas encore en service"
    consent = variable(spec.index, "mise_a_jour_auto")
    if spec.update.consent is False:  # the administrator's choice: nothing for monitoring to report
        return Availability(spec, running, in_service, local, answer, f"{what} ; mises à jour refusées ({consent} = non)")
    # Persistent as declared, or as created (its label): its writable layer goes only with an explicit oui.
    persistent = spec.persistent or (current is not None and is_persistent(current))
    accepted = spec.update.consent is True or not persistent
    if not accepted:
        what += f" ; conteneur persistant, mis à jour seulement avec {consent} = oui"
    return Availability(spec, running, in_service, local, answer, what, available=True, accepted=accepted)
