"""Bad-input sweep: arbitrary paths, uids, headers and bodies at every route.

Nothing answers 500, every answer is JSON, and nothing reaches the upstream with an
invalid uid or a path of another shape (every upstream request is recorded and checked:
each path segment, and the uid in a created user's body).
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, unquote, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cometchat import CometChatClient
from cometchat.emulator import EmulatorState, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from tests.helpers import app_env, as_user, service
from token_server import create_app
from token_server.routes import CLIENT

UID_RE = re.compile(r"[a-z0-9_-]{1,100}")
# What any upstream path segment may be: a uid, a token, a route word; never "." or "..".
SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]+")
BASE_URL = "http://fuzz-emulator.invalid/v3"
BASE_PATH = "/v3"
ROUTES = [
    ("POST", "/api/cometchat/token/{uid}"),
    ("POST", "/api/cometchat/token"),
    ("POST", "/api/cometchat/users"),
    ("GET", "/api/cometchat/users/{uid}"),
    ("POST", "/api/cometchat/token/{uid}/revoke"),
]


class RecordingAdapter(WSGIAdapter):
    """The in-process emulator, recording every request exactly as the client sent it."""

    def __init__(self, app, seen: list[requests.PreparedRequest]) -> None:
        super().__init__(app)
        self.seen = seen

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        self.seen.append(request)
        return super().send(request, **kwargs)


@pytest.fixture(scope="module")
def fuzz_app():
    unlimited = "1000000 per minute"
    app = create_app(
        app_env(RATE_LIMIT_PER_USER=unlimited, RATE_LIMIT_PER_ADDRESS=unlimited, RATE_LIMIT_AUTH_FAILURES=unlimited)
    )
    seen: list[requests.PreparedRequest] = []
    emulator = create_emulator_app(EmulatorState(api_keys=["fuzz-key"]))
    # The app's one client handle, swapped for one whose every request is recorded.
    app.extensions[CLIENT] = CometChatClient(
        base_url=BASE_URL, api_key="fuzz-key", backoff=0.001, adapter_factory=lambda: RecordingAdapter(emulator, seen)
    )
    app.extensions["seen_upstream"] = seen
    return app


uids = st.one_of(
    st.text(max_size=120),
    st.from_regex(r"[A-Za-z0-9_-]{1,100}", fullmatch=True),
    st.sampled_from(["", ".", "..", "a/b", "cometchat-uid-1", "x" * 101, "%2e%2e", "ü", "a b", "a%00b"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
tokens = st.sampled_from([".", "..", "a/b", "../x", "%2e%2e", "t.k"]) | st.text(max_size=40)
bodies = st.one_of(
    st.none(),
    # Bodies each route accepts but for one fuzzed value, so that value meets every check.
    tokens.map(lambda token: json.dumps({"authToken": token}).encode()),
    uids.map(lambda uid: json.dumps({"uid": uid, "name": "Fuzz"}).encode()),
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "uid": uids | json_values,
            "name": st.text(max_size=120) | json_values,
            "avatar": st.text(max_size=50) | json_values,
            "metadata": json_values,
            "tags": json_values,
            "role": json_values,
            "authToken": st.sampled_from([".", "..", "a/b", "../x", "%2e%2e", "t.k"])
            | st.text(max_size=40)
            | json_values,
            "all": json_values,
        },
    ).map(lambda d: json.dumps(d).encode()),
)
auth_headers = st.sampled_from(["service", "user", "none", "garbage"])
JSON = "application/json"
# Mostly JSON, so most bodies get past the 415 and reach the checks behind it.
content_types = st.sampled_from(
    [
        None,
        JSON,
        JSON,
        "application/json; charset=utf-8",
        "text/plain",
        "multipart/form-data",
    ]
)


def headers_for(kind: str, uid: str) -> dict[str, str]:
    if kind == "service":
        return service()
    if kind == "user":
        safe = uid.lower() if UID_RE.fullmatch(uid.lower()) else "fuzz-user"
        return as_user(safe)
    if kind == "garbage":
        return {"Authorization": "Bearer \x7f"}
    return {}


def check_upstream_requests(seen: list[requests.PreparedRequest]) -> None:
    """Every request that left: a path of plain segments (no ".", "..", empty or encoded
    slash), a valid uid after /users/, and a valid uid in a created user's body."""
    sent_now = list(seen)
    seen.clear()  # before any assert: one failing example must not fail the next
    for sent in sent_now:
        path = urlsplit(sent.url or "").path
        assert path.startswith(BASE_PATH + "/"), f"the path changed shape: {sent.url!r}"
        segments = path[len(BASE_PATH) + 1 :].split("/")
        for segment in segments:
            assert SEGMENT_RE.fullmatch(unquote(segment)), f"a bad path segment reached the upstream: {sent.url!r}"
        if segments[0] == "users" and len(segments) > 1:
            assert UID_RE.fullmatch(unquote(segments[1])), f"invalid uid reached the upstream: {sent.url!r}"
        if sent.method == "POST" and segments == ["users"]:
            uid = json.loads(sent.body or b"{}").get("uid")
            assert isinstance(uid, str) and UID_RE.fullmatch(uid), f"invalid uid in a created user: {uid!r}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), uid=uids, body=bodies, auth=auth_headers, content_type=content_types)
# The shapes that once reached CometChat as another path: always tried, whatever the draw.
@example(route=ROUTES[4], uid="cometchat-uid-1", body=b'{"authToken": "."}', auth="service", content_type=JSON)
@example(route=ROUTES[4], uid="cometchat-uid-1", body=b'{"authToken": ".."}', auth="service", content_type=JSON)
@example(route=ROUTES[2], uid="x", body=b'{"uid": "Mixed-Case", "name": "M"}', auth="service", content_type=JSON)
def test_routes_never_500_and_never_send_a_bad_uid(fuzz_app, route, uid, body, auth, content_type) -> None:
    method, template = route
    path = template.format(uid=quote(uid, safe=""))
    headers = headers_for(auth, uid)
    if content_type:
        headers["Content-Type"] = content_type
    answer = fuzz_app.test_client().open(path, method=method, data=body, headers=headers)
    assert answer.status_code < 500 or answer.status_code in (502, 503, 504), answer.data
    assert answer.is_json and "error" in answer.json or answer.status_code < 300
    check_upstream_requests(fuzz_app.extensions["seen_upstream"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.text(max_size=80),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    header_value=st.text(max_size=40).filter(lambda s: "\n" not in s and "\r" not in s),
)
def test_arbitrary_paths_methods_and_headers(fuzz_app, path, method, header_value) -> None:
    url = "/api/cometchat/" + quote(path, safe="/")
    answer = fuzz_app.test_client().open(
        url, method=method, headers={"Authorization": header_value, "X-Anything": header_value}
    )
    assert answer.status_code != 500
    if answer.status_code == 204:
        assert method == "OPTIONS" and answer.data == b"" and "Content-Type" not in answer.headers
    else:
        assert answer.is_json
    check_upstream_requests(fuzz_app.extensions["seen_upstream"])
