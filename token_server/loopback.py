"""The one answer to "is this host on this machine?", for a URL's host name, a Host header's
name and a client address alike."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8, ``::1`` and the IPv4-mapped 127.x a dual-stack socket reports
    (``::ffff:127.0.0.1``), bracketed or not. Names are not resolved: ``localhost.example`` or
    ``127.0.0.1.example`` are someone else's."""
    if not host:
        return False
    host = host.lower()
    if host == "localhost":
        return True
    bracketed = host.startswith("[") and host.endswith("]")
    try:
        ip = ipaddress.ip_address(host[1:-1] if bracketed else host)
    except ValueError:
        return False
    if bracketed and ip.version != 6:  # brackets hold IPv6 only ("[127.0.0.1]" is no host)
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
