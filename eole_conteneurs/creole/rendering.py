"""Creole-compatible rendering of the module's templates on hosts without Creole.

The same template files render the same way here and on an Eolebase: Cheetah with
Creole's tokens, and the values exposed the way Creole exposes them (a master's
entries carry their slaves as attributes: %%port.conteneur2_port_hote).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from eole_conteneurs import __version__
from eole_conteneurs.cache import file_stamp, read_json, write_json
from eole_conteneurs.creole.dictionary import Dictionary, FileDecl
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.creole.values import Values

MEMO_FILE = "rendus.json"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What may reach values or text not named literally in the template: such a template is always rendered.
DYNAMIC = re.compile(r"%\s*include\b|\b(?:getVar|varExists|hasVar|searchList|getattr|globals|locals|vars)\b")

# Creole's settings (creole/template.py, unverified): '%' directives, '%%' placeholders,
# comment tokens made unreachable so that '#' and '##' lines are copied as they are.
_NEVER = "µ" * 10
CREOLE_COMPILER_SETTINGS = {
    "directiveStartToken": "%",
    "cheetahVarStartToken": "%%",
    "EOLSlurpToken": "%",
    "commentStartToken": _NEVER,
    "multiLineCommentStartToken": _NEVER,
    "multiLineCommentEndToken": _NEVER,
    "PSPStartToken": _NEVER,
    "PSPEndToken": _NEVER,
}


class TemplateError(EoleConteneursError):
    def __init__(self, template: str, detail: str):
        self.template = template
        super().__init__(f"gabarit {template} : {detail}")


class MasterValue:
    """One entry of a master variable, as a Creole loop item: .value, .index (its position in the
    master) and its slaves' values as attributes (%%port.index, %%port.conteneur2_port_hote)."""

    def __init__(self, value: Any, slaves: dict[str, Any], index: int = 0):
        self.value, self.index, self._slaves = value, index, slaves

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_slaves"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __str__(self) -> str:
        return str(self.value)

    def __eq__(self, other: object) -> bool:
        return bool(self.value == (other.value if isinstance(other, MasterValue) else other))

    def __hash__(self) -> int:
        return hash(self.value)


def template_namespace(dictionary: Dictionary, values: Values) -> dict[str, Any]:
    """Enabled variables only: a disabled one is unknown to a template, as in Creole."""
    namespace: dict[str, Any] = {}
    for name in dictionary.variables:
        if not values.is_enabled(name):
            continue
        slaves = dictionary.masters.get(name)
        if slaves is None:
            namespace[name] = values.get(name)
            continue
        namespace[name] = [
            MasterValue(entry, {slave: values.entries(slave)[index] for slave in slaves}, index)
            for index, entry in enumerate(values.entries(name))
        ]
    namespace.update(is_defined=lambda variable: variable in namespace,
                     is_empty=lambda value: value in (None, "", []),
                     custom_join=lambda multi, separator=" ": separator.join(str(item) for item in multi))
    return namespace


def render(source: Path, namespace: dict[str, Any]) -> str:
    return render_text(str(source), _read(source), namespace)


def render_text(name: str, text: str, namespace: dict[str, Any]) -> str:
    # Cheetah is imported here only: a reconfigure whose values did not change never loads it.
    from Cheetah.NameMapper import NotFound
    from Cheetah.Parser import ParseError
    from Cheetah.Template import Template

    try:
        return str(Template(text, searchList=[namespace], compilerSettings=CREOLE_COMPILER_SETTINGS))
    except (NotFound, ParseError, NameError, AttributeError, TypeError, ValueError, IndexError) as error:
        raise TemplateError(name, f"{error.__class__.__name__} : {error}") from error


def _read(source: Path) -> str:
    try:
        return source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TemplateError(str(source), f"lecture impossible ({getattr(error, 'strerror', None) or error})") from error


def rendered_files(dictionary: Dictionary, values: Values, templates_dir: Path, memo_dir: Path | None = None,
                   declarations: list[FileDecl] | None = None, namespace: dict[str, Any] | None = None,
                   memo_file: str = MEMO_FILE) -> list[tuple[FileDecl, str | None]]:
    """Each declared file with its content, or None when its file list is disabled.

    declarations: the dictionary's <files> unless given; namespace: the variables (as Creole gives
    them) unless given — the module's own files about the host get what the host runs instead. With
    memo_dir, a template whose text and values are those of the previous run is not rendered again
    (compiling a template costs milliseconds; a one-change run re-renders one); each set of
    declarations has its own memo_file.
    """
    if namespace is None:
        namespace = template_namespace(dictionary, values)
    stamp = file_stamp(__file__, *_cheetah_files()) if memo_dir is not None else None
    memo_path = memo_dir / memo_file if memo_dir is not None and stamp is not None else None
    previous = (read_json(memo_path) or {}) if memo_path else {}
    rendered, names = _memo_part(previous, "rendus"), _memo_part(previous, "noms")
    sources = [(declaration, None if declaration.filelist in values.disabled_filelists
                else _read(templates_dir / declaration.source))
               for declaration in (dictionary.templates if declarations is None else declarations)]
    keys = MemoKeys(namespace, stamp, names)
    whole = keys.whole(sources) if memo_path is not None else None
    reused = _reused(previous, whole, rendered, sources)
    if reused is not None:  # the same texts and values as the previous run: every rendering is its
        return reused
    current: dict[str, str] = {}
    order: list[str | None] = []  # each declaration's key, for the next run's whole reuse
    files: list[tuple[FileDecl, str | None]] = []
    for declaration, text in sources:
        key = keys.key(text) if text is not None else None
        order.append(key)
        if text is None:
            files.append((declaration, None))
            continue
        source = templates_dir / declaration.source
        if key is None:  # not memoised
            files.append((declaration, render_text(str(source), text, namespace)))
            continue
        content = rendered.get(key)
        if not isinstance(content, str):
            content = render_text(str(source), text, namespace)
        current[key] = content
        files.append((declaration, content))
    if memo_path is not None and (current != rendered or keys.names != names or previous.get("tout") != whole):
        write_json(memo_path, {"rendus": current, "noms": keys.names, "tout": whole, "ordre": order})
    return files


def _reused(previous: dict[str, Any], whole: str | None, rendered: dict[str, Any],
            sources: list[tuple[FileDecl, str | None]]) -> list[tuple[FileDecl, str | None]] | None:
    """Every rendering of the previous run when nothing they depend on changed (None otherwise)."""
    order = previous.get("ordre")
    if whole is None or previous.get("tout") != whole or not isinstance(order, list) or len(order) != len(sources):
        return None
    files: list[tuple[FileDecl, str | None]] = []
    for (declaration, text), key in zip(sources, order):
        content = rendered.get(key) if isinstance(key, str) else None
        if (text is None) != (content is None) or not (content is None or isinstance(content, str)):
            return None
        files.append((declaration, content))
    return files


def memo_key(text: str, namespace: dict[str, Any], stamp: list | None) -> str | None:
    return MemoKeys(namespace, stamp).key(text)


_ABSENT = object()


def _memo_part(memo: dict[str, Any], part: str) -> dict[str, Any]:
    found = memo.get(part)
    return found if isinstance(found, dict) else {}


class MemoKeys:
    """Memo keys for one namespace: each value serialised once, however many templates name it, and
    the names a template's text holds found once per text (kept with the renderings: `noms`)."""

    def __init__(self, namespace: dict[str, Any], stamp: list | None, names: dict[str, Any] | None = None):
        self.namespace = namespace
        self.prefix = json.dumps([__version__, stamp]).encode("utf-8")
        self.serialized: dict[str, bytes] = {}
        self.known = names or {}
        # text digest → the identifiers in it (None: not memoised), for this run's texts
        self.names: dict[str, list[str] | None] = {}

    def whole(self, sources: list[tuple[FileDecl, str | None]]) -> str | None:
        """One key for a whole set of declarations: every text and every value (None when a template
        may reach beyond them, DYNAMIC). A no-op run computes it instead of one key per template."""
        digest = hashlib.sha256(self.prefix)
        for declaration, text in sources:
            text_digest = hashlib.sha256(text.encode("utf-8")).hexdigest() if text is not None else "-"
            if text is not None and self._names(text_digest, text) is None:
                return None
            digest.update(json.dumps([declaration.name, declaration.source, declaration.filelist]).encode("utf-8"))
            digest.update(text_digest.encode("ascii"))
        plain = {name: value for name, value in self.namespace.items() if not callable(value)}
        digest.update(json.dumps(plain, default=_plain, ensure_ascii=False).encode("utf-8"))
        return digest.hexdigest()

    def key(self, text: str) -> str | None:
        """The template's text, every value it names, and what renders them.

        Creole templates name their variables literally (%%name, is_defined('name')); a name
        that is not a variable only costs nothing. Templates that look values up by computed
        names or include other files are not memoised (DYNAMIC): None.
        """
        encoded = text.encode("utf-8")
        text_digest = hashlib.sha256(encoded).hexdigest()
        names = self._names(text_digest, text)
        if names is None:
            return None
        digest = hashlib.sha256(self.prefix)
        digest.update(text_digest.encode("ascii"))
        for name in names:
            # (`set & keys()` would copy every key, per template; a name is text unless the memo was altered)
            value = self.namespace.get(name, _ABSENT) if isinstance(name, str) else _ABSENT
            if value is _ABSENT or callable(value):
                continue
            if name not in self.serialized:
                self.serialized[name] = json.dumps([name, value], default=_plain, ensure_ascii=False).encode("utf-8")
            digest.update(b"\0%b" % self.serialized[name])
        return digest.hexdigest()

    def _names(self, text_digest: str, text: str) -> list[str] | None:
        """Found once per text: the regular expressions cost more than all the rest of a key."""
        known = self.known.get(text_digest, _ABSENT)
        names: list[str] | None
        if known is None or isinstance(known, list):
            names = known
        else:
            names = None if DYNAMIC.search(text) else sorted(set(IDENTIFIER.findall(text)))
        self.names[text_digest] = names
        return names


def _plain(value: Any) -> Any:
    if isinstance(value, MasterValue):
        return [value.index, value.value, value.__dict__["_slaves"]]
    raise TypeError(f"valeur non sérialisable : {value!r}")


def _cheetah_files() -> list[str]:
    """Which Cheetah renders (an upgrade may render differently), found without importing it."""
    spec = importlib.util.find_spec("Cheetah")
    return [spec.origin] if spec is not None and spec.origin else []
