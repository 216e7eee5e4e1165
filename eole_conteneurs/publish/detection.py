"""What already serves the web on the host: who listens on 443 and 80, and nginx's other sites.

Read from /proc and from the configuration files, without running anything: this runs at every
reconfigure, a no-op one included. Nothing here decides what is valid; it decides where the
validated files go.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

WEB_PORTS = (443, 80)  # HTTPS first: whoever serves it is the host's web server
# A line of /proc/net/tcp{,6}: "sl: local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode";
# st 0A is TCP_LISTEN, ports are hexadecimal (01BB = 443, 0050 = 80).
WEB_LISTENER = re.compile(r"^\s*\d+: [0-9A-F]+:(01BB|0050) [0-9A-F]+:[0-9A-F]+ 0A (?:\S+ +){5}(\d+)", re.MULTILINE)
APACHE_PID_FILE = Path("/run/apache2/apache2.pid")
APACHE_CTL = Path("/usr/sbin/apache2ctl")
APACHE_SSL = Path("/etc/apache2/mods-enabled/ssl.load")
NGINX_PID_FILE = Path("/run/nginx.pid")
NGINX_BINARY = Path("/usr/sbin/nginx")
NGINX_ROOT = Path("/etc/nginx")
NGINX_MAIN = NGINX_ROOT / "nginx.conf"
NGINX_TITLE = b"nginx: master process"  # what nginx's master calls itself
APACHE_TITLE = b"apache2"  # Apache's program


class Owner:
    """Who holds a port."""

    APACHE, NGINX, OTHER = "apache", "nginx", "autre"


@dataclass(frozen=True)
class Listeners:
    """The web ports' owners (None or absent: free, or not looked up) and which servers are installed."""

    owners: dict[int, str | None]
    nginx_installed: bool
    apache_installed: bool

    def holder(self) -> str | None:
        """The owner of 443, else of 80."""
        return next((owner for port in WEB_PORTS if (owner := self.owners.get(port)) is not None), None)


def listeners(proc: Path = Path("/proc")) -> Listeners:
    """Who holds 443 and 80, looked up only where Apache runs: without it the choice is nginx anyway
    (and an nginx that cannot bind fails its reload, rolled back with nginx's own words). The socket
    tables cost milliseconds on a host with many containers; a no-op reconfigure does not pay them."""
    installed = (NGINX_BINARY.exists(), APACHE_CTL.exists())
    apache_master = server_master(APACHE_PID_FILE, APACHE_TITLE, proc)
    if apache_master is None:
        return Listeners({}, *installed)
    sockets = _listening_sockets(proc)
    apache = _sockets_of(apache_master, proc)
    nginx = _sockets_of(server_master(NGINX_PID_FILE, NGINX_TITLE, proc), proc)
    owners: dict[int, str | None] = {}
    for port in WEB_PORTS:
        held = sockets.get(port, set())
        owners[port] = (None if not held else Owner.APACHE if held & apache else Owner.NGINX if held & nginx
                        else Owner.OTHER)
    return Listeners(owners, *installed)


def apache_serves_https(found: Listeners) -> bool:
    """Apache holds 443, or (stopped) its SSL module is enabled, which makes Debian's ports.conf listen on it."""
    if found.owners.get(443) == Owner.APACHE:
        return True
    return found.owners.get(443) is None and APACHE_SSL.exists()


def _listening_sockets(proc: Path) -> dict[int, set[str]]:
    """Port → inodes of the listening TCP sockets (IPv4 and IPv6) on the web ports.

    A host running many containers lists thousands of sockets: one expression finds the few wanted.
    """
    found: dict[int, set[str]] = {}
    for table in ("tcp", "tcp6"):
        try:
            text = (proc / "net" / table).read_text()
        except OSError:
            continue
        for port, inode in WEB_LISTENER.findall(text):
            found.setdefault(int(port, 16), set()).add(inode)
    return found


def server_master(pid_file: Path, title: bytes, proc: Path = Path("/proc")) -> int | None:
    """The pid in the file, if that process is the server's: its title (nginx) or program (apache2)."""
    try:
        pid = int(pid_file.read_text().strip())
        program = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")[0]
    except (OSError, ValueError):
        return None
    # A stale pid file may name a recycled pid: the process must be the server's.
    return pid if program.startswith(title) or program.rsplit(b"/", 1)[-1] == title else None


def _sockets_of(pid: int | None, proc: Path) -> set[str]:
    """Socket inodes the process holds open (a server's master holds its listening sockets)."""
    if pid is None:
        return set()
    inodes = set()
    try:
        for entry in os.scandir(proc / str(pid) / "fd"):
            target = os.readlink(entry.path)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


# -- nginx's other sites -------------------------------------------------------------------------

@dataclass
class NginxServer:
    """One `server { }` of another site: the ports it listens on, the names it gives, what it includes."""

    file: str
    ports: dict[int, bool] = field(default_factory=dict)  # port → default_server
    names: set[str] = field(default_factory=set)
    includes: list[str] = field(default_factory=list)


def other_nginx_servers(own: set[Path], main: Path = NGINX_MAIN) -> list[NginxServer]:
    """The servers of nginx's configuration, following its includes, except those of the module's own files."""
    servers: list[NginxServer] = []
    _read_servers(main, own, servers, depth=0)
    return servers


def _read_servers(path: Path, own: set[Path], servers: list[NginxServer], depth: int) -> None:
    if depth > 8 or path in own:
        return
    try:
        tokens = list(_tokens(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return
    stack: list[str] = []
    statement: list[str] = []
    current: NginxServer | None = None
    for token in tokens:
        if token == "{":
            stack.append(statement[0] if statement else "")
            if stack == ["http", "server"] or stack == ["server"]:
                current = NginxServer(str(path))
            statement = []
        elif token == "}":
            if stack and stack[-1] == "server" and current is not None:
                current.ports = current.ports or {80: False}  # nginx's default: listen *:80
                servers.append(current)
                current = None
            stack = stack[:-1]
            statement = []
        elif token == ";":
            _statement(statement, current, stack, path, own, servers, depth)
            statement = []
        else:
            statement.append(token)


def _statement(words: list[str], current: NginxServer | None, stack: list[str], path: Path, own: set[Path],
               servers: list[NginxServer], depth: int) -> None:
    if not words:
        return
    directive, arguments = words[0], words[1:]
    if directive == "include" and arguments:
        pattern = arguments[0] if arguments[0].startswith("/") else str(NGINX_ROOT / arguments[0])
        if current is not None and len(stack) <= 2:
            current.includes.append(pattern)
            return
        if current is None:
            for included in sorted(glob.glob(pattern)):
                _read_servers(Path(included), own, servers, depth + 1)
    elif current is not None and len(stack) in (1, 2) and stack[-1] == "server":
        if directive == "listen" and arguments:
            port = _port(arguments[0])
            if port is not None:
                current.ports[port] = current.ports.get(port, False) or bool(
                    {"default_server", "default"} & set(arguments[1:]))
        elif directive == "server_name":
            current.names |= {name.lower() for name in arguments}


def _port(address: str) -> int | None:
    if address.startswith("unix:"):
        return None
    tail = address.rsplit("]", 1)[-1].rsplit(":", 1)[-1] if ":" in address else address
    if tail.isdigit():
        return int(tail)
    return 80  # an address without a port listens on 80


TOKEN = re.compile(r"""#[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[{};]|[^\s{};"'#]+""")


def _tokens(text: str) -> Iterator[str]:
    for match in TOKEN.finditer(text):
        token = match.group(0)
        if token.startswith("#"):
            continue
        yield token[1:-1] if token[:1] in "\"'" else token
