"""The token, user and device routes as a Flask blueprint (``bp``), a thin adapter of
:mod:`token_server.core`: each view hands the request to its rule and answers what it returns.

One file per resource (:mod:`.tokens`, :mod:`.users`, :mod:`.devices`), all on the blueprint of
:mod:`.blueprint`. :func:`init_app` registers them on any Flask app with its client, its own
``identify_caller(request) -> Caller`` (the stand-alone server passes its service-key / JWT
:class:`~token_server.auth.Authenticator`; an existing backend, its session login) and its
device tokens. The steps before a view are listed in :mod:`token_server.pipeline`.
"""

from __future__ import annotations

import logging
from typing import Iterable

from flask import Flask

from cometchat import CometChatClient

from .. import caller, sameorigin
from .. import deprovisioned as tombstones
from ..auth import Caller, IdentifyCaller
from ..core.tokens import MINT_FIELDS, REVOKE_FIELDS
from ..core.users import CREATE_FIELDS, DELETE_MODES, UPDATE_FIELDS
from ..devices import DeviceTokens
from ..pipeline import URL_PREFIX
from ..wiring import host_deprovisioned, host_device_tokens
from . import devices as device_routes  # noqa: F401  (each file registers its views on bp)
from . import tokens as token_routes  # noqa: F401
from . import users as user_routes  # noqa: F401
from .blueprint import CLIENT, SESSIONS, bp

__all__ = [
    "CLIENT",
    "CREATE_FIELDS",
    "DELETE_MODES",
    "MINT_FIELDS",
    "REVOKE_FIELDS",
    "SESSIONS",
    "UPDATE_FIELDS",
    "URL_PREFIX",
    "bp",
    "current_caller",
    "device_tokens_of",
    "init_app",
]

log = logging.getLogger("token_server")


def init_app(
    app: Flask,
    client: CometChatClient,
    identify_caller: IdentifyCaller | None = None,
    *,
    allowed_origins: Iterable[str] = (),
    device_tokens: DeviceTokens | None = None,
    deprovisioned: tombstones.Deprovisioned | None = None,
) -> None:
    """Add the routes under ``URL_PREFIX`` to ``app``, answering with ``client``.

    A host app passes its ``identify_caller(request) -> Caller`` (and the other sites whose
    pages may call, ``allowed_origins``): the same-site rule and the caller step are added
    here, before the views. ``create_app`` adds those steps itself and passes neither. For
    rate limits, call :func:`token_server.limits.init_app` after this.

    ``device_tokens``: where each device's token is kept. None: the stand-alone server's
    default, from the environment (:func:`token_server.wiring.host_device_tokens`:
    ``SESSION_STORE_URI``, else the SQLite file the workers of one host share), never a store
    of this process alone unless asked for (``SESSION_STORE_URI=memory://``).
    ``deprovisioned``: the deleted users' tombstones; None: beside the device tokens, in the
    same store (:func:`token_server.wiring.host_deprovisioned`)."""
    if identify_caller is not None:
        sameorigin.init_app(app, allowed_origins)
        caller.init_app(app, identify_caller)
    if not caller.installed(app):
        raise RuntimeError("the routes need a caller step: pass identify_caller, or call caller.init_app first")
    if device_tokens is None:
        device_tokens = host_device_tokens()
    if deprovisioned is None:
        deprovisioned = host_deprovisioned()
    app.extensions[CLIENT] = client
    app.extensions[SESSIONS] = device_tokens
    tombstones.init_app(app, deprovisioned)
    app.register_blueprint(bp, url_prefix=URL_PREFIX)


def device_tokens_of(app: Flask) -> DeviceTokens:
    """The device tokens the routes of ``app`` use (readiness asks their store)."""
    tokens: DeviceTokens = app.extensions[SESSIONS]
    return tokens


def current_caller() -> Caller:
    """Who is calling, as the caller step identified it (its refusal again, if it refused)."""
    return caller.current_caller()
