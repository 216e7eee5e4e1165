"""Creole semantics on stored values: defaults, slave alignment, conditions, types, checks.

resolve() turns what config.eol (or Creole) stored into typed values, the way
gen_config would see them: disabled families are set aside, every enabled
variable is checked against its declared type and the dictionary's checks.
"""

from __future__ import annotations

import ast
import functools
import ipaddress
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from eole_conteneurs.creole.dictionary import Check, Dictionary, VariableDef
from eole_conteneurs.errors import InvalidValue
from eole_conteneurs.creole.stored import RawConfig

Scalar = Any  # str | int | None once typed


@dataclass
class Values:
    """Typed values of the enabled variables; variables already refused are listed."""

    source: str
    values: dict[str, Any] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    disabled_filelists: set[str] = field(default_factory=set)

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def entries(self, name: str) -> list[Any]:
        value = self.values.get(name)
        return list(value) if isinstance(value, list) else []

    def is_enabled(self, name: str) -> bool:
        return name in self.values and name not in self.disabled


def resolve(dictionary: Dictionary, raw: RawConfig) -> tuple[Values, list[InvalidValue]]:
    problems: list[InvalidValue] = []
    merged = _merge_defaults(dictionary, raw, problems)
    disabled, filelists = _disabled(dictionary, merged)
    values = Values(raw.source, merged, disabled, disabled_filelists=filelists)
    for name, definition in dictionary.variables.items():
        if name in values.disabled or any(p.variable == name for p in problems):
            continue
        if _longer_than_master(dictionary, name, values, problems):
            continue
        _type_variable(dictionary, definition, values, problems)
    values.refused = {problem.variable for problem in problems}
    return values, [_masked(dictionary, problem) for problem in problems]


def disabled_variables(dictionary: Dictionary, raw: RawConfig) -> set[str]:
    """The variables the conditions disable, from the stored values of their sources alone."""
    return _disabled(dictionary, _merge_defaults(dictionary, raw, []))[0]


def _masked(dictionary: Dictionary, problem: InvalidValue) -> InvalidValue:
    """A password's value never reaches a message, even when it is the one refused."""
    definition = dictionary.variables.get(problem.variable)
    if definition is None or definition.type != "password":
        return problem
    return replace(problem, secret=True)


# -- stored value + defaults -------------------------------------------------------------

def _merge_defaults(dictionary: Dictionary, raw: RawConfig, problems: list[InvalidValue]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name, definition in dictionary.variables.items():
        if dictionary.master_of(name) is None:
            merged[name] = _stored_or_default(definition, raw, problems)
    for master, slaves in dictionary.masters.items():
        for slave in slaves:
            merged[slave] = _slave_entries(dictionary.variables[slave], raw, len(merged[master]), problems)
    return merged


def _stored_or_default(definition: VariableDef, raw: RawConfig, problems: list[InvalidValue]) -> Any:
    stored = raw.values.get(definition.name)
    if definition.multi:
        if stored is None:
            return list(definition.default)
        return [_text(entry) for entry in _as_list(stored.val)]
    if stored is None:
        return definition.default[0] if definition.default else None
    if isinstance(stored.val, (list, dict)):
        problems.append(InvalidValue(definition.name, stored.val, "une valeur unique (la variable n'est pas multi)"))
        return None
    return _text(stored.val)


def _slave_entries(definition: VariableDef, raw: RawConfig, count: int, problems: list[InvalidValue]) -> list[Any]:
    stored = raw.values.get(definition.name)
    if stored is None:
        default = definition.default[0] if definition.default else None
        return [default] * count
    entries = _slave_list(definition.name, stored.val, problems)
    return entries + [None] * (count - len(entries))


def _slave_list(name: str, val: Any, problems: list[InvalidValue]) -> list[Any]:
    """Slaves are stored as {"0": v, "1": v} (EOLE >= 2.4) or, in older files, as a list."""
    if not isinstance(val, dict):
        return [_text(entry) for entry in _as_list(val)]
    entries: dict[int, Any] = {}
    for key, entry in val.items():
        if not re.fullmatch(r"[0-9]{1,4}", str(key)):
            problems.append(InvalidValue(name, key, "un indice entier de 0 à 9999 (\"0\", \"1\"…)",
                                         reason="indice invalide"))
            continue
        entries[int(key)] = _text(entry)
    size = max(entries) + 1 if entries else 0
    return [entries.get(index) for index in range(size)]


def _as_list(val: Any) -> list[Any]:
    if val is None:
        return []
    return list(val) if isinstance(val, list) else [val]


def _text(val: Any) -> Any:
    """Numbers may be stored as numbers or as strings: keep one form, text."""
    if val is None or isinstance(val, str):
        return val
    if isinstance(val, bool):  # JSON true/false: kept for typing, which knows whether a yes/no is expected
        return val
    if isinstance(val, int):  # never through float: 10**400 has no float
        return _digits(val)
    if isinstance(val, float):  # NaN and Infinity (Python's JSON reads them) are kept for typing to refuse
        return val if not math.isfinite(val) else _digits(int(val)) if val.is_integer() else str(val)
    return val  # anything else is refused by typing


def _digits(val: int) -> Any:
    """The integer as text; itself when Python will not write it (over 4300 digits): refused by typing."""
    try:
        return str(val)
    except ValueError:
        return val


def _longer_than_master(dictionary: Dictionary, name: str, values: Values, problems: list[InvalidValue]) -> bool:
    master = dictionary.master_of(name)
    if master is None:
        return False
    entries, count = values.entries(name), len(values.entries(master))
    if len(entries) <= count:
        return False
    problems.append(InvalidValue(
        name, entries, f"au plus {count} valeur(s), une par valeur de {master}",
        reason=f"{len(entries)} valeurs pour {count} valeur(s) de la variable maître {master}"))
    return True


# -- conditions ------------------------------------------------------------------------

def _disabled(dictionary: Dictionary, merged: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Apply disabled_if_(not_)in until stable; a condition whose source is disabled is skipped.

    Returns the disabled variables and the disabled file lists.
    """
    disabled: set[str] = set()
    filelists: set[str] = set()
    compared: dict[str, Any] = {}  # one typing per source: nombre_conteneurs is the source of a condition per family
    changed = True
    while changed:
        changed = False
        for condition in dictionary.conditions:
            if condition.name not in ("disabled_if_in", "disabled_if_not_in") or condition.source in disabled:
                continue
            if condition.source not in compared:
                compared[condition.source] = _comparable(dictionary, condition.source, merged.get(condition.source))
            source = compared[condition.source]
            # A refused source (reported on its own) cannot enable anything.
            found = source in condition.params
            if source is not _REFUSED and found != (condition.name == "disabled_if_in"):
                continue
            for kind, target in condition.targets:
                if kind == "filelist":
                    filelists.add(target)
                    continue
                names = dictionary.families.get(target, []) if kind == "family" else [target]
                new = set(names) - disabled
                disabled |= new
                changed |= bool(new)
    return disabled, filelists


_REFUSED = object()


def _comparable(dictionary: Dictionary, name: str, value: Any) -> Any:
    """The source's value as conditions compare it: typed, then as text."""
    definition = dictionary.variables[name]
    if definition.multi:
        # (unverified) Creole compares a multi through its first value; "" when it has none.
        value = value[0] if value else ""
    try:
        typed = _typed_entry(definition, value)
    except ValueError:
        return _REFUSED
    if any(_apply_check(check, typed, None) for check in dictionary.checks_for(name)):
        return _REFUSED
    return "" if typed is None else str(typed)


# -- types and checks ------------------------------------------------------------------

def _type_variable(dictionary: Dictionary, definition: VariableDef, values: Values,
                   problems: list[InvalidValue]) -> None:
    name = definition.name
    value = values.values[name]
    entries = value if isinstance(value, list) else [value]
    typed = []
    refused = False
    for index, entry in enumerate(entries):
        position = index if isinstance(value, list) else None
        try:
            typed.append(_typed_entry(definition, entry))
        except ValueError as expected:
            problems.append(InvalidValue(name, entry, _expected(dictionary, name, str(expected)), position))
            typed.append(None)
            refused = True
            continue
        for check in dictionary.checks_for(name):
            problem = _apply_check(check, typed[-1], position)
            if problem is not None:
                problems.append(problem)
    if definition.mandatory and not refused and all(entry in (None, "") for entry in typed):  # reported once
        problems.append(InvalidValue(name, None, "une valeur (variable obligatoire)", reason="valeur manquante"))
    values.values[name] = typed if isinstance(value, list) else typed[0]


def _typed_entry(definition: VariableDef, entry: Any) -> Any:
    if isinstance(entry, bool):  # true/false: a yes/no variable reads it in its own words; any other refuses it
        words = BOOLEANS.get(definition.type)
        if words is None:
            raise ValueError("un texte ou un nombre, pas un booléen (true/false)")
        entry = words[0] if entry else words[1]
    if isinstance(entry, float):
        raise ValueError("un nombre fini (NaN et Infinity ne sont pas du JSON)")
    if entry is None or entry == "":
        return None
    if not isinstance(entry, str):
        raise ValueError("une valeur simple (texte ou nombre)")
    if not entry.isascii():  # JSON's \ud800 escapes make lone surrogates: no file, label or command can hold one
        try:
            entry.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("un texte Unicode valide (demi-caractère UTF-16 isolé)") from None
    converter = TYPES.get(definition.type, _string)
    return converter(entry)


def _string(entry: str) -> str:
    return entry


def _number(entry: str) -> int:
    # A JSON integer was made text first (_text): 8080 and "8080" type alike.
    if not re.fullmatch(r"\s*-?[0-9]{1,18}\s*", entry):
        raise ValueError("un nombre entier")
    return int(entry)


def _port(entry: str) -> int:
    text = entry.strip()
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= 65535:
        raise ValueError("un numéro de port entier entre 1 et 65535")
    return int(text)


def _choice(*accepted: str) -> Callable[[str], str]:
    def convert(entry: str) -> str:
        if entry not in accepted:
            raise ValueError(" ou ".join(f"« {choice} »" for choice in accepted))
        return entry
    return convert


def _ipv4(entry: str) -> str:
    try:
        return str(ipaddress.IPv4Address(entry.strip()))
    except ValueError:
        raise ValueError("une adresse IPv4 (ex. 192.168.0.0)") from None


def _netmask(entry: str) -> str:
    try:
        return str(ipaddress.IPv4Network(f"0.0.0.0/{entry.strip()}").netmask)
    except ValueError:
        raise ValueError("un masque de réseau IPv4 (ex. 255.255.255.0)") from None


BOOLEANS = {"oui/non": ("oui", "non"), "on/off": ("on", "off"), "yes/no": ("yes", "no")}
# EOLE's own dictionaries use string, number, oui/non, ip, netmask…; port, network and filename
# were found in none (design §4): still typed here for dictionaries that declare them.
TYPES: dict[str, Callable[[str], Any]] = {
    "ip": _ipv4,
    "network": _ipv4,
    "netmask": _netmask,
    "string": _string,
    "filename": _string,
    "number": _number,
    "port": _port,
    "oui/non": _choice("oui", "non"),
    "on/off": _choice("on", "off"),
    "yes/no": _choice("yes", "no"),
}


def _expected(dictionary: Dictionary, name: str, typed_as: str) -> str:
    """What a value that is not even of its type should have been: a range says more than a type."""
    for check in dictionary.checks_for(name):
        if check.name == "valid_entier":
            return _range(check)
    return typed_as


def _range(check: Check) -> str:
    low, high = check.param("mini"), check.param("maxi")
    if low and high:
        return f"un entier de {int(low)} à {int(high)}"
    if low or high:
        return f"un entier {'supérieur' if low else 'inférieur'} ou égal à {int(low or high or 0)}"
    return "un nombre entier"


@functools.lru_cache(maxsize=64)
def _choices(literal: str) -> tuple[str, ...]:
    """valid_enum's Python list, parsed once per distinct text."""
    return tuple(str(choice) for choice in ast.literal_eval(literal))


def _bounds(check: Check) -> tuple[int, int]:
    return int(check.param("mini") or -(2**63)), int(check.param("maxi") or 2**63)


def _apply_check(check: Check, value: Any, index: int | None) -> InvalidValue | None:
    if value is None:
        return None
    if check.name == "valid_enum":
        accepted = _choices(check.params[0][1])
        if str(value) not in accepted:
            return InvalidValue(check.target, value, "une valeur parmi " + ", ".join(accepted), index)
    elif check.name == "valid_entier":
        low, high = _bounds(check)
        if not isinstance(value, int) or not low <= value <= high:
            return InvalidValue(check.target, value, _range(check), index)
    return None
