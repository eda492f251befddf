"""The Calls SDK v5 the live demo page may load: its URL and subresource-integrity hash, both or
neither."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Mapping, Self
from urllib.parse import urlparse

from .base import Env, Mode

URL_VARIABLE = "COMETCHAT_CALLS_SDK_URL"
INTEGRITY_VARIABLE = "COMETCHAT_CALLS_SDK_INTEGRITY"
DIGEST_BYTES = {"sha256": 32, "sha384": 48, "sha512": 64}
INTEGRITY = re.compile(r"(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})")
# A CSP source expression ends at whitespace or ';', and a quote or comma would confuse it.
URL_FORBIDDEN = re.compile(r"[\s;,'\"<>\\]")


def _valid_digest(integrity: str) -> bool:
    match = INTEGRITY.fullmatch(integrity)
    if not match:
        return False
    try:
        digest = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(digest) == DIGEST_BYTES[match.group(1)]


def check_calls_sdk(env: Mapping[str, str], problems: list[str]) -> tuple[str | None, str | None]:
    """(url, integrity) from the environment, both set or both None; problems appended.

    The npm registry reachable from here serves no Calls 5.x, so the operator names the build
    (``COMETCHAT_CALLS_SDK_URL``) and its hash (``COMETCHAT_CALLS_SDK_INTEGRITY``, as
    ``sha384-<base64>``). Both or neither: a script loaded without its hash could be swapped by
    whoever serves it. The page's Content-Security-Policy then allows that exact URL, nothing more."""
    url = (env.get(URL_VARIABLE) or "").strip() or None
    integrity = (env.get(INTEGRITY_VARIABLE) or "").strip() or None
    if url is None and integrity is None:
        return None, None
    if url is None or integrity is None:
        problems.append(f"set {URL_VARIABLE} and {INTEGRITY_VARIABLE} together (the SDK loads only with its hash)")
        return None, None
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname or URL_FORBIDDEN.search(url) or parsed.fragment:
        problems.append(f"{URL_VARIABLE} must be an https:// URL of the Calls SDK v5 build (no spaces, quotes or #)")
    if not _valid_digest(integrity):
        problems.append(
            f"{INTEGRITY_VARIABLE} must be one subresource-integrity hash like sha384-<base64 of the 48-byte digest>"
        )
    return url, integrity


@dataclass(frozen=True)
class DemoSettings:
    """The live demo page's Calls SDK v5 (with its hash), or none."""

    calls_sdk_url: str | None = None
    calls_sdk_integrity: str | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, problems: list[str] | None = None, *, mode: Mode = "production"
    ) -> Self:
        read = Env(env)
        url, integrity = check_calls_sdk(read.values, read.problems)
        return read.finish(cls(calls_sdk_url=url, calls_sdk_integrity=integrity), problems)
