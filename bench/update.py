#!/usr/bin/python3
"""Benchmark: how long a service published through nginx is unavailable during `eole-conteneurs mise-a-jour`,
for a good update (a healthy new version, kept) and a bad one (an unhealthy new version, rolled back).

One busybox httpd container (image <prefix>-web:1 built here from /bin/busybox with `docker import`, pushed
to the local registry) with a health command (wget of /ok.html) and a health delay of 20 s, deployed by the
module (`eole-conteneurs reconfigure`, in a label scope of this bench's own) and published through nginx
by the location the module renders for it (see below). Each repetition publishes a new version under
the same tag (the host keeps the previous one under it: it has to pull, as in a real update), then runs
`mise-a-jour` while a thread sends a GET through nginx every 50 ms (2 s timeout), from 0.5 s before
the command to 3 s after it:
- good update: the new version has /ok.html; the command must end with 0 and the new version serve;
- bad update: the new version lacks /ok.html (its health check fails); the command must end with 1 and
  the previous version serve again.
A request succeeds when nginx answers 200 with the page of a healthy version ("version N"): during a bad
update, the answers of the unhealthy version are counted as failures (it is the broken version), and
also apart. Unavailability is the sum of the failed stretches (first failed request → next successful
one, at the 50 ms resolution of the loop); "sans réponse" counts only the requests not answered 200
at all (the container being swapped). The command's duration leaves out a wait for another run's lock
(other benches and tests share the host), measured on the journal's lines (timed as they come).
Medians, minimum and maximum over the repetitions.

The module replaces a container stop-first (the host port is the old one's): the unavailability of a good
update is the stop, the creation and the start of the new container; that of a bad one lasts the whole
health delay, then the previous container is started again.

Shared host: nginx's module files are global (web.d/conteneurN.conf, numbered by container, and the
module's site), and other benches and tests rewrite them or put back copies of them while this one runs.
So reconfigure renders the bench's conteneur1.conf, the module's files are put back as they were at once
(others' publications are out for about a second), and the rendered location is served by an HTTPS
server of the bench's own (conf.d/zz-<prefix>.conf, the module site's certificate, a free loopback
port): the same nginx and the same proxying as https://<serveur>/<name>/, out of others' way. The backup
before an update is left out (a backup repository never used, sauvegardes non planifiées). Containers
(by label), the nginx server and its logs, the local images and the bench's entry in the update history
are removed at the end, even on failure; the pushed images stay in the registry.
Results: bench/results/update.json.
Usage: bench/update.py [--repetitions 3] [--delai-sante 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

from eole_conteneurs.commands.text import table  # noqa: E402
from eole_conteneurs.containers.history import History  # noqa: E402
from eole_conteneurs.creole.buildtime import build_directory, expand_templates  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backup import machine as backup_machine, wait_for_free_lock  # noqa: E402

REGISTRY = "127.0.0.1:5000"
WEB_D = Path("/etc/nginx/web.d")
SITE = Path("/etc/nginx/conf.d/eole-conteneurs.conf")
HISTORY = Path("/var/lib/eole-conteneurs/mises-a-jour.json")
SCOPE_LABEL = "fr.eole.conteneurs.managed"
TOOLS = ("sh", "echo", "cat", "ls", "sleep", "httpd", "wget")
# busybox httpd as PID 1 ignores SIGTERM: the shell ends on it at once (a docker stop would wait 10 s).
SERVE = ["/bin/sh", "-c", 'trap "exit 0" TERM; httpd -f -p 80 -h /www & wait']
HEALTH = "wget -q -O /dev/null http://127.0.0.1/ok.html"
PERIOD_S, REQUEST_TIMEOUT_S = 0.05, 2.0  # the request loop: one GET every 50 ms, each given 2 s
BEFORE_S, AFTER_S = 0.5, 3.0  # the loop runs this long before the command and after it
MAX_REQUESTS = 20000
RUN_TIMEOUT = 600
LOCK_WAIT = "Un autre reconfigure"  # the module waits for another run's lock: that wait is not the update's


def sh(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} → {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def page(version: int) -> str:
    return f"version {version}"


# -- the requests through nginx ----------------------------------------------------------------------------

@dataclass
class Sample:
    started: float  # time.monotonic() when the request was sent
    ended: float
    status: int  # HTTP status; 0 when nginx did not answer (refused, timed out)
    body: str


class RequestLoop(threading.Thread):
    """One GET every PERIOD_S (at once after a slower one), loopback only, bounded, stopped by the caller."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.done = url, threading.Event()
        self.samples: list[Sample] = []
        self.context = ssl.create_default_context()
        self.context.check_hostname, self.context.verify_mode = False, ssl.CERT_NONE

    def get(self) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url, timeout=REQUEST_TIMEOUT_S, context=self.context) as response:
                return response.status, response.read(200).decode(errors="replace").strip()
        except urllib.error.HTTPError as error:
            return error.code, ""
        except (urllib.error.URLError, OSError):
            return 0, ""

    def run(self) -> None:
        due = time.monotonic()
        while not self.done.is_set() and len(self.samples) < MAX_REQUESTS:
            started = time.monotonic()
            status, body = self.get()
            self.samples.append(Sample(started, time.monotonic(), status, body))
            due += PERIOD_S
            delay = due - time.monotonic()
            if delay > 0:
                self.done.wait(delay)
            else:
                due = time.monotonic()

    def stop(self) -> None:
        self.done.set()
        self.join(REQUEST_TIMEOUT_S + 5)


def outages(samples: list[Sample], ok: list[bool], origin: float) -> list[tuple[float, float, bool]]:
    """(start relative to origin, length, restored) of each stretch of failed requests: from the first failed
    one to the next successful one (to the last answer when none came)."""
    found, first = [], None
    for sample, good in zip(samples, ok):
        if not good and first is None:
            first = sample.started
        elif good and first is not None:
            found.append((first - origin, sample.started - first, True))
            first = None
    if first is not None:
        found.append((first - origin, samples[-1].ended - first, False))
    return found


def analyse(samples: list[Sample], healthy: set[str], unhealthy: str | None, origin: float) -> dict:
    ok = [sample.status == 200 and sample.body in healthy for sample in samples]
    answered = [sample.status == 200 for sample in samples]
    failed, silent = outages(samples, ok, origin), outages(samples, answered, origin)
    statuses: dict[str, int] = {}
    for sample, good in zip(samples, ok):
        if not good:
            key = str(sample.status) if sample.status else "sans réponse"
            if sample.status == 200:
                key = f"200 « {sample.body[:40]} »"
            statuses[key] = statuses.get(key, 0) + 1
    return {
        "requetes": len(samples),
        "echecs": ok.count(False),
        "sans_reponse_200": answered.count(False),
        "version_defectueuse": sum(1 for sample in samples if unhealthy is not None and sample.status == 200
                                   and sample.body == unhealthy),
        "echecs_par_reponse": statuses,
        "indisponibilite_s": round(sum(length for _, length, _ in failed), 3),
        "indisponibilite_sans_reponse_s": round(sum(length for _, length, _ in silent), 3),
        # From the first failed request to the first successful one after the last failed one.
        "fenetre_s": round(failed[-1][0] + failed[-1][1] - failed[0][0], 3) if failed else 0.0,
        "pannes": [{"debut_s": round(start, 3), "duree_s": round(length, 3), "retablie": restored}
                   for start, length, restored in failed],
        "retablie": all(restored for _, _, restored in failed),
    }


# -- the bench -------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, health_wait: int):
        token = uuid.uuid4().hex[:6]
        self.scope, self.prefix = f"bench-maj-{token}", f"bmaj{token}"
        self.name = f"{self.prefix}-web"
        self.ref = f"{REGISTRY}/{self.prefix}-web:1"
        self.health_wait = health_wait
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="eole-conteneurs-banc-maj-"))
        self.config, self.dicos, self.templates = self.root / "config.eol", self.root / "dicos", self.root / "tmpl"
        self.nginx_port = free_port()
        self.server = Path(f"/etc/nginx/conf.d/zz-{self.prefix}.conf")  # the bench's own HTTPS server
        self.images: set[str] = set()  # every image id built here, removed at the end
        self.version = 0  # the last version built
        self.serving = 0  # the version the service is known to serve
        self.env = dict(os.environ, EOLE_CONTENEURS_SCOPE=self.scope, PYTHONPATH=str(CHECKOUT), PYTHONUNBUFFERED="1")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.nginx_port}/{self.name}/"

    # -- images ------------------------------------------------------------------------------------------

    def push(self, version: int, healthy: bool) -> None:
        """ref on the registry serves "version N" (with /ok.html when healthy); the host keeps what it had under
        ref: the registry is ahead of it, as a real update finds it."""
        previous = sh("docker", "image", "inspect", "--format", "{{.Id}}", self.ref, check=False).stdout.strip()
        work = Path(tempfile.mkdtemp(dir=self.root))
        for directory in ("bin", "www", "tmp"):
            (work / directory).mkdir()
        shutil.copy("/bin/busybox", work / "bin" / "busybox")
        for tool in TOOLS:
            (work / "bin" / tool).symlink_to("busybox")
        (work / "www" / "index.html").write_text(page(version))
        if healthy:
            (work / "www" / "ok.html").write_text("ok")
        archive = subprocess.run(["tar", "-C", str(work), "-c", "."], capture_output=True, check=True).stdout
        imported = subprocess.run(["docker", "import", "-c", f"CMD {json.dumps(SERVE)}", "-c", "EXPOSE 80", "-",
                                   self.ref], input=archive, capture_output=True, check=True, timeout=120)
        self.images.add(imported.stdout.decode().strip())
        shutil.rmtree(work)
        sh("docker", "push", self.ref, timeout=120)
        sh("docker", "rmi", self.ref)
        if previous:
            sh("docker", "tag", previous, self.ref)
        self.version = version

    def running_image(self) -> str:
        return sh("docker", "inspect", "--format", "{{.Image}}", self.name, check=False).stdout.strip()

    # -- the module ----------------------------------------------------------------------------------------

    def write_config(self) -> None:
        values: dict[str, object] = {
            "activer_conteneurs": "oui", "nombre_conteneurs": "1",
            # Never used: no backup before the update (it is not what is measured).
            "conteneurs_sauvegarde_depot": str(self.root / "depot-jamais-utilise"),
            "conteneur1_nom": self.name, "conteneur1_hub": REGISTRY,
            "conteneur1_depot": f"{self.prefix}-web", "conteneur1_tag": "1",
            "conteneur1_port_conteneur": ["80"], "conteneur1_port_hote": {"0": str(self.port)},
            "conteneur1_sante_commande": HEALTH, "conteneur1_sante_delai": str(self.health_wait),
        }
        document: dict[str, object] = {
            name: {"owner": {key: "gen_config" for key in val} if isinstance(val, dict) else "gen_config", "val": val}
            for name, val in values.items()}
        document["___version___"] = "2.8.0"
        self.config.write_text(json.dumps(document, ensure_ascii=False))

    def command(self, *args: str) -> subprocess.CompletedProcess:
        return sh("/usr/bin/python3", "-m", "eole_conteneurs", *args, "--config", str(self.config),
                  "--dicos", str(self.dicos), check=False, env=self.env, cwd=CHECKOUT, timeout=RUN_TIMEOUT)

    def timed_command(self, *args: str) -> tuple[int, list[tuple[float, str]], float, float]:
        """Exit code, journal lines each with the time it came (after the start), the whole duration, and the
        time spent waiting for another run's lock (started after a free lock, another run may take it first):
        from the module's line saying it waits to the next one, which comes once it has the lock and has
        asked the registry (a few tenths of a second more). The recreation's own lines come all at the end
        (its journal is buffered): they cannot time its steps."""
        started = time.monotonic()
        process = subprocess.Popen(["/usr/bin/python3", "-m", "eole_conteneurs", *args, "--config", str(self.config),
                                    "--dicos", str(self.dicos)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=self.env, cwd=CHECKOUT)
        assert process.stdout is not None
        lines = [(time.monotonic() - started, line.rstrip("\n")) for line in process.stdout]
        code = process.wait(RUN_TIMEOUT)
        elapsed = time.monotonic() - started
        lock = 0.0
        for number, (moment, line) in enumerate(lines):
            if line.startswith(LOCK_WAIT):
                lock += (lines[number + 1][0] if number + 1 < len(lines) else elapsed) - moment
        return code, lines, elapsed, lock

    def deploy(self) -> None:
        # Installed, the package is byte-compiled (dh_python3); run from the checkout, it is made so too.
        sh("/usr/bin/python3", "-m", "compileall", "-q", str(CHECKOUT / "eole_conteneurs"))
        build_directory(CHECKOUT / "dicos", self.dicos, 20)
        expand_templates(CHECKOUT / "tmpl", self.templates, 20)
        self.push(1, healthy=True)
        self.write_config()
        saved = self._save_module_files()
        try:
            wait_for_free_lock()
            result = self.command("reconfigure", "--gabarits", str(self.templates))
            if result.returncode != 0:
                raise RuntimeError(f"reconfigure → {result.returncode}\n"
                                   f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
            rendered = (WEB_D / "conteneur1.conf").read_text()
            if f"location /{self.name}/" not in rendered:
                raise RuntimeError(f"{WEB_D / 'conteneur1.conf'} ne publie pas {self.name}")
            site = SITE.read_text() if SITE.exists() else ""
        finally:
            self._restore_module_files(saved)
        pair = [next((line.split()[1].rstrip(";") for line in site.splitlines() if line.split()[:1] == [key]), None)
                for key in ("ssl_certificate", "ssl_certificate_key")]
        if None in pair:
            raise RuntimeError(f"pas de certificat dans {SITE} après le reconfigure")
        location = rendered.replace("/var/log/nginx/conteneur1-", f"/var/log/nginx/{self.prefix}-")  # its own logs
        self.server.write_text(
            f"# bench/update.py ({self.scope}) : serveur du banc, supprimé à la fin ; à effacer s'il reste.\n"
            f"server {{\n    listen 127.0.0.1:{self.nginx_port} ssl;\n    ssl_certificate {pair[0]};\n"
            f"    ssl_certificate_key {pair[1]};\n    ssl_protocols TLSv1.2 TLSv1.3;\n\n"
            + "".join(f"    {line}".rstrip() + "\n" for line in location.splitlines()) + "}\n")
        sh("nginx", "-t")
        sh("nginx", "-s", "reload")
        self.serving = 1
        self._wait_serving(page(1))

    def _save_module_files(self) -> dict[Path, bytes]:
        files = {path: path.read_bytes() for path in WEB_D.glob("conteneur*.conf")}
        if SITE.exists():
            files[SITE] = SITE.read_bytes()
        return files

    def _restore_module_files(self, saved: dict[Path, bytes]) -> None:
        """The module's nginx files as they were before the bench's reconfigure (others' publications)."""
        for path in [*WEB_D.glob("conteneur*.conf"), SITE]:
            if path not in saved:
                path.unlink(missing_ok=True)
        for path, content in saved.items():
            path.write_bytes(content)

    def _wait_serving(self, expected: str, limit: float = 30) -> None:
        probe = RequestLoop(self.url)
        deadline = time.monotonic() + limit
        while True:
            status, body = probe.get()
            if status == 200 and body == expected:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.url} : {status} « {body[:80]} » au lieu de « {expected} » "
                                   f"après {limit} s")
            time.sleep(0.2)

    # -- one update ----------------------------------------------------------------------------------------

    def update(self, healthy: bool) -> dict:
        version = self.version + 1
        self.push(version, healthy)
        before_image, before_version = self.running_image(), self.serving
        accepted = {page(before_version)} | ({page(version)} if healthy else set())
        wait_for_free_lock()
        loop = RequestLoop(self.url)
        loop.start()
        time.sleep(BEFORE_S)
        started = time.monotonic()
        code, journal, elapsed, lock = self.timed_command("mise-a-jour")
        time.sleep(AFTER_S)
        loop.stop()
        after_image = self.running_image()
        probe_status, served = loop.get()
        figures = analyse(loop.samples, accepted, None if healthy else page(version), started)
        expected_code, expected_page = (0, page(version)) if healthy else (1, page(before_version))
        figures.update({
            "version_publiee": version, "version_avant": before_version,
            "servie_apres": served if probe_status == 200 else f"HTTP {probe_status}",
            # The command's duration without the wait for another run's lock; the whole of it beside.
            "duree_s": round(elapsed - lock, 3), "duree_totale_s": round(elapsed, 3),
            "attente_verrou_s": round(lock, 3), "code_sortie": code,
            "image_changee": after_image != before_image,
            "journal": [line for _, line in journal],
        })
        figures["servie_attendue"] = probe_status == 200 and served == expected_page
        figures["conforme"] = (code == expected_code and figures["servie_attendue"]
                               and figures["image_changee"] == healthy)
        if served.startswith("version "):
            self.serving = int(served.split()[1])
        return figures

    # -- the end ----------------------------------------------------------------------------------------------

    def teardown(self) -> None:
        ids = sh("docker", "ps", "-aq", "--filter", f"label={SCOPE_LABEL}={self.scope}", check=False).stdout.split()
        ids += sh("docker", "ps", "-aq", "--filter", f"name=^{self.prefix}-", check=False).stdout.split()
        if ids:
            sh("docker", "rm", "-f", *dict.fromkeys(ids), check=False)
        if self.server.exists():
            self.server.unlink()
            if sh("nginx", "-t", check=False).returncode == 0:
                sh("nginx", "-s", "reload", check=False)
            for log in ("access", "error"):
                Path(f"/var/log/nginx/{self.prefix}-{log}.log").unlink(missing_ok=True)
        tagged = sh("docker", "images", "-q", "--no-trunc", f"{REGISTRY}/{self.prefix}-web", check=False).stdout.split()
        for image in dict.fromkeys([*tagged, *self.images]):
            sh("docker", "rmi", "-f", image, check=False)
        try:
            wait_for_free_lock(limit=60)  # the module writes the history while holding its lock
            History(HISTORY).forget({self.name})
        except Exception as error:  # noqa: BLE001 - best effort: an entry left there harms nobody
            print(f"  (historique des mises à jour non nettoyé : {error})", flush=True)
        shutil.rmtree(self.root, ignore_errors=True)


def machine() -> dict:
    """The backup bench's description of the machine, with nginx's version instead of borg's."""
    described = {key: value for key, value in backup_machine().items() if key != "borg"}
    return dict(described, nginx=sh("nginx", "-v", check=False).stderr.strip().removeprefix("nginx version: "))


SUMMED = ("duree_s", "requetes", "echecs", "sans_reponse_200", "version_defectueuse", "indisponibilite_s",
          "indisponibilite_sans_reponse_s", "fenetre_s")


def summary(runs: list[dict]) -> dict:
    return {key: {"mediane": round(statistics.median(run[key] for run in runs), 3),
                  "min": min(run[key] for run in runs), "max": max(run[key] for run in runs)} for key in SUMMED}


def _cell(stats: dict, key: str, digits: int) -> str:
    item = stats[key]
    return f"{item['mediane']:.{digits}f} ({item['min']:.{digits}f}–{item['max']:.{digits}f})"


def report(results: dict) -> str:
    good, bad = results["bonne"], results["mauvaise"]
    rows = [("Mesure (médiane, min–max)", "Bonne mise à jour", "Mauvaise (annulée)")]
    for label, key, digits in (("Durée de la commande (s)", "duree_s", 2), ("Requêtes", "requetes", 0),
                               ("Requêtes en échec", "echecs", 0),
                               ("  dont sans réponse 200", "sans_reponse_200", 0),
                               ("  dont version défectueuse", "version_defectueuse", 0),
                               ("Indisponibilité (s)", "indisponibilite_s", 2),
                               ("  sans réponse 200 (s)", "indisponibilite_sans_reponse_s", 2),
                               ("Fenêtre 1re → dernière panne (s)", "fenetre_s", 2)):
        rows.append((label, _cell(good["resume"], key, digits), _cell(bad["resume"], key, digits)))
    rows.append(("Codes de sortie", ", ".join(str(run["code_sortie"]) for run in good["mesures"]),
                 ", ".join(str(run["code_sortie"]) for run in bad["mesures"])))
    rows.append(("Version servie à la fin",
                 f"nouvelle : {sum(run['servie_attendue'] for run in good['mesures'])}/{len(good['mesures'])}",
                 f"précédente : {sum(run['servie_attendue'] for run in bad['mesures'])}/{len(bad['mesures'])}"))
    lines = [f"Mise à jour d'un conteneur publié par nginx : {results['repetitions']} répétition(s), "
             f"délai de santé {results['delai_sante_s']} s, une requête toutes les {PERIOD_S * 1000:.0f} ms",
             table(rows)]
    wrong = [f"{kind} n° {index}" for kind, key in (("bonne", "bonne"), ("mauvaise", "mauvaise"))
             for index, run in enumerate(results[key]["mesures"], 1) if not run["conforme"]]
    waited = sum(1 for key in ("bonne", "mauvaise") for run in results[key]["mesures"] if run["attente_verrou_s"])
    if waited:
        lines.append(f"Durées hors attente du verrou d'une autre exécution ({waited} mesure(s) concernée(s))")
    lines.append("Toutes les mises à jour se sont déroulées comme attendu." if not wrong else
                 f"NON CONFORME : {', '.join(wrong)} (voir « journal » dans le fichier de résultats)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=3, metavar="N",
                        help="bonnes et mauvaises mises à jour mesurées, chacune (défaut : 3)")
    parser.add_argument("--delai-sante", dest="health_wait", type=int, default=20, metavar="SECONDES",
                        help="conteneur1_sante_delai : délai pour devenir sain, en secondes (défaut : 20)")
    parser.add_argument("--out", type=Path, default=CHECKOUT / "bench" / "results", metavar="RÉPERTOIRE",
                        help="répertoire des résultats (défaut : bench/results)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the teardown runs on a kill too
    bench = Bench(args.health_wait)
    results: dict = {"repetitions": args.repetitions, "delai_sante_s": args.health_wait,
                     "periode_requetes_s": PERIOD_S, "delai_requete_s": REQUEST_TIMEOUT_S,
                     "boucle_avant_s": BEFORE_S, "boucle_apres_s": AFTER_S, "machine": machine()}
    good: list[dict] = []
    bad: list[dict] = []
    try:
        print(f"Déploiement de {bench.name} (eole-conteneurs reconfigure, portée {bench.scope}, port {bench.port}, "
              f"publié sur {bench.url})…", flush=True)
        bench.deploy()
        for count in range(1, args.repetitions + 1):
            for healthy, kept in ((True, good), (False, bad)):
                figures = bench.update(healthy)
                kept.append(figures)
                print(f"  {count}/{args.repetitions} {'bonne   ' if healthy else 'mauvaise'} : "
                      f"{figures['duree_s']:6.2f} s, code {figures['code_sortie']}, "
                      f"{figures['echecs']}/{figures['requetes']} requêtes en échec, indisponible "
                      f"{figures['indisponibilite_s']:.2f} s "
                      f"(sans réponse {figures['indisponibilite_sans_reponse_s']:.2f} s), "
                      f"servie : {figures['servie_apres']}" + ("" if figures["conforme"] else "  ← NON CONFORME"),
                      flush=True)
        results["mesure_le"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    finally:
        bench.teardown()
    results["bonne"] = {"resume": summary(good), "mesures": good}
    results["mauvaise"] = {"resume": summary(bad), "mesures": bad}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "update.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    print(report(results))
    print(f"Résultats : {args.out / 'update.json'}")
    return 0 if all(run["conforme"] for run in good + bad) else 1


if __name__ == "__main__":
    sys.exit(main())
