"""The demo login page (dev mode only): the documented CometChat login flow, end to end.

Live mode loads the official SDK at a pinned version with a subresource-integrity hash;
emulator mode loads a small stand-in with the same surface (``static/cometchat-standin.js``)
that logs in against the embedded emulator. The REST key never reaches the page.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template

from cometchat.emulator import TEST_USERS

from .config import Settings

SDK_VERSION = "4.2.0"
SDK_URL = f"https://unpkg.com/@cometchat/chat-sdk-javascript@{SDK_VERSION}/CometChat.js"
# sha384 of CometChat.js in the npm tarball of @cometchat/chat-sdk-javascript@4.2.0 (the
# exact bytes unpkg serves); recompute when SDK_VERSION changes.
SDK_INTEGRITY = "sha384-T04ptml56Svi+//wMNdJvT+Fa8gC/WoUYjV3hehep92xWVkvbMGFtVviry0BsxJc"
TEST_UIDS = tuple(uid for uid, _name, _avatar in TEST_USERS)


def content_security_policy(live: bool) -> str:
    # The SDK's exact URL, not its host: unpkg serves every npm package.
    scripts = f"'self' {SDK_URL}" if live else "'self'"
    connect = "'self' https://*.cometchat.io wss://*.cometchat.io" if live else "'self'"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {scripts}",
            f"connect-src {connect}",
            "img-src 'self' data: https:",
            "style-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def create_demo_blueprint(settings: Settings, *, emulator_url: str) -> Blueprint:
    here = Path(__file__).resolve().parent
    bp = Blueprint(
        "demo",
        __name__,
        template_folder=str(here / "templates"),
        static_folder=str(here / "static"),
        static_url_path="/demo/static",
    )
    live = not settings.emulator
    page_config = {
        "mode": "live" if live else "emulator",
        "appId": settings.app_id or "emulator",
        "region": settings.region or "us",
        "emulatorUrl": None if live else emulator_url,
        "apiBase": "/api/cometchat",
        "testUids": list(TEST_UIDS),
    }

    @bp.get("/")
    def index() -> Response:
        html = render_template(
            "index.html",
            config=page_config,
            live=live,
            sdk_url=SDK_URL,
            sdk_integrity=SDK_INTEGRITY,
            sdk_version=SDK_VERSION,
            backend=settings.backend_label if live else "the embedded emulator",
        )
        response = Response(html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = content_security_policy(live)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return bp
