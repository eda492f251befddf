"""The emulator's token endpoints held to docs/cometchat-api.md ("Auth tokens"): the list with
createdAt, newest first, paginated; tokens past the newest 100 archived (gone from the list,
unusable); GET / PUT / DELETE of one token; the documented 404 for an unknown one."""

from __future__ import annotations

import time

from cometchat.emulator.state import MAX_VALID_TOKENS
from tests.process.test_emulator import raw

USER = "/v3/users/cometchat-uid-1/auth_tokens"


def mint(emulator) -> dict:
    return raw(emulator, "POST", USER, json={"force": True}).json()["data"]


def test_the_list_carries_each_tokens_created_at_newest_first(emulator) -> None:
    emulator.faults(clock_offset_s=-3600)
    older = mint(emulator)
    emulator.faults(clock_offset_s=0)
    newer = mint(emulator)
    answer = raw(emulator, "GET", USER).json()
    assert [t["authToken"] for t in answer["data"]] == [newer["authToken"], older["authToken"]]
    assert all(set(t) == {"uid", "authToken", "createdAt"} for t in answer["data"])
    assert newer["createdAt"] - older["createdAt"] >= 3600 - 2
    assert abs(newer["createdAt"] - time.time()) < 60
    pagination = answer["meta"]["pagination"]
    assert pagination == {"total": 2, "count": 2, "per_page": 100, "current_page": 1, "total_pages": 1}


def test_the_list_pages(emulator) -> None:
    for _ in range(5):
        mint(emulator)
    page = raw(emulator, "GET", USER, params={"perPage": 2, "page": 3}).json()
    assert len(page["data"]) == 1 and page["meta"]["pagination"]["total_pages"] == 3


def test_tokens_past_the_newest_100_are_archived(emulator) -> None:
    first = mint(emulator)["authToken"]
    for _ in range(MAX_VALID_TOKENS):
        mint(emulator)
    listed = raw(emulator, "GET", USER, params={"perPage": 1000}).json()
    assert listed["meta"]["pagination"]["total"] == MAX_VALID_TOKENS
    assert first not in {t["authToken"] for t in listed["data"]}
    assert raw(emulator, "GET", f"{USER}/{first}").status_code == 404
    assert raw(emulator, "PUT", "/v3.0/me", key=first, header="authToken").status_code == 401


def test_one_token_is_read_labelled_and_revoked(emulator) -> None:
    token = mint(emulator)["authToken"]
    read = raw(emulator, "GET", f"{USER}/{token}")
    assert read.status_code == 200 and read.json()["data"]["authToken"] == token
    body = {"platform": "web", "userAgent": "Firefox", "appInfo": {"version": "1.2"}}
    labelled = raw(emulator, "PUT", f"{USER}/{token}", json=body).json()["data"]
    assert {k: labelled[k] for k in body} == body and labelled["authToken"] == token
    assert raw(emulator, "DELETE", f"{USER}/{token}").json()["data"]["success"] is True
    gone = raw(emulator, "GET", f"{USER}/{token}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "ERR_AUTH_TOKEN_NOT_FOUND"
    assert gone.json()["error"]["message"] == "Auth token does not exist."
    assert raw(emulator, "DELETE", f"{USER}/{token}").status_code == 404  # revoking twice: 404, as documented


def test_a_clock_offset_must_be_whole_seconds(emulator) -> None:
    import requests

    for bad in (1.5, "10", True):
        answer = requests.post(emulator.root + "/_emulator/faults", json={"clock_offset_s": bad}, timeout=5)
        assert answer.status_code == 400
    emulator.reset()
    assert abs(mint(emulator)["createdAt"] - time.time()) < 60  # a reset puts the clock back
