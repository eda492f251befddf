"""The v3 REST surface (under ``/v3`` and ``/v3.0``) and the app that serves it."""

from __future__ import annotations

import math
import secrets
import time
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request

from . import rules
from .calls import CallsState, create_calls_blueprint
from .faults import apply_fault, create_control_blueprint, drip, drop_connection, error_response
from .quota import CORE, IMPORT, OTHER, Verdict
from .state import EmulatorState

API_PREFIXES = ("/v3", "/v3.0")
# Core operations have their own per-minute bucket: create and delete a user, mint a token.
CORE_ENDPOINTS = frozenset({"create_user", "delete_user", "create_token"})
IMPORT_ENDPOINTS = frozenset({"import_users"})
REQUEST_ID_HEADER = "X-Request-ID"


class _QuotaExceeded(Exception):
    def __init__(self, bucket: str, verdict: Verdict) -> None:
        super().__init__("rate limited")
        self.bucket, self.verdict = bucket, verdict


def _bucket(endpoint: str) -> str:
    if endpoint in CORE_ENDPOINTS:
        return CORE
    return IMPORT if endpoint in IMPORT_ENDPOINTS else OTHER


def _paginate(items: list[dict[str, Any]]) -> dict[str, Any]:
    per_page, page = rules.check_page(request.args.get("perPage"), request.args.get("page"))
    start = (page - 1) * per_page
    chunk = items[start : start + per_page]
    total = len(items)
    return {
        "data": chunk,
        "meta": {
            "pagination": {
                "total": total,
                "count": len(chunk),
                "per_page": per_page,
                "current_page": page,
                "total_pages": max(math.ceil(total / per_page), 1),
            },
            "cursor": {"affix": "prepend", "updatedAt": int(time.time())},
        },
    }


def _json_body() -> dict[str, Any]:
    if not request.data:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise rules.EmulatorError(400, "ERR_BAD_REQUEST", rules.BAD_REQUEST_MESSAGE)
    return body


def _ok(data: Any) -> Response:
    return jsonify({"data": data})


def create_emulator_blueprint(state: EmulatorState, *, name: str = "cometchat_emulator") -> Blueprint:
    """The v3 REST surface. Register at any url_prefix."""
    bp = Blueprint(name, __name__)

    @bp.before_request
    def check_key_quota_and_faults() -> Response | None:
        endpoint = (request.endpoint or "").rpartition(".")[2]
        state.note_request_id(request.headers.get(REQUEST_ID_HEADER))
        key = request.headers.get("apikey", "")  # header names are case-insensitive
        if not key:
            raise rules.EmulatorError(401, "AUTH_ERR_EMPTY_APIKEY", "The apiKey header is missing.")
        if state.api_keys is not None and not any(secrets.compare_digest(key, k) for k in state.api_keys):
            raise rules.EmulatorError(401, "AUTH_ERR_APIKEY_NOT_FOUND", "The apiKey provided does not exist.")
        bucket = _bucket(endpoint)
        g.verdict = verdict = state.count_request(bucket)
        if not verdict.allowed:
            raise _QuotaExceeded(bucket, verdict)
        if state.latency:
            time.sleep(state.latency)
        fault = state.next_fault(for_import=bucket == IMPORT)
        if fault is None:
            return None
        if fault.kind == "drip":
            g.drip = fault.interval_ms / 1000.0
        elif fault.kind == "import_partial":
            g.import_fault = fault
        return apply_fault(fault)

    @bp.after_request
    def rate_headers_and_drip(response: Response) -> Response:
        verdict = g.get("verdict")
        if verdict is not None:  # a fault's own figures (its headers) stay as injected
            for name, value in verdict.headers().items():
                response.headers.setdefault(name, value)
        state.note_answer(response.status_code)
        request_id = request.headers.get(REQUEST_ID_HEADER)
        if request_id:  # echoed, as tracing proxies do, so a caller can match the answer
            response.headers[REQUEST_ID_HEADER] = request_id
        interval = g.get("drip")
        return drip(response, interval) if interval is not None else response

    @bp.errorhandler(rules.EmulatorError)
    def emulator_error(exc: rules.EmulatorError) -> tuple[Response, int]:
        return jsonify(exc.body()), exc.status

    @bp.errorhandler(_QuotaExceeded)
    def rate_limited(exc: _QuotaExceeded) -> tuple[Response, int]:
        if exc.bucket == IMPORT:
            message = (
                f"Too many requests for data import API. {exc.verdict.limit} per minute is the maximum "
                f"request allowed. Please retry after {exc.verdict.retry_after} seconds."
            )
        else:
            message = "Too many requests. Please try again later."
        return jsonify(rules.error_body("ERR_TOO_MANY_REQUESTS", message)), 429

    @bp.post("/users")
    def create_user() -> Response:
        return _ok(state.create_user(_json_body()))

    @bp.get("/users")
    def list_users() -> Response:
        status = request.args.get("status")
        return jsonify(_paginate(state.list_users(request.args.get("searchKey"), status)))

    @bp.put("/users")
    def reactivate_users() -> Response:
        return _ok(state.reactivate_users(_json_body()))

    @bp.get("/users/<uid>")
    def get_user(uid: str) -> Response:
        return _ok(state.get_user(uid))

    @bp.put("/users/<uid>")
    def update_user(uid: str) -> Response:
        return _ok(state.update_user(uid, _json_body()))

    @bp.delete("/users/<uid>")
    def delete_user(uid: str) -> Response:
        return _ok(state.delete_user(uid, _json_body().get("permanent") is True))

    @bp.post("/users/<uid>/auth_tokens")
    def create_token(uid: str) -> Response:
        return _ok(state.create_token(uid, _json_body().get("force") is True))

    @bp.get("/users/<uid>/auth_tokens")
    def list_tokens(uid: str) -> Response:
        return jsonify(_paginate(state.list_tokens(uid)))

    @bp.get("/users/<uid>/auth_tokens/<token>")
    def get_token(uid: str, token: str) -> Response:
        return _ok(state.get_token(uid, token))

    @bp.put("/users/<uid>/auth_tokens/<token>")
    def update_token(uid: str, token: str) -> Response:
        return _ok(state.update_token(uid, token, _json_body()))

    @bp.delete("/users/<uid>/auth_tokens/<token>")
    def delete_token(uid: str, token: str) -> Response:
        return _ok(state.delete_token(uid, token))

    @bp.delete("/users/<uid>/auth_tokens")
    def flush_tokens(uid: str) -> Response:
        return _ok(state.flush_tokens(uid))

    @bp.post("/data_import/users")
    def import_users() -> Response:
        users = state.check_import(_json_body())
        fault = g.get("import_fault")
        if fault is None:
            return _ok(state.import_users(users))
        state.import_users(users, limit=fault.applied)  # part of the batch lands, then it fails
        return drop_connection() if fault.drop else error_response(fault)

    @bp.post("/notifications/push/v1/tokens")
    def register_push_token() -> Response:
        return _ok(state.register_push_token(_json_body()))

    @bp.get("/notifications/push/v1/tokens")
    def list_push_tokens() -> Response:
        return _ok(state.list_push_tokens(request.args.get("authToken")))

    @bp.delete("/notifications/push/v1/tokens/<path:push_token>")
    def delete_push_token(push_token: str) -> Response:
        return _ok(state.delete_push_token(push_token, _json_body()))

    @bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def not_found(unknown: str) -> tuple[Response, int]:
        return jsonify(rules.error_body("ERR_API_NOT_FOUND", "The requested API does not exist.")), 404

    return bp


def register_emulator(app: Flask, state: EmulatorState, *, url_prefix: str = "") -> None:
    """Mount the emulator's REST surface under ``{url_prefix}/v3`` and ``/v3.0``, the SDKs'
    token-carrying routes (``calls.py``) beside it, plus controls."""
    calls = CallsState()
    for prefix in API_PREFIXES:
        bp = create_emulator_blueprint(state, name=f"cometchat_emulator_{prefix.strip('/').replace('.', '_')}")
        app.register_blueprint(bp, url_prefix=url_prefix + prefix)
        sdk = create_calls_blueprint(state, calls, name=f"cometchat_sdk_{prefix.strip('/').replace('.', '_')}")
        app.register_blueprint(sdk, url_prefix=url_prefix + prefix)
    app.register_blueprint(create_control_blueprint(state), url_prefix=url_prefix or None)


def create_emulator_app(state: EmulatorState | None = None) -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["cometchat_emulator"] = state = state or EmulatorState()
    register_emulator(app, state)

    @app.before_request
    def note_connection() -> None:
        # A peer (address, port) seen for the first time is a new TCP connection: count it
        # and charge the set-up delay once, as TCP + TLS would. In-process calls have no port.
        port = request.environ.get("REMOTE_PORT")
        if port and "/_emulator/" not in request.path:
            peer = (request.environ.get("REMOTE_ADDR"), port)
            with state.lock:
                new = peer not in state.peers
                if new:
                    state.peers.add(peer)
                    state.connections += 1
            if new and state.connect_delay:
                time.sleep(state.connect_delay)

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_found(exc: Exception) -> tuple[Response, int]:
        return jsonify(rules.error_body("ERR_API_NOT_FOUND", "The requested API does not exist.")), 404

    return app
