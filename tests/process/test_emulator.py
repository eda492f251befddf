"""The emulator through the client over a real socket, plus its raw HTTP surface."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from cometchat import (
    CometChatClient,
    RateLimitedError,
    UidAlreadyExistsError,
    UidNotFoundError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    ValidationError,
)
from cometchat.emulator import MAX_IMPORT_USERS, MAX_VALID_TOKENS
from tests.procs import EMULATOR_KEY, start_emulator


def raw(emulator, method: str, path: str, *, key: str | None = EMULATOR_KEY, header: str = "apikey", **kw):
    headers = {header: key} if key is not None else {}
    return requests.request(method, emulator.root + path, headers=headers, timeout=5, **kw)


def test_test_users_exist_at_start(emulator_client) -> None:
    uids = {u.uid for u in emulator_client.iter_users()}
    assert {f"cometchat-uid-{n}" for n in range(1, 6)} <= uids


def test_uids_are_lowercased_everywhere(emulator_client) -> None:
    emulator_client.create_user("MiXeD_Case-1", "Mixed")
    assert emulator_client.get_user("mixed_case-1").uid == "mixed_case-1"


def test_unset_fields_are_left_out_and_timestamps_are_integers(emulator) -> None:
    raw(emulator, "POST", "/v3/users", json={"uid": "plain", "name": "Plain"}).raise_for_status()
    data = raw(emulator, "GET", "/v3/users/plain").json()["data"]
    assert set(data) == {"uid", "name", "role", "status", "createdAt"}
    assert data["status"] == "offline" and data["role"] == "default" and isinstance(data["createdAt"], int)
    assert "authToken" not in data


def test_both_prefixes_and_case_insensitive_key_header(emulator) -> None:
    assert raw(emulator, "GET", "/v3.0/users/cometchat-uid-2", header="apiKey").status_code == 200
    assert raw(emulator, "GET", "/v3/users/cometchat-uid-2", header="APIKEY").status_code == 200


def test_a_user_called_me_still_needs_the_key(emulator) -> None:
    assert raw(emulator, "GET", "/v3/users/me", key=None).status_code == 401


def test_missing_and_unknown_keys_are_refused(emulator) -> None:
    missing = raw(emulator, "GET", "/v3/users/cometchat-uid-1", key=None)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "AUTH_ERR_EMPTY_APIKEY"
    unknown = raw(emulator, "GET", "/v3/users/cometchat-uid-1", key="wrong")
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "AUTH_ERR_APIKEY_NOT_FOUND"
    client = CometChatClient(base_url=emulator.base_url, api_key="wrong")
    with pytest.raises(UpstreamAuthError):
        client.get_user("cometchat-uid-1")




def test_error_envelope_and_codes(emulator) -> None:
    raw(emulator, "POST", "/v3/users", json={"uid": "dup", "name": "D"}).raise_for_status()
    dup = raw(emulator, "POST", "/v3/users", json={"uid": "DUP", "name": "D"})
    assert dup.status_code == 400
    error = dup.json()["error"]
    assert error["code"] == "ERR_UID_ALREADY_EXISTS" and error["source"] == "chat-api" and error["devMessage"]
    bad = raw(emulator, "POST", "/v3/users", json={"name": "no uid"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "ERR_BAD_REQUEST"
    assert "uid" in bad.json()["error"]["details"]
    route = raw(emulator, "GET", "/v3/nothing/here")
    assert route.status_code == 404 and route.json()["error"]["code"] == "ERR_API_NOT_FOUND"
    token = raw(emulator, "GET", "/v3/users/dup/auth_tokens/nope")
    assert token.json()["error"] == {
        **token.json()["error"],
        "code": "ERR_AUTH_TOKEN_NOT_FOUND",
        "message": "Auth token does not exist.",
    }


def test_create_with_token_is_one_request(emulator, emulator_client) -> None:
    before = emulator.stats()["requests"]
    user = emulator_client.create_user("one-trip", "One Trip", with_auth_token=True)
    assert user.auth_token and emulator.stats()["requests"] == before + 1
    assert emulator_client.get_auth_token("one-trip", user.auth_token).uid == "one-trip"


def test_only_the_newest_100_tokens_stay_valid(emulator_client) -> None:
    tokens = [emulator_client.create_auth_token("cometchat-uid-3").auth_token for _ in range(MAX_VALID_TOKENS + 1)]
    listed = [t.auth_token for t in emulator_client.iter_auth_tokens("cometchat-uid-3", per_page=30)]
    assert len(listed) == MAX_VALID_TOKENS and listed[0] == tokens[-1]  # newest first
    assert tokens[0] not in listed and tokens[1] in listed
    assert len(set(tokens)) == len(tokens)


def test_token_without_force_may_be_reused(emulator) -> None:
    first = raw(emulator, "POST", "/v3/users/cometchat-uid-4/auth_tokens").json()["data"]["authToken"]
    again = raw(emulator, "POST", "/v3/users/cometchat-uid-4/auth_tokens", json={}).json()["data"]["authToken"]
    forced = raw(emulator, "POST", "/v3/users/cometchat-uid-4/auth_tokens", json={"force": True}).json()
    assert first == again != forced["data"]["authToken"]


def test_revoke_and_flush(emulator_client) -> None:
    a = emulator_client.create_auth_token("cometchat-uid-1").auth_token
    b = emulator_client.create_auth_token("cometchat-uid-1").auth_token
    emulator_client.delete_auth_token("cometchat-uid-1", a)
    assert [t.auth_token for t in emulator_client.iter_auth_tokens("cometchat-uid-1")] == [b]
    emulator_client.flush_auth_tokens("cometchat-uid-1")
    assert list(emulator_client.iter_auth_tokens("cometchat-uid-1")) == []


def test_soft_then_permanent_delete(emulator, emulator_client) -> None:
    emulator_client.create_user("leaver", "Leaver")
    emulator_client.delete_user("leaver")
    with pytest.raises(UidNotFoundError):
        emulator_client.get_user("leaver")
    with pytest.raises(UidAlreadyExistsError):  # a deactivated uid cannot be created again
        emulator_client.create_user("leaver", "Leaver")
    answer = raw(emulator, "DELETE", "/v3/users/leaver", json={"permanent": True}).json()
    assert answer == {"data": {"success": True, "message": "User with UID leaver has been deleted successfully."}}
    emulator_client.create_user("leaver", "Leaver again")


def test_update_and_unset(emulator_client) -> None:
    emulator_client.create_user("upd", "Up", avatar="https://example.com/a.png", metadata={"k": 1})
    user = emulator_client.update_user("upd", name="Updated", unset=["avatar"])
    assert user.name == "Updated" and user.avatar is None and user.metadata == {"k": 1}
    assert isinstance(user.updated_at, int)


def test_pagination_meta(emulator) -> None:
    body = raw(emulator, "GET", "/v3/users", params={"perPage": 2, "page": 2}).json()
    assert body["meta"]["pagination"] == {"total": 5, "count": 2, "per_page": 2, "current_page": 2, "total_pages": 3}
    assert [u["uid"] for u in body["data"]] == ["cometchat-uid-3", "cometchat-uid-2"]  # newest first


def test_rate_limit_headers_and_429(emulator, emulator_client) -> None:
    emulator_client.get_user("cometchat-uid-1")
    assert emulator_client.rate_limit.limit == 20_000  # reads count in the "other" bucket
    assert emulator_client.rate_limit.remaining is not None and emulator_client.rate_limit.remaining < 20_000
    emulator_client.create_auth_token("cometchat-uid-1")
    assert emulator_client.rate_limit.limit == 10_000  # a mint is a core operation
    emulator.faults(rate_limit=1)
    answer = raw(emulator, "GET", "/v3/users/cometchat-uid-1")
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1
    assert answer.json()["error"]["code"] == "ERR_TOO_MANY_REQUESTS"
    assert "X-RateLimit-Reset" in answer.headers


def test_concurrent_creates_of_one_uid_make_one_user(emulator) -> None:
    results: list[int] = []

    def create() -> None:
        results.append(raw(emulator, "POST", "/v3/users", json={"uid": "racer", "name": "R"}).status_code)

    threads = [threading.Thread(target=create) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [400] * 19


def test_connection_is_reused(emulator, emulator_client) -> None:
    emulator_client.get_user("cometchat-uid-1")
    before = emulator.stats()["connections"]
    for _ in range(10):
        emulator_client.get_user("cometchat-uid-1")
    assert emulator.stats()["connections"] == before


# ---- fault injection through the client ---------------------------------------------


def test_injected_5xx_burst_is_retried(emulator, emulator_client) -> None:
    emulator.faults({"kind": "status", "status": 503}, {"kind": "status", "status": 502})
    assert emulator_client.get_user("cometchat-uid-1").uid == "cometchat-uid-1"


def test_injected_429_with_retry_after(emulator) -> None:
    emulator.faults({"kind": "status", "status": 429, "retry_after": 1})
    slept: list[float] = []
    client = CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY, sleep=slept.append)
    client.get_user("cometchat-uid-1")
    assert slept == [1.0]
    emulator.faults(*[{"kind": "status", "status": 429, "retry_after": 30}])
    with pytest.raises(RateLimitedError) as info:
        client.get_user("cometchat-uid-1")
    assert info.value.retry_after == 30


def test_injected_hang_hits_the_deadline(emulator) -> None:
    emulator.faults({"kind": "hang", "seconds": 3})
    client = CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY, read_timeout=0.3, total_deadline=1)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError):
        client.get_user("cometchat-uid-1")
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("kind", ["malformed", "html"])
def test_injected_bad_bodies(emulator, emulator_client, kind) -> None:
    emulator.faults(*[{"kind": kind}] * 3)
    with pytest.raises(UpstreamBadResponseError):
        emulator_client.get_user("cometchat-uid-1")


def test_injected_reset_is_retried(emulator, emulator_client) -> None:
    emulator.faults({"kind": "reset"})
    assert emulator_client.get_user("cometchat-uid-1").uid == "cometchat-uid-1"
    emulator.faults(*[{"kind": "reset"}] * 3)
    with pytest.raises(UpstreamUnavailableError):
        emulator_client.get_user("cometchat-uid-1")


def test_retried_create_after_reset_makes_one_user_with_a_token(emulator, emulator_client) -> None:
    # The emulator creates the user, then the connection breaks before the answer is read:
    # simulate it by creating first, then making the client's first attempt fail.
    raw(emulator, "POST", "/v3/users", json={"uid": "flaky", "name": "Flaky"}).raise_for_status()
    emulator.faults({"kind": "status", "status": 502})
    user = emulator_client.create_user("flaky", "Flaky", with_auth_token=True)
    assert user.uid == "flaky" and user.auth_token
    assert emulator.stats()["users"] == 6


def test_client_validation_never_reaches_the_emulator(emulator, emulator_client) -> None:
    before = emulator.stats()["requests"]
    with pytest.raises(ValidationError):
        emulator_client.create_user("bad uid", "x")
    assert emulator.stats()["requests"] == before


def test_login_endpoint_for_the_sdk_stand_in(emulator, emulator_client) -> None:
    token = emulator_client.create_auth_token("cometchat-uid-2").auth_token
    ok = requests.put(emulator.root + "/v3.0/me", headers={"authToken": token}, timeout=5)
    assert ok.status_code == 200 and ok.json()["data"]["status"] == "available"
    bad = requests.put(emulator.root + "/v3.0/me", headers={"authToken": "nope"}, timeout=5)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "AUTH_ERR_AUTH_TOKEN_NOT_FOUND"


# ---- logins the SDK makes: only live tokens of active users ---------------------------


def login(emulator, token: str) -> requests.Response:
    return requests.put(emulator.root + "/v3.0/me", headers={"authToken": token}, timeout=5)


def test_a_token_evicted_beyond_the_newest_100_cannot_log_in(emulator, emulator_client) -> None:
    tokens = [emulator_client.create_auth_token("cometchat-uid-5").auth_token for _ in range(MAX_VALID_TOKENS + 1)]
    evicted = login(emulator, tokens[0])
    assert evicted.status_code == 401 and evicted.json()["error"]["code"] == "AUTH_ERR_AUTH_TOKEN_NOT_FOUND"
    assert login(emulator, tokens[1]).status_code == 200


def test_a_deactivated_users_tokens_cannot_log_in(emulator, emulator_client) -> None:
    token = emulator_client.create_user("short-lived", "Short", with_auth_token=True).auth_token
    assert login(emulator, token).status_code == 200
    emulator_client.delete_user("short-lived")
    refused = login(emulator, token)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "AUTH_ERR_AUTH_TOKEN_NOT_FOUND"


# ---- the emulator's own rules, from the documented API --------------------------------




LONG_URL = "https://example.com/" + "a" * 2981  # 3001 characters


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "No uid"}, "uid", "The uid field is required."),
        ({"uid": "has space", "name": "x"}, "uid", None),
        ({"uid": "u" * 101, "name": "x"}, "uid", None),
        ({"uid": "ok-1"}, "name", "The name field is required."),
        ({"uid": "ok-1", "name": "n" * 101}, "name", "The name may not be greater than 100 characters."),
        ({"uid": "ok-1", "name": "x", "avatar": LONG_URL}, "avatar", None),
        ({"uid": "ok-1", "name": "x", "link": "not a url"}, "link", "The link format is invalid."),
        ({"uid": "ok-1", "name": "x", "tags": ["t"] * 26}, "tags", None),
        ({"uid": "ok-1", "name": "x", "tags": ["t" * 101]}, "tags", None),
        ({"uid": "ok-1", "name": "x", "metadata": ["not", "an", "object"]}, "metadata", None),
    ],
)
def test_create_rules_answer_bad_request_with_details(emulator, body, field, message) -> None:
    answer = raw(emulator, "POST", "/v3/users", json=body)
    error = answer.json()["error"]
    assert answer.status_code == 400 and error["code"] == "ERR_BAD_REQUEST"
    assert error["message"] == "Failed to validate the data sent with the request."
    assert list(error["details"]) == [field] and isinstance(error["details"][field], list)
    if message:
        assert error["details"][field] == [message]


def test_limits_themselves_are_accepted(emulator) -> None:
    body = {
        "uid": "U" * 100,
        "name": "n" * 100,
        "avatar": LONG_URL[:-1],
        "tags": ["t" * 100] * 25,
        "metadata": {"k": "v"},
    }
    answer = raw(emulator, "POST", "/v3/users", json=body)
    assert answer.status_code == 200 and answer.json()["data"]["uid"] == "u" * 100


@pytest.mark.parametrize("per_page", ["0", "1001", "x"])
def test_per_page_must_be_1_to_1000(emulator, per_page) -> None:
    answer = raw(emulator, "GET", "/v3/users", params={"perPage": per_page})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "ERR_BAD_REQUEST"
    assert raw(emulator, "GET", "/v3/users", params={"perPage": "1000"}).status_code == 200


def test_only_avatar_link_and_metadata_can_be_unset(emulator) -> None:
    answer = raw(emulator, "PUT", "/v3/users/cometchat-uid-1", json={"unset": ["name"]})
    assert answer.status_code == 400 and "unset" in answer.json()["error"]["details"]
    assert raw(emulator, "PUT", "/v3/users/cometchat-uid-1", json={"unset": ["link"]}).status_code == 200
    assert raw(emulator, "PUT", "/v3/users/cometchat-uid-1", json={"unset": None, "name": "N"}).status_code == 200


# ---- per-minute quotas ------------------------------------------------------------------

DAY = 86_400  # a "minute" this long makes a window boundary inside a test practically impossible






def test_core_and_other_quotas_over_http(emulator) -> None:
    emulator.faults(core_per_minute=2, other_per_minute=3, minute_seconds=DAY)
    minted = [raw(emulator, "POST", "/v3/users/cometchat-uid-1/auth_tokens", json={"force": True}) for _ in range(3)]
    assert [a.status_code for a in minted] == [200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in minted] == ["1", "0", "0"]
    over = minted[2]
    assert over.json()["error"]["code"] == "ERR_TOO_MANY_REQUESTS" and over.headers["X-RateLimit-Limit"] == "2"
    retry_after, reset_at = int(over.headers["Retry-After"]), int(over.headers["X-RateLimit-Reset"])
    assert 1 <= retry_after <= DAY and abs(time.time() + retry_after - reset_at) <= 2
    read = raw(emulator, "GET", "/v3/users/nobody")  # another bucket, and an error still carries the headers
    assert read.status_code == 404 and read.headers["X-RateLimit-Limit"] == "3"
    assert read.headers["X-RateLimit-Remaining"] == "2" and "X-RateLimit-Reset" not in read.headers
    assert emulator.stats()["rate_limited"] == 1


def test_the_old_rate_limit_knob_sets_both_buckets(emulator) -> None:
    emulator.faults(rate_limit=1, minute_seconds=DAY)
    assert raw(emulator, "GET", "/v3/users/cometchat-uid-1").status_code == 200
    assert raw(emulator, "GET", "/v3/users/cometchat-uid-1").status_code == 429
    assert raw(emulator, "POST", "/v3/users/cometchat-uid-1/auth_tokens").headers["X-RateLimit-Limit"] == "1"


def test_quota_flags_on_the_command_line(tmp_path) -> None:
    flags = ("--core-per-minute", "1", "--other-per-minute", "7", "--import-per-minute", "1")
    proc, root = start_emulator(tmp_path, api_key=EMULATOR_KEY, extra_args=(*flags, "--minute-seconds", str(DAY)))
    try:
        headers = {"apikey": EMULATOR_KEY}
        mint = root + "/v3/users/cometchat-uid-2/auth_tokens"
        assert [requests.post(mint, headers=headers, timeout=5).status_code for _ in range(2)] == [200, 429]
        assert requests.get(root + "/v3/users", headers=headers, timeout=5).headers["X-RateLimit-Limit"] == "7"
        batch = {"users": {"flag-user": {"name": "Flag"}}}
        imports = [requests.post(root + "/v3/data_import/users", json=batch, headers=headers, timeout=5) for _ in "ab"]
        assert [a.status_code for a in imports] == [200, 429]
        assert 1 <= int(imports[1].headers["Retry-After"]) <= DAY
    finally:
        proc.stop()


# ---- data import ------------------------------------------------------------------------


def import_users(emulator, users: dict, prefix: str = "/v3") -> requests.Response:
    return raw(emulator, "POST", prefix + "/data_import/users", json={"users": users})


def test_import_answers_each_row(emulator) -> None:
    users = {
        "Imported-1": {"uid": "Imported-1", "name": "One", "createdAt": "1673421419", "metadata": {"k": "v"}},
        "imported-2": {"name": "Two", "avatar": "https://example.com/2.png", "lastActiveAt": 1673421425},
        "cometchat-uid-1": {"name": "Already here"},
        "no-name": {"avatar": "https://example.com/x.png"},
        "odd-time": {"name": "Odd", "createdAt": "\u00b2"},  # a Unicode digit, not a timestamp
    }
    answer = import_users(emulator, users, prefix="/v3.0")
    assert answer.status_code == 200 and answer.headers["X-RateLimit-Limit"] == "60"
    rows = answer.json()["data"]
    assert list(rows) == list(users)  # keyed as sent
    one = rows["Imported-1"]
    assert one["success"] is True and one["data"]["uid"] == "imported-1" and one["data"]["createdAt"] == 1673421419
    assert rows["imported-2"]["data"]["lastActiveAt"] == 1673421425
    assert rows["cometchat-uid-1"] == {"success": False, "error": {**rows["cometchat-uid-1"]["error"]}}
    assert rows["cometchat-uid-1"]["error"]["code"] == "ERR_UID_ALREADY_EXISTS"
    assert rows["no-name"]["success"] is False and rows["no-name"]["error"]["details"] == {
        "name": ["The name field is required."]
    }
    assert rows["odd-time"]["error"]["details"] == {"createdAt": ["The createdAt must be a UNIX timestamp in seconds."]}
    assert raw(emulator, "GET", "/v3/users/imported-1").json()["data"]["metadata"] == {"k": "v"}
    assert emulator.stats()["users"] == 7
    again = import_users(emulator, {"imported-2": {"name": "Two"}}).json()["data"]["imported-2"]
    assert again["error"]["code"] == "ERR_UID_ALREADY_EXISTS"


def test_import_takes_at_most_50_users(emulator) -> None:
    too_many = import_users(emulator, {f"bulk-{n}": {"name": f"B{n}"} for n in range(MAX_IMPORT_USERS + 1)})
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "ERR_BAD_REQUEST"
    assert emulator.stats()["users"] == 5  # nothing landed
    full = import_users(emulator, {f"bulk-{n}": {"name": f"B{n}"} for n in range(MAX_IMPORT_USERS)})
    assert full.status_code == 200 and emulator.stats()["users"] == 5 + MAX_IMPORT_USERS


@pytest.mark.parametrize("body", [{}, {"users": []}, {"users": {}}, {"users": {"a": "not an object"}}])
def test_import_refuses_a_malformed_body(emulator, body) -> None:
    answer = raw(emulator, "POST", "/v3/data_import/users", json=body)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "ERR_IMPORT_INVALID_USER_FORMAT"


def test_import_is_paced_per_minute(emulator) -> None:
    emulator.faults(import_per_minute=2, minute_seconds=DAY)
    answers = [import_users(emulator, {f"paced-{n}": {"name": "P"}}) for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1 and "X-RateLimit-Reset" in answers[2].headers
    assert "data import" in answers[2].json()["error"]["message"]
    assert raw(emulator, "GET", "/v3/users/paced-1").status_code == 200
    assert raw(emulator, "GET", "/v3/users/paced-2").status_code == 404
    assert emulator.stats()["rate_limited"] == 1




def test_import_partial_fault_lands_part_of_the_batch_then_fails(emulator) -> None:
    emulator.faults({"kind": "import_partial", "applied": 10})
    assert raw(emulator, "GET", "/v3/users/cometchat-uid-1").status_code == 200  # not an import: fault waits
    answer = import_users(emulator, {f"part-{n:02d}": {"name": "P"} for n in range(20)})
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "ERR_INTERNAL_SERVER"
    landed = {u["uid"] for u in raw(emulator, "GET", "/v3/users", params={"searchKey": "part-"}).json()["data"]}
    assert landed == {f"part-{n:02d}" for n in range(10)}


def test_import_partial_fault_can_drop_the_connection(emulator) -> None:
    emulator.faults({"kind": "import_partial", "applied": 3, "drop": True})
    with pytest.raises(requests.ConnectionError):
        import_users(emulator, {f"drop-{n}": {"name": "D"} for n in range(5)})
    assert emulator.stats()["users"] == 5 + 3


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        ({"kind": "status", "status": 429, "retry_after": 7}, None),
        ({"kind": "reset"}, requests.ConnectionError),
    ],
)
def test_import_faults_before_anything_lands(emulator, fault, failure) -> None:
    emulator.faults(fault)
    if failure:
        with pytest.raises(failure):
            import_users(emulator, {"never": {"name": "N"}})
    else:
        answer = import_users(emulator, {"never": {"name": "N"}})
        assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
        assert emulator.stats()["rate_limited"] == 1
    assert emulator.stats()["users"] == 5


# ---- drip -------------------------------------------------------------------------------


def test_drip_sends_headers_then_one_byte_at_a_time(emulator) -> None:
    interval = 0.01
    expected = raw(emulator, "GET", "/v3/users/cometchat-uid-1").content
    emulator.faults({"kind": "drip", "interval_ms": interval * 1000})
    with raw(emulator, "GET", "/v3/users/cometchat-uid-1", stream=True) as answer:
        assert answer.status_code == 200 and int(answer.headers["Content-Length"]) == len(expected)
        started = time.monotonic()
        chunks = list(answer.raw.stream(1, decode_content=False))
        elapsed = time.monotonic() - started
    assert b"".join(chunks) == expected
    assert elapsed >= (len(expected) - 2) * interval  # the sleeps alone take this long


@pytest.mark.parametrize(
    "body",
    [
        {"queue": [{"kind": "nope"}]},
        {"minute_seconds": 0},
        {"core_per_minute": "many"},
        {"queue": [{"kind": "drip", "interval_ms": "x"}]},
    ],
)
def test_the_control_api_refuses_bad_settings(emulator, body) -> None:
    answer = requests.post(emulator.root + "/_emulator/faults", json=body, timeout=5)
    assert answer.status_code == 400
    assert raw(emulator, "GET", "/v3/users/cometchat-uid-1").status_code == 200  # nothing queued or changed






def test_a_status_fault_sends_its_headers_over_the_emulators_own(emulator) -> None:
    emulator.faults({"kind": "status", "status": 429, "headers": {"X-RateLimit-Remaining": "0", "Retry-After": "1"}})
    answer = requests.post(
        emulator.base_url + "/users/cometchat-uid-1/auth_tokens", headers={"apikey": EMULATOR_KEY}, timeout=5
    )
    assert answer.status_code == 429
    assert answer.headers["X-RateLimit-Remaining"] == "0" and answer.headers["Retry-After"] == "1"
    assert answer.headers["X-RateLimit-Limit"] == "10000"  # the emulator's own figure, not overridden


def test_one_session_pools_a_connection_per_call_in_flight_up_to_pool_size(emulator) -> None:
    """One session, one adapter: concurrent calls each take a keep-alive connection of its
    pool; up to ``pool_size`` stay open for the next calls, the others close when done."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.procs import EMULATOR_KEY

    def burst(client: CometChatClient) -> int:
        before = emulator.stats()["connections"]
        lined_up = threading.Barrier(3)  # the three threads start their calls together, however late they start

        def call(_i: int) -> None:
            lined_up.wait(timeout=30)
            client.get_user("cometchat-uid-1")

        with ThreadPoolExecutor(3) as pool:
            list(pool.map(call, range(3)))
        return emulator.stats()["connections"] - before

    # The three calls of a burst are in flight together: each is answered 1.5 s after it arrives
    # (800 ms was once not enough beside a loaded machine: one call found another's connection free).
    emulator.faults(latency_ms=1500)
    for pool_size, reopened in ((1, 2), (3, 0)):
        with CometChatClient(base_url=emulator.base_url, api_key=EMULATOR_KEY, pool_size=pool_size) as client:
            assert burst(client) == 3
            assert burst(client) == reopened
