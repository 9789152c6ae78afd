# -*- test-case-name: tests.test_socketio_server,tests.test_socketio_namespaces -*-
"""The server's namespaces: handlers, middlewares, sockets and the adapter.

A :class:`ServerNamespace` is ``sio.of("/chat")``; a :class:`ParentNamespace`
is a dynamic one (a regular expression, a callable or ``"*"``) whose children
are created on first connection.  Both broadcast through the one
:class:`~txsocketio.socketio.broadcast.BroadcastOperator`; they differ in
their executor (the adapter, or a fan-out over the children).
"""

from __future__ import annotations

import inspect
import re
from collections import ChainMap
from typing import TYPE_CHECKING, Any, Callable, MutableMapping, Pattern, TypeVar, Union, overload

from twisted.internet.defer import Deferred, maybeDeferred

from txsocketio._invoke import invoke, log_failures
from txsocketio.adapters.base import ROOM_EVENTS, Adapter
from txsocketio.engineio.server import OutgoingMessage
from txsocketio.logs import Logger
from txsocketio.socketio.broadcast import (BroadcastOperator, FanOutExecutor, NamespaceExecutor, ServerBroadcasting,
                                           ServerExecutor, ServerOperator)
from txsocketio.socketio.events import HandlerT
from txsocketio.socketio.namespace import Namespace
from txsocketio.socketio.packet import Packet

if TYPE_CHECKING:
    from txsocketio.socketio.server import SocketIOServer
    from txsocketio.socketio.socket import Socket

__all__ = ["ServerNamespace", "ParentNamespace", "NamespaceMatcher"]

log = Logger(namespace="txsocketio.socketio")

NamespaceMatcher = Union[str, Pattern[str], Callable[..., Any]]

NamespaceT = TypeVar("NamespaceT", bound=Namespace)


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


def _registrar(table: MutableMapping[str, Callable[..., Any]], event: str, handler: Any, what: str) -> Any:
    if not isinstance(event, str):
        raise TypeError("an event name must be a str")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError(f"{what} for {event!r} must be callable")
        table[event] = fn
        return fn

    return register(handler) if handler is not None else register


class ServerNamespace(ServerBroadcasting):
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
        # A child sees its parent's handlers (registered before or after it
        # was created) beneath its own; registering on the child
        # (``sio.of("/org-1").on(...)``) does not touch its siblings.
        self.handlers = ChainMap({}, parent.handlers) if parent is not None else {}
        #: event -> handler of events sent by the other servers (server_side_emit)
        self.server_side_handlers: MutableMapping[str, Callable[..., Any]] = (
            ChainMap({}, parent.server_side_handlers) if parent is not None else {})
        #: what carries out this namespace's broadcasts
        self.executor: ServerExecutor = NamespaceExecutor(self)
        #: sockets whose middlewares or connect handler still run (Node's ``_preConnectSockets``)
        self.connecting: dict[str, Socket] = {}
        self._room_listeners: dict[str, list[Callable[..., Any]]] = {}
        self._middlewares: list[Callable[..., Any]] = []
        self._class: type[Namespace] | None = None
        self._lifecycle_cache: dict[Any, _Lifecycle] = {}
        self._ack_id = 0
        self.adapter: Adapter = self.start_adapter()

    def __repr__(self) -> str:
        return f"<ServerNamespace {self.name}>"

    @property
    def reactor(self) -> Any:
        """The server's clock (adapters and ack timers use it)."""
        return self.server.reactor

    def start_adapter(self) -> Adapter:
        """Make this namespace's adapter with the server's factory and start it."""
        self.adapter = adapter = self.server.config.adapter(self)
        init = getattr(adapter, "init", None)
        if init is not None:
            result = maybeDeferred(init)
            result.addErrback(lambda f: log.failure("adapter of {nsp} failed to start", f, nsp=self.name))
        return adapter

    def close_adapter(self) -> "Deferred[Any]":
        """Close this namespace's adapter; fires when done (a failure is logged, never raised)."""
        d = maybeDeferred(self.adapter.close)
        d.addErrback(lambda f: log.failure("closing the adapter of {nsp} failed", f, nsp=self.name))
        return d

    # -- registration ------------------------------------------------------------------

    @overload
    def on(self, event: str, handler: None = None) -> Callable[[HandlerT], HandlerT]: ...

    @overload
    def on(self, event: str, handler: HandlerT) -> HandlerT: ...

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Register ``handler`` for ``event``; usable as a decorator.

        ``connect`` handlers get ``(socket, auth)`` (or just ``socket``),
        ``disconnect``/``disconnecting`` handlers ``(socket, reason)``, and
        event handlers ``(socket, *args)``; an event handler's return value
        (plain, Deferred or coroutine) is the acknowledgement.  The event
        ``"*"`` is a catch-all: ``(socket, event, *args)`` for every event
        that has no handler of its own.
        """
        return _registrar(self.handlers, event, handler, "handler")

    @overload
    def on_server_side(self, event: str, handler: None = None) -> Callable[[HandlerT], HandlerT]: ...

    @overload
    def on_server_side(self, event: str, handler: HandlerT) -> HandlerT: ...

    def on_server_side(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Handle ``event`` when another server of the cluster sends it with
        :meth:`server_side_emit` (what Node's ``nsp.on(event)`` receives from
        ``serverSideEmit``); usable as a decorator.

        The handler gets the event's arguments (no socket); when the sender
        asked for acknowledgements its return value (plain, Deferred or
        coroutine) is this server's answer.  Kept apart from :meth:`on`, whose
        handlers answer clients.  Needs a cluster adapter (Redis).
        """
        return _registrar(self.server_side_handlers, event, handler, "server-side handler")

    def register(self, namespace_class: type[NamespaceT]) -> type[NamespaceT]:
        """Handle this namespace with a class: one instance per connection."""
        if not (isinstance(namespace_class, type) and issubclass(namespace_class, Namespace)):
            raise TypeError("register() takes a subclass of txsocketio.Namespace")
        self._class = namespace_class
        return namespace_class

    def use(self, middleware: HandlerT) -> HandlerT:
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
            return list(self._middlewares)
        return parent.middlewares + self._middlewares

    @property
    def namespace_class(self) -> type[Namespace] | None:
        """The class registered with :meth:`register` (here, or on the dynamic parent)."""
        if self._class is None and self.parent is not None:
            return self.parent.namespace_class
        return self._class

    # -- sockets ------------------------------------------------------------------------

    def socket_connecting(self, socket: "Socket") -> None:
        """A socket for this namespace was made; its middlewares run now (called by the socket)."""
        self.connecting[socket.id] = socket

    def admit(self, socket: "Socket") -> None:
        """``socket`` passed the middlewares: it joins the namespace and its own room."""
        if self.connecting.get(socket.id) is socket:
            del self.connecting[socket.id]
        self.sockets[socket.id] = socket
        self.adapter.add_all(socket.id, [socket.id])

    def socket_left(self, socket: "Socket") -> None:
        """``socket`` left, or was refused (called by the socket; its rooms are
        already gone).  The last one to leave a dynamic child removes the child
        when the server has ``cleanup_empty_child_namespaces``, as Node does."""
        if self.sockets.get(socket.id) is socket:
            del self.sockets[socket.id]
        elif self.connecting.get(socket.id) is socket:
            del self.connecting[socket.id]
        else:
            return  # not one of ours (any more): nothing changed
        parent = self.parent
        if (parent is not None and not self.sockets and not self.connecting
                and self.server.config.cleanup_empty_child_namespaces):
            parent.remove_child(self)

    # -- room events (Node's adapter events) ---------------------------------------------

    @overload
    def on_room_event(self, event: str, listener: None = None) -> Callable[[HandlerT], HandlerT]: ...

    @overload
    def on_room_event(self, event: str, listener: HandlerT) -> HandlerT: ...

    def on_room_event(self, event: str, listener: Callable[..., Any] | None = None) -> Any:
        """Listen to the rooms of this namespace changing; usable as a decorator.

        ``event`` is one of Node's adapter events: ``"create-room"`` and
        ``"delete-room"`` (the listener gets the room), ``"join-room"`` and
        ``"leave-room"`` (the room and the socket id).  They fire once per
        change of this server's rooms, the rooms named after each socket's
        id included, in Node's order (``create-room`` before the first
        ``join-room``, ``delete-room`` after the last ``leave-room``).  A
        listener that raises (or fails later) is logged; the join or leave
        goes on.  On a dynamic parent the listener hears every child, present
        and future, and gets the child namespace first: ``(nsp, room[, id])``.
        """
        if event not in ROOM_EVENTS:
            raise ValueError(f"unknown room event {event!r}; one of {', '.join(ROOM_EVENTS)}")

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if not callable(fn):
                raise TypeError(f"the listener of {event!r} must be callable")
            self._room_listeners.setdefault(event, []).append(fn)
            return fn

        return register(listener) if listener is not None else register

    def off_room_event(self, event: str, listener: Callable[..., Any] | None = None) -> None:
        """Stop ``listener`` (every listener of ``event`` when ``None``)."""
        if listener is None:
            self._room_listeners.pop(event, None)
        elif listener in self._room_listeners.get(event, ()):
            self._room_listeners[event].remove(listener)

    def room_listeners(self, event: str) -> list[Callable[..., Any]]:
        """The listeners of ``event`` (a copy)."""
        return list(self._room_listeners.get(event, ()))

    def room_event(self, event: str, room: str, sid: str | None = None) -> None:
        """An adapter's rooms changed (see :class:`~txsocketio.adapters.base.AdapterNamespace`):
        call the listeners of ``event`` with ``room`` (and ``sid``)."""
        args = (room,) if sid is None else (room, sid)
        listeners = self._room_listeners.get(event)
        if listeners:
            for fn in list(listeners):
                log_failures(log, fn, *args, what="{event} listener of {nsp} failed", event=event, nsp=self.name)
        parent = self.parent
        if parent is not None:
            for fn in parent.room_listeners(event):
                log_failures(log, fn, self, *args, what="{event} listener of {nsp} failed", event=event,
                             nsp=self.name)

    def _lifecycle(self, socket: "Socket", name: str) -> tuple[_Lifecycle, tuple[Any, ...]] | None:
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

    def run_connect_handler(self, socket: "Socket", auth: dict[str, Any]) -> Any:
        """Call the ``connect`` handler (or ``on_connect``); its result, a Deferred maybe."""
        found = self._lifecycle(socket, "connect")
        if found is None:
            return None
        entry, head = found
        return entry(*head, extra=auth)

    def run_lifecycle(self, socket: "Socket", name: str, reason: str) -> None:
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
        for listener in socket.listeners(name):
            log_failures(log, listener, reason, what="{name} listener failed on {socket}",
                         name=name, socket=socket)

    # -- encoding and ack ids ----------------------------------------------------------

    def next_ack_id(self) -> int:
        """A new ack id, unique in this namespace on this server (as Node's ``nsp._ids``)."""
        ack_id = self._ack_id
        self._ack_id += 1
        return ack_id

    def prepare(self, packet: Packet, compress: bool = True) -> list["OutgoingMessage"]:
        """Encode once into Engine.IO messages reusable for every recipient.

        ``compress=False`` keeps them uncompressed on WebSockets that
        negotiated permessage-deflate.  Raises ``TypeError`` naming the
        argument that cannot be serialised.
        """
        return [OutgoingMessage(m, compress) for m in self.server.config.parser.encode(packet)]

    def encode(self, packet: Packet) -> list[str | bytes]:
        """Encode for one recipient: the Engine.IO messages of ``packet``."""
        return self.server.config.parser.encode(packet)

    def forget_ack(self, ack_id: int) -> None:
        """A broadcast with acks is over: drop its ack id from the sockets still holding it."""
        for socket in self.sockets.values():
            socket.forget_ack(ack_id)

    # -- broadcasting (the front doors come from Broadcasting) ---------------------------

    def _operator(self) -> ServerOperator:
        return BroadcastOperator(self.executor)

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
        self.executor = FanOutExecutor(self)

    def matches(self, name: str, auth: dict[str, Any]) -> Any:
        """True/False, or a Deferred of it."""
        matcher = self.matcher
        if isinstance(matcher, str):  # "*": any other name is a plain namespace
            return matcher == "*"
        if isinstance(matcher, re.Pattern):
            return matcher.fullmatch(name) is not None
        return invoke(matcher, name, auth)

    def create_child(self, name: str) -> ServerNamespace:
        """A new child named ``name`` (the server registers it)."""
        child = ServerNamespace(self.server, name, parent=self)
        self.children[name] = child
        return child

    def remove_child(self, child: ServerNamespace) -> "Deferred[Any]":
        """Forget ``child`` (its last socket left): the server no longer knows
        it, its adapter is closed (the Redis adapter unsubscribes), and a later
        client for the same name gets a fresh child.  Fires when the adapter
        is closed."""
        if self.children.get(child.name) is child:
            del self.children[child.name]
        log.debug("closing child namespace {nsp}", nsp=child.name)
        return self.server.remove_namespace(child)
