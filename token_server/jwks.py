"""The identity provider's signing keys (``AUTH_JWKS_URL``), fetched so that a caller whose
key is known never waits on the provider, whatever the provider or other callers do."""

from __future__ import annotations

import http.client
import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
import requests
import urllib3
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

log = logging.getLogger("token_server.auth")

MAX_JWKS_BYTES = 64 * 1024
JWKS_DEADLINE = 5.0  # seconds for a whole fetch: connect, headers and body
JWKS_CONNECT_TIMEOUT = 3.05
JWKS_MAX_AGE = 600.0  # refresh known keys in the background after this long
JWKS_MIN_REFRESH = 30.0  # never start two fetches closer together than this
_READ_SIZE = 16 * 1024


class JwksUnavailable(Exception):
    """No key is known yet (the first fetch failed or is still running)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("no signing keys are known yet")
        self.retry_after = retry_after


class JwksFetchError(Exception):
    """Why one fetch failed; logged once, never shown to a caller."""


@dataclass(frozen=True)
class SigningKey:
    key: Any  # a cryptography public key
    alg: str | None  # the key's own "alg", when the provider publishes one

    def verifies(self, alg: str) -> bool:
        """Whether a token signed with ``alg`` can be checked with this key at all: the key's
        declared algorithm, and its type (an ES256 token naming an RSA key is simply invalid)."""
        if self.alg is not None and self.alg != alg:
            return False
        if alg.startswith(("RS", "PS")):
            return isinstance(self.key, RSAPublicKey)
        if alg.startswith("ES"):
            # PyJWT itself refuses a key on the wrong curve.
            return isinstance(self.key, EllipticCurvePublicKey)
        return False


def download(url: str, *, deadline: float, max_bytes: int, connect_timeout: float) -> bytes:
    """GET ``url`` within ``deadline`` seconds in total and at most ``max_bytes``.

    requests' timeouts apply to each socket read, so the body is read piece by piece with the
    clock checked between pieces; a body that trickles in is cut off at the deadline."""
    ends = time.monotonic() + deadline
    try:
        with requests.get(
            url,
            stream=True,
            allow_redirects=False,
            timeout=(min(connect_timeout, deadline), deadline),
            headers={"Accept": "application/json"},
        ) as answer:
            if answer.status_code != 200:
                raise JwksFetchError(f"HTTP {answer.status_code}")
            body = bytearray()
            while True:
                if time.monotonic() > ends:
                    raise JwksFetchError(f"took longer than {deadline:g} s")
                piece = answer.raw.read1(_READ_SIZE, decode_content=True)
                if not piece:
                    return bytes(body)
                body += piece
                if len(body) > max_bytes:
                    raise JwksFetchError(f"larger than {max_bytes} bytes")
    # Reading the raw stream raises urllib3's and http.client's own errors, not requests'.
    except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        raise JwksFetchError(type(exc).__name__) from None


def parse_key_set(body: bytes) -> dict[str | None, SigningKey]:
    """The usable signature keys of a JWKS document, by ``kid``; entries that are not public
    RSA or EC signature keys are skipped, and a document without one usable key is an error."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise JwksFetchError("not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JwksFetchError("not a key set (no 'keys' list)")
    keys: dict[str | None, SigningKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid, alg = entry.get("kid"), entry.get("alg")
        if not isinstance(kid, (str, type(None))) or not isinstance(alg, (str, type(None))):
            continue
        try:
            key = jwt.PyJWK(entry).key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError):
            continue
        if isinstance(key, (RSAPublicKey, EllipticCurvePublicKey)):
            keys[kid] = SigningKey(key, alg)
    if not keys:
        raise JwksFetchError("no usable signature key in the key set")
    return keys


class JwksKeys:
    """Keys by ``kid``, refreshed in the background when they are older than ``max_age`` or
    a token names an unknown ``kid``, never more often than every ``min_refresh`` seconds.

    One fetch at a time, in a thread, with a total deadline and a size cap. A failed fetch is
    throttled exactly like a successful one, so tokens naming random ``kid`` values cannot turn
    requests into fetches; the lock guards a few fields and is never held while the network is
    touched. Callers' waits are bounded by the deadline even where the fetch is not: requests
    has no clock check while it reads the status line and headers, so a provider trickling
    endless headers keeps that one fetch thread busy while every caller goes on with the keys
    in hand."""

    def __init__(
        self,
        url: str,
        *,
        max_age: float = JWKS_MAX_AGE,
        min_refresh: float = JWKS_MIN_REFRESH,
        deadline: float = JWKS_DEADLINE,
        max_bytes: int = MAX_JWKS_BYTES,
        connect_timeout: float = JWKS_CONNECT_TIMEOUT,
    ) -> None:
        self._url = url
        self._max_age, self._min_refresh, self._deadline = max_age, min_refresh, deadline
        self._max_bytes, self._connect_timeout = max_bytes, connect_timeout
        self._lock = threading.Lock()  # guards the fields below; never held during a fetch
        self._keys: dict[str | None, SigningKey] = {}
        self._fetched_at = -math.inf  # the last successful fetch
        self._attempted_at = -math.inf  # the start of the last fetch, successful or not
        self._fetcher: threading.Thread | None = None
        self._fetched = threading.Event()

    def _lookup(self, kid: str | None) -> SigningKey | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def _stale(self, now: float) -> bool:
        return now - self._fetched_at > self._max_age

    def _fetching(self) -> bool:
        # A thread, not a flag: a process forked mid-fetch does not inherit the thread.
        return self._fetcher is not None and self._fetcher.is_alive()

    def _start_fetch(self) -> threading.Event:
        """Called with the lock held; returns the event set when this fetch ends."""
        self._attempted_at = time.monotonic()
        self._fetched = done = threading.Event()
        self._fetcher = threading.Thread(target=self._fetch, args=(done,), name="jwks-fetch", daemon=True)
        self._fetcher.start()
        return done

    def _fetch(self, done: threading.Event) -> None:
        try:
            body = download(
                self._url, deadline=self._deadline, max_bytes=self._max_bytes, connect_timeout=self._connect_timeout
            )
            keys = parse_key_set(body)
        except JwksFetchError as exc:
            log.error("could not fetch the signing keys from AUTH_JWKS_URL: %s", exc)
        else:
            with self._lock:
                self._keys, self._fetched_at = keys, time.monotonic()
        finally:
            done.set()

    def ensure_loading(self) -> bool:
        """True when keys are known. Else False, and a fetch starts now if none is running and
        the last one is ``min_refresh`` old (for readiness: never waits)."""
        with self._lock:
            if self._keys:
                return True
            if not self._fetching() and time.monotonic() - self._attempted_at >= self._min_refresh:
                self._start_fetch()
            return False

    def key_for(self, kid: str | None) -> SigningKey | None:
        """The key named ``kid``, or None when it is unknown (the caller's token is invalid).

        Only the caller that starts a fetch for an unknown ``kid``, and callers arriving while
        no key at all is known, wait for the fetch, and never longer than its deadline; every
        other caller is answered from the keys already known, at once. Raises
        :class:`JwksUnavailable` when no key is known."""
        with self._lock:
            key = self._lookup(kid)
            now = time.monotonic()
            wait_for: threading.Event | None = None
            if self._fetching():
                if not self._keys:
                    wait_for = self._fetched
            elif now - self._attempted_at >= self._min_refresh and (key is None or self._stale(now)):
                started = self._start_fetch()
                if key is None:
                    wait_for = started
        if key is not None:
            return key
        if wait_for is not None:
            wait_for.wait(self._deadline)
            with self._lock:
                key = self._lookup(kid)
        if key is None and not self._keys:
            raise JwksUnavailable(retry_after=max(1.0, self._attempted_at + self._min_refresh - time.monotonic()))
        return key
