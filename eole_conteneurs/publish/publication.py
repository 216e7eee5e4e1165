"""Publishing the containers through nginx: rendered templates → an nginx transaction.

Values reach the templates only once the whole configuration has been validated
(load_validated), so nothing unchecked is ever written into nginx's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eole_conteneurs.config.loading import Loaded
from eole_conteneurs.creole.dictionary import FileDecl
from eole_conteneurs.journal import Journal
from eole_conteneurs.publish.certificate import ensure_certificate, server_name
from eole_conteneurs.publish.nginx import Nginx
from eole_conteneurs.publish.transaction import FileChange
from eole_conteneurs.creole.rendering import rendered_files

DEFAULT_MODE = 0o644


@dataclass(frozen=True, eq=False)
class Publication:
    """The module's files for one validated configuration, published through nginx."""

    loaded: Loaded
    templates: Path
    nginx: Nginx
    journal: Journal
    certificate_backup: Path  # where the certificate pair's transaction keeps its backup
    memo_dir: Path | None = None  # where the previous run's renderings are kept

    def changes(self) -> list[FileChange]:
        return [_change(declaration, content) for declaration, content in
                rendered_files(self.loaded.dictionary, self.loaded.values, self.templates, self.memo_dir)
                if content is not None or declaration.rm]

    def publish(self) -> bool:
        """Render, write, test and reload at once; True when nginx was reloaded with new files."""
        self.prepare()
        changes = self.changes()
        self.report([change for change in changes if not change.applied])
        reloaded = self.nginx.publish(changes)
        self.report_urls()
        return reloaded

    def stage(self) -> None:
        """reconfigure's template step: render and write now (checkpointed), commit() after convergence."""
        self.prepare()
        self.report(self.nginx.stage(self.changes()))

    def expect(self) -> None:
        """Creole renders the files itself: checkpoint them first, so commit() can put them back."""
        self.nginx.expect([Path(declaration.name) for declaration in self.loaded.dictionary.templates])
        # The site Creole is about to render names the certificate: it must exist by then.
        self.prepare()

    @property
    def pending(self) -> bool:
        """The template step wrote files that no commit() has tested yet."""
        return self.nginx.pending

    def commit(self) -> bool:
        """After the template step: nginx tests and reloads the files, or the previous ones go back."""
        return self.nginx.commit()

    def abandon(self) -> bool:
        """An unfinished transaction (a failure after the template step, a killed run): previous files back."""
        return self.nginx.abandon()

    def prepare(self) -> None:
        """What the files refer to must exist before nginx reads them: the certificate."""
        if self._serves_https():
            ensure_certificate(self.loaded.values.get("conteneurs_certificat"),
                               self.loaded.values.get("conteneurs_cle"), self.journal,
                               self.certificate_backup)

    def report(self, changes: list[FileChange]) -> None:
        """The files that differ from those in place (given as such: comparing reads them all)."""
        for change in changes:
            verb = "Suppression" if change.content is None else "Création"
            self.journal.step(f"{verb} du fichier de configuration nginx {change.path}")

    def report_urls(self) -> None:
        host = server_name()  # once: a slow resolver would otherwise be paid per container
        for spec in self.loaded.configuration.containers:
            if spec.proxied_port is not None:
                self.journal.step(f"https://{host}{spec.web_path}/")

    def _serves_https(self) -> bool:
        values = self.loaded.values
        return values.is_enabled("conteneurs_serveur_web") and values.get("conteneurs_serveur_web") == "oui"


def _change(declaration: FileDecl, content: str | None) -> FileChange:
    mode = int(declaration.mode, 8) if declaration.mode else DEFAULT_MODE
    return FileChange(Path(declaration.name), None if content is None else content.encode("utf-8"), mode)
