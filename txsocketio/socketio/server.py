# -*- test-case-name: tests.test_socketio_server -*-
"""The Socket.IO server: namespaces, handlers, middlewares and the connect flow."""

from __future__ import annotations

import inspect
import re
import secrets
from collections import ChainMap
from typing import Any, Callable, MutableMapping, Pattern, Union
from urllib.parse import parse_qsl

from twisted.internet.defer import Deferred, DeferredList, FirstError, gatherResults, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsocketio._invoke import invoke, log_failures
from txsocketio.adapters.base import Adapter
from txsocketio.adapters.memory import MemoryAdapter
from txsocketio.engineio.server import EngineIOServer, EngineIOSocket, OutgoingMessage
from txsocketio.errors import AckTimeout, ConnectionRefused
from txsocketio.socketio.broadcast import BroadcastOperator
from txsocketio.socketio.client import Client
from txsocketio.socketio.namespace import Namespace
from txsocketio.socketio.packet import Packet, PacketType, encode
from txsocketio.socketio.socket import Socket, SocketHandshake, check_event_name

__all__ = ["SocketIOServer", "ServerNamespace", "ParentNamespace"]

log = Logger(namespace="txsocketio.socketio")

NamespaceMatcher = Union[str, Pattern[str], Callable[..., Any]]


def _new_socket_id() -> str:
    # As Node's base64id: 15 random bytes, 20 URL-safe characters.
    return secrets.token_urlsafe(15)


def _positional_capacity(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` takes (a large number for ``*args``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 99
    count = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return 99
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


class _Lifecycle:
    """A connect/disconnect handler, called with or without its extra argument
    (``auth`` or ``reason``) according to its signature, read once."""

    __slots__ = ("fn", "extra")

    def __init__(self, fn: Callable[..., Any], bound_args: int) -> None:
        self.fn = fn
        self.extra = _positional_capacity(fn) > bound_args

    def __call__(self, *head: Any, extra: Any) -> Any:
        return invoke(self.fn, *head, extra) if self.extra else invoke(self.fn, *head)


class ServerNamespace:
    """A namespace on the server: ``sio.of("/chat")``.

    Holds the handlers (function style, ``on``; class style, ``register``),
    the connection middlewares (``use``), the connected sockets and the
    adapter that keeps the rooms.  Broadcasting methods select sockets the
    way Node's do: ``nsp.to("room").except_("other").emit("ev", ...)``.
    """

    def __init__(self, server: "SocketIOServer", name: str, parent: "ParentNamespace | None" = None) -> None:
        self.server = server
        self.name = name
        self.parent = parent
        self.sockets: dict[str, Socket] = {}
        self.handlers: MutableMapping[str, Callable[..., Any]]
        if parent is not None:
            # A child sees its parent's handlers (registered before or after
            # it was created) beneath its own; registering on the child
            # (``sio.of("/org-1").on(...)``) does not touch its siblings.
            self.handlers = ChainMap({}, parent.handlers)
        else:
            self.handlers = {}
        #: event -> handler of events sent by the other servers (server_side_emit)
        self.server_side_handlers: MutableMapping[str, Callable[..., Any]] = (
            ChainMap({}, parent.server_side_handlers) if parent is not None else {})
        self._middlewares: list[Callable[..., Any]] = []
        self._class: type[Namespace] | None = None
        self._lifecycle_cache: dict[Any, _Lifecycle] = {}
        self._ack_id = 0
        self._start_adapter()

    def _start_adapter(self) -> None:
        self.adapter: Adapter = self.server.adapter_factory(self)
        init = getattr(self.adapter, "init", None)
        if init is not None:
            result = maybeDeferred(init)
            result.addErrback(lambda f: log.failure("adapter of {nsp} failed to start", f, nsp=self.name))

    def __repr__(self) -> str:
        return f"<ServerNamespace {self.name}>"

    # -- registration ------------------------------------------------------------------

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Register ``handler`` for ``event``; usable as a decorator.

        ``connect`` handlers get ``(socket, auth)`` (or just ``socket``),
        ``disconnect``/``disconnecting`` handlers ``(socket, reason)``, and
        event handlers ``(socket, *args)``; an event handler's return value
        (plain, Deferred or coroutine) is the acknowledgement.  The event
        ``"*"`` is a catch-all: ``(socket, event, *args)`` for every event
        that has no handler of its own.
        """
        if not isinstance(event, str):
            raise TypeError("an event name must be a str")

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if not callable(fn):
                raise TypeError(f"handler for {event!r} must be callable")
            self.handlers[event] = fn
            return fn

        return register(handler) if handler is not None else register

    def on_server_side(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Handle ``event`` when another server of the cluster sends it with
        :meth:`server_side_emit` (what Node's ``nsp.on(event)`` receives from
        ``serverSideEmit``); usable as a decorator.

        The handler gets the event's arguments (no socket); when the sender
        asked for acknowledgements its return value (plain, Deferred or
        coroutine) is this server's answer.  Kept apart from :meth:`on`, whose
        handlers answer clients.  Needs a cluster adapter (Redis).
        """
        if not isinstance(event, str):
            raise TypeError("an event name must be a str")

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if not callable(fn):
                raise TypeError(f"server-side handler for {event!r} must be callable")
            self.server_side_handlers[event] = fn
            return fn

        return register(handler) if handler is not None else register

    def register(self, namespace_class: type[Namespace]) -> type[Namespace]:
        """Handle this namespace with a class: one instance per connection."""
        if not (isinstance(namespace_class, type) and issubclass(namespace_class, Namespace)):
            raise TypeError("register() takes a subclass of txsocketio.Namespace")
        self._class = namespace_class
        return namespace_class

    def use(self, middleware: Callable[..., Any]) -> Callable[..., Any]:
        """Connection middleware: ``middleware(socket)`` before a client is admitted.

        Middlewares run in the order they were added, each after the previous
        one finished; they may return a Deferred or be coroutines.  Raise
        :class:`~txsocketio.ConnectionRefused` (message, data) to refuse the
        client (any other exception refuses it with "Internal server error"
        and is logged).  Emits made here reach the client after the CONNECT
        reply.  Usable as a decorator.
        """
        self._middlewares.append(middleware)
        return middleware

    @property
    def middlewares(self) -> list[Callable[..., Any]]:
        """The connection middlewares, in order (a dynamic child's parent's first)."""
        parent = self.parent
        if parent is None:
            return self._middlewares
        if not self._middlewares:
            return parent.middlewares
        return parent.middlewares + self._middlewares

    @property
    def namespace_class(self) -> type[Namespace] | None:
        """The class registered with :meth:`register` (here, or on the dynamic parent)."""
        if self._class is None and self.parent is not None:
            return self.parent.namespace_class
        return self._class

    # -- dispatch ------------------------------------------------------------------------

    def _lifecycle(self, socket: Socket, name: str) -> tuple[_Lifecycle, tuple[Any, ...]] | None:
        instance = socket.instance
        if instance is not None:
            method = getattr(instance, "on_" + name, None)
            if method is not None:
                key = (type(instance), name)
                entry = self._lifecycle_cache.get(key)
                if entry is None:
                    entry = self._lifecycle_cache[key] = _Lifecycle(getattr(type(instance), "on_" + name), 1)
                return entry, (instance,)
        fn = self.handlers.get(name)
        if fn is None:
            return None
        entry = self._lifecycle_cache.get(fn)
        if entry is None:
            entry = self._lifecycle_cache[fn] = _Lifecycle(fn, 1)
        return entry, (socket,)

    def run_lifecycle(self, socket: Socket, name: str, reason: str) -> None:
        """Call the ``disconnect``/``disconnecting`` handler and listeners."""
        found = self._lifecycle(socket, name)
        if found is not None:
            entry, head = found
            try:
                result = entry(*head, extra=reason)
            except Exception:
                log.failure("{name} handler failed on {socket}", name=name, socket=socket)
            else:
                if isinstance(result, Deferred):
                    result.addErrback(lambda f: log.failure("{name} handler failed on {socket}", f,
                                                            name=name, socket=socket))
        listeners = socket._listeners.get(name)
        if listeners:
            for listener in list(listeners):
                log_failures(log, listener, reason, what="{name} listener failed on {socket}",
                             name=name, socket=socket)

    # -- the connect flow ------------------------------------------------------------------

    def _add(self, client: Client, auth: dict[str, Any], query: str | None) -> None:
        eio = client.eio
        base = eio.handshake
        query_map = base.query
        if eio.protocol == 3:
            sid = eio.sid if self.name == "/" else f"{self.name}#{eio.sid}"
            if query:
                # The namespace's query string (also the auth, see Client)
                # joins the handshake's query.
                query_map = {**base.query, **dict(parse_qsl(query, keep_blank_values=True))}
        else:
            sid = _new_socket_id()
        handshake = SocketHandshake(
            headers=base.headers, query=query_map, address=base.address, time=base.time,
            issued=base.issued, url=base.url, secure=base.secure, xdomain=base.xdomain,
            auth=auth, environ=base.environ,
        )
        socket = Socket(self, client, sid, handshake)
        client._connecting.add(self.name)
        self._run_middlewares(socket, 0, auth)

    def _run_middlewares(self, socket: Socket, index: int, auth: dict[str, Any]) -> None:
        middlewares = self.middlewares
        while index < len(middlewares):
            if socket.client.closed:
                self._abandon(socket)
                return
            middleware = middlewares[index]
            index += 1
            try:
                result = invoke(middleware, socket)
            except Exception as e:
                self._refuse(socket, e)
                return
            if isinstance(result, Deferred):
                result.addCallbacks(
                    lambda _, i=index: self._run_middlewares(socket, i, auth),
                    lambda f: self._refuse(socket, f.value),
                )
                result.addErrback(lambda f: log.failure("connecting {socket} failed", f, socket=socket))
                return
        self._admit(socket, auth)

    def _abandon(self, socket: Socket) -> None:
        """The connection went away while ``socket`` was connecting."""
        socket.client._connecting.discard(self.name)
        socket._on_close("transport close")

    def _admit(self, socket: Socket, auth: dict[str, Any]) -> None:
        client = socket.client
        if client.closed or socket.disconnected:
            self._abandon(socket)
            return
        self.sockets[socket.id] = socket
        client.sockets[self.name] = socket
        client._connecting.discard(self.name)
        self.adapter.add_all(socket.id, [socket.id])
        cls = self.namespace_class
        if cls is not None:
            try:
                socket.instance = cls(socket)
            except Exception as e:
                self._refuse(socket, e)
                return
        found = self._lifecycle(socket, "connect")
        if found is None:
            self._complete(socket)
            return
        entry, head = found
        try:
            result = entry(*head, extra=auth)
        except Exception as e:
            self._refuse(socket, e)
            return
        if isinstance(result, Deferred):
            result.addCallbacks(lambda _: self._complete(socket), lambda f: self._refuse(socket, f.value))
            result.addErrback(lambda f: log.failure("connecting {socket} failed", f, socket=socket))
        else:
            self._complete(socket)

    def _complete(self, socket: Socket) -> None:
        client = socket.client
        if client.closed or socket._buffer is None:
            socket._on_close("transport close")
            return
        if client.eio.protocol == 3:
            reply = Packet(PacketType.CONNECT, self.name)
        else:
            reply = Packet(PacketType.CONNECT, self.name, {"sid": socket.id})
        client.send_packet(reply)
        client.namespace_joined()
        log.debug("{socket} connected", socket=socket)
        socket._connected()

    def _refuse(self, socket: Socket, error: BaseException | None) -> None:
        client = socket.client
        client._connecting.discard(self.name)
        socket._on_close("server namespace disconnect")
        if isinstance(error, ConnectionRefused):
            log.info("refused {socket}: {message}", socket=socket, message=error.message)
        else:
            log.failure("connect handler or middleware of {nsp} raised; refusing the client",
                        failure=None if error is None else _failure(error), nsp=self.name)
            error = ConnectionRefused("Internal server error")
        if client.closed:
            return
        if client.eio.protocol == 3:
            # Node: ``err.data || err.message`` for Socket.IO v4 clients.
            payload: Any = error.data if _js_truthy(error.data) else error.message
            if not isinstance(payload, (dict, str)):
                payload = error.message
        else:
            payload = error.payload()
        try:
            client.send_packet(Packet(PacketType.CONNECT_ERROR, self.name, payload))
        except (TypeError, ValueError):
            log.failure("the data of {error!r} cannot be serialised; refusing without it", error=error)
            client.send_packet(Packet(PacketType.CONNECT_ERROR, self.name, {"message": error.message}))

    # -- encoding ------------------------------------------------------------------------

    def next_ack_id(self) -> int:
        ack_id = self._ack_id
        self._ack_id += 1
        return ack_id

    def prepare(self, packet: Packet, compress: bool = True) -> list[OutgoingMessage]:
        """Encode once into Engine.IO messages reusable for every recipient.

        ``compress=False`` keeps them uncompressed on WebSockets that
        negotiated permessage-deflate.  Raises ``TypeError`` naming the
        argument that cannot be serialised.
        """
        return [OutgoingMessage(m, compress) for m in encode(packet)]

    def _forget_ack(self, ack_id: int) -> None:
        """A broadcast with acks is over: drop its ack id from the sockets still holding it."""
        for socket in self.sockets.values():
            socket._acks.pop(ack_id, None)

    # -- broadcasting --------------------------------------------------------------------

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self)

    def to(self, *rooms: Any) -> BroadcastOperator:
        return self._operator().to(*rooms)

    in_ = to

    def except_(self, *rooms: Any) -> BroadcastOperator:
        return self._operator().except_(*rooms)

    @property
    def volatile(self) -> BroadcastOperator:
        return self._operator().volatile

    @property
    def local(self) -> BroadcastOperator:
        return self._operator().local

    def compress(self, flag: bool) -> BroadcastOperator:
        return self._operator().compress(flag)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._operator().timeout(seconds)

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to every socket of the namespace."""
        self._operator().emit(event, *args)

    def send(self, *args: Any) -> None:
        self.emit("message", *args)

    def emit_with_ack(self, event: str, *args: Any) -> "Deferred[list[Any]]":
        """Broadcast with acknowledgements; needs :meth:`timeout` first
        (``nsp.timeout(5).emit_with_ack(...)``), see
        :meth:`BroadcastOperator.emit_with_ack`."""
        return self._operator().emit_with_ack(event, *args)

    def fetch_sockets(self) -> "Deferred[list[Any]]":
        return self._operator().fetch_sockets()

    def sockets_join(self, *rooms: Any) -> "Deferred[None]":
        return self._operator().sockets_join(*rooms)

    def sockets_leave(self, *rooms: Any) -> "Deferred[None]":
        return self._operator().sockets_leave(*rooms)

    def disconnect_sockets(self, close: bool = False) -> "Deferred[None]":
        return self._operator().disconnect_sockets(close)

    def all_rooms(self) -> "Deferred[set[str]]":
        """Every room of the namespace (on every server, with a cluster adapter)."""
        return self.adapter.all_rooms()

    def server_count(self) -> "Deferred[int]":
        return self.adapter.server_count()

    def server_side_emit(self, event: str, *args: Any, timeout: float | None = None,
                         want_ack: bool = False) -> "Deferred[list[Any]]":
        """Send an event to the other servers of the cluster (their
        :meth:`on_server_side` handlers for ``event`` are called with the
        arguments); with ``want_ack`` fires with one answer per other server
        (failing with :class:`~txsocketio.errors.ClusterTimeout`, which holds
        the answers that came, after ``timeout`` seconds)."""
        return self.adapter.server_side_emit(event, list(args), timeout=timeout, want_ack=want_ack)


class ParentNamespace(ServerNamespace):
    """A dynamic namespace: a regular expression, a callable or ``"*"``.

    Children are created on first connection to a matching name; handlers,
    middlewares and the class registered on the parent apply to every child,
    and broadcasts on the parent reach every child.  ``sio.of(name)`` returns
    a child once it exists.
    """

    def __init__(self, server: "SocketIOServer", matcher: NamespaceMatcher) -> None:
        super().__init__(server, f"<dynamic {matcher!r}>")
        self.matcher = matcher
        self.children: dict[str, ServerNamespace] = {}

    def matches(self, name: str, auth: dict[str, Any]) -> Any:
        """True/False, or a Deferred of it."""
        matcher = self.matcher
        if matcher == "*":
            return True
        if isinstance(matcher, re.Pattern):
            return matcher.fullmatch(name) is not None
        return invoke(matcher, name, auth)

    def create_child(self, name: str) -> ServerNamespace:
        child = ServerNamespace(self.server, name, parent=self)
        self.children[name] = child
        self.server._nsps[name] = child
        return child

    def _operator(self) -> Any:
        return _FanOut(self)


class _FanOut:
    """A broadcast over every child of a dynamic namespace (the children
    existing when the final call is made), with the API of
    :class:`~txsocketio.socketio.broadcast.BroadcastOperator`."""

    __slots__ = ("parent", "rooms", "except_rooms", "flags")

    def __init__(self, parent: ParentNamespace, rooms: frozenset[str] = frozenset(),
                 except_: frozenset[str] = frozenset(), flags: dict[str, Any] | None = None) -> None:
        self.parent = parent
        self.rooms = rooms
        self.except_rooms = except_
        self.flags = flags or {}

    def _ops(self) -> list[BroadcastOperator]:
        return [BroadcastOperator(child, self.rooms, self.except_rooms, self.flags)
                for child in list(self.parent.children.values())]

    def _with(self, op: BroadcastOperator) -> "_FanOut":
        return _FanOut(self.parent, op.rooms, op.except_rooms, op.flags)

    def _template(self) -> BroadcastOperator:
        return BroadcastOperator(self.parent, self.rooms, self.except_rooms, self.flags)

    def to(self, *rooms: Any) -> "_FanOut":
        return self._with(self._template().to(*rooms))

    in_ = to

    def except_(self, *rooms: Any) -> "_FanOut":
        return self._with(self._template().except_(*rooms))

    @property
    def volatile(self) -> "_FanOut":
        return self._with(self._template().volatile)

    @property
    def local(self) -> "_FanOut":
        return self._with(self._template().local)

    def compress(self, flag: bool) -> "_FanOut":
        return self._with(self._template().compress(flag))

    def timeout(self, seconds: float) -> "_FanOut":
        return self._with(self._template().timeout(seconds))

    def emit(self, event: str, *args: Any) -> None:
        check_event_name(event)
        ops = self._ops()
        if not ops:
            encode(Packet(PacketType.EVENT, "/", [event, *args]))  # the same TypeError as with children
        for op in ops:
            op.emit(event, *args)

    def send(self, *args: Any) -> None:
        self.emit("message", *args)

    def emit_with_ack(self, event: str, *args: Any) -> "Deferred[list[Any]]":
        """Every child's answers in one list; on timeout, one
        :class:`~txsocketio.errors.AckTimeout` with every answer that arrived."""
        check_event_name(event)
        if self.flags.get("timeout") is None:
            raise ValueError("a broadcast with acknowledgements needs a timeout: "
                             "use .timeout(seconds).emit_with_ack(...)")
        ops = self._ops()
        if not ops:
            encode(Packet(PacketType.EVENT, "/", [event, *args]))
        waits = [op.emit_with_ack(event, *args) for op in ops]

        def merge(results: list[tuple[bool, Any]]) -> list[Any]:
            responses: list[Any] = []
            expected = 0
            timed_out = False
            for ok, value in results:
                if ok:
                    responses.extend(value)
                    expected += len(value)
                elif value.check(AckTimeout):
                    timed_out = True
                    responses.extend(value.value.responses)
                    expected += value.value.expected or 0
                else:
                    value.raiseException()
            if timed_out:
                raise AckTimeout("operation has timed out", responses, expected)
            return responses

        return DeferredList(waits, consumeErrors=True).addCallback(merge)

    def _gather(self, name: str, *args: Any) -> "Deferred[list[Any]]":
        d = gatherResults([getattr(op, name)(*args) for op in self._ops()], consumeErrors=True)
        return d.addErrback(lambda f: f.value.subFailure if isinstance(f.value, FirstError) else f)

    def fetch_sockets(self) -> "Deferred[list[Any]]":
        return self._gather("fetch_sockets").addCallback(lambda results: [s for r in results for s in r])

    def sockets_join(self, *rooms: Any) -> "Deferred[None]":
        return self._gather("sockets_join", *rooms).addCallback(lambda _: None)

    def sockets_leave(self, *rooms: Any) -> "Deferred[None]":
        return self._gather("sockets_leave", *rooms).addCallback(lambda _: None)

    def disconnect_sockets(self, close: bool = False) -> "Deferred[None]":
        return self._gather("disconnect_sockets", close).addCallback(lambda _: None)


def _failure(error: BaseException) -> Any:
    return Failure(error, type(error), error.__traceback__)


def _js_truthy(value: Any) -> bool:
    """JavaScript's truthiness (``{}`` and ``[]`` are true, ``0`` and ``""`` false)."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return True


#: Options of the Socket.IO layer (the rest go to Engine.IO).
_SOCKETIO_OPTIONS = ("connect_timeout", "max_attachments", "adapter")


def _engineio_option_names() -> frozenset[str]:
    params = inspect.signature(EngineIOServer.__init__).parameters
    return frozenset(name for name, p in params.items()
                     if p.kind is p.KEYWORD_ONLY and not name.startswith("on_"))


def _check_connect_timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"connect_timeout must be a positive number of seconds, not {value!r}")
    return float(value)


def _check_max_attachments(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_attachments must be a non-negative int, not {value!r}")
    return value


class SocketIOServer:
    """A Socket.IO server (protocol v5, and v4 with ``allow_eio3``).

    Times are in seconds (floats allowed).  Every Engine.IO option is
    accepted: ``ping_interval`` (25), ``ping_timeout`` (20), ``upgrade_timeout``
    (10), ``max_http_buffer_size`` (1e6), ``transports``, ``allow_upgrades``,
    ``allow_eio3``, ``cookie``, ``cors_allowed_origins``, ``cors_credentials``,
    ``allow_request``, ``http_compression``, ``compression_threshold``,
    ``per_message_deflate``.  Socket.IO options: ``connect_timeout`` (45),
    ``max_attachments`` (10), ``adapter`` (a callable taking the namespace and
    returning an adapter; the in-memory adapter by default).  Change them
    later with :meth:`configure`.

    ``reactor`` defaults to the global reactor; pass a
    ``twisted.internet.task.Clock`` in tests (see :mod:`txsocketio.testing`).
    """

    def __init__(self, *, reactor: Any = None, connect_timeout: float = 45.0,
                 max_attachments: int = 10,
                 adapter: Callable[[ServerNamespace], Adapter] | None = None,
                 **engineio_options: Any) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.reactor = reactor
        self.connect_timeout = _check_connect_timeout(connect_timeout)
        self.max_attachments = _check_max_attachments(max_attachments)
        self.adapter_factory: Callable[[ServerNamespace], Adapter] = adapter or MemoryAdapter
        self._engineio_options = dict(engineio_options)
        self.engine = EngineIOServer(
            reactor,
            on_connect=self._on_engine_connect,
            on_message=self._on_engine_message,
            on_disconnect=self._on_engine_disconnect,
            **engineio_options,
        )
        #: Engine.IO sid -> the Socket.IO state of every open connection
        self.clients: dict[str, Client] = {}
        self._nsps: dict[str, ServerNamespace] = {}
        self._parents: list[ParentNamespace] = []
        self._resource_created = False
        self._shutting_down = False
        self._shutdown: Deferred[None] | None = None
        self._threadsafe: Any = None
        self.of("/")

    # -- configuration ------------------------------------------------------------------

    def configure(self, **options: Any) -> None:
        """Change options after construction; takes the constructor's names
        (``ping_interval=10``, ``cors_allowed_origins=[...]``, ``connect_timeout=5``…).

        Options not named keep their values.  Sessions opened from now on use
        the new values; open ones keep theirs.  Call it before the server is
        mounted: the WebSocket factory reads ``max_http_buffer_size`` and
        ``per_message_deflate`` when the resource is created, so once
        :meth:`resource` (or ``SocketIOResource(sio)``) has been called this
        raises ``RuntimeError``.  ``adapter`` can only be changed while no
        client is connected.  Invalid values raise ``ValueError`` (unknown
        names ``TypeError``) and change nothing.
        """
        if self._resource_created:
            raise RuntimeError(
                "configure() must be called before the server is mounted: resource() "
                "(or SocketIOResource) has already read the Engine.IO options"
            )
        engine_names = _engineio_option_names()
        unknown = sorted(set(options) - engine_names - set(_SOCKETIO_OPTIONS))
        if unknown:
            raise TypeError(f"configure() got unknown option(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(engine_names | set(_SOCKETIO_OPTIONS)))}")
        connect_timeout = _check_connect_timeout(options.get("connect_timeout", self.connect_timeout))
        max_attachments = _check_max_attachments(options.get("max_attachments", self.max_attachments))
        new_adapter = options.get("adapter")
        if new_adapter is not None and not callable(new_adapter):
            raise TypeError("adapter must be a callable taking the namespace and returning an adapter")
        if new_adapter is not None and self.clients:
            raise RuntimeError("the adapter can only be changed while no client is connected")
        engine_options = {k: v for k, v in options.items() if k in engine_names}
        if engine_options:
            merged = {**self._engineio_options, **engine_options}
            # Build a throwaway server: it validates every value the same way.
            fresh = EngineIOServer(self.reactor, **merged)
            for name, value in vars(fresh).items():
                if not name.startswith("_") and name not in _ENGINE_STATE:
                    setattr(self.engine, name, value)
            self._engineio_options = merged
        self.connect_timeout = connect_timeout
        self.max_attachments = max_attachments
        if new_adapter is not None:
            self.adapter_factory = new_adapter
            for nsp in self._all_namespaces():
                _close_quietly(nsp.adapter, nsp.name)
                nsp._start_adapter()

    @property
    def threadsafe(self) -> Any:
        """The same emitting API, callable from any thread (WSGI/Django views,
        ``deferToThread`` workers…): see :class:`txsocketio.socketio.threadsafe.ThreadSafeServer`."""
        if self._threadsafe is None:
            from txsocketio.socketio.threadsafe import ThreadSafeServer

            self._threadsafe = ThreadSafeServer(self)
        return self._threadsafe

    # -- namespaces ------------------------------------------------------------------

    def of(self, namespace: NamespaceMatcher) -> ServerNamespace:
        """The namespace of that name (created on first use, or the child of a
        dynamic namespace that already exists), or a dynamic one for a compiled
        regex, a callable ``(name, auth) -> bool`` (or a Deferred/coroutine of
        it) or ``"*"``."""
        if isinstance(namespace, str) and namespace != "*":
            if not namespace.startswith("/"):
                namespace = "/" + namespace
            nsp = self._nsps.get(namespace)
            if nsp is None:
                nsp = self._nsps[namespace] = ServerNamespace(self, namespace)
            return nsp
        for parent in self._parents:
            if parent.matcher is namespace or parent.matcher == namespace:
                return parent
        if not (isinstance(namespace, (str, re.Pattern)) or callable(namespace)):
            raise TypeError("a namespace is a str, a compiled regular expression or a callable, "
                            f"not {type(namespace).__name__}")
        parent = ParentNamespace(self, namespace)
        self._parents.append(parent)
        return parent

    @property
    def namespaces(self) -> dict[str, ServerNamespace]:
        """Every namespace with a name (dynamic children included)."""
        return dict(self._nsps)

    def _all_namespaces(self) -> list[ServerNamespace]:
        return [*self._nsps.values(), *self._parents]

    def on(self, event: str, handler: Callable[..., Any] | None = None,
           namespace: NamespaceMatcher = "/") -> Any:
        """Register a handler (see :meth:`ServerNamespace.on`); a decorator too."""
        return self.of(namespace).on(event, handler)

    def on_server_side(self, event: str, handler: Callable[..., Any] | None = None,
                       namespace: NamespaceMatcher = "/") -> Any:
        """Handle server-side emits of the other servers (see
        :meth:`ServerNamespace.on_server_side`); a decorator too."""
        return self.of(namespace).on_server_side(event, handler)

    def register(self, namespace: NamespaceMatcher, namespace_class: type[Namespace]) -> type[Namespace]:
        """Handle ``namespace`` with a :class:`~txsocketio.Namespace` subclass."""
        return self.of(namespace).register(namespace_class)

    def use(self, middleware: Callable[..., Any], namespace: NamespaceMatcher = "/") -> Callable[..., Any]:
        """Connection middleware on ``namespace`` (see :meth:`ServerNamespace.use`)."""
        return self.of(namespace).use(middleware)

    # -- the main namespace's broadcasting shortcuts ----------------------------------------

    def emit(self, event: str, *args: Any, namespace: NamespaceMatcher = "/", to: Any = None,
             room: Any = None, skip_sid: Any = None) -> None:
        """Emit to everyone in ``namespace`` (``to``/``room`` and ``skip_sid``
        as python-socketio spells them, or chain ``sio.to(...)``)."""
        op = self.of(namespace)._operator()
        target = to if to is not None else room
        if target is not None:
            op = op.to(target)
        if skip_sid is not None:
            op = op.except_(skip_sid)
        op.emit(event, *args)

    def send(self, *args: Any, namespace: NamespaceMatcher = "/") -> None:
        self.emit("message", *args, namespace=namespace)

    def to(self, *rooms: Any) -> BroadcastOperator:
        return self.of("/").to(*rooms)

    in_ = to

    def except_(self, *rooms: Any) -> BroadcastOperator:
        return self.of("/").except_(*rooms)

    @property
    def volatile(self) -> BroadcastOperator:
        return self.of("/").volatile

    @property
    def local(self) -> BroadcastOperator:
        return self.of("/").local

    def compress(self, flag: bool) -> BroadcastOperator:
        return self.of("/").compress(flag)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self.of("/").timeout(seconds)

    def emit_with_ack(self, event: str, *args: Any) -> "Deferred[list[Any]]":
        """Broadcast to / with acknowledgements: ``sio.timeout(5).emit_with_ack(...)``."""
        return self.of("/").emit_with_ack(event, *args)

    def fetch_sockets(self) -> "Deferred[list[Any]]":
        return self.of("/").fetch_sockets()

    def sockets_join(self, *rooms: Any) -> "Deferred[None]":
        return self.of("/").sockets_join(*rooms)

    def sockets_leave(self, *rooms: Any) -> "Deferred[None]":
        return self.of("/").sockets_leave(*rooms)

    def disconnect_sockets(self, close: bool = False) -> "Deferred[None]":
        return self.of("/").disconnect_sockets(close)

    def server_side_emit(self, event: str, *args: Any, timeout: float | None = None,
                         want_ack: bool = False) -> "Deferred[list[Any]]":
        return self.of("/").server_side_emit(event, *args, timeout=timeout, want_ack=want_ack)

    # -- serving ---------------------------------------------------------------------

    def resource(self) -> Any:
        """A ``twisted.web`` resource to mount (usually at ``socket.io``).

        Call :meth:`configure` before this, not after.
        """
        from txsocketio.web import SocketIOResource

        self._resource_created = True
        return SocketIOResource(self)

    def close(self, reason: str = "server shutting down") -> None:
        """Disconnect every client at once: each namespace is told with a
        DISCONNECT packet, handlers see ``reason``, and every Engine.IO session
        is closed.  See :meth:`shutdown` for the graceful version."""
        for client in list(self.clients.values()):
            client.shutdown(reason)
        self.engine.close_all(reason)

    def shutdown(self, timeout: float = 10.0) -> "Deferred[None]":
        """Stop gracefully; fires (never fails) when done, or after ``timeout`` seconds.

        Every client is disconnected with the reason ``"server shutting
        down"`` (the DISCONNECT packets are written first), Engine.IO gets up
        to ``timeout`` seconds to deliver them and close its sessions, and the
        adapters are closed.  Connections opened from now on are closed at once.
        Calling it again returns a Deferred for the same shutdown.
        """
        if self._shutdown is None:
            self._shutting_down = True
            self._shutdown = _Shutdown(self, timeout).start()
        waiter: Deferred[None] = Deferred()
        self._shutdown.addBoth(lambda r: (waiter.callback(None), r)[1])
        return waiter

    # -- glue to Engine.IO ---------------------------------------------------------------

    def attach_connection(self, eio: Any) -> Client:
        """Start Socket.IO on an Engine.IO connection (used by the transports and testing)."""
        client = Client(self, eio)
        eio.context = client
        if self._shutting_down:
            client.on_close("server shutting down")
            eio.close("server shutting down")
            return client
        self.clients[eio.sid] = client
        client.start()
        return client

    def _on_engine_connect(self, eio: EngineIOSocket) -> None:
        self.attach_connection(eio)

    def _on_engine_message(self, eio: EngineIOSocket, data: str | bytes) -> None:
        client = eio.context
        if client is not None:
            client.on_message(data)

    def _on_engine_disconnect(self, eio: EngineIOSocket, reason: str) -> None:
        client = eio.context
        if client is not None:
            client.on_close(reason)

    def _connect(self, client: Client, name: str, auth: dict[str, Any], query: str | None) -> None:
        nsp = self._nsps.get(name)
        if nsp is not None:
            nsp._add(client, auth, query)
            return
        if not self._parents:
            self._invalid_namespace(client, name)
            return
        client._connecting.add(name)
        self._try_parents(client, name, auth, query, 0)

    def _try_parents(self, client: Client, name: str, auth: dict[str, Any], query: str | None,
                     index: int) -> None:
        while index < len(self._parents):
            if client.closed:
                client._connecting.discard(name)
                return
            parent = self._parents[index]
            index += 1
            try:
                verdict = parent.matches(name, auth)
            except Exception:
                log.failure("namespace matcher {m!r} raised", m=parent.matcher)
                continue
            if isinstance(verdict, Deferred):
                def decided(ok: Any, parent: ParentNamespace = parent, i: int = index) -> None:
                    if ok:
                        self._create_and_add(parent, client, name, auth, query)
                    else:
                        self._try_parents(client, name, auth, query, i)

                def failed(f: Failure, parent: ParentNamespace = parent, i: int = index) -> None:
                    log.failure("namespace matcher {m!r} raised", f, m=parent.matcher)
                    self._try_parents(client, name, auth, query, i)

                verdict.addCallbacks(decided, failed)
                verdict.addErrback(lambda f: log.failure("connecting to {nsp} failed", f, nsp=name))
                return
            if verdict:
                self._create_and_add(parent, client, name, auth, query)
                return
        client._connecting.discard(name)
        self._invalid_namespace(client, name)

    def _create_and_add(self, parent: ParentNamespace, client: Client, name: str,
                        auth: dict[str, Any], query: str | None) -> None:
        client._connecting.discard(name)
        if client.closed:
            return
        child = self._nsps.get(name)
        if child is None:
            child = parent.create_child(name)
        child._add(client, auth, query)

    def _invalid_namespace(self, client: Client, name: str) -> None:
        if client.closed:
            return
        log.info("connection {sid}: CONNECT to unknown namespace {nsp}", sid=client.eio.sid, nsp=name)
        client.send_packet(Packet(PacketType.CONNECT_ERROR, name, {"message": "Invalid namespace"}))


#: EngineIOServer attributes that are state, not options (kept by configure()).
_ENGINE_STATE = frozenset(["reactor", "sockets", "on_connect", "on_message", "on_disconnect"])


def _close_quietly(adapter: Adapter, name: str) -> "Deferred[Any]":
    d = maybeDeferred(adapter.close)
    d.addErrback(lambda f: log.failure("closing the adapter of {nsp} failed", f, nsp=name))
    return d


class _Shutdown:
    """The steps of :meth:`SocketIOServer.shutdown`: goodbyes written, then
    Engine.IO's own shutdown and the adapters' closing, awaited together."""

    def __init__(self, sio: SocketIOServer, timeout: float) -> None:
        self.sio = sio
        self.reactor = sio.reactor
        self.timeout = timeout
        self.done: Deferred[None] = Deferred()
        self._timer: Any = None

    def start(self) -> "Deferred[None]":
        sio = self.sio
        log.info("shutting down: disconnecting {n} client(s)", n=len(sio.clients))
        sio.close("server shutting down")
        self._timer = self.reactor.callLater(self.timeout, self._timed_out)
        steps = [sio.engine.shutdown(self.timeout)]
        steps += [_close_quietly(nsp.adapter, nsp.name) for nsp in sio._all_namespaces()]
        DeferredList(steps).addCallback(lambda _: self._finish())
        return self.done

    def _timed_out(self) -> None:
        self._timer = None
        log.warn("shutdown timed out: adapters still closing")
        self._finish()

    def _finish(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if not self.done.called:
            self.done.callback(None)
