"""The certificate pair nginx uses: where it may come from (checked again at publication), and the self-signed
pair written as one file transaction (openssl runs for real, on files of the test's own)."""

from __future__ import annotations

import grp
import io
import os
import stat

import pytest

from eole_conteneurs.config import validation
from eole_conteneurs.journal import Journal
from eole_conteneurs.publish import certificate
from eole_conteneurs.publish.certificate import CertificateError, CertificatePair, certificate_pair, ensure_certificate
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


def test_half_of_the_modules_own_pair_is_made_again_whole(tmp_path):
    cert, key, backup = paths(tmp_path)
    cert.parent.mkdir(parents=True)
    cert.write_bytes(b"certificat seul")
    ensure_certificate(str(cert), str(key), Journal(io.StringIO()), backup)
    assert b"PRIVATE KEY" in key.read_bytes() and cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


class StubValues:
    def __init__(self, **values):
        self.values = values

    def get(self, name):
        return self.values.get(name)

    def is_enabled(self, name):
        return name in self.values


@pytest.fixture
def eole_default(tmp_path, monkeypatch, certificate_trees):
    """EOLE's default paths, moved under the test's directory (never the host's)."""
    default = (tmp_path / "eole" / "eole.crt", tmp_path / "eole" / "eole.key")
    monkeypatch.setattr(certificate, "EOLE_DEFAULT", default)
    return default


@pytest.fixture
def certificate_trees(tmp_path, monkeypatch):
    """The allowed certificate trees, moved under the test's directory: ssl/, eole/, module/."""
    trees = tuple(str(tmp_path / tree) for tree in ("ssl", "eole", "module"))
    monkeypatch.setattr(validation, "CERTIFICATE_ROOTS", trees)


def own_pair(tmp_path):
    return CertificatePair(tmp_path / "module" / "module.crt", tmp_path / "module" / "private" / "module.key")


def made(*files, mode=0o600):
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"existe")
        path.chmod(mode)


def test_a_given_pair_is_used_and_must_exist(tmp_path, eole_default):
    cert, key, backup = paths(tmp_path)
    values = StubValues(conteneurs_certificat=str(cert), conteneurs_cle=str(key))
    with pytest.raises(CertificateError, match="conteneurs_certificat"):
        certificate_pair(values, {}, Journal(io.StringIO()), backup, own_pair(tmp_path))
    assert not cert.exists() and not key.exists(), "never created where the administrator points"
    made(cert, key)
    assert certificate_pair(values, {}, Journal(io.StringIO()), backup, own_pair(tmp_path)) == CertificatePair(cert, key)


def test_eoles_pair_is_used_never_created(tmp_path, eole_default):
    server_cert, server_key = tmp_path / "ssl" / "serveur.crt", tmp_path / "ssl" / "serveur.key"
    facts = {"server_cert": str(server_cert), "server_key": str(server_key)}
    own = own_pair(tmp_path)
    # Not there yet (EOLE makes it after pretemplate): the module's own pair, at its own path.
    assert certificate_pair(StubValues(), facts, Journal(io.StringIO()), tmp_path / "s", own) == own
    assert not server_cert.exists() and not eole_default[0].exists()
    assert own.certificate.exists() and stat.S_IMODE(own.key.stat().st_mode) == 0o600
    made(server_cert, server_key)
    assert certificate_pair(StubValues(), facts, Journal(io.StringIO()), tmp_path / "s", own) == \
        CertificatePair(server_cert, server_key)


def test_eoles_default_paths_are_found_without_the_variables(tmp_path, eole_default):
    made(*eole_default)
    assert certificate_pair(StubValues(), {}, Journal(io.StringIO()), tmp_path / "s", own_pair(tmp_path)) == \
        CertificatePair(*eole_default)


def test_a_given_key_readable_by_all_is_refused_at_publication(tmp_path, eole_default):
    cert, key, backup = paths(tmp_path)
    made(cert, key)
    key.chmod(0o644)
    values = StubValues(conteneurs_certificat=str(cert), conteneurs_cle=str(key))
    with pytest.raises(CertificateError) as caught:
        certificate_pair(values, {}, Journal(io.StringIO()), backup, own_pair(tmp_path))
    assert caught.value.variable == "conteneurs_cle"
    assert str(key) in str(caught.value) and f"chmod 600 {key}" in str(caught.value)


def test_a_key_readable_by_the_ssl_cert_group_is_debians_convention(tmp_path, eole_default):
    cert, key, backup = paths(tmp_path)
    made(cert, key, mode=0o640)
    values = StubValues(conteneurs_certificat=str(cert), conteneurs_cle=str(key))
    try:
        os.chown(key, -1, grp.getgrnam("ssl-cert").gr_gid)
    except KeyError:
        pytest.skip("pas de groupe ssl-cert sur cet hôte")
    assert certificate_pair(values, {}, Journal(io.StringIO()), backup, own_pair(tmp_path)) == \
        CertificatePair(cert, key)
    os.chown(key, -1, 0)
    with pytest.raises(CertificateError, match="conteneurs_cle.*lisible par le groupe root"):
        certificate_pair(values, {}, Journal(io.StringIO()), backup, own_pair(tmp_path))


@pytest.mark.parametrize("leaves", ["link", "path"])
def test_a_given_pair_outside_the_certificate_trees_is_refused_at_publication(tmp_path, eole_default, leaves):
    """Checked again when used: a link made after validation, or a file outside the trees."""
    cert, key, backup = paths(tmp_path)
    secret = tmp_path / "ailleurs" / "id_rsa"
    made(cert, secret)
    if leaves == "link":
        key.parent.mkdir(parents=True)
        key.symlink_to(secret)
    else:
        key = secret
    values = StubValues(conteneurs_certificat=str(cert), conteneurs_cle=str(key))
    with pytest.raises(CertificateError) as caught:
        certificate_pair(values, {}, Journal(io.StringIO()), backup, own_pair(tmp_path))
    assert caught.value.variable == "conteneurs_cle" and "attendu" in str(caught.value)


def test_eoles_pair_with_a_key_readable_by_all_is_not_used(tmp_path, eole_default):
    made(*eole_default)
    eole_default[1].chmod(0o644)
    journal, own = Journal(io.StringIO()), own_pair(tmp_path)
    assert certificate_pair(StubValues(), {}, journal, tmp_path / "s", own) == own
    assert any("server_key" in line and "chmod 600" in line for line in journal.warnings), journal.warnings
