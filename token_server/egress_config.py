"""The egress settings (``COMETCHAT_PROXY``, ``COMETCHAT_CA_BUNDLE``) and the process settings
(``PORT``, ``WEB_CONCURRENCY``, ``GUNICORN_THREADS``), checked at start: each problem joins the
one refusal message of ``config.load_settings``; none of them ever shows a proxy's password."""

from __future__ import annotations

import ssl
from typing import Any, Mapping
from urllib.parse import urlsplit

from cometchat.egress import redact_proxy

__all__ = ["egress_settings", "proxy_password", "redact_proxy"]

# (name, lowest, highest) of the whole-number process settings.
PROCESS_NUMBERS = (("PORT", 1, 65535), ("WEB_CONCURRENCY", 1, 256), ("GUNICORN_THREADS", 1, 4096))


def check_proxy(raw: str | None, problems: list[str]) -> str | None:
    """``http(s)://[user:pass@]host[:port]``, nothing more; None when unset or refused."""
    if not raw:
        return None
    shown = redact_proxy(raw)
    try:
        parts = urlsplit(raw)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or not port_ok
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or any(c.isspace() or not c.isprintable() for c in raw)
    ):
        problems.append(
            f"COMETCHAT_PROXY must be http(s)://host:port, with user:password@ before the host if the proxy "
            f"asks for them (got {shown!r})"
        )
        return None
    return raw


def check_ca_bundle(path: str | None, problems: list[str]) -> str | None:
    """A readable PEM file holding at least one certificate; None when unset or refused."""
    if not path:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "no PEM certificate in it"
        problems.append(f"COMETCHAT_CA_BUNDLE must be a readable PEM file of CA certificates ({path!r}: {reason})")
        return None
    return path


def check_process_numbers(env: Mapping[str, str], problems: list[str]) -> dict[str, int | None]:
    """Each process setting as a whole number in its range, None when unset (the entry point
    picks its default) or refused."""
    values: dict[str, int | None] = {}
    for name, low, high in PROCESS_NUMBERS:
        raw = (env.get(name) or "").strip()
        values[name] = None
        if not raw:
            continue
        if raw.isascii() and raw.isdigit() and low <= int(raw) <= high:
            values[name] = int(raw)
        else:
            problems.append(f"{name} must be a whole number from {low} to {high} (got {raw!r})")
    return values


def proxy_password(proxy: str | None) -> str | None:
    """The proxy's password, for the log filter to mask."""
    if not proxy:
        return None
    try:
        return urlsplit(proxy).password or None
    except ValueError:
        return None


def egress_settings(env: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """The Settings fields of this module: proxy, ca_bundle, port, web_concurrency, gunicorn_threads."""
    get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731
    numbers = check_process_numbers(env, problems)
    return {
        "proxy": check_proxy(get("COMETCHAT_PROXY"), problems),
        "ca_bundle": check_ca_bundle(get("COMETCHAT_CA_BUNDLE"), problems),
        "port": numbers["PORT"],
        "web_concurrency": numbers["WEB_CONCURRENCY"],
        "gunicorn_threads": numbers["GUNICORN_THREADS"],
    }
