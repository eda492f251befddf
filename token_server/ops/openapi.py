"""``GET /openapi.json``: the OpenAPI 3.1 description of the routes, shipped in the package
(``token_server/ops/openapi.json``, the one copy) and served as it is."""

from __future__ import annotations

from importlib.resources import files

from flask import Flask, Response

SPEC_FILE = "openapi.json"
SPEC_PATH = "/openapi.json"


def spec_bytes() -> bytes:
    return files(__package__).joinpath(SPEC_FILE).read_bytes()


def init_app(app: Flask) -> None:
    spec = spec_bytes()  # read once: a missing file stops the app at start, not at a request

    def openapi() -> Response:
        return Response(spec, mimetype="application/json")

    app.add_url_rule(SPEC_PATH, "openapi", openapi, methods=["GET"])
