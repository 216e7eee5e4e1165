"""Exception types. Every message is French (shown to administrators during reconfigure)."""

from __future__ import annotations

from dataclasses import dataclass


class EoleConteneursError(Exception):
    """Base of every error the module reports to the administrator."""


SHOWN_MAX = 200
HIDDEN = "(valeur secrète, non affichée)"


def show_value(value: object) -> str:
    """Quote a value on one line, with control characters made visible."""
    if value is None:
        return "(vide)"
    text = str(value)
    if len(text) > SHOWN_MAX:
        text = text[:SHOWN_MAX] + f"… ({len(text)} caractères)"
    escaped = text.encode("unicode_escape").decode("ascii") if _has_control(text) else text
    return f"« {escaped} »"


def _has_control(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


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
        return f"{where} : {shown} : {self.reason} ; attendu : {self.expected}"

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
