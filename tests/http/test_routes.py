"""Every route and error through the Flask test client, on the in-process emulator."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from cometchat import CometChatClient
from cometchat.emulator import EmulatorState, Fault, create_emulator_app
from cometchat.inprocess import WSGIAdapter
from tests.helpers import as_user, service
from tests.procs import ROOT
from token_server import routes
from token_server.auth import Caller
from token_server.routes import URL_PREFIX


def calls(upstream) -> int:
    return upstream.requests


# ---- minting ---------------------------------------------------------------------------


def test_mint_for_a_returning_user_is_one_upstream_call(http, upstream) -> None:
    before = calls(upstream)
    answer = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert answer.status_code == 200
    assert set(answer.json) == {"uid", "authToken"} and answer.json["uid"] == "cometchat-uid-1"
    assert answer.headers["Cache-Control"] == "no-store"
    assert calls(upstream) == before + 1


def test_every_mint_is_a_fresh_token(http) -> None:
    tokens = {http.post("/api/cometchat/token/cometchat-uid-2", headers=service()).json["authToken"] for _ in range(3)}
    assert len(tokens) == 3


def test_mint_creates_a_first_time_user_in_at_most_one_more_call(http, upstream) -> None:
    before = calls(upstream)
    answer = http.post("/api/cometchat/token/New-Person", json={"name": "New Person"}, headers=service())
    assert answer.status_code == 200 and answer.json["uid"] == "new-person"
    assert calls(upstream) == before + 2
    assert upstream.get_user("new-person")["name"] == "New Person"
    assert upstream.tokens[answer.json["authToken"]] == "new-person"


def test_mint_without_a_name_uses_the_uid(http, upstream) -> None:
    http.post("/api/cometchat/token/nameless", headers=service())
    assert upstream.get_user("nameless")["name"] == "nameless"


def test_mint_for_the_caller_uses_the_jwt_uid(http) -> None:
    answer = http.post("/api/cometchat/token", headers=as_user("cometchat-uid-3"))
    assert answer.status_code == 200 and answer.json["uid"] == "cometchat-uid-3"


def test_mint_for_the_caller_without_a_user_identity_is_401(http) -> None:
    answer = http.post("/api/cometchat/token", headers=service())
    assert answer.status_code == 401 and answer.json["error"]["code"] == "ERR_NO_USER_IDENTITY"


# ---- users -----------------------------------------------------------------------------


def test_create_user_with_first_token_in_one_call(http, upstream) -> None:
    before = calls(upstream)
    body = {
        "uid": "carol",
        "name": "Carol",
        "avatar": "https://example.com/c.png",
        "metadata": {"team": "a"},
        "tags": ["beta"],
        "link": "https://example.com/carol",
        "role": "moderator",
    }
    answer = http.post("/api/cometchat/users", json=body, headers=service())
    assert answer.status_code == 201, answer.json
    assert calls(upstream) == before + 1
    user = answer.json["user"]
    assert user["uid"] == "carol" and user["metadata"] == {"team": "a"} and user["role"] == "moderator"
    assert "authToken" not in user and answer.json["authToken"].startswith("carol_")
    assert answer.headers["Cache-Control"] == "no-store"


def test_create_existing_user_is_409(http) -> None:
    answer = http.post("/api/cometchat/users", json={"uid": "cometchat-uid-1", "name": "X"}, headers=service())
    assert answer.status_code == 409 and answer.json["error"]["code"] == "ERR_UID_ALREADY_EXISTS"


def test_get_user(http) -> None:
    answer = http.get("/api/cometchat/users/COMETCHAT-UID-4", headers=service())
    assert answer.status_code == 200 and answer.json["user"]["name"] == "Susan Marie"
    missing = http.get("/api/cometchat/users/nobody", headers=service())
    assert missing.status_code == 404 and missing.json["error"]["code"] == "ERR_UID_NOT_FOUND"


# ---- revoking --------------------------------------------------------------------------


def test_revoke_one_token(http, upstream) -> None:
    token = http.post("/api/cometchat/token/cometchat-uid-5", headers=service()).json["authToken"]
    other = http.post("/api/cometchat/token/cometchat-uid-5", headers=service()).json["authToken"]
    answer = http.post("/api/cometchat/token/cometchat-uid-5/revoke", json={"authToken": token}, headers=service())
    assert answer.status_code == 200 and answer.json == {"uid": "cometchat-uid-5", "revoked": "token"}
    assert token not in upstream.tokens and other in upstream.tokens
    again = http.post("/api/cometchat/token/cometchat-uid-5/revoke", json={"authToken": token}, headers=service())
    assert again.status_code == 404 and again.json["error"]["code"] == "ERR_AUTH_TOKEN_NOT_FOUND"


def test_revoke_all_tokens(http, upstream) -> None:
    for _ in range(2):
        http.post("/api/cometchat/token/cometchat-uid-5", headers=service())
    answer = http.post("/api/cometchat/token/cometchat-uid-5/revoke", json={"all": True}, headers=service())
    assert answer.status_code == 200 and answer.json["revoked"] == "all"
    assert upstream.list_tokens("cometchat-uid-5") == []


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"all": False},
        {"all": "yes"},
        {"authToken": 5},
        {"authToken": ""},
        {"authToken": "t", "all": True},
        {"token": "t"},
        [1],
    ],
)
def test_revoke_anything_else_is_400_without_an_upstream_call(http, upstream, body) -> None:
    before = calls(upstream)
    answer = http.post("/api/cometchat/token/cometchat-uid-5/revoke", json=body, headers=service())
    assert answer.status_code == 400 and answer.json["error"]["code"] == "ERR_BAD_REQUEST"
    assert calls(upstream) == before


# ---- bad input costs nothing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("post", "/api/cometchat/token/has%20space", {}),
        ("post", "/api/cometchat/token/a/b", {}),
        ("post", "/api/cometchat/token/" + "x" * 101, {}),
        ("post", "/api/cometchat/token/%C3%BCml", {}),
        ("post", "/api/cometchat/token/ok", {"data": "{not json", "content_type": "application/json"}),
        ("post", "/api/cometchat/token/ok", {"json": [1, 2]}),
        ("post", "/api/cometchat/token/ok", {"json": "a string"}),
        ("post", "/api/cometchat/token/ok", {"json": {"name": 5}}),
        ("post", "/api/cometchat/token/ok", {"json": {"name": "n" * 101}}),
        ("post", "/api/cometchat/token/ok", {"json": {"nickname": "x"}}),
        ("post", "/api/cometchat/token/ok", {"json": {"avatar": "not a url"}}),
        ("post", "/api/cometchat/users", {"json": {"name": "No uid"}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "no-name"}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "x", "name": "X", "metadata": [1]}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "x", "name": "X", "tags": "a"}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "x", "name": "X", "tags": ["t"] * 26}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "x", "name": "X", "withAuthToken": False}}),
        ("post", "/api/cometchat/users", {"json": {"uid": 7, "name": "X"}}),
        ("post", "/api/cometchat/users", {"json": {"uid": "x", "name": "X", "metadata": {"k": "v" * 6000}}}),
        ("get", "/api/cometchat/users/bad%21uid", {}),
    ],
)
def test_bad_input_is_400_and_costs_no_upstream_call(http, upstream, method, path, kwargs) -> None:
    before = calls(upstream)
    answer = getattr(http, method)(path, headers=service(), **kwargs)
    assert answer.status_code == 400, answer.json
    error = answer.json["error"]
    assert error["code"] == "ERR_BAD_REQUEST" and error["message"]
    assert calls(upstream) == before


def test_body_over_the_cap_is_413(http, upstream) -> None:
    before = calls(upstream)
    answer = http.post(
        "/api/cometchat/users", data="{" + " " * 70_000 + "}", headers=service(), content_type="application/json"
    )
    assert answer.status_code == 413 and answer.json["error"]["code"] == "ERR_BODY_TOO_LARGE"
    assert calls(upstream) == before


def test_unknown_route_and_wrong_method_answer_json(http) -> None:
    missing = http.get("/api/cometchat/nothing", headers=service())
    assert missing.status_code == 404 and missing.json["error"]["code"] == "ERR_NOT_FOUND"
    wrong = http.delete("/api/cometchat/token/x", headers=service())
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "ERR_METHOD_NOT_ALLOWED"
    assert "POST" in wrong.headers["Allow"]


def test_healthz_makes_no_upstream_call(http, upstream) -> None:
    before = calls(upstream)
    answer = http.get("/healthz")
    assert answer.status_code == 200 and answer.json == {"status": "ok"}
    assert calls(upstream) == before


def test_no_demo_page_outside_dev_mode(http) -> None:
    assert http.get("/").status_code == 404
    assert http.put("/emulator/v3.0/me").status_code == 404


# ---- upstream failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        ([Fault("status", status=503)] * 3, 503, "ERR_UPSTREAM_UNAVAILABLE"),
        ([Fault("status", status=429, retry_after=60)], 503, "ERR_UPSTREAM_RATE_LIMITED"),
        ([Fault("status", status=500)], 502, "ERR_UPSTREAM_BAD_RESPONSE"),
        ([Fault("html")] * 3, 502, "ERR_UPSTREAM_BAD_RESPONSE"),
        ([Fault("malformed")], 502, "ERR_UPSTREAM_BAD_RESPONSE"),
        ([Fault("status", status=504)] * 3, 504, "ERR_UPSTREAM_TIMEOUT"),
    ],
)
def test_upstream_failures_map_to_json_5xx(app, http, upstream, faults, status, code) -> None:
    app.extensions["token_server.client"].backoff = 0.001
    upstream.faults.extend(faults)
    answer = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert answer.status_code == status and answer.json["error"]["code"] == code
    assert "devMessage" not in answer.text and "Injected" not in answer.text
    if status == 503:
        assert int(answer.headers["Retry-After"]) >= 1
    if code == "ERR_UPSTREAM_RATE_LIMITED":
        assert answer.headers["Retry-After"] == "60"


def test_a_burst_shorter_than_the_retry_budget_is_absorbed(app, http, upstream) -> None:
    app.extensions["token_server.client"].backoff = 0.001
    upstream.faults.extend([Fault("status", status=503), Fault("status", status=502)])
    assert http.post("/api/cometchat/token/cometchat-uid-1", headers=service()).status_code == 200


def test_upstream_rejecting_our_key_is_a_loud_502(http, upstream, caplog) -> None:
    upstream.api_keys = frozenset({"some-other-key"})
    answer = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert answer.status_code == 502 and answer.json["error"]["code"] == "ERR_UPSTREAM_MISCONFIGURED"
    assert any(r.levelname == "ERROR" and "REST KEY" in r.getMessage() for r in caplog.records)


def test_an_upstream_400_answers_our_words_and_logs_theirs(http, upstream, caplog) -> None:
    upstream.faults.append(Fault("status", status=400))
    answer = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())
    assert answer.status_code == 400 and answer.json["error"] == {
        "code": "ERR_BAD_REQUEST",
        "message": "The chat service refused these values.",
    }
    assert "Injected" not in answer.text
    assert any("Injected" in r.getMessage() for r in caplog.records)


def test_our_own_validation_keeps_its_details(http) -> None:
    answer = http.post("/api/cometchat/token/ok", json={"avatar": "not a url"}, headers=service())
    assert answer.status_code == 400 and answer.json["error"]["details"]["avatar"]


def test_a_retry_after_that_is_not_finite_is_our_default() -> None:
    from cometchat import errors as upstream_errors
    from token_server.errors import DEFAULT_RETRY_AFTER, from_upstream

    for seconds in (float("inf"), float("nan"), -1.0):
        mapped = from_upstream(upstream_errors.RateLimitedError("busy", status=429, retry_after=seconds))
        assert mapped.headers["Retry-After"] == str(DEFAULT_RETRY_AFTER)


# ---- Retry-After belongs to 429 and 503 ------------------------------------------------


def test_a_successful_mint_by_an_end_user_carries_no_retry_after(http) -> None:
    answer = http.post("/api/cometchat/token", headers=as_user("cometchat-uid-1"))
    assert answer.status_code == 200
    assert "Retry-After" not in answer.headers
    assert not [name for name in answer.headers.keys() if name.lower().startswith("x-ratelimit")]


def test_an_end_users_503_carries_cometchats_retry_after(http, upstream) -> None:
    upstream.faults.append(Fault("status", status=429, retry_after=30))
    answer = http.post("/api/cometchat/token", headers=as_user("cometchat-uid-1"))
    assert answer.status_code == 503 and answer.json["error"]["code"] == "ERR_UPSTREAM_RATE_LIMITED"
    assert answer.headers["Retry-After"] == "30"


# ---- error answers are never cached ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/cometchat/token/bad%21uid", 400),
        ("/api/cometchat/nothing", 404),
        ("/api/cometchat/users/nobody", 404),
    ],
)
def test_error_answers_are_not_stored(http, path, status) -> None:
    answer = http.open(path, method="GET" if "users" in path or "nothing" in path else "POST", headers=service())
    assert answer.status_code == status
    assert answer.headers["Cache-Control"] == "no-store"


def test_an_unauthenticated_answer_is_not_stored(http) -> None:
    answer = http.post("/api/cometchat/token/cometchat-uid-1")
    assert answer.status_code == 401 and answer.headers["Cache-Control"] == "no-store"


# ---- revoke never changes the upstream path --------------------------------------------


@pytest.mark.parametrize("token", [".", "..", "a/b", "../x"])
def test_revoke_with_dot_or_slash_tokens_is_400_without_an_upstream_call(http, upstream, token) -> None:
    before = calls(upstream)
    answer = http.post("/api/cometchat/token/cometchat-uid-5/revoke", json={"authToken": token}, headers=service())
    assert answer.status_code == 400 and answer.json["error"]["code"] == "ERR_BAD_REQUEST"
    assert calls(upstream) == before


# ---- bodies: JSON only, capped however framed, every string encodable ------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/api/cometchat/token/ok", "[" * 5000 + "]" * 5000),
        ("/api/cometchat/token/ok", "[" * 5000),
        ("/api/cometchat/users", '{"uid": "deep", "name": "D", "metadata": {"k": ' + "[" * 5000 + "]" * 5000 + "}}"),
        ("/api/cometchat/users", '{"uid": "deep", "name": "D", "metadata": {"k": ' + "[" * 40 + "]" * 40 + "}}"),
        ("/api/cometchat/users", '{"uid": "\\ud800", "name": "X"}'),
        ("/api/cometchat/users", '{"uid": "ok", "name": "\\ud800"}'),
        ("/api/cometchat/users", '{"uid": "ok", "name": "X", "metadata": {"k": "\\udfff"}}'),
        ("/api/cometchat/users", '{"uid": "ok", "name": "X", "metadata": {"\\ud800": 1}}'),
        ("/api/cometchat/users", '{"uid": "ok", "name": "X", "tags": ["\\ud800"]}'),
        ("/api/cometchat/token/ok", '{"name": "\\ud800"}'),
        ("/api/cometchat/token/ok", '{"avatar": "https://example.com/\\ud800.png"}'),
        ("/api/cometchat/token/ok/revoke", '{"authToken": "\\ud800"}'),
    ],
)
def test_deep_or_unencodable_bodies_are_400_without_an_upstream_call(http, upstream, path, data) -> None:
    before = calls(upstream)
    answer = http.post(path, data=data, headers=service(), content_type="application/json")
    assert answer.status_code == 400, answer.json
    assert answer.json["error"]["code"] == "ERR_BAD_REQUEST"
    assert calls(upstream) == before


def test_nesting_up_to_the_limit_is_accepted_and_one_more_level_is_not(http) -> None:
    from token_server.body import MAX_DEPTH

    def body(levels: int) -> str:  # the body object, metadata, then `levels` arrays
        return '{"uid": "nested", "name": "N", "metadata": {"k": ' + "[" * levels + "]" * levels + "}}"

    answer = http.post(
        "/api/cometchat/users", data=body(MAX_DEPTH - 2), headers=service(), content_type="application/json"
    )
    assert answer.status_code == 201, answer.json
    deeper = http.post(
        "/api/cometchat/users", data=body(MAX_DEPTH - 1), headers=service(), content_type="application/json"
    )
    assert deeper.status_code == 400


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "text/json"])
def test_a_body_that_is_not_sent_as_json_is_415_without_an_upstream_call(http, upstream, content_type) -> None:
    before = calls(upstream)
    headers = {**service(), **({"Content-Type": content_type} if content_type else {})}
    answer = http.post("/api/cometchat/token/cometchat-uid-5/revoke", data='{"all": true}', headers=headers)
    assert answer.status_code == 415 and answer.json["error"]["code"] == "ERR_UNSUPPORTED_MEDIA_TYPE"
    assert calls(upstream) == before


def test_json_with_a_charset_and_a_body_less_post_are_accepted(http) -> None:
    charset = http.post(
        "/api/cometchat/token/cometchat-uid-1",
        data='{"name": "Andrew"}',
        headers={**service(), "Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 200
    bare = http.post("/api/cometchat/token/cometchat-uid-1", headers=service())  # curl -X POST
    assert bare.status_code == 200


def chunked(http, path: str, body: bytes):
    """A body without Content-Length, as a server hands on a chunked one (gunicorn sets
    wsgi.input_terminated: the stream ends where the body does)."""
    import io

    return http.post(
        path,
        input_stream=io.BytesIO(body),
        headers={**service(), "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_past_the_cap_is_413_without_an_upstream_call(app, http, upstream) -> None:
    cap = app.config["MAX_CONTENT_LENGTH"]
    before = calls(upstream)
    answer = chunked(http, "/api/cometchat/token/cometchat-uid-1", b'{"name": "x"}' + b" " * (1024 * 1024))
    assert answer.status_code == 413 and answer.json["error"]["code"] == "ERR_BODY_TOO_LARGE"
    assert calls(upstream) == before
    exactly = b'{"name": "x"}'.ljust(cap)
    assert chunked(http, "/api/cometchat/token/cometchat-uid-1", exactly).status_code == 200
    assert chunked(http, "/api/cometchat/token/cometchat-uid-1", exactly + b" ").status_code == 413


@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/cometchat/token/cometchat-uid-1", "POST"), ("/api/cometchat/users", "POST"), ("/healthz", "GET")],
)
def test_options_is_an_empty_204_with_allow_not_an_html_page(http, path, method) -> None:
    answer = http.options(path)
    assert answer.status_code == 204 and answer.data == b""
    assert "Content-Type" not in answer.headers
    assert {"OPTIONS", method} <= {m.strip() for m in answer.headers["Allow"].split(",")}


def test_options_on_an_unknown_route_is_the_json_404(http) -> None:
    answer = http.options("/api/cometchat/nothing-here")
    assert answer.status_code == 404 and answer.json["error"]["code"] == "ERR_NOT_FOUND"


# ---- edges found by mutation testing (scripts/mutation.py) ------------------------------
# These kill the mutants of token_server/routes.py that survived the tests above: the caller is
# identified once per request, refusals name the field and say why, and every answer carrying a
# token forbids caching for HTTP/1.0 caches too.


@pytest.fixture
def host():
    emulator = create_emulator_app(EmulatorState(api_keys=["k"]))
    client = CometChatClient(
        base_url="http://emulator.invalid/v3", api_key="k", backoff=0.001, adapter_factory=lambda: WSGIAdapter(emulator)
    )
    identified: list[str] = []

    def identify(request) -> Caller:
        identified.append(request.path)
        return Caller.user(request.headers.get("X-User", "someone"))

    app = Flask("host")
    routes.init_app(app, client, identify)
    return app.test_client(), identified


def error_of(answer) -> tuple[int, dict]:
    return answer.status_code, answer.json["error"]


def test_the_caller_is_identified_once_per_request(host) -> None:
    http, identified = host
    answer = http.post(URL_PREFIX + "/users", json={"uid": "someone", "name": "S"})
    assert answer.status_code == 201
    assert identified == [URL_PREFIX + "/users"]


def test_refusals_name_the_field_and_say_why(host) -> None:
    http, _ = host
    status, error = error_of(http.post(URL_PREFIX + "/users", json={"uid": 5, "name": "S"}))
    assert status == 400 and error["message"] == "The uid must be a string."
    assert error["details"] == {"uid": ["The uid must be a string."]}
    status, error = error_of(http.post(URL_PREFIX + "/token/someone", json={"name": 5}))
    assert status == 400 and error["details"] == {"name": ["The name must be a string."]}
    status, error = error_of(http.post(URL_PREFIX + "/token/another"))
    assert (status, error["code"], error["message"]) == (403, "ERR_FORBIDDEN", "You may only act on your own uid.")


def test_answers_with_a_token_forbid_caching_for_old_caches_too(host) -> None:
    http, _ = host
    for answer in (
        http.post(URL_PREFIX + "/token/someone"),
        http.post(URL_PREFIX + "/users", json={"uid": "fresh", "name": "F"}, headers={"X-User": "fresh"}),
        http.get(URL_PREFIX + "/users/someone"),
    ):
        assert answer.status_code in (200, 201)
        assert (answer.headers["Cache-Control"], answer.headers["Pragma"]) == ("no-store", "no-cache")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_a_non_finite_number_in_metadata_is_400_without_an_upstream_call(http, upstream, number) -> None:
    before = upstream.requests
    body = '{"uid": "nan-user", "name": "N", "metadata": {"score": ' + number + '}}'
    answer = http.post("/api/cometchat/users", data=body, headers=service(), content_type="application/json")
    assert answer.status_code == 400 and answer.json["error"]["code"] == "ERR_BAD_REQUEST"
    assert "NaN" in answer.json["error"]["message"]
    assert upstream.requests == before
    json.loads(answer.get_data(), parse_constant=pytest.fail)  # the answer itself is strict JSON


def test_large_finite_numbers_still_pass(http) -> None:
    body = '{"uid": "big-number", "name": "B", "metadata": {"score": 1.7e308, "tiny": 1e-320, "n": -12}}'
    answer = http.post("/api/cometchat/users", data=body, headers=service(), content_type="application/json")
    assert answer.status_code == 201, answer.json
    assert answer.json["user"]["metadata"]["score"] == 1.7e308


def _readme_backend_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split("A backend with a service key", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(("user_id", "expected_status"), [("cometchat-uid-1#x", 400), ("cometchat-uid-1", 200)])
def test_the_readme_backend_example_keeps_the_id_one_path_segment(http, monkeypatch, user_id, expected_status) -> None:
    import types

    import requests

    sent: list[str] = []

    def post(url: str, **kwargs):
        sent.append(url)
        path = url.removeprefix("http://token-server")
        answer = http.post(path, headers=kwargs["headers"], json=kwargs["json"])
        def raise_for_status() -> None:
            if answer.status_code >= 400:
                raise requests.HTTPError(f"{answer.status_code}: {answer.json}")

        return types.SimpleNamespace(status_code=answer.status_code, json=lambda: answer.json, raise_for_status=raise_for_status)

    monkeypatch.setattr(requests, "post", post)
    user = types.SimpleNamespace(id=user_id, display_name="Andrew")
    from tests.helpers import SERVICE_KEY

    namespace = {
        "TOKEN_SERVER": "http://token-server", "TOKEN_SERVER_API_KEY": SERVICE_KEY, "user": user, "device_id": "laptop-1"
    }
    code = compile(_readme_backend_example(), "README.md", "exec")
    if expected_status == 200:
        exec(code, namespace)  # noqa: S102
        assert namespace["auth_token"]
    else:  # the whole id reached the server, which refused it: no token for cometchat-uid-1
        with pytest.raises(requests.HTTPError, match="400"):
            exec(code, namespace)  # noqa: S102
    assert sent == ["http://token-server/api/cometchat/token/" + user_id.replace("#", "%23")]
