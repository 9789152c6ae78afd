# -*- test-case-name: tests.test_observer -*-
"""The one observer seam of a server: what the server layers report.

A :class:`~txsocketio.SocketIOServer` holds one observer, :attr:`observer`:
:data:`NULL_OBSERVER` (every method does nothing) until something registers
with ``sio.add_observer(o)``; then an :class:`ObserverGroup` that calls each
registered observer in turn and logs (never raises) what they raise.  The
Prometheus metrics (:class:`txsocketio.metrics.PrometheusMetrics`) and the
Admin UI instrumentation (:mod:`txsocketio.admin.instrument`) are two such
observers.

Cost when nobody observes: the rare hooks (a connection, a socket, a room)
are one empty method call; the per-message hooks are guarded at the call
site by ``observer is not NULL_OBSERVER``, so that no argument (a byte
count, a tuple) is computed or allocated for them.

The arguments are plain values and the objects the server already has (a
:class:`~txsocketio.Socket` offers ``id``, ``namespace``, ``handshake``,
``data``, ``rooms``, ``transport`` and ``client_id``).  Methods may be added
here; an observer class that derives from :class:`NullObserver` keeps
working, as it inherits the new ones empty.
"""

from __future__ import annotations

from typing import Any, Callable, Final, Protocol, Sequence

from txsocketio.logs import Logger



__all__ = ["ServerObserver", "NullObserver", "NULL_OBSERVER", "ObserverGroup", "OBSERVER_METHODS", "message_size"]

log = Logger(namespace="txsocketio.observer")


class ServerObserver(Protocol):
    """What the server layers report.  Every method returns None and is
    called on the reactor thread."""

    # -- Engine.IO (reported by the Socket.IO server from the Engine.IO
    #    server's callbacks and hooks: on_upgrade, on_connection_error) --------
    def client_opened(self, transport: str, protocol: int) -> None:
        """An Engine.IO session opened on ``transport`` (protocol 3 or 4)."""
    def client_upgraded(self, sid: str, protocol: int) -> None:
        """Session ``sid`` moved from polling to WebSocket (its upgrade just completed)."""
    def client_closed(self, transport: str, protocol: int, reason: str) -> None:
        """A session on ``transport`` (its current one) closed, for ``reason``."""
    def handshake_error(self, code: int) -> None:
        """A handshake or request was refused with Engine.IO error ``code`` (0-5)."""
    def message_received(self, nbytes: int) -> None:
        """An Engine.IO message (a packet with data) of ``nbytes`` arrived."""
    def message_sent(self, nbytes: int) -> None:
        """An Engine.IO message of ``nbytes`` was written to one session."""

    # -- Socket.IO --------------------------------------------------------------
    def socket_connected(self, socket: Any) -> None:
        """``socket`` connected (its CONNECT was accepted; its rooms so far,
        its own id room included, are in ``socket.rooms``)."""
    def socket_refused(self, reason: str) -> None:
        """A namespace CONNECT was refused: ``invalid_namespace``, ``refused``
        (ConnectionRefused) or ``error`` (a middleware or handler raised)."""
    def socket_disconnected(self, socket: Any, reason: str) -> None:
        """A connected ``socket`` is leaving (Node's ``reason``); its rooms
        are still in ``socket.rooms``."""
    def room_joined(self, socket: Any, room: str) -> None:
        """A connected ``socket`` joined ``room`` (it was not in it)."""
    def room_left(self, socket: Any, room: str) -> None:
        """A connected ``socket`` left ``room`` (it was in it), not by disconnecting."""
    def namespace_removed(self, namespace: str) -> None:
        """A (dynamic) namespace was deleted: forget its series."""
    def event_received(self, socket: Any, event: str, args: Sequence[Any], nbytes: int) -> None:
        """An EVENT reached ``socket``; ``nbytes``: its encoded size (the
        packet and its binary attachments)."""
    def event_sent(self, socket: Any, event: str, args: Sequence[Any], nbytes: int) -> None:
        """An EVENT of ``nbytes`` was written to ``socket`` (once per
        recipient of a broadcast)."""
    def broadcast(self, recipients: int, nbytes: int) -> None:
        """A broadcast EVENT of ``nbytes`` went to ``recipients`` local sockets."""
    def ack_sent(self) -> None:
        """The server answered a client's ack request."""
    def ack_received(self) -> None:
        """A client answered one of the server's ack requests in time."""
    def ack_timed_out(self) -> None:
        """An ack request of the server timed out."""
    def server_shutdown(self) -> None:
        """The server is shutting down: stop timers."""

    # -- Redis adapter ----------------------------------------------------------
    def redis_published(self) -> None:
        """A PUBLISH succeeded."""
    def redis_publish_failed(self) -> None:
        """A PUBLISH failed (error or timeout)."""
    def redis_reconnected(self) -> None:
        """A Redis connection came back after being lost."""
    def redis_request(self, request_type: str) -> None:
        """A cluster request was sent (a ``RequestType`` name, e.g. ``REMOTE_FETCH``)."""
    def redis_request_timed_out(self, request_type: str) -> None:
        """A cluster request got no complete answer in time."""


#: The hook names, in the order above.
OBSERVER_METHODS: Final = tuple(name for name in ServerObserver.__dict__
                                if not name.startswith("_") and callable(ServerObserver.__dict__[name]))


class NullObserver:
    """The observer of a server nobody observes: every method does nothing.
    Derive from it to implement only some hooks."""


def _nothing(self: Any, *args: Any) -> None:
    pass


for _name in OBSERVER_METHODS:
    setattr(NullObserver, _name, _nothing)
del _name

#: The observer of every server until one registers.
NULL_OBSERVER: Final = NullObserver()


class ObserverGroup:
    """The observer a server holds once observers registered: each hook calls
    every observer in turn; an exception is logged and the next one still runs.

    The hooks are built once, as instance attributes holding the observers'
    bound methods, so that a call looks nothing up; the empty methods an
    observer inherits from :class:`NullObserver` are left out."""

    def __init__(self, observers: Sequence[Any]) -> None:
        self.observers = tuple(observers)
        for name in OBSERVER_METHODS:
            hooks = tuple(h for h in (getattr(o, name) for o in self.observers)
                          if getattr(h, "__func__", None) is not _nothing)
            setattr(self, name, _fan_out(name, hooks))

    def __repr__(self) -> str:
        return f"<ObserverGroup {list(self.observers)!r}>"


def _fan_out(name: str, hooks: tuple[Callable[..., None], ...]) -> Callable[..., None]:
    def call(*args: Any) -> None:
        for hook in hooks:
            try:
                hook(*args)
            except Exception:
                log.failure("observer {observer!r} failed in {hook}", observer=getattr(hook, "__self__", hook),
                            hook=name)

    call.__name__ = name
    return call


def message_size(data: Any) -> int:
    """The byte length of an Engine.IO message's data: UTF-8 length of text,
    length of binary (an ``OutgoingMessage`` is measured by its ``data``)."""
    data = getattr(data, "data", data)
    if isinstance(data, str):
        return len(data) if data.isascii() else len(data.encode("utf-8"))
    return len(data)
