"""The client's value types; here the one ``Profile`` that the client, the routes and the
import share."""

from __future__ import annotations

import inspect

from cometchat import CometChatClient, Profile
from token_server import routes
from token_server.user_import import rows

FULL = {
    "name": "Ada",
    "avatar": "https://cdn.example/a.png",
    "link": "https://example.com/ada",
    "role": "pro",
    "metadata": {"plan": "pro"},
    "tags": ["early"],
}


def test_profile_fields_are_cometchats_own_names() -> None:
    assert Profile.FIELDS == ("name", "avatar", "link", "role", "metadata", "tags")


def test_a_body_round_trips_and_unset_fields_are_left_out() -> None:
    assert Profile.from_api({**FULL, "uid": "ada", "other": 1}).to_api() == FULL
    assert Profile.from_api({"name": "Ada", "tags": None}).to_api() == {"name": "Ada"}
    assert Profile().to_api() == {}


def test_kwargs_fit_the_clients_create_and_update() -> None:
    kwargs = Profile.from_api(FULL).kwargs()
    for method in (CometChatClient.create_user, CometChatClient.update_user):
        inspect.signature(method).bind(None, "ada", **kwargs)  # raises if a name does not fit
    assert kwargs["metadata"] == {"plan": "pro"} and Profile(name="x").kwargs()["avatar"] is None


def test_the_routes_and_the_import_take_exactly_the_profile_fields() -> None:
    assert routes.CREATE_FIELDS == {"uid", *Profile.FIELDS}
    assert routes.UPDATE_FIELDS == set(Profile.FIELDS)
    assert rows.PROFILE_KEYS == Profile.FIELDS
