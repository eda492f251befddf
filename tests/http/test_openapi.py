"""The OpenAPI description against the running app: schemathesis generates requests from it
(examples, coverage and fuzzing phases, a fixed seed, few examples) and checks every answer
(status declared, body and headers as described, JSON as said); and the description covers
exactly the routes the app serves."""

from __future__ import annotations

import base64
import json
import re

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import SERVICE_KEY, app_env, as_user, service
from token_server import create_app
from token_server.ops.openapi import SPEC_PATH, spec_bytes

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
DEV_ONLY = "x-dev-only"
# The dev server's own tools, described elsewhere: the embedded emulator's API (CometChat's,
# docs/cometchat-api.md) and the demo page's static files.
DEV_TOOLING = ("/emulator/", "/demo/static/")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}

# Schemathesis sends many unauthenticated requests (ignored_auth), all from one address: past
# the auth-failure limit every answer would be a 429, and the other answers would go unchecked.
# The webhook receiver on (WEBHOOK_CREDENTIALS), so that its route is served and checked too.
app = create_app(
    app_env(RATE_LIMIT_AUTH_FAILURES="100000 per minute", WEBHOOK_CREDENTIALS="cometchat:abcdefghijklmnop1234"),
    announce=False,
)
schema = schemathesis.openapi.from_wsgi(SPEC_PATH, app)
dev_app = create_app(
    {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1", "WEBHOOK_CREDENTIALS": "cometchat:abcdefghijklmnop1234"},
    announce=False,
)
# Dev mode answers loopback clients only; schemathesis's WSGI client sends no REMOTE_ADDR
# (every real server does), so say where these requests come from.
_dev_wsgi = dev_app.wsgi_app
dev_app.wsgi_app = lambda environ, start: _dev_wsgi({"REMOTE_ADDR": "127.0.0.1", **environ}, start)  # type: ignore[method-assign]
dev_schema = schemathesis.openapi.from_wsgi(SPEC_PATH, dev_app)
FEW_EXAMPLES = settings(
    max_examples=8, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


def spec() -> dict:
    return json.loads(spec_bytes())


def served(application) -> set[tuple[str, str]]:
    """(method, OpenAPI path) for every route the app serves."""
    routes = set()
    for rule in application.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {(method, path) for method in rule.methods & METHODS}
    return routes


def described(*, dev: bool) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec()["paths"].items()
        for method, operation in item.items()
        if method.upper() in METHODS and (dev or not operation.get(DEV_ONLY))
    }


def test_the_spec_is_openapi_3_1_and_served_as_is() -> None:
    answer = app.test_client().get(SPEC_PATH)
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert answer.get_data() == spec_bytes() and answer.json["openapi"].startswith("3.1.")
    schema.validate()  # a valid OpenAPI document


def test_the_spec_describes_every_route_a_production_app_serves() -> None:
    assert served(app) == described(dev=False)


def test_the_spec_describes_every_route_a_dev_server_serves() -> None:
    own = {(method, path) for method, path in served(dev_app) if not path.startswith(DEV_TOOLING)}
    assert own == described(dev=True)


@schema.exclude(path="/").exclude(path_regex="^/api/dev/").parametrize()
@FEW_EXAMPLES
def test_every_answer_matches_the_spec(case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {SERVICE_KEY}"}, checks=CHECKS)


# The webhook trace long-polls (``wait`` up to 10 s): its answers are checked one by one below.
@dev_schema.include(path_regex="^/api/dev/|^/$").exclude(path="/api/dev/webhooks").parametrize()
@FEW_EXAMPLES
def test_every_dev_only_answer_matches_the_spec(case) -> None:
    case.call_and_validate(checks=[check for check in CHECKS if check is not ignored_auth])


def test_answers_the_generated_requests_rarely_reach_match_the_spec() -> None:
    """401, 403, 404 of a user, 409, an end user's own calls, revoking one real token."""
    http = app.test_client()
    token = http.post("/api/cometchat/token/cometchat-uid-2", headers=service()).json["authToken"]
    cases = [
        ("POST", "/api/cometchat/token/someone", {}, None, 401),
        ("POST", "/api/cometchat/token/someone", as_user("other"), None, 403),
        ("GET", "/api/cometchat/users/nobody-here", service(), None, 404),
        ("POST", "/api/cometchat/users", service(), {"uid": "twice", "name": "Twice"}, 201),
        ("POST", "/api/cometchat/users", service(), {"uid": "twice", "name": "Twice"}, 409),
        ("POST", "/api/cometchat/token", service(), None, 401),
        ("POST", "/api/cometchat/token", as_user("jwt-user"), None, 200),
        ("POST", "/api/cometchat/token/cometchat-uid-2/revoke", service(), {"authToken": token}, 200),
        ("POST", "/api/cometchat/token/jwt-user/revoke", as_user("jwt-user"), {"all": True}, 200),
        ("DELETE", "/api/cometchat/users/jwt-user", as_user("jwt-user"), None, 403),
        ("DELETE", "/api/cometchat/users/jwt-user?permanent=true", service(), None, 200),
        ("GET", "/openapi.json", {}, None, 200),
        ("GET", "/api/cometchat/users/cometchat-uid-2/presence", service(), None, 404),
        ("POST", "/api/cometchat/webhooks", WEBHOOK_AUTH, {"trigger": "message_sent", "data": {}}, 200),
        ("POST", "/api/cometchat/webhooks", WEBHOOK_AUTH, {"data": {}}, 400),
    ]
    for method, path, headers, body, status in cases:
        answer = http.open(path, method=method, headers=headers, json=body)
        assert answer.status_code == status, (method, path, answer.json)
        operation = schema[path_template(path.partition("?")[0])][method]
        operation.validate_response(answer)


def test_the_dev_webhook_trace_answers_as_described() -> None:
    http = dev_app.test_client()
    operation = dev_schema["/api/dev/webhooks"]["GET"]
    delivery = {"trigger": "user_connection_status_changed", "data": {"timestamp": 1700000000123, "status": "online"}}
    assert http.post("/api/cometchat/webhooks", headers=WEBHOOK_AUTH, json=delivery).status_code == 200
    for query, status in (("", 200), ("?after=0&wait=0", 200), ("?after=1", 200), ("?wait=11", 400)):
        answer = http.get("/api/dev/webhooks" + query)
        assert answer.status_code == status, (query, answer.json)
        operation.validate_response(answer)
    assert http.get("/api/dev/webhooks").json["events"][0]["status"] == "online"


WEBHOOK_AUTH = {"Authorization": "Basic " + base64.b64encode(b"cometchat:abcdefghijklmnop1234").decode()}


def path_template(path: str) -> str:
    for template in spec()["paths"]:
        if re.fullmatch(re.sub(r"\{[a-z_]+\}", "[^/]+", template), path):
            return template
    raise AssertionError(f"{path} is not described")
