"""Creole-compatible rendering of the module's templates on hosts without Creole.

The same template files render the same way here and on an Eolebase: Cheetah with
Creole's tokens, and the values exposed the way Creole exposes them (a master's
entries carry their slaves as attributes: %%port.conteneur2_port_hote).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from Cheetah.NameMapper import NotFound
from Cheetah.Parser import ParseError
from Cheetah.Template import Template

from .dictionary import Dictionary, FileDecl
from .errors import EoleConteneursError
from .variables import Values

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
    """One entry of a master variable; its slaves' values are attributes."""

    def __init__(self, value: Any, slaves: dict[str, Any]):
        self.value, self._slaves = value, slaves

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_slaves"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __str__(self) -> str:
        return str(self.value)

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, MasterValue) else other)

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
            MasterValue(entry, {slave: values.entries(slave)[index] for slave in slaves})
            for index, entry in enumerate(values.entries(name))
        ]
    namespace.update(is_defined=lambda variable: variable in namespace,
                     is_empty=lambda value: value in (None, "", []),
                     custom_join=lambda multi, separator=" ": separator.join(str(item) for item in multi))
    return namespace


def render(source: Path, namespace: dict[str, Any]) -> str:
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(str(source), f"lecture impossible ({error.strerror})") from error
    try:
        return str(Template(text, searchList=[namespace], compilerSettings=CREOLE_COMPILER_SETTINGS))
    except (NotFound, ParseError, NameError, AttributeError, TypeError, ValueError, IndexError) as error:
        raise TemplateError(str(source), f"{error.__class__.__name__} : {error}") from error


def rendered_files(dictionary: Dictionary, values: Values, templates_dir: Path) -> list[tuple[FileDecl, str | None]]:
    """Each declared file with its content, or None when its file list is disabled."""
    namespace = template_namespace(dictionary, values)
    files = []
    for declaration in dictionary.templates:
        if declaration.filelist in values.disabled_filelists:
            files.append((declaration, None))
        else:
            files.append((declaration, render(templates_dir / declaration.source, namespace)))
    return files
