"""What CometChat's SDKs call with a user's auth token (no REST key): the chat SDK's and the
Calls SDK v5's login (``PUT /me``), their logout (``DELETE /me``), the Calls SDK's telemetry
(``POST /user_sessions``) and its call tokens (``POST`` and ``GET /call_tokens``); and the
chat stand-in's substitute for its WebSocket (``PUT``/``DELETE /me/connection``), whose
opening and closing are the ``user_connection_status_changed`` webhooks.

Every answer is JSON in CometChat's envelope; errors are ``{"error": {"message",
"devMessage", "source", "code"}}`` (the Calls SDK reads the body's ``error`` and ignores the
HTTP status). Browsers reach these routes from a page on another origin, so each answers
the CORS preflight for the headers the SDKs send (``appId``, ``authToken``, ``calltoken``).

Unconfirmed details, chosen as the most plausible: ``DELETE /me`` ends the SDK's session
(the user goes offline) but does not revoke the token (revoking is the REST API's job, as
CometChat's docs tell servers to do on logout); a call token is an opaque string valid for
one session and one user; an unknown call token answers 401 ``ERR_INVALID_CALL_TOKEN``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from flask import Blueprint, Response, jsonify, request

from . import rules
from .state import EmulatorState

ALLOWED_HEADERS = "appId, authToken, calltoken, Content-Type, Accept, X-Request-ID"
ALLOWED_METHODS = "GET, POST, PUT, DELETE"
MAX_CALL_TOKENS = 10_000  # the oldest is forgotten past this: the emulator's memory stays bounded
MAX_SESSION_ID = 255
MAX_PLATFORM = 32
DEFAULT_PLATFORM = "javascript"  # what the chat SDK for the web reports


class CallsState:
    """Call tokens issued, newest last, and how many telemetry posts arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.call_tokens: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.user_sessions = 0
        self.logouts = 0

    def issue(self, uid: str, session_id: str) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.call_tokens[token] = {"uid": uid, "sessionId": session_id, "createdAt": int(time.time())}
            while len(self.call_tokens) > MAX_CALL_TOKENS:
                self.call_tokens.popitem(last=False)
        return token

    def find(self, token: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.call_tokens.get(token)
            return dict(found) if found is not None else None


def _token_not_found() -> rules.EmulatorError:
    return rules.EmulatorError(401, "AUTH_ERR_AUTH_TOKEN_NOT_FOUND", "The auth token does not exist.")


def user_for_token(state: EmulatorState, token: str) -> dict[str, Any]:
    """The active user an auth token belongs to (no side effect), or 401."""
    with state.lock:
        uid = state.tokens.get(token) if token else None
        record = state.users.get(uid) if uid is not None else None
        if record is None or record.deactivated_at is not None:
            raise _token_not_found()
        return dict(record.data)


def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def _body() -> dict[str, Any]:
    if not request.data:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise rules.EmulatorError(400, "ERR_BAD_REQUEST", rules.BAD_REQUEST_MESSAGE)
    return body


def _auth_token() -> str:
    return request.headers.get("authToken", "").strip()


def create_calls_blueprint(state: EmulatorState, calls: CallsState, *, name: str) -> Blueprint:
    """The SDK-facing routes. Register at the same url_prefix as the REST surface."""
    bp = Blueprint(name, __name__)

    @bp.before_request
    def preflight() -> Response | None:
        state.note_request_id(request.headers.get("X-Request-ID"))
        return Response(status=204) if request.method == "OPTIONS" else None

    @bp.after_request
    def cors(response: Response) -> Response:
        return _cors(response)

    @bp.errorhandler(rules.EmulatorError)
    def emulator_error(exc: rules.EmulatorError) -> tuple[Response, int]:
        return jsonify(exc.body()), exc.status

    @bp.route("/me", methods=["PUT", "DELETE", "OPTIONS"])
    def me() -> Response:
        token = _auth_token()
        if request.method == "DELETE":
            state.logout(token)
            with calls.lock:
                calls.logouts += 1
            return jsonify({"data": {"success": True, "message": "Logged out successfully."}})
        body = _body()  # the Calls SDK sends {platform, deviceId}; the chat SDK may send nothing
        device = body.get("deviceId")
        if device is not None and (not isinstance(device, str) or len(device) > MAX_SESSION_ID):
            raise rules.bad_request("deviceId", "The deviceId must be a string of at most 255 characters.")
        return jsonify({"data": state.login(token)})

    @bp.route("/me/connection", methods=["PUT", "DELETE", "OPTIONS"])
    def connection() -> Response:
        # Not CometChat's: the stand-in SDK's WebSocket. The real chat SDK opens a socket after
        # login and CometChat sees the user connect (and disconnect when it closes).
        platform = _body().get("platform", DEFAULT_PLATFORM)
        if not isinstance(platform, str) or not 0 < len(platform) <= MAX_PLATFORM:
            raise rules.bad_request("platform", f"The platform must be a string of at most {MAX_PLATFORM} characters.")
        if request.method == "DELETE":
            closed = state.disconnect(_auth_token(), platform=platform)
            return jsonify({"data": {"success": True, "disconnected": closed}})
        return jsonify({"data": state.connect(_auth_token(), platform=platform)})

    @bp.route("/user_sessions", methods=["POST", "OPTIONS"])
    def user_sessions() -> Response:
        user_for_token(state, _auth_token())
        _body()
        with calls.lock:
            calls.user_sessions += 1
        return jsonify({"data": {"success": True}})

    @bp.route("/call_tokens", methods=["POST", "GET", "OPTIONS"])
    def call_tokens() -> Response:
        if request.method == "GET":
            found = calls.find(request.headers.get("calltoken", "").strip())
            if found is None:
                raise rules.EmulatorError(401, "ERR_INVALID_CALL_TOKEN", "The call token is not valid.")
            return jsonify({"data": found})
        user = user_for_token(state, _auth_token())
        session_id = _body().get("sessionId")
        if not isinstance(session_id, str) or not session_id.strip() or len(session_id) > MAX_SESSION_ID:
            raise rules.bad_request("sessionId", "The sessionId field is required (at most 255 characters).")
        return jsonify({"data": {"token": calls.issue(user["uid"], session_id)}})

    return bp
