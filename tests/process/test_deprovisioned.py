"""Deprovisioning with a real Redis: servers sharing it share the tombstones, and the CLI writes
and ends the same ones."""

from __future__ import annotations

from tests.helpers import app_env, as_user, service
from tests.http.test_deprovisioned import MINT, UID, delete, server
from tests.stores import running_redis
from token_server import create_app


def test_servers_sharing_a_redis_share_the_tombstones(tmp_path) -> None:
    with running_redis(tmp_path) as url:
        _, deleting, _ = server(SESSION_STORE_URI=url)
        _, other, _ = server(SESSION_STORE_URI=url)
        delete(deleting, permanent=True)
        assert other.post(MINT, headers=as_user(UID)).status_code == 404
        created = other.post("/api/cometchat/users", json={"uid": UID, "name": "Back"}, headers=service())
        assert created.status_code == 201
        assert deleting.post(MINT, headers=as_user(UID)).status_code == 200  # ended for the fleet


def test_the_cli_writes_and_ends_the_same_tombstones(emulator, tmp_path) -> None:
    """An operator's `users delete` refuses the server's logins like the route's DELETE; its
    `users create` / `users reactivate` end the tombstone (else a reactivated user could not log
    in for DEPROVISION_RETENTION)."""
    from click.testing import CliRunner

    from tests.process.test_cli import NO_CONFIG, SKIP_DOTENV
    from tests.procs import EMULATOR_KEY
    from token_server.cli import cli

    uri = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    env = {**NO_CONFIG, **SKIP_DOTENV, "COMETCHAT_BASE_URL": emulator.base_url, "COMETCHAT_API_KEY": EMULATOR_KEY}
    env["SESSION_STORE_URI"] = uri

    def run(*args: str) -> int:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False).exit_code

    http = create_app(
        app_env(
            COMETCHAT_EMULATOR=None,
            COMETCHAT_BASE_URL=emulator.base_url,
            COMETCHAT_API_KEY=EMULATOR_KEY,
            SESSION_STORE_URI=uri,
        )
    ).test_client()
    assert http.post(MINT, headers=as_user(UID)).status_code == 200
    assert run("users", "delete", UID, "--yes") == 0
    assert http.post(MINT, headers=as_user(UID)).status_code == 404
    assert run("users", "create", UID, "--name", "Back") == 0
    assert http.post(MINT, headers=as_user(UID)).status_code == 200
    assert run("users", "deactivate", UID) == 0
    assert http.post(MINT, headers=as_user(UID)).status_code == 404
    assert run("users", "reactivate", UID) == 0
    assert http.post(MINT, headers=as_user(UID)).status_code == 200
