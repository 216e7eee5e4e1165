"""The backups' passphrase (root-only file) and the encryption of secrets inside what is saved.

borg encrypts the whole repository with the passphrase; the secrets of the saved variables are also
encrypted on their own (Fernet: AES-CBC and HMAC, from python3-cryptography) so that they are never in
clear on the host's disk either, where EOLE's Bareos may copy the module's files without encryption.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from eole_conteneurs import files
from eole_conteneurs.errors import EoleConteneursError, os_reason

KDF_ITERATIONS = 300_000


class PassphraseError(EoleConteneursError):
    def __init__(self, path: Path, reason: str):
        self.path = path
        super().__init__(f"phrase secrète des sauvegardes {path} : {reason}")


def read_passphrase(path: Path, create: bool) -> tuple[str, bool]:
    """(passphrase, created): created when absent and create, made of 256 random bits, readable by root only."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if not create:
            raise PassphraseError(path, "absente : remettez la copie conservée hors du serveur") from None
        if not path.parent.is_dir():  # made here: root's alone (an existing directory is left as it is)
            files.make_directories(path.parent)
            os.chmod(path.parent, 0o700)
        files.write_durably(path, (secrets.token_urlsafe(32) + "\n").encode(), 0o600)
        return read_passphrase(path, create=False)[0], True
    except OSError as error:
        raise PassphraseError(path, os_reason(error)) from None
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):  # before fdopen, which raises IsADirectoryError on a directory
        os.close(descriptor)
        raise PassphraseError(path, "pas un fichier ordinaire")
    with os.fdopen(descriptor, "rb") as handle:
        if status.st_uid != os.geteuid() or status.st_mode & 0o077:
            raise PassphraseError(path, f"lisible par d'autres que root (chown root: {path} ; chmod 600 {path})")
        text = handle.read(4096).decode("utf-8", "replace").strip()
    if len(text) < 8:
        raise PassphraseError(path, "moins de 8 caractères")
    return text, False


class Sealer:
    """Encrypts and decrypts values with a key derived from the passphrase and a salt kept beside them."""

    def __init__(self, passphrase: str, salt: bytes | None = None):
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

        self.salt = salt or secrets.token_bytes(16)
        kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=self.salt, iterations=KDF_ITERATIONS)
        self._fernet = Fernet(base64.urlsafe_b64encode(kdf.derive(passphrase.encode())))

    @property
    def salt_text(self) -> str:
        return base64.b64encode(self.salt).decode()

    def seal(self, value: Any) -> dict[str, str]:
        return {"chiffre": self._fernet.encrypt(json.dumps(value).encode()).decode()}

    def unseal(self, sealed: dict[str, str]) -> Any:
        from cryptography.fernet import InvalidToken

        try:
            return json.loads(self._fernet.decrypt(sealed["chiffre"].encode()))
        except (InvalidToken, KeyError, ValueError):
            raise EoleConteneursError("secret de la sauvegarde illisible : phrase secrète différente de celle "
                                      "de la sauvegarde") from None
