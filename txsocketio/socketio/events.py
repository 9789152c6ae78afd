# -*- test-case-name: tests.test_socketio_events -*-
"""Event names and acknowledgement arguments: the rules every emitting path shares.

A leaf module (pure, no Twisted), so that the socket, the broadcast operator,
the emitter and the Redis subscriptions check names the same way without
importing each other.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

__all__ = ["RESERVED_EVENTS", "check_event_name", "ack_arguments", "HandlerT"]

#: A handler or listener, for registering methods that return it unchanged (decorators).
HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])

#: Event names an application may not emit (they mean something to the clients).
RESERVED_EVENTS = frozenset(
    ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]
)


def check_event_name(event: Any) -> None:
    """Raise ``TypeError`` for a name that is not a str, ``ValueError`` for a reserved one."""
    if not isinstance(event, str):
        raise TypeError(f"an event name must be a str, not {type(event).__name__}")
    if event in RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved event name and cannot be emitted")


def ack_arguments(result: Any) -> list[Any]:
    """A handler's return value as ACK arguments: None -> [], tuple -> items, else [value]."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]
