"""Build-time expansion of the dictionary source into Conteneur-1 ... Conteneur-NB_MAX.

Creole has no dynamic families, so the families are generated from one Cheetah
source (dicos/*.xml.in) instead of being copied by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from Cheetah.Template import Template

DEFAULT_NB_MAX = 20
SOURCE_SUFFIX = ".xml.in"


def render_source(source: Path, nb_max: int) -> str:
    if nb_max < 1:
        raise ValueError(f"NB_MAX doit être un entier supérieur ou égal à 1 (reçu : {nb_max})")
    text = str(Template(source.read_text(encoding="utf-8"), searchList=[{"nb_max": nb_max}]))
    # The leading template comment leaves blank lines; the XML declaration must come first.
    return text.lstrip()


def build_directory(source_dir: Path, output_dir: Path, nb_max: int) -> list[Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(source_dir.glob("*" + SOURCE_SUFFIX)):
        target = output_dir / source.name[: -len(".in")]
        target.write_text(render_source(source, nb_max), encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Génère les dictionnaires Creole d'eole-conteneurs.")
    parser.add_argument("source_dir", type=Path)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--nb-max", type=int, default=DEFAULT_NB_MAX)
    args = parser.parse_args(argv)
    for path in build_directory(args.source_dir, args.output_dir, args.nb_max):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
