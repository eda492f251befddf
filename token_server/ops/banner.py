"""What ``python server.py`` prints at start: one block saying what runs, where, on which
upstream, in which mode, and (in dev mode) where the demo page is and how to get a test JWT.
The README shows the default block verbatim; a test holds the two together."""

from __future__ import annotations

from ..config import Settings
from ..dev.devjwt import DEV_JWT_PATH

EXAMPLE_UID = "alice"


def startup_block(settings: Settings, url: str) -> str:
    upstream = settings.backend_label + (" (in this process, no network)" if settings.emulator else "")
    lines = [
        "CometChat token server",
        f"  listening  {url} (this machine only)",
        f"  upstream   {upstream}",
    ]
    if settings.dev:
        lines.append(f"  mode       DEV MODE ({settings.dev_reason}): callers are NOT authenticated;")
        lines.append("             never expose this server")
        lines.append(f"  demo page  {url}/")
        if not settings.has_caller_auth:
            lines.append(
                f"  test JWT   curl -X POST {url}{DEV_JWT_PATH} -H 'Content-Type: application/json' "
                f'-d \'{{"uid": "{EXAMPLE_UID}"}}\''
            )
    else:
        lines.append("  mode       callers authenticate (service key or user JWT)")
    lines.append("  stop       Ctrl+C")
    return "\n".join(lines)
