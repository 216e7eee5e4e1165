"""The lock (jobs/lock.py): where only root can create it, never opened through a link, never held by others."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

from eole_conteneurs.jobs.context import Settings, guarded
from eole_conteneurs.jobs.lock import LOCK_FILE, Lock, LockRefused, ReconfigureBusy
from eole_conteneurs.journal import Journal
from tests.conftest import CHECKOUT

NOBODY = 65534
PRECIOUS = "à ne pas écraser\n"
DIRECTORY = "c'est un répertoire, pas un fichier"


@pytest.fixture
def lock_dir():
    """The lock's directory in a parent everybody may traverse (as /run), removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="eole-conteneurs-verrou-"))
    base.chmod(0o755)
    try:
        yield base / "eole-conteneurs"
    finally:
        shutil.rmtree(base)


def taken(path: Path, wait: float = 0.0) -> tuple[Journal, Lock]:
    journal = Journal(io.StringIO())
    return journal, Lock(path, wait, journal)


def as_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def test_the_default_lock_is_in_a_directory_of_its_own():
    assert LOCK_FILE.parent == Path("/run/eole-conteneurs")
    assert Settings().lock_file == LOCK_FILE


def test_the_directory_is_made_root_only_and_the_file_0600(lock_dir):
    journal, lock = taken(lock_dir / "verrou")
    with lock:
        assert f"pid {os.getpid()}" in (lock_dir / "verrou").read_text()
    assert (lock_dir.stat().st_mode & 0o777, (lock_dir / "verrou").stat().st_mode & 0o777) == (0o700, 0o600)
    assert (lock_dir / "verrou").read_text() == ""  # released: no holder left


def test_a_directory_and_file_made_by_hand_readable_by_others_are_narrowed(lock_dir):
    """Readable by others, anyone could take a shared flock and block every run."""
    lock_dir.mkdir(mode=0o755)
    lock_dir.chmod(0o755)
    (lock_dir / "verrou").write_text("")
    (lock_dir / "verrou").chmod(0o644)
    with taken(lock_dir / "verrou")[1]:
        assert (lock_dir.stat().st_mode & 0o777, (lock_dir / "verrou").stat().st_mode & 0o777) == (0o700, 0o600)


def test_a_second_process_holding_it_blocks_then_gets_the_french_message(lock_dir):
    path = lock_dir / "verrou"
    holder = subprocess.Popen(["/usr/bin/python3", "-c", textwrap.dedent(f"""
        import io, sys, time
        from pathlib import Path
        from eole_conteneurs.jobs.lock import Lock
        from eole_conteneurs.journal import Journal
        with Lock(Path({str(path)!r}), 0, Journal(io.StringIO())):
            print("tenu", flush=True)
            time.sleep(60)
        """)], cwd=CHECKOUT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "tenu\n"
        journal, lock = taken(path, wait=0.5)
        with pytest.raises(ReconfigureBusy) as refused:
            lock.__enter__()
        message = str(refused.value)
        assert f"un autre reconfigure est en cours (pid {holder.pid}, depuis" in message
        assert str(path) in message and "abandon après" in message
        assert journal.out.getvalue().count("Un autre reconfigure (ou une sauvegarde, une restauration, une mise à jour) est en cours : attente") == 1
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with taken(path)[1]:  # the kernel released it with its holder
        pass


def test_a_planted_symlink_is_refused_and_its_target_untouched(lock_dir, tmp_path):
    target = tmp_path / "cible"
    target.write_text(PRECIOUS)
    lock_dir.mkdir(mode=0o700)
    (lock_dir / "verrou").symlink_to(target)
    with pytest.raises(LockRefused, match="lien symbolique"):
        taken(lock_dir / "verrou")[1].__enter__()
    assert target.read_text() == PRECIOUS


def test_a_planted_hard_link_is_refused_and_its_target_untouched(lock_dir):
    lock_dir.mkdir(mode=0o700)
    target = lock_dir.parent / "cible"
    target.write_text(PRECIOUS)
    os.link(target, lock_dir / "verrou")
    with pytest.raises(LockRefused, match="liens physiques"):
        taken(lock_dir / "verrou")[1].__enter__()
    assert target.read_text() == PRECIOUS


def test_a_planted_directory_gives_a_clear_error(lock_dir):
    (lock_dir / "verrou").mkdir(parents=True)
    lock_dir.chmod(0o700)
    errors = io.StringIO()

    def job() -> int:
        with taken(lock_dir / "verrou")[1]:
            return 0

    with contextlib.redirect_stderr(errors):
        assert guarded(job) == 1
    assert errors.getvalue() == f"Erreur : verrou {lock_dir / 'verrou'} refusé : {DIRECTORY}\n"


def test_a_planted_fifo_is_refused(lock_dir):
    lock_dir.mkdir(mode=0o700)
    os.mkfifo(lock_dir / "verrou", 0o600)
    with pytest.raises(LockRefused, match="pas un fichier ordinaire"):
        taken(lock_dir / "verrou")[1].__enter__()


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702], ids=oct)
def test_a_lock_directory_writable_by_others_is_refused(lock_dir, mode):
    lock_dir.mkdir()
    lock_dir.chmod(mode)
    with pytest.raises(LockRefused) as refused:
        taken(lock_dir / "verrou")[1].__enter__()
    assert str(refused.value) == (f"verrou {lock_dir} refusé : le répertoire du verrou est modifiable par "
                                  f"d'autres utilisateurs (droits {mode:04o})")
    assert not (lock_dir / "verrou").exists()


def test_a_lock_directory_owned_by_another_user_is_refused(lock_dir):
    lock_dir.mkdir(mode=0o700)
    os.chown(lock_dir, NOBODY, NOBODY)
    with pytest.raises(LockRefused, match=f"appartient à l'utilisateur n°{NOBODY}"):
        taken(lock_dir / "verrou")[1].__enter__()
    assert not (lock_dir / "verrou").exists()


def test_a_lock_file_owned_by_another_user_is_refused(lock_dir):
    lock_dir.mkdir(mode=0o700)
    (lock_dir / "verrou").write_text(PRECIOUS)
    os.chown(lock_dir / "verrou", NOBODY, NOBODY)
    with pytest.raises(LockRefused, match="le fichier du verrou appartient"):
        taken(lock_dir / "verrou")[1].__enter__()
    assert (lock_dir / "verrou").read_text() == PRECIOUS


def test_a_symlink_in_place_of_the_directory_is_refused(lock_dir, tmp_path):
    lock_dir.symlink_to(tmp_path)
    with pytest.raises(LockRefused, match="lien symbolique"):
        taken(lock_dir / "verrou")[1].__enter__()
    assert list(tmp_path.iterdir()) == []


def test_an_unprivileged_user_cannot_open_nor_hold_it(lock_dir):
    path = lock_dir / "verrou"
    with taken(path)[1]:
        pass
    attempt = subprocess.run(["/usr/bin/python3", "-c", textwrap.dedent(f"""
        import fcntl
        try:
            handle = open({str(path)!r})
        except PermissionError:
            print("refusé")
        else:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            print("tenu")
        """)], preexec_fn=as_nobody, capture_output=True, text=True, timeout=30)
    assert (attempt.stdout, attempt.stderr) == ("refusé\n", "")
    with taken(path)[1]:  # and root still takes it
        pass


def test_an_unprivileged_user_is_told_in_french_why_it_cannot_lock(lock_dir):
    lock_dir.parent.chmod(0o755)
    result = subprocess.run(["/usr/bin/python3", "-c", textwrap.dedent(f"""
        import io
        from pathlib import Path
        from eole_conteneurs.jobs.context import guarded
        from eole_conteneurs.jobs.lock import Lock
        from eole_conteneurs.journal import Journal
        def job():
            with Lock(Path({str(lock_dir / 'verrou')!r}), 0, Journal(io.StringIO())):
                return 0
        guarded(job)
        """)], cwd=CHECKOUT, preexec_fn=as_nobody, capture_output=True, text=True, timeout=30)
    assert result.stderr == f"Erreur : verrou {lock_dir} refusé : création du répertoire impossible (permission refusée)\n"
