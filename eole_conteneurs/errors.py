"""Exception types. Every message is French (shown to administrators during reconfigure)."""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass

SHOWN_MAX = 80  # characters of a value shown in a message (one terminal line)
TEXT_MAX = 400  # characters of a reason or an expectation (they may quote a value)
HIDDEN = "(valeur secrète, non affichée)"
# What a terminal or a log reader would act on rather than show: C0 and C1 controls, DEL, the line and
# paragraph separators, the bidirectional overrides (which reorder what follows them on the line); and
# the lone surrogates a JSON "\\ud800" gives, which no UTF-8 output can write.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def visible(text: str, keep: str = "") -> str:
    """The text with every control character (but those in keep) written as an escape: \\r, \\x1b, \\u202e.

    A backslash is doubled when something was escaped, so that the escapes cannot be mistaken for it.
    """
    if not any(char not in keep for char in _INVISIBLE.findall(text)):
        return text
    return _INVISIBLE.sub(lambda match: match[0] if match[0] in keep else _escape(match[0]),
                          text.replace("\\", "\\\\"))


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def clipped(text: str, limit: int = SHOWN_MAX) -> str:
    """At most limit characters, then how long the whole was."""
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} caractères)"


# The C library's messages are English: the usual ones said in French.
_OS_REASONS = {
    errno.ENOENT: "fichier introuvable",
    errno.EISDIR: "c'est un répertoire, pas un fichier",
    errno.ENOTDIR: "un élément du chemin n'est pas un répertoire",
    errno.EACCES: "permission refusée",
    errno.EPERM: "opération non permise",
    errno.ELOOP: "lien symbolique refusé (ou boucle de liens)",
    errno.ENOSPC: "plus de place sur le disque",
    errno.EROFS: "système de fichiers en lecture seule",
    errno.EIO: "erreur d'entrée-sortie",
}


def os_reason(error: OSError) -> str:
    """Why a file operation failed, in French when the reason is a usual one."""
    return _OS_REASONS.get(error.errno or 0) or error.strerror or str(error)


def decode_reason(error: UnicodeDecodeError) -> str:
    byte = error.object[error.start:error.start + 1].hex()
    return f"contenu illisible : l'octet 0x{byte} (position {error.start}) n'est pas de l'UTF-8"


class EoleConteneursError(Exception):
    """Base of every error the module reports to the administrator.

    Its message may quote a value or a path read from the configuration or the host: shown with
    its control characters escaped (line breaks kept, the message may have several lines).
    """

    def __str__(self) -> str:
        return visible(super().__str__(), keep="\n\t")


def show_value(value: object) -> str:
    """Quote a value on one line, with control characters made visible, clipped to SHOWN_MAX characters."""
    if value is None:
        return "(vide)"
    return f"« {visible(clipped(_text(value)))} »"


def _text(value: object) -> str:
    """str(), also for what str() cannot show: a nested list too deep, an integer too long."""
    try:
        return str(value)
    except (RecursionError, ValueError):
        return f"({type(value).__name__} imbriqué ou trop grand)"


@dataclass(frozen=True)
class InvalidValue(Exception):
    """One variable (one entry of a multi when index is set) holds a refused value."""

    variable: str
    value: object
    expected: str
    index: int | None = None
    reason: str = "valeur refusée"
    secret: bool = False  # a password: the message names the variable, never shows the value

    def __str__(self) -> str:
        where = self.variable if self.index is None else f"{self.variable} (valeur n°{self.index + 1})"
        shown = HIDDEN if self.secret and self.value is not None else show_value(self.value)
        reason, expected = (visible(clipped(text, TEXT_MAX)) for text in (self.reason, self.expected))
        return f"{visible(where)} : {shown} : {reason} ; attendu : {expected}"

    def __repr__(self) -> str:  # a traceback or a debug line shows no secret either
        return f"InvalidValue({self})"


class InvalidConfiguration(EoleConteneursError):
    """The configuration was refused; carries every problem found, not only the first."""

    def __init__(self, problems: list[InvalidValue]):
        self.problems = tuple(problems)
        super().__init__(self.summary())

    def summary(self) -> str:
        lines = [f"Configuration refusée ({len(self.problems)} erreur(s)) :"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)

    def variables(self) -> set[str]:
        return {problem.variable for problem in self.problems}


class ConfigFileError(EoleConteneursError):
    """config.eol cannot be read or is not the JSON document Creole writes."""

    def __init__(self, path: str, reason: str, line: int | None = None, column: int | None = None):
        self.path, self.reason, self.line, self.column = path, reason, line, column
        where = f" (ligne {line}, colonne {column})" if line is not None else ""
        super().__init__(f"Fichier de configuration {path}{where} : {reason}")


class DictionaryError(EoleConteneursError):
    """A Creole dictionary is malformed or does not follow the Creole structure."""

    def __init__(self, path: str, reason: str, line: int | None = None):
        self.path, self.reason, self.line = path, reason, line
        where = f", ligne {line}" if line is not None else ""
        super().__init__(f"Dictionnaire {path}{where} : {reason}")


class StateFileError(EoleConteneursError):
    """A file the module keeps between runs (under /var/lib/eole-conteneurs) cannot be read or written."""

    def __init__(self, path: object, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"Fichier d'état {path} : {reason}")
