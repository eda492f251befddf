"""Reading a request body: JSON only, capped however it is framed, and every string
encodable, so bad bytes end here as a 4xx and never reach the client or the upstream."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from . import codes
from .errors import ApiError, bad_request

JSON_MIMETYPE = "application/json"
# Objects and arrays nested deeper than this are refused: a profile's metadata never
# needs more, and deeper values would hit Python's recursion limit further on.
MAX_DEPTH = 32


def read_body() -> bytes:
    """The raw body, at most ``MAX_CONTENT_LENGTH`` bytes: past it is a 413, whether the
    length was announced (Content-Length) or not (chunked)."""
    data = request.get_data(cache=True)  # an announced length over the cap is a 413 here
    cap = request.max_content_length
    if request.content_length is None and cap is not None and len(data) >= cap:
        # Werkzeug cuts an unannounced (chunked) body at the cap without a word: one
        # more byte from the server's own stream tells whether the body went on.
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    return data


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


def read_json_object(allowed: frozenset[str], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``), refusing unknown fields.

    A body is parsed only when it is sent as ``application/json`` (else 415): a browser
    cannot send that content type cross-site without a CORS preflight, so a form or a
    ``text/plain`` post from another site never acts on a user.
    """
    raw = read_body()
    if not raw.strip():
        body: Any = {}
    else:
        if request.mimetype != JSON_MIMETYPE:
            raise ApiError(415, codes.ERR_UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json.")
        try:
            body = parse_json(raw)
        except _NotFinite:
            raise bad_request("The request body holds a number JSON cannot carry (NaN, Infinity or too big).") from None
        except RecursionError:
            raise bad_request(f"The request body is nested more than {MAX_DEPTH} levels deep.") from None
        except (ValueError, UnicodeDecodeError):
            raise bad_request("The request body is not valid JSON.") from None
        _check_values(body)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(f"Unknown field(s): {', '.join(unknown)}.", unknown[0])
    for name in required:
        if body.get(name) in (None, ""):
            raise bad_request(f"The {name} field is required.", name)
    return body


def refuse_body(message: str) -> None:
    """For a route that takes no body: anything sent is 400, an empty object too (the errors of
    a body too large or not JSON stay those of :func:`read_json_object`)."""
    read_json_object(frozenset())
    if read_body().strip():
        raise bad_request(message)
