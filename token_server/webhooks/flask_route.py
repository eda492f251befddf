"""The Flask door: ``POST /api/cometchat/webhooks`` on the app itself, not on the routes blueprint,
so none of the callers' steps run for it (their authentication, the cross-site rule, the
per-user limits: CometChat is none of those callers). Its own Basic Auth failures still meet the
app's failed-authentication limit per address, as callers' 401s do.

The presence route is a rule of the core (:func:`token_server.core.users.get_presence`), which
reads this app's event store (:func:`service_of`).
"""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import caller, codes
from ..body import read_body
from ..errors import ApiError
from ..nocache import no_store
from ..ops import readiness
from ..pipeline import URL_PREFIX
from .readiness import queue_check
from .receiver import MAX_BODY, Answer, too_large, unauthorized
from .service import WebhookService

WEBHOOKS = "token_server.webhooks"
WEBHOOK_PATH = URL_PREFIX + "/webhooks"


def init_app(app: Flask, service: WebhookService | None, *, start_worker: bool = True) -> None:
    """Serve the receiver on ``app`` (nothing while ``service`` is None: the path is a 404) and
    start this process's worker."""
    if service is None:
        return
    app.extensions[WEBHOOKS] = service
    app.add_url_rule(WEBHOOK_PATH, "cometchat_webhooks", receive, methods=["POST"])
    readiness.add_check(app, "webhook_queue", queue_check(service.worker), helper=True)
    if start_worker:
        service.worker.start()


def service_of(app: Flask) -> WebhookService | None:
    found: WebhookService | None = app.extensions.get(WEBHOOKS)
    return found


def _response(answer: Answer) -> Response:
    response = no_store(jsonify(answer.body), answer.status)
    for name, value in answer.headers.items():
        response.headers[name] = value
    return response


def _headers() -> dict[str, str]:
    return dict(request.headers.items())


def _judged(answer: Answer) -> Answer:
    """A 401, through the app's failed-authentication limit (429 once this address is past it)."""
    judge = current_app.extensions.get(caller.FAILURE_JUDGE)
    if judge is None:
        return answer
    verdict: ApiError = judge(ApiError(401, codes.ERR_UNAUTHORIZED, "unauthorized"))
    if verdict.status == 401:
        return answer
    return Answer(verdict.status, {"error": {"code": verdict.code, "message": verdict.message}}, verdict.headers)


def receive() -> Response:
    service: WebhookService = current_app.extensions[WEBHOOKS]
    service.worker.ensure_running()  # a no-op, unless this process was forked after the start
    if not service.receiver.authorized(_headers()):
        return _response(_judged(unauthorized()))
    request.max_content_length = MAX_BODY  # the app's cap (64 KB) is for callers' bodies
    try:
        body = read_body()
    except RequestEntityTooLarge:
        return _response(too_large())
    return _response(service.receiver.receive(_headers(), body, request.remote_addr))
