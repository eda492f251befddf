"""Local validation (cometchat/validation.py): each limit at its exact edge, and what a
refusal tells the caller (many of these were found by mutation testing, scripts/mutation.py)."""

from __future__ import annotations

import json
import math

import pytest

from cometchat import CometChatClient, ValidationError
from cometchat import validation as v


def refusal(call) -> dict:
    with pytest.raises(ValidationError) as info:
        call()
    assert info.value.message == "Failed to validate the data sent with the request."
    return dict(info.value.details)


URL_MSG = "The {0} must be an http(s) URL."


@pytest.mark.parametrize(
    ("call", "details"),
    [
        (
            lambda: v.normalize_uid("a b"),
            {"uid": ["The uid must be 1 to 100 characters of letters, digits, '_' or '-'."]},
        ),
        (lambda: v.check_name(" "), {"name": ["The name field is required."]}),
        (lambda: v.check_name("n" * 101), {"name": ["The name may not be greater than 100 characters."]}),
        (lambda: v.check_user_fields({"name": "N", "avatar": 7}), {"avatar": [URL_MSG.format("avatar")]}),
        (lambda: v.check_user_fields({"name": "N", "link": "ftp://x"}), {"link": [URL_MSG.format("link")]}),
        (
            lambda: v.check_user_fields({"name": "N", "link": "https://x/" + "p" * 3000}),
            {"link": ["The link may not be greater than 3000 characters."]},
        ),
        (
            lambda: v.check_user_fields({"name": "N", "role": "a b"}),
            {"role": ["The role must be 1 to 100 characters of letters, digits, '_' or '-'."]},
        ),
        (
            lambda: v.check_user_fields({"name": "N", "statusMessage": 5}),
            {"statusMessage": ["The statusMessage must be a string of at most 1024 characters."]},
        ),
        (
            lambda: v.check_user_fields({"name": "N", "metadata": []}),
            {"metadata": ["The metadata must be a JSON object."]},
        ),
        (
            lambda: v.check_user_fields({"name": "N", "metadata": {"k": "x" * 5200}}),
            {"metadata": ["The metadata may not be larger than 5120 bytes."]},
        ),
        (
            lambda: v.check_user_fields({"name": "N", "tags": "a"}),
            {"tags": ["The tags must be a list of at most 25 strings."]},
        ),
        (
            lambda: v.check_user_fields({"name": "N", "tags": [""]}),
            {"tags": ["Each tag must be a string of 1 to 100 characters."]},
        ),
        (lambda: v.check_unset(["name"]), {"unset": ["Only avatar, link and metadata can be unset."]}),
        (
            lambda: v.check_auth_token("a.b"),
            {"authToken": ["The authToken must be 1 to 512 characters of letters, digits, '_' or '-'."]},
        ),
        (lambda: v.check_per_page(0), {"perPage": ["perPage must be between 1 and 1000."]}),
        (lambda: v.check_user_status("away"), {"status": ["The status must be 'available' or 'offline'."]}),
    ],
)
def test_a_refusal_names_the_field_and_why(call, details) -> None:
    assert refusal(call) == details


def test_every_length_limit_admits_its_edge_and_refuses_one_more() -> None:
    assert v.check_name("n" * 100) == "n" * 100
    for key in ("avatar", "link"):
        edge = "https://x/" + "p" * (3000 - len("https://x/"))
        assert v.check_user_fields({"name": "N", key: edge})[key] == edge
        refusal(lambda key=key, edge=edge: v.check_user_fields({"name": "N", key: edge + "p"}))
    assert v.check_user_fields({"name": "N", "role": "r" * 100})["role"] == "r" * 100
    refusal(lambda: v.check_user_fields({"name": "N", "role": "r" * 101}))
    assert v.check_user_fields({"name": "N", "statusMessage": "s" * 1024})["statusMessage"] == "s" * 1024
    refusal(lambda: v.check_user_fields({"name": "N", "statusMessage": "s" * 1025}))
    assert v.check_user_fields({"name": "N", "tags": ["t" * 100] * 25})["tags"] == ["t" * 100] * 25
    refusal(lambda: v.check_user_fields({"name": "N", "tags": ["t"] * 26}))
    refusal(lambda: v.check_user_fields({"name": "N", "tags": ["t" * 101]}))
    refusal(lambda: v.check_user_fields({"name": "N", "tags": [5]}))
    padding = 5 * 1024 - len(json.dumps({"k": ""}))
    edge = {"k": "m" * padding}
    assert v.check_user_fields({"name": "N", "metadata": edge})["metadata"] == edge
    refusal(lambda: v.check_user_fields({"name": "N", "metadata": {"k": "m" * (padding + 1)}}))
    for per_page in (1, 1000):
        assert v.check_per_page(per_page) == per_page
    for per_page in (1001, True, 5.0, "5"):
        refusal(lambda per_page=per_page: v.check_per_page(per_page))


def test_profile_fields_come_back_checked_and_in_cometchat_form() -> None:
    assert v.check_user_fields(
        {"name": "N", "link": "http://l.example", "role": "Mod_1", "statusMessage": "", "tags": ("a", "b")}
    ) == {"name": "N", "link": "http://l.example", "role": "mod_1", "statusMessage": "", "tags": ["a", "b"]}
    assert v.check_user_fields({}, require_name=False) == {}
    assert refusal(lambda: v.check_user_fields({})) == {"name": ["The name field is required."]}
    for role in (5, "", "r/x"):
        refusal(lambda role=role: v.check_user_fields({"name": "N", "role": role}))


def test_unset_takes_a_list_or_tuple_of_the_removable_fields_only() -> None:
    assert v.check_unset(("avatar", "link", "metadata")) == ["avatar", "link", "metadata"]
    assert v.check_unset([]) == []
    refusal(lambda: v.check_unset("avatar"))
    refusal(lambda: v.check_unset({"avatar": 1}.keys()))


def test_uid_or_none_is_normalize_uid_without_the_error() -> None:
    assert v.uid_or_none("Alice_1") == v.normalize_uid("Alice_1") == "alice_1"
    for bad in ("a b", "", None, 7, "x" * 101, "\u212a"):  # "\u212a".lower() would be a plain "k"
        assert v.uid_or_none(bad) is None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_the_client_refuses_non_finite_metadata_locally(value) -> None:
    client = CometChatClient(base_url="http://127.0.0.1:9/v3", api_key="k", max_retries=0)  # never reached
    with pytest.raises(ValidationError) as info:
        client.create_user("nan-user", "N", metadata={"x": [value]})
    assert info.value.status is None and "metadata" in info.value.details


def test_the_client_refuses_metadata_nested_too_deep_locally() -> None:
    client = CometChatClient(base_url="http://127.0.0.1:9/v3", api_key="k", max_retries=0)
    deep: dict = {}
    for _ in range(3000):
        deep = {"k": deep}
    with pytest.raises(ValidationError, match="Failed to validate"):
        client.create_user("deep-user", "D", metadata=deep)
