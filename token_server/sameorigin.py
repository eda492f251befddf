"""The same-site rule, a pipeline step: the routes answer their own site's pages, the origins in
``CORS_ORIGINS`` and callers that are not browsers; never a page of another site."""

from __future__ import annotations

from typing import Iterable

from flask import Flask, current_app, request

from . import codes, pipeline
from .errors import ApiError

ALLOWED_ORIGINS = "token_server.allowed_origins"


def init_app(app: Flask, allowed_origins: Iterable[str] = ()) -> None:
    """Refuse cross-site requests to ``app``'s routes, but from ``allowed_origins``."""
    app.extensions[ALLOWED_ORIGINS] = frozenset(allowed_origins)
    pipeline.add_step(app, refuse_cross_site)


def is_cross_site(origin: str | None, fetch_site: str | None, own_origin: str, allowed: frozenset[str]) -> bool:
    """True when ``Origin`` is present and neither ``own_origin`` (the scheme, host and port the
    request came to) nor allowed, or when the browser says ``Sec-Fetch-Site: cross-site`` from an
    origin not allowed. Without either header (a backend, curl, a same-origin GET): False."""
    if origin is not None and origin in allowed:
        return False
    if origin is not None and origin != own_origin:
        return True
    return (fetch_site or "").strip().lower() == "cross-site"


def refuse_cross_site() -> None:
    """The pipeline step: a cross-site request is refused (403 ``ERR_CROSS_SITE``). A host app
    that identifies callers by a session cookie is otherwise open to them: the browser attaches
    the cookie to a form post from any site, and a body-less POST needs no CORS preflight
    (docs/security.md). A preflight goes on to flask-cors, which answers only listed origins."""
    if request.method == "OPTIONS":
        return
    own = request.host_url.rstrip("/")  # scheme://host[:port], as ProxyFix sees it behind a proxy
    allowed: frozenset[str] = current_app.extensions.get(ALLOWED_ORIGINS, frozenset())
    if is_cross_site(request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"), own, allowed):
        raise ApiError(403, codes.ERR_CROSS_SITE, "Requests from another site's pages are refused.")
