"""What a backup saves of one declared container, and the manifest that tells a restore where it goes.

Saved: its shared host directories, its named data volumes, the anonymous volumes of a persistent
container, and in the module's staging directory the output of its export command and its manifest
(image and digests in use, where each saved tree was seen by the container).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from eole_conteneurs.config import paths
from eole_conteneurs.config.model import ContainerSpec, variable
from eole_conteneurs.engine.api import Engine, ObservedContainer, of_technology
from eole_conteneurs.errors import EoleConteneursError

MANIFEST, EXPORT = "manifeste.json", "export"
DIRECTORY, VOLUME, ANONYMOUS = "repertoire", "volume", "volume-anonyme"
MANIFEST_VERSION = 1


class ContainerNotSaved(EoleConteneursError):
    """One container cannot be saved (the others still are): names it and why."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"conteneur {name} non sauvegardé : {reason}")


@dataclass(frozen=True)
class Item:
    """A saved tree: where it is on the host (its path in the archive) and where the container sees it."""

    kind: str  # DIRECTORY, VOLUME or ANONYMOUS
    host: str  # absolute, as saved
    container: str
    name: str = ""  # the volume's name (VOLUME)

    def as_json(self) -> dict[str, str]:
        return {"type": self.kind, "hote": self.host, "conteneur": self.container, "nom": self.name}

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "Item":
        return cls(str(entry["type"]), str(entry["hote"]), str(entry["conteneur"]), str(entry.get("nom", "")))


@dataclass(frozen=True)
class Manifest:
    name: str
    image: str
    image_id: str
    digests: tuple[str, ...]
    items: tuple[Item, ...]
    export: bool

    def as_bytes(self) -> bytes:
        document = {"version": MANIFEST_VERSION, "conteneur": self.name, "image": self.image,
                    "image_id": self.image_id, "empreintes": list(self.digests),
                    "elements": [item.as_json() for item in self.items], "export": self.export}
        return json.dumps(document, ensure_ascii=False, indent=1).encode()

    @classmethod
    def from_bytes(cls, data: bytes, archive: str) -> "Manifest":
        try:
            document = json.loads(data)
            return cls(str(document["conteneur"]), str(document["image"]), str(document.get("image_id", "")),
                       tuple(document.get("empreintes") or ()),
                       tuple(Item.from_json(entry) for entry in document["elements"]),
                       bool(document.get("export")))
        except (ValueError, KeyError, TypeError):
            raise EoleConteneursError(f"archive {archive} : manifeste illisible") from None


def items_of(spec: ContainerSpec, container: ObservedContainer | None) -> tuple[Item, ...]:
    """Raises ContainerNotSaved when a shared directory is no longer safe to read or a volume is not found."""
    items = []
    for index, volume in enumerate(spec.volumes):
        try:
            host = paths.usable_host_dir(volume.host_dir)
        except ValueError as error:
            raise ContainerNotSaved(spec.name, f"{variable(spec.index, 'rep_hote')} « {volume.host_dir} » : {error}") from None
        if os.path.isdir(host):  # not made yet (the container was never created): nothing in it to save
            items.append(Item(DIRECTORY, host, volume.container_dir))
    mounts = {mount.destination: mount for mount in (container.mounts if container else ())}
    for data in spec.data_volumes:
        mount = mounts.get(data.container_dir)
        if mount is None or mount.name != data.name or not mount.source:
            raise ContainerNotSaved(spec.name, f"volume {data.name} introuvable (conteneur absent ou pas encore "
                                               "recréé : lancez reconfigure)")
        items.append(Item(VOLUME, mount.source, data.container_dir, data.name))
    declared = {data.container_dir for data in spec.data_volumes} | {v.container_dir for v in spec.volumes}
    if spec.persistent and container is not None:
        items += [Item(ANONYMOUS, mount.source, mount.destination) for mount in container.mounts
                  if mount.kind == "volume" and mount.destination not in declared and mount.source]
    return tuple(items)


def manifest_of(spec: ContainerSpec, container: ObservedContainer | None, engine: Engine,
                items: tuple[Item, ...], digests: dict[str, tuple[str, ...]]) -> Manifest:
    """digests: image id → its repository digests, filled as images are read (containers share images)."""
    engine = of_technology(engine, spec.technology)
    image_id = container.image_id if container else (engine.image_id(str(spec.image)) or "")
    if image_id and image_id not in digests:
        digests[image_id] = tuple(engine.repo_digests(image_id))
    return Manifest(spec.name, str(spec.image), image_id, digests.get(image_id, ()), items,
                    bool(spec.backup.dump_command))
