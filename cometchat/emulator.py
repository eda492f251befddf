"""An in-memory emulator of CometChat's v3 ``users`` and ``auth_tokens`` endpoints.

Mount it in a Flask app (:func:`create_emulator_blueprint`), call it in-process
(:mod:`cometchat.inprocess`) or run it alone::

    python -m cometchat.emulator --port 8787 [--api-key KEY] [--latency-ms 50]

It answers with CometChat's envelopes, status codes, error codes and messages (see
``shared/cometchat-v3.md``), and can inject faults for tests and benchmarks through
``/_emulator/faults``. It is for development and tests: never a production backend.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import secrets
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

from flask import Blueprint, Flask, Response, g, jsonify, request
from gunicorn.app.base import BaseApplication

from . import validation
from .errors import ValidationError

TEST_USERS = tuple(
    (f"cometchat-uid-{n}", name, f"https://data-us.cometchat.io/assets/images/avatars/{avatar}.png")
    for n, name, avatar in (
        (1, "Andrew Joseph", "andrewjoseph"),
        (2, "George Alan", "georgealan"),
        (3, "Nancy Grace", "nancygrace"),
        (4, "Susan Marie", "susanmarie"),
        (5, "John Paul", "johnpaul"),
    )
)
MAX_VALID_TOKENS = 100
API_PREFIXES = ("/v3", "/v3.0")
FAULT_KINDS = ("status", "hang", "malformed", "html", "reset")


def _now() -> int:
    return int(time.time())


def error_body(code: str, message: str, details: dict[str, Any] | None = None, dev_message: str | None = None) -> dict:
    error: dict[str, Any] = {
        "message": message,
        "devMessage": dev_message or message,
        "source": "chat-api",
        "code": code,
    }
    if details:
        error["details"] = details
    return {"error": error}


class EmulatorError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _uid_not_found(uid: str) -> EmulatorError:
    return EmulatorError(
        404,
        "ERR_UID_NOT_FOUND",
        f"The UID {uid} does not exist, please make sure you have created a user with UID {uid}.",
    )


@dataclass
class Fault:
    kind: str  # one of FAULT_KINDS
    status: int = 503
    retry_after: float | None = None
    seconds: float = 30.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        return cls(
            kind=kind,
            status=int(data.get("status", 503)),
            retry_after=data.get("retry_after"),
            seconds=float(data.get("seconds", 30.0)),
        )


@dataclass
class _UserRecord:
    data: dict[str, Any]
    tokens: deque = field(default_factory=lambda: deque(maxlen=MAX_VALID_TOKENS))  # newest last
    deactivated_at: int | None = None
    order: int = 0  # creation order: lists are newest first


class EmulatorState:
    """All the emulator's data, behind one lock: concurrent creates of one uid make one user."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        rate_limit_per_minute: int = 10_000,
        latency: float = 0.0,
        connect_delay: float = 0.0,
    ) -> None:
        # None: any non-empty key is accepted; a missing key is always refused.
        self.api_keys = frozenset(api_keys) if api_keys else None
        self._settings = (rate_limit_per_minute, latency)
        self.rate_limit_per_minute = rate_limit_per_minute
        self.connect_delay = connect_delay
        self.lock = threading.RLock()
        self.users: dict[str, _UserRecord] = {}
        self.tokens: dict[str, str] = {}  # token -> uid, for /me
        self.latency = latency
        self.faults: deque[Fault] = deque()
        self.requests = 0
        self.connections = 0
        self.peers: set[tuple[Any, Any]] = set()
        self._window = (0, 0)  # (minute, count)
        self._order = itertools.count()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.users.clear()
            self.tokens.clear()
            self.faults.clear()
            self.rate_limit_per_minute, self.latency = self._settings
            self.requests = 0
            self._window = (0, 0)
            for uid, name, avatar in TEST_USERS:
                self._insert(uid, {"name": name, "avatar": avatar})

    # ---- bookkeeping -----------------------------------------------------------------

    def count_request(self) -> tuple[int, int, int]:
        """Count one REST call; returns (limit, remaining, reset_at). Raises when over."""
        with self.lock:
            self.requests += 1
            minute = int(time.time() // 60)
            window_minute, count = self._window
            count = count + 1 if window_minute == minute else 1
            self._window = (minute, count)
            reset_at = (minute + 1) * 60
            remaining = max(self.rate_limit_per_minute - count, 0)
            if count > self.rate_limit_per_minute:
                raise _RateLimited(self.rate_limit_per_minute, reset_at)
            return self.rate_limit_per_minute, remaining, reset_at

    def next_fault(self) -> Fault | None:
        with self.lock:
            return self.faults.popleft() if self.faults else None

    # ---- users -----------------------------------------------------------------------

    def _insert(self, uid: str, fields: dict[str, Any]) -> _UserRecord:
        now = _now()
        data: dict[str, Any] = {"uid": uid, "name": fields["name"]}
        for key in ("avatar", "link", "metadata", "tags", "statusMessage"):
            if fields.get(key) is not None:
                data[key] = fields[key]
        data["role"] = fields.get("role") or "default"
        data["status"] = "offline"
        data["createdAt"] = now
        record = _UserRecord(data=data, order=next(self._order))
        self.users[uid] = record
        return record

    def _active(self, uid: str) -> _UserRecord:
        record = self.users.get(uid.lower())
        if record is None or record.deactivated_at is not None:
            raise _uid_not_found(uid.lower())
        return record

    def create_user(self, body: dict[str, Any]) -> dict[str, Any]:
        uid = validation.normalize_uid(body.get("uid"))
        fields = validation.check_user_fields(body)
        with self.lock:
            if uid in self.users:  # a deactivated uid cannot be created again either
                raise EmulatorError(
                    400, "ERR_UID_ALREADY_EXISTS", f"The UID {uid} already exists. Please use a different UID."
                )
            record = self._insert(uid, fields)
            user = dict(record.data)
            if body.get("withAuthToken") is True:
                user["authToken"] = self._mint(record)["authToken"]
            return user

    def get_user(self, uid: str) -> dict[str, Any]:
        with self.lock:
            return dict(self._active(uid).data)

    def update_user(self, uid: str, body: dict[str, Any]) -> dict[str, Any]:
        fields = validation.check_user_fields(body, require_name=False)
        unset = validation.check_unset(body.get("unset") or [])
        with self.lock:
            record = self._active(uid)
            record.data.update(fields)
            for key in unset:
                record.data.pop(key, None)
            record.data["updatedAt"] = _now()
            return dict(record.data)

    def delete_user(self, uid: str, permanent: bool) -> dict[str, Any]:
        uid = uid.lower()
        with self.lock:
            record = self.users.get(uid)
            if record is None or (record.deactivated_at is not None and not permanent):
                raise _uid_not_found(uid)
            if permanent:
                del self.users[uid]
                for token in record.tokens:
                    self.tokens.pop(token["authToken"], None)
                return {"success": True, "message": f"User with UID {uid} has been deleted successfully."}
            record.deactivated_at = _now()
            return {"deactivatedUids": [uid]}

    def list_users(self, search_key: str | None, status: str | None) -> list[dict[str, Any]]:
        with self.lock:
            records = [r for r in self.users.values() if r.deactivated_at is None]
            records.sort(key=lambda r: r.order, reverse=True)
            users = [dict(r.data) for r in records]
        if search_key:
            needle = search_key.lower()
            users = [u for u in users if needle in u["uid"] or needle in u["name"].lower()]
        if status:
            users = [u for u in users if u.get("status") == status]
        return users

    # ---- tokens ----------------------------------------------------------------------

    def _mint(self, record: _UserRecord) -> dict[str, Any]:
        created = _now()
        token = {
            "uid": record.data["uid"],
            "authToken": f"{record.data['uid']}_{created:010d}{secrets.token_hex(15)}",
            "createdAt": created,
        }
        if len(record.tokens) == MAX_VALID_TOKENS:  # the 101st silently invalidates the oldest
            self.tokens.pop(record.tokens[0]["authToken"], None)
        record.tokens.append(token)
        self.tokens[token["authToken"]] = record.data["uid"]
        return dict(token)

    def create_token(self, uid: str, force: bool) -> dict[str, Any]:
        with self.lock:
            record = self._active(uid)
            # Without force CometChat may hand back an existing token (unconfirmed): we do.
            if not force and record.tokens:
                return dict(record.tokens[-1])
            return self._mint(record)

    def _find_token(self, record: _UserRecord, token: str) -> dict[str, Any]:
        for item in record.tokens:
            if item["authToken"] == token:
                return item
        raise EmulatorError(404, "ERR_AUTH_TOKEN_NOT_FOUND", "Auth token does not exist.")

    def get_token(self, uid: str, token: str) -> dict[str, Any]:
        with self.lock:
            return dict(self._find_token(self._active(uid), token))

    def update_token(self, uid: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            item = self._find_token(self._active(uid), token)
            for key in ("platform", "userAgent", "appInfo"):
                if key in body:
                    item[key] = body[key]
            item["updatedAt"] = _now()
            return dict(item)

    def list_tokens(self, uid: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(t) for t in reversed(self._active(uid).tokens)]

    def delete_token(self, uid: str, token: str) -> dict[str, Any]:
        with self.lock:
            record = self._active(uid)
            item = self._find_token(record, token)
            record.tokens.remove(item)
            self.tokens.pop(token, None)
            return {"success": True, "message": f"Auth token {token} deleted successfully."}

    def flush_tokens(self, uid: str) -> dict[str, Any]:
        with self.lock:
            record = self._active(uid)
            for item in record.tokens:
                self.tokens.pop(item["authToken"], None)
            record.tokens.clear()
            return {"success": True, "message": f"Cleared Auth Tokens successfully for uid {record.data['uid']}."}

    def login(self, token: str) -> dict[str, Any]:
        """What the SDK's ``PUT /v3.0/me`` does with an auth token: the user, now online."""
        with self.lock:
            uid = self.tokens.get(token)
            if uid is None or uid not in self.users or self.users[uid].deactivated_at is not None:
                raise EmulatorError(401, "AUTH_ERR_AUTH_TOKEN_NOT_FOUND", "The auth token does not exist.")
            record = self.users[uid]
            record.data["status"] = "available"
            record.data["lastActiveAt"] = _now()
            return dict(record.data)


class _RateLimited(Exception):
    def __init__(self, limit: int, reset_at: int) -> None:
        super().__init__("rate limited")
        self.limit, self.reset_at = limit, reset_at


def _paginate(items: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        per_page = int(request.args.get("perPage", 100))
        page = int(request.args.get("page", 1))
    except ValueError:
        raise validation.invalid("perPage", "The perPage and page must be integers.") from None
    if not 1 <= per_page <= 1000 or page < 1:
        raise validation.invalid("perPage", "The per page must be between 1 and 1000.")
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
            "cursor": {"affix": "prepend", "updatedAt": _now()},
        },
    }


def _json_body() -> dict[str, Any]:
    if not request.data:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise EmulatorError(400, "ERR_BAD_REQUEST", "Failed to validate the data sent with the request.")
    return body


def _drop_connection() -> None:
    """Drop the TCP connection without an answer, as a crashed load balancer would."""
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _apply_fault(fault: Fault) -> Response | None:
    if fault.kind == "hang":
        time.sleep(fault.seconds)
        return None  # then answer normally, far too late
    if fault.kind == "reset":
        _drop_connection()
        return Response(b"", status=500)
    if fault.kind == "malformed":
        return Response(b'{"data": {"uid": ', status=200, mimetype="application/json")
    if fault.kind == "html":
        return Response(b"<html><body><h1>502 Bad Gateway</h1></body></html>", status=502, mimetype="text/html")
    response = jsonify(error_body(_code_for(fault.status), "Injected upstream failure."))
    response.status_code = fault.status
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(int(math.ceil(fault.retry_after)))
    return response


def _code_for(status: int) -> str:
    return {429: "ERR_TOO_MANY_REQUESTS", 503: "ERR_SERVICE_UNAVAILABLE"}.get(status, "ERR_INTERNAL_SERVER")


def create_emulator_blueprint(state: EmulatorState, *, name: str = "cometchat_emulator") -> Blueprint:
    """The v3 REST surface. Register at any url_prefix."""
    bp = Blueprint(name, __name__)

    @bp.before_request
    def check_key_and_faults() -> Response | None:
        if request.endpoint == f"{name}.me":  # the SDK's login carries an auth token, no REST key
            return None
        key = request.headers.get("apikey", "")  # header names are case-insensitive
        if not key:
            raise EmulatorError(401, "AUTH_ERR_EMPTY_APIKEY", "The apiKey header is missing.")
        if state.api_keys is not None and not any(secrets.compare_digest(key, k) for k in state.api_keys):
            raise EmulatorError(401, "AUTH_ERR_APIKEY_NOT_FOUND", "The apiKey provided does not exist.")
        g.rate = state.count_request()
        if state.latency:
            time.sleep(state.latency)
        fault = state.next_fault()
        return _apply_fault(fault) if fault else None

    @bp.after_request
    def rate_headers(response: Response) -> Response:
        rate = g.get("rate")
        if rate:
            response.headers["X-RateLimit-Limit"] = str(rate[0])
            response.headers["X-RateLimit-Remaining"] = str(rate[1])
        return response

    @bp.errorhandler(EmulatorError)
    def emulator_error(exc: EmulatorError) -> tuple[Response, int]:
        return jsonify(error_body(exc.code, exc.message, exc.details)), exc.status

    @bp.errorhandler(ValidationError)
    def validation_error(exc: ValidationError) -> tuple[Response, int]:
        return jsonify(error_body("ERR_BAD_REQUEST", exc.message, exc.details)), 400

    @bp.errorhandler(_RateLimited)
    def rate_limited(exc: _RateLimited) -> tuple[Response, int, dict[str, str]]:
        retry_after = max(exc.reset_at - int(time.time()), 1)
        body = error_body("ERR_TOO_MANY_REQUESTS", "Too many requests. Please try again later.")
        headers = {
            "Retry-After": str(retry_after),
            "X-RateLimit-Limit": str(exc.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(exc.reset_at),
        }
        return jsonify(body), 429, headers

    def ok(data: Any) -> Response:
        return jsonify({"data": data})

    @bp.post("/users")
    def create_user() -> Response:
        return ok(state.create_user(_json_body()))

    @bp.get("/users")
    def list_users() -> Response:
        status = request.args.get("status")
        return jsonify(_paginate(state.list_users(request.args.get("searchKey"), status)))

    @bp.get("/users/<uid>")
    def get_user(uid: str) -> Response:
        return ok(state.get_user(uid))

    @bp.put("/users/<uid>")
    def update_user(uid: str) -> Response:
        return ok(state.update_user(uid, _json_body()))

    @bp.delete("/users/<uid>")
    def delete_user(uid: str) -> Response:
        return ok(state.delete_user(uid, _json_body().get("permanent") is True))

    @bp.post("/users/<uid>/auth_tokens")
    def create_token(uid: str) -> Response:
        return ok(state.create_token(uid, _json_body().get("force") is True))

    @bp.get("/users/<uid>/auth_tokens")
    def list_tokens(uid: str) -> Response:
        return jsonify(_paginate(state.list_tokens(uid)))

    @bp.get("/users/<uid>/auth_tokens/<token>")
    def get_token(uid: str, token: str) -> Response:
        return ok(state.get_token(uid, token))

    @bp.put("/users/<uid>/auth_tokens/<token>")
    def update_token(uid: str, token: str) -> Response:
        return ok(state.update_token(uid, token, _json_body()))

    @bp.delete("/users/<uid>/auth_tokens/<token>")
    def delete_token(uid: str, token: str) -> Response:
        return ok(state.delete_token(uid, token))

    @bp.delete("/users/<uid>/auth_tokens")
    def flush_tokens(uid: str) -> Response:
        return ok(state.flush_tokens(uid))

    @bp.route("/me", methods=["PUT", "OPTIONS"])
    def me() -> Response:
        # The chat SDK's login call, for the demo page's offline stand-in.
        if request.method == "OPTIONS":
            response = Response(status=204)
        else:
            response = ok(state.login(request.headers.get("authToken", "")))
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = "PUT"
        response.headers["Access-Control-Allow-Headers"] = "authToken, Content-Type"
        return response

    @bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def not_found(unknown: str) -> tuple[Response, int]:
        return jsonify(error_body("ERR_API_NOT_FOUND", "The requested API does not exist.")), 404

    return bp


def create_control_blueprint(state: EmulatorState, *, name: str = "cometchat_emulator_control") -> Blueprint:
    """``/_emulator/faults`` (POST: queue faults, set latency and the rate limit),
    ``/_emulator/reset`` (data back to the five test users) and ``/_emulator/stats``."""
    bp = Blueprint(name, __name__)

    @bp.post("/_emulator/faults")
    def set_faults() -> tuple[Response, int]:
        body = request.get_json(silent=True) or {}
        try:
            faults = [Fault.from_json(f) for f in body.get("queue", [])]
            latency = body.get("latency_ms")
            rate_limit = body.get("rate_limit_per_minute")
        except (ValueError, TypeError, AttributeError) as exc:
            return jsonify({"error": str(exc)}), 400
        with state.lock:
            if body.get("clear"):
                state.faults.clear()
            state.faults.extend(faults)
            if latency is not None:
                state.latency = float(latency) / 1000.0
            if rate_limit is not None:
                state.rate_limit_per_minute = int(rate_limit)
        return jsonify({"queued": len(state.faults), "latency_ms": state.latency * 1000}), 200

    @bp.post("/_emulator/reset")
    def reset() -> Response:
        state.reset()
        return jsonify({"reset": True})

    @bp.get("/_emulator/stats")
    def stats() -> Response:
        with state.lock:
            return jsonify(
                {
                    "requests": state.requests,
                    "connections": state.connections,
                    "users": sum(1 for r in state.users.values() if r.deactivated_at is None),
                }
            )

    return bp


def register_emulator(app: Flask, state: EmulatorState, *, url_prefix: str = "") -> None:
    """Mount the emulator's REST surface under ``{url_prefix}/v3`` and ``/v3.0``, plus controls."""
    for prefix in API_PREFIXES:
        bp = create_emulator_blueprint(state, name=f"cometchat_emulator_{prefix.strip('/').replace('.', '_')}")
        app.register_blueprint(bp, url_prefix=url_prefix + prefix)
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
        return jsonify(error_body("ERR_API_NOT_FOUND", "The requested API does not exist.")), 404

    return app


class _StandaloneServer(BaseApplication):
    """gunicorn, one process (the state lives in it), threads, HTTP/1.1 keep-alive."""

    def __init__(self, app: Flask, bind: str, threads: int) -> None:
        self._app, self._bind, self._threads = app, bind, threads
        super().__init__()

    def load_config(self) -> None:
        settings = {
            "bind": self._bind,
            "workers": 1,
            "worker_class": "gthread",
            "threads": self._threads,
            "keepalive": 75,  # idle keep-alive connections end, as a load balancer's would
            "timeout": 600,  # injected hangs must not kill the worker
            "graceful_timeout": 2,
            "accesslog": None,
            "loglevel": "warning",
            "control_socket_disable": True,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the CometChat v3 emulator alone.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument(
        "--api-key",
        default=os.environ.get("COMETCHAT_API_KEY") or None,
        help="the accepted REST key (default: $COMETCHAT_API_KEY; none: any non-empty key)",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every REST call")
    parser.add_argument(
        "--connect-delay-ms",
        type=float,
        default=0.0,
        help="added once per new connection (stands for TCP + TLS set-up)",
    )
    parser.add_argument("--rate-limit", type=int, default=10_000, help="requests per minute")
    parser.add_argument("--threads", type=int, default=64)
    args = parser.parse_args(argv)

    state = EmulatorState(
        api_keys=[args.api_key] if args.api_key else None,
        rate_limit_per_minute=args.rate_limit,
        latency=args.latency_ms / 1000.0,
        connect_delay=args.connect_delay_ms / 1000.0,
    )
    app = create_emulator_app(state)
    print(
        f"CometChat emulator on http://{args.host}:{args.port}/v3 "
        f"({'one REST key' if args.api_key else 'any non-empty REST key'})",
        flush=True,
    )
    _StandaloneServer(app, f"{args.host}:{args.port}", args.threads).run()


if __name__ == "__main__":
    main()
