"""The read → validate pipeline: dictionaries + stored values → a validated Configuration."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from eole_conteneurs.creole.buildtime import DEFAULT_NB_MAX, SOURCE_SUFFIX, build_directory, expand_templates
from eole_conteneurs.creole.dictionary import Dictionary, dictionary_files, load_dictionaries
from eole_conteneurs.errors import EoleConteneursError, InvalidConfiguration
from eole_conteneurs.config.model import Configuration
from eole_conteneurs.config.validation import build_configuration
from eole_conteneurs.creole.raw import RawConfig
from eole_conteneurs.creole.stored import DEFAULT_CONFIG, HOST_FACTS, host_facts, read_config_eol, read_values
from eole_conteneurs.creole.values import Values, disabled_variables, resolve

SWITCH = "activer_conteneurs"
INSTALLED_DICTIONARY = Path("/usr/share/eole/creole/dicos/60_conteneurs.xml")
INSTALLED_TEMPLATES = Path("/usr/share/eole/creole/distrib")
CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Sources:
    """Where the dictionary and the templates are read from."""

    dictionary: Path
    templates: Path


def default_sources() -> Sources:
    """From a checkout, its own dictionary and templates (built on demand); otherwise the installed ones.

    Only this module's dictionary is loaded: on an Eolebase the dicos directory also
    holds every other module's, which are Creole's business, not ours.
    """
    sources = sorted((CHECKOUT / "dicos").glob("*" + SOURCE_SUFFIX))
    if not sources:
        return Sources(INSTALLED_DICTIONARY, INSTALLED_TEMPLATES)
    output = CHECKOUT / "build"
    inputs = sources + [path for path in (CHECKOUT / "tmpl").iterdir() if path.is_file()]
    stamp = output / "dicos" / ".stamp"
    if not stamp.exists() or any(path.stat().st_mtime > stamp.stat().st_mtime for path in inputs):
        try:
            _build(output)
            stamp.touch()
        except OSError:  # a read-only checkout
            import tempfile  # only here: its import costs more than a no-op run's reads

            output = Path(tempfile.mkdtemp(prefix="eole-conteneurs-"))
            _build(output)
    return Sources(output / "dicos", output / "tmpl")


def _build(output: Path) -> None:
    build_directory(CHECKOUT / "dicos", output / "dicos", DEFAULT_NB_MAX)
    expand_templates(CHECKOUT / "tmpl", output / "tmpl", DEFAULT_NB_MAX)


def load_dictionary(dicos: Path | None = None, cache_dir: Path | None = None) -> Dictionary:
    return load_dictionaries(dictionary_files(dicos or default_sources().dictionary), cache_dir)


@dataclass(frozen=True)
class Loaded:
    """A configuration that passed validation, with what it was read from (templates need both)."""

    dictionary: Dictionary
    values: Values
    configuration: Configuration
    facts: dict[str, str] = field(default_factory=dict)  # other EOLE modules' variables (stored.HOST_FACTS)


def load_validated(config: Path | None = None, dicos: Path | None = None,
                   cache_dir: Path | None = None, creole_values: bool = False) -> Loaded:
    """Raise InvalidConfiguration with every problem, or return the validated configuration.

    creole_values: read through Creole's client (the run mode decides); config otherwise.
    """
    dictionary = load_dictionary(dicos, cache_dir)
    raw = read_values(config, creole_values, _names_to_read(dictionary, creole_values))
    values, problems = resolve(dictionary, raw)
    configuration, problems = build_configuration(values, problems)
    if problems:
        order = {name: position for position, name in enumerate(dictionary.variables)}
        problems.sort(key=lambda p: (order.get(p.variable, len(order)), -1 if p.index is None else p.index))
        raise InvalidConfiguration(problems)
    if not configuration.enabled:
        configuration = replace(configuration, switch_stored=_switch_stored(raw, creole_values))
    return Loaded(dictionary, values, configuration, host_facts(raw))


def _switch_stored(raw: RawConfig, creole_values: bool) -> bool:
    """Whether activer_conteneurs = non was stored. Creole's client answers the dictionary's default for
    a variable its config.eol lacks: that file tells (read only on this path: containers disabled)."""
    if not creole_values:
        return SWITCH in raw.values
    try:
        return SWITCH in read_config_eol(DEFAULT_CONFIG).values
    except EoleConteneursError:
        return False  # unreadable: nothing is removed on a guess


def _names_to_read(dictionary: Dictionary, creole_values: bool) -> list[str]:
    """Creole's client answers one name per call: the conditions' sources first, then only the
    variables they leave enabled (a few dozen rather than every family's)."""
    names = list(dictionary.variables) + list(HOST_FACTS)
    if not creole_values:
        return names  # config.eol is read whole anyway
    sources = read_values(None, True, [condition.source for condition in dictionary.conditions])
    disabled = disabled_variables(dictionary, sources)
    return [name for name in names if name not in disabled]


def load_configuration(config: Path | None = None, dicos: Path | None = None) -> Configuration:
    """The validated configuration of a config.eol file (for tests and scripts: no cache, no Creole)."""
    return load_validated(config, dicos).configuration
