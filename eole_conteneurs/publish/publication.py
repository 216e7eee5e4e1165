"""Publishing the containers through the host's web server: rendered files → the chosen server's transaction.

Two steps, as on EOLE. The template step (Creole's, or stage() here) renders each container's
snippet in nginx's and in Apache's syntax into /etc/eole-conteneurs/web/: candidates, and the
documented place for an administrator who includes them himself (conteneurs_serveur_web = aucun).
publish() (posttemplate) chooses the web server, copies the published containers' snippets into
its configuration with the file that includes them, tests and reloads it (or puts everything
back), and takes the module's files out of the other server. Values reach the templates only once
the whole configuration has been validated (load_validated).
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path

from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.creole.dictionary import FileDecl
from eole_conteneurs.creole.rendering import rendered_files
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.files import remove_durably, write_durably
from eole_conteneurs.journal import Journal
from eole_conteneurs.publish import apache as apache_files
from eole_conteneurs.publish.apache import Apache
from eole_conteneurs.publish.certificate import certificate_pair
from eole_conteneurs.publish.detection import (Listeners, NginxServer, Owner, apache_serves_https, listeners,
                                               other_nginx_servers)
from eole_conteneurs.publish.names import primary_name, server_names
from eole_conteneurs.publish.nginx import Nginx
from eole_conteneurs.publish.transaction import FileChange
from eole_conteneurs.publish.webserver import WebServer, WebServerError

STAGED = Path("/etc/eole-conteneurs/web")  # <files> of the dictionary: nginx/conteneurN.conf, apache/conteneurN.conf
WEB_D = Path("/etc/nginx/web.d")
NGINX_SITE = Path("/etc/nginx/conf.d/eole-conteneurs.conf")
SITE_TEMPLATE, APACHE_TEMPLATE = "eole-conteneurs-site.conf", "eole-conteneurs-apache.conf"
SNIPPET = re.compile(r"conteneur([0-9]+)\.conf")
DEFAULT_MODE = 0o644
AUTOMATIC, NGINX, APACHE, NONE = "automatique", "nginx", "apache", "aucun"
VARIABLE = "conteneurs_serveur_web"


class PublicationError(EoleConteneursError):
    """The chosen web server cannot publish the containers; nothing was written."""

    def __init__(self, value: str, detail: str):
        self.variable = VARIABLE
        super().__init__(f"{VARIABLE} = « {value} » : {detail}")


@dataclass(frozen=True, eq=False)
class Publication:
    """The module's files for one validated configuration, published through the host's web server."""

    loaded: Loaded
    templates: Path
    nginx: Nginx
    apache: Apache
    journal: Journal
    certificate_backup: Path  # where the certificate pair's transaction keeps its backup
    pending_marker: Path  # present between the template step and the publication
    memo_dir: Path | None = None  # where the previous run's renderings are kept

    # -- the template step -------------------------------------------------------------------

    def stage(self) -> None:
        """Each declared file rendered in place, as Creole's template step does; nothing is published yet."""
        loaded = self.loaded
        for declaration, content in rendered_files(loaded.dictionary, loaded.values, self.templates, self.memo_dir):
            if content is None and not declaration.rm:
                continue
            change = _change(declaration, content)
            if change.applied:
                continue
            if change.content is None:
                remove_durably(change.path)
            else:
                write_durably(change.path, change.content, change.mode)
        # A mark, not data: it need not survive a crash (the next run stages and publishes anyway).
        self.pending_marker.parent.mkdir(parents=True, exist_ok=True)
        self.pending_marker.touch(mode=0o600)

    @property
    def pending(self) -> bool:
        """The template step rendered files that no publication has taken yet."""
        return self.pending_marker.exists()

    # -- publication -------------------------------------------------------------------------

    def publish(self) -> bool:
        """The chosen server gets the files (tested, reloaded); the other loses the module's. True: reloaded."""
        if self.loaded.configuration.unconfirmed:  # disabled by default only (jobs/operations.UNCONFIRMED)
            self.pending_marker.unlink(missing_ok=True)
            return False
        try:
            found = listeners()
            # Containers disabled: nothing to publish, whatever serves the web; the module's files go.
            choice = self.choose(found) if self.loaded.configuration.enabled else NONE
            if choice == NGINX:
                reloaded = self.nginx.publish(self._nginx_changes())
                self._withdraw(self.apache, self._apache_paths())
            elif choice == APACHE:
                reloaded = self.apache.publish(self._apache_changes(found))
                self._withdraw(self.nginx, self._nginx_paths())
            else:
                self._withdraw(self.nginx, self._nginx_paths())
                self._withdraw(self.apache, self._apache_paths())
                reloaded = False
        finally:
            self.pending_marker.unlink(missing_ok=True)
        self.report_urls(choice)
        return reloaded

    @property
    def setting(self) -> str:
        values = self.loaded.values
        return (values.get(VARIABLE) if values.is_enabled(VARIABLE) else None) or AUTOMATIC

    def choose(self, found: Listeners) -> str:
        """conteneurs_serveur_web, automatique resolved from what holds 443 (else 80) on the host."""
        value = self.setting
        installed = {NGINX: found.nginx_installed, APACHE: found.apache_installed}
        if value in installed and not installed[value]:
            raise PublicationError(value, f"{'nginx' if value == NGINX else 'Apache (apache2)'} n'est pas installé")
        if value != AUTOMATIC:
            return value
        holder = found.holder()
        if holder == Owner.OTHER:
            port = next(port for port, owner in found.owners.items() if owner == Owner.OTHER)
            raise PublicationError(value, f"le port {port} est occupé par un programme qui n'est ni nginx ni Apache "
                                          "(choisir « aucun » et publier les fichiers soi-même)")
        choice = APACHE if holder == Owner.APACHE or (holder is None and not found.nginx_installed
                                                      and found.apache_installed) else NGINX
        if choice == NGINX and not found.nginx_installed:
            choice = NONE
        self.journal.step(f"Serveur web des conteneurs : {choice} (automatique)")
        return choice

    def abandon(self) -> bool:
        """A killed run's unfinished transactions: previous files back. True when some were."""
        nginx, apache = self.nginx.abandon(), self.apache.abandon()
        return nginx or apache

    def report_urls(self, choice: str | None = None) -> None:
        published = [spec for spec in self.loaded.configuration.containers if spec.proxied_port is not None]
        if choice == NONE and published:
            self.journal.step(f"Aucun serveur web géré : fichiers à inclure dans {STAGED}/nginx/ ou {STAGED}/apache/")
        host = primary_name(self.loaded)  # once: a slow resolver would otherwise be paid per container
        for spec in published:
            self.journal.step(f"https://{host}{spec.web_path}/")

    # -- each server's files -----------------------------------------------------------------

    def _snippets(self, kind: str, live_dir: Path) -> list[FileChange]:
        """The staged snippet of each published container, copied into the server's configuration."""
        published = {spec.index for spec in self.loaded.configuration.containers if spec.proxied_port is not None}
        changes = []
        for index, staged in self._staged(kind):
            content = None
            if index in published:
                try:
                    content = staged.read_bytes()
                except OSError as error:
                    self.journal.warn(f"{staged} illisible ({error.strerror}) : conteneur non publié")
            changes.append(FileChange(live_dir / staged.name, content, DEFAULT_MODE))
        return changes

    def _staged(self, kind: str) -> list[tuple[int, Path]]:
        """(container number, staged path) of the dictionary's snippets in that syntax."""
        directory = f"{STAGED / kind}/"
        found = []
        for declaration in self.loaded.dictionary.templates:
            match = SNIPPET.fullmatch(declaration.name[len(directory):]) if declaration.name.startswith(directory) \
                else None
            if match:
                found.append((int(match.group(1)), Path(declaration.name)))
        return found

    def _nginx_paths(self) -> list[Path]:
        return [NGINX_SITE, *_module_files(WEB_D)]

    def _apache_paths(self) -> list[Path]:
        return [apache_files.CONF_ENABLED, apache_files.CONF_AVAILABLE, *_module_files(apache_files.SITE_DIR)]

    def _nginx_changes(self) -> list[FileChange]:
        others = other_nginx_servers({NGINX_SITE})
        # Another HTTPS site that includes the module's locations (a web module of EOLE's, or the
        # administrator's) publishes them itself: the module's own site is not wanted beside it.
        includers = sorted({server.file for server in others if 443 in server.ports and
                            any(fnmatch.fnmatch(str(WEB_D / "conteneur1.conf"), pattern) for pattern in server.includes)})
        site: bytes | None = None
        if includers:
            self.journal.step(f"Conteneurs publiés par le site nginx {', '.join(includers)}, qui inclut {WEB_D}/*.conf")
        else:
            site = self._render(SITE_TEMPLATE, NGINX_SITE, self._site_facts(others), "rendus-nginx.json")
        return [*self._snippets("nginx", WEB_D), FileChange(NGINX_SITE, site, DEFAULT_MODE)]

    def _site_facts(self, others: list[NginxServer]) -> dict[str, object]:
        """Per port, the server's names that no other nginx site answers for (by name, wildcard or regular
        expression), and whether the module's server is the port's default one (only when no other site
        listens on it)."""
        names = server_names(self.loaded.facts)
        if not names:
            raise PublicationError(self.setting, "aucun nom de serveur valide (nom_machine, nom_domaine_local ou "
                                                 "nom de l'hôte) : le site nginx du module ne répondrait à aucun nom")
        facts: dict[str, object] = {}
        for port in (80, 443):
            listening = [server for server in others if port in server.ports]
            facts[f"noms_{port}"] = " ".join(name for name in names
                                             if not any(server.claims(name) for server in listening))
            facts[f"defaut_{port}"] = "" if listening else " default_server"
        if not facts["noms_443"]:
            sites = ", ".join(sorted({server.file for server in others if 443 in server.ports}))
            raise PublicationError(self.setting, f"les noms du serveur ({', '.join(names)}) sont déjà servis en "
                                                 f"HTTPS par un autre site nginx ({sites}) : inclure {WEB_D}/*.conf "
                                                 f"dans ce site, ou choisir « aucun » et y inclure {STAGED}/nginx/*.conf")
        pair = certificate_pair(self.loaded.values, self.loaded.facts, self.journal, self.certificate_backup)
        facts.update(certificat=str(pair.certificate), cle=str(pair.key))
        return facts

    def _apache_changes(self, found: Listeners) -> list[FileChange]:
        wrapper: bytes | None = None
        if self.loaded.configuration.enabled:
            wrapper = self._render(APACHE_TEMPLATE, apache_files.CONF_AVAILABLE,
                                   {"apache_https": apache_serves_https(found)}, "rendus-apache.json")
        enabled = FileChange(apache_files.CONF_ENABLED, None, link=apache_files.CONF_LINK if wrapper else None)
        return [*self._snippets("apache", apache_files.SITE_DIR),
                FileChange(apache_files.CONF_AVAILABLE, wrapper, DEFAULT_MODE), enabled]

    def _render(self, template: str, destination: Path, facts: dict[str, object], memo: str) -> bytes:
        """One of the module's files about the host: its template sees the facts, no variable."""
        loaded = self.loaded
        [(_, content)] = rendered_files(loaded.dictionary, loaded.values, self.templates, self.memo_dir,
                                        [FileDecl(str(destination), template)], dict(facts), memo)
        return (content or "").encode("utf-8")

    def _withdraw(self, server: WebServer, paths: list[Path]) -> None:
        """The module's files out of a server it does not publish through (tested and reloaded if it runs)."""
        changes = [FileChange(path, None) for path in paths if path.is_symlink() or path.exists()]
        if not changes:
            return
        self.journal.step(f"Retrait des fichiers du module de la configuration {server.label}")
        if not server.installed:  # nothing reads them any more
            for change in changes:
                remove_durably(change.path)
            return
        try:
            server.publish(changes)
        except WebServerError as error:
            # The publication itself is done: a server the module no longer uses does not fail the run.
            self.journal.warn(f"fichiers du module laissés dans la configuration {server.label} : {error}")


def _module_files(directory: Path) -> list[Path]:
    """The module's snippets (conteneurN.conf) in a server's directory, listed once rather than tried one by one."""
    try:
        return [Path(entry.path) for entry in os.scandir(directory) if SNIPPET.fullmatch(entry.name)]
    except OSError:  # no such directory: no file
        return []


def _change(declaration: FileDecl, content: str | None) -> FileChange:
    mode = int(declaration.mode, 8) if declaration.mode else DEFAULT_MODE
    return FileChange(Path(declaration.name), None if content is None else content.encode("utf-8"), mode)
