# -*- test-case-name: tests.test_emitter -*-
"""Emit to the clients of a Socket.IO cluster from a process that is not a server.

A Django view, a Celery task or a cron job can reach every client of a
cluster of txsocketio (or Node socket.io) servers that share a Redis, by
publishing what Node's ``@socket.io/redis-emitter`` publishes, byte for byte::

    from txsocketio.emitter import BlockingEmitter      # redis-py, any thread

    emitter = BlockingEmitter("redis://127.0.0.1:6379/0")
    emitter.emit("news", {"title": "..."})                 # everyone in /
    emitter.to("room1").except_("muted").emit("ping", 1)   # rooms, exclusions
    emitter.of("/admin").volatile.emit("load", 0.3)        # other namespaces, flags
    emitter.in_("room1").sockets_join("room2")             # sockets_leave, disconnect_sockets
    emitter.server_side_emit("reload", "config")           # to the servers themselves

    from txsocketio.emitter import Emitter              # Twisted: each call -> Deferred
    emitter = Emitter("redis://127.0.0.1:6379/0")          # or Emitter(RedisConnection(...))
    yield emitter.to("room1").emit("ping", 1)

Both flavours share every line of logic; they differ only in how a message
is published (a :class:`~txsocketio.redisconn.RedisConnection` returning a
Deferred, or a redis-py client returning the number of receivers).  The
emitter never waits for an answer: acknowledgements are not supported (as
with Node's), and nothing tells whether a server is listening (the result of
a publish is the number of Redis subscribers that got it).

Reserved event names (``connect``, ``disconnect``…) raise ``ValueError``; an
argument that cannot travel raises ``TypeError`` naming it, before anything
is published.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, TypeVar

from txsocketio.adapters.base import BroadcastOptions
from txsocketio.adapters.redis_wire import (
    DEFAULT_KEY,
    EMITTER_UID,
    Channels,
    encode_broadcast,
    pack,
    remote_disconnect_request,
    remote_join_request,
    remote_leave_request,
    server_side_emit_request,
    dump_json,
)
from txsocketio.socketio.packet import Packet, PacketType
from txsocketio.socketio.socket import check_event_name

if TYPE_CHECKING:
    from typing import Self

    from twisted.internet.defer import Deferred

__all__ = ["Emitter", "BlockingEmitter", "EmitterOperator"]

#: What one publish returns: a Deferred (Twisted) or an int (redis-py).
R = TypeVar("R")
Publish = Callable[[str, bytes], Any]


def _room_names(rooms: Iterable[Any]) -> frozenset[str]:
    """Rooms as ``to()`` takes them: names, or lists/tuples/sets of names."""
    names: set[str] = set()
    for room in rooms:
        if isinstance(room, (list, tuple, set, frozenset)):
            names.update(str(r) for r in room)
        else:
            names.add(str(room))
    return frozenset(names)


def _nsp_name(nsp: str) -> str:
    if not isinstance(nsp, str):
        raise TypeError(f"a namespace is a str, not {type(nsp).__name__}")
    return nsp if nsp.startswith("/") else "/" + nsp


def _argument_error(what: str, args: tuple[Any, ...], encode: Callable[[Any], Any],
                    error: Exception) -> Exception:
    """The error to raise when ``args`` cannot be encoded: which one, and why."""
    for index, arg in enumerate(args, 1):
        try:
            encode(arg)
        except (TypeError, ValueError) as e:
            return type(e)(f"argument {index} of {what} ({type(arg).__name__}) cannot be sent: {e}")
    return error


class EmitterOperator(Generic[R]):
    """A selection of sockets in one namespace (rooms, exclusions, flags) and
    what to do with them; every chaining method returns a new operator.

    Made by :meth:`Emitter.to` and friends; :meth:`emit`,
    :meth:`sockets_join`, :meth:`sockets_leave` and
    :meth:`disconnect_sockets` publish one message each and return what the
    publish returns.
    """

    __slots__ = ("_publish", "_channels", "_rooms", "_except", "_flags")

    def __init__(self, publish: Publish, channels: Channels, rooms: frozenset[str] = frozenset(),
                 except_: frozenset[str] = frozenset(), flags: dict[str, Any] | None = None) -> None:
        self._publish = publish
        self._channels = channels
        self._rooms = rooms
        self._except = except_
        self._flags = flags or {}

    def __repr__(self) -> str:
        return (f"<EmitterOperator {self._channels.nsp} to={sorted(self._rooms)} "
                f"except={sorted(self._except)} flags={self._flags}>")

    def _with(self, rooms: frozenset[str] | None = None, except_: frozenset[str] | None = None,
              flags: dict[str, Any] | None = None) -> "EmitterOperator[R]":
        return EmitterOperator(self._publish, self._channels,
                               self._rooms if rooms is None else rooms,
                               self._except if except_ is None else except_,
                               self._flags if flags is None else flags)

    def _options(self, flags: bool = True) -> BroadcastOptions:
        return BroadcastOptions(self._rooms, self._except, dict(self._flags) if flags else {})

    # -- selection ----------------------------------------------------------------

    def to(self, *rooms: Any) -> "EmitterOperator[R]":
        """Add rooms (names, or lists of names) to the selection."""
        return self._with(rooms=self._rooms | _room_names(rooms))

    in_ = to

    def except_(self, *rooms: Any) -> "EmitterOperator[R]":
        """Leave out the sockets in these rooms (a socket id is a room too)."""
        return self._with(except_=self._except | _room_names(rooms))

    @property
    def volatile(self) -> "EmitterOperator[R]":
        """Drop the event for clients that cannot take it right now."""
        return self._with(flags={**self._flags, "volatile": True})

    def compress(self, flag: bool) -> "EmitterOperator[R]":
        return self._with(flags={**self._flags, "compress": bool(flag)})

    # -- actions ----------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> R:
        """Send ``event`` with ``args`` to the selected clients of every server.

        Raises ``ValueError`` for a reserved event name, ``TypeError`` (naming
        the argument) for one that cannot be sent; nothing is published then.
        """
        check_event_name(event)
        opts = self._options()
        packet = Packet(PacketType.EVENT, self._channels.nsp, [event, *args])
        try:
            payload = encode_broadcast(EMITTER_UID, packet, opts, emitter=True)
        except (TypeError, ValueError) as e:
            raise _argument_error(f"event {event!r}", args, pack, e) from None
        return self._publish(self._channels.for_broadcast(opts), payload)

    def send(self, *args: Any) -> R:
        """Emit a ``message`` event."""
        return self.emit("message", *args)

    def sockets_join(self, *rooms: Any) -> R:
        """Make the selected sockets (on every server) join ``rooms``."""
        return self._publish(self._channels.request,
                             remote_join_request(None, self._options(False), sorted(_room_names(rooms))))

    def sockets_leave(self, *rooms: Any) -> R:
        """Make the selected sockets (on every server) leave ``rooms``."""
        return self._publish(self._channels.request,
                             remote_leave_request(None, self._options(False), sorted(_room_names(rooms))))

    def disconnect_sockets(self, close: bool = False) -> R:
        """Disconnect the selected sockets; ``close`` ends their whole connection."""
        return self._publish(self._channels.request,
                             remote_disconnect_request(None, self._options(False), close))


class _EmitterBase(Generic[R]):
    """What :class:`Emitter` and :class:`BlockingEmitter` share: everything
    but the Redis client."""

    _publish: Publish
    key: str
    nsp: str

    def _bind(self, publish: Publish, key: str, nsp: str) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty str, not {key!r}")
        self._publish = publish
        self.key = key
        self.nsp = _nsp_name(nsp)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} key={self.key!r} nsp={self.nsp!r}>"

    def _derive(self, nsp: str) -> "Self":
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.nsp = _nsp_name(nsp)
        return other

    def of(self, nsp: str) -> "Self":
        """The same emitter for another namespace (``"/chat"`` or ``"chat"``)."""
        return self._derive(nsp)

    def _operator(self) -> EmitterOperator[R]:
        return EmitterOperator(self._publish, Channels(self.key, self.nsp))

    # -- Node's Emitter API -----------------------------------------------------

    def emit(self, event: str, *args: Any) -> R:
        """Send ``event`` to every client of the namespace, on every server."""
        return self._operator().emit(event, *args)

    def send(self, *args: Any) -> R:
        return self._operator().send(*args)

    def to(self, *rooms: Any) -> EmitterOperator[R]:
        """The clients in ``rooms`` (chain ``except_``, ``volatile``…, then ``emit``)."""
        return self._operator().to(*rooms)

    in_ = to

    def except_(self, *rooms: Any) -> EmitterOperator[R]:
        return self._operator().except_(*rooms)

    @property
    def volatile(self) -> EmitterOperator[R]:
        return self._operator().volatile

    def compress(self, flag: bool) -> EmitterOperator[R]:
        return self._operator().compress(flag)

    def sockets_join(self, *rooms: Any) -> R:
        """Make every socket of the namespace join ``rooms``."""
        return self._operator().sockets_join(*rooms)

    def sockets_leave(self, *rooms: Any) -> R:
        return self._operator().sockets_leave(*rooms)

    def disconnect_sockets(self, close: bool = False) -> R:
        return self._operator().disconnect_sockets(close)

    def server_side_emit(self, event: str, *args: Any) -> R:
        """Send ``event`` to the servers of the cluster: their server-side
        handlers of the namespace get ``args`` (Node: ``io.on(event, ...)``).

        No acknowledgements (a callable last argument raises ``TypeError``).
        The arguments travel as JSON, as Node's emitter sends them
        (``bytes`` become ``{"type": "Buffer", "data": [...]}``).
        """
        check_event_name(event)
        if args and callable(args[-1]):
            raise TypeError("the emitter does not support acknowledgements "
                            "(a server-side emit from a server does, see ServerNamespace.server_side_emit)")
        try:
            payload = server_side_emit_request(EMITTER_UID, [event, *args])
        except (TypeError, ValueError) as e:
            raise _argument_error(f"server-side event {event!r}", args, dump_json, e) from None
        return self._publish(Channels(self.key, self.nsp).request, payload)


class Emitter(_EmitterBase["Deferred[int]"]):
    """The emitter for Twisted programs: every call returns the Deferred of
    the ``PUBLISH`` (firing with the number of Redis subscribers reached).

    ``connection`` is a :class:`~txsocketio.redisconn.RedisConnection` (shared
    with anything else of the process, e.g. ``sio.redis``) or a Redis URL
    (``redis://host:port/db``), for which the emitter opens its own
    connection; :meth:`close` closes that one (not a connection passed in).
    """

    def __init__(self, connection: Any, key: str = DEFAULT_KEY, nsp: str = "/") -> None:
        if isinstance(connection, str):
            from txsocketio.redisconn import RedisConnection

            connection = RedisConnection(connection)
            self._owned = True
        else:
            self._owned = False
        self.connection = connection
        self._bind(connection.publish, key, nsp)

    def close(self) -> "Deferred[None]":
        """Close the connection the emitter opened itself (if any)."""
        from twisted.internet.defer import maybeDeferred, succeed

        if self._owned:
            return maybeDeferred(self.connection.close)
        return succeed(None)


class BlockingEmitter(_EmitterBase[int]):
    """The emitter for threads (Django views, Celery tasks, scripts): every
    call publishes at once with redis-py and returns the number of Redis
    subscribers reached.

    ``client`` is a ``redis.Redis`` client (anything with ``publish(channel,
    message)``) or a Redis URL, for which the emitter makes its own client
    (``redis.Redis.from_url``); :meth:`close` closes that one.  Safe to use
    from several threads, as redis-py's client is.
    """

    def __init__(self, client: Any, key: str = DEFAULT_KEY, nsp: str = "/") -> None:
        if isinstance(client, str):
            import redis

            client = redis.Redis.from_url(client)
            self._owned = True
        else:
            self._owned = False
        self.client = client
        self._bind(client.publish, key, nsp)

    def close(self) -> None:
        """Close the client the emitter made itself (if any)."""
        if self._owned:
            self.client.close()

    def __enter__(self) -> "BlockingEmitter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
