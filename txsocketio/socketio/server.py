# -*- test-case-name: tests.test_socketio_server -*-
"""The Socket.IO server: namespaces, handlers, middlewares and the connect flow."""

from __future__ import annotations

import inspect
import re
import secrets
from typing import Any, Callable, Iterable, Pattern, Union

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from txsocketio._invoke import invoke
from txsocketio.adapters.base import Adapter
from txsocketio.adapters.memory import MemoryAdapter
from txsocketio.engineio.server import EngineIOServer, EngineIOSocket, OutgoingMessage
from txsocketio.errors import ConnectionRefused
from txsocketio.socketio.broadcast import BroadcastOperator
from txsocketio.socketio.client import Client
from txsocketio.socketio.namespace import Namespace, method_name
from txsocketio.socketio.packet import Packet, PacketType, encode
from txsocketio.socketio.socket import Socket, SocketHandshake

__all__ = ["SocketIOServer", "ServerNamespace", "ParentNamespace"]

log = Logger(namespace="txsocketio.socketio")

NamespaceMatcher = Union[str, Pattern[str], Callable[..., Any]]
LIFECYCLE = ("connect", "disconnect", "disconnecting")


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
        if parent is not None:
            # Children share their parent's handlers, so later registrations apply.
            self.handlers = parent.handlers
            self.middlewares = parent.middlewares
            self._class_ref = parent._class_ref
        else:
            self.handlers: dict[str, Callable[..., Any]] = {}
            self.middlewares: list[Callable[..., Any]] = []
            self._class_ref: list[type[Namespace]] = []
        self._lifecycle_cache: dict[Any, _Lifecycle] = {}
        self._ack_id = 0
        self.adapter: Adapter = server.adapter_factory(self)
        init = getattr(self.adapter, "init", None)
        if init is not None:
            result = init()
            if isinstance(result, Deferred):
                result.addErrback(lambda f: log.failure("adapter of {nsp} failed to start", f, nsp=name))

    def __repr__(self) -> str:
        return f"<ServerNamespace {self.name}>"

    # -- registration ------------------------------------------------------------------

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Register ``handler`` for ``event``; usable as a decorator.

        ``connect`` handlers get ``(socket, auth)`` (or just ``socket``),
        ``disconnect``/``disconnecting`` handlers ``(socket, reason)``, and
        event handlers ``(socket, *args)``; an event handler's return value
        (plain, Deferred or coroutine) is the acknowledgement.
        """
        if not isinstance(event, str):
            raise TypeError("an event name must be a str")

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if not callable(fn):
                raise TypeError(f"handler for {event!r} must be callable")
            self.handlers[event] = fn
            return fn

        return register(handler) if handler is not None else register

    def register(self, namespace_class: type[Namespace]) -> type[Namespace]:
        """Handle this namespace with a class: one instance per connection."""
        if not (isinstance(namespace_class, type) and issubclass(namespace_class, Namespace)):
            raise TypeError("register() takes a subclass of txsocketio.Namespace")
        self._class_ref[:] = [namespace_class]
        return namespace_class

    def use(self, middleware: Callable[..., Any]) -> Callable[..., Any]:
        """Connection middleware: ``middleware(socket)`` before a client is admitted.

        May return a Deferred or be a coroutine; raise
        :class:`~txsocketio.ConnectionRefused` (message, data) to refuse.
        """
        self.middlewares.append(middleware)
        return middleware

    @property
    def namespace_class(self) -> type[Namespace] | None:
        return self._class_ref[0] if self._class_ref else None

    # -- dispatch ------------------------------------------------------------------------

    def handler_for(self, socket: Socket, event: str) -> Callable[..., Any] | None:
        instance = socket.instance
        if instance is not None:
            method = getattr(instance, method_name(event), None)
            if method is not None:
                return method
        fn = self.handlers.get(event)
        if fn is None:
            return None
        return lambda *args: fn(socket, *args)

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
        for listener in list(socket._listeners.get(name, ())):
            try:
                invoke(listener, reason)
            except Exception:
                log.failure("{name} listener failed on {socket}", name=name, socket=socket)

    # -- the connect flow ------------------------------------------------------------------

    def _add(self, client: Client, auth: dict[str, Any], query: str | None) -> None:
        eio = client.eio
        if eio.protocol == 3:
            sid = eio.sid if self.name == "/" else f"{self.name}#{eio.sid}"
        else:
            sid = _new_socket_id()
        base = eio.handshake
        query_map = dict(base.query)
        if query:
            from urllib.parse import parse_qsl

            query_map.update(parse_qsl(query, keep_blank_values=True))
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

    def _admit(self, socket: Socket, auth: dict[str, Any]) -> None:
        client = socket.client
        if client.closed:
            client._connecting.discard(self.name)
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
            payload = error.payload()
            log.info("refused {socket}: {message}", socket=socket, message=error.message)
        else:
            log.failure("connect handler or middleware of {nsp} raised; refusing the client",
                        failure=None if error is None else _failure(error), nsp=self.name)
            payload = {"message": "Internal server error"}
        if not client.closed:
            client.send_packet(Packet(PacketType.CONNECT_ERROR, self.name, payload))

    # -- encoding ------------------------------------------------------------------------

    def next_ack_id(self) -> int:
        ack_id = self._ack_id
        self._ack_id += 1
        return ack_id

    def prepare(self, packet: Packet) -> list[OutgoingMessage]:
        """Encode once into Engine.IO messages reusable for every recipient."""
        return [OutgoingMessage(m) for m in encode(packet)]

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
        """Send an event to the other servers of the cluster (their ``on`` handlers
        for ``event`` are called with the arguments); with ``want_ack`` fires
        with their answers."""
        return self.adapter.server_side_emit(event, list(args), timeout=timeout, want_ack=want_ack)


class ParentNamespace(ServerNamespace):
    """A dynamic namespace: a regular expression, a callable or ``"*"``.

    Children are created on first connection to a matching name; handlers,
    middlewares and the class registered on the parent apply to every child,
    and broadcasts on the parent reach every child.
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
        return child

    def _operator(self) -> Any:
        return _FanOut([BroadcastOperator(child) for child in list(self.children.values())])


class _FanOut:
    """Broadcast operators of every child of a dynamic namespace, used as one."""

    def __init__(self, ops: list[BroadcastOperator]) -> None:
        self.ops = ops

    def _map(self, name: str, *args: Any) -> "_FanOut":
        return _FanOut([getattr(op, name)(*args) for op in self.ops])

    def to(self, *rooms: Any) -> "_FanOut":
        return self._map("to", *rooms)

    in_ = to

    def except_(self, *rooms: Any) -> "_FanOut":
        return self._map("except_", *rooms)

    @property
    def volatile(self) -> "_FanOut":
        return _FanOut([op.volatile for op in self.ops])

    @property
    def local(self) -> "_FanOut":
        return _FanOut([op.local for op in self.ops])

    def compress(self, flag: bool) -> "_FanOut":
        return self._map("compress", flag)

    def timeout(self, seconds: float) -> "_FanOut":
        return self._map("timeout", seconds)

    def emit(self, event: str, *args: Any) -> None:
        for op in self.ops:
            op.emit(event, *args)

    def _gather(self, name: str, *args: Any) -> "Deferred[list[Any]]":
        from twisted.internet.defer import gatherResults

        d = gatherResults([getattr(op, name)(*args) for op in self.ops], consumeErrors=True)
        return d.addCallback(lambda results: [x for r in results if r for x in r])

    def emit_with_ack(self, event: str, *args: Any) -> "Deferred[list[Any]]":
        return self._gather("emit_with_ack", event, *args)

    def fetch_sockets(self) -> "Deferred[list[Any]]":
        return self._gather("fetch_sockets")

    def sockets_join(self, *rooms: Any) -> "Deferred[Any]":
        return self._gather("sockets_join", *rooms)

    def sockets_leave(self, *rooms: Any) -> "Deferred[Any]":
        return self._gather("sockets_leave", *rooms)

    def disconnect_sockets(self, close: bool = False) -> "Deferred[Any]":
        return self._gather("disconnect_sockets", close)


def _failure(error: BaseException) -> Any:
    from twisted.python.failure import Failure

    return Failure(error, type(error), error.__traceback__)


class SocketIOServer:
    """A Socket.IO server (protocol v5, and v4 with ``allow_eio3``).

    Times are in seconds (floats allowed).  Every Engine.IO option is
    accepted: ``ping_interval`` (25), ``ping_timeout`` (20), ``upgrade_timeout``
    (10), ``max_http_buffer_size`` (1e6), ``transports``, ``allow_upgrades``,
    ``allow_eio3``, ``cookie``, ``cors_allowed_origins``, ``cors_credentials``,
    ``allow_request``, ``http_compression``, ``compression_threshold``,
    ``per_message_deflate``.  Socket.IO options: ``connect_timeout`` (45),
    ``max_attachments`` (10), ``adapter`` (a callable taking the namespace and
    returning an adapter; the in-memory adapter by default).
    """

    def __init__(self, *, reactor: Any = None, connect_timeout: float = 45.0,
                 max_attachments: int = 10,
                 adapter: Callable[[ServerNamespace], Adapter] | None = None,
                 **engineio_options: Any) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.reactor = reactor
        if not connect_timeout > 0:
            raise ValueError("connect_timeout must be a positive number of seconds")
        self.connect_timeout = float(connect_timeout)
        self.max_attachments = max_attachments
        self.adapter_factory: Callable[[ServerNamespace], Adapter] = adapter or MemoryAdapter
        self.engine = EngineIOServer(
            reactor,
            on_connect=self._on_engine_connect,
            on_message=self._on_engine_message,
            on_disconnect=self._on_engine_disconnect,
            **engineio_options,
        )
        self._nsps: dict[str, ServerNamespace] = {}
        self._parents: list[ParentNamespace] = []
        self.of("/")

    # -- namespaces ------------------------------------------------------------------

    def of(self, namespace: NamespaceMatcher) -> ServerNamespace:
        """The namespace of that name (created on first use), or a dynamic one
        for a compiled regex, a callable ``(name, auth) -> bool`` or ``"*"``."""
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
        parent = ParentNamespace(self, namespace)
        self._parents.append(parent)
        return parent

    @property
    def namespaces(self) -> dict[str, ServerNamespace]:
        return dict(self._nsps)

    def on(self, event: str, handler: Callable[..., Any] | None = None,
           namespace: NamespaceMatcher = "/") -> Any:
        """Register a handler (see :meth:`ServerNamespace.on`); a decorator too."""
        return self.of(namespace).on(event, handler)

    def register(self, namespace: NamespaceMatcher, namespace_class: type[Namespace]) -> type[Namespace]:
        """Handle ``namespace`` with a :class:`~txsocketio.Namespace` subclass."""
        return self.of(namespace).register(namespace_class)

    def use(self, middleware: Callable[..., Any], namespace: NamespaceMatcher = "/") -> Callable[..., Any]:
        """Connection middleware on ``namespace`` (see :meth:`ServerNamespace.use`)."""
        return self.of(namespace).use(middleware)

    # -- the main namespace's broadcasting shortcuts ----------------------------------------

    def emit(self, event: str, *args: Any, namespace: str = "/", to: Any = None,
             room: Any = None, skip_sid: Any = None) -> None:
        """Emit to everyone in ``namespace`` (``to``/``room`` and ``skip_sid``
        as python-socketio spells them, or chain ``sio.to(...)``)."""
        op = BroadcastOperator(self.of(namespace))
        target = to if to is not None else room
        if target is not None:
            op = op.to(target)
        if skip_sid is not None:
            op = op.except_(skip_sid)
        op.emit(event, *args)

    def send(self, *args: Any, namespace: str = "/") -> None:
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
        """A ``twisted.web`` resource to mount (usually at ``socket.io``)."""
        from txsocketio.web import SocketIOResource

        return SocketIOResource(self)

    def close(self, reason: str = "server shutting down") -> None:
        """Disconnect every client (handlers see ``reason``) and close every session."""
        for eio in list(self.engine.sockets.values()):
            client = eio.context
            if isinstance(client, Client):
                for socket in list(client.sockets.values()):
                    if socket.connected:
                        socket._send(Packet(PacketType.DISCONNECT, socket.nsp.name))
                client.on_close(reason)
            eio.close(reason)

    # -- glue to Engine.IO ---------------------------------------------------------------

    def attach_connection(self, eio: Any) -> Client:
        """Start Socket.IO on an Engine.IO connection (used by the transports and testing)."""
        client = Client(self, eio)
        eio.context = client
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
        for parent in self._parents:
            child = parent.children.get(name)
            if child is not None:
                child._add(client, auth, query)
                return
        if not self._parents:
            self._invalid_namespace(client, name)
            return
        client._connecting.add(name)
        self._try_parents(client, name, auth, query, 0)

    def _try_parents(self, client: Client, name: str, auth: dict[str, Any], query: str | None,
                     index: int) -> None:
        while index < len(self._parents):
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

                verdict.addCallbacks(decided, lambda f, i=index: (
                    log.failure("namespace matcher raised", f), self._try_parents(client, name, auth, query, i)))
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
        child = parent.children.get(name) or parent.create_child(name)
        child._add(client, auth, query)

    def _invalid_namespace(self, client: Client, name: str) -> None:
        log.info("connection {sid}: CONNECT to unknown namespace {nsp}", sid=client.eio.sid, nsp=name)
        client.send_packet(Packet(PacketType.CONNECT_ERROR, name, {"message": "Invalid namespace"}))
