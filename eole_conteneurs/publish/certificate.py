"""The HTTPS certificate of the module's nginx server: the configured pair, EOLE's, or the module's own.

nginx's master reads them as root: every pair used is checked again here, as it is on disk now
(config.validation.check_certificate_file: certificate trees only, links included; a private key).

EOLE creates its certificate itself (after the pretemplate phase): the module never writes at
EOLE's paths. When no pair is given or found, a self-signed pair is made under the module's own
directory, as one file transaction: a run killed between the key and the certificate leaves
nothing half made (the next run rolls the half back and creates both).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from eole_conteneurs.config.validation import CertificateFileRefused, check_certificate_file
from eole_conteneurs.creole.values import Values
from eole_conteneurs.errors import EoleConteneursError
from eole_conteneurs.journal import Journal
from eole_conteneurs.publish.names import host_name
from eole_conteneurs.publish.transaction import FileChange, FileTransaction

OWN_CERTIFICATE = Path("/etc/eole-conteneurs/ssl/eole-conteneurs.crt")
OWN_KEY = Path("/etc/eole-conteneurs/ssl/private/eole-conteneurs.key")
EOLE_DEFAULT = (Path("/etc/ssl/certs/eole.crt"), Path("/etc/ssl/private/eole.key"))


class CertificateError(EoleConteneursError):
    def __init__(self, variable: str, path: str, detail: str):
        self.variable = variable
        super().__init__(f"{variable} : « {path} » : {detail}")


@dataclass(frozen=True)
class CertificatePair:
    certificate: Path
    key: Path


def certificate_pair(values: Values, facts: Mapping[str, str], journal: Journal, backup_dir: Path,
                     own: CertificatePair = CertificatePair(OWN_CERTIFICATE, OWN_KEY)) -> CertificatePair:
    """conteneurs_certificat/_cle when given; else EOLE's (server_cert/server_key, or its default paths)
    when both files exist; else the module's own pair, self-signed and created when missing."""
    given = [values.get(name) if values.is_enabled(name) else None for name in ("conteneurs_certificat", "conteneurs_cle")]
    if given[0] and given[1]:
        for variable, path in zip(("conteneurs_certificat", "conteneurs_cle"), given):
            try:
                check_certificate_file(variable, path, key=variable == "conteneurs_cle", must_exist=True)
            except CertificateFileRefused as refused:
                raise CertificateError(variable, path, f"{refused.reason} ; attendu : {refused.expected}") from None
        return CertificatePair(Path(given[0]), Path(given[1]))
    eole = (facts.get("server_cert"), facts.get("server_key"))
    for certificate, key in ((eole[0], eole[1]), (str(EOLE_DEFAULT[0]), str(EOLE_DEFAULT[1]))):
        if certificate and key and _usable(certificate, key, journal):
            return CertificatePair(Path(certificate), Path(key))
    ensure_certificate(str(own.certificate), str(own.key), journal, backup_dir)
    return own


def _usable(certificate: str, key: str, journal: Journal) -> bool:
    """EOLE's pair when both files are there and pass the same rules as the variables; a pair that is
    there but refused (a key readable by all…) is named, and the next choice is used."""
    if not (Path(certificate).is_file() and Path(key).is_file()):
        return False  # not made yet: EOLE makes it after pretemplate
    for variable, path in (("server_cert", certificate), ("server_key", key)):
        try:
            check_certificate_file(variable, path, key=variable == "server_key", must_exist=True)
        except CertificateFileRefused as refused:
            journal.warn(f"certificat d'EOLE non utilisé : {variable} : « {path} » : {refused.reason} ; "
                         f"attendu : {refused.expected}")
            return False
    return True


def ensure_certificate(certificate: str, key: str, journal: Journal, backup_dir: Path) -> None:
    """The module's own pair, self-signed, created where it is expected when missing."""
    cert_path, key_path = Path(certificate), Path(key)
    try:
        _ensure(cert_path, key_path, journal, FileTransaction(backup_dir, journal, "du certificat", "paire certificat/clé"))
    except OSError as error:
        raise CertificateError("conteneurs_certificat", str(cert_path), f"création impossible ({error})") from error


def _ensure(cert_path: Path, key_path: Path, journal: Journal, transaction: FileTransaction) -> None:
    transaction.recover()
    if cert_path.exists() and key_path.exists():
        return
    # Half a pair of the module's own is remade whole: nobody else writes there.
    key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
                   "-subj", f"/CN={host_name()}", "-keyout", str(keyout), "-out", str(out)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        except subprocess.TimeoutExpired as error:
            raise CertificateError("conteneurs_certificat", str(cert_path), f"création impossible ({error})") from error
        if result.returncode == 0:
            return out.read_bytes(), keyout.read_bytes()
    raise CertificateError("conteneurs_certificat", str(cert_path),
                           f"création impossible ({result.stderr.strip().splitlines()[-1:]})")
