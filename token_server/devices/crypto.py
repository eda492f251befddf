"""Sealing tokens for the store: Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``, so a
copy of the store alone (a backup, a Redis dump) holds no usable token."""

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
    """Seals a token before it is stored and opens it when read back.

    The keys come from ``SESSION_STORE_KEY`` (any secret of 32 characters or more; several,
    comma-separated, to rotate: the first seals, all open), else from a key the server generated
    once and keeps in the store itself; a key derived from the REST key (the earlier default)
    always opens too, so records sealed before still open. Each key is stretched with HKDF
    (:func:`derive_key`). See docs/devices.md ("Keys")."""

    def __init__(self, secrets: list[str] | tuple[str, ...]) -> None:
        if not secrets:
            raise ValueError("a token cipher needs at least one secret")
        self.secrets = tuple(secrets)
        self._primary = Fernet(derive_key(secrets[0]))
        self._fernet = MultiFernet([self._primary, *(Fernet(derive_key(secret)) for secret in secrets[1:])])

    def __repr__(self) -> str:
        return f"TokenCipher({len(self.secrets)} keys)"

    @staticmethod
    def generate_secret() -> str:
        """A new random secret (a Fernet key's text: 44 characters)."""
        return Fernet.generate_key().decode("ascii")

    def with_primary(self, secret: str) -> TokenCipher:
        """This cipher with ``secret`` sealing first, its keys still opening."""
        return TokenCipher([secret, *(s for s in self.secrets if s != secret)])

    def is_current(self, sealed: str) -> bool:
        """True when ``sealed`` was sealed with the first key (False: an older key, or none of ours)."""
        try:
            self._primary.decrypt(sealed.encode("ascii"))
        except (InvalidToken, UnicodeError, ValueError):
            return False
        return True

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
