"""token_server.fastapi.nodelay: the listening socket ``uvicorn --workers N`` binds (no protocol
named, so asyncio leaves Nagle on) gets TCP_NODELAY, which the connections it accepts inherit."""

from __future__ import annotations

import socket

from token_server.fastapi.nodelay import no_delay_on_listeners


def test_a_listener_bound_as_uvicorn_binds_it_passes_no_delay_to_what_it_accepts() -> None:
    with socket.socket(family=socket.AF_INET) as listener:  # as uvicorn's bind_socket: proto 0
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.socket(family=socket.AF_INET) as unrelated:  # a client socket: never listening
            assert no_delay_on_listeners() >= 1
            with socket.create_connection(listener.getsockname()):
                accepted, _ = listener.accept()
                with accepted:
                    assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert unrelated.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
