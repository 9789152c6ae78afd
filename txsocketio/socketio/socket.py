# -*- test-case-name: tests.test_socketio_events -*-
"""The server-side Socket: one client connected to one namespace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

import attrs
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from txsocketio._invoke import invoke, log_failures
from txsocketio.engineio.handshake import Handshake
from txsocketio.errors import AckTimeout, SocketDisconnected
from txsocketio.socketio.namespace import method_name
from txsocketio.socketio.packet import Packet, PacketType

if TYPE_CHECKING:
    from txsocketio.engineio.server import OutgoingMessage
    from txsocketio.socketio.broadcast import BroadcastOperator
    from txsocketio.socketio.client import Client
    from txsocketio.socketio.namespace import Namespace
    from txsocketio.socketio.server import ServerNamespace

__all__ = ["Socket", "SocketHandshake", "RESERVED_EVENTS", "check_event_name", "ack_arguments"]

log = Logger(namespace="txsocketio.socketio")

#: Event names an application may not emit (they mean something to the clients).
RESERVED_EVENTS = frozenset(
    ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]
)


def check_event_name(event: Any) -> None:
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


@attrs.frozen
class SocketHandshake(Handshake):
    """The handshake of a Socket.IO connection, as Node's ``socket.handshake``:
    the Engine.IO handshake (headers, query, address, time, url, secure,
    cookies, a WSGI-style environ…) plus the ``auth`` the client sent."""

    auth: Mapping[str, Any] = attrs.field(factory=dict)


class _Ack:
    __slots__ = ("on_ack", "on_disconnect")

    def __init__(self, on_ack: Callable[[list[Any]], None],
                 on_disconnect: Callable[[], None] | None = None) -> None:
        self.on_ack = on_ack
        self.on_disconnect = on_disconnect


class _Emitter:
    """Emit helpers shared by :class:`Socket` and its flagged views."""

    _socket: "Socket"
    _volatile = False
    _compress = True
    _timeout: float | None = None

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` to this client.

        Raises ``TypeError`` (naming the argument) when an argument cannot be
        serialised, and ``ValueError`` for a reserved event name.
        """
        check_event_name(event)
        socket = self._socket
        socket._send(Packet(PacketType.EVENT, socket.nsp.name, [event, *args]), self._volatile,
                     self._compress)

    def send(self, *args: Any) -> None:
        """Emit a ``message`` event (Node's ``socket.send``)."""
        self.emit("message", *args)

    def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> "Deferred[list[Any]]":
        """Emit and wait for the client's acknowledgement.

        Fires with the list of the client's ack arguments; fails with
        :class:`~txsocketio.errors.AckTimeout` after ``timeout`` seconds (when
        given, here or with :meth:`Socket.timeout`) and with
        :class:`~txsocketio.errors.SocketDisconnected` if the client goes away
        first.  Cancelling the Deferred forgets the acknowledgement.
        """
        check_event_name(event)
        socket = self._socket
        if timeout is None:
            timeout = self._timeout
        if not socket.connected and socket._buffer is None:
            from twisted.internet.defer import fail

            return fail(SocketDisconnected(f"socket {socket.id} is disconnected"))
        ack_id = socket.nsp.next_ack_id()
        packet = Packet(PacketType.EVENT, socket.nsp.name, [event, *args], id=ack_id)
        encoded = socket.nsp.prepare(packet, self._compress)  # TypeError here, before anything is registered
        timer: Any = None

        def stop_timer() -> None:
            if timer is not None and timer.active():
                timer.cancel()

        def cancel(_: Deferred[list[Any]]) -> None:
            socket._acks.pop(ack_id, None)
            stop_timer()

        d: Deferred[list[Any]] = Deferred(cancel)

        def on_ack(args: list[Any]) -> None:
            stop_timer()
            d.callback(args)

        def on_disconnect() -> None:
            stop_timer()
            d.errback(SocketDisconnected(f"socket {socket.id} disconnected before acknowledging {event!r}"))

        def on_timeout() -> None:
            if socket._acks.pop(ack_id, None) is not None:
                d.errback(AckTimeout(f"no acknowledgement of {event!r} within {timeout} s"))

        socket._acks[ack_id] = _Ack(on_ack, on_disconnect)
        if timeout is not None:
            timer = socket.nsp.server.reactor.callLater(timeout, on_timeout)
        socket._write_encoded(encoded, packet, self._volatile)
        return d

    def timeout(self, seconds: float) -> "_FlaggedSocket":
        """A view whose ``emit_with_ack`` fails after ``seconds``."""
        return _FlaggedSocket(self._socket, self._volatile, self._compress, seconds)

    @property
    def volatile(self) -> "_FlaggedSocket":
        """A view whose emits are dropped when the client cannot take them right now."""
        return _FlaggedSocket(self._socket, True, self._compress, self._timeout)

    def compress(self, flag: bool) -> "_FlaggedSocket":
        """A view with WebSocket compression on or off.

        Accepted for compatibility with Node's API; the transport currently
        compresses every message the same way (see ``per_message_deflate``).
        """
        return _FlaggedSocket(self._socket, self._volatile, bool(flag), self._timeout)


class _FlaggedSocket(_Emitter):
    __slots__ = ("_socket", "_volatile", "_compress", "_timeout")

    def __init__(self, socket: "Socket", volatile: bool, compress: bool, timeout: float | None) -> None:
        self._socket = socket
        self._volatile = volatile
        self._compress = compress
        self._timeout = timeout


class Socket(_Emitter):
    """A client connected to a namespace.

    ``id`` is unique in the namespace (and is the name of a room the socket is
    always in); ``data`` is a dict for the application; ``handshake`` describes
    the opening request and the ``auth`` the client sent.
    """

    def __init__(self, nsp: "ServerNamespace", client: "Client", sid: str,
                 handshake: SocketHandshake) -> None:
        self.nsp = nsp
        self.client = client
        self.id = sid
        self.handshake = handshake
        self.data: dict[str, Any] = {}
        #: True from the CONNECT reply until the socket leaves the namespace
        self.connected = False
        #: the class-based handler instance, when the namespace has one
        self.instance: "Namespace | None" = None
        self._socket = self
        # Encoded packets emitted while the middlewares and the connect
        # handler run; None once the socket is connected or gone.
        self._buffer: list[tuple[list["OutgoingMessage"], Packet, bool]] | None = []
        self._acks: dict[int, _Ack] = {}
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._any: list[Callable[..., Any]] = []
        self._any_outgoing: list[Callable[..., Any]] = []
        self._middlewares: list[Callable[..., Any]] = []
        self._disconnect_after_connect: bool | None = None

    def __repr__(self) -> str:
        return f"<Socket {self.id} on {self.nsp.name}>"

    # -- identity ---------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self.nsp.name

    @property
    def rooms(self) -> set[str]:
        """The rooms this socket is in (its own id included)."""
        return self.nsp.adapter.socket_rooms(self.id)

    @property
    def request(self) -> SocketHandshake:
        return self.handshake

    @property
    def transport(self) -> str:
        return self.client.eio.transport

    @property
    def disconnected(self) -> bool:
        """True once the socket has left the namespace (or was refused)."""
        return not self.connected and self._buffer is None

    # -- rooms ------------------------------------------------------------------

    def join(self, *rooms: str) -> None:
        """Join ``rooms`` (ignored once the socket is disconnected)."""
        if self.connected or self._buffer is not None:
            self.nsp.adapter.add_all(self.id, rooms)

    def leave(self, *rooms: str) -> None:
        for room in rooms:
            self.nsp.adapter.delete(self.id, room)

    # -- broadcasting from this socket (the sender is excluded) --------------------

    def _operator(self) -> "BroadcastOperator":
        from txsocketio.socketio.broadcast import BroadcastOperator

        return BroadcastOperator(self.nsp, except_=frozenset([self.id]))

    def to(self, *rooms: str) -> "BroadcastOperator":
        """Everyone in ``rooms`` except this socket."""
        return self._operator().to(*rooms)

    in_ = to

    def except_(self, *rooms: str) -> "BroadcastOperator":
        """Everyone in the namespace except this socket and ``rooms``."""
        return self._operator().except_(*rooms)

    @property
    def broadcast(self) -> "BroadcastOperator":
        """Everyone in the namespace except this socket."""
        return self._operator()

    # -- listeners ----------------------------------------------------------------

    def on(self, event: str, listener: Callable[..., Any] | None = None) -> Any:
        """Listen to ``event`` on this socket only (Node's ``socket.on``).

        The listener gets the event's arguments; when no namespace handler
        answers an event that asked for an ack, the first listener's return
        value is the ack.  ``disconnecting`` and ``disconnect`` listeners get
        the reason, ``error`` listeners the exception that made a per-packet
        middleware drop an event.  Usable as a decorator.
        """
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._listeners.setdefault(event, []).append(fn)
            return fn

        return register(listener) if listener is not None else register

    def off(self, event: str, listener: Callable[..., Any] | None = None) -> None:
        if listener is None:
            self._listeners.pop(event, None)
        elif listener in self._listeners.get(event, ()):
            self._listeners[event].remove(listener)

    def on_any(self, listener: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``listener(event, *args)`` for every incoming event (before its handler)."""
        self._any.append(listener)
        return listener

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        if listener is None:
            self._any.clear()
        elif listener in self._any:
            self._any.remove(listener)

    def on_any_outgoing(self, listener: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``listener(event, *args)`` for every event sent to this client
        (its own emits and the broadcasts that reach it)."""
        self._any_outgoing.append(listener)
        return listener

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        if listener is None:
            self._any_outgoing.clear()
        elif listener in self._any_outgoing:
            self._any_outgoing.remove(listener)

    def use(self, middleware: Callable[..., Any]) -> Callable[..., Any]:
        """Per-packet middleware: ``middleware(event, args)`` before each incoming event.

        Middlewares run in the order they were added; ``args`` is the list of
        the event's arguments and may be changed in place.  A middleware may
        return a Deferred or be a coroutine; raising (or failing) drops the
        event, which is logged and reported to ``error`` listeners of this
        socket.
        """
        self._middlewares.append(middleware)
        return middleware

    # -- leaving ------------------------------------------------------------------

    def disconnect(self, close: bool = False) -> None:
        """Disconnect from this namespace; with ``close``, end the whole connection.

        Handlers see ``"server namespace disconnect"``.  Called while the
        socket is connecting (from a middleware or the connect handler), it
        takes effect right after the CONNECT reply.
        """
        if not self.connected:
            if self._buffer is not None:
                self._disconnect_after_connect = bool(close) or bool(self._disconnect_after_connect)
            return
        if close:
            self.client.disconnect_all("server namespace disconnect")
            return
        self._send(Packet(PacketType.DISCONNECT, self.nsp.name))
        self._on_close("server namespace disconnect")

    # -- writing ------------------------------------------------------------------

    def _send(self, packet: Packet, volatile: bool = False, compress: bool = True) -> None:
        self._write_encoded(self.nsp.prepare(packet, compress), packet, volatile)

    def _write_encoded(self, encoded: list["OutgoingMessage"], packet: Packet, volatile: bool) -> None:
        if not self.connected:
            if self._buffer is not None and not volatile:
                self._buffer.append((encoded, packet, volatile))
            return
        eio = self.client.eio
        if volatile and not eio.writable:
            return
        if self._any_outgoing and packet.type is PacketType.EVENT:
            for listener in list(self._any_outgoing):
                log_failures(log, listener, *packet.data,
                             what="outgoing catch-all listener failed on {socket}", socket=self)
        eio.send_many(encoded)

    def _expect_ack(self, ack_id: int, callback: Callable[[Any], None]) -> None:
        """For broadcasts with acks: ``callback`` gets the client's first ack argument."""
        self._acks[ack_id] = _Ack(lambda args: callback(args[0] if args else None))

    def _connected(self) -> None:
        """The CONNECT reply went out: flush what was emitted while connecting."""
        buffered, self._buffer = self._buffer or [], None
        self.connected = True
        for encoded, packet, volatile in buffered:
            self._write_encoded(encoded, packet, volatile)
            if not self.connected:
                return
        if self._disconnect_after_connect is not None:
            self.disconnect(self._disconnect_after_connect)

    # -- reading ------------------------------------------------------------------

    def _on_event(self, packet: Packet) -> None:
        data = packet.data
        event = data[0]
        if event in RESERVED_EVENTS:
            log.info("{socket}: ignoring reserved event name {event!r} from the client",
                     socket=self, event=event)
            return
        if not self._middlewares:
            self._dispatch(event, data[1:], packet.id)
            return
        self._run_middlewares(0, event, data[1:], packet.id)

    def _run_middlewares(self, index: int, event: str, args: list[Any], ack_id: int | None) -> None:
        middlewares = self._middlewares
        while index < len(middlewares):
            middleware = middlewares[index]
            index += 1
            try:
                result = invoke(middleware, event, args)
            except Exception as e:
                self._middleware_refused(event, e)
                return
            if isinstance(result, Deferred):
                def resume(_: Any, i: int = index) -> None:
                    if self.connected:
                        self._run_middlewares(i, event, args, ack_id)

                result.addCallbacks(resume, lambda f: self._middleware_refused(event, f.value))
                result.addErrback(lambda f: log.failure("event {event!r} on {socket} failed", f,
                                                        event=event, socket=self))
                return
        self._dispatch(event, args, ack_id)

    def _middleware_refused(self, event: str, error: BaseException | None) -> None:
        log.info("{socket}: middleware dropped event {event!r}: {error!r}", socket=self, event=event,
                 error=error)
        for listener in list(self._listeners.get("error", ())):
            log_failures(log, listener, error, what="error listener failed on {socket}", socket=self)

    def _dispatch(self, event: str, args: list[Any], ack_id: int | None) -> None:
        if self._any:
            for listener in list(self._any):
                log_failures(log, listener, event, *args,
                             what="catch-all listener failed for {event!r} on {socket}",
                             event=event, socket=self)
        nsp = self.nsp
        fn: Callable[..., Any] | None = None
        head: tuple[Any, ...] = ()
        instance = self.instance
        if instance is not None:
            fn = getattr(instance, method_name(event), None)
        if fn is None:
            handlers = nsp.handlers
            fn = handlers.get(event) if event != "*" else None
            if fn is not None:
                head = (self,)
            else:
                fn = handlers.get("*")
                if fn is not None:
                    head = (self, event)
        listeners = self._listeners.get(event)
        if fn is None and not listeners:
            log.debug("{socket}: no handler for event {event!r}", socket=self, event=event)
            return
        if fn is not None:
            self._run_handler(fn, head, args, event, ack_id)
            ack_id = None
        if listeners:
            for listener in list(listeners):
                self._run_handler(listener, (), args, event, ack_id)
                ack_id = None

    def _run_handler(self, fn: Callable[..., Any], head: tuple[Any, ...], args: list[Any],
                     event: str, ack_id: int | None) -> None:
        try:
            result = invoke(fn, *head, *args)
        except Exception:
            log.failure("handler for {event!r} failed on {socket}", event=event, socket=self)
            return
        if isinstance(result, Deferred):
            if ack_id is not None:
                result.addCallback(lambda r: self._send_ack(ack_id, r))
            result.addErrback(lambda f: log.failure("handler for {event!r} failed on {socket}", f,
                                                    event=event, socket=self))
        elif ack_id is not None:
            self._send_ack(ack_id, result)

    def _send_ack(self, ack_id: int, result: Any) -> None:
        if not self.connected:
            return
        try:
            self._send(Packet(PacketType.ACK, self.nsp.name, ack_arguments(result), id=ack_id))
        except (TypeError, ValueError):
            log.failure("cannot acknowledge on {socket}: the handler's result is not serialisable",
                        socket=self)

    def _on_ack(self, packet: Packet) -> None:
        ack = self._acks.pop(packet.id, None) if packet.id is not None else None
        if ack is None:
            log.debug("{socket}: ack for unknown id {id}", socket=self, id=packet.id)
            return
        try:
            ack.on_ack(packet.data if packet.data is not None else [])
        except Exception:
            log.failure("ack callback failed on {socket}", socket=self)

    def _on_close(self, reason: str) -> None:
        """Leave the namespace: rooms, tables, pending acks, then the handlers.

        A socket that never completed its connection is removed silently (no
        disconnect handlers: its connect handler did not succeed).
        """
        was_connected = self.connected
        if not was_connected and self._buffer is None:
            return
        if was_connected:
            self.nsp.run_lifecycle(self, "disconnecting", reason)
        self.connected = False
        self._buffer = None
        nsp = self.nsp
        nsp.adapter.del_all(self.id)
        if nsp.sockets.get(self.id) is self:
            del nsp.sockets[self.id]
        if self.client.sockets.get(nsp.name) is self:
            del self.client.sockets[nsp.name]
        acks, self._acks = self._acks, {}
        for ack in acks.values():
            if ack.on_disconnect is not None:
                try:
                    ack.on_disconnect()
                except Exception:
                    log.failure("ack errback failed on {socket}", socket=self)
        if was_connected:
            log.debug("{socket} disconnected: {reason}", socket=self, reason=reason)
            nsp.run_lifecycle(self, "disconnect", reason)
