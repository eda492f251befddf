"""The emulator without a socket: any non-empty key when none is configured, its quota windows, the command line's refusals, fault settings that are not numbers, and that it never imports the client's beliefs."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from cometchat.emulator import EmulatorState, Quota, create_emulator_app


def test_any_non_empty_key_when_none_configured() -> None:
    from werkzeug.test import Client

    app = create_emulator_app(EmulatorState())
    assert Client(app).get("/v3/users/cometchat-uid-1", headers={"apikey": "anything"}).status_code == 200
    assert Client(app).get("/v3/users/cometchat-uid-1").status_code == 401


def test_the_emulator_never_imports_the_clients_beliefs() -> None:
    import ast
    from pathlib import Path

    import cometchat.emulator

    package = Path(cometchat.emulator.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name} imports from the client package: {ast.unparse(node)}"
                assert not (node.module or "").startswith("cometchat"), f"{path.name}: {ast.unparse(node)}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("cometchat") for a in node.names), f"{path.name}"


def test_quota_windows_reset_on_the_minute() -> None:
    now = [120.25]
    quota = Quota({"core": 2}, clock=lambda: now[0])
    first, second, third = (quota.take("core") for _ in range(3))
    assert (first.allowed, second.allowed, third.allowed) == (True, True, False)
    assert (first.remaining, second.remaining, third.remaining) == (1, 0, 0)
    assert third.reset_at == 180 and third.retry_after == 60  # ceil(179.75 s) to the window's end
    assert third.headers()["Retry-After"] == "60" and third.headers()["X-RateLimit-Reset"] == "180"
    assert "Retry-After" not in first.headers()
    assert quota.take("other").allowed  # buckets are counted apart
    now[0] = 180.0
    assert quota.take("core").allowed


def test_a_shorter_minute_keeps_the_ratio() -> None:
    now = [10.0]
    quota = Quota({"import": 3}, minute_seconds=2.0, clock=lambda: now[0])
    assert [quota.take("import").allowed for _ in range(4)] == [True, True, True, False]
    assert quota.take("import").reset_at == 12
    now[0] = 12.0
    assert quota.take("import").allowed


def test_a_short_minute_resets_the_import_pace() -> None:
    """Over the emulator's HTTP surface, on an injected clock: refused in its window, served in the next."""
    now = [1000.25]
    state = EmulatorState(import_per_minute=1, minute_seconds=1)
    state.quota = Quota(dict(state.quota.limits), minute_seconds=1, clock=lambda: now[0])
    http = Client(create_emulator_app(state))

    def post(uid: str):
        return http.post("/v3/data_import/users", json={"users": {uid: {"name": "S"}}}, headers={"apikey": "k"})

    assert post("short-0").status_code == 200
    refused = post("short-1")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.headers["X-RateLimit-Reset"] == "1001"
    now[0] = 1001.0  # the reset the answer named
    assert post("short-after").status_code == 200


def test_the_command_line_refuses_a_minute_of_no_length() -> None:
    from cometchat.emulator.__main__ import parse_args

    assert parse_args(["--minute-seconds", "0.5"]).minute_seconds == 0.5
    with pytest.raises(SystemExit):
        parse_args(["--minute-seconds", "0"])


@pytest.mark.parametrize(
    "settings",
    [
        {"queue": [{"kind": "status", "status": 429, "retry_after": "NaN"}]},
        {"queue": [{"kind": "status", "status": 429, "retry_after": "inf"}]},
        {"queue": [{"kind": "status", "status": 429, "retry_after": -1}]},
        {"queue": [{"kind": "hang", "seconds": "Infinity"}]},
        {"queue": [{"kind": "drip", "interval_ms": "nan"}]},
        {"queue": [{"kind": "status", "status": 200}]},
        {"queue": [{"kind": "status", "status": 1000}]},
        {"latency_ms": "inf"},
        {"minute_seconds": "nan"},
        {"queue": [{"kind": "status", "status": 429, "headers": {"X-Bad": "a\r\nSet-Cookie: x"}}]},
        {"queue": [{"kind": "status", "status": 429, "headers": {"Bad Name": "1"}}]},
        {"queue": [{"kind": "status", "status": 429, "headers": {"X-RateLimit-Remaining": 0}}]},
        {"queue": [{"kind": "status", "status": 429, "headers": ["Retry-After", "1"]}]},
    ],
)
def test_fault_settings_that_are_not_finite_numbers_are_400_and_change_nothing(settings) -> None:
    from werkzeug.test import Client

    state = EmulatorState()
    http = Client(create_emulator_app(state))
    answer = http.post("/_emulator/faults", json=settings)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert len(state.faults) == 0 and state.latency == 0
    after = http.get("/v3/users/cometchat-uid-1", headers={"apikey": "k"})
    assert after.status_code == 200 and after.is_json
