# -*- test-case-name: tests.test_socketio_server,tests.test_socketio_events,tests.test_socketio_tasks -*-
"""Class-based namespaces: one instance per connection, ``on_<event>`` methods.

In the spirit of gevent-socketio's ``BaseNamespace``::

    class Chat(Namespace):
        def on_connect(self, auth):
            self.join("lobby")

        async def on_say(self, text):
            self.to("lobby").emit("said", self.socket.data["nick"], text)
            return "delivered"            # the acknowledgement

        def on_disconnect(self, reason):
            ...

    sio.register("/chat", Chat)

Work that must end with the connection is started with :meth:`Namespace.every`,
:meth:`Namespace.later` and :meth:`Namespace.spawn` (gevent-socketio's
``self.spawn``): it is cancelled when the client leaves.

An event name maps to ``on_`` plus the name with every character that is not
a letter, digit or underscore replaced by ``_`` (``"message-with-ack"`` →
``on_message_with_ack``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

from txsocketio import subscriptions as _subscriptions
from txsocketio.subscriptions import Decoder, EventName, decode_json

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IDelayedCall
    from twisted.internet.task import LoopingCall

    from txsocketio.socketio.broadcast import ServerOperator
    from txsocketio.socketio.socket import Socket, SocketHandshake

__all__ = ["Namespace", "method_name"]

_NOT_WORD = re.compile(r"\W", re.ASCII)


@lru_cache(maxsize=4096)
def method_name(event: str) -> str:
    """The method that handles ``event``."""
    return "on_" + _NOT_WORD.sub("_", event)


class Namespace:
    """Base class of class-based namespace handlers; see the module docstring.

    Methods an instance may define: ``on_connect(self, auth)`` (raise
    :class:`~txsocketio.ConnectionRefused` to refuse), ``on_disconnect(self,
    reason)``, ``on_disconnecting(self, reason)`` and ``on_<event>(self,
    *args)``, each returning a plain value, a Deferred or a coroutine.
    """

    def __init__(self, socket: "Socket") -> None:
        self.socket = socket

    @property
    def id(self) -> str:
        return self.socket.id

    @property
    def namespace(self) -> str:
        return self.socket.namespace

    @property
    def request(self) -> "SocketHandshake":
        """The handshake: headers, query, address, auth, a WSGI-style environ…"""
        return self.socket.handshake

    @property
    def rooms(self) -> set[str]:
        return self.socket.rooms

    @property
    def data(self) -> dict[str, Any]:
        return self.socket.data

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to this client."""
        self.socket.emit(event, *args)

    def send(self, *args: Any) -> None:
        self.socket.send(*args)

    def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> "Deferred[list[Any]]":
        return self.socket.emit_with_ack(event, *args, timeout=timeout)

    def join(self, *rooms: str) -> None:
        self.socket.join(*rooms)

    def leave(self, *rooms: str) -> None:
        self.socket.leave(*rooms)

    def to(self, *rooms: str) -> "ServerOperator":
        """Everyone in ``rooms`` but this client."""
        return self.socket.to(*rooms)

    def except_(self, *rooms: str) -> "ServerOperator":
        return self.socket.except_(*rooms)

    @property
    def broadcast(self) -> "ServerOperator":
        """Everyone in the namespace but this client."""
        return self.socket.broadcast

    def disconnect(self, close: bool = False) -> None:
        self.socket.disconnect(close)

    # -- work that ends with the connection (gevent-socketio's spawn) -------------------

    def every(self, seconds: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "LoopingCall":
        """Call ``fn(*args, **kwargs)`` every ``seconds`` until this client leaves
        (:meth:`txsocketio.Socket.every`)."""
        return self.socket.every(seconds, fn, *args, **kwargs)

    def later(self, seconds: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "IDelayedCall":
        """Call ``fn(*args, **kwargs)`` after ``seconds`` unless this client left
        (:meth:`txsocketio.Socket.later`)."""
        return self.socket.later(seconds, fn, *args, **kwargs)

    def spawn(self, work: Any, *args: Any, **kwargs: Any) -> "Deferred[Any]":
        """Run a Deferred, a coroutine or ``work(*args, **kwargs)``, cancelled
        when this client leaves (:meth:`txsocketio.Socket.spawn`)."""
        return self.socket.spawn(work, *args, **kwargs)

    # -- Redis channels forwarded to this client (txsocketio.subscriptions) --------------

    def subscribe(self, channel: str, event: EventName = None,
                  decode: Decoder = decode_json) -> "Deferred[None]":
        """Forward every message published on the Redis ``channel`` to this
        client, as long as it stays connected.

        The event is named after the channel unless ``event`` gives a name
        (or a callable ``(channel, pattern) -> name``); the message is
        JSON-decoded unless ``decode`` is ``None`` (raw ``str``, or ``bytes``
        when it is not UTF-8) or another callable taking the ``bytes``.
        Fires once Redis confirmed the subscription.  One Redis subscription
        per channel serves every client of the process; see
        :mod:`txsocketio.subscriptions`.
        """
        return _subscriptions.subscribe(self.socket, channel, event, decode)

    def psubscribe(self, pattern: str, event: EventName = None,
                   decode: Decoder = decode_json) -> "Deferred[None]":
        """As :meth:`subscribe`, for every channel matching the glob-style
        ``pattern`` (the default event name is each message's channel)."""
        return _subscriptions.psubscribe(self.socket, pattern, event, decode)

    def unsubscribe(self, channel: str | None = None) -> None:
        """Stop forwarding ``channel`` (every channel when ``None``)."""
        _subscriptions.unsubscribe(self.socket, channel)

    def punsubscribe(self, pattern: str | None = None) -> None:
        """Stop forwarding ``pattern`` (every pattern when ``None``)."""
        _subscriptions.punsubscribe(self.socket, pattern)
