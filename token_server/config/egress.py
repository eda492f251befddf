"""The egress checks of the upstream section (``COMETCHAT_PROXY``, ``COMETCHAT_CA_BUNDLE``):
each problem joins the one refusal message; none of them ever shows a proxy's password."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from cometchat.egress import redact_proxy

__all__ = ["check_ca_bundle", "check_proxy", "proxy_password", "redact_proxy"]


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


def proxy_password(proxy: str | None) -> str | None:
    """The proxy's password, for the log filter to mask."""
    if not proxy:
        return None
    try:
        return urlsplit(proxy).password or None
    except ValueError:
        return None
