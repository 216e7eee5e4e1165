#!/usr/bin/python3
"""Docker and Podman behind the module: cold deploy and no-op re-run of `eole-conteneurs reconfigure`.

The same N httpd containers (port, bind mount) as bench/run.py, declared once with the default
technology (Docker) and once with conteneurN_technologie = podman; the no-op runs are timed while
requests go through nginx to the first container. Results: bench/results/technologies.json and .md.
Usage: bench/technologies.py [--n 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import run

SCENARIOS = {"cold": "déploiement à froid", "noop": "relance sans changement"}
LABELS = {"eole": "Docker", "podman": "Podman"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=run.CHECKOUT / "bench" / "results")
    args = parser.parse_args()
    tools: list[run.Tool] = [run.Eole("eole", 21000), run.EolePodman("podman", 24000)]
    saved = run.WORK / "nginx-avant-bench-technologies"
    run.save_nginx(saved)
    records: list[run.Record] = []
    try:
        for tool in tools:
            tool.n = 1
        run.bench_server(tools)
        for tool in tools:
            records += run.scenarios(tool, args.n, args.runs, measured=tuple(SCENARIOS))
    finally:
        for tool in tools:
            tool.teardown()
        run.restore_nginx(saved)
    machine = dict(run.machine(), podman=run.sh("podman", "--version").stdout.strip())
    args.out.mkdir(parents=True, exist_ok=True)
    found = [asdict(record) for record in records]
    (args.out / "technologies.json").write_text(json.dumps({"machine": machine, "records": found},
                                                           ensure_ascii=False, indent=1) + "\n")
    (args.out / "technologies.md").write_text(markdown(machine, found, args.n))
    print((args.out / "technologies.md").read_text())
    return 0


def markdown(machine: dict, records: list[dict], n: int) -> str:
    def cell(tool: str, scenario: str) -> str:
        record = next((r for r in records if (r["tool"], r["scenario"]) == (tool, scenario)), None)
        if record is None or not record["times_s"]:
            return "—"
        failed = (f", requêtes en échec {sum(record['failed_requests'])}/{sum(record['requests'])}"
                  if record["requests"] else "")
        return (f"{record['median_s']:.2f} s ({record['min_s']:.2f}–{record['max_s']:.2f}) ; arrêtés "
                f"{max(record['stopped'])}, créés {max(record['created'])}{failed}")

    lines = [f"Machine {machine['host']} ({machine['cpus']} cœurs, Docker {machine['docker']}, {machine['podman']}), N={n}, "
             f"médiane (min–max) sur {max((len(r['times_s']) for r in records), default=0)} exécutions, "
             f"mesuré le {machine['date'][:16]} (UTC).", "",
             "| scénario | " + " | ".join(LABELS.values()) + " |", "| --- | " + " | ".join("---" for _ in LABELS) + " |"]
    lines += [f"| {label} | " + " | ".join(cell(tool, scenario) for tool in LABELS) + " |"
              for scenario, label in SCENARIOS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
