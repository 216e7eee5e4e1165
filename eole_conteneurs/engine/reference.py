"""Image references as a registry and Podman read them: which host, which repository, which tag.

Pure parsing, without the HTTP client (registry.py): Podman's engine qualifies every reference it is
given, each time it reads an image, and a no-op run must not pay for more than this.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DOCKER_HUB, DOCKER_HUB_API = "docker.io", "registry-1.docker.io"
IMAGE_ID = re.compile(r"(sha256:)?[0-9a-f]{12,64}")


@dataclass(frozen=True)
class Reference:
    """repository:tag split as a registry sees it."""

    host: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, ref: str) -> "Reference":
        """host/path:tag; no host: Docker Hub, and its official images under library/."""
        name, _, tag = ref.rpartition(":") if ":" in ref.rpartition("/")[2] else (ref, "", "latest")
        first, _, rest = name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            host, path = first, rest
        else:
            host, path = DOCKER_HUB, name if rest else f"library/{name}"
        return cls(DOCKER_HUB_API if host == DOCKER_HUB else host, path, tag)

    @property
    def plain_http(self) -> bool:
        """A registry on the loopback: Docker's default insecure registries (127.0.0.0/8)."""
        hostname = self.host.rsplit(":", 1)[0] if not self.host.startswith("[") else self.host[1:].split("]")[0]
        if hostname == "localhost":
            return True
        try:
            return ipaddress.ip_address(hostname).is_loopback
        except ValueError:
            return False


def qualified(ref: str) -> str:
    """ref with its registry named: a name without host is Docker Hub's, as dockerd reads it. Podman would
    otherwise look it up through the unqualified-search registries of registries.conf (none on Debian);
    an image id is left as it is."""
    if IMAGE_ID.fullmatch(ref):
        return ref
    name, at, digest = ref.partition("@")
    reference = Reference.parse(name if not at else f"{name}:latest")
    host = DOCKER_HUB if reference.host == DOCKER_HUB_API else reference.host
    return f"{host}/{reference.repository}" + (f"@{digest}" if at else f":{reference.tag}")
