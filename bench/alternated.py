#!/usr/bin/python3
"""No-op re-runs of eole-conteneurs and docker-compose, alternated, on a quiet machine.

A cross-check of make bench's no-op ratio: the two tools take turns (same moment, same load),
with no request loop, once dockerd has settled after the deploys.
Usage: bench/alternated.py [N] [RUNS] [--services] — with --services, each container also has two
environment variables, a secret, a data volume and a private network (in both tools).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

SETTLE_S = 30  # after 2 × N creations, dockerd and containerd keep working for a while


def main() -> int:
    arguments = [argument for argument in sys.argv[1:] if argument != "--services"]
    services = "--services" in sys.argv[1:]
    n = int(arguments[0]) if arguments else 100
    runs = int(arguments[1]) if len(arguments) > 1 else 10
    (run.WORK / "compose").mkdir(parents=True, exist_ok=True)
    tools = [run.Eole("eole", 21000, services), run.Compose("compose", 22000, services)]
    times: dict[str, list[float]] = {tool.name: [] for tool in tools}
    try:
        for tool in tools:
            tool.prepare(n)
            tool.teardown()
            for _ in range(2):  # deployed, then once more: caches and images as in a no-op
                result = tool.deploy(0)
                if result.returncode != 0:
                    raise RuntimeError(f"{tool.name} : {result.stdout[-1000:]}{result.stderr[-1000:]}")
        time.sleep(SETTLE_S)
        for _ in range(runs):
            for tool in tools:
                started = time.monotonic()
                result = tool.deploy(0)
                times[tool.name].append(time.monotonic() - started)
                if result.returncode != 0:
                    raise RuntimeError(f"{tool.name} : {result.stdout[-1000:]}{result.stderr[-1000:]}")
    finally:
        for tool in tools:
            tool.teardown()
    eole, compose = (statistics.median(times[name]) for name in ("eole", "compose"))
    variant = " (environnement, secret, volume, réseau privé)" if services else ""
    print(f"N={n}{variant}, relances sans changement alternées, {runs} de chaque : eole-conteneurs {eole:.3f} s "
          f"(min {min(times['eole']):.3f}), docker-compose {compose:.3f} s (min {min(times['compose']):.3f}), "
          f"rapport {eole / compose:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
