"""The optional gevent worker (``gunicorn server:app -k gevent``; the default stays gthread,
chosen by measurement): gunicorn's gevent worker, closing each connection the way its
gthread worker does (RFC 9112 section 9.6: send FIN, read a bounded remainder, close).

gunicorn's async workers close at once; with request bytes still unread (a body refused
with 413 before it was read to its end) the kernel then answers with a TCP reset, and the
caller may lose the answer it was already sent."""

from __future__ import annotations

from typing import Any

from gevent import socket as gsocket
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker


class _LingeringSocket(gsocket.socket):
    __slots__ = ()

    def close(self) -> None:
        self.__class__ = gsocket.socket  # close_graceful ends with the plain close
        util.close_graceful(self)


class LingeringGeventWorker(GeventWorker):
    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        if type(client) is gsocket.socket:
            client.__class__ = _LingeringSocket
        super().handle(listener, client, addr)
