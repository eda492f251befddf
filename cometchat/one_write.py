"""A small request leaves in one write, for the async client too.

httpcore sends a request's head and its body in two writes: two syscalls and two packets
where one would do (``deadline.py`` does the same for the blocking client). The stream here
holds what is written until the next read, when the whole request goes out at once; an HTTP/1.1
client always reads after it has sent a request, so nothing is held for long. A request
larger than ``MAX_HELD`` goes out as it comes.
"""

from __future__ import annotations

from typing import Any, Iterable

import httpcore

MAX_HELD = 64 * 1024


class OneWriteStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._held = b""
        self._timeout: float | None = None

    async def _flush(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            await self._inner.write(held, self._timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._held += buffer
        self._timeout = timeout
        if len(self._held) > MAX_HELD:
            await self._flush()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await self._flush()
        return await self._inner.read(max_bytes, timeout)

    async def aclose(self) -> None:
        self._held = b""
        await self._inner.aclose()

    async def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        await self._flush()
        return OneWriteStream(await self._inner.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class OneWriteBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return OneWriteStream(await self._inner.connect_tcp(*args, **kwargs))

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return OneWriteStream(await self._inner.connect_unix_socket(*args, **kwargs))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def install(transports: Iterable[Any]) -> None:
    """Put the one-write stream under each httpx transport's connection pool (those that have
    one: a mock transport has none)."""
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, OneWriteBackend):
            pool._network_backend = OneWriteBackend(backend)  # type: ignore[union-attr]
