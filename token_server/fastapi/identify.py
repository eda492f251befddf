"""The host's way of identifying callers, in either form the router takes:

* a plain callable ``identify(request) -> Caller`` (``async def`` or not; the server's
  :class:`~token_server.auth.Authenticator` is one): called after the cross-site rule, awaited
  when it is a coroutine function, else run in the router's thread pool (a JWKS fetch, a
  session lookup in a database: never on the event loop);
* a FastAPI dependency, ``Depends(current_user)`` returning ``Caller``: FastAPI resolves it and
  its own parameters (sync ones in its thread pool) before the route runs. Its refusal
  (an ``ApiError``, or an ``HTTPException`` 401/403) is caught and answered in the contract's
  terms, counted by the failed-authentication limit like the server's own 401s.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from fastapi import Request, params
from starlette.exceptions import HTTPException

from .. import codes
from ..auth import Caller
from ..core.errors import ApiError

IdentifyCaller = Callable[[Request], Caller | Awaitable[Caller]]
# Either form: a callable taking the request, or Depends(dependency).
Identify = IdentifyCaller | params.Depends

_STATUS_CODES = {401: codes.ERR_UNAUTHORIZED, 403: codes.ERR_FORBIDDEN}


@dataclass(frozen=True)
class Raised:
    """What a dependency raised instead of returning a Caller, kept until the route raises it
    again (after the cross-site rule), where the one error mapping answers it."""

    error: Exception


class NotYet:
    """The plain-callable form: nothing identified before the route runs."""


NOT_YET = NotYet()


def as_api_error(exc: Exception) -> ApiError | None:
    """A host's refusal in the contract's terms; None for anything else (a bug: re-raised)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, HTTPException):
        code = _STATUS_CODES.get(exc.status_code, codes.http_code(exc.status_code))
        message = exc.detail if isinstance(exc.detail, str) and exc.detail else "Not allowed."
        return ApiError(exc.status_code, code, message, headers=dict(exc.headers or {}))
    return None


def is_async(fn: Callable[..., Any]) -> bool:
    method = type(fn).__call__ if not inspect.isfunction(fn) and not inspect.ismethod(fn) else None
    return inspect.iscoroutinefunction(fn) or (method is not None and inspect.iscoroutinefunction(method))


def check_caller(value: Any) -> Caller:
    if not isinstance(value, Caller):
        raise TypeError(f"identify must return a token_server.auth.Caller, not {type(value).__name__}")
    return value


def catching(dependency: Callable[..., Any]) -> Callable[..., Any]:
    """``dependency`` with the same parameters for FastAPI to resolve, returning its Caller or
    what it raised (:class:`Raised`) instead of raising it; sync stays sync (FastAPI's pool)."""
    signature = inspect.signature(dependency, eval_str=True).replace(return_annotation=inspect.Signature.empty)
    wrapper: Callable[..., Any]
    if is_async(dependency):

        async def wrapper(**kwargs: Any) -> Caller | Raised:
            try:
                return check_caller(await dependency(**kwargs))
            except Exception as exc:
                return Raised(exc)

    else:

        def wrapper(**kwargs: Any) -> Caller | Raised:
            try:
                return check_caller(dependency(**kwargs))
            except Exception as exc:
                return Raised(exc)

    functools.update_wrapper(wrapper, dependency, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
    wrapper.__signature__ = signature  # type: ignore[union-attr]
    return wrapper


async def _not_yet() -> NotYet:
    return NOT_YET


def outcome_dependency(identify: Identify) -> params.Depends:
    """The dependency every route declares: the caller (or refusal) of a FastAPI dependency,
    or :data:`NOT_YET` for a plain callable, which the route then calls itself."""
    if isinstance(identify, params.Depends):
        if identify.dependency is None:
            raise TypeError("Depends() needs the dependency itself: Depends(current_user)")
        return params.Depends(catching(identify.dependency), use_cache=identify.use_cache)
    if not callable(identify):
        raise TypeError("identify must be a callable taking the request, or Depends(dependency)")
    return params.Depends(_not_yet)
