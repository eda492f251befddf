"""The demo login page (dev mode only): the documented CometChat login flow, end to end.

Live mode loads the official SDK at a pinned version with a subresource-integrity hash;
emulator mode loads a small stand-in with the same surface (``static/cometchat-standin.js``)
that logs in against the embedded emulator. The REST key never reaches the page.
The page signs in through ``static/cometchat-session.js`` (served at ``/static/cometchat-session.js``
for front ends to copy), and signs the Calls SDK v5 in with the same token: offline the stand-in's,
live only when ``COMETCHAT_CALLS_SDK_URL`` and its integrity hash are set.
Offline means offline: in emulator mode the page loads nothing from another host, not even
an avatar (it shows initials), and its Content-Security-Policy says so.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template, send_from_directory

from cometchat.emulator import TEST_USERS

from ..config import Settings
from ..dev import devtrace
from ..dev.devjwt import DEV_JWT_PATH
from ..pipeline import URL_PREFIX

SDK_VERSION = "4.2.0"
SDK_URL = f"https://unpkg.com/@cometchat/chat-sdk-javascript@{SDK_VERSION}/CometChat.js"
# sha384 of CometChat.js in the npm tarball of @cometchat/chat-sdk-javascript@4.2.0 (the
# exact bytes unpkg serves); recompute when SDK_VERSION changes.
SDK_INTEGRITY = "sha384-T04ptml56Svi+//wMNdJvT+Fa8gC/WoUYjV3hehep92xWVkvbMGFtVviry0BsxJc"
SESSION_MODULE = "cometchat-session.js"
SESSION_MODULE_PATH = f"/static/{SESSION_MODULE}"
TEST_UIDS = tuple(uid for uid, _name, _avatar in TEST_USERS)
# Where CometChat serves its sample users' avatars: the one image host live mode may show.
AVATAR_HOST = "data-us.cometchat.io"


def content_security_policy(live: bool, calls_sdk_url: str | None = None) -> str:
    # The SDKs' exact URLs, not their hosts: unpkg serves every npm package.
    scripts = f"'self' {SDK_URL}" if live else "'self'"
    if live and calls_sdk_url:
        scripts += f" {calls_sdk_url}"
    connect = "'self' https://*.cometchat.io wss://*.cometchat.io" if live else "'self'"
    # Exactly the images each mode shows: offline, initials and our own files only.
    images = f"'self' data: https://{AVATAR_HOST}" if live else "'self' data:"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {scripts}",
            f"connect-src {connect}",
            f"img-src {images}",
            "style-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def create_demo_blueprint(settings: Settings, *, emulator_url: str, webhook_trace: str | None = None) -> Blueprint:
    """``webhook_trace``: where the page hears the webhooks the server received (None: it does not)."""
    here = Path(__file__).resolve().parent.parent  # token_server/: templates/ and static/ stay at its root
    bp = Blueprint(
        "demo",
        __name__,
        template_folder=str(here / "templates"),
        static_folder=str(here / "static"),
        static_url_path="/demo/static",
    )
    live = not settings.emulator
    calls_sdk_url = settings.calls_sdk_url if live else None
    page_config = {
        "mode": "live" if live else "emulator",
        "appId": settings.app_id or "emulator",
        "region": settings.region or "us",
        "emulatorUrl": None if live else emulator_url,
        "apiBase": URL_PREFIX,
        # The production path's stand-in for an identity provider: a short-lived test JWT.
        "devJwtRoute": DEV_JWT_PATH,
        "traceHeader": devtrace.HEADER,
        "webhookTrace": webhook_trace,
        "imageHosts": [AVATAR_HOST] if live else [],
        "testUids": list(TEST_UIDS),
        # Live mode signs the Calls SDK v5 in only when the operator named a build to load.
        "callsSdk": "standin" if not live else ("loaded" if calls_sdk_url else "not-configured"),
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
            calls_sdk_url=calls_sdk_url,
            calls_sdk_integrity=settings.calls_sdk_integrity,
            backend=settings.backend_label if live else "the embedded emulator",
        )
        response = Response(html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = content_security_policy(live, calls_sdk_url)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @bp.get(SESSION_MODULE_PATH)
    def session_module() -> Response:
        # The browser half of the login, at a stable address a front end can copy it from.
        response = send_from_directory(str(bp.static_folder), SESSION_MODULE, mimetype="text/javascript")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @bp.get("/favicon.ico")
    def favicon() -> Response:
        return send_from_directory(str(bp.static_folder), "favicon.ico", mimetype="image/vnd.microsoft.icon")

    return bp
