"""Secrets kept in the database encrypted: Fernet keys derived from the server's secret key
(HKDF-SHA256), one per purpose, so a value sealed for one purpose never opens as another."""

from __future__ import annotations

import base64

from django.conf import settings


class Unreadable(ValueError):
    """A sealed value the current secret key cannot open (was DPXDT_SECRET_KEY changed?)."""


def fernet(purpose: bytes):
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        settings.SECRET_KEY.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(text: str, purpose: bytes) -> str:
    return fernet(purpose).encrypt(text.encode()).decode() if text else ""


def unseal(token: str, purpose: bytes) -> str:
    if not token:
        return ""
    from cryptography.fernet import InvalidToken

    try:
        return fernet(purpose).decrypt(token.encode()).decode()
    except InvalidToken:
        raise Unreadable(
            "a stored secret cannot be decrypted (was DPXDT_SECRET_KEY changed?)"
        ) from None
