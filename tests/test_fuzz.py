"""Bad-input sweep: arbitrary paths, uids, headers and bodies at every route.

Nothing answers 500, every answer is JSON, and nothing reaches the upstream with an
invalid uid (every upstream path is recorded and checked).
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from token_server import create_app

from .helpers import app_env, as_user, service

UID_RE = re.compile(r"[a-z0-9_-]{1,100}")
ROUTES = [
    ("POST", "/api/cometchat/token/{uid}"),
    ("POST", "/api/cometchat/token"),
    ("POST", "/api/cometchat/users"),
    ("GET", "/api/cometchat/users/{uid}"),
    ("POST", "/api/cometchat/token/{uid}/revoke"),
]


@pytest.fixture(scope="module")
def fuzz_app():
    app = create_app(app_env(RATE_LIMIT_PER_USER="1000000 per minute", RATE_LIMIT_PER_ADDRESS="1000000 per minute"))
    client = app.extensions["token_server.client"]
    seen: list[str] = []
    original = client._request

    def recording(method, path, **kwargs):
        seen.append(path)
        return original(method, path, **kwargs)

    client._request = recording
    app.extensions["seen_upstream_paths"] = seen
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
bodies = st.one_of(
    st.none(),
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
            "authToken": st.text(max_size=40) | json_values,
            "all": json_values,
        },
    ).map(lambda d: json.dumps(d).encode()),
)
auth_headers = st.sampled_from(["service", "user", "none", "garbage"])
content_types = st.sampled_from([None, "application/json", "text/plain", "application/x-www-form-urlencoded"])


def headers_for(kind: str, uid: str) -> dict[str, str]:
    if kind == "service":
        return service()
    if kind == "user":
        safe = uid.lower() if UID_RE.fullmatch(uid.lower()) else "fuzz-user"
        return as_user(safe)
    if kind == "garbage":
        return {"Authorization": "Bearer \x7f"}
    return {}


def check_upstream_paths(seen: list[str]) -> None:
    for path in seen:
        for segment in path.split("/")[2:3]:  # /users/<uid>/...
            assert UID_RE.fullmatch(unquote(segment)), f"invalid uid reached the upstream: {path!r}"
    seen.clear()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), uid=uids, body=bodies, auth=auth_headers, content_type=content_types)
def test_routes_never_500_and_never_send_a_bad_uid(fuzz_app, route, uid, body, auth, content_type) -> None:
    method, template = route
    path = template.format(uid=quote(uid, safe=""))
    headers = headers_for(auth, uid)
    if content_type:
        headers["Content-Type"] = content_type
    answer = fuzz_app.test_client().open(path, method=method, data=body, headers=headers)
    assert answer.status_code < 500 or answer.status_code in (502, 503, 504), answer.data
    assert answer.is_json and "error" in answer.json or answer.status_code < 300
    check_upstream_paths(fuzz_app.extensions["seen_upstream_paths"])


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
    if method != "OPTIONS":
        assert answer.is_json
    check_upstream_paths(fuzz_app.extensions["seen_upstream_paths"])
