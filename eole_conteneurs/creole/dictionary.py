"""Creole dictionaries: loading, structural check against the shipped DTD, and the model.

Only what the module needs from a dictionary is modelled: variables (type, multi,
mandatory, defaults), families, master/slave groups, checks and conditions.
"""

from __future__ import annotations

import re
from dataclasses import asdict, astuple, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from eole_conteneurs import __version__
from eole_conteneurs.cache import file_stamp, read_json, write_json
from eole_conteneurs.errors import DictionaryError

if TYPE_CHECKING:
    from lxml import etree

DTD_PATH = Path(__file__).with_name("data") / "creole.dtd"
CACHE_FILE = "dictionnaire.json"
TRUE = "True"
KNOWN_TYPES = frozenset((
    "string", "number", "oui/non", "on/off", "yes/no", "boolean", "ip", "local_ip", "netmask", "network",
    "network_cidr", "broadcast", "cidr", "domain", "domain_strict", "hostname", "hostname_strict",
    "web_address", "port", "mail", "filename", "unix_filename", "unix_user", "password", "date",
    "schedule", "schedulemod", "netbios", "mac", "choice",
))


@dataclass(frozen=True)
class VariableDef:
    """One <variable> of a dictionary (after redefinitions)."""

    name: str
    family: str
    type: str = "string"
    multi: bool = False
    mandatory: bool = False
    default: tuple[str, ...] = ()
    description: str = ""
    mode: str = "normal"
    hidden: bool = False


VARIABLE_FIELDS = tuple(definition.name for definition in fields(VariableDef))


@dataclass(frozen=True)
class Check:
    """A <check> constraint (valid_enum, valid_entier…) on one variable."""

    name: str
    target: str
    params: tuple[tuple[str | None, str], ...]

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.params if key == name), None)


@dataclass(frozen=True)
class Condition:
    """A <condition> (disabled_if_in, disabled_if_not_in) and what it disables."""

    name: str
    source: str
    params: tuple[str, ...]
    targets: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FileDecl:
    """A <file>: the template `source` (in distrib) rendered to `name`."""

    name: str
    source: str
    filelist: str | None = None
    rm: bool = False
    mkdir: bool = False
    mode: str | None = None
    owner: str | None = None
    group: str | None = None


@dataclass
class Dictionary:
    """What the module needs of the Creole dictionaries, merged in Creole's order."""

    variables: dict[str, VariableDef] = field(default_factory=dict)
    families: dict[str, list[str]] = field(default_factory=dict)
    masters: dict[str, list[str]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    templates: list[FileDecl] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    _index_of: tuple[dict[str, str], dict[str, list[Check]]] | None = field(default=None, repr=False,
                                                                             compare=False)

    def master_of(self, slave: str) -> str | None:
        return self._indexes()[0].get(slave)

    def checks_for(self, variable: str) -> list[Check]:
        return self._indexes()[1].get(variable, [])

    def _indexes(self) -> tuple[dict[str, str], dict[str, list[Check]]]:
        """Built on first use, once loading is over: a reconfigure asks for every variable."""
        if self._index_of is None:
            masters = {slave: master for master, slaves in self.masters.items() for slave in slaves}
            checks: dict[str, list[Check]] = {}
            for check in self.checks:
                checks.setdefault(check.target, []).append(check)
            self._index_of = (masters, checks)
        return self._index_of


def dictionary_files(location: Path) -> list[Path]:
    """A single dictionary, or every *.xml of a directory in lexical order, as Creole does."""
    location = Path(location)
    paths = sorted(location.glob("*.xml")) if location.is_dir() else [location]
    if not paths:
        raise DictionaryError(str(location), "aucun dictionnaire (*.xml) trouvé")
    return paths


def load_dictionaries(paths: list[Path], cache_dir: Path | None = None) -> Dictionary:
    """Parsed and checked; with cache_dir, the previous run's model is reused while the files are unchanged."""
    stamp = _stamp(paths) if cache_dir is not None else None
    cache = cache_dir / CACHE_FILE if cache_dir is not None and stamp is not None else None
    cached = read_json(cache) if cache is not None else None
    if cached is not None and cached.get("stamp") == stamp:
        try:
            return _from_plain(cached["dictionary"])
        except (KeyError, TypeError, ValueError):
            pass  # a cache from elsewhere: parse again
    dictionary = Dictionary()
    for path in paths:
        _merge(dictionary, path, parse_file(path))
    _check_references(dictionary)
    if cache is not None:
        write_json(cache, {"stamp": stamp, "dictionary": _to_plain(dictionary)})
    return dictionary


def _stamp(paths: list[Path]) -> list | None:
    """What the model depends on: the files, the DTD that checked them, the code that read them."""
    files = file_stamp(*(Path(path).resolve() for path in paths), DTD_PATH, __file__)
    return None if files is None else [__version__, files]


def _to_plain(dictionary: Dictionary) -> dict:
    plain = asdict(dictionary)
    del plain["_index_of"]
    plain["files"] = [str(path) for path in dictionary.files]
    # Thousands of variables: each as the list of its fields, in their order (half the bytes to parse).
    plain["variables"] = [list(astuple(definition)) for definition in dictionary.variables.values()]
    return plain


def _from_plain(plain: dict) -> Dictionary:
    return Dictionary(
        variables={fields[0]: _variable_def(fields) for fields in plain["variables"]},
        families={name: list(members) for name, members in plain["families"].items()},
        masters={name: list(slaves) for name, slaves in plain["masters"].items()},
        checks=[Check(c["name"], c["target"], tuple((key, value) for key, value in c["params"]))
                for c in plain["checks"]],
        conditions=[Condition(c["name"], c["source"], tuple(c["params"]),
                              tuple((kind, target) for kind, target in c["targets"])) for c in plain["conditions"]],
        templates=[FileDecl(**fields) for fields in plain["templates"]],
        files=[Path(path) for path in plain["files"]],
    )


def _variable_def(fields: list[Any]) -> VariableDef:
    if len(fields) != len(VARIABLE_FIELDS):
        raise ValueError("champs de variable")  # another release's cache: parsed again
    values = dict(zip(VARIABLE_FIELDS, fields))
    return VariableDef(**dict(values, default=tuple(values["default"])))


def parse_file(path: Path) -> etree._ElementTree:
    from lxml import etree  # not loaded when the model comes from the cache

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        tree = etree.parse(str(path), parser)
    except etree.XMLSyntaxError as error:
        raise DictionaryError(str(path), f"XML mal formé : {error.msg}", error.lineno) from error
    except OSError as error:
        raise DictionaryError(str(path), f"lecture impossible : {error}") from error
    _validate_structure(path, tree)
    return tree


def _validate_structure(path: Path, tree: etree._ElementTree) -> None:
    from lxml import etree

    dtd = etree.DTD(str(DTD_PATH))
    if not dtd.validate(tree):
        errors = list(dtd.error_log.filter_from_errors())
        # "No declaration for element/attribute X" points at the misspelt name itself,
        # where the parent's content-model error only points at the parent.
        first = next((e for e in errors if e.message.startswith("No declaration")), errors[0])
        raise DictionaryError(str(path), f"structure Creole invalide : {_in_french(first.message)}", first.line)


# libxml2's validity messages, for the cases a dictionary author meets.
DTD_MESSAGES = (
    (r"No declaration for element (\S+)", "élément inconnu « {0} »"),
    (r"No declaration for attribute (\S+) of element (\S+)", "attribut inconnu « {0} » sur l'élément « {1} »"),
    (r'Value "(.*)" for attribute (\S+) of (\S+) is not among the enumerated set',
     "valeur « {0} » non autorisée pour l'attribut « {1} » de l'élément « {2} »"),
    (r"Element (\S+) does not carry attribute (\S+)", "attribut obligatoire « {1} » absent de l'élément « {0} »"),
    (r"Element (\S+) content does not follow the DTD, expecting (.*), got (.*)",
     "contenu de l'élément « {0} » non conforme : attendu {1}, trouvé {2}"),
)


def _in_french(message: str) -> str:
    for pattern, french in DTD_MESSAGES:
        match = re.fullmatch(pattern, message.strip())
        if match:
            return french.format(*match.groups())
    return message


def _merge(dictionary: Dictionary, path: Path, tree: etree._ElementTree) -> None:
    dictionary.files.append(path)
    root = tree.getroot()
    for family in root.iterfind("variables/family"):
        _merge_family(dictionary, path, family)
    for element in root.iterfind("constraints/*"):
        _merge_constraint(dictionary, element)
    for element in root.iterfind("files/file"):
        dictionary.templates.append(FileDecl(
            name=element.get("name"), source=element.get("source") or Path(element.get("name")).name,
            filelist=element.get("filelist"), rm=element.get("rm") == TRUE, mkdir=element.get("mkdir") == TRUE,
            mode=element.get("mode"), owner=element.get("owner"), group=element.get("group")))


def _merge_family(dictionary: Dictionary, path: Path, family: etree._Element) -> None:
    family_name = family.get("name")
    members = dictionary.families.setdefault(family_name, [])
    for element in family.iterfind("variable"):
        name = element.get("name")
        known = dictionary.variables.get(name)
        if known is not None and element.get("redefine") != TRUE:
            if element.get("exists") == "False":
                continue
            raise DictionaryError(str(path), f"variable « {name} » déjà définie", element.sourceline)
        if known is None and element.get("redefine") == TRUE:
            raise DictionaryError(str(path), f"redéfinition de « {name} », variable inconnue", element.sourceline)
        if element.get("type", "string") not in KNOWN_TYPES:
            raise DictionaryError(str(path), f"type inconnu « {element.get('type')} » pour « {name} »",
                                  element.sourceline)
        dictionary.variables[name] = _variable(element, family_name, known)
        if name not in members:
            members.append(name)


def _variable(element: etree._Element, family: str, known: VariableDef | None) -> VariableDef:
    base = known or VariableDef(name=element.get("name"), family=family)
    values = tuple((value.text or "") for value in element.iterfind("value"))
    flags = {
        "type": element.get("type"),
        "multi": _flag(element, "multi"),
        "mandatory": _flag(element, "mandatory"),
        "description": element.get("description"),
        "mode": element.get("mode"),
        "hidden": _flag(element, "hidden"),
        "default": values or None,
    }
    return replace(base, **{key: value for key, value in flags.items() if value is not None})


def _flag(element: etree._Element, attribute: str) -> bool | None:
    value = element.get(attribute)
    return None if value is None else value == TRUE


def _merge_constraint(dictionary: Dictionary, element: etree._Element) -> None:
    params = tuple((param.get("name"), param.text or "") for param in element.iterfind("param"))
    if element.tag == "check":
        dictionary.checks.append(Check(element.get("name"), element.get("target"), params))
    elif element.tag == "condition":
        targets = tuple((t.get("type", "variable"), (t.text or "").strip()) for t in element.iterfind("target"))
        values = tuple(value for _, value in params)
        dictionary.conditions.append(Condition(element.get("name"), element.get("source"), values, targets))
    elif element.tag == "group":
        slaves = dictionary.masters.setdefault(element.get("master"), [])
        slaves += [(slave.text or "").strip() for slave in element.iterfind("slave")]


def _check_references(dictionary: Dictionary) -> None:
    """A constraint naming an unknown variable would silently do nothing: refuse it."""
    where = ", ".join(str(path) for path in dictionary.files)
    referenced = [check.target for check in dictionary.checks]
    referenced += [condition.source for condition in dictionary.conditions]
    for master, slaves in dictionary.masters.items():
        referenced += [master, *slaves]
        if not dictionary.variables.get(master, VariableDef(master, "")).multi:
            raise DictionaryError(where, f"le maître « {master} » doit être une variable multi")
    for name in referenced:
        if name not in dictionary.variables:
            raise DictionaryError(where, f"contrainte sur une variable inconnue : « {name} »")
    for condition in dictionary.conditions:
        for kind, target in condition.targets:
            known: Mapping[str, object] = dictionary.variables
            if kind == "family":
                known = dictionary.families
            if kind == "filelist" and not any(t.filelist == target for t in dictionary.templates):
                raise DictionaryError(where, f"condition sur une liste de fichiers inconnue : « {target} »")
            if kind in ("family", "variable") and target not in known:
                raise DictionaryError(where, f"condition sur une cible inconnue : {kind} « {target} »")
