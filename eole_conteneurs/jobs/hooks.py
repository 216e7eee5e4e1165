"""Entry points of the reconfigure hooks (the scripts in jobs/shims.py call these).

Usage: python3 -m eole_conteneurs.jobs.hooks pretemplate|posttemplate instance|reconfigure
"""

from __future__ import annotations

import sys
from typing import Callable

from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.jobs import operations
from eole_conteneurs.jobs.context import EXIT_ERROR, Job, RunMode, Settings, guarded, locked

PHASES: dict[str, Callable[[Job, Loaded | None], int]] = {
    "pretemplate": operations.pretemplate, "posttemplate": operations.posttemplate}
MODES = ("instance", "reconfigure")


def main(argv: list[str]) -> int:
    if len(argv) < 1 or argv[0] not in PHASES or (len(argv) > 1 and argv[1] not in MODES):
        print(f"usage : hooks {'|'.join(PHASES)} [{'|'.join(MODES)}]", file=sys.stderr)
        return EXIT_ERROR

    def run() -> int:
        settings = Settings.from_environment()
        return run_phase(argv[0], Job(settings, RunMode.for_hook(settings)))
    return guarded(run)


def run_phase(phase: str, job: Job, loaded: Loaded | None = None) -> int:
    """loaded: the configuration reconfigure already validated, when it runs the hook in-process."""
    if job.in_runner:  # `eole-conteneurs reconfigure` holds the lock
        return PHASES[phase](job, loaded)
    with locked(job):
        return PHASES[phase](job, loaded)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
