"""A request to the routes as plain data (:class:`Request`), and the checks of what it sent:
JSON only, capped, no NaN or Infinity, every string encodable, no unknown field. Bad bytes end
here as a 4xx and never reach the client or the upstream."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .. import codes
from ..auth import Caller
from .errors import ApiError, bad_request

JSON_MIMETYPE = "application/json"
# The body cap of the routes (MAX_BODY's default): a token request is a few hundred bytes.
DEFAULT_MAX_BODY = 64 * 1024
# Objects and arrays nested deeper than this are refused: a profile's metadata never
# needs more, and deeper values would hit Python's recursion limit further on.
MAX_DEPTH = 32


def body_too_large() -> ApiError:
    return ApiError(413, codes.ERR_BODY_TOO_LARGE, "The request body is too large.")


@dataclass(frozen=True)
class Body:
    """What the caller sent. ``read`` gives its bytes when a rule first needs them, so the rule's
    own order of checks holds (a stranger's uid is refused before the body is even read); a
    host that has the bytes already passes :meth:`of`. ``limit``: bytes past it are a 413."""

    read: Callable[[], bytes]
    mimetype: str = ""
    limit: int | None = DEFAULT_MAX_BODY

    @classmethod
    def of(cls, raw: bytes, mimetype: str = JSON_MIMETYPE, *, limit: int | None = DEFAULT_MAX_BODY) -> Body:
        return cls(lambda: raw, mimetype, limit)

    def raw(self) -> bytes:
        data = self.read()
        if self.limit is not None and len(data) > self.limit:
            raise body_too_large()
        return data


NO_BODY = Body.of(b"", "")


@dataclass(frozen=True)
class Request:
    """One call of a route: who calls (already identified), its body and its query string."""

    caller: Caller
    body: Body = NO_BODY
    query: Mapping[str, str] = field(default_factory=dict)


def _check_values(body: Any) -> None:
    """Refuse strings that cannot be encoded (a lone surrogate such as ``"\\ud800"``) and
    nesting past ``MAX_DEPTH``, without recursion."""
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise bad_request("The request body holds text that is not valid Unicode.") from None
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise bad_request(f"The request body is nested more than {MAX_DEPTH} levels deep.")
            items = list(value.items()) if isinstance(value, dict) else [(None, item) for item in value]
            for key, item in items:
                if key is not None:
                    pending.append((key, depth))
                pending.append((item, depth + 1))


class _NotFinite(ValueError):
    pass


def _no_constant(name: str) -> float:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (Python's parser takes them)."""
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    """A number too big for a float (``1e999``) would become ``inf``: refused as well."""
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def parse_json(raw: bytes) -> Any:
    """Strict JSON: no NaN, no Infinity, no number that overflows a float; every value parsed
    here can be written back as valid JSON."""
    return json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)


def json_value(body: Body) -> Any:
    """The body parsed (an empty body is ``{}``). A body is parsed only when it is sent as
    ``application/json`` (else 415): a browser cannot send that content type cross-site without
    a CORS preflight, so a form or a ``text/plain`` post from another site never acts on a user."""
    raw = body.raw()
    if not raw.strip():
        return {}
    if body.mimetype != JSON_MIMETYPE:
        raise ApiError(415, codes.ERR_UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json.")
    try:
        value = parse_json(raw)
    except _NotFinite:
        raise bad_request("The request body holds a number JSON cannot carry (NaN, Infinity or too big).") from None
    except RecursionError:
        raise bad_request(f"The request body is nested more than {MAX_DEPTH} levels deep.") from None
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON.") from None
    _check_values(value)
    return value


def json_object(body: Body, allowed: frozenset[str], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``), refusing unknown fields."""
    value = json_value(body)
    if not isinstance(value, dict):
        raise bad_request("The request body must be a JSON object.")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise bad_request(f"Unknown field(s): {', '.join(unknown)}.", unknown[0])
    for name in required:
        if value.get(name) in (None, ""):
            raise bad_request(f"The {name} field is required.", name)
    return value


def refuse_body(body: Body, message: str) -> None:
    """For a route that takes no body: anything sent is 400, an empty object too (the errors of
    a body too large or not JSON stay those of :func:`json_object`)."""
    json_object(body, frozenset())
    if body.raw().strip():
        raise bad_request(message)
