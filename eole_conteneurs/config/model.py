"""The container model: what the administrator declared, validated and normalised."""

from __future__ import annotations

from dataclasses import dataclass, field

DOCKER_HUB = ""
LOOPBACK = "127.0.0.1"
SECRETS_MOUNT = "/run/secrets"
# Of Docker's default capabilities, those a service behind a reverse proxy does not need (raw sockets,
# device nodes, audit, file capabilities, chroot): dropped unless conteneurN_capacites gives one back.
DROPPED_CAPABILITIES = ("AUDIT_WRITE", "MKNOD", "NET_RAW", "SETFCAP", "SETPCAP", "SYS_CHROOT")
DEFAULT_PIDS_LIMIT = 4096
# <name>--ancien-<12 hex>: the name a recreation gives the old container while the new one is made.
SET_ASIDE_SUFFIX = "--ancien"


def variable(index: int, field: str) -> str:
    """Name of a per-container variable, e.g. variable(2, "nom") -> "conteneur2_nom"."""
    return f"conteneur{index}_{field}"


@dataclass(frozen=True)
class PortMapping:
    """A published port: host_ip:host_port on the host → container_port in the container."""

    container_port: int
    host_port: int
    host_ip: str = LOOPBACK

    def __str__(self) -> str:
        return f"{self.host_ip}:{self.host_port}→{self.container_port}"


@dataclass(frozen=True)
class VolumeMapping:
    """A shared host directory and where the container sees it."""

    host_dir: str
    container_dir: str

    def __str__(self) -> str:
        return f"{self.host_dir} → {self.container_dir}"


@dataclass(frozen=True)
class DataVolume:
    """A named data volume (« conteneur de données ») and where the container sees it."""

    name: str
    container_dir: str

    def __str__(self) -> str:
        return f"{self.name} → {self.container_dir}"


@dataclass(frozen=True)
class Secret:
    """A secret given to the container as the file /run/secrets/<name>; its value is never shown."""

    name: str
    value: str = field(repr=False)

    @property
    def container_path(self) -> str:
        return f"{SECRETS_MOUNT}/{self.name}"


@dataclass(frozen=True)
class Health:
    """How the module knows the container is ready: a command (empty: the image's own check) and a delay."""

    command: str = ""
    wait: int = 120  # seconds its dependents wait for it to become healthy


@dataclass(frozen=True)
class ContainerBackup:
    """What a backup does for one container besides copying its data (conteneurN_sauvegarde_*)."""

    dump_command: tuple[str, ...] = ()  # run inside the container, its standard output saved
    restore_command: tuple[str, ...] = ()  # run inside the container, the saved output on its standard input
    stop: bool = False  # stopped during the copy of its data (then always started again)


@dataclass(frozen=True)
class Retention:
    """How many archives borg prune keeps: the last of each day, week and month."""

    daily: int = 7
    weekly: int = 4
    monthly: int = 6


DEFAULT_REPOSITORY = "/var/backups/eole-conteneurs"


@dataclass(frozen=True)
class BackupPolicy:
    """Where and how often the module's own engine (BorgBackup) saves the containers' data."""

    repository: str = DEFAULT_REPOSITORY  # an absolute path or ssh://[user@]host[:port]/path
    retention: Retention = Retention()
    frequency: str = "non"  # non | quotidienne | hebdomadaire
    time: tuple[int, int] = (3, 15)  # hour, minute of the scheduled backup

    @property
    def remote(self) -> bool:
        return self.repository.startswith("ssh://")


@dataclass(frozen=True)
class UpdatePolicy:
    """When `eole-conteneurs mise-a-jour` runs on its own (conteneurs_mise_a_jour_*)."""

    frequency: str = "non"  # non | quotidienne | hebdomadaire
    time: tuple[int, int] = (4, 30)  # hour, minute: after the default backup time


DEFAULT_UPDATE_DELAY = 30  # seconds a new container without a health check must keep running


@dataclass(frozen=True)
class UpdateSettings:
    """How one container takes a new image (conteneurN_mise_a_jour_*); never a container parameter."""

    consent: bool | None = None  # None: not declared, updated unless persistent
    delay: int = DEFAULT_UPDATE_DELAY


@dataclass(frozen=True)
class ImageRef:
    """An image reference, [hub/]repository:tag, or [hub/]repository@sha256:… when pinned to a digest."""

    hub: str  # host[:port], DOCKER_HUB ("") for Docker Hub
    repository: str
    tag: str  # a tag, or a digest "sha256:<64 hex>"

    @property
    def pinned(self) -> bool:
        """Given as a digest: one exact image, never updated."""
        return self.tag.startswith("sha256:")

    @property
    def name(self) -> str:
        """[hub/]repository, without tag or digest."""
        return f"{self.hub}/{self.repository}" if self.hub else self.repository

    def __str__(self) -> str:
        return f"{self.name}{'@' if self.pinned else ':'}{self.tag}"


def split_image_key(key: str) -> tuple[str, str]:
    """(technology, reference) of a ContainerSpec.image_key (a reference has no space: nothing is mistaken)."""
    technology, space, ref = key.partition(" ")
    return (technology, ref) if space else ("docker", key)


@dataclass(frozen=True)
class ContainerSpec:
    """One declared container (family conteneur-N), validated and normalised."""

    index: int
    name: str
    technology: str
    image: ImageRef
    volumes: tuple[VolumeMapping, ...] = ()
    ports: tuple[PortMapping, ...] = ()
    persistent: bool = False
    web_path: str = ""  # /<nom> unless conteneurN_chemin says otherwise
    allowed_networks: tuple[str, ...] = ()  # CIDR; empty: everybody
    environment: tuple[tuple[str, str], ...] = ()  # (name, value), in the declared order
    secrets: tuple[Secret, ...] = ()
    data_volumes: tuple[DataVolume, ...] = ()
    private_networks: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()  # names of declared containers started (and healthy) first
    health: Health = Health()
    command: tuple[str, ...] = ()  # empty: the image's command
    memory: int | None = None  # bytes; None: no limit
    published: bool = True  # conteneurN_publication: reachable at https://<server><web_path>/
    pids_limit: int = DEFAULT_PIDS_LIMIT  # processes and threads
    capabilities: tuple[str, ...] = ()  # of DROPPED_CAPABILITIES, those given back
    backup: ContainerBackup = ContainerBackup()  # not a container parameter: never recreates it
    update: UpdateSettings = UpdateSettings()  # nor is this

    @property
    def image_key(self) -> str:
        """What names its image among those of the host: each technology has its own store, so the same
        reference may be at two versions; Docker's keep the bare reference (as before Podman)."""
        return str(self.image) if self.technology == "docker" else f"{self.technology} {self.image}"

    @property
    def updatable(self) -> bool:
        """A new image may replace it: persistent containers only with the administrator's consent."""
        return not self.image.pinned and (self.update.consent if self.update.consent is not None
                                          else not self.persistent)

    @property
    def dropped_capabilities(self) -> tuple[str, ...]:
        return tuple(capability for capability in DROPPED_CAPABILITIES if capability not in self.capabilities)

    @property
    def proxied_port(self) -> int | None:
        """The web server proxies to the first host port; a container without ports is not published."""
        return self.ports[0].host_port if self.ports and self.published else None

    @property
    def service(self) -> bool:
        """A service comes back after a reboot; a bare one-shot container (like hello-world) runs once.

        What only makes sense for something that keeps running (a port, a private network, a data
        volume, a health command) makes it a service.
        """
        return bool(self.ports or self.private_networks or self.data_volumes or self.health.command)


@dataclass(frozen=True)
class Configuration:
    """The whole declared state: empty when activer_conteneurs is non."""

    source: str
    enabled: bool
    containers: tuple[ContainerSpec, ...] = ()
    # activer_conteneurs was stored, not taken from the dictionary's default: a config.eol written
    # before the module was installed (or an empty one) says nothing about containers.
    switch_stored: bool = True
    backup: BackupPolicy = BackupPolicy()
    updates: UpdatePolicy = UpdatePolicy()

    @property
    def unconfirmed(self) -> bool:
        """Disabled by default only: the module's containers and web files are left as they are."""
        return not self.enabled and not self.switch_stored
