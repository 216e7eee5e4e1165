"""A property-based fuzzer of config.eol (Debian's python3-hypothesis): `check` and the plan on generated
files — well-formed and malformed, every variable of the dictionary, unicode, control characters, huge
and nested values, wrong types, missing keys, invalid JSON and UTF-8. Properties: never a traceback nor
« Erreur inattendue »; exit 0 only when an independent oracle accepts too (ports, names, host directories);
no control character written raw; nothing written, run or connected to outside the example's directory
(an audit hook watches); the module's host directories unchanged at the end.

The plan is the in-process planner (make_plan with nothing observed, and the text `plan` prints): `plan`
would also ask dockerd, shared with the other test runs, which images are present.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import posixpath
import re
import shutil
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from eole_conteneurs.commands.cli import main
from eole_conteneurs.config.loading import load_dictionary, load_validated
from eole_conteneurs.containers.planner import Create, make_plan
from eole_conteneurs.creole.dictionary import Dictionary
from eole_conteneurs.jobs.operations import describe_plan
from eole_conteneurs.journal import Journal

DOCUMENTS, FILES = 1200, 500  # examples: ≈ 35 s on the test machine
FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
HOST_DIRS = ("/etc/nginx", "/etc/apache2", "/etc/eole-conteneurs", "/var/lib/eole-conteneurs",
             "/var/cache/eole-conteneurs", "/run/eole-conteneurs")
# The oracle's own rules (README « Règles appliquées »), written again rather than imported.
NAME_RULE = re.compile(r"[a-z0-9][a-z0-9_.-]{1,62}")
FORBIDDEN = ("/etc", "/proc", "/sys", "/dev", "/usr", "/boot", "/root", "/run", "/var/lib/docker")
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\ud800-\udfff]")
SCOPE = "eole-fuzz"

# -- values -----------------------------------------------------------------------------------------

CONTROLS = ["\r", "\n", "\x00", "\x1b[2J", "\x7f", "\x85", "\u2028", "\u202e", "\t", "\ud800"]
HUGE = ["9" * 5000, "-" + "9" * 5000, "9" * 400, "1" + "0" * 20, 10 ** 400, 1e308, float("inf"), float("nan"),
        "x" * 5000, "/srv/" + "a" * 5000]
# Per field of a family (conteneurN_<field>): values the rules accept, then neighbours they refuse.
VALID = {
    "nom": ["hello-world", "my-apache-app", "ab", "a.b_c-d", "a" * 63, "0a", "wiki", "db", "app"],
    "hub": ["", "127.0.0.1:5000", "registre.ac-test.fr", "https://registre.fr/", "docker.io", "[::1]:5000"],
    "depot": ["httpd", "hello-world", "bibliotheque/application"], "tag": ["latest", "2.4", "", "v1.0-rc"],
    "rep_hote": ["/srv/app", "/srv/app/data/", "/var/eole-httpd/", "/home/eole/site", "/opt/app/www", "/data/x",
                 "/srv/./x", "/var/lib/dockerx/y"], "chemin": ["", "/wiki", "/applis/wiki/"],
    "rep_conteneur": ["/usr/local/apache2/htdocs/", "/data", "/var/www"], "env_valeur": ["x", "", "a b", "é"],
    "port_conteneur": ["80", "8080", 3000, " 8443 "], "port_hote": ["8081", 8082, "1", "65535", "1024", " 9000 "],
    "reseau_autorise": ["192.168.0.0", "10.0.0.0"], "masque_autorise": ["255.255.255.0", "255.0.0.0"],
    "env_nom": ["MARIADB_DATABASE", "A", "_X"], "secret_nom": ["mdp", "cle"], "secret_valeur": ["s3cret"],
    "volume_nom": ["donnees", "db-data"], "volume_chemin": ["/var/lib/mysql", "/srv/v"], "memoire": ["512M", "2G", ""],
    "reseau_prive": ["interne", "backend"], "sante_commande": ["mariadb-admin ping", ""], "commande": ["sleep 10", ""]}
REFUSED = {
    "nom": ["a", "A1", "-ab", "ab-", "a" * 64, "app ", "ap\np", "été", "a/b", ""], "tag": ["-bad", "a" * 129, "a b"],
    "hub": ["hote:99999", "a:b:c", "hôte", "http://"], "depot": ["registre.fr/app", "HTTPD", "a//b", "x:1", ""],
    "rep_hote": ["/etc", "/etc/", "/etc/nginx", "//etc", "/./etc", "/srv/../etc", "/etc/../srv/x", "/proc/1", "/sys/x",
                 "/dev/shm", "/usr/local/x", "/boot", "/root/x", "/run/x", "/var/run/x", "/var/lib/docker/volumes",
                 "/var/lib/eole-conteneurs/x", "/var/cache/eole-conteneurs", "/tmp/x", "/", "relatif/x", "", "~/x",
                 "/еtc", "/srv/données", "/srv/a b", "/var/log/nginx/x", "/srv/a;b"],
    "rep_conteneur": ["/", "/proc/x", "relatif", "/a/../b", ""], "chemin": ["/", "//", "/a b", "wiki", "/../x"],
    "port_conteneur": ["0", "65536", "-1", "80a", "+80", "1_000", "٣", 8087.5, True, "99999999999999999999"],
    "port_hote": ["80", "443", "0", "65536", "-1", "08x", "", 8087.5, True, "99999999999999999999"],
    "reseau_autorise": ["192.168.1.7", "256.1.1.1", "::1", "x"], "masque_autorise": ["24x", "255.0.255.0", "x"],
    "env_nom": ["1A", "A-B", ""], "env_valeur": ["a\nb", "a\x00b"], "secret_nom": ["a/b", "..", ""],
    "volume_nom": ["a", "a/b", ""], "volume_chemin": ["/", "relatif"], "reseau_prive": ["bridge", "host", "a"],
    "dependance": ["inconnu", "a"], "sante_commande": ["'", "a\nb"], "commande": ["'", "a\nb", '"a b" c'],
    "memoire": ["0M", "1K", "9" * 400 + "G", "abc", "99999999999T", "-1G", "1,5g"]}
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
NASTY = st.one_of(
    st.sampled_from(HUGE), st.sampled_from(CONTROLS), st.text(max_size=20), st.none(), st.booleans(),
    st.integers(), st.floats(), st.builds(str.__mul__, st.characters(), st.integers(100, 6000)),
    st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                      max_size=3), max_leaves=6),
    st.integers(2, 15).map(lambda depth: json.loads("[" * depth + "]" * depth)))


def field_of(name: str) -> str:
    return re.sub(r"^conteneur[0-9]+_", "", name)


class Values:
    """The strategies of each variable, built once (building them costs more than drawing from them)."""

    def __init__(self, dictionary: Dictionary) -> None:
        self.dictionary = dictionary
        self.cache: dict[tuple[str, bool], st.SearchStrategy] = {}
        self.fields = [field_of(name) for name in dictionary.variables if name.startswith("conteneur1_")]
        # What a change may hit: any variable, those of the families a document fills more often.
        self.changed = st.sampled_from([name for name in dictionary.variables if not re.match(
            r"conteneur([4-9]|[1-9][0-9])_", name)]) | st.sampled_from(list(dictionary.variables))

    def scalar(self, name: str, valid: bool) -> st.SearchStrategy:
        key = (field_of(name) if name.startswith("conteneur") else name, valid)
        if key not in self.cache:
            self.cache[key] = self._build(name, valid)
        return self.cache[key]

    def _build(self, name: str, valid: bool) -> st.SearchStrategy:
        """valid: a value the rules accept (or nothing: the default), else a neighbour, a control, a nasty."""
        definition, field = self.dictionary.variables[name], field_of(name)
        checks = {check.name: check for check in self.dictionary.checks_for(name)}
        choices: list = list(VALID.get(field, []))
        if "valid_enum" in checks:
            choices = list(ast.literal_eval(checks["valid_enum"].params[0][1]))
        elif definition.type in ("oui/non", "on/off", "yes/no"):
            choices = definition.type.split("/")
        elif "valid_entier" in checks:
            low, high = (int(checks["valid_entier"].param(bound) or 0) for bound in ("mini", "maxi"))
            choices = [low, high, str(low), str(high), str((low + high) // 2)]
            if not valid:
                return st.sampled_from([low - 1, str(high + 1), "x", ""]) | NASTY
        if valid:
            return st.sampled_from(choices) if choices else st.nothing()
        spoiled = st.builds("{}{}".format, st.sampled_from(choices or ["x"]), st.sampled_from(CONTROLS))
        return st.one_of(st.sampled_from(REFUSED.get(field, ["x"])), spoiled, NASTY)

    def stored(self, name: str, count: int, valid: bool) -> st.SearchStrategy:
        """The val Creole stores: a scalar, a multi's list, a slave's {"0": …} (or a list, older files)."""
        definition, slave = self.dictionary.variables[name], self.dictionary.master_of(name) is not None
        value = self.scalar(name, valid)
        if not definition.multi:
            return value
        key = (f"{field_of(name)}[{count}]", valid)
        if key not in self.cache:
            entries = st.lists(value, min_size=count, max_size=count)
            self.cache[key] = entries.map(_indexed) | entries if slave else entries
        return self.cache[key]


def _indexed(entries: list) -> dict:  # a slave as EOLE >= 2.4 stores it
    return {str(index): entry for index, entry in enumerate(entries)}


@st.composite
def documents(draw, values: Values) -> dict:
    """A config.eol: families 1..n with values the rules accept, then a few changes that may break it."""
    dictionary = values.dictionary
    count = draw(st.integers(1, 3))
    stored: dict[str, object] = {"activer_conteneurs": "oui", "nombre_conteneurs": str(count)}
    for index in range(1, count + 1):
        for name in (f"conteneur{index}_{field}" for field in values.fields):
            if name not in dictionary.variables or dictionary.master_of(name) is not None or \
                    values.scalar(name, valid=True).is_empty:  # no value known to be accepted: its default
                continue
            if field_of(name) in ("nom", "depot") or draw(st.integers(0, 3)) == 0:
                size = draw(st.integers(0, 2))
                for member in [name] + dictionary.masters.get(name, []):
                    stored[member] = draw(values.stored(member, size, valid=True))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))):
        name = draw(values.changed)
        stored[name] = draw(NASTY if draw(st.integers(0, 4)) == 0 else values.stored(name, draw(st.integers(0, 2)),
                                                                                     valid=False))
    document: dict[str, object] = {}
    for name, val in stored.items():
        owner = {key: "gen_config" for key in val} if isinstance(val, dict) else "gen_config"
        document[name] = {"owner": owner, "val": val}
    for _ in range(draw(st.sampled_from([0] * 8 + [1, 2]))):  # an entry of the wrong shape, or unknown
        name = draw(st.sampled_from(sorted(document)) | st.text(max_size=10))
        document[name] = draw(st.sampled_from([{"owner": "gen_config"}, {"val": "x", "autre": 1}, None, "oui"])
                              | NASTY)
    document["___version___"] = "2.8.0"
    return document


def encoded(document: dict, ascii_only: bool) -> bytes:
    """JSON as Creole writes it; a lone surrogate (from "\\ud800") gives invalid UTF-8 when not escaped."""
    return json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


CORRUPTIONS = ["truncate", "insert", "number", "nest", "bom", "top", "empty", "duplicate"]
LITERALS = ["9" * 5000, "-" + "9" * 5000, "9" * 400, "1e999", "-1e999", "NaN", "Infinity", "1.5", "-0", "0.0"]
BYTES = [b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\x00", b"\xef\xbb\xbf", b"\x80\x80", b"}", b"\"", b"\\"]


@st.composite
def corrupted(draw, values: Values) -> bytes:
    data = encoded(draw(documents(values)), draw(st.booleans()))
    kind, where = draw(st.sampled_from(CORRUPTIONS)), draw(st.integers(0, max(len(data) - 1, 0)))
    spots = [match.end() for match in re.finditer(rb'"val": ', data)]
    if kind in ("number", "nest") and spots:
        spot = draw(st.sampled_from(spots))
        end = spot + re.match(rb'("(?:[^"\\]|\\.)*"|[^,}]*)', data[spot:]).end()  # type: ignore[union-attr]
        depth = draw(st.sampled_from([15, 16, 17, 900, 5000, 100000]))
        value = draw(st.sampled_from(LITERALS)).encode() if kind == "number" else \
            b"[" * depth + data[spot:end] + b"]" * depth
        return data[:spot] + value + data[end:]
    inserted = data[:where] + draw(st.sampled_from(BYTES)) + data[where:]
    return {"truncate": lambda: data[:where], "insert": lambda: inserted,
            "bom": lambda: b"\xef\xbb\xbf" + data, "empty": lambda: draw(st.sampled_from([b"", b" ", b"\n"])),
            "top": lambda: draw(st.sampled_from([b"[]", b"null", b'"x"', b"1", b"[" * 100000, b"{" * 50000])),
            "duplicate": lambda: data[:-1] + b', "activer_conteneurs": {"val": "non"}}'}.get(kind, lambda: data)()


# -- the properties ---------------------------------------------------------------------------------

CHANGES = ("os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "os.symlink", "os.link", "os.chmod",
           "os.chown", "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile")
ACTIONS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork", "socket.connect")
WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Watch:
    """An audit hook (sys.addaudithook: never removed, idle outside `check`) recording what the code under
    test writes, changes, runs or connects to outside the allowed directory."""

    def __init__(self) -> None:
        self.allowed: str | None = None
        self.seen: list[str] = []
        sys.addaudithook(self.hook)

    def hook(self, event: str, args: tuple) -> None:
        if self.allowed is None or event not in ("open",) + CHANGES + ACTIONS:
            return
        path = args[0] if isinstance(args[0], (str, bytes, os.PathLike)) else None
        if event == "open" and (path is None or not ((args[2] or 0) & WRITES or set(args[1] or "") & set("wax+"))):
            return
        if path is None or not os.path.abspath(os.fsdecode(path)).startswith(self.allowed + "/"):
            self.seen.append(f"{event} {args!r}"[:200])


def snapshot() -> dict[str, tuple]:
    paths = [top for top in HOST_DIRS if os.path.lexists(top)] + [
        os.path.join(root, entry) for top in HOST_DIRS for root, directories, files in os.walk(top)
        for entry in directories + files]
    return {path: (lambda s: (s.st_mode, s.st_uid, s.st_size, s.st_mtime_ns))(os.lstat(path)) for path in paths}


def others() -> set[str]:
    """Other runs of the module or of a test suite: on a shared machine, what they change is theirs."""
    commands, ours_too = [], ancestors()  # `timeout … pytest`, `sh -c "… pytest"`: this very run
    for entry in os.scandir("/proc"):
        with contextlib.suppress(OSError, ValueError):  # gone meanwhile
            if int(entry.name) not in ours_too:
                commands.append(Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    ours = re.compile(r"-m eole_conteneurs\b|/eole-conteneurs(\s|$)|\bpytest\b")
    return {command[:120] for command in commands if ours.search(command)}


def ancestors() -> set[int]:
    """This process and those it descends from."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


class Fuzz(dict):
    def __repr__(self) -> str:  # a failing example shows its document, not the host's snapshot
        return f"Fuzz({self['dir']})"


@pytest.fixture(scope="module")
def fuzz(dicos, tmp_path_factory):
    """The dictionary (built from the checkout's source, as `dicos`), a directory, the watch, the host's state."""
    work = tmp_path_factory.mktemp("fuzz")
    set_hypothesis_home_dir(str(work / "hypothesis"))  # its cache of Unicode's tables, not in the checkout
    yield Fuzz(values=Values(load_dictionary(dicos)), dicos=str(dicos), dir=work, watch=Watch(), host=snapshot(),
               others=others())
    shutil.rmtree(work, ignore_errors=True)


def run_check(fuzz, data: bytes) -> tuple[int, str, str, Path]:
    """`eole-conteneurs check`, in process, with streams that encode like a terminal's (UTF-8, strict on stdout)."""
    path = fuzz["dir"] / "config.eol"
    path.write_bytes(data)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    watch = fuzz["watch"]
    watch.allowed, watch.seen = str(fuzz["dir"]), []
    try:
        with redirect_stdout(out), redirect_stderr(err):
            status = main(["check", "--config", str(path), "--dicos", fuzz["dicos"]])
    finally:
        watch.allowed = None
    out.flush(), err.flush()
    assert watch.seen == [], f"check a touché l'hôte : {watch.seen}"
    return status, out.buffer.getvalue().decode(), err.buffer.getvalue().decode(), path  # type: ignore[attr-defined]


def check_and_plan(fuzz, fuzz_runs, name: str, data: bytes) -> None:
    run = fuzz_runs.setdefault(name, {"cases": 0, "accepted": 0, "start": time.monotonic(), "seconds": 0.0})
    status, out, err, path = run_check(fuzz, data)
    for text in (out, err):
        assert "Traceback" not in text and "Erreur inattendue" not in text, text
        assert not RAW_CONTROL.search(text), f"caractère de contrôle écrit tel quel : {text!r}"[:2000]
    if status == 0:
        assert err == "" and out.startswith("Configuration valide"), (out, err)
        run["accepted"] += 1
        oracle(fuzz, data, path)
    else:
        assert status == 1 and out == "" and err.startswith("Erreur : "), (status, out, err)
    run["cases"] += 1
    run["seconds"] = time.monotonic() - run["start"]
    if run["cases"] % 100 == 0:
        fuzz["others"] |= others()


def oracle(fuzz, data: bytes, path: Path) -> None:
    """The rules the module must enforce, checked again on what it accepted and on the file itself."""
    # A number beyond Python's 4300-digit conversion limit is kept as its text (the module reads it so).
    document = json.loads(data.decode("utf-8"), parse_int=lambda text: int(text) if len(text) < 4000 else text)
    raw = {name: entry["val"] for name, entry in document.items() if isinstance(entry, dict) and "val" in entry}
    configuration = load_validated(path, Path(fuzz["dicos"])).configuration
    if not configuration.enabled:
        assert configuration.containers == ()
        return
    assert raw.get("activer_conteneurs") in ("oui", True)
    count = integer(raw.get("nombre_conteneurs", "1"))
    specs = configuration.containers
    assert [spec.index for spec in specs] == list(range(1, count + 1))
    names = [spec.name for spec in specs]
    assert len(set(names)) == len(names) and all(NAME_RULE.fullmatch(name) for name in names), names
    host_ports = [port.host_port for spec in specs for port in spec.ports]
    assert len(set(host_ports)) == len(host_ports) and not {80, 443} & set(host_ports), host_ports
    for spec in specs:
        assert as_text(raw.get(f"conteneur{spec.index}_nom")) == spec.name
        declared = listed(raw.get(f"conteneur{spec.index}_port_conteneur"))
        assert len(spec.ports) == len(declared), (declared, spec.ports)
        for entry in declared + aligned(raw.get(f"conteneur{spec.index}_port_hote"), len(declared)):
            assert integer(entry) is not None and 1 <= integer(entry) <= 65535, entry  # type: ignore[operator]
        hosts = listed(raw.get(f"conteneur{spec.index}_rep_hote"))
        assert len(spec.volumes) == len(hosts), (hosts, spec.volumes)
        for entry in hosts + [volume.host_dir for volume in spec.volumes]:
            assert allowed_host_dir(entry), entry
    plan = make_plan(specs, [], {}, SCOPE, digest=lambda secret: "0" * 64)
    assert [(type(action), action.name) for action in plan.actions] == [(Create, name) for name in names]
    journal = Journal(io.StringIO())
    journal.step(describe_plan(plan, "/var/lib/eole-conteneurs/secrets"))
    assert not RAW_CONTROL.search(journal.out.getvalue())  # type: ignore[attr-defined]


def listed(val) -> list:  # a multi: a list, or one value
    return [] if val is None else list(val) if isinstance(val, list) else [val]


def aligned(val, count: int) -> list:
    if isinstance(val, dict):
        by_index = {int(key): entry for key, entry in val.items() if str(key).isdigit()}
        return [by_index.get(index) for index in range(count)]
    return (listed(val) + [None] * count)[:count]


def as_text(entry) -> str:
    """A stored number is text to Creole: 12 and 12.0 are "12"."""
    number = isinstance(entry, (int, float)) and not isinstance(entry, bool) and integer(entry) is not None
    return str(integer(entry)) if number else str(entry)


def integer(entry) -> int | None:
    if isinstance(entry, (bool, type(None))) or isinstance(entry, float) and not entry.is_integer():
        return None
    try:
        return int(entry) if isinstance(entry, float) else int(str(entry).strip())
    except ValueError:
        return None


def allowed_host_dir(entry) -> bool:
    if not isinstance(entry, str) or not entry.startswith("/") or not entry.isascii():
        return False
    parts = [part for part in entry.split("/") if part not in ("", ".")]
    if ".." in parts:
        return False
    for candidate in ("/" + "/".join(parts), posixpath.normpath(os.path.realpath("/" + "/".join(parts)))):
        if candidate == "/" or any(candidate == tree or candidate.startswith(tree + "/") for tree in FORBIDDEN):
            return False
    return True


# -- the tests --------------------------------------------------------------------------------------

@settings(FUZZ, max_examples=DOCUMENTS)
@given(data=st.data())
def test_fuzz_well_formed_documents(fuzz, fuzz_runs, data):
    document = data.draw(documents(fuzz["values"]), label="document")
    check_and_plan(fuzz, fuzz_runs, "documents JSON (check + plan)", encoded(document, data.draw(st.booleans())))


@settings(FUZZ, max_examples=FILES)
@given(data=st.data())
def test_fuzz_malformed_files(fuzz, fuzz_runs, data):
    check_and_plan(fuzz, fuzz_runs, "fichiers abîmés (check + plan)", data.draw(corrupted(fuzz["values"])))


def test_fuzz_changed_nothing_on_the_host(fuzz, fuzz_runs):
    """After the examples above (this module's order): the module's host directories as they were."""
    assert fuzz_runs, "le fuzzer n'a tourné aucun cas"
    before, after = fuzz["host"], snapshot()
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    seen = fuzz["others"] | others()
    if changed and seen:
        pytest.skip(f"modifiés pendant le fuzzer par d'autres exécutions ({sorted(seen)[:3]}) : {changed[:5]}")
    assert changed == []
