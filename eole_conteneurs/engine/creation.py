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
class CreateRequest:
    """Everything a new container is made of; the engine adds nothing of its own."""

    name: str
    image: str
    labels: dict[str, str]
    ports: tuple[PortBinding, ...] = ()
    binds: tuple[Bind, ...] = ()
    restart: str = "no"
    security_options: tuple[str, ...] = ()

    def command_line(self) -> str:
        """The equivalent `docker run` command, for the log."""
        import shlex  # only when a container is created or a plan shown

        words = ["docker", "run", "-d", "--name", self.name, "--restart", self.restart]
        for option in self.security_options:
            words += ["--security-opt", option]
        for port in self.ports:
            words += ["-p", f"{port.host_ip}:{port.host_port}:{port.container_port}"]
        for bind in self.binds:
            words += ["-v", f"{bind.host_dir}:{bind.container_dir}"]
        words.append(self.image)
        return " ".join(shlex.quote(word) for word in words)
