"""What a new container is made of, as the engine is asked for it.

In a module of its own so that a run that creates nothing does not load it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PortBinding:
    """A port to publish: host_ip:host_port → container_port/tcp."""

    container_port: int
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class Bind:
    """A host directory bound into the container (read-write)."""

    host_dir: str
    container_dir: str


@dataclass(frozen=True)
class Mount:
    """A mount the engine makes: a named volume, or a host file or directory (kind "volume" or "bind")."""

    kind: str
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class CreateRequest:
    """Everything a new container is made of; the engine adds nothing of its own."""

    name: str
    image: str
    labels: dict[str, str]
    ports: tuple[PortBinding, ...] = ()
    binds: tuple[Bind, ...] = ()
    restart: str = "no"
    security_options: tuple[str, ...] = ()
    environment: tuple[str, ...] = ()  # NAME=value
    mounts: tuple[Mount, ...] = ()
    networks: tuple[str, ...] = ()
    health_command: str = ""
    command: tuple[str, ...] = ()
    memory: int | None = None
    pids_limit: int | None = None
    cap_drop: tuple[str, ...] = ()
    # Given back (conteneurN_capacites): added as well, since Podman's default set lacks some (NET_RAW, MKNOD…).
    cap_add: tuple[str, ...] = ()
    technology: str = "docker"  # the engine that makes it (conteneurN_technologie)

    def command_line(self) -> str:
        """The equivalent `docker run` command, for the log."""
        import shlex  # only when a container is created or a plan shown

        words = [self.technology, "run", "-d", "--name", self.name, "--restart", self.restart]
        for option in self.security_options:
            words += ["--security-opt", option]
        for capability in self.cap_drop:
            words += ["--cap-drop", capability]
        for capability in self.cap_add:
            words += ["--cap-add", capability]
        if self.pids_limit is not None:
            words += ["--pids-limit", str(self.pids_limit)]
        for port in self.ports:
            words += ["-p", f"{port.host_ip}:{port.host_port}:{port.container_port}"]
        for bind in self.binds:
            words += ["-v", f"{bind.host_dir}:{bind.container_dir}"]
        for mount in self.mounts:
            words += ["--mount", f"type={mount.kind},src={mount.source},dst={mount.target}"
                      + (",readonly" if mount.read_only else "")]
        for variable in self.environment:
            words += ["-e", variable]
        for network in self.networks:
            words += ["--network", network]
        if self.health_command:
            words += ["--health-cmd", self.health_command]
        if self.memory is not None:
            words += ["--memory", str(self.memory)]
        words.append(self.image)
        words += self.command
        return " ".join(shlex.quote(word) for word in words)
