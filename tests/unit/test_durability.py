"""The state files under /var/lib/eole-conteneurs survive a crash (issue 14, item 10): written to a
temporary file that is fsync'd, renamed into place, then the directory fsync'd — and a directory made
for them is itself made durable in its parent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eole_conteneurs.containers.labels import Registry
from eole_conteneurs.files import link_durably, remove_durably, write_durably


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, str]]:
    """Every fsync (of the path its descriptor is open on), mkdir and rename, in order."""
    recorded: list[tuple[str, str]] = []
    real_fsync, real_replace, real_mkdir = os.fsync, os.replace, os.mkdir

    def fsync(descriptor):
        recorded.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        return real_fsync(descriptor)

    def replace(source, destination, **kwargs):
        recorded.append(("replace", f"{source} -> {destination}"))
        return real_replace(source, destination, **kwargs)

    def mkdir(path, *args, **kwargs):
        result = real_mkdir(path, *args, **kwargs)  # recorded once made (exist_ok=True raises then catches)
        recorded.append(("mkdir", str(path)))
        return result

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "mkdir", mkdir)
    return recorded


def test_the_registry_is_fsynced_renamed_then_its_directory_fsynced(tmp_path, calls):
    path = tmp_path / "persistants"
    Registry(path).save(frozenset({"b" * 64, "a" * 64}))
    assert path.read_text() == f"{'a' * 64}\n{'b' * 64}\n"
    assert [kind for kind, _ in calls] == ["fsync", "replace", "fsync"]
    temporary = calls[0][1]
    assert Path(temporary).parent == tmp_path and Path(temporary).name.startswith(".persistants.")
    assert calls[1] == ("replace", f"{temporary} -> {path}")
    assert calls[2] == ("fsync", str(tmp_path))


def test_a_state_directory_made_for_the_registry_is_durable_in_its_parent(tmp_path, calls):
    """The first run creates /var/lib/eole-conteneurs: without an fsync of /var/lib, a crash could
    lose the directory and the registry with it, although the registry itself was fsync'd."""
    state = tmp_path / "var-lib" / "eole-conteneurs"
    Registry(state / "persistants").save(frozenset({"a" * 64}))
    made = [(kind, where) for kind, where in calls if kind == "mkdir" or where in (str(tmp_path), str(state.parent))]
    assert made == [("mkdir", str(state.parent)), ("fsync", str(tmp_path)),
                    ("mkdir", str(state)), ("fsync", str(state.parent))]
    assert calls[-1] == ("fsync", str(state))  # and the registry's own rename


def test_write_durably_orders_file_fsync_rename_directory_fsync(tmp_path, calls):
    write_durably(tmp_path / "fichier", b"contenu", 0o600)
    assert [kind for kind, _ in calls] == ["fsync", "replace", "fsync"]
    assert calls[0][1] != str(tmp_path / "fichier") and calls[2] == ("fsync", str(tmp_path))
    assert (tmp_path / "fichier").stat().st_mode & 0o777 == 0o600


def test_links_and_removals_fsync_their_directory(tmp_path, calls):
    link_durably(tmp_path / "lien", "/nulle/part")
    remove_durably(tmp_path / "lien")
    assert calls == [("replace", f"{tmp_path / '.lien.lien'} -> {tmp_path / 'lien'}"), ("fsync", str(tmp_path)),
                     ("fsync", str(tmp_path))]
