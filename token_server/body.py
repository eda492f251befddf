"""Flask's side of reading a request body: the raw bytes, capped however they are framed.

What the bytes may hold (JSON only, no NaN or Infinity, every string encodable, no unknown
field) is checked by :mod:`token_server.core.inputs`, for every host."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from .core.inputs import MAX_DEPTH, Body, json_object, parse_json
from .core.inputs import refuse_body as refuse_core_body

__all__ = ["MAX_DEPTH", "parse_json", "read_body", "read_json_object", "refuse_body", "request_body"]


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


def request_body() -> Body:
    """This request's body for the core: read when a rule first asks (the cap is Flask's own
    ``MAX_CONTENT_LENGTH``, checked by :func:`read_body`)."""
    return Body(read_body, request.mimetype, None)


def read_json_object(allowed: frozenset[str], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """This request's body as a JSON object, refusing unknown fields (:func:`.core.inputs.json_object`)."""
    return json_object(request_body(), allowed, required=required)


def refuse_body(message: str) -> None:
    """For a route that takes no body: anything sent is 400."""
    refuse_core_body(request_body(), message)
