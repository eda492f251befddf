"""The client a per-address limit counts: an address as a key, not as text.

``X-Forwarded-For`` entries come in several spellings of one client: ``1.2.3.4``,
``1.2.3.4:5678`` (Azure Application Gateway appends the client's port, a new one per
connection), ``[2001:db8::1]:443``, ``2001:DB8::1``. Each becomes the bare address before it
is used as a key. An IPv6 client is keyed by its network (a /64 by default,
``RATE_LIMIT_IPV6_PREFIX``): one subscriber is handed a whole /64 and can rotate through it at
will. An IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) is its IPv4 address. Text that is no
address at all (a proxy's ``unknown``) is kept, lowercased and bounded, as its own key.
"""

from __future__ import annotations

import ipaddress

from .config.ratelimits import DEFAULT_IPV6_PREFIX

__all__ = ["DEFAULT_IPV6_PREFIX", "client_key", "strip_port"]

MAX_KEY_TEXT = 64  # an unparseable entry is still a key, never an unbounded one


def strip_port(text: str) -> str:
    """The host part of ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else text
    if text.count(":") == 1:  # IPv4 or a name with a port; a bare IPv6 has at least two colons
        return text.partition(":")[0]
    return text


def client_key(address: str | None, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str:
    """The key a per-address limit counts ``address`` under."""
    if not address:
        return "unknown"
    host = strip_port(address).partition("%")[0]  # a zone (fe80::1%eth0) names our interface, not the client
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host.lower()[:MAX_KEY_TEXT] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))
    return str(ip)
