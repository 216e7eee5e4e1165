"""Entry points of the reconfigure hooks (pretemplate/, posttemplate/ are thin shims to these).

Usage: python3 -m eole_conteneurs.hooks pretemplate|posttemplate instance|reconfigure
"""

from __future__ import annotations

import sys

from . import operations
from .cli import guarded

PHASES = {"pretemplate": operations.pretemplate, "posttemplate": operations.posttemplate}
MODES = ("instance", "reconfigure")


def main(argv: list[str]) -> int:
    if len(argv) < 1 or argv[0] not in PHASES or (len(argv) > 1 and argv[1] not in MODES):
        print(f"usage : hooks {'|'.join(PHASES)} [{'|'.join(MODES)}]", file=sys.stderr)
        return operations.EXIT_ERROR
    return guarded(lambda: run_phase(argv[0], operations.Context.from_environment()))


def run_phase(phase: str, context: operations.Context, loaded: operations.Loaded | None = None) -> int:
    """loaded: the configuration reconfigure already validated, when it runs the hook in-process."""
    if context.external_generation:  # run by `eole-conteneurs reconfigure`, which holds the lock
        return PHASES[phase](context, loaded)
    with context.locked():
        return PHASES[phase](context, loaded)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
