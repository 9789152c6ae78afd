"""Calling application code that may return a plain value, a Deferred or a coroutine.

Coroutines are wrapped with ``ensureDeferred`` here and nowhere else; plain
values pass through untouched, so synchronous handlers cost no Deferred.
"""

from __future__ import annotations

from inspect import isawaitable, iscoroutine
from typing import Any, Callable

from twisted.internet.defer import Deferred, ensureDeferred

__all__ = ["invoke", "is_async"]


def invoke(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn``; a coroutine result becomes a Deferred, anything else is returned as is."""
    result = fn(*args)
    if isinstance(result, Deferred):
        return result
    if iscoroutine(result) or (isawaitable(result) and not isinstance(result, (str, bytes))):
        return ensureDeferred(result)
    return result


def is_async(result: Any) -> bool:
    return isinstance(result, Deferred)
