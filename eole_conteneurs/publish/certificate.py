"""The HTTPS certificate the module's site names: the configured pair, or a self-signed one made for it.

The pair is written as one file transaction: a run killed between the key and the certificate
leaves nothing half made (the next run rolls the half back and creates both).
"""

from __future__ import annotations

import socket
from pathlib import Path

from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal
from eole_conteneurs.publish.transaction import FileChange, FileTransaction


class CertificateError(EoleConteneursError):
    def __init__(self, variable: str, path: str, detail: str):
        self.variable = variable
        super().__init__(f"{variable} : « {path} » : {detail}")


def server_name() -> str:
    """The host's name for URLs: its FQDN, unless the resolver only knows it as localhost."""
    fqdn = socket.getfqdn()
    return socket.gethostname() if fqdn.startswith("localhost") else fqdn


def ensure_certificate(certificate: str, key: str, journal: Journal, backup_dir: Path) -> None:
    """The configured certificate, or a self-signed one created where it is expected."""
    cert_path, key_path = Path(certificate), Path(key)
    try:
        _ensure(cert_path, key_path, journal, FileTransaction(backup_dir, journal, "du certificat", "paire certificat/clé"))
    except OSError as error:
        raise CertificateError("conteneurs_certificat", str(cert_path), f"création impossible ({error})") from error


def _ensure(cert_path: Path, key_path: Path, journal: Journal, transaction: FileTransaction) -> None:
    transaction.recover()
    if cert_path.exists() and key_path.exists():
        return
    if cert_path.exists() != key_path.exists():
        missing, variable = (key_path, "conteneurs_cle") if cert_path.exists() else (cert_path, "conteneurs_certificat")
        raise CertificateError(variable, str(missing), "fichier absent alors que l'autre moitié de la paire existe")
    journal.step(f"Création d'un certificat autosigné : {cert_path} ({key_path})")
    cert, private_key = _self_signed(cert_path)
    transaction.write([FileChange(key_path, private_key, 0o600), FileChange(cert_path, cert, 0o644)])
    transaction.commit()


def _self_signed(cert_path: Path) -> tuple[bytes, bytes]:
    """openssl writes the pair in a private directory; returns (certificate, key)."""
    import subprocess  # only to create a certificate: a no-op reconfigure never runs a command
    import tempfile

    with tempfile.TemporaryDirectory(prefix="eole-conteneurs-") as work:
        out, keyout = Path(work) / "cert.pem", Path(work) / "key.pem"
        command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                   "-subj", f"/CN={server_name()}", "-keyout", str(keyout), "-out", str(out)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        except subprocess.TimeoutExpired as error:
            raise CertificateError("conteneurs_certificat", str(cert_path), f"création impossible ({error})") from error
        if result.returncode == 0:
            return out.read_bytes(), keyout.read_bytes()
    raise CertificateError("conteneurs_certificat", str(cert_path),
                           f"création impossible ({result.stderr.strip().splitlines()[-1:]})")
