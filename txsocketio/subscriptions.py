# -*- test-case-name: tests.test_subscriptions,tests.interop.test_redis_subscriptions -*-
"""Forward Redis pub/sub channels to connected clients.

The gevent-socketio pattern: a client asks for a feed, its handler subscribes
it to a Redis channel (or a glob pattern), and every message published there
reaches that client as an event for as long as the connection holds::

    class Prices(Namespace):                       # class-based
        def on_watch(self, symbol):
            return self.subscribe(f"prices:{symbol}", event="price")

    @sio.on("watch")                               # function-style
    def watch(socket, symbol):
        return subscriptions.subscribe(socket, f"prices:{symbol}", event="price")

    # anywhere: redis-cli PUBLISH prices:ACME '{"bid": 12.5}'
    #   -> the watching clients get the event "price" with {"bid": 12.5}

* The event name is the channel's, unless ``event`` says otherwise: a name,
  or a callable ``(channel, pattern) -> name`` (``pattern`` is ``None`` for a
  plain subscription).  :attr:`Subscriptions.event_name` changes the default
  for a whole server.
* The message is JSON-decoded (:func:`decode_json`) unless ``decode`` says
  otherwise: ``None`` forwards it raw (a ``str`` when it is UTF-8 text,
  ``bytes`` otherwise, which the client gets as binary), and any callable
  gets the ``bytes`` and returns the value to send.  A message that does not
  decode is logged and skipped (for that subscription only).
* Subscribing returns a Deferred that fires once Redis has confirmed the
  subscription (at once when the channel was already subscribed).  While Redis
  is down it waits, and subscriptions made meanwhile start when it is back.
* A disconnecting client is unsubscribed from everything automatically (also
  one refused after subscribing in its connect handler): the subscriptions
  are work tied to the connection (:meth:`txsocketio.Socket.spawn`).
* The server's :class:`~txsocketio.redisconn.RedisConnection` carries every
  client's subscriptions on its ONE shared subscriber connection: a channel
  watched by a thousand clients is one ``SUBSCRIBE``, each message is decoded
  once per decoder and written to each client; the connection subscribes
  again after Redis restarts.

The connection is the one of the server's Redis adapter (``twistd
txsocketio --redis URL``, or ``SocketIOServer(adapter=redis_adapter(url))``),
so one process keeps one subscriber connection for everything.  A server
without the Redis adapter can still forward channels:
``Subscriptions.of(sio, connection=RedisConnection(url))`` once at start-up.
"""

from __future__ import annotations

import json
import weakref
from typing import TYPE_CHECKING, Any, Callable, Union

from twisted.internet.defer import Deferred, succeed

from txsocketio.logs import Logger
from txsocketio.socketio.events import check_event_name
from txsocketio.socketio.packet import Packet, PacketType

if TYPE_CHECKING:
    from txsocketio.redisconn import RedisConnection, Subscription
    from txsocketio.socketio.server import SocketIOServer
    from txsocketio.socketio.socket import Socket

__all__ = [
    "Subscriptions", "decode_json", "decode_raw", "subscribe", "psubscribe", "unsubscribe",
    "punsubscribe", "EventName", "server_connection",
]

log = Logger(namespace="txsocketio.subscriptions")

#: ``event=``: a fixed name, or ``(channel, pattern) -> name``
EventName = Union[str, Callable[[str, "str | None"], str], None]
Decoder = Union[Callable[[bytes], Any], None]

CHANNEL = "channel"
PATTERN = "pattern"


def decode_json(message: bytes) -> Any:
    """The default decoder: the message is JSON (UTF-8)."""
    return json.loads(message)


def decode_raw(message: bytes) -> str | bytes:
    """``decode=None``: UTF-8 text as ``str``, anything else as ``bytes``."""
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        return message


def default_event_name(channel: str, pattern: str | None) -> str:
    """The event is named after the channel the message came from."""
    return channel


class _Forward:
    """How one socket receives one channel or pattern."""

    __slots__ = ("event", "decode")

    def __init__(self, event: EventName, decode: Decoder) -> None:
        self.event = event
        self.decode = decode


class _Topic:
    """One channel or pattern: its single Redis subscription and its sockets."""

    __slots__ = ("kind", "name", "handle", "sockets")

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        self.handle: "Subscription | None" = None
        self.sockets: dict["Socket", _Forward] = {}


_servers: "weakref.WeakKeyDictionary[SocketIOServer, Subscriptions]" = weakref.WeakKeyDictionary()


class Subscriptions:
    """The Redis channels and patterns forwarded to the clients of one server.

    Get it with :meth:`of`; the :class:`~txsocketio.Namespace` methods and
    this module's functions use it.
    """

    def __init__(self, connection: "RedisConnection") -> None:
        self.connection = connection
        #: the default event name of a message: ``(channel, pattern) -> name``
        self.event_name: Callable[[str, str | None], str] = default_event_name
        self._topics: dict[tuple[str, str], _Topic] = {}
        self._by_socket: dict["Socket", set[tuple[str, str]]] = {}
        # socket -> a Deferred tied to its connection (socket.spawn): the
        # socket cancels it when it leaves, which unsubscribes it
        self._lifetimes: dict["Socket", Deferred[None]] = {}

    @classmethod
    def of(cls, sio: "SocketIOServer", connection: "RedisConnection | None" = None) -> "Subscriptions":
        """The subscriptions of server ``sio`` (made on first use, on the
        server's Redis connection, or on ``connection`` when given then)."""
        found = _servers.get(sio)
        if found is not None:
            if connection is not None and connection is not found.connection:
                raise RuntimeError("the subscriptions of this server already use another Redis connection")
            return found
        if connection is None:
            connection = server_connection(sio)
        if connection is None:
            raise RuntimeError(
                "forwarding Redis channels needs the server's Redis connection: run it with "
                "`twistd txsocketio --redis redis://...`, or build it with "
                "SocketIOServer(adapter=redis_adapter(url)), or call "
                "Subscriptions.of(sio, connection=RedisConnection(url)) once at start-up")
        found = _servers[sio] = cls(connection)
        return found

    # -- what is subscribed ------------------------------------------------------------

    def channels(self, socket: "Socket") -> set[str]:
        """The channels ``socket`` is subscribed to."""
        return {name for kind, name in self._by_socket.get(socket, ()) if kind == CHANNEL}

    def patterns(self, socket: "Socket") -> set[str]:
        """The patterns ``socket`` is subscribed to."""
        return {name for kind, name in self._by_socket.get(socket, ()) if kind == PATTERN}

    def sockets(self) -> set["Socket"]:
        """The sockets with at least one channel or pattern forwarded to them."""
        return set(self._by_socket)

    def listeners(self, channel_or_pattern: str, pattern: bool = False) -> int:
        """How many sockets of this server listen to that channel (or pattern)."""
        topic = self._topics.get((PATTERN if pattern else CHANNEL, channel_or_pattern))
        return len(topic.sockets) if topic is not None else 0

    # -- subscribing ---------------------------------------------------------------------

    def subscribe(self, socket: "Socket", channel: str, event: EventName = None,
                  decode: Decoder = decode_json) -> "Deferred[None]":
        """Forward every message of ``channel`` to ``socket`` (see the module docstring).

        Subscribing again replaces ``event`` and ``decode`` (a message is
        never delivered twice).  Fires once Redis confirmed the subscription.
        Raises ``ValueError`` when the event would have a reserved name.
        """
        return self._add(socket, CHANNEL, channel, event, decode)

    def psubscribe(self, socket: "Socket", pattern: str, event: EventName = None,
                   decode: Decoder = decode_json) -> "Deferred[None]":
        """Forward the messages of every channel matching the glob-style
        ``pattern`` (``news.*``); the event is named after each message's
        channel unless ``event`` says otherwise."""
        return self._add(socket, PATTERN, pattern, event, decode)

    def unsubscribe(self, socket: "Socket", channel: str | None = None) -> None:
        """Stop forwarding ``channel`` (every channel when ``None``) to ``socket``."""
        self._remove(socket, CHANNEL, channel)

    def punsubscribe(self, socket: "Socket", pattern: str | None = None) -> None:
        """Stop forwarding ``pattern`` (every pattern when ``None``) to ``socket``."""
        self._remove(socket, PATTERN, pattern)

    def unsubscribe_all(self, socket: "Socket") -> None:
        """Every channel and pattern (done automatically on disconnect)."""
        self._remove(socket, CHANNEL, None)
        self._remove(socket, PATTERN, None)

    # -- plumbing ------------------------------------------------------------------------

    def _add(self, socket: "Socket", kind: str, name: str, event: EventName,
             decode: Decoder) -> "Deferred[None]":
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {kind} is a non-empty str, not {name!r}")
        if not (event is None or isinstance(event, str) or callable(event)):
            raise TypeError("event is a name, a callable (channel, pattern) -> name, or None")
        if isinstance(event, str):
            check_event_name(event)
        elif event is None and kind == CHANNEL and self.event_name is default_event_name:
            check_event_name(name)  # "disconnect" cannot be forwarded under its own name
        if decode is not None and not callable(decode):
            raise TypeError("decode is a callable taking bytes, or None for the raw message")
        if socket.disconnected:
            log.debug("{socket} is gone: not subscribing it to {name!r}", socket=socket, name=name)
            return succeed(None)
        key = (kind, name)
        topic = self._topics.get(key)
        if topic is None:
            topic = self._topics[key] = _Topic(kind, name)
            if kind == CHANNEL:
                topic.handle = self.connection.subscribe(
                    name, lambda channel, message: self._deliver(topic, channel, None, message))
            else:
                topic.handle = self.connection.psubscribe(
                    name, lambda pattern, channel, message: self._deliver(topic, channel, pattern, message))
        topic.sockets[socket] = _Forward(event, decode)
        keys = self._by_socket.get(socket)
        if keys is None:
            keys = self._by_socket[socket] = set()
            # Also when the socket is refused after subscribing in its connect
            # handler (no "disconnect" event then).
            lifetime: Deferred[None] = Deferred(lambda _: self.unsubscribe_all(socket))
            self._lifetimes[socket] = lifetime
            socket.spawn(lifetime)
        keys.add(key)
        assert topic.handle is not None
        return topic.handle.ready()

    def _remove(self, socket: "Socket", kind: str, name: str | None) -> None:
        keys = self._by_socket.get(socket)
        if not keys:
            return
        chosen = [k for k in keys if k[0] == kind and (name is None or k[1] == name)]
        for key in chosen:
            keys.discard(key)
            topic = self._topics.get(key)
            if topic is None:
                continue
            topic.sockets.pop(socket, None)
            if not topic.sockets:
                del self._topics[key]
                if topic.handle is not None:
                    self.connection.unsubscribe(topic.handle)
        if not keys:
            del self._by_socket[socket]
            lifetime = self._lifetimes.pop(socket, None)
            if lifetime is not None and not lifetime.called:
                lifetime.callback(None)  # done: the socket stops holding it

    def _deliver(self, topic: _Topic, channel: str, pattern: str | None, message: bytes) -> None:
        # Decode once per decoder, encode once per (namespace, event, decoder):
        # a thousand listeners cost one decode and one encode.
        decoded: dict[Any, Any] = {}
        encoded: dict[tuple[Any, str, Any], Any] = {}
        for socket, forward in list(topic.sockets.items()):
            decode = forward.decode or decode_raw
            if decode in decoded:
                value = decoded[decode]
            else:
                try:
                    value = decode(message)
                except Exception as e:
                    value = _Undecodable(e)
                    log.warn("a message on Redis channel {channel!r} was not forwarded: "
                             "{decoder} failed: {error}",
                             channel=channel, decoder=getattr(decode, "__name__", decode), error=e)
                decoded[decode] = value
            if isinstance(value, _Undecodable):
                continue
            try:
                event = forward.event
                if event is None:
                    event = self.event_name(channel, pattern)
                elif not isinstance(event, str):
                    event = event(channel, pattern)
            except Exception:
                log.failure("naming the event for a message of Redis channel {channel!r} failed",
                            channel=channel)
                continue
            key = (socket.nsp, event, decode)
            ready = encoded.get(key)
            if ready is None:
                try:
                    check_event_name(event)
                    packet = Packet(PacketType.EVENT, socket.nsp.name, [event, value])
                    ready = (socket.nsp.prepare(packet), packet)
                except Exception as e:  # a reserved or non-str name; a value that is not serialisable
                    ready = _Undecodable(e)
                    log.warn("a message on Redis channel {channel!r} was not forwarded as {event!r}: {error}",
                             channel=channel, event=event, error=e)
                encoded[key] = ready
            if isinstance(ready, _Undecodable):
                continue
            socket.deliver(ready[0], ready[1])


class _Undecodable:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def server_connection(sio: "SocketIOServer") -> "RedisConnection | None":
    """The Redis connection of server ``sio``: its Redis adapter's (``--redis``,
    ``redis_adapter(...)``), or ``None``."""
    return getattr(sio.config.adapter, "connection", None)


# -- function-style API ------------------------------------------------------------------


def _of(socket: "Socket") -> Subscriptions:
    return Subscriptions.of(socket.nsp.server)


def subscribe(socket: "Socket", channel: str, event: EventName = None,
              decode: Decoder = decode_json) -> "Deferred[None]":
    """Forward ``channel`` to ``socket``: :meth:`Subscriptions.subscribe` on its server."""
    return _of(socket).subscribe(socket, channel, event, decode)


def psubscribe(socket: "Socket", pattern: str, event: EventName = None,
               decode: Decoder = decode_json) -> "Deferred[None]":
    """Forward the channels matching ``pattern`` to ``socket``."""
    return _of(socket).psubscribe(socket, pattern, event, decode)


def unsubscribe(socket: "Socket", channel: str | None = None) -> None:
    """Stop forwarding ``channel`` (every channel when ``None``) to ``socket``."""
    found = _servers.get(socket.nsp.server)
    if found is not None:
        found.unsubscribe(socket, channel)


def punsubscribe(socket: "Socket", pattern: str | None = None) -> None:
    """Stop forwarding ``pattern`` (every pattern when ``None``) to ``socket``."""
    found = _servers.get(socket.nsp.server)
    if found is not None:
        found.punsubscribe(socket, pattern)
