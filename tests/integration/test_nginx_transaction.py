"""nginx as a transaction, against a private real nginx instance per test (never /etc/nginx).

Reloads are observed from outside: the master's children (workers) are replaced on each reload.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from eole_conteneurs.journal import Journal
from eole_conteneurs.publish.nginx import Nginx
from eole_conteneurs.publish.webserver import AlreadyBroken, Rejected, ReloadFailed, WebServerError
from eole_conteneurs.publish.transaction import FileChange
from tests.conftest import CHECKOUT
from tests.integration.conftest import free_port, private_nginx_conf

NGINX = "/usr/sbin/nginx"


def wait_for(condition, timeout: float = 10, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


class PrivateNginx:
    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.web = root / "web.d"
        self.web.mkdir()
        self.conf = root / "nginx.conf"
        self.pid_file = root / "nginx.pid"
        self.args = ("-c", str(self.conf), "-p", str(root), "-e", str(root / "error.log"))
        self.out = io.StringIO()
        self.conf.write_text(private_nginx_conf(root, self.port, self.web, "location / { return 404; }"))

    def nginx(self, cls=Nginx, **kwargs) -> Nginx:
        self.out = io.StringIO()
        return cls(journal=Journal(out=self.out), backup_dir=self.root / "sauvegarde", binary=NGINX,
                   args=self.args, **kwargs)

    def start(self) -> None:
        subprocess.run([NGINX, *self.args], check=True, capture_output=True, timeout=30)
        # The daemonized master writes its pid file after the launcher has returned.
        wait_for(lambda: self.master() and self.workers(), what="nginx start")

    def stop(self) -> None:
        master = self.master()
        if master is None:
            return
        workers = self.workers()
        quit = subprocess.run([NGINX, *self.args, "-s", "quit"], capture_output=True, timeout=30)
        if quit.returncode != 0:
            # `nginx -s` parses the whole configuration first: a test that broke it signals directly.
            os.kill(master, signal.SIGQUIT)
        try:
            wait_for(lambda: not Path(f"/proc/{master}").exists(), what="nginx stop")
        except AssertionError:
            # Workers outlive a SIGKILLed master: kill them too rather than leak them.
            for pid in {master, *workers}:
                os.kill(pid, signal.SIGKILL)

    def master(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def workers(self) -> set[int]:
        found = subprocess.run(["pgrep", "-P", str(self.master())], capture_output=True, text=True)
        return {int(pid) for pid in found.stdout.split()}

    def wait_reloaded(self, before: set[int]) -> None:
        """New workers exist and the old ones are gone, so every request sees the new configuration."""
        wait_for(lambda: (now := self.workers()) and not (now & before), what="worker replacement")

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    def journal(self) -> str:
        return self.out.getvalue()


@pytest.fixture
def server(tmp_path):
    instance = PrivateNginx(tmp_path)
    instance.start()
    yield instance
    instance.stop()


def snippet(name: str, body: str | None = None) -> bytes:
    return f'location /{name}/ {{ return 200 "{body or name}"; }}\n'.encode()


def settled(server, changes: list[FileChange]) -> None:
    """Set-up publish, then wait until only the new workers remain so later worker comparisons are exact."""
    before = server.workers()
    assert server.nginx().publish(changes) is True
    server.wait_reloaded(before)


def change(server, file: str, content: bytes | None, mode: int = 0o644) -> FileChange:
    return FileChange(server.web / file, content, mode)


def test_new_file_is_served_after_a_reload(server):
    before = server.workers()
    assert server.get("/x/")[0] == 404
    assert server.nginx().publish([change(server, "x.conf", snippet("x"))]) is True
    server.wait_reloaded(before)
    assert server.get("/x/") == (200, "x")
    assert "Configuration nginx rechargée (1 fichier(s) modifié(s))" in server.journal()
    assert not (server.root / "sauvegarde").exists()


def test_identical_publish_does_not_reload(server):
    changes = [change(server, "x.conf", snippet("x")), change(server, "absent.conf", None)]
    settled(server, changes)
    before = server.workers()
    nginx = server.nginx()
    assert nginx.publish(changes) is False
    assert "Configuration nginx inchangée : pas de rechargement" in server.journal()
    time.sleep(0.5)
    assert server.workers() == before


def test_mode_alone_is_a_change(server):
    settled(server, [change(server, "x.conf", snippet("x"))])
    assert server.nginx().publish([change(server, "x.conf", snippet("x"), 0o600)]) is True
    assert (server.web / "x.conf").stat().st_mode & 0o777 == 0o600


def test_removal_deletes_the_file_and_the_location(server):
    settled(server, [change(server, "x.conf", snippet("x"))])
    before = server.workers()
    assert server.nginx().publish([change(server, "x.conf", None)]) is True
    server.wait_reloaded(before)
    assert not (server.web / "x.conf").exists()
    assert server.get("/x/")[0] == 404


def test_rejected_snippet_restores_previous_files(server):
    settled(server, [change(server, "x.conf", snippet("x")), change(server, "z.conf", snippet("z"))])
    old_x = (server.web / "x.conf").read_bytes()
    before = server.workers()
    bad = b"location /y/ { bogus_directive; }\n"
    with pytest.raises(Rejected) as raised:
        server.nginx().publish([change(server, "x.conf", snippet("x", "nouveau")), change(server, "y.conf", bad),
                                change(server, "z.conf", None)])
    message = str(raised.value)
    assert "refusée" in message and str(server.web / "y.conf") in message
    assert 'unknown directive "bogus_directive"' in message
    assert (server.web / "x.conf").read_bytes() == old_x
    assert (server.web / "z.conf").read_bytes() == snippet("z")
    assert not (server.web / "y.conf").exists()
    assert not (server.root / "sauvegarde").exists()
    assert server.workers() == before
    assert server.get("/x/") == (200, "x")
    assert sorted(path.name for path in server.web.iterdir()) == ["x.conf", "z.conf"]  # no temp file left


def test_already_broken_configuration_writes_nothing(server):
    (server.web / "broken.conf").write_bytes(b"bogus_directive;\n")
    with pytest.raises(AlreadyBroken) as raised:
        server.nginx().publish([change(server, "x.conf", snippet("x"))])
    assert "déjà invalide avant modification" in str(raised.value)
    assert "bogus_directive" in str(raised.value)
    assert not (server.web / "x.conf").exists()
    assert not (server.root / "sauvegarde").exists()


def test_real_reload_failure_restores_and_reloads(server):
    """`nginx -t` does not bind ports: a listen on a busy port passes the test and fails the reload."""
    settled(server, [change(server, "x.conf", snippet("x"))])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        listen = f"listen 127.0.0.1:{busy.getsockname()[1]};\n".encode()
        with pytest.raises(ReloadFailed) as raised:
            server.nginx(reload_timeout=4).publish([change(server, "busy.conf", listen),
                                                    change(server, "x.conf", snippet("x", "nouveau"))])
    assert "Rechargement de nginx en échec" in str(raised.value)
    assert not (server.web / "busy.conf").exists()
    assert (server.web / "x.conf").read_bytes() == snippet("x")
    assert "Address already in use" in (server.root / "error.log").read_text()
    assert server.get("/x/") == (200, "x")


class FailingOnce(Nginx):
    failures = 1

    def reload(self) -> None:
        if self.failures:
            self.failures -= 1
            raise WebServerError("échec simulé", "nginx: [emerg] simulated")
        super().reload()


def test_reload_exception_restores_and_reloads_again(server):
    settled(server, [change(server, "x.conf", snippet("x"))])
    old = (server.web / "x.conf").read_bytes()
    before = server.workers()
    with pytest.raises(ReloadFailed) as raised:
        server.nginx(FailingOnce).publish([change(server, "x.conf", snippet("x", "v2"))])
    assert "simulated" in str(raised.value)
    assert (server.web / "x.conf").read_bytes() == old
    server.wait_reloaded(before)  # the second reload, with the restored files
    assert server.get("/x/") == (200, "x")


def test_nginx_stopped_files_written_without_reload(server):
    server.stop()
    nginx = server.nginx()
    assert nginx.running() is False
    assert nginx.publish([change(server, "x.conf", snippet("x"))]) is True
    assert "n'est pas démarré" in server.journal()
    assert (server.web / "x.conf").read_bytes() == snippet("x")


def test_recover_restores_a_complete_backup(server):
    settled(server, [change(server, "x.conf", snippet("x"))])
    interrupted = server.nginx()
    pending = [change(server, "x.conf", snippet("x", "v2")), change(server, "new.conf", snippet("new"))]
    interrupted.transaction.write(pending)  # then "killed": no check, no restore
    assert (server.web / "new.conf").exists()
    nginx = server.nginx()
    assert nginx.abandon() is True
    assert (server.web / "x.conf").read_bytes() == snippet("x")
    assert not (server.web / "new.conf").exists()
    assert not (server.root / "sauvegarde").exists()
    assert "configuration nginx précédente restaurée (2 fichier(s))" in server.journal()
    assert nginx.abandon() is False


def run_killed(server, changes: dict[str, bytes | None], kill_at: str) -> None:
    """publish() in another process, SIGKILLed by a hook at `kill_at`: "apply" (files written, not yet
    tested) or "marker" (while the backup is being made)."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        sys.path.insert(0, {str(CHECKOUT)!r})
        from eole_conteneurs.publish import nginx as module, transaction
        from eole_conteneurs.journal import Journal

        def kill():
            os.kill(os.getpid(), signal.SIGKILL)

        class Killed(module.Nginx):
            def _test(self, pending):
                if {kill_at!r} == "apply":
                    kill()
                super()._test(pending)

        write = transaction.write_durably
        def hooked(path, content, mode):
            if {kill_at!r} == "marker" and path.name == transaction.COMPLETE:
                kill()
            write(path, content, mode)
        transaction.write_durably = hooked

        changes = [transaction.FileChange(Path(path), content) for path, content in {
            {str(server.web / name): content for name, content in changes.items()}!r}.items()]
        Killed(Journal(), Path({str(server.root / "sauvegarde")!r}), {NGINX!r}, {server.args!r}).publish(changes)
        """)
    result = subprocess.run(["/usr/bin/python3", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr


def test_sigkill_after_apply_is_recovered_by_next_publish(server):
    settled(server, [change(server, "x.conf", snippet("x"))])
    run_killed(server, {"x.conf": snippet("x", "v2"), "y.conf": snippet("y")}, "apply")
    assert (server.web / "y.conf").exists()
    assert (server.root / "sauvegarde" / "sauvegarde-complete").exists()
    before = server.workers()
    assert server.nginx().publish([change(server, "z.conf", snippet("z"))]) is True
    assert "configuration nginx précédente restaurée" in server.journal()
    assert (server.web / "x.conf").read_bytes() == snippet("x")
    assert not (server.web / "y.conf").exists()
    server.wait_reloaded(before)
    assert server.get("/z/") == (200, "z") and server.get("/y/")[0] == 404


def test_sigkill_after_apply_then_identical_publish_still_reloads(server):
    """Killed after its reload, the interrupted run may have left nginx serving its files: reload anyway."""
    settled(server, [change(server, "x.conf", snippet("x"))])
    run_killed(server, {"x.conf": snippet("x", "v2")}, "apply")
    before = server.workers()
    assert server.nginx().publish([change(server, "x.conf", snippet("x"))]) is True
    server.wait_reloaded(before)
    assert server.get("/x/") == (200, "x")


def test_incomplete_backup_is_discarded_and_files_untouched(server):
    settled(server, [change(server, "x.conf", snippet("x"))])
    run_killed(server, {"x.conf": snippet("x", "v2"), "y.conf": snippet("y")}, "marker")
    backup = server.root / "sauvegarde"
    assert (backup / "manifest.json").exists() and not (backup / "sauvegarde-complete").exists()
    assert server.nginx().abandon() is False
    assert not backup.exists()
    assert "Sauvegarde nginx incomplète supprimée" in server.journal()
    assert (server.web / "x.conf").read_bytes() == snippet("x")
    assert not (server.web / "y.conf").exists()
