"""``python -m cometchat.emulator``: the emulator alone, under gunicorn, in one process."""

from __future__ import annotations

import argparse
import os

from flask import Flask
from gunicorn.app.base import BaseApplication

from .api import create_emulator_app
from .quota import CORE, DEFAULT_LIMITS, IMPORT, MINUTE_SECONDS, OTHER
from .state import EmulatorState
from .webhooks import ENV_URL, WebhookConfig


class _StandaloneServer(BaseApplication):
    """gunicorn, one process (the state lives in it), threads, HTTP/1.1 keep-alive."""

    def __init__(self, app: Flask, bind: str, threads: int, tls: tuple[str, str] | None = None) -> None:
        self._app, self._bind, self._threads, self._tls = app, bind, threads, tls
        super().__init__()

    def load_config(self) -> None:
        settings = {
            "bind": self._bind,
            "workers": 1,
            "worker_class": "gthread",
            "threads": self._threads,
            "keepalive": 75,  # idle keep-alive connections end, as a load balancer's would
            "timeout": 600,  # injected hangs and drips must not kill the worker
            "graceful_timeout": 2,
            "accesslog": None,
            "loglevel": "warning",
            "control_socket_disable": True,
        }
        if self._tls is not None:  # HTTPS, as CometChat itself: a test upstream over TLS
            settings["certfile"], settings["keyfile"] = self._tls
        for key, value in settings.items():
            if key in self.cfg.settings:  # control_socket_disable: newer gunicorns only (older: no socket)
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the CometChat v3 emulator alone.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument(
        "--api-key",
        default=os.environ.get("COMETCHAT_API_KEY") or None,
        help="the accepted REST key (default: $COMETCHAT_API_KEY; none: any non-empty key)",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every REST call")
    parser.add_argument(
        "--connect-delay-ms",
        type=float,
        default=0.0,
        help="added once per new connection (stands for TCP + TLS set-up)",
    )
    parser.add_argument(
        "--rate-limit", type=int, default=None, help="sets both the core and the other per-minute quota"
    )
    parser.add_argument(
        "--core-per-minute",
        type=int,
        default=None,
        help=f"create/delete user and mint token calls a minute (default {DEFAULT_LIMITS[CORE]})",
    )
    parser.add_argument(
        "--other-per-minute",
        type=int,
        default=None,
        help=f"every other REST call a minute (default {DEFAULT_LIMITS[OTHER]})",
    )
    parser.add_argument(
        "--import-per-minute",
        type=int,
        default=None,
        help=f"data import requests a minute (default {DEFAULT_LIMITS[IMPORT]})",
    )
    parser.add_argument(
        "--minute-seconds",
        type=float,
        default=MINUTE_SECONDS,
        help="the length of a quota window: shorten it to run a benchmark faster at the same ratio",
    )
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--certfile", help="serve HTTPS with this PEM certificate (chain); needs --keyfile")
    parser.add_argument("--keyfile", help="the PEM private key of --certfile")
    args = parser.parse_args(argv)
    if args.minute_seconds <= 0:
        parser.error("--minute-seconds must be positive")
    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together")
    for name in ("certfile", "keyfile"):
        path = getattr(args, name)
        if path and not os.access(path, os.R_OK):
            parser.error(f"--{name} {path}: not a readable file")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        webhooks = WebhookConfig.from_env(os.environ)
    except ValueError as exc:
        raise SystemExit(f"{ENV_URL}: {exc}") from exc
    state = EmulatorState(
        api_keys=[args.api_key] if args.api_key else None,
        rate_limit_per_minute=args.rate_limit,
        core_per_minute=args.core_per_minute,
        other_per_minute=args.other_per_minute,
        import_per_minute=args.import_per_minute,
        minute_seconds=args.minute_seconds,
        latency=args.latency_ms / 1000.0,
        connect_delay=args.connect_delay_ms / 1000.0,
        webhooks=webhooks,
    )
    app = create_emulator_app(state)
    tls = (args.certfile, args.keyfile) if args.certfile else None
    scheme = "https" if tls else "http"
    print(
        f"CometChat emulator on {scheme}://{args.host}:{args.port}/v3 "
        f"({'one REST key' if args.api_key else 'any non-empty REST key'}"
        f"{'; webhooks to ' + webhooks.url if webhooks else ''})",
        flush=True,
    )
    _StandaloneServer(app, f"{args.host}:{args.port}", args.threads, tls).run()


if __name__ == "__main__":
    main()
