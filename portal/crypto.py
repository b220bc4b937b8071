"""Encryption of secrets kept in the database (suppliers' Mollie keys), keyed by ENCRYPTION_KEYS."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text, types


class SecretError(RuntimeError):
    pass


def _fernet(keys: str) -> MultiFernet:
    parts = [k.strip() for k in keys.split(",") if k.strip()]
    if not parts:
        raise SecretError("ENCRYPTION_KEYS is empty")
    # The first key encrypts; the others still decrypt, so keys can be rotated without downtime.
    return MultiFernet([Fernet(k.encode()) for k in parts])


def encrypt(plaintext: str, keys: str | None = None) -> str:
    return _fernet(keys or current_app.config["ENCRYPTION_KEYS"]).encrypt(plaintext.encode()).decode()


def decrypt(token: str, keys: str | None = None) -> str:
    try:
        return _fernet(keys or current_app.config["ENCRYPTION_KEYS"]).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretError("cannot decrypt a stored secret: is ENCRYPTION_KEYS complete?") from None


class EncryptedText(types.TypeDecorator):
    """A text column whose value is encrypted before it reaches the database."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)
