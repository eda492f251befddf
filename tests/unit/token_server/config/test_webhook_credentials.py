"""The embedded default's generated webhook pair (token_server/config/webhooks.py): asked for
only by ``python server.py`` on the emulator in dev mode, new at each start, held to
``WEBHOOK_CREDENTIALS``' rules, never shown, never replacing the operator's pair."""

from __future__ import annotations

import pytest

from tests.helpers import SERVICE_KEY
from token_server.config import Settings, load_settings
from token_server.config.webhooks import GENERATED_USER, parse_credentials
from token_server.ops.banner import startup_block


def embedded(env: dict[str, str] | None = None):
    return load_settings(env or {}, mode="embedded")


def test_the_embedded_default_asks_for_a_pair_and_each_start_makes_a_new_one() -> None:
    settings = embedded()
    assert settings.webhook_dev_credentials and settings.webhook_credentials is None
    first, second = settings.with_dev_credentials(), settings.with_dev_credentials()
    [(user, password)] = first.webhook_credentials
    assert user == GENERATED_USER and password.isalnum() and len(password) >= 16
    assert parse_credentials(f"{user}:{password}") == first.webhook_credentials  # WEBHOOK_CREDENTIALS' rules
    assert second.webhook_credentials != first.webhook_credentials
    # Never shown: masked in the logs, out of the settings' repr and the start-up block.
    assert password in first.secrets
    assert password not in repr(first)
    assert password not in startup_block(first, "http://127.0.0.1:3000")


def test_embedded_with_caller_auth_is_not_dev_and_generates_nothing() -> None:
    settings = embedded({"TOKEN_SERVER_API_KEYS": SERVICE_KEY})
    assert not settings.dev and not settings.webhook_dev_credentials


def test_a_handler_may_be_named_without_credentials_in_the_embedded_default() -> None:
    # The generated pair reaches it; in production the same is a start-up refusal.
    handler = {"WEBHOOK_HANDLER": "tests.webhook_handlers:record"}
    assert embedded(handler).webhook_handler == "tests.webhook_handlers:record"
    with pytest.raises(Exception, match="WEBHOOK_CREDENTIALS is not"):
        load_settings({"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1", **handler})


def test_a_pair_set_by_hand_is_never_replaced() -> None:
    settings = Settings(emulator=True, dev=True, webhook_dev_credentials=True, webhook_credentials=(("a", "b" * 16),))
    assert settings.with_dev_credentials().webhook_credentials == (("a", "b" * 16),)
