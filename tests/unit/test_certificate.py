"""The self-signed pair is written as one file transaction (openssl runs for real, on files of the test's own)."""

from __future__ import annotations

import io
import stat

import pytest

from eole_conteneurs.journal import Journal
from eole_conteneurs.publish.certificate import CertificateError, ensure_certificate
from eole_conteneurs.publish.transaction import FileChange, FileTransaction


def paths(tmp_path):
    return tmp_path / "ssl" / "eole.crt", tmp_path / "ssl" / "private" / "eole.key", tmp_path / "sauvegarde"


def test_a_missing_pair_is_created_key_private(tmp_path):
    cert, key, backup = paths(tmp_path)
    journal = Journal(io.StringIO())
    ensure_certificate(str(cert), str(key), journal, backup)
    assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY" in key.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not backup.exists()
    assert "Création d'un certificat autosigné" in journal.out.getvalue()


def test_a_half_written_pair_left_by_a_killed_run_is_made_again(tmp_path):
    cert, key, backup = paths(tmp_path)
    # Killed after the key, before the certificate: the transaction's backup is complete.
    FileTransaction(backup, Journal(io.StringIO()), "du certificat", "paire certificat/clé").write([FileChange(key, b"moitie", 0o600)])
    assert key.exists() and not cert.exists()
    journal = Journal(io.StringIO())
    ensure_certificate(str(cert), str(key), journal, backup)
    assert "précédente restaurée" in journal.out.getvalue()
    assert cert.exists() and key.read_bytes() != b"moitie"


def test_an_existing_pair_is_left_alone(tmp_path):
    cert, key, backup = paths(tmp_path)
    for path in (cert, key):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"fourni par l'administrateur")
    ensure_certificate(str(cert), str(key), Journal(io.StringIO()), backup)
    assert cert.read_bytes() == key.read_bytes() == b"fourni par l'administrateur"


def test_half_a_pair_given_by_the_administrator_is_refused(tmp_path):
    cert, key, backup = paths(tmp_path)
    cert.parent.mkdir(parents=True)
    cert.write_bytes(b"certificat seul")
    with pytest.raises(CertificateError, match="conteneurs_cle"):
        ensure_certificate(str(cert), str(key), Journal(io.StringIO()), backup)
    assert not key.exists()
