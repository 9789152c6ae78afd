# -*- test-case-name: tests.test_emitter,tests.interop.test_redis_emitter -*-
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

from typing import TYPE_CHECKING, Any, Callable, Generic, NoReturn, TypeVar

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
from txsocketio.socketio.broadcast import BroadcastOperator, FrontDoors
from txsocketio.socketio.events import check_event_name
from txsocketio.socketio.packet import Packet, PacketType

if TYPE_CHECKING:
    from typing import Self

    from twisted.internet.defer import Deferred

__all__ = ["Emitter", "BlockingEmitter", "EmitterOperator", "EmitterExecutor"]

#: What one publish returns: a Deferred (Twisted) or an int (redis-py).
R = TypeVar("R")
Publish = Callable[[str, bytes], Any]


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


class EmitterExecutor(Generic[R]):
    """Carries a selection out by publishing what Node's emitter publishes
    (see :mod:`txsocketio.socketio.broadcast`); each action returns what the
    publish returns.  The emitter has no clients of its own and waits for no
    answer: ``local``, ``emit_with_ack`` and ``fetch_sockets`` are refused."""

    __slots__ = ("publish", "channels")

    def __init__(self, publish: Publish, channels: Channels) -> None:
        self.publish = publish
        self.channels = channels

    def __repr__(self) -> str:
        return f"<emitter on {self.channels.nsp}>"

    def emit(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> R:
        if opts.flags.local:
            raise ValueError("the emitter has no local clients: .local cannot be used with it")
        packet = Packet(PacketType.EVENT, self.channels.nsp, [event, *args])
        try:
            payload = encode_broadcast(EMITTER_UID, packet, opts, emitter=True)
        except (TypeError, ValueError) as e:
            raise _argument_error(f"event {event!r}", args, pack, e) from None
        return self.publish(self.channels.for_broadcast(opts), payload)

    def emit_with_ack(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> NoReturn:
        raise TypeError("the emitter does not support acknowledgements (as Node's emitter)")

    def fetch_sockets(self, opts: BroadcastOptions) -> NoReturn:
        raise TypeError("the emitter cannot fetch sockets: it waits for no answer (as Node's emitter)")

    def sockets_join(self, opts: BroadcastOptions, rooms: frozenset[str]) -> R:
        return self.publish(self.channels.request, remote_join_request(None, opts, sorted(rooms)))

    def sockets_leave(self, opts: BroadcastOptions, rooms: frozenset[str]) -> R:
        return self.publish(self.channels.request, remote_leave_request(None, opts, sorted(rooms)))

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> R:
        return self.publish(self.channels.request, remote_disconnect_request(None, opts, close))


#: What the emitter's chaining methods return: the package's one operator.
EmitterOperator = BroadcastOperator


class _EmitterBase(FrontDoors[R, NoReturn, NoReturn, R]):
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

    def _operator(self) -> BroadcastOperator[R, NoReturn, NoReturn, R]:
        return BroadcastOperator(EmitterExecutor(self._publish, Channels(self.key, self.nsp)))

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
    ``reactor`` is the one that connection runs on (pass yours; without it
    the connection picks the global reactor).
    """

    def __init__(self, connection: Any, key: str = DEFAULT_KEY, nsp: str = "/", *, reactor: Any = None) -> None:
        if isinstance(connection, str):
            from txsocketio.redisconn import RedisConnection

            connection = RedisConnection(connection, reactor)
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
