"""The upstream section: which CometChat (an app, a base URL, or the embedded emulator), its
REST key, the client's timeouts, the quota window, and the egress (proxy, CA bundle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Self
from urllib.parse import urlparse

from cometchat.budget import DEFAULT_WINDOW_SECONDS
from cometchat.client import (
    APP_ID,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TOTAL_DEADLINE,
    REGIONS,
)

from ..loopback import is_loopback
from .base import Env, Mode
from .egress import check_ca_bundle, check_proxy, redact_proxy

# gunicorn's worker timeout (gunicorn.conf.py reads it from here). The upstream deadline must
# end this much earlier: the deadline is checked between attempts, and one attempt may run on.
WORKER_TIMEOUT = 30
DEADLINE_HEADROOM = 5
CREDENTIAL_VARIABLES = ("COMETCHAT_APP_ID", "COMETCHAT_REGION", "COMETCHAT_API_KEY", "COMETCHAT_BASE_URL")


def uses_emulator(env: Env, mode: Mode) -> bool:
    """``COMETCHAT_EMULATOR=1``, or ``embedded`` mode without any CometChat credential."""
    if env.flag("COMETCHAT_EMULATOR"):
        return True
    return mode == "embedded" and not any(env.text(name) for name in CREDENTIAL_VARIABLES)


def check_base_url(base_url: str, problems: list[str]) -> None:
    """The REST key travels with every request: https, or plain http to this machine only."""
    parsed = urlparse(base_url)
    if not parsed.hostname or parsed.scheme not in ("http", "https"):
        problems.append("COMETCHAT_BASE_URL must be an http(s) URL")
    elif parsed.scheme == "http" and not is_loopback(parsed.hostname):
        problems.append(
            "COMETCHAT_BASE_URL must be an https:// URL (http:// only on localhost, 127.0.0.0/8 or [::1]): "
            "the REST key is sent with every request"
        )


@dataclass(frozen=True)
class UpstreamSettings:
    app_id: str | None = None
    region: str | None = None
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    emulator: bool = False
    # Client timeouts (seconds); the total deadline stays below gunicorn's worker timeout.
    upstream_connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    upstream_read_timeout: float = DEFAULT_READ_TIMEOUT
    upstream_deadline: float = DEFAULT_TOTAL_DEADLINE
    upstream_quota_window: float = DEFAULT_WINDOW_SECONDS
    # Egress: one proxy for every upstream call (may hold a password) and a CA bundle.
    proxy: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, problems: list[str] | None = None, *, mode: Mode = "production"
    ) -> Self:
        """COMETCHAT_* credentials (or the emulator), timeouts, quota window, proxy and CA bundle.
        ``production`` needs credentials or ``COMETCHAT_EMULATOR=1``; ``embedded`` falls back to
        the emulator when no credential is given at all."""
        read = Env(env)
        emulator = uses_emulator(read, mode)
        app_id, api_key = read.text("COMETCHAT_APP_ID"), read.text("COMETCHAT_API_KEY")
        base_url = read.text("COMETCHAT_BASE_URL")
        region = (read.text("COMETCHAT_REGION") or "").lower() or None
        if not emulator:
            _check_credentials(read, app_id, region, api_key, base_url)
        deadline = read.seconds("COMETCHAT_DEADLINE", DEFAULT_TOTAL_DEADLINE)
        if deadline >= WORKER_TIMEOUT - DEADLINE_HEADROOM:
            read.problem(
                f"COMETCHAT_DEADLINE must stay below {WORKER_TIMEOUT - DEADLINE_HEADROOM} s "
                f"({DEADLINE_HEADROOM} s below gunicorn's {WORKER_TIMEOUT} s worker timeout)"
            )
        section = cls(
            app_id=app_id,
            region=region,
            api_key=api_key,
            base_url=base_url,
            emulator=emulator,
            upstream_connect_timeout=read.seconds("COMETCHAT_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT),
            upstream_read_timeout=read.seconds("COMETCHAT_READ_TIMEOUT", DEFAULT_READ_TIMEOUT),
            upstream_deadline=deadline,
            upstream_quota_window=read.seconds("COMETCHAT_QUOTA_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS),
            proxy=check_proxy(read.text("COMETCHAT_PROXY"), read.problems),
            ca_bundle=check_ca_bundle(read.text("COMETCHAT_CA_BUNDLE"), read.problems),
        )
        return read.finish(section, problems)

    @property
    def backend_label(self) -> str:
        if self.emulator:
            return "the embedded CometChat emulator"
        label = self.base_url or f"CometChat app {self.app_id} ({self.region})"
        egress = [f"via proxy {redact_proxy(self.proxy)}"] if self.proxy else []
        egress += [f"trusting the CAs in {self.ca_bundle}"] if self.ca_bundle else []
        return " ".join([label, *egress])


def _check_credentials(
    read: Env, app_id: str | None, region: str | None, api_key: str | None, base_url: str | None
) -> None:
    missing = [] if api_key else ["COMETCHAT_API_KEY"]
    if not base_url:
        missing += [name for name, value in (("COMETCHAT_APP_ID", app_id), ("COMETCHAT_REGION", region)) if not value]
    if missing:
        read.problem(
            f"missing {', '.join(missing)} (CometChat credentials; or set COMETCHAT_EMULATOR=1 to use the emulator)"
        )
    if region and region not in REGIONS:
        read.problem(f"COMETCHAT_REGION must be one of {', '.join(REGIONS)} (got {region!r})")
    if base_url:
        check_base_url(base_url, read.problems)
    elif app_id and not APP_ID.fullmatch(app_id):
        read.problem(f"COMETCHAT_APP_ID must be letters and digits only (got {app_id!r})")
