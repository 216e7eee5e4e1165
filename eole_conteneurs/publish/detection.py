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
    ports: set[int] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    includes: list[str] = field(default_factory=list)

    def claims(self, name: str) -> bool:
        """nginx would give this server the requests for that name (exact, wildcard or regular expression)."""
        return any(_matches(pattern, name) for pattern in self.names)


def _matches(pattern: str, name: str) -> bool:
    if pattern.startswith("~"):
        try:
            return re.search(pattern[1:], name) is not None
        except re.error:  # a PCRE feature Python lacks: assume the worst, the name is taken
            return True
    if pattern.startswith("*."):
        return name.endswith(pattern[1:])
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1])
    if pattern.startswith("."):
        return name == pattern[1:] or name.endswith(pattern)
    return pattern == name


def other_nginx_servers(own: set[Path], main: Path = NGINX_MAIN) -> list[NginxServer]:
    """The HTTP servers of nginx's configuration, includes followed where they stand (as nginx reads
    them), except those of the module's own files."""
    servers: list[NginxServer] = []
    stack: list[str] = []  # the enclosing blocks: http, server, location… (stream and mail are not HTTP)
    statement: list[str] = []
    current: NginxServer | None = None
    level = 0  # the stack depth inside the current server's own block
    for token, path in _expanded(main, own, 0):
        if token == "{":
            stack.append(statement[0] if statement else "")
            if stack[-1] == "server" and current is None and not {"stream", "mail"} & set(stack):
                current, level = NginxServer(str(path)), len(stack)
            statement = []
        elif token == "}":
            if current is not None and len(stack) == level:
                current.ports = current.ports or {80}  # nginx's default: listen *:80
                servers.append(current)
                current = None
            stack = stack[:-1]
            statement = []
        elif token == ";":
            if current is not None and len(stack) == level and statement:
                _server_statement(current, statement[0], statement[1:])
            statement = []
        else:
            statement.append(token)
    return servers


def _server_statement(server: NginxServer, directive: str, arguments: list[str]) -> None:
    if directive == "listen" and arguments:
        port = _port(arguments[0])
        if port is not None:
            server.ports.add(port)
    elif directive == "server_name":
        server.names |= {name.lower() for name in arguments}
    elif directive == "include" and arguments:
        server.includes.append(_absolute(arguments[0]))


def _expanded(path: Path, own: set[Path], depth: int) -> Iterator[tuple[str, Path]]:
    """The file's tokens, each `include` statement followed by the included files' tokens."""
    if depth > 8 or path in own:
        return
    try:
        tokens = list(_tokens(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return
    position, previous = 0, ";"
    while position < len(tokens):
        token = tokens[position]
        yield token, path
        if token == "include" and previous in (";", "{", "}") and tokens[position + 2:position + 3] == [";"]:
            yield tokens[position + 1], path
            yield ";", path
            for included in sorted(glob.glob(_absolute(tokens[position + 1]))):
                yield from _expanded(Path(included), own, depth + 1)
            position, token = position + 2, ";"
        position, previous = position + 1, token


def _absolute(pattern: str) -> str:
    return pattern if pattern.startswith("/") else str(NGINX_ROOT / pattern)


def _port(address: str) -> int | None:
    if address.startswith("unix:"):
        return None
    tail = address.rsplit("]", 1)[-1].rsplit(":", 1)[-1] if ":" in address else address
    if tail.isdigit():
        return int(tail)
    return 80  # an address without a port listens on 80


# A comment starts only where a token does ("foo#bar" is one word, as nginx reads it).
TOKEN = re.compile(r"""#[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[{};]|[^\s{};"']+""")


def _tokens(text: str) -> Iterator[str]:
    for match in TOKEN.finditer(text):
        token = match.group(0)
        if token.startswith("#"):
            continue
        yield token[1:-1] if token[:1] in "\"'" else token
