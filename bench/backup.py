#!/usr/bin/python3
"""Benchmark: `eole-conteneurs sauvegarde`, a first backup then a second one with nothing changed.

N busybox httpd containers from the local registry, each with its data volume, deployed by the module
(`eole-conteneurs apply`, in the label scope of this bench); each volume filled with MO megabytes of
data like a service's: half incompressible (photos, compressed archives), half compressible text (logs,
CSV, notes), over a few files, different in every volume. The whole command is timed (wall clock):
first backups (each in a new repository, which it creates), then the second one, repeated, with
nothing changed into the last; medians compared. The repository's size (du -sb) is read after each. Targets: second ≤ 10 % of the first's time,
≤ 1 % added to the repository.

The repository and the passphrase file (EOLE_CONTENEURS_PHRASE) are the bench's own, in a temporary
directory; containers, volumes, repository, staged exports and borg's cache of the repository are
removed at the end, even on failure. Results: bench/results/backup.json.
Usage: bench/backup.py [--n 20] [--mo 20] [--premieres 3] [--repetitions 5] [--profil]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

from eole_conteneurs.commands.text import table  # noqa: E402
from eole_conteneurs.creole.buildtime import build_directory  # noqa: E402

REGISTRY = "127.0.0.1:5000"
SCOPE = "bench-sauvegarde"  # labels of this bench: the module's other containers are not its concern
PREFIX = "bsauv"  # containers bsauv-1…, volumes bsauv-1-donnees…
VOLUME_PATH = "/donnees"
STATE_DIR = Path("/var/lib/eole-conteneurs")  # the product's: staging and borg's cache are cleaned of ours
STAGING, BORG_BASE = STATE_DIR / "sauvegarde", STATE_DIR / "borg"
RECORD = STATE_DIR / "sauvegarde-etat" / "etat.json"
LOCK_FILE = Path("/run/eole-conteneurs/verrou")
LOCK_WAIT = "Un autre reconfigure"  # the module waited for another run's lock: not timed
ATTEMPTS = 20
RUN_TIMEOUT = 1800
TARGET_TIME, TARGET_SIZE = 0.10, 0.01
MIB = 1024 * 1024


def sh(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} → {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


# -- data like a service's -----------------------------------------------------------------------------

WORDS = ("le la les un une des du de et à en pour par sur dans avec sans facture client commande livraison "
         "adresse paiement reçu validé annulé remboursé stock article référence quantité prix total remise "
         "Paris Lyon Marseille Toulouse Nantes Lille Rennes Dijon école mairie service courrier réunion "
         "compte rendu ordre du jour décision budget projet équipe rapport annuel trimestre").split()
PAGES = ("/", "/index.html", "/notes/", "/notes/liste", "/api/v1/notes", "/static/app.js", "/static/style.css",
         "/images/logo.png", "/connexion", "/deconnexion", "/recherche?q=facture", "/favicon.ico")
CITIES = ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Lille", "Rennes", "Dijon")
STATUSES = ("validé", "livré", "annulé", "remboursé", "en attente")
AGENTS = ("Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
          "curl/7.88.1", "Wget/1.21.3")


def access_log(rng: random.Random, size: int) -> bytes:
    lines, total, moment = [], 0, 1_733_000_000
    while total < size:
        moment += rng.randint(0, 20)
        when = datetime.fromtimestamp(moment, timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
        line = (f'192.168.{rng.randint(0, 20)}.{rng.randint(1, 254)} - - [{when}] "GET {rng.choice(PAGES)} '
                f'HTTP/1.1" {rng.choice((200, 200, 200, 304, 404))} {rng.randint(120, 90000)} "-" '
                f'"{rng.choice(AGENTS)}"\n')
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def table_csv(rng: random.Random, size: int) -> bytes:
    lines, total, number = ["numero;date;client;ville;article;quantite;prix;statut\n"], 0, 0
    while total < size:
        number += 1
        line = (f"{number};2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d};"
                f"client-{rng.randint(1, 5000):05d};{rng.choice(CITIES)};REF-{rng.randint(1, 99999):05d};"
                f"{rng.randint(1, 50)};{rng.randint(100, 99999) / 100:.2f};{rng.choice(STATUSES)}\n")
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def prose(rng: random.Random, size: int) -> bytes:
    words, total = [], 0
    while total < size:
        sentence = " ".join(rng.choices(WORDS, k=rng.randint(6, 18))).capitalize() + ".\n"
        words.append(sentence)
        total += len(sentence)
    return "".join(words).encode()[:size]


def fill(directory: Path, index: int, size: int) -> None:
    """size bytes over a few files: half random (photos, archives), half text (logs, CSV, notes)."""
    rng = random.Random(index)  # different in every volume: nothing deduplicated across containers
    half = size // 2
    binary = {"photos/IMG_0001.jpg": 0.3, "photos/IMG_0002.jpg": 0.2, "photos/IMG_0003.jpg": 0.1,
              "archives/export-2024.tar.gz": 0.4}
    text = {"journaux/acces.log": (access_log, 0.5), "donnees/commandes.csv": (table_csv, 0.3),
            "notes/comptes-rendus.md": (prose, 0.2)}
    for name, share in binary.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(int(half * share)))
    for name, (make, share) in text.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make(rng, int((size - half) * share)))


# -- the bench -------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, n: int, mo: float):
        self.n, self.size = n, int(mo * MIB)
        self.root = Path(tempfile.mkdtemp(prefix="eole-conteneurs-banc-sauvegarde-"))  # 0700, root's
        self.repository = self.root / "depot"
        self.repositories = 0  # a first backup is measured on a new repository each time
        self.phrase = self.root / "phrase-secrete"  # created by the first backup, as on a server
        self.config, self.dicos = self.root / "config.eol", self.root / "dicos"
        self.discarded = 0  # runs that waited for another one's lock
        self.env = dict(os.environ, EOLE_CONTENEURS_SCOPE=SCOPE, EOLE_CONTENEURS_PHRASE=str(self.phrase),
                        PYTHONPATH=str(CHECKOUT))

    def name(self, index: int) -> str:
        return f"{PREFIX}-{index}"

    def volume(self, index: int) -> str:
        return f"{PREFIX}-{index}-donnees"

    def command(self, *args: str, profile: Path | None = None) -> subprocess.CompletedProcess:
        python = ["/usr/bin/python3"] + (["-m", "cProfile", "-o", str(profile)] if profile else [])
        return sh(*python, "-m", "eole_conteneurs", *args, "--config", str(self.config), "--dicos", str(self.dicos),
                  check=False, env=self.env, cwd=CHECKOUT, timeout=RUN_TIMEOUT)

    def new_repository(self) -> None:
        """Another repository for a first backup (a repository the module has used and that disappears is,
        rightly, an error for it: never the same path again). Only the backup variable changes: no container."""
        if self.repository.exists():
            self._forget_repository()
            shutil.rmtree(self.repository)
        self.repositories += 1
        self.repository = self.root / f"depot-{self.repositories}"
        self.write_config()

    def deploy(self) -> None:
        # Installed, the package is byte-compiled (dh_python3); run from the checkout, it is made so too.
        sh("/usr/bin/python3", "-m", "compileall", "-q", str(CHECKOUT / "eole_conteneurs"))
        build_directory(CHECKOUT / "dicos", self.dicos, max(self.n, 20))
        self.write_config()
        result = self.command("apply")
        if result.returncode != 0:
            raise RuntimeError(f"apply → {result.returncode}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    def write_config(self) -> None:
        values: dict[str, object] = {"activer_conteneurs": "oui", "nombre_conteneurs": str(self.n),
                  "conteneurs_sauvegarde_depot": str(self.repository)}
        for index in range(1, self.n + 1):
            values.update({
                f"conteneur{index}_nom": self.name(index), f"conteneur{index}_hub": REGISTRY,
                f"conteneur{index}_depot": "httpd", f"conteneur{index}_tag": "2.4",
                f"conteneur{index}_volume_nom": [self.volume(index)],
                f"conteneur{index}_volume_chemin": {"0": VOLUME_PATH},
            })
        self.config.write_text(json.dumps({name: {"owner": "gen_config", "val": val} for name, val in values.items()}))

    def fill(self) -> int:
        total = 0
        for index in range(1, self.n + 1):
            mountpoint = Path(sh("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", self.volume(index)).stdout.strip())
            fill(mountpoint, index, self.size)
            total += int(sh("du", "-sb", str(mountpoint)).stdout.split()[0])
        sh("sync")
        return total

    def repository_size(self) -> int:
        return int(sh("du", "-sb", str(self.repository)).stdout.split()[0])

    def back_up(self, first: bool = False, profile: Path | None = None) -> float:
        """Timed from the bench (whole command), started once the module's lock is free. A run that still
        had to wait for another one's lock is not counted: run again (a first backup on a new repository)."""
        for _ in range(ATTEMPTS):
            wait_for_free_lock()
            started = time.monotonic()
            result = self.command("sauvegarde", profile=profile)
            elapsed = time.monotonic() - started
            if result.returncode != 0:
                raise RuntimeError(f"sauvegarde → {result.returncode}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
            if LOCK_WAIT not in result.stdout + result.stderr:
                return elapsed
            self.discarded += 1
            print("  (a attendu le verrou d'une autre exécution : mesure refaite)", flush=True)
            if first:
                self.new_repository()
        raise RuntimeError("le verrou du module est resté pris par d'autres exécutions")

    def teardown(self) -> None:
        ids = sh("docker", "ps", "-aq", "--filter", f"label=fr.eole.conteneurs.managed={SCOPE}", check=False).stdout.split()
        ids += sh("docker", "ps", "-aq", "--filter", f"name=^{PREFIX}-", check=False).stdout.split()
        if ids:
            sh("docker", "rm", "-f", *dict.fromkeys(ids), check=False)
        volumes = sh("docker", "volume", "ls", "-q", "--filter", f"name=^{PREFIX}-", check=False).stdout.split()
        if volumes:
            sh("docker", "volume", "rm", *volumes, check=False)
        self._forget_repository()
        for index in range(1, self.n + 1):
            shutil.rmtree(STAGING / self.name(index), ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _forget_repository(self) -> None:
        """borg's cache and security record of this repository in the product's borg directory."""
        config = self.repository / "config"
        if not config.is_file():
            return
        for line in config.read_text().splitlines():
            if line.startswith("id = "):
                repo_id = line.split("=", 1)[1].strip()
                for kept in (BORG_BASE / ".cache" / "borg" / repo_id, BORG_BASE / ".config" / "borg" / "security" / repo_id):
                    shutil.rmtree(kept, ignore_errors=True)


def lock_held() -> bool:
    """Whether a process holds the module's lock (flock), read in /proc/locks: never taken by the bench."""
    try:
        status = LOCK_FILE.stat()
    except FileNotFoundError:
        return False
    key = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    return any(key in line.split() for line in Path("/proc/locks").read_text().splitlines())


def wait_for_free_lock(quiet: float = 1.0, limit: float = 1800) -> None:
    """Until nobody has held the lock for `quiet` seconds (other benches and tests share the host)."""
    deadline, free_since = time.monotonic() + limit, None
    while time.monotonic() < deadline:
        if lock_held():
            free_since = None
        elif free_since is None:
            free_since = time.monotonic()
        elif time.monotonic() - free_since >= quiet:
            return
        time.sleep(0.05)


def archives(bench: Bench) -> int:
    phrase = bench.phrase.read_text().strip()
    env = {key: value for key, value in os.environ.items() if not key.startswith("BORG_")}
    env.update(BORG_PASSPHRASE=phrase, BORG_BASE_DIR=str(bench.root / "borg-lecture"), LANG="C.UTF-8",
               BORG_RELOCATED_REPO_ACCESS_IS_OK="yes")
    listing = json.loads(sh("/usr/bin/borg", "list", "--json", str(bench.repository), env=env).stdout)
    return len(listing["archives"])


def profile_summary(path: Path, lines: int = 25) -> str:
    """The module's own functions, the processes it waits for (borg) and the key derivations, by cumulated time."""
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("cumulative").print_stats(r"eole_conteneurs/(?!__main__)|subprocess.py:\d+\(run\)|derive\b", lines)
    return out.getvalue()


def machine() -> dict:
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "?")
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
            "kernel": platform.release(), "cpus": os.cpu_count(), "memory_kib": int(memory),
            "docker": sh("docker", "version", "--format", "{{.Server.Version}}", check=False).stdout.strip(),
            "borg": sh("/usr/bin/borg", "--version", check=False).stdout.strip(),
            "python": platform.python_version()}


def _mo(size: int) -> str:
    return f"{size / MIB:.1f} Mo"


def report(results: dict) -> str:
    first, second = results["premiere"], results["seconde"]
    rows = [("Mesure", "Première sauvegarde", "Seconde (sans changement)"),
            ("Durée (s)", f"{first['duree_s']:.2f} (médiane de {len(first['durees_s'])} : "
                          f"{min(first['durees_s']):.2f}–{max(first['durees_s']):.2f})",
             f"{second['mediane_s']:.2f} (médiane de {len(second['durees_s'])} : "
             f"{min(second['durees_s']):.2f}–{max(second['durees_s']):.2f})"),
            ("Dépôt après (du -sb)", _mo(first["depot_octets"]), _mo(second["depot_octets"][-1])),
            ("Ajouté au dépôt", _mo(first["depot_octets"]),
             f"{second['ajout_median_octets'] / 1024:.1f} Kio par sauvegarde (médiane)")]
    lines = [f"N = {results['n']} conteneurs, {results['mo_par_volume']:g} Mo par volume "
             f"({_mo(results['donnees_octets'])} de données)", table(rows)]
    targets = results["objectifs"]
    lines.append(f"Objectif durée : seconde ≤ 10 % de la première : {targets['duree_rapport'] * 100:.1f} % → "
                 f"{'tenu' if targets['duree_tenu'] else 'NON TENU'}")
    lines.append(f"Objectif taille : ≤ 1 % ajouté au dépôt par la seconde : {targets['taille_rapport'] * 100:.3f} % → "
                 f"{'tenu' if targets['taille_tenu'] else 'NON TENU'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20, help="nombre de conteneurs (défaut : 20)")
    parser.add_argument("--mo", type=float, default=20, help="mégaoctets de données par volume (défaut : 20)")
    parser.add_argument("--repetitions", type=int, default=5, help="secondes sauvegardes mesurées (défaut : 5)")
    parser.add_argument("--premieres", type=int, default=3,
                        help="premières sauvegardes mesurées, chacune dans un nouveau dépôt (défaut : 3)")
    parser.add_argument("--profil", action="store_true",
                        help="une seconde sauvegarde de plus sous cProfile (non comptée), résumé affiché")
    parser.add_argument("--out", type=Path, default=CHECKOUT / "bench" / "results")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the teardown runs on a kill too
    bench = Bench(args.n, args.mo)
    results: dict = {"n": args.n, "mo_par_volume": args.mo, "machine": machine()}
    try:
        print(f"Déploiement de {args.n} conteneurs (eole-conteneurs apply, portée {SCOPE})…", flush=True)
        bench.deploy()
        print(f"Remplissage des volumes ({args.mo:g} Mo chacun)…", flush=True)
        results["donnees_octets"] = bench.fill()
        firsts = []
        for count in range(args.premieres):
            if count:
                bench.new_repository()
            elapsed = bench.back_up(first=True)
            size_first = bench.repository_size()
            print(f"  première sauvegarde : {elapsed:8.2f} s, dépôt {_mo(size_first)}", flush=True)
            firsts.append(round(elapsed, 3))
        # The median of several: one first backup alone varies by a second on a shared machine.
        results["premiere"] = {"duree_s": statistics.median(firsts), "durees_s": firsts, "depot_octets": size_first}
        times, sizes, previous = [], [], size_first
        for _ in range(args.repetitions):
            elapsed = bench.back_up()
            size = bench.repository_size()
            print(f"  seconde sauvegarde  : {elapsed:8.2f} s, dépôt {_mo(size)} (+{(size - previous) / 1024:.1f} Kio)",
                  flush=True)
            times.append(round(elapsed, 3))
            sizes.append(size)
            previous = size
        added = [after - before for before, after in zip([size_first] + sizes, sizes)]
        results["seconde"] = {"durees_s": times, "mediane_s": round(statistics.median(times), 3),
                              "depot_octets": sizes, "ajouts_octets": added,
                              "ajout_median_octets": int(statistics.median(added))}
        results["archives"] = archives(bench)
        time_ratio = results["seconde"]["mediane_s"] / results["premiere"]["duree_s"]
        size_ratio = max(added) / size_first
        results["objectifs"] = {"duree_rapport": round(time_ratio, 4), "duree_tenu": time_ratio <= TARGET_TIME,
                                "taille_rapport": round(size_ratio, 6), "taille_tenu": size_ratio <= TARGET_SIZE}
        if args.profil:
            profile = bench.root / "seconde.prof"
            elapsed = bench.back_up(profile=profile)
            results["profil"] = {"duree_s": round(elapsed, 3), "resume": profile_summary(profile)}
            print(results["profil"]["resume"])
        results["mesures_refaites"] = bench.discarded
        results["mesure_le"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    finally:
        bench.teardown()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "backup.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    print(report(results))
    print(f"Résultats : {args.out / 'backup.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
