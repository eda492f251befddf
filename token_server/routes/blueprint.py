"""The blueprint the route files register on, and what its views share: the app's client and
device tokens, the request as the core takes it, and the core's answer as Flask's.

Every failure the contract knows is answered here by the core's one mapping
(:func:`token_server.core.errors.answer_for`), whatever error handling the host app has."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from cometchat import CometChatClient

from .. import caller, deprovisioned
from ..body import request_body
from ..core.answers import Answer
from ..core.drive import Rule, run_sync
from ..core.errors import MAPPED_ERRORS
from ..core.inputs import Request
from ..devices import DeviceTokens
from ..errors import handle_error, respond
from ..pipeline import BLUEPRINT

# Where init_app leaves the client and the device tokens for the views.
CLIENT = "token_server.client"
SESSIONS = "token_server.devices"

bp = Blueprint(BLUEPRINT, __name__)
for _kind in MAPPED_ERRORS:
    bp.register_error_handler(_kind, handle_error)


def client() -> CometChatClient:
    found: CometChatClient = current_app.extensions[CLIENT]
    return found


def device_tokens() -> DeviceTokens:
    """The app's device tokens, wired by ``routes.init_app`` (never made up here)."""
    found: DeviceTokens = current_app.extensions[SESSIONS]
    return found


def core_request() -> Request:
    """This request as the core takes it: the caller the caller step identified (its refusal
    again, if it refused), the body (read when a rule asks) and the query string."""
    return Request(caller.current_caller(), request_body(), request.args.to_dict())


def run(rule: Rule[Answer]) -> Response:
    """Drive a rule with the app's client, device tokens and tombstones; its answer as Flask's."""
    return respond(run_sync(rule, client(), device_tokens(), deprovisioned=deprovisioned.current()))
