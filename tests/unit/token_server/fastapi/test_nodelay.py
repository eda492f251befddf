"""token_server.fastapi.nodelay: the socket ``uvicorn --workers N`` binds (no protocol named, so
asyncio leaves Nagle on) gets TCP_NODELAY, which the connections it accepts inherit, whether a
worker looks before or after the first ``listen()``."""

from __future__ import annotations

import socket

import pytest

from token_server.fastapi.nodelay import no_delay_on_listeners


def accepted_no_delay(listener: socket.socket) -> int:
    with socket.create_connection(listener.getsockname()):
        accepted, _ = listener.accept()
        with accepted:
            return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@pytest.mark.parametrize("listening", [True, False], ids=["listening", "bound-not-yet-listening"])
def test_a_socket_bound_as_uvicorn_binds_it_passes_no_delay_to_what_it_accepts(listening: bool) -> None:
    with socket.socket(family=socket.AF_INET) as listener:  # as uvicorn's bind_socket: proto 0
        listener.bind(("127.0.0.1", 0))
        if listening:
            listener.listen()
        assert no_delay_on_listeners() >= 1
        listener.listen()  # the first worker to start finds the socket before any listen()
        assert accepted_no_delay(listener) == 1


def test_client_and_unbound_sockets_are_left_alone() -> None:
    with socket.socket(family=socket.AF_INET) as listener, socket.socket(family=socket.AF_INET) as unbound:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            no_delay_on_listeners()
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            assert unbound.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            listener.accept()[0].close()


def test_without_it_the_accepted_socket_keeps_nagle() -> None:
    """The premise: asyncio would not set TCP_NODELAY on these (proto 0) connections itself."""
    with socket.socket(family=socket.AF_INET) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert listener.proto == 0
        assert accepted_no_delay(listener) == 0
