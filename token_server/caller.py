"""Who calls the routes: the pipeline step that identifies the caller ONCE per request, and the
readers (:func:`identified`, :func:`current_caller`) every later step and view uses."""

from __future__ import annotations

from typing import Callable, NoReturn

from flask import Flask, current_app, g, request

from . import pipeline
from .auth import Caller, IdentifyCaller, unauthorized
from .errors import ApiError

# app.extensions keys: the identify function, and the failed-authentication judge (set by
# token_server.limits; absent in a host app that adds no limits).
IDENTIFY_CALLER = "token_server.authenticator"
FAILURE_JUDGE = "token_server.auth_failure_judge"
_CALLER = "cometchat_caller"
_REFUSAL = "cometchat_refusal"

FailureJudge = Callable[[ApiError], ApiError]


def init_app(app: Flask, identify_caller: IdentifyCaller) -> None:
    """Identify the callers of ``app``'s routes with ``identify_caller``, once per request."""
    app.extensions[IDENTIFY_CALLER] = identify_caller
    pipeline.add_step(app, identify)


def installed(app: Flask) -> bool:
    return pipeline.has_step(app, identify)


def identify() -> None:
    """The pipeline step, and the only place the app's identify function runs (the server's
    :class:`~token_server.auth.Authenticator`, or a host app's own login): ``g`` gets the caller,
    or the refusal, which is then raised, so the rate limits after it only ever see identified
    callers, read from ``g``."""
    if request.method == "OPTIONS":  # a CORS preflight carries no credentials and calls nothing
        return
    try:
        g.setdefault(_CALLER, current_app.extensions[IDENTIFY_CALLER](request))
    except ApiError as refusal:
        refuse(refusal)


def refuse(refusal: ApiError) -> NoReturn:
    """Refuse this request's credentials: a 401 is counted by the failed-authentication
    limit (429 once the address is past it); any other refusal (a 503 while the identity
    provider's keys are out of reach) is raised as it is. A valid credential never meets that
    limit."""
    judge: FailureJudge | None = current_app.extensions.get(FAILURE_JUDGE)
    if refusal.status == 401 and judge is not None:
        refusal = judge(refusal)
    setattr(g, _REFUSAL, refusal)
    raise refusal


def identified() -> Caller | None:
    """The caller this request was identified as, or None (not identified, or refused)."""
    caller: Caller | None = g.get(_CALLER)
    return caller


def current_caller() -> Caller:
    """The caller, for the views. The pipeline step already refused anyone unknown; this
    raises that refusal again if a view runs without it (a route added outside the pipeline)."""
    caller = identified()
    if caller is None:
        refusal: ApiError | None = g.get(_REFUSAL)
        raise refusal or unauthorized("Send Authorization: Bearer <service key or user JWT>.")
    return caller
