"""Build-time expansion of the dictionary source into conteneur-1 ... conteneur-NB_MAX.

Creole has no dynamic families, so the families are generated from one Cheetah
source (dicos/*.xml.in) instead of being copied by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


DEFAULT_NB_MAX = 20
SOURCE_SUFFIX = ".xml.in"
INDEX_MARK = "@N@"


def render_source(source: Path, nb_max: int) -> str:
    if nb_max < 1:
        raise ValueError(f"NB_MAX doit être un entier supérieur ou égal à 1 (reçu : {nb_max})")
    from Cheetah.Template import Template  # build time only: the runtime path does not load it

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


def expand_templates(source_dir: Path, output_dir: Path, nb_max: int) -> list[Path]:
    """tmpl/NAME@N@.EXT.in gives NAME1.EXT … NAME<nb_max>.EXT (@N@ replaced); other files are copied.

    Creole renders each <file> from its own template with no parameter, so the container
    number is written into each copy here; the Creole syntax itself is left untouched.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(path for path in source_dir.iterdir() if path.is_file() and not path.name.startswith(".")):
        text = source.read_text(encoding="utf-8")
        if source.name.endswith(".in") and INDEX_MARK in source.name:
            copies = {source.name[:-3].replace(INDEX_MARK, str(n)): text.replace(INDEX_MARK, str(n))
                      for n in range(1, nb_max + 1)}
        else:
            copies = {source.name: text}
        for name, content in copies.items():
            (output_dir / name).write_text(content, encoding="utf-8")
            written.append(output_dir / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Génère les dictionnaires et gabarits Creole d'eole-conteneurs.")
    parser.add_argument("kind", choices=("dicos", "tmpl"))
    parser.add_argument("source_dir", type=Path)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--nb-max", type=int, default=DEFAULT_NB_MAX)
    args = parser.parse_args(argv)
    build = build_directory if args.kind == "dicos" else expand_templates
    written = build(args.source_dir, args.output_dir, args.nb_max)
    print(f"{len(written)} fichier(s) générés dans {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
