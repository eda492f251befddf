"""``cometchat-token-server webhooks dead-letters / replay`` on the server's SQLite file, and the
webhooks section of the configuration (refusals at start, naming the variable)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.process.test_cli import NO_CONFIG, SKIP_DOTENV
from tests.webhook_support import CREDENTIALS, body, message_sent
from token_server.cli import cli
from token_server.config import ConfigError, load_settings
from token_server.webhooks import Handlers, WebhookWorker
from token_server.webhooks.store_sqlite import SqliteEventStore


@pytest.fixture
def sqlite_store(tmp_path):
    path = tmp_path / "device-sessions.sqlite3"
    env = {**NO_CONFIG, **SKIP_DOTENV, "COMETCHAT_EMULATOR": "1", "SESSION_STORE_URI": f"sqlite:///{path}"}

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return SqliteEventStore(path), invoke


def bury(store, *numbers: int) -> None:
    hooks = Handlers()
    hooks.on_any(lambda e: 1 / 0)
    from token_server.webhooks.store import QueuedEvent

    for n in numbers:
        store.enqueue(f"k{n}", QueuedEvent(f"id-{n}", "message_sent", body(message_sent(str(n), "secret text")), 1.0))
    WebhookWorker(store, hooks, max_attempts=1).drain()


def test_dead_letters_lists_them_without_their_payloads(sqlite_store) -> None:
    store, run = sqlite_store
    bury(store, 1, 2)
    listed = run("webhooks", "dead-letters", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [row["id"] for row in rows] == ["id-1", "id-2"]
    assert rows[0]["trigger"] == "message_sent" and rows[0]["attempts"] == 1
    assert "ZeroDivisionError" in rows[0]["error"]
    table = run("webhooks", "dead-letters")
    assert "id-1" in table.stdout and "secret text" not in table.stdout + listed.stdout


def test_replay_one_then_all(sqlite_store) -> None:
    store, run = sqlite_store
    bury(store, 1, 2, 3)
    one = run("webhooks", "replay", "id-2")
    assert one.exit_code == 0 and "id-2" in one.stdout
    assert store.dead_count() == 2 and store.depth() == 1
    rest = run("webhooks", "replay", "--all", "--json")
    assert rest.exit_code == 0 and sorted(json.loads(rest.stdout)["replayed"]) == ["id-1", "id-3"]
    assert store.dead_count() == 0 and store.depth() == 3


def test_replay_of_an_unknown_id_fails_and_usage_is_checked(sqlite_store) -> None:
    _, run = sqlite_store
    assert run("webhooks", "replay", "nope").exit_code == 1
    assert run("webhooks", "replay").exit_code == 2
    assert run("webhooks", "replay", "id-1", "--all").exit_code == 2


def test_a_memory_store_is_refused_by_the_cli() -> None:
    env = {**NO_CONFIG, **SKIP_DOTENV, "COMETCHAT_EMULATOR": "1", "SESSION_STORE_URI": "memory://"}
    result = CliRunner().invoke(cli, ["webhooks", "dead-letters"], env=env)
    assert result.exit_code == 2 and "memory" in result.output


# ---- configuration ---------------------------------------------------------------------------

BASE = {"COMETCHAT_EMULATOR": "1", "TOKEN_SERVER_DEV": "1"}


def problems(**env: str) -> str:
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, **env})
    return str(refused.value)


def test_one_or_two_pairs_are_taken() -> None:
    one = load_settings({**BASE, "WEBHOOK_CREDENTIALS": CREDENTIALS})
    assert one.webhook_credentials == (("cometchat", "abcdefghijklmnop1234"),)
    two = load_settings({**BASE, "WEBHOOK_CREDENTIALS": f" {CREDENTIALS} , next:{'z' * 16} "})
    assert len(two.webhook_credentials) == 2
    assert "abcdefghijklmnop1234" in two.secrets  # masked in the logs
    assert load_settings(BASE).webhook_credentials is None


@pytest.mark.parametrize(
    "value, words",
    [
        ("justauser", "user:password"),
        ("user:short", "at least 16"),
        ("us er:abcdefghijklmnop1234", "alphanumeric"),
        ("user:abcdefghijklmnop-234", "alphanumeric"),
        (f"a:{'x' * 16},b:{'y' * 16},c:{'z' * 16}", "at most 2"),
        (",", "one or two"),
    ],
)
def test_bad_credentials_are_refused_naming_the_variable_never_the_password(value, words) -> None:
    message = problems(WEBHOOK_CREDENTIALS=value)
    assert "WEBHOOK_CREDENTIALS" in message and words in message
    assert "abcdefghijklmnop" not in message


def test_a_bad_handler_path_refuses_the_start_naming_it() -> None:
    for path, words in [
        ("tests.no_such_module:record", "cannot import tests.no_such_module"),
        ("tests.webhook_handlers:nothing_here", "has no function nothing_here"),
        ("not a path", "is not package.module:function"),
    ]:
        message = problems(WEBHOOK_CREDENTIALS=CREDENTIALS, WEBHOOK_HANDLER=path)
        assert "WEBHOOK_HANDLER" in message and words in message
    assert load_settings({**BASE, "WEBHOOK_CREDENTIALS": CREDENTIALS, "WEBHOOK_HANDLER": "tests.webhook_handlers:record"})


def test_a_handler_without_credentials_is_refused() -> None:
    assert "WEBHOOK_CREDENTIALS is not" in problems(WEBHOOK_HANDLER="tests.webhook_handlers:record")


def test_events_in_memory_only_with_the_emulator() -> None:
    live = {"COMETCHAT_APP_ID": "app1", "COMETCHAT_REGION": "us", "COMETCHAT_API_KEY": "k" * 20}
    env = {**live, "TOKEN_SERVER_DEV": "1", "WEBHOOK_CREDENTIALS": CREDENTIALS, "SESSION_STORE_URI": "memory://"}
    with pytest.raises(ConfigError) as refused:
        load_settings(env)
    assert "outlives the process" in str(refused.value)
    assert load_settings({**env, "SESSION_STORE_URI": "sqlite:///x.sqlite3"}).webhook_credentials
