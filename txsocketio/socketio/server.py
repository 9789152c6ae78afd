# -*- test-case-name: tests.test_socketio_server,tests.test_socketio_namespaces -*-
"""The Socket.IO server: registration, configuration and wiring.

:class:`SocketIOServer` keeps the namespaces (:mod:`txsocketio.socketio.namespaces`),
the configuration record (:mod:`txsocketio.socketio.config`) and the Engine.IO
server, and hands each Engine.IO connection to a
:class:`~txsocketio.socketio.client.Client`, whose pure state machine
(:mod:`txsocketio.socketio.connection`) speaks the protocol.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, overload

from twisted.internet.defer import Deferred, DeferredList

from txsocketio.adapters.base import Adapter
from txsocketio.engineio.hooks import EngineHooks
from txsocketio.engineio.server import EngineIOServer, EngineIOSocket
from txsocketio.logs import Logger
from txsocketio.observer import NULL_OBSERVER, ObserverGroup
from txsocketio.socketio.broadcast import BroadcastOperator, ServerBroadcasting, ServerOperator
from txsocketio.socketio.client import Client
from txsocketio.socketio.config import ServerConfig
from txsocketio.socketio.events import HandlerT
from txsocketio.socketio.namespaces import NamespaceMatcher, NamespaceT, ParentNamespace, ServerNamespace
from txsocketio.socketio.parser import Parser
from txsocketio.socketio.threadsafe import ThreadSafeServer

if TYPE_CHECKING:
    from txsocketio.web import SocketIOResource

__all__ = ["SocketIOServer", "ServerNamespace", "ParentNamespace"]

log = Logger(namespace="txsocketio.socketio")


class SocketIOServer(ServerBroadcasting):
    """A Socket.IO server (protocol v5, and v4 with ``allow_eio3``).

    Times are in seconds (floats allowed).  Every Engine.IO option is
    accepted: ``ping_interval`` (25), ``ping_timeout`` (20), ``upgrade_timeout``
    (10), ``max_http_buffer_size`` (1e6), ``transports``, ``allow_upgrades``,
    ``allow_eio3``, ``cookie``, ``cors_allowed_origins``, ``cors_credentials``,
    ``allow_request``, ``http_compression``, ``compression_threshold``,
    ``per_message_deflate``.  Socket.IO options: ``connect_timeout`` (45),
    ``max_attachments`` (10), ``adapter`` (a callable taking the namespace and
    returning an adapter; the in-memory adapter by default), ``parser`` (see
    :mod:`txsocketio.socketio.parser`; JSON by default),
    ``cleanup_empty_child_namespaces`` (False; with True a child of a dynamic
    namespace is removed when its last socket leaves, as Node's
    ``cleanupEmptyChildNamespaces``), ``connection_state_recovery``
    (``None``, off, by default; e.g. ``{"max_disconnection_duration": 120,
    "skip_middlewares": True}``, see
    :class:`~txsocketio.socketio.recovering.RecoveryOptions`).  They make one
    :class:`~txsocketio.socketio.config.ServerConfig` (:attr:`config`);
    change them later with :meth:`configure`.

    ``reactor`` is the clock and I/O of everything the server does; pass it
    (a ``twisted.internet.task.Clock`` in tests, see :mod:`txsocketio.testing`).
    An application that leaves it out gets the global reactor: that choice
    is made here, once, and nowhere else in the library.
    """

    def __init__(self, *, reactor: Any = None, **options: Any) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # the application's entry point

            reactor = global_reactor
        self.reactor = reactor
        self.config = ServerConfig.of(**options)
        # Node's io.engine hooks, kept when configure() replaces the engine.
        self._engine_hooks = EngineHooks()
        self._engine_hooks.count_errors(self._on_engine_error)
        self.engine = self._make_engine(self.config)
        #: Engine.IO sid -> the Socket.IO state of every open connection
        self.clients: dict[str, Client] = {}
        self._nsps: dict[str, ServerNamespace] = {}
        self._parents: list[ParentNamespace] = []
        self._closing: set[Deferred[Any]] = set()
        self._mounted = False
        self._shutting_down = False
        self._shutdown: Deferred[None] | None = None
        self._threadsafe: ThreadSafeServer | None = None
        #: what the server reports to (txsocketio.observer): the null observer
        #: until add_observer(); read by the hooks of the Socket.IO layer
        self.observer: Any = NULL_OBSERVER
        self._observers: list[Any] = []
        self._metrics: Any = None
        self.of("/")

    def _make_engine(self, config: ServerConfig) -> EngineIOServer:
        return EngineIOServer(self.reactor, on_connect=self._on_engine_connect,
                              on_message=self._on_engine_message,
                              on_disconnect=self._on_engine_disconnect,
                              on_upgrade=self._on_engine_upgrade, on_hooks=self._engine_hooks,
                              **config.engine)

    # -- configuration ------------------------------------------------------------------

    @property
    def connect_timeout(self) -> float:
        return self.config.connect_timeout

    @property
    def max_attachments(self) -> int:
        return self.config.max_attachments

    @property
    def adapter_factory(self) -> Callable[[ServerNamespace], Adapter]:
        return self.config.adapter

    @property
    def parser(self) -> Parser:
        return self.config.parser

    def mounted(self) -> None:
        """The web resource has read the Engine.IO options (the WebSocket
        factory's size limits): :meth:`configure` refuses from now on."""
        self._mounted = True

    def configure(self, **options: Any) -> None:
        """Change options after construction; takes the constructor's names
        (``ping_interval=10``, ``cors_allowed_origins=[...]``, ``connect_timeout=5``…).

        Options not named keep their values.  Sessions opened from now on use
        the new values; open ones keep theirs (and the Engine.IO server they
        were opened on).  Call it before the server is mounted: the WebSocket
        factory reads ``max_http_buffer_size`` and ``per_message_deflate``
        when the resource is created, so once :meth:`resource` (or
        ``SocketIOResource(sio)``) has been called this raises
        ``RuntimeError``.  ``adapter`` can only be changed while no client is
        connected.  Invalid values raise ``ValueError`` (unknown names
        ``TypeError``) and change nothing.
        """
        if self._mounted:
            raise RuntimeError(
                "configure() must be called before the server is mounted: resource() "
                "(or SocketIOResource) has already read the Engine.IO options"
            )
        if options.get("adapter", 0) is None:
            del options["adapter"]
        try:
            config = self.config.evolve(**options)
        except TypeError as e:
            raise TypeError(f"configure() got {e}") from None
        new_adapter = "adapter" in options or config.adapter is not self.config.adapter
        if new_adapter and self.clients:
            raise RuntimeError("the adapter can only be changed while no client is connected")
        engine = self._make_engine(config) if config.engine != self.config.engine else self.engine
        self.config, self.engine = config, engine
        if new_adapter:
            for nsp in self.all_namespaces():
                nsp.close_adapter()
                nsp.start_adapter()

    @property
    def threadsafe(self) -> ThreadSafeServer:
        """The same emitting API, callable from any thread (WSGI/Django views,
        ``deferToThread`` workers…): see :class:`txsocketio.socketio.threadsafe.ThreadSafeServer`."""
        if self._threadsafe is None:
            self._threadsafe = ThreadSafeServer(self)
        return self._threadsafe

    # -- observers (metrics, the Admin UI) -------------------------------------------

    def add_observer(self, observer: Any) -> None:
        """Report what happens to ``observer`` (see :mod:`txsocketio.observer`).

        Register before clients connect: counts of what was open before
        (sessions, sockets) are not reported to it.
        """
        self._observers.append(observer)
        self.observer = ObserverGroup(self._observers)

    def remove_observer(self, observer: Any) -> None:
        """Stop reporting to ``observer`` (if it was registered)."""
        if observer in self._observers:
            self._observers.remove(observer)
        self.observer = ObserverGroup(self._observers) if self._observers else NULL_OBSERVER

    def metrics_resource(self, registry: Any = None, *, prefix: str = "") -> Any:
        """The Prometheus scrape resource of this server (``root.putChild(b"metrics", ...)``).

        The first call registers a :class:`txsocketio.metrics.PrometheusMetrics`
        observer (on ``registry``, default: a registry of its own) and later
        calls return a resource on the same one.  Needs
        ``pip install txsocketio[metrics]``.
        """
        if self._metrics is None:
            from txsocketio.metrics import PrometheusMetrics

            self._metrics = PrometheusMetrics(registry, prefix=prefix)
            self.add_observer(self._metrics)
        return self._metrics.resource()

    def instrument(self, auth: Any, *, mode: str = "development", namespace: str = "/admin",
                   read_only: bool = False, server_id: str | None = None) -> Any:
        """Serve the Socket.IO Admin UI's namespace (see :mod:`txsocketio.admin.instrument`)."""
        from txsocketio.admin.instrument import instrument

        return instrument(self, auth=auth, mode=mode, namespace=namespace, read_only=read_only,
                          server_id=server_id)

    # -- namespaces ------------------------------------------------------------------

    def of(self, namespace: NamespaceMatcher) -> ServerNamespace:
        """The namespace of that name, or a dynamic one for a compiled regex, a
        callable ``(name, auth) -> bool`` (or a Deferred/coroutine of it) or
        ``"*"``.

        A name is created on first use: as a child of the first dynamic
        parent made from a regex that matches it (as Node does), else as a
        namespace of its own.  A child that exists already is returned.
        """
        if isinstance(namespace, str) and namespace != "*":
            if not namespace.startswith("/"):
                namespace = "/" + namespace
            nsp = self._nsps.get(namespace)
            if nsp is None:
                parent = next((p for p in self._parents if isinstance(p.matcher, re.Pattern)
                               and p.matcher.fullmatch(namespace)), None)
                nsp = self._nsps[namespace] = (ServerNamespace(self, namespace) if parent is None
                                               else parent.create_child(namespace))
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

    def all_namespaces(self) -> list[ServerNamespace]:
        """The named namespaces and the dynamic parents."""
        return [*self._nsps.values(), *self._parents]

    def remove_namespace(self, nsp: ServerNamespace) -> "Deferred[Any]":
        """Forget ``nsp`` and close its adapter (a dynamic parent removing an
        emptied child); a later ``of()`` or client for that name makes a new
        one.  Fires when the adapter is closed; :meth:`shutdown` waits for it too."""
        if self._nsps.get(nsp.name) is nsp:
            del self._nsps[nsp.name]
            self.observer.namespace_removed(nsp.name)
        d = nsp.close_adapter()
        if not d.called:
            self._closing.add(d)

            def forget(result: object) -> object:
                self._closing.discard(d)
                return result

            d.addBoth(forget)
        return d

    @property
    def closing_adapters(self) -> list["Deferred[Any]"]:
        """The adapter closes of removed namespaces still in progress."""
        return list(self._closing)

    async def find_namespace(self, name: str, auth: dict[str, Any],
                             gone: Callable[[], bool]) -> ServerNamespace | None:
        """The namespace a CONNECT to ``name`` joins: a named one, else the
        child of the first dynamic parent that matches (created now); ``None``
        when none does or when ``gone()`` turns true meanwhile."""
        nsp = self._nsps.get(name)
        if nsp is not None:
            return nsp
        for parent in list(self._parents):
            if gone():
                return None
            try:
                verdict = parent.matches(name, auth)
                if isinstance(verdict, Deferred):
                    verdict = await verdict
            except Exception:
                log.failure("namespace matcher {m!r} raised", m=parent.matcher)
                continue
            if verdict:
                if gone():
                    return None
                child = self._nsps.get(name)
                if child is None:
                    child = self._nsps[name] = parent.create_child(name)
                return child
        return None

    @overload
    def on(self, event: str, handler: None = None,
           namespace: NamespaceMatcher = "/") -> Callable[[HandlerT], HandlerT]: ...

    @overload
    def on(self, event: str, handler: HandlerT, namespace: NamespaceMatcher = "/") -> HandlerT: ...

    def on(self, event: str, handler: Callable[..., Any] | None = None,
           namespace: NamespaceMatcher = "/") -> Any:
        """Register a handler (see :meth:`ServerNamespace.on`); a decorator too."""
        return self.of(namespace).on(event, handler)

    @overload
    def on_server_side(self, event: str, handler: None = None,
                       namespace: NamespaceMatcher = "/") -> Callable[[HandlerT], HandlerT]: ...

    @overload
    def on_server_side(self, event: str, handler: HandlerT, namespace: NamespaceMatcher = "/") -> HandlerT: ...

    def on_server_side(self, event: str, handler: Callable[..., Any] | None = None,
                       namespace: NamespaceMatcher = "/") -> Any:
        """Handle server-side emits of the other servers (see
        :meth:`ServerNamespace.on_server_side`); a decorator too."""
        return self.of(namespace).on_server_side(event, handler)

    def register(self, namespace: NamespaceMatcher, namespace_class: type[NamespaceT]) -> type[NamespaceT]:
        """Handle ``namespace`` with a :class:`~txsocketio.Namespace` subclass."""
        return self.of(namespace).register(namespace_class)

    def use(self, middleware: HandlerT, namespace: NamespaceMatcher = "/") -> HandlerT:
        """Connection middleware on ``namespace`` (see :meth:`ServerNamespace.use`)."""
        return self.of(namespace).use(middleware)

    # -- the main namespace's broadcasting (front doors from Broadcasting) ----------------

    def _operator(self) -> ServerOperator:
        return BroadcastOperator(self.of("/").executor)

    def emit(self, event: str, *args: Any, namespace: NamespaceMatcher = "/", to: Any = None,
             room: Any = None, skip_sid: Any = None) -> None:
        """Emit to everyone in ``namespace`` (``to``/``room`` and ``skip_sid``
        as python-socketio spells them, or chain ``sio.to(...)``)."""
        op = BroadcastOperator(self.of(namespace).executor)
        target = to if to is not None else room
        if target is not None:
            op = op.to(target)
        if skip_sid is not None:
            op = op.except_(skip_sid)
        op.emit(event, *args)

    def send(self, *args: Any, namespace: NamespaceMatcher = "/") -> None:
        self.emit("message", *args, namespace=namespace)

    def server_side_emit(self, event: str, *args: Any, timeout: float | None = None,
                         want_ack: bool = False) -> "Deferred[list[Any]]":
        return self.of("/").server_side_emit(event, *args, timeout=timeout, want_ack=want_ack)


    # -- serving ---------------------------------------------------------------------

    def resource(self) -> "SocketIOResource":
        """A ``twisted.web`` resource to mount (usually at ``socket.io``).

        Call :meth:`configure` before this, not after.
        """
        from txsocketio.web import SocketIOResource

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
            self.observer.server_shutdown()
            self._shutdown = _Shutdown(self, timeout).start()
        waiter: Deferred[None] = Deferred()

        def release(result: object) -> object:
            waiter.callback(None)
            return result

        self._shutdown.addBoth(release)
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

    def client_closed(self, client: Client) -> None:
        """``client``'s connection ended (called by the client)."""
        if self.clients.get(client.eio.sid) is client:
            del self.clients[client.eio.sid]

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

    def _on_engine_upgrade(self, eio: EngineIOSocket) -> None:
        client = eio.context
        if client is not None:
            client.on_upgrade()

    def _on_engine_error(self, code: int) -> None:
        self.observer.handshake_error(code)


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
        steps += [nsp.close_adapter() for nsp in sio.all_namespaces()] + sio.closing_adapters
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
