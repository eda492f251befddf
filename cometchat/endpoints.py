"""Every CometChat endpoint this package calls, in one table.

An ``Endpoint`` knows its method, its path template, the quota bucket CometChat counts it
in and its caps; the clients call the transport with an endpoint and its parameters, and
the URL, the metrics label, the budget's bucket and the log form are all read from here,
never parsed back out of a URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import quote

# The quota buckets CometChat counts calls in (docs/cometchat-api.md): creating or deleting a
# user and minting a token are "core", data import apart, everything else "other".
CORE = "core"
OTHER = "other"
IMPORT = "import"
REGIONS = ("us", "eu", "in")
# CometChat app ids are letters and digits; the id becomes the first label of the host name,
# so anything else ("evil.example/#") could point the REST key at another host.
APP_ID = re.compile(r"[A-Za-z0-9]{1,63}")
# CometChat's caps: users a data-import request carries, uids a reactivate call takes.
MAX_IMPORT_USERS = 50
MAX_REACTIVATE_UIDS = 25
# CometChat's cap on one push token's length.
MAX_PUSH_TOKEN = 4096
# Path parameters that are credentials (a push token addresses a device): never logged, never a label.
SECRET_PARAMS = frozenset({"authToken", "pushToken"})
_PARAM = re.compile(r"\{([A-Za-z]+)\}")


def default_base_url(app_id: str, region: str) -> str:
    if not APP_ID.fullmatch(app_id):
        raise ValueError("app_id must be 1 to 63 letters and digits")
    return f"https://{app_id}.api-{region}.cometchat.io/v3"


def resolve_base_url(app_id: str | None, region: str | None, base_url: str | None) -> str:
    """``base_url`` as given, else the app's regional API host (both clients)."""
    if base_url is not None:
        return base_url.rstrip("/")
    if not app_id or not region:
        raise ValueError("app_id and region are required unless base_url is given")
    if region not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}")
    return default_base_url(app_id, region)


def segment(value: str) -> str:
    """Percent-encode one path segment so that it stays exactly one segment: nothing is
    safe, not even '/', and '.' becomes %2E (servers drop '.' and '..' segments)."""
    if not value:
        raise ValueError("an empty path segment would change the path's shape")
    return quote(value, safe="").replace(".", "%2E")


def path(*segments: str) -> str:
    """A CometChat path from raw segments, each percent-encoded on its own."""
    return "".join("/" + segment(part) for part in segments)


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    template: str  # "/users/{uid}/auth_tokens"
    bucket: str  # the quota bucket: CORE, OTHER or IMPORT
    cap: int | None = None  # the most items one call may carry

    @property
    def label(self) -> str:
        """``POST /users/{uid}/auth_tokens``: the form metrics, traces and logs show."""
        return f"{self.method} {self.template}"

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(_PARAM.findall(self.template))

    def path(self, params: Mapping[str, str] | None = None) -> str:
        """The path with every parameter percent-encoded as one segment."""
        return self._fill(params or {}, hide=False)

    def loggable(self, params: Mapping[str, str] | None = None) -> str:
        """The path as a log line may show it: a token parameter is ``***``."""
        return self._fill(params or {}, hide=True)

    def _fill(self, params: Mapping[str, str], *, hide: bool) -> str:
        if set(params) != set(self.params):
            raise ValueError(f"{self.name} takes the path parameters {', '.join(self.params) or 'none'}")

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            return "***" if hide and name in SECRET_PARAMS else segment(params[name])

        return _PARAM.sub(value, self.template)


CREATE_USER = Endpoint("create_user", "POST", "/users", CORE)
LIST_USERS = Endpoint("list_users", "GET", "/users", OTHER)
REACTIVATE_USERS = Endpoint("reactivate_users", "PUT", "/users", OTHER, cap=MAX_REACTIVATE_UIDS)
GET_USER = Endpoint("get_user", "GET", "/users/{uid}", OTHER)
UPDATE_USER = Endpoint("update_user", "PUT", "/users/{uid}", OTHER)
DELETE_USER = Endpoint("delete_user", "DELETE", "/users/{uid}", CORE)
MINT_TOKEN = Endpoint("mint_token", "POST", "/users/{uid}/auth_tokens", CORE)
LIST_TOKENS = Endpoint("list_tokens", "GET", "/users/{uid}/auth_tokens", OTHER)
FLUSH_TOKENS = Endpoint("flush_tokens", "DELETE", "/users/{uid}/auth_tokens", OTHER)
GET_TOKEN = Endpoint("get_token", "GET", "/users/{uid}/auth_tokens/{authToken}", OTHER)
DELETE_TOKEN = Endpoint("delete_token", "DELETE", "/users/{uid}/auth_tokens/{authToken}", OTHER)
IMPORT_USERS = Endpoint("import_users", "POST", "/data_import/users", IMPORT, cap=MAX_IMPORT_USERS)
# Push notifications: registrations are tied to an auth token (the REST key still authenticates).
REGISTER_PUSH_TOKEN = Endpoint("register_push_token", "POST", "/notifications/push/v1/tokens", OTHER)
LIST_PUSH_TOKENS = Endpoint("list_push_tokens", "GET", "/notifications/push/v1/tokens", OTHER)
DELETE_PUSH_TOKEN = Endpoint("delete_push_token", "DELETE", "/notifications/push/v1/tokens/{pushToken}", OTHER)

ENDPOINTS: tuple[Endpoint, ...] = (
    CREATE_USER,
    LIST_USERS,
    REACTIVATE_USERS,
    GET_USER,
    UPDATE_USER,
    DELETE_USER,
    MINT_TOKEN,
    LIST_TOKENS,
    FLUSH_TOKENS,
    GET_TOKEN,
    DELETE_TOKEN,
    IMPORT_USERS,
    REGISTER_PUSH_TOKEN,
    LIST_PUSH_TOKENS,
    DELETE_PUSH_TOKEN,
)
