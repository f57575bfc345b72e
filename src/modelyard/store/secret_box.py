"""Secrets the server must read back (webhook secrets and Authorization values, the key that
signs file URLs) are kept in the database encrypted, with a key that is not in the database.

The key is a Fernet key (AES-128-CBC with HMAC-SHA256, from the `cryptography` library): the
value of `MODELYARD_SECRET_KEY` when set (every replica of a PostgreSQL deployment needs the
same one), else the key file `<data-dir>/secret-key`, created 0600 on the first start. A copy
of the database (a backup, a read-only role) then reveals no secret without the key.

Stored values are `enc1:<Fernet token>`. A value without the prefix is one written before
encryption existed: revision 0008 encrypts those, `modelyard serve` encrypts any left at start
(store/secrets.py), and `open` reads them as they are meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "enc1:"
KEY_FILE_NAME = "secret-key"


class SecretKeyError(RuntimeError):
    """The key is missing, malformed, or not the one the stored secrets were sealed with."""


class SecretBox:
    def __init__(self, key: str | bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, binascii.Error, TypeError):
            raise SecretKeyError(
                "The secret key must be 32 random bytes in URL-safe base64 (44 characters), "
                "as `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'` prints.") from None

    def seal(self, value: str) -> str:
        return PREFIX + self._fernet.encrypt(value.encode()).decode("ascii")

    def seal_optional(self, value: str | None) -> str | None:
        return None if value is None else self.seal(value)

    def open(self, stored: str) -> str:
        if not is_sealed(stored):
            return stored  # written before encryption; revision 0008 seals these
        try:
            return self._fernet.decrypt(stored[len(PREFIX):].encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                "A secret in the database was encrypted with another key: every server of one "
                "database needs the same MODELYARD_SECRET_KEY (or the same <data-dir>/"
                "secret-key file).") from None

    def open_optional(self, stored: str | None) -> str | None:
        return None if stored is None else self.open(stored)


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def load_or_create_key(path: Path) -> bytes:
    """The key in `path`, created (mode 0600, atomically: another process starting at the
    same moment reads the same key) when there is none."""
    with contextlib.suppress(FileNotFoundError):
        return _read_key(path)
    key = Fernet.generate_key()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(key + b"\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)  # fails if another process made one first: use theirs
        except FileExistsError:
            return _read_key(path)
    finally:
        temporary.unlink(missing_ok=True)
    return key


def _read_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    try:
        if len(base64.urlsafe_b64decode(key)) != 32:
            raise ValueError
    except (ValueError, binascii.Error):
        raise SecretKeyError(f"{path} does not hold a secret key (32 bytes in URL-safe "
                             "base64).") from None
    return key


def open_box(key: str | None, key_file: Path) -> SecretBox:
    """The box for the server: from the key given (MODELYARD_SECRET_KEY), else the key file."""
    if key:
        return SecretBox(key.strip())
    return SecretBox(load_or_create_key(key_file))
