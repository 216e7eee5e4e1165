"""The read → validate pipeline: dictionaries + stored values → a validated Configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .buildtime import DEFAULT_NB_MAX, SOURCE_SUFFIX, build_directory, expand_templates
from .dictionary import Dictionary, dictionary_files, load_dictionaries
from .errors import InvalidConfiguration
from .spec import Configuration
from .validation import build_configuration
from .values import read_values
from .variables import Values, resolve

INSTALLED_DICTIONARY = Path("/usr/share/eole/creole/dicos/60_conteneurs.xml")
INSTALLED_TEMPLATES = Path("/usr/share/eole/creole/distrib")
CHECKOUT = Path(__file__).resolve().parent.parent


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
    dictionary: Dictionary
    values: Values
    configuration: Configuration


def load_validated(config: Path | None = None, dicos: Path | None = None,
                   cache_dir: Path | None = None) -> Loaded:
    """Raise InvalidConfiguration with every problem, or return the validated configuration."""
    dictionary = load_dictionary(dicos, cache_dir)
    values, problems = resolve(dictionary, read_values(config))
    configuration, problems = build_configuration(values, problems)
    if problems:
        order = {name: position for position, name in enumerate(dictionary.variables)}
        problems.sort(key=lambda p: (order.get(p.variable, len(order)), -1 if p.index is None else p.index))
        raise InvalidConfiguration(problems)
    return Loaded(dictionary, values, configuration)


def load_configuration(config: Path | None = None, dicos: Path | None = None) -> Configuration:
    return load_validated(config, dicos).configuration
