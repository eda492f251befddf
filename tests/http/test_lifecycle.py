"""Profile sync (PATCH) and deprovisioning (DELETE) through the Flask test client."""

from __future__ import annotations

import pytest

from cometchat.emulator import Fault
from tests.helpers import as_user, http_client, service

USER = "/api/cometchat/users/"


def mint(http, uid: str) -> str:
    return http.post(f"/api/cometchat/token/{uid}", headers=service()).json["authToken"]


def logs_in(upstream, token: str) -> bool:
    try:
        upstream.login(token)
    except Exception:
        return False
    return True


# ---- PATCH: profile sync -----------------------------------------------------------------


def test_patch_updates_the_profile_and_answers_the_user(http, upstream) -> None:
    body = {
        "name": "Andy J",
        "avatar": "https://example.com/a.png",
        "link": "https://example.com/andy",
        "metadata": {"team": "blue"},
        "tags": ["vip"],
    }
    answer = http.patch(USER + "cometchat-uid-1", json=body, headers=service())
    assert answer.status_code == 200, answer.json
    user = answer.json["user"]
    assert set(answer.json) == {"user"}
    assert {k: user[k] for k in body} == body
    assert upstream.get_user("cometchat-uid-1")["metadata"] == {"team": "blue"}


def test_an_end_user_patches_its_own_profile_but_not_another(http, upstream) -> None:
    mine = http.patch(USER + "cometchat-uid-2", json={"name": "Me"}, headers=as_user("cometchat-uid-2"))
    assert mine.status_code == 200 and mine.json["user"]["name"] == "Me"
    before = upstream.requests
    theirs = http.patch(USER + "cometchat-uid-3", json={"name": "X"}, headers=as_user("cometchat-uid-2"))
    assert theirs.status_code == 403 and theirs.json["error"]["code"] == "ERR_FORBIDDEN"
    assert upstream.requests == before


def test_only_a_service_caller_sets_a_role(http, upstream) -> None:
    before = upstream.requests
    answer = http.patch(USER + "cometchat-uid-2", json={"role": "admin"}, headers=as_user("cometchat-uid-2"))
    assert answer.status_code == 403 and upstream.requests == before
    assert upstream.get_user("cometchat-uid-2")["role"] == "default"
    ok = http.patch(USER + "cometchat-uid-2", json={"role": "moderator"}, headers=service())
    assert ok.status_code == 200 and ok.json["user"]["role"] == "moderator"


def test_null_unsets_avatar_link_and_metadata(http, upstream) -> None:
    http.patch(USER + "cometchat-uid-4", json={"link": "https://e.com/l", "metadata": {"a": 1}}, headers=service())
    answer = http.patch(USER + "cometchat-uid-4", json={"avatar": None, "metadata": None}, headers=service())
    assert answer.status_code == 200
    stored = upstream.get_user("cometchat-uid-4")
    assert "avatar" not in stored and "metadata" not in stored and stored["link"] == "https://e.com/l"
    assert stored["name"] == "Susan Marie"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"nickname": "x"},
        {"name": None},
        {"tags": None},
        {"name": ""},
        {"avatar": "javascript:alert(1)"},
        {"metadata": [1]},
        {"tags": "vip"},
    ],
)
def test_patch_bad_input_is_400_without_an_upstream_call(http, upstream, body) -> None:
    before = upstream.requests
    answer = http.patch(USER + "cometchat-uid-1", json=body, headers=service())
    assert answer.status_code == 400, answer.json
    assert answer.json["error"]["code"] == "ERR_BAD_REQUEST"
    assert upstream.requests == before


def test_patch_unknown_user_is_404(http) -> None:
    answer = http.patch(USER + "nobody-here", json={"name": "N"}, headers=service())
    assert answer.status_code == 404 and answer.json["error"]["code"] == "ERR_UID_NOT_FOUND"


def test_patch_needs_credentials(http) -> None:
    assert http.patch(USER + "cometchat-uid-1", json={"name": "N"}).status_code == 401


# ---- DELETE: deprovisioning --------------------------------------------------------------


def test_delete_flushes_every_token_then_deactivates(http, upstream) -> None:
    tokens = [mint(http, "cometchat-uid-1") for _ in range(2)]
    answer = http.delete(USER + "cometchat-uid-1", headers=service())
    assert answer.status_code == 200
    assert answer.json == {"uid": "cometchat-uid-1", "deleted": "deactivated"}
    record = upstream.users["cometchat-uid-1"]
    assert record.deactivated_at is not None and not record.tokens  # flushed, not just unusable
    assert not any(logs_in(upstream, t) for t in tokens)


def test_delete_permanent_removes_the_user_for_good(http, upstream) -> None:
    token = mint(http, "cometchat-uid-2")
    answer = http.delete(USER + "cometchat-uid-2?permanent=true", headers=service())
    assert answer.status_code == 200 and answer.json == {"uid": "cometchat-uid-2", "deleted": "permanent"}
    assert "cometchat-uid-2" not in upstream.users and not logs_in(upstream, token)
    # Deleted for good, the uid is free again.
    again = http.post("/api/cometchat/users", json={"uid": "cometchat-uid-2", "name": "New"}, headers=service())
    assert again.status_code == 201


@pytest.mark.parametrize("query", ["", "?permanent=true"])
def test_delete_is_idempotent(http, query) -> None:
    first = http.delete(USER + "cometchat-uid-3" + query, headers=service())
    second = http.delete(USER + "cometchat-uid-3" + query, headers=service())
    never = http.delete(USER + "never-existed" + query, headers=service())
    assert first.status_code == second.status_code == never.status_code == 200
    assert first.json == second.json
    assert never.json["deleted"] == first.json["deleted"]


def test_permanent_delete_of_a_deactivated_user(http, upstream) -> None:
    http.delete(USER + "cometchat-uid-3", headers=service())
    answer = http.delete(USER + "cometchat-uid-3?permanent=true", headers=service())
    assert answer.status_code == 200 and "cometchat-uid-3" not in upstream.users


def test_a_failure_between_flush_and_deactivate_then_a_retry_completes(http, upstream) -> None:
    tokens = [mint(http, "cometchat-uid-4") for _ in range(3)]
    # The flush goes through (a zero-second hang is a pass), with the push-token cleanup before it
    # (list the tokens, then each one's push tokens: token_server/pushtokens.py); the deactivation fails.
    upstream.faults.extend([Fault("hang", seconds=0)] * (1 + len(tokens) + 1) + [Fault("status", status=500)])
    failed = http.delete(USER + "cometchat-uid-4", headers=service())
    assert failed.status_code == 502
    record = upstream.users["cometchat-uid-4"]
    assert record.deactivated_at is None and not record.tokens  # the window is harmless: no token
    assert not any(logs_in(upstream, t) for t in tokens)
    retry = http.delete(USER + "cometchat-uid-4", headers=service())
    assert retry.status_code == 200 and retry.json["deleted"] == "deactivated"
    assert upstream.users["cometchat-uid-4"].deactivated_at is not None


def test_a_failed_permanent_delete_is_finished_by_a_retry(http, upstream) -> None:
    mint(http, "cometchat-uid-5")
    # The push-token cleanup (the token list, its one token's push tokens) and the flush pass.
    upstream.faults.extend([Fault("hang", seconds=0)] * 3 + [Fault("status", status=500)])
    assert http.delete(USER + "cometchat-uid-5?permanent=true", headers=service()).status_code == 502
    assert "cometchat-uid-5" in upstream.users
    retry = http.delete(USER + "cometchat-uid-5?permanent=true", headers=service())
    assert retry.status_code == 200 and "cometchat-uid-5" not in upstream.users


def test_end_users_may_not_delete_even_themselves(http, upstream) -> None:
    before = upstream.requests
    answer = http.delete(USER + "cometchat-uid-1", headers=as_user("cometchat-uid-1"))
    assert answer.status_code == 403 and answer.json["error"]["code"] == "ERR_FORBIDDEN"
    assert upstream.requests == before and upstream.users["cometchat-uid-1"].deactivated_at is None


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("bad uid!", {}),
        ("cometchat-uid-1?permanent=yes", {}),
        ("cometchat-uid-1", {"json": {"permanent": True}}),
        ("cometchat-uid-1", {"json": {}}),  # an empty object is a body too
        ("cometchat-uid-1?permanant=true", {}),  # a typo must not deactivate instead of deleting
    ],
)
def test_delete_bad_input_is_400_without_an_upstream_call(http, upstream, path, kwargs) -> None:
    before = upstream.requests
    answer = http.delete(USER + path, headers=service(), **kwargs)
    assert answer.status_code == 400 and answer.json["error"]["code"] == "ERR_BAD_REQUEST"
    assert upstream.requests == before and upstream.users["cometchat-uid-1"].deactivated_at is None


def test_delete_needs_credentials(http) -> None:
    assert http.delete(USER + "cometchat-uid-1").status_code == 401


def test_both_routes_are_rate_limited_per_user() -> None:

    http = http_client(RATE_LIMIT_PER_USER="2 per minute")
    headers = as_user("cometchat-uid-1")
    codes = [http.patch(USER + "cometchat-uid-1", json={"name": "N"}, headers=headers).status_code for _ in range(2)]
    limited = http.delete(USER + "cometchat-uid-1", headers=headers)
    assert codes == [200, 200]
    assert limited.status_code == 429 and limited.json["error"]["code"] == "ERR_TOO_MANY_REQUESTS"
    assert int(limited.headers["Retry-After"]) >= 1
