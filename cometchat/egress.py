"""How calls leave this host: through which proxy, trusting which certificate authorities.

A ``requests`` session with ``trust_env`` on would read the proxy and CA variables, and
``~/.netrc`` too: a password file of the machine's user, sent as Basic auth to any host it
names (a proxy or CometChat itself). So sessions keep ``trust_env`` off, and what a requests
program takes from the environment is resolved here instead, once, for the one upstream URL:

* proxies: an explicit proxy wins; otherwise ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY``
  (either case), unless ``NO_PROXY`` covers the upstream's host;
* certificate authorities: an explicit CA bundle wins; otherwise ``REQUESTS_CA_BUNDLE``,
  ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE`` (the first one set); otherwise certifi's bundle.

``.netrc`` is never read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

from requests.utils import get_environ_proxies

# The CA bundle variables, in the order requests and curl users expect them to win.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
_PROXY_KEYS = ("http", "https", "all")


@dataclass(frozen=True)
class Egress:
    """What a session for one upstream uses: ``proxies`` for ``Session.proxies``,
    ``verify`` for ``Session.verify`` (True: certifi's bundle; a str: a bundle or folder)."""

    proxies: dict[str, str]
    verify: bool | str


def proxies_for(url: str, explicit: Mapping[str, str] | None = None) -> dict[str, str]:
    """The proxies a call to ``url`` goes through: ``explicit`` if given (NO_PROXY does not
    apply to an explicit setting), else the environment's, empty when NO_PROXY covers the host."""
    if explicit:
        return {scheme: proxy for scheme, proxy in explicit.items() if proxy}
    found = get_environ_proxies(url)  # {} when NO_PROXY (or no_proxy) covers the host
    return {key: found[key] for key in _PROXY_KEYS if found.get(key)}


def ca_bundle_from(environ: Mapping[str, str]) -> str | None:
    """The first CA bundle variable set (and not empty), or None."""
    for name in CA_BUNDLE_VARIABLES:
        value = (environ.get(name) or "").strip()
        if value:
            return value
    return None


def resolve(
    url: str,
    *,
    proxies: Mapping[str, str] | None = None,
    ca_bundle: str | None = None,
) -> Egress:
    """The egress of calls to ``url``: explicit settings first, then the process environment."""
    return Egress(proxies=proxies_for(url, proxies), verify=ca_bundle or ca_bundle_from(os.environ) or True)


def proxy_mapping(proxy: str | None) -> dict[str, str] | None:
    """One proxy URL for both schemes (what ``COMETCHAT_PROXY`` means), or None."""
    return {"http": proxy, "https": proxy} if proxy else None


def redact_proxy(proxy: str) -> str:
    """The proxy URL fit for a log line: its password (if any) replaced by ``***``."""
    parts = urlsplit(proxy)
    if parts.password is None:
        return proxy
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    netloc = f"{parts.username or ''}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
