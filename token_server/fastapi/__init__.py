"""The token, user and device routes as a FastAPI ``APIRouter``: the same rules
(:mod:`token_server.core`), the same contract as the stand-alone server and the Flask blueprint.

- :func:`.router.cometchat_router`: the router factory (the host's way of identifying callers,
  the async client, the device tokens, the limits);
- :func:`.wiring.build_async_client`: the :class:`~cometchat.AsyncCometChatClient` the server's
  settings name (upstream budget, metrics, the embedded emulator offline);
- :func:`.answers.install_error_answers`: the contract's JSON for the host's own 404s and 405s.

Nothing here blocks the event loop: upstream calls are awaited; the device store, the rate-limit
store and a blocking identify function run in the router's thread pool.
Needs the ``[server,fastapi]`` extras.
"""

from __future__ import annotations

from ..auth import Caller
from .answers import install_error_answers
from .router import cometchat_router
from .wiring import build_async_client

__all__ = ["Caller", "build_async_client", "cometchat_router", "install_error_answers"]
