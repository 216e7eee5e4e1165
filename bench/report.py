"""Writes the benchmark's results: summary.json (one record per tool × N × scenario), summary.md, summary.png."""

from __future__ import annotations

import json
from pathlib import Path

TOOLS = ("eole", "compose", "seed")
LABELS = {"eole": "eole-conteneurs reconfigure", "compose": "docker-compose up -d", "seed": "séquence du seed"}
SCENARIOS = {"cold": "déploiement à froid", "noop": "relance sans changement", "one-change": "un conteneur modifié"}
# Targets of the issue: eole time / docker-compose time.
TARGETS = {("noop", 20): 0.25, ("noop", 100): 0.1, ("cold", None): 0.8}


def write_reports(out: Path, machine: dict, records: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({"machine": machine, "records": records}, ensure_ascii=False,
                                                 indent=1) + "\n")
    (out / "summary.md").write_text(markdown(machine, records))
    plot(out / "summary.png", records)


def _find(records: list[dict], tool: str, n: int, scenario: str) -> dict | None:
    return next((r for r in records if (r["tool"], r["n"], r["scenario"]) == (tool, n, scenario)), None)


def _cell(record: dict | None) -> str:
    if record is None:
        return "—"
    if record["skipped"] and not record["times_s"]:
        return "ignoré"
    spread = f" ({record['min_s']:.2f}–{record['max_s']:.2f})" if record["times_s"] else ""
    return f"{record['median_s']:.2f} s{spread}"


def _counts(record: dict | None) -> str:
    if record is None or not record["times_s"]:
        return "—"
    failed = f", échecs {sum(record['failed_requests'])}/{sum(record['requests'])}" if record["requests"] else ""
    return f"arrêtés {max(record['stopped'])}, créés {max(record['created'])}{failed}"


def _ratio(records: list[dict], n: int, scenario: str, other: str) -> float | None:
    mine, theirs = _find(records, "eole", n, scenario), _find(records, other, n, scenario)
    if not mine or not theirs or not mine["median_s"] or not theirs["median_s"]:
        return None
    return mine["median_s"] / theirs["median_s"]


def markdown(machine: dict, records: list[dict]) -> str:
    sizes = sorted({r["n"] for r in records})
    dates = sorted({f"N={r['n']} : {r.get('measured_at') or machine['date']}" for r in records})
    lines = [f"Machine {machine['host']} ({machine['cpus']} cœurs, {machine['memory_kib'] // 1024} Mio, "
             f"Docker {machine['docker']}, docker-compose {machine['docker_compose']}). Médiane (min–max) du "
             f"temps total, sur {max((len(r['times_s']) for r in records), default=0)} exécutions. "
             f"Mesuré le {'; '.join(dict.fromkeys(d.split(' : ', 1)[1][:16] for d in dates))} (UTC).", "",
             "| N | scénario | " + " | ".join(LABELS[t] for t in TOOLS) + " | eole / compose | eole / seed |",
             "| --- | --- | " + " | ".join("---" for _ in TOOLS) + " | --- | --- |"]
    for n in sizes:
        for scenario, label in SCENARIOS.items():
            cells = [_cell(_find(records, tool, n, scenario)) for tool in TOOLS]
            ratios = [_ratio(records, n, scenario, other) for other in ("compose", "seed")]
            lines.append(f"| {n} | {label} | " + " | ".join(cells) + " | "
                         + " | ".join(f"{r:.2f}" if r is not None else "—" for r in ratios) + " |")
    lines += ["", "Conteneurs arrêtés / créés et requêtes en échec à travers nginx (conteneur non modifié) :", "",
              "| N | scénario | " + " | ".join(LABELS[t] for t in TOOLS) + " |",
              "| --- | --- | " + " | ".join("---" for _ in TOOLS) + " |"]
    for n in sizes:
        for scenario, label in SCENARIOS.items():
            lines.append(f"| {n} | {label} | "
                         + " | ".join(_counts(_find(records, tool, n, scenario)) for tool in TOOLS) + " |")
    skipped = [r for r in records if r["skipped"]]
    if skipped:
        lines += ["", "Non mesuré :"] + [f"- {LABELS[r['tool']]}, N={r['n']}, {SCENARIOS[r['scenario']]} : "
                                          f"{r['skipped']}" for r in skipped]
    lines += ["", "Objectifs (rapport eole / docker-compose) :"]
    for (scenario, n), target in TARGETS.items():
        for size in ([n] if n else sizes):
            ratio = _ratio(records, size, scenario, "compose")
            if ratio is not None:
                verdict = "atteint" if ratio <= target else "NON atteint"
                lines.append(f"- {SCENARIOS[scenario]}, N={size} : {ratio:.2f} (objectif ≤ {target}) : {verdict}")
    lines += ["", "Objectifs (conteneurs touchés et requêtes en échec, eole-conteneurs, toutes exécutions) :"]
    for n in sizes:
        lines += [line for line in (_counts_verdict(_find(records, "eole", n, scenario), n, scenario)
                                    for scenario in EXPECTED_CHANGES) if line]
    return "\n".join(lines) + "\n"


# Containers stopped and created expected at each run of a scenario (the targets).
EXPECTED_CHANGES = {"noop": 0, "one-change": 1}


def _counts_verdict(record: dict | None, n: int, scenario: str) -> str | None:
    if record is None or not record["times_s"]:
        return None
    expected = EXPECTED_CHANGES[scenario]
    touched = sorted(set(record["stopped"]) | set(record["created"]))
    failed = sum(record["failed_requests"])
    met = touched == [expected] and failed == 0
    return (f"- {SCENARIOS[scenario]}, N={n} : arrêtés/créés par exécution {touched} (attendu [{expected}]), "
            f"requêtes en échec {failed}/{sum(record['requests'])} : {'atteint' if met else 'NON atteint'}")


def plot(path: Path, records: list[dict]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["n"] for r in records})
    figure, axes = plt.subplots(1, len(SCENARIOS), figsize=(5 * len(SCENARIOS), 4.2), squeeze=False)
    width = 0.8 / len(TOOLS)
    for column, (scenario, label) in enumerate(SCENARIOS.items()):
        axis = axes[0][column]
        for offset, tool in enumerate(TOOLS):
            values = [(_find(records, tool, n, scenario) or {}).get("median_s") or 0 for n in sizes]
            positions = [i + (offset - (len(TOOLS) - 1) / 2) * width for i in range(len(sizes))]
            axis.bar(positions, values, width, label=LABELS[tool])
        axis.set_title(label)
        axis.set_xticks(range(len(sizes)), [f"N={n}" for n in sizes])
        axis.set_yscale("log")
        axis.set_ylabel("secondes (médiane, échelle log)")
    axes[0][0].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    # Re-render summary.md and summary.png from summary.json.
    import sys
    results = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results")
    summary = json.loads((results / "summary.json").read_text())
    write_reports(results, summary["machine"], summary["records"])
