#!/usr/bin/python3
"""Benchmark: `eole-conteneurs reconfigure` vs `docker-compose up -d` vs the seed's shell sequence.

For N httpd containers from the local registry (each with a port and a bind mount), three
scenarios: cold deploy, no-op re-run, one container changed. Each is timed over RUNS runs while
a bounded loop of requests goes through nginx to one unchanged container. Results go to
bench/results/ (summary.json, summary.md, summary.png).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import ssl
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

from eole_conteneurs.creole.buildtime import build_directory, expand_templates  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_reports  # noqa: E402

REGISTRY = "127.0.0.1:5000"
IMAGE = f"{REGISTRY}/httpd:2.4"
WORK = Path("/var/lib/eole-conteneurs-bench")
WEB_D = Path("/etc/nginx/web.d")
SITE = Path("/etc/nginx/conf.d/eole-conteneurs.conf")
BENCH_SERVER = Path("/etc/nginx/conf.d/zz-bench.conf")
BENCH_PORT = 18080
SEED_LIMIT = 600.0  # a seed run longer than this is not repeated (the 10 minutes)
RUN_TIMEOUT = 900.0  # default: a tool that does not answer by then is stopped and reported as hung
STOP_TIMEOUT = 10  # docker's default, as the seed and compose use it
MAX_REQUESTS = 20000
COMPOSE_PARALLEL_LIMIT = 64  # docker-compose's own default


def sh(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} → {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


# -- the three tools ---------------------------------------------------------------------------

SERVICES_NETWORK = "bench-prive"  # --services: every container joins it (a private network in use)
BENCH_SECRET = "valeur-du-banc"


@dataclass
class Tool:
    name: str
    base_port: int
    services: bool = False  # each container also gets two environment variables, a secret, a volume, a network
    client: str = "docker"  # the engine's own client, to look at and remove the bench's containers

    def container(self, index: int) -> str:
        return f"b{self.name}-{index}"

    def port(self, index: int, variant: int) -> int:
        """Container N moves between two ports: that is the "one change"."""
        return self.base_port + (800 if variant and index == self.n else 0) + index

    def www(self, index: int) -> Path:
        return WORK / self.name / f"www-{index}"

    def prepare(self, n: int) -> None:
        self.n = n
        for index in range(1, n + 1):
            self.www(index).mkdir(parents=True, exist_ok=True)
            (self.www(index) / "index.html").write_text(f"{self.name} {index}\n")

    def ids(self) -> list[str]:
        return sh(self.client, "ps", "-aq", "--filter", f"name=^b{self.name}-").stdout.split()

    def teardown(self) -> None:
        ids = self.ids()
        if ids:
            sh(self.client, "rm", "-f", *ids)
        if self.services:  # the bench's own volumes and network (the module never removes volumes)
            volumes = sh("docker", "volume", "ls", "-q", "--filter", f"name=^b{self.name}-").stdout.split()
            if volumes:
                sh("docker", "volume", "rm", *volumes, check=False)
            sh("docker", "network", "rm", SERVICES_NETWORK, check=False)
            for secrets in Path("/var/lib/eole-conteneurs/secrets").glob(f"b{self.name}-*"):
                shutil.rmtree(secrets, ignore_errors=True)

    def url(self) -> str:
        return f"http://127.0.0.1:{BENCH_PORT}/{self.container(1)}/"


class Eole(Tool):
    technology = "docker"
    scope = "bench"

    def prepare(self, n: int) -> None:
        super().prepare(n)
        # Installed, the package is byte-compiled (dh_python3); run from the checkout, it is made so too.
        sh("/usr/bin/python3", "-m", "compileall", "-q", str(CHECKOUT / "eole_conteneurs"))
        self.dicos, self.templates = WORK / "dicos", WORK / "tmpl"
        nb_max = max(n, 20)
        build_directory(CHECKOUT / "dicos", self.dicos, nb_max)
        expand_templates(CHECKOUT / "tmpl", self.templates, nb_max)

    def deploy(self, variant: int) -> subprocess.CompletedProcess:
        values = {"activer_conteneurs": "oui", "nombre_conteneurs": str(self.n)}
        for index in range(1, self.n + 1):
            values.update({
                f"conteneur{index}_nom": self.container(index), f"conteneur{index}_hub": REGISTRY,
                f"conteneur{index}_depot": "httpd", f"conteneur{index}_tag": "2.4",
                f"conteneur{index}_rep_hote": [str(self.www(index))],
                f"conteneur{index}_rep_conteneur": {"0": "/usr/local/apache2/htdocs"},
                f"conteneur{index}_port_conteneur": ["80"],
                f"conteneur{index}_port_hote": {"0": str(self.port(index, variant))},
            })
            if self.technology != "docker":
                values[f"conteneur{index}_technologie"] = self.technology
            if self.services:
                values.update({
                    f"conteneur{index}_env_nom": ["BANC_UN", "BANC_DEUX"],
                    f"conteneur{index}_env_valeur": {"0": "un", "1": f"deux {index}"},
                    f"conteneur{index}_secret_nom": ["banc"], f"conteneur{index}_secret_valeur": {"0": BENCH_SECRET},
                    f"conteneur{index}_volume_nom": [f"{self.container(index)}-donnees"],
                    f"conteneur{index}_volume_chemin": {"0": "/donnees"},
                    f"conteneur{index}_reseau_prive": [SERVICES_NETWORK],
                })
        config = WORK / "config.eol"
        config.write_text(json.dumps({name: {"owner": "gen_config", "val": val} for name, val in values.items()}))
        env = dict(os.environ, EOLE_CONTENEURS_SCOPE=self.scope, PYTHONPATH=str(CHECKOUT))
        return sh("/usr/bin/python3", "-m", "eole_conteneurs", "reconfigure", "--config", str(config),
                  "--dicos", str(self.dicos), "--gabarits", str(self.templates), check=False, env=env, cwd=CHECKOUT,
                  timeout=RUN_TIMEOUT)

    def url(self) -> str:
        # Through the module's own nginx publication (https, its generated location).
        return f"https://127.0.0.1/{self.container(1)}/"


class EolePodman(Eole):
    """The module with every container declared conteneurN_technologie = podman."""

    technology = "podman"
    scope = "bench-podman"

    def __init__(self, name: str, base_port: int, services: bool = False):
        super().__init__(name, base_port, services, client="podman")


class Compose(Tool):
    def deploy(self, variant: int) -> subprocess.CompletedProcess:
        lines = ["version: '3.8'" if self.services else "version: '2.4'", "services:"]
        for index in range(1, self.n + 1):
            name = self.container(index)
            lines += [f"  {name}:", f"    image: {IMAGE}", f"    container_name: {name}",
                      f"    ports: ['127.0.0.1:{self.port(index, variant)}:80']"]
            if not self.services:
                lines.append(f"    volumes: ['{self.www(index)}:/usr/local/apache2/htdocs']")
                continue
            lines += [f"    volumes: ['{self.www(index)}:/usr/local/apache2/htdocs', '{name}-donnees:/donnees']",
                      f"    environment: {{BANC_UN: un, BANC_DEUX: 'deux {index}'}}",
                      "    secrets: [banc]", f"    networks: [{SERVICES_NETWORK}]"]
        if self.services:
            secret = WORK / "compose" / "banc.secret"
            secret.write_text(BENCH_SECRET)
            lines += ["volumes:"] + [f"  {self.container(index)}-donnees: {{name: {self.container(index)}-donnees}}"
                                     for index in range(1, self.n + 1)]
            lines += ["networks:", f"  {SERVICES_NETWORK}: {{name: b{self.name}-prive}}",
                      "secrets:", f"  banc: {{file: {secret}}}"]
        compose = WORK / "compose" / "docker-compose.yml"
        compose.write_text("\n".join(lines) + "\n")
        # docker-compose 1.29 stalls (polling forever) when it has more services than its parallel
        # limit (default 64): seen here at N=100, and at N=20 with a limit of 8. One slot per service.
        env = dict(os.environ, COMPOSE_PARALLEL_LIMIT=str(max(COMPOSE_PARALLEL_LIMIT, self.n)))
        return sh("docker-compose", "-p", "benchcompose", "-f", str(compose), "up", "-d", check=False,
                  timeout=RUN_TIMEOUT, env=env)

    def teardown(self) -> None:
        super().teardown()
        sh("docker", "network", "rm", "benchcompose_default", f"b{self.name}-prive", check=False)


class Seed(Tool):
    """The presentation's sequence at every reconfigure: pull, stop, rm, run, for each container."""

    def deploy(self, variant: int) -> subprocess.CompletedProcess:
        script = ["set -u"]
        for index in range(1, self.n + 1):
            name = self.container(index)
            script += [
                f"docker pull {IMAGE} >/dev/null",
                f"id=$(docker ps -aq --filter name=^{name}$)",
                f'[ -z "$id" ] || docker stop -t {STOP_TIMEOUT} $id >/dev/null',
                '[ -z "$id" ] || docker rm $id >/dev/null',
                f"docker run -d --name {name} -p 127.0.0.1:{self.port(index, variant)}:80 "
                f"-v {self.www(index)}:/usr/local/apache2/htdocs {IMAGE} >/dev/null",
            ]
        return sh("bash", "-c", "\n".join(script), check=False, timeout=RUN_TIMEOUT)


# -- measuring ---------------------------------------------------------------------------------

class RequestLoop(threading.Thread):
    """Bounded in count and time, loopback only, stopped by the caller."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.done = url, threading.Event()
        self.sent = self.failed = 0
        self.context = ssl.create_default_context()
        self.context.check_hostname, self.context.verify_mode = False, ssl.CERT_NONE

    def run(self) -> None:
        while not self.done.is_set() and self.sent < MAX_REQUESTS:
            self.sent += 1
            try:
                with urllib.request.urlopen(self.url, timeout=5, context=self.context) as response:
                    ok = response.status == 200
            except (urllib.error.URLError, OSError):
                ok = False
            self.failed += 0 if ok else 1
            time.sleep(0.02)

    def stop(self) -> None:
        self.done.set()
        self.join(10)


@dataclass
class Record:
    tool: str
    n: int
    scenario: str
    times_s: list[float] = field(default_factory=list)
    median_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    stopped: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    failed_requests: list[int] = field(default_factory=list)
    errors: int = 0
    skipped: str | None = None
    measured_at: str = ""


def snapshot(tool: Tool) -> dict[str, str]:
    """Container id → start time (dockerd keeps only its last events: not enough at N=100)."""
    ids = tool.ids()
    if not ids:
        return {}
    out = sh(tool.client, "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", *ids).stdout.split("\n")
    return dict(line.split(maxsplit=1) for line in out if line.strip())  # Podman: a date with spaces


def changes(before: dict[str, str], after: dict[str, str]) -> tuple[int, int]:
    """(stopped, created): a container removed or started again was stopped; a new id was created."""
    restarted = sum(1 for key in before.keys() & after.keys() if before[key] != after[key])
    return len(before.keys() - after.keys()) + restarted, len(after.keys() - before.keys())


def measure(tool: Tool, record: Record, variant: int, with_requests: bool) -> float:
    loop = RequestLoop(tool.url()) if with_requests else None
    if loop:
        loop.start()
        time.sleep(0.3)
    before = snapshot(tool)
    started = time.monotonic()
    try:
        result = tool.deploy(variant)
    except subprocess.TimeoutExpired:
        if loop:
            loop.stop()
        record.skipped = f"bloqué : pas de réponse après {RUN_TIMEOUT:.0f} s, arrêté"
        print(f"  ! {tool.name} N={tool.n} {record.scenario}: {record.skipped}", flush=True)
        return float("inf")
    elapsed = time.monotonic() - started
    if loop:
        loop.stop()
        record.requests.append(loop.sent)
        record.failed_requests.append(loop.failed)
    record.errors += 0 if result.returncode == 0 else 1
    if result.returncode != 0:
        print(f"  ! {tool.name} exit {result.returncode}: {(result.stdout + result.stderr)[-500:]}", flush=True)
    stopped, created = changes(before, snapshot(tool))
    record.times_s.append(round(elapsed, 3))
    record.stopped.append(stopped)
    record.created.append(created)
    print(f"  {tool.name:8} N={tool.n:<3} {record.scenario:10} {elapsed:8.2f} s  stopped={stopped} "
          f"created={created}" + (f" requests={loop.sent} failed={loop.failed}" if loop else ""), flush=True)
    return elapsed


def finish(record: Record) -> Record:
    record.measured_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if record.times_s:
        record.median_s = round(statistics.median(record.times_s), 3)
        record.min_s, record.max_s = min(record.times_s), max(record.times_s)
    return record


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"


def scenarios(tool: Tool, n: int, runs: int, seed_limit: float = SEED_LIMIT,
              measured: tuple[str, ...] = ("cold", "noop", "one-change")) -> list[Record]:
    tool.prepare(n)
    cold, noop, change = (Record(tool.name, n, s) for s in ("cold", "noop", "one-change"))
    for _ in range(runs):
        tool.teardown()
        if measure(tool, cold, 0, with_requests=False) == float("inf"):
            noop.skipped = change.skipped = "non mesuré : le déploiement à froid est resté bloqué"
            tool.teardown()
            return [finish(cold), finish(noop), finish(change)]
    seed_estimate = n * STOP_TIMEOUT
    if isinstance(tool, Seed) and seed_estimate > seed_limit:
        reason = (f"ignoré : une exécution dépasserait {_duration(seed_limit)} "
                  f"(≈ {n} × {STOP_TIMEOUT} s d'arrêt)")
        noop.skipped = change.skipped = reason
        print(f"  {tool.name} N={n}: {reason}", flush=True)
    else:
        for _ in range(runs):
            if measure(tool, noop, 0, with_requests=True) > SEED_LIMIT:
                noop.skipped = noop.skipped or "arrêté après une exécution de plus de 10 minutes"
                break
        for run in range(runs if "one-change" in measured else 0):
            # N=1: the only container is the changed one, so no unchanged container to query.
            if measure(tool, change, (run + 1) % 2, with_requests=n > 1) > SEED_LIMIT:
                change.skipped = change.skipped or "arrêté après une exécution de plus de 10 minutes"
                break
            if run == runs - 1 and (run + 1) % 2:
                tool.deploy(0)  # back to the reference ports, untimed
    tool.teardown()
    return [finish(record) for record in (cold, noop, change) if record.scenario in measured]


# -- nginx around the bench ----------------------------------------------------------------------

def bench_server(tools: list[Tool]) -> None:
    """A plain nginx server on loopback proxying to container 1 of compose and the seed."""
    locations = "".join(f"    location /{tool.container(1)}/ {{ proxy_pass http://127.0.0.1:{tool.port(1, 0)}/; }}\n"
                        for tool in tools if not isinstance(tool, Eole))
    BENCH_SERVER.write_text(f"server {{\n    listen 127.0.0.1:{BENCH_PORT};\n{locations}}}\n")
    sh("nginx", "-t")
    sh("nginx", "-s", "reload")
    time.sleep(1)


def save_nginx(saved: Path) -> None:
    shutil.rmtree(saved, ignore_errors=True)
    saved.mkdir(parents=True)
    if WEB_D.exists():
        shutil.copytree(WEB_D, saved / "web.d")
    if SITE.exists():
        shutil.copy2(SITE, saved / "site.conf")


def restore_nginx(saved: Path) -> None:
    shutil.rmtree(WEB_D, ignore_errors=True)
    if (saved / "web.d").exists():
        shutil.copytree(saved / "web.d", WEB_D)
    SITE.unlink(missing_ok=True)
    if (saved / "site.conf").exists():
        shutil.copy2(saved / "site.conf", SITE)
    BENCH_SERVER.unlink(missing_ok=True)
    sh("nginx", "-s", "reload", check=False)


def previous_records(out: Path, sizes: list[int]) -> list[dict]:
    try:
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return []
    return [record for record in summary["records"] if record["n"] not in sizes]


def machine() -> dict:
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "?")
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
            "kernel": platform.release(), "cpus": os.cpu_count(), "memory_kib": int(memory),
            "docker": sh("docker", "version", "--format", "{{.Server.Version}}").stdout.strip(),
            "docker_compose": sh("docker-compose", "version", "--short").stdout.strip(),
            "python": platform.python_version()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", default="1,20,100", help="nombres de conteneurs, séparés par des virgules")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tools", default="eole,compose,seed", help="eole, compose, seed")
    parser.add_argument("--scenarios", default="cold,noop,one-change", help="cold, noop, one-change")
    parser.add_argument("--out", type=Path, default=CHECKOUT / "bench" / "results")
    parser.add_argument("--merge", action="store_true",
                        help="garde les mesures déjà dans summary.json pour les autres valeurs de N")
    parser.add_argument("--timeout", type=float, default=900.0, help="durée maximale d'une exécution (s)")
    parser.add_argument("--seed-limit", type=float, default=SEED_LIMIT,
                        help="séquence du seed : une relance estimée plus longue (s) n'est pas mesurée "
                             "(défaut : 600, les 10 minutes de l'issue)")
    args = parser.parse_args()
    global RUN_TIMEOUT
    RUN_TIMEOUT = args.timeout
    factories = {"eole": lambda: Eole("eole", 21000), "compose": lambda: Compose("compose", 22000),
                 "seed": lambda: Seed("seed", 23000)}
    tools = [factories[name]() for name in args.tools.split(",")]
    (WORK / "compose").mkdir(parents=True, exist_ok=True)
    saved = WORK / "nginx-avant-bench"
    save_nginx(saved)
    sizes = [int(value) for value in args.n.split(",")]
    kept = previous_records(args.out, sizes) if args.merge else []
    records: list[Record] = []
    try:
        for tool in tools:
            tool.n = 1
        bench_server(tools)
        for n in sizes:
            for tool in tools:
                records += scenarios(tool, n, args.runs, args.seed_limit, tuple(args.scenarios.split(",")))
                # Written as it goes: an interrupted benchmark keeps what it measured.
                write_reports(args.out, machine(), kept + [asdict(record) for record in records])
    finally:
        for tool in tools:
            tool.teardown()
        restore_nginx(saved)
    print(f"Résultats : {args.out}/summary.json, summary.md, summary.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
