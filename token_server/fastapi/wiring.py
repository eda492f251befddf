"""The async client a host builds from the server's settings: :func:`token_server.wiring.build_async_client`
(the same options, upstream budget and observers as the blocking client; revokes take the push
tokens with them; offline, an emulator in this process), offered here beside the router."""

from __future__ import annotations

from ..wiring import build_async_client

__all__ = ["build_async_client"]
