"""The names the module's web publication answers to: the server's own, never a catch-all.

On an EOLE server they are EOLE's (nom_machine and nom_domaine_local, other modules' variables);
elsewhere the host's fully qualified name and short name. Each name is checked against the
host name syntax before it may reach a web server's configuration.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from eole_conteneurs.config.loading import Loaded

LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST_NAME = re.compile(rf"{LABEL}(?:\.{LABEL})*")
MAX_NAME = 253


@functools.lru_cache(maxsize=1)
def host_name() -> str:
    """The host's name for URLs: its FQDN, unless the resolver only knows it as localhost (asked once)."""
    import socket  # only where EOLE's names are not known

    fqdn = socket.getfqdn()
    return socket.gethostname() if fqdn.startswith("localhost") else fqdn


def server_names(facts: Mapping[str, str]) -> tuple[str, ...]:
    """EOLE's name and domain when the variables exist, else the host's FQDN and short name; valid ones only."""
    machine, domain = facts.get("nom_machine"), facts.get("nom_domaine_local")
    if machine:
        candidates = [f"{machine}.{domain}", machine] if domain else [machine]
    else:
        fqdn = host_name()
        candidates = [fqdn, fqdn.split(".")[0]]
    names: list[str] = []
    for candidate in candidates:
        name = candidate.strip().lower()
        if len(name) <= MAX_NAME and HOST_NAME.fullmatch(name) and name not in names:
            names.append(name)
    return tuple(names)


def primary_name(loaded: Loaded) -> str:
    """The name clients use in the containers' addresses (https://<name>/<path>/)."""
    names = server_names(loaded.facts)
    return names[0] if names else host_name()
