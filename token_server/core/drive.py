"""How a rule of the routes runs: written once as a generator with no I/O, driven by a
blocking driver (:func:`run_sync`, Flask) or an awaiting one (:func:`run_async`, asyncio).

A rule yields :class:`Effect` s, one at a time: a call of the CometChat client
(:class:`Upstream`), a count of a user's tokens (:class:`CountTokens`), a call of the
device tokens (:class:`Devices`), of the deleted users' tombstones (:class:`Tombstones`) or of
another blocking store the rule was given (:class:`Blocking`: the webhook events' presence).
The driver performs it and sends its result back, or throws its exception in where the rule
yielded; the rule returns its :class:`~.answers.Answer`. This is ``cometchat.operations``'
pattern one level up.

The async driver awaits :class:`~cometchat.AsyncCometChatClient` on the event loop and runs
the stores' calls (blocking: SQLite, Redis) in an executor, never on the loop; a device
login's own upstream calls go back to the loop through :class:`LoopClient`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Coroutine, Generator, Mapping, TypeVar

from cometchat import CometChatClient, UpstreamTimeoutError

if TYPE_CHECKING:
    from cometchat.async_client import AsyncCometChatClient

    from ..deprovisioned import Deprovisioned
    from ..devices import DeviceTokens

T = TypeVar("T")
# How much longer than the client's own deadline a store thread waits for an upstream call it
# sent to the loop: the client bounds the call; this only bounds a loop that stopped answering.
LOOP_MARGIN = 5.0
# Threads of the async driver's default executor. A device login holds its thread while its
# mint runs upstream (up to the client's deadline), so the loop's default executor (min(32,
# CPUs + 4) threads: 6 on 2 cores) would let 6 logins run at once and queue the rest.
DEVICE_THREADS = 256
_device_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


@dataclass(frozen=True)
class Upstream:
    """``client.<method>(*args, **kwargs)``: the same name on both clients."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CountTokens:
    """How many tokens CometChat holds for ``uid`` (walking its token list)."""

    uid: str


@dataclass(frozen=True)
class Devices:
    """``device_tokens.<method>(*args, **kwargs)``; with ``with_client``, the client goes first."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    with_client: bool = False


@dataclass(frozen=True)
class Tombstones:
    """``deprovisioned.<method>(*args)``: the deleted users' tombstones (a store call)."""

    method: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Blocking:
    """``call(*args)``: a blocking call of a store the rule holds itself (off the loop)."""

    call: Callable[..., Any]
    args: tuple[Any, ...] = ()


Effect = Upstream | CountTokens | Devices | Tombstones | Blocking
Rule = Generator[Effect, Any, T]


def run_sync(
    rule: Rule[T],
    client: CometChatClient,
    devices: DeviceTokens | None = None,
    *,
    deprovisioned: Deprovisioned | None = None,
) -> T:
    """Drive ``rule`` with blocking calls (a WSGI worker's thread). ``devices`` and
    ``deprovisioned``: the stores the token and user rules need (a rule that needs one it was
    not given raises, never goes on without it)."""

    def perform(effect: Effect) -> Any:
        if isinstance(effect, Upstream):
            return getattr(client, effect.method)(*effect.args, **effect.kwargs)
        if isinstance(effect, CountTokens):
            return sum(1 for _ in client.iter_auth_tokens(effect.uid, per_page=100))
        if isinstance(effect, Tombstones):
            return getattr(_given(deprovisioned, "deprovisioned"), effect.method)(*effect.args)
        if isinstance(effect, Blocking):
            return effect.call(*effect.args)
        method = getattr(_given(devices, "devices"), effect.method)
        args = (client, *effect.args) if effect.with_client else effect.args
        return method(*args, **effect.kwargs)

    return drive(rule, perform)


def drive(steps: Generator[Any, Any, T], perform: Callable[[Any], Any]) -> T:
    """Run ``steps``: each value it yields is performed, its result sent back, or its error
    thrown in where it yielded (the steps may recover); what it returns is the answer."""
    try:
        effect = next(steps)
        while True:
            try:
                result = perform(effect)
            except Exception as exc:
                effect = steps.throw(exc)
            else:
                effect = steps.send(result)
    except StopIteration as done:
        value: T = done.value
        return value


async def drive_async(steps: Generator[Any, Any, T], perform: Callable[[Any], Awaitable[Any]]) -> T:
    """:func:`drive`, each step awaited."""
    try:
        effect = next(steps)
        while True:
            try:
                result = await perform(effect)
            except Exception as exc:
                effect = steps.throw(exc)
            else:
                effect = steps.send(result)
    except StopIteration as done:
        value: T = done.value
        return value


async def run_async(
    rule: Rule[T],
    client: AsyncCometChatClient,
    devices: DeviceTokens | None = None,
    *,
    deprovisioned: Deprovisioned | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> T:
    """Drive ``rule`` on the running event loop; device store calls run in ``executor``
    (None: a pool of ``DEVICE_THREADS`` threads shared by the process, made on first use), so
    the loop never waits on a store."""
    loop = asyncio.get_running_loop()
    pool = executor or device_executor()
    return await drive_async(rule, lambda effect: _perform_async(effect, client, devices, deprovisioned, loop, pool))


async def _perform_async(
    effect: Effect,
    client: AsyncCometChatClient,
    devices: DeviceTokens | None,
    deprovisioned: Deprovisioned | None,
    loop: asyncio.AbstractEventLoop,
    executor: concurrent.futures.Executor | None,
) -> Any:
    if isinstance(effect, Upstream):
        call: Callable[..., Awaitable[Any]] = getattr(client, effect.method)
        return await call(*effect.args, **effect.kwargs)
    if isinstance(effect, CountTokens):
        return sum([1 async for _ in client.iter_auth_tokens(effect.uid, per_page=100)])
    if isinstance(effect, Tombstones):
        tombstone_call = getattr(_given(deprovisioned, "deprovisioned"), effect.method)
        return await loop.run_in_executor(executor, partial(tombstone_call, *effect.args))
    if isinstance(effect, Blocking):
        return await loop.run_in_executor(executor, partial(effect.call, *effect.args))
    method = getattr(_given(devices, "devices"), effect.method)
    args = (LoopClient(client, loop), *effect.args) if effect.with_client else effect.args
    return await loop.run_in_executor(executor, partial(method, *args, **effect.kwargs))


def device_executor() -> concurrent.futures.ThreadPoolExecutor:
    """The async driver's default pool for device store calls (threads start as needed)."""
    global _device_executor
    with _executor_lock:
        if _device_executor is None:
            _device_executor = concurrent.futures.ThreadPoolExecutor(DEVICE_THREADS, thread_name_prefix="device-store")
        return _device_executor


def _given(store: Any, name: str) -> Any:
    if store is None:
        raise RuntimeError(f"this rule needs {name}=: pass it to the driver")
    return store


class LoopClient:
    """The blocking face of an ``AsyncCometChatClient``, for code running in an executor's
    thread (the device tokens' login and revoke): each method sends the coroutine to the event
    loop and waits for it there, bounded by the client's deadline plus ``LOOP_MARGIN``."""

    def __init__(self, client: AsyncCometChatClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop
        self._timeout = client.options.total_deadline + LOOP_MARGIN

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method: Callable[..., Coroutine[Any, Any, Any]] = getattr(self._client, name)

        def blocking(*args: Any, **kwargs: Any) -> Any:
            future = asyncio.run_coroutine_threadsafe(method(*args, **kwargs), self._loop)
            try:
                return future.result(self._timeout)
            except concurrent.futures.TimeoutError:
                future.cancel()
                raise UpstreamTimeoutError("the event loop did not finish the upstream call in time") from None

        return blocking
