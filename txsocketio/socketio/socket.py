# -*- test-case-name: tests.test_socketio_events,tests.test_socketio_tasks -*-
"""The server-side Socket: one client connected to one namespace.

The socket is glue: the connection (:mod:`txsocketio.socketio.client`) hands
it the events and acknowledgements its state machine decoded
(:meth:`Socket.handle_event`, :meth:`Socket.handle_ack`), adapters hand it
encoded broadcasts (:meth:`Socket.deliver`), and it runs the application's
handlers, listeners and per-packet middlewares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, overload

import attrs
from twisted.internet.defer import Deferred, fail


from txsocketio._invoke import invoke, log_failures
from txsocketio.adapters.base import BroadcastOptions, Flags
from txsocketio.engineio.handshake import Handshake
from txsocketio.errors import AckTimeout, SocketDisconnected
from txsocketio.logs import Logger
from txsocketio.observer import NULL_OBSERVER, message_size
from txsocketio.socketio.broadcast import BroadcastOperator, ServerOperator
from txsocketio.socketio.events import RESERVED_EVENTS, HandlerT, ack_arguments, check_event_name
from txsocketio.socketio.namespace import method_name
from txsocketio.socketio.packet import Packet, PacketType
from txsocketio.socketio.recovering import persist_session
from txsocketio.socketio.tasks import ConnectionTasks

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall
    from twisted.internet.task import LoopingCall

    from txsocketio.engineio.server import OutgoingMessage
    from txsocketio.socketio.client import Client
    from txsocketio.socketio.namespace import Namespace
    from txsocketio.socketio.namespaces import ServerNamespace

__all__ = ["Socket", "SocketHandshake", "SocketExecutor", "RESERVED_EVENTS", "check_event_name",
           "ack_arguments"]

log = Logger(namespace="txsocketio.socketio")


@attrs.frozen
class SocketHandshake(Handshake):
    """The handshake of a Socket.IO connection, as Node's ``socket.handshake``:
    the Engine.IO handshake (headers, query, address, time, url, secure,
    cookies, a WSGI-style environ…) plus the ``auth`` the client sent."""

    auth: Mapping[str, Any] = attrs.field(factory=dict)


#: the selection of a socket's own emits: no rooms, no exclusions, no flags
_EVERYONE = BroadcastOptions()


class _Ack:
    __slots__ = ("on_ack", "on_disconnect")

    def __init__(self, on_ack: Callable[[list[Any]], None],
                 on_disconnect: Callable[[], None] | None = None) -> None:
        self.on_ack = on_ack
        self.on_disconnect = on_disconnect


class SocketExecutor:
    """Carries a selection out for one socket (see :mod:`txsocketio.socketio.broadcast`).

    Without rooms or exclusions the socket itself is the recipient
    (``socket.volatile.emit(...)``, ``socket.timeout(5).emit_with_ack(...)``);
    with them it is its namespace minus the socket (``socket.to(room)``,
    ``socket.broadcast``, ``socket.volatile.to(room)``), as in Node.
    """

    __slots__ = ("socket",)

    def __init__(self, socket: "Socket") -> None:
        self.socket = socket

    def __repr__(self) -> str:
        return f"<from {self.socket!r}>"

    def _others(self, opts: BroadcastOptions) -> BroadcastOptions:
        return opts.excluding([self.socket.id])

    def emit(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> None:
        socket = self.socket
        if opts.selects_others:
            socket.nsp.executor.emit(self._others(opts), event, args)
            return
        flags = opts.flags
        socket.send_packet(Packet(PacketType.EVENT, socket.nsp.name, [event, *args]), flags.volatile,
                           flags.compressed)

    def emit_with_ack(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> "Deferred[list[Any]]":
        if opts.selects_others:
            return self.socket.nsp.executor.emit_with_ack(self._others(opts), event, args)
        return self.socket.request_ack(event, args, opts.flags)

    def fetch_sockets(self, opts: BroadcastOptions) -> "Deferred[list[Any]]":
        return self.socket.nsp.executor.fetch_sockets(self._others(opts))

    def sockets_join(self, opts: BroadcastOptions, rooms: frozenset[str]) -> "Deferred[None]":
        return self.socket.nsp.executor.sockets_join(self._others(opts), rooms)

    def sockets_leave(self, opts: BroadcastOptions, rooms: frozenset[str]) -> "Deferred[None]":
        return self.socket.nsp.executor.sockets_leave(self._others(opts), rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> "Deferred[None]":
        return self.socket.nsp.executor.disconnect_sockets(self._others(opts), close)


class Socket:
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
        #: the private session id of connection state recovery (None when it is off)
        self.pid: str | None = None
        #: True when this socket got back the id, rooms, data and missed packets of a lost one
        self.recovered = False
        # Encoded packets emitted while the middlewares and the connect
        # handler run; None once the socket is connected or gone.
        self._buffer: list[tuple[Sequence["str | bytes | OutgoingMessage"], Packet, bool]] | None = []
        self._acks: dict[int, _Ack] = {}
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._any: list[Callable[..., Any]] = []
        self._any_outgoing: list[Callable[..., Any]] = []
        self._middlewares: list[Callable[..., Any]] = []
        self._disconnect_after_connect: bool | None = None
        self._tasks: ConnectionTasks | None = None
        #: what carries out this socket's emits and views (see txsocketio.socketio.broadcast)
        self.executor = SocketExecutor(self)
        nsp.socket_connecting(self)

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
    def client_id(self) -> str:
        """The id of the Engine.IO session (shared by the sockets of one connection)."""
        return self.client.eio.sid

    @property
    def connecting(self) -> bool:
        """True while the middlewares and the connect handler run."""
        return not self.connected and self._buffer is not None

    @property
    def disconnected(self) -> bool:
        """True once the socket has left the namespace (or was refused)."""
        return not self.connected and self._buffer is None

    @property
    def pending_acks(self) -> int:
        """How many acknowledgements this socket still waits for from its client."""
        return len(self._acks)

    # -- rooms ------------------------------------------------------------------

    def join(self, *rooms: str) -> None:
        """Join ``rooms`` (ignored once the socket is disconnected)."""
        if not self.disconnected:
            observer = self.nsp.server.observer
            before = self.rooms if self.connected and observer is not NULL_OBSERVER else None
            self.nsp.adapter.add_all(self.id, rooms)
            if before is not None:
                for room in dict.fromkeys(r for r in rooms if r not in before):
                    observer.room_joined(self, room)

    def leave(self, *rooms: str) -> None:
        observer = self.nsp.server.observer
        before = self.rooms if self.connected and observer is not NULL_OBSERVER else None
        for room in rooms:
            self.nsp.adapter.delete(self.id, room)
        if before is not None:
            for room in dict.fromkeys(r for r in rooms if r in before):
                observer.room_left(self, room)

    # -- emitting (one operator; see txsocketio.socketio.broadcast) -------------------

    def _operator(self, options: BroadcastOptions = _EVERYONE) -> ServerOperator:
        return BroadcastOperator(self.executor, options)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` to this client.

        Raises ``TypeError`` (naming the argument) when an argument cannot be
        serialised, and ``ValueError`` for a reserved event name.
        """
        # What BroadcastOperator.emit does, without building an operator for it.
        check_event_name(event)
        self.executor.emit(_EVERYONE, event, args)

    def send(self, *args: Any) -> None:
        """Emit a ``message`` event (Node's ``socket.send``)."""
        self.emit("message", *args)

    def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> "Deferred[list[Any]]":
        """Emit and wait for the client's acknowledgement.

        Fires with the list of the client's ack arguments; fails with
        :class:`~txsocketio.errors.AckTimeout` after ``timeout`` seconds (when
        given, here or with :meth:`timeout`) and with
        :class:`~txsocketio.errors.SocketDisconnected` if the client goes away
        first.  Cancelling the Deferred forgets the acknowledgement.
        """
        op = self._operator()
        return (op if timeout is None else op.timeout(timeout)).emit_with_ack(event, *args)

    def timeout(self, seconds: float) -> ServerOperator:
        """A view whose ``emit_with_ack`` fails after ``seconds``."""
        return self._operator().timeout(seconds)

    @property
    def volatile(self) -> ServerOperator:
        """A view whose emits are dropped when the client cannot take them right now."""
        return self._operator().volatile

    def compress(self, flag: bool) -> ServerOperator:
        """A view with permessage-deflate on or off for its messages."""
        return self._operator().compress(flag)

    def to(self, *rooms: str) -> ServerOperator:
        """Everyone in ``rooms`` except this socket."""
        return self._operator().to(*rooms)

    in_ = to

    def except_(self, *rooms: str) -> ServerOperator:
        """Everyone in the namespace except this socket and ``rooms``."""
        return self._operator().except_(*rooms)

    @property
    def broadcast(self) -> ServerOperator:
        """Everyone in the namespace except this socket."""
        return self._operator(BroadcastOptions(except_=frozenset([self.id])))

    def request_ack(self, event: str, args: tuple[Any, ...], flags: Flags) -> "Deferred[list[Any]]":
        """Send ``event`` asking for an acknowledgement (``emit_with_ack``'s work)."""
        if self.disconnected:
            return fail(SocketDisconnected(f"socket {self.id} is disconnected"))
        timeout = flags.timeout
        ack_id = self.nsp.next_ack_id()
        packet = Packet(PacketType.EVENT, self.nsp.name, [event, *args], id=ack_id)
        encoded = self.nsp.prepare(packet, flags.compressed)  # TypeError here, before anything is registered
        timer: Any = None

        def stop_timer() -> None:
            if timer is not None and timer.active():
                timer.cancel()

        def cancel(_: Deferred[list[Any]]) -> None:
            self._acks.pop(ack_id, None)
            stop_timer()

        d: Deferred[list[Any]] = Deferred(cancel)

        def on_ack(answer: list[Any]) -> None:
            stop_timer()
            d.callback(answer)

        def on_disconnect() -> None:
            stop_timer()
            d.errback(SocketDisconnected(f"socket {self.id} disconnected before acknowledging {event!r}"))

        def on_timeout() -> None:
            if self._acks.pop(ack_id, None) is not None:
                self.nsp.server.observer.ack_timed_out()
                d.errback(AckTimeout(f"no acknowledgement of {event!r} within {timeout} s"))

        self._acks[ack_id] = _Ack(on_ack, on_disconnect)
        if timeout is not None:
            timer = self.nsp.reactor.callLater(timeout, on_timeout)
        self.deliver(encoded, packet, flags.volatile)
        return d

    # -- listeners ----------------------------------------------------------------

    @overload
    def on(self, event: str, listener: None = None) -> Callable[[HandlerT], HandlerT]: ...

    @overload
    def on(self, event: str, listener: HandlerT) -> HandlerT: ...

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

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        """The listeners of ``event`` (a copy)."""
        return list(self._listeners.get(event, ()))

    def on_any(self, listener: HandlerT) -> HandlerT:
        """Call ``listener(event, *args)`` for every incoming event (before its handler)."""
        self._any.append(listener)
        return listener

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        if listener is None:
            self._any.clear()
        elif listener in self._any:
            self._any.remove(listener)

    def on_any_outgoing(self, listener: HandlerT) -> HandlerT:
        """Call ``listener(event, *args)`` for every event sent to this client
        (its own emits and the broadcasts that reach it)."""
        self._any_outgoing.append(listener)
        return listener

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        if listener is None:
            self._any_outgoing.clear()
        elif listener in self._any_outgoing:
            self._any_outgoing.remove(listener)

    def use(self, middleware: HandlerT) -> HandlerT:
        """Per-packet middleware: ``middleware(event, args)`` before each incoming event.

        Middlewares run in the order they were added; ``args`` is the list of
        the event's arguments and may be changed in place.  A middleware may
        return a Deferred or be a coroutine; raising (or failing) drops the
        event, which is logged and reported to ``error`` listeners of this
        socket.
        """
        self._middlewares.append(middleware)
        return middleware

    # -- work tied to the connection (txsocketio.socketio.tasks) ------------------------

    @property
    def tasks(self) -> ConnectionTasks:
        """The work this socket started; cancelled when it leaves the namespace."""
        if self._tasks is None:
            self._tasks = ConnectionTasks(self.nsp.reactor, self, closed=self.disconnected)
        return self._tasks

    def every(self, seconds: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "LoopingCall":
        """Call ``fn(*args, **kwargs)`` every ``seconds`` (the first time after
        ``seconds``) while this socket is connected; see
        :meth:`ConnectionTasks.every`.  Returns the ``LoopingCall`` (``.stop()``)."""
        return self.tasks.every(seconds, fn, *args, **kwargs)

    def later(self, seconds: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "IDelayedCall":
        """Call ``fn(*args, **kwargs)`` after ``seconds`` unless this socket left
        first; see :meth:`ConnectionTasks.later`.  Returns the ``IDelayedCall``
        (``.cancel()``)."""
        return self.tasks.later(seconds, fn, *args, **kwargs)

    def spawn(self, work: Any, *args: Any, **kwargs: Any) -> "Deferred[Any]":
        """Run a Deferred, a coroutine or ``work(*args, **kwargs)`` until it ends
        or this socket leaves (then it is cancelled); failures are logged.
        See :meth:`ConnectionTasks.spawn`."""
        return self.tasks.spawn(work, *args, **kwargs)

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
        self.send_packet(self.client.connection.disconnect(self.nsp.name))
        self.handle_close("server namespace disconnect")

    # -- writing ------------------------------------------------------------------

    def send_packet(self, packet: Packet, volatile: bool = False, compress: bool = True) -> None:
        """Encode ``packet`` for this client alone and send it (or buffer it while connecting)."""
        nsp = self.nsp
        self.deliver(nsp.encode(packet) if compress else nsp.prepare(packet, compress), packet, volatile)

    def deliver(self, messages: Sequence["str | bytes | OutgoingMessage"], packet: Packet,
                volatile: bool = False) -> None:
        """Write already-encoded messages (a broadcast hands every recipient the same list).

        While the socket is connecting they wait for the CONNECT reply
        (volatile ones are dropped); once it is gone they are dropped.
        """
        if not self.connected:
            if self._buffer is not None and not volatile:
                self._buffer.append((messages, packet, volatile))
            return
        eio = self.client.eio
        if volatile and not eio.writable:
            return
        if self._any_outgoing and packet.type is PacketType.EVENT:
            for listener in list(self._any_outgoing):
                log_failures(log, listener, *packet.data,
                             what="outgoing catch-all listener failed on {socket}", socket=self)
        observer = self.nsp.server.observer
        if observer is not NULL_OBSERVER:
            self._observe_sent(observer, messages, packet)
        eio.send_many(messages)

    def _observe_sent(self, observer: Any, messages: Sequence["str | bytes | OutgoingMessage"],
                      packet: Packet) -> None:
        nbytes = 0
        for m in messages:
            size = message_size(m)
            observer.message_sent(size)
            nbytes += size
        if packet.type is PacketType.EVENT:
            observer.event_sent(self, packet.data[0], packet.data[1:], nbytes)

    def expect_ack(self, ack_id: int, callback: Callable[[Any], None]) -> None:
        """For broadcasts with acks: ``callback`` gets the client's first ack argument."""
        self._acks[ack_id] = _Ack(lambda args: callback(args[0] if args else None))

    def forget_ack(self, ack_id: int) -> None:
        """Stop waiting for ``ack_id`` (a broadcast with acks is over)."""
        self._acks.pop(ack_id, None)

    def connect_completed(self) -> None:
        """The CONNECT reply went out: flush what was emitted while connecting."""
        buffered, self._buffer = self._buffer or [], None
        self.connected = True
        for encoded, packet, volatile in buffered:
            self.deliver(encoded, packet, volatile)
            if not self.connected:
                return
        if self._disconnect_after_connect is not None:
            self.disconnect(self._disconnect_after_connect)

    # -- reading ------------------------------------------------------------------

    def handle_event(self, event: str, args: list[Any], ack_id: int | None) -> None:
        """An event from the client (decoded by the connection's state machine)."""
        if event in RESERVED_EVENTS:
            log.info("{socket}: ignoring reserved event name {event!r} from the client",
                     socket=self, event=event, **self.client.log_fields(self.namespace))
            return
        if not self._middlewares:
            self._dispatch(event, args, ack_id)
            return
        d = Deferred.fromCoroutine(self._run_middlewares(event, args, ack_id))
        d.addErrback(lambda f: log.failure("event {event!r} on {socket} failed", f, event=event, socket=self,
                                           **self.client.log_fields(self.namespace)))

    async def _run_middlewares(self, event: str, args: list[Any], ack_id: int | None) -> None:
        for middleware in list(self._middlewares):
            try:
                result = invoke(middleware, event, args)
                if isinstance(result, Deferred):
                    await result
            except Exception as e:
                self._middleware_refused(event, e)
                return
            if not self.connected:
                return
        self._dispatch(event, args, ack_id)

    def _middleware_refused(self, event: str, error: BaseException | None) -> None:
        log.info("{socket}: middleware dropped event {event!r}: {error!r}", socket=self, event=event,
                 error=error, **self.client.log_fields(self.namespace))
        for listener in self.listeners("error"):
            log_failures(log, listener, error, what="error listener failed on {socket}", socket=self)

    def _dispatch(self, event: str, args: list[Any], ack_id: int | None) -> None:
        if self._any:
            for listener in list(self._any):
                log_failures(log, listener, event, *args,
                             what="catch-all listener failed for {event!r} on {socket}",
                             event=event, socket=self)
        # The class method, else the namespace handler, else the "*" catch-all.
        fn: Callable[..., Any] | None = None
        head: tuple[Any, ...] = ()
        instance = self.instance
        if instance is not None:
            fn = getattr(instance, method_name(event), None)
        if fn is None:
            handlers = self.nsp.handlers
            fn = handlers.get(event) if event != "*" else None
            if fn is not None:
                head = (self,)
            else:
                fn = handlers.get("*")
                head = (self, event)
        listeners = self._listeners.get(event)
        if fn is None and not listeners:
            log.debug("{socket}: no handler for event {event!r}", socket=self, event=event,
                      namespace=self.namespace)
            return
        # The first handler (the namespace's, else the first listener) answers the ack.
        if fn is not None:
            self._run_handler(fn, head, args, event, ack_id)
            ack_id = None
        for listener in list(listeners or ()):
            self._run_handler(listener, (), args, event, ack_id)
            ack_id = None

    def _run_handler(self, fn: Callable[..., Any], head: tuple[Any, ...], args: list[Any],
                     event: str, ack_id: int | None) -> None:
        try:
            result = invoke(fn, *head, *args)
        except Exception:
            log.failure("handler for {event!r} failed on {socket}", event=event, socket=self,
                        **self.client.log_fields(self.namespace))
            return
        if isinstance(result, Deferred):
            if ack_id is not None:
                result.addCallback(lambda r: self._send_ack(ack_id, r))
            result.addErrback(lambda f: log.failure("handler for {event!r} failed on {socket}", f,
                                                    event=event, socket=self,
                                                    **self.client.log_fields(self.namespace)))
        elif ack_id is not None:
            self._send_ack(ack_id, result)

    def _send_ack(self, ack_id: int, result: Any) -> None:
        if not self.connected:
            return
        try:
            packet = self.client.connection.ack(self.nsp.name, ack_id, ack_arguments(result))
            if packet is not None:
                self.send_packet(packet)
                self.nsp.server.observer.ack_sent()
        except (TypeError, ValueError):
            log.failure("cannot acknowledge on {socket}: the handler's result is not serialisable",
                        socket=self, **self.client.log_fields(self.namespace))

    def handle_ack(self, ack_id: int | None, args: list[Any]) -> None:
        """The client acknowledged ``ack_id``."""
        ack = self._acks.pop(ack_id, None) if ack_id is not None else None
        if ack is None:
            log.debug("{socket}: ack for unknown id {id}", socket=self, id=ack_id, namespace=self.namespace)
            return
        self.nsp.server.observer.ack_received()
        try:
            ack.on_ack(args)
        except Exception:
            log.failure("ack callback failed on {socket}", socket=self, **self.client.log_fields(self.namespace))

    def handle_close(self, reason: str) -> None:
        """Leave the namespace: the ``disconnecting`` handlers, the work started
        with :meth:`every`/:meth:`later`/:meth:`spawn`, rooms, tables, pending
        acks, then the ``disconnect`` handlers.

        A socket that never completed its connection is removed silently (no
        disconnect handlers: its connect handler did not succeed).
        """
        was_connected = self.connected
        if self.disconnected:
            return
        if was_connected:
            self.nsp.run_lifecycle(self, "disconnecting", reason)
        if was_connected and self.pid is not None:
            persist_session(self, reason)
        self.connected = False
        self._buffer = None
        if self._tasks is not None:
            self._tasks.cancel_all()
        nsp = self.nsp
        if was_connected:
            nsp.server.observer.socket_disconnected(self, reason)
        nsp.adapter.del_all(self.id)
        nsp.socket_left(self)
        self.client.socket_left(self)
        acks, self._acks = self._acks, {}
        for ack in acks.values():
            if ack.on_disconnect is not None:
                try:
                    ack.on_disconnect()
                except Exception:
                    log.failure("ack errback failed on {socket}", socket=self, **self.client.log_fields(self.namespace))
        if was_connected:
            log.debug("{socket} disconnected: {reason}", socket=self, reason=reason,
                      namespace=self.namespace)
            nsp.run_lifecycle(self, "disconnect", reason)
