# -*- test-case-name: tests.test_socketio_events -*-
"""Calling application code that may return a plain value, a Deferred or a coroutine.

Coroutines are wrapped with ``ensureDeferred`` here and nowhere else; plain
values pass through untouched, so synchronous handlers cost no Deferred.
"""

from __future__ import annotations

from inspect import isawaitable, iscoroutine
from typing import Any, Awaitable, Callable

from twisted.internet.defer import Deferred, ensureDeferred

from txsocketio.logs import Logger


__all__ = ["invoke", "is_async", "log_failures"]


# Results that cannot be awaitable, checked first by exact type: the common
# synchronous handler pays one set lookup.
_PLAIN = frozenset([type(None), bool, int, float, str, bytes, tuple, list, dict])


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def invoke(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn``; a coroutine (or other awaitable) result becomes a Deferred,
    anything else is returned as is."""
    result = fn(*args)
    if type(result) in _PLAIN or isinstance(result, Deferred):
        return result
    if iscoroutine(result):
        return ensureDeferred(result)
    if isawaitable(result):
        return ensureDeferred(_await(result))
    return result


def is_async(result: Any) -> bool:
    return isinstance(result, Deferred)


def log_failures(log: Logger, fn: Callable[..., Any], *args: Any, what: str, **fields: Any) -> Any:
    """Call ``fn`` through :func:`invoke` for its side effects only: an
    exception, raised now or later by the Deferred or coroutine it returns,
    is logged (``what`` is the log format, ``fields`` its values) and never
    propagates."""
    try:
        result = invoke(fn, *args)
    except Exception:
        log.failure(what, **fields)
        return None
    if isinstance(result, Deferred):
        result.addErrback(lambda f: log.failure(what, f, **fields))
    return result
