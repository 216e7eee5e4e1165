"""`eole-conteneurs volume liste|adopter|supprimer`: the data volumes, which reconfigure never removes.

A volume holds a service's data: it outlives its containers, its declaration and the package.
Removing one is the administrator's explicit act, refused while any container uses it or while
it is still declared (the next reconfigure would make it again, empty). A volume the module did
not create is used only once the administrator adopts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eole_conteneurs.commands.text import table
from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.config.model import variable
from eole_conteneurs.containers.labels import LABEL_SCOPE, Registry
from eole_conteneurs.engine.api import DockerOperationError, Engine
from eole_conteneurs.jobs.engines import connected
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.jobs.context import EXIT_OK, Job


class VolumeRefused(EoleConteneursError):
    """The asked operation would lose data or take what is not the module's."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"volume {name} : {reason}")


@dataclass(frozen=True)
class VolumeStatus:
    """One data volume: who made it, its size, who declares and who uses it."""

    name: str
    origin: str  # "eole-conteneurs", "adopté", "absent" (declared, not made yet) or "autre"
    size: int | None
    declared_by: tuple[str, ...]  # conteneurN_volume_nom variables
    used_by: tuple[str, ...]  # container names, managed or not

    def as_json(self) -> dict[str, Any]:
        return {"nom": self.name, "origine": self.origin, "taille": self.size,
                "declare_par": list(self.declared_by), "utilise_par": list(self.used_by)}


def collect(loaded: Loaded, job: Job, engine: Engine) -> list[VolumeStatus]:
    """The module's volumes and the declared ones (the others of the host are not its business)."""
    scope = job.settings.scope
    adopted = Registry(job.settings.adopted_volumes_file).load()
    declared: dict[str, list[str]] = {}
    for spec in loaded.configuration.containers:
        for data_volume in spec.data_volumes:
            declared.setdefault(data_volume.name, []).append(variable(spec.index, "volume_nom"))
    existing = {volume.name: volume for volume in engine.volumes()}
    names = [name for name, volume in existing.items() if volume.labels.get(LABEL_SCOPE) == scope or name in adopted]
    names += [name for name in declared if name not in names]
    users: dict[str, list[str]] = {}
    for container in engine.containers():
        for mount in container.mounts:
            if mount.kind == "volume":
                users.setdefault(mount.name, []).append(container.name)
    sizes = _sizes(engine) if names else {}
    statuses = []
    for name in sorted(names):
        volume = existing.get(name)
        if volume is None:
            origin = "absent"
        elif volume.labels.get(LABEL_SCOPE) == scope:
            origin = "eole-conteneurs"
        else:
            origin = "adopté" if name in adopted else "autre"
        size = sizes.get(name)
        statuses.append(VolumeStatus(name, origin, size if size is not None and size >= 0 else None,
                                     tuple(declared.get(name, ())), tuple(sorted(users.get(name, ())))))
    return statuses


def _sizes(engine: Engine) -> dict[str, int]:
    """Measuring walks every volume: slow or refused, the list is shown without sizes."""
    try:
        return engine.volume_sizes()
    except DockerOperationError:
        return {}


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("o", "Kio", "Mio", "Gio"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "o" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} Tio"


def describe(statuses: list[VolumeStatus]) -> str:
    if not statuses:
        return "Aucun volume de données."
    rows = [("Volume", "Origine", "Taille", "Déclaré par", "Utilisé par")]
    rows += [(status.name, status.origin, human_size(status.size), ", ".join(status.declared_by) or "-",
              ", ".join(status.used_by) or "-") for status in statuses]
    return table(rows)


def show(loaded: Loaded, job: Job, as_json: bool = False) -> int:
    statuses = collect(loaded, job, connected(job, loaded.configuration.containers, every=True)[0])
    if as_json:
        job.journal.step(json.dumps([status.as_json() for status in statuses], ensure_ascii=False, indent=1))
    else:
        job.journal.step(describe(statuses))
    return EXIT_OK


def adopt(loaded: Loaded, job: Job, name: str) -> int:
    """Let the module use a volume it did not create (its data kept as it is)."""
    engine = connected(job, loaded.configuration.containers, every=True)[0]
    if name not in {volume.name for volume in engine.volumes()}:
        raise VolumeRefused(name, "n'existe pas")
    registry = Registry(job.settings.adopted_volumes_file)
    registry.save(registry.load() | {name})
    job.journal.step(f"Volume {name} adopté : les conteneurs qui le déclarent l'utiliseront, tel quel")
    return EXIT_OK


def remove(loaded: Loaded, job: Job, name: str) -> int:
    """Remove one volume of the module, with its data: refused while anything still needs it."""
    engine = connected(job, loaded.configuration.containers, every=True)[0]
    statuses = {status.name: status for status in collect(loaded, job, engine)}
    status = statuses.get(name)
    if status is None or status.origin == "absent":
        raise VolumeRefused(name, "n'existe pas ou n'est pas un volume d'eole-conteneurs")
    if status.used_by:
        raise VolumeRefused(name, f"utilisé par le(s) conteneur(s) {', '.join(status.used_by)} : non supprimé")
    if status.declared_by:  # a volume made elsewhere and not adopted is listed only while declared: refused here
        raise VolumeRefused(name, f"encore déclaré ({', '.join(status.declared_by)}) : retirer d'abord la "
                                  "déclaration, sinon il serait recréé vide : non supprimé")
    job.journal.step(f"Suppression du volume {name} ({human_size(status.size)}) : docker volume rm {name}")
    engine.remove_volume(name)
    registry = Registry(job.settings.adopted_volumes_file)
    adopted = registry.load()
    if name in adopted:  # a volume of that name made later is not adopted by this
        registry.save(adopted - {name})
    return EXIT_OK
