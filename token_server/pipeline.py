"""The token routes' request pipeline: the names every step shares, and how a step joins it.

This docstring is the one place the order is told (README, docs and ``create_app`` point here).
A request to the routes goes through, in order:

1. the request id (a WSGI middleware, :mod:`token_server.requestid`);
2. the same-site rule (:mod:`token_server.sameorigin`): a cross-site request is refused;
3. the caller, identified once (:mod:`token_server.caller`), into ``flask.g``;
4. the rate limits (:mod:`token_server.limits`), which only read that caller;
5. the view (:mod:`token_server.routes`), running its rule (:mod:`token_server.core`): its
   checks, then the client call(s) (a device's login: its session store first, see
   :mod:`token_server.devices`);
6. the errors, all in one JSON shape (the mapping: :mod:`token_server.core.errors`).

Steps 2-4 run only for the routes blueprint (:func:`add_step`), after the app-wide hooks (the
dev-mode guard, CORS). They take their names from here, so nothing before the view imports the views.
"""

from __future__ import annotations

from flask import Flask
from flask.typing import BeforeRequestCallable

from .stores.breaker import StoreGates

URL_PREFIX = "/api/cometchat"
BLUEPRINT = "cometchat_tokens"
STORE_GATES = "token_server.store_gates"


def store_gates(app: Flask) -> StoreGates:
    """The app's gates, one per store server: its rate limits, upstream budget and device tokens
    on one Redis skip it together when it hangs (a host app that made none gets its own)."""
    gates: StoreGates = app.extensions.setdefault(STORE_GATES, StoreGates())
    return gates

Step = BeforeRequestCallable


def add_step(app: Flask, step: Step) -> None:
    """Run ``step`` before each request of the routes blueprint on ``app``, after the steps
    added before it and after the app-wide ``before_request`` hooks (Flask runs those first)."""
    steps = app.before_request_funcs.setdefault(BLUEPRINT, [])
    if step not in steps:
        steps.append(step)


def has_step(app: Flask, step: Step) -> bool:
    return step in app.before_request_funcs.get(BLUEPRINT, [])
