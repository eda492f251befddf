"""Sealing tokens for the store: Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``.

The key comes from ``SESSION_STORE_KEY`` (any secret of 32 characters or more; several,
comma-separated, to rotate: the first seals, all open), else it is derived from the REST key
with HKDF, so a copy of the store alone (a backup, a Redis dump) holds no usable token.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SALT = b"cometchat-token-server/session-store"
INFO = b"fernet-key v1"


def derive_key(secret: str) -> bytes:
    """A Fernet key from any secret text (HKDF-SHA256: a fixed salt, one purpose label)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=INFO).derive(secret.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


class TokenCipher:
    """Seals a token before it is stored and opens it when read back."""

    def __init__(self, secrets: list[str] | tuple[str, ...]) -> None:
        if not secrets:
            raise ValueError("a token cipher needs at least one secret")
        self._fernet = MultiFernet([Fernet(derive_key(secret)) for secret in secrets])

    @classmethod
    def ephemeral(cls) -> TokenCipher:
        """A key that lives as long as this process (the in-process store's)."""
        return cls([Fernet.generate_key().decode("ascii")])

    def seal(self, token: str) -> str:
        return self._fernet.encrypt(token.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str | None:
        """The token, or None when it was sealed with a key we no longer hold."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            return None
