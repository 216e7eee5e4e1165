"""The read → validate pipeline: dictionaries + stored values → a validated Configuration."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .dictionary import Dictionary, dictionary_files, load_dictionaries
from .dictionary_build import DEFAULT_NB_MAX, SOURCE_SUFFIX, build_directory
from .errors import InvalidConfiguration
from .spec import Configuration
from .validation import build_configuration
from .values import read_values
from .variables import resolve

INSTALLED_DICTIONARY = Path("/usr/share/eole/creole/dicos/60_conteneurs.xml")
CHECKOUT = Path(__file__).resolve().parent.parent


def default_dictionaries() -> Path:
    """From a checkout, its own dictionary (built on demand); otherwise the installed one.

    Only this module's dictionary is loaded: on an Eolebase the dicos directory also
    holds every other module's, which are Creole's business, not ours.
    """
    sources = sorted((CHECKOUT / "dicos").glob("*" + SOURCE_SUFFIX))
    if not sources:
        return INSTALLED_DICTIONARY
    output = CHECKOUT / "build" / "dicos"
    built = [output / source.name[: -len(".in")] for source in sources]
    if all(path.exists() and path.stat().st_mtime >= source.stat().st_mtime for path, source in zip(built, sources)):
        return output
    try:
        build_directory(CHECKOUT / "dicos", output, DEFAULT_NB_MAX)
    except OSError:
        output = Path(tempfile.mkdtemp(prefix="eole-conteneurs-dicos-"))
        build_directory(CHECKOUT / "dicos", output, DEFAULT_NB_MAX)
    return output


def load_dictionary(dicos: Path | None = None) -> Dictionary:
    return load_dictionaries(dictionary_files(dicos or default_dictionaries()))


def load_configuration(config: Path | None = None, dicos: Path | None = None) -> Configuration:
    """Raise InvalidConfiguration with every problem, or return the validated configuration."""
    dictionary = load_dictionary(dicos)
    values, problems = resolve(dictionary, read_values(config))
    configuration, problems = build_configuration(values, problems)
    if problems:
        order = {name: position for position, name in enumerate(dictionary.variables)}
        problems.sort(key=lambda p: (order.get(p.variable, len(order)), -1 if p.index is None else p.index))
        raise InvalidConfiguration(problems)
    return configuration
