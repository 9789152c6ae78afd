# -*- test-case-name: tests.test_socketio_server -*-
"""One Engine.IO connection seen from Socket.IO: the glue around its state machine.

:class:`Client` feeds the connection's messages to a pure
:class:`~txsocketio.socketio.connection.Connection`, holds its one timer
(the connect timeout), and turns the machine's events into calls: the
connect flow for a CONNECT (namespace lookup, middlewares, class instance,
connect handler, written as one coroutine), the socket's handlers for events
and acknowledgements.

Protocol errors from the client (an undecodable message, an unknown packet
type, a packet for a namespace it has not joined) close the connection with
the reason ``"parse error"`` and one log line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Sequence

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from txsocketio._invoke import invoke
from txsocketio.errors import ConnectionRefused
from txsocketio.logs import log_fields
from txsocketio.logs import Logger
from txsocketio.observer import NULL_OBSERVER, message_size
from txsocketio.socketio import connection as sio
from txsocketio.socketio.packet import Packet
from txsocketio.socketio.recovering import RecoveringSocketExecutor, SessionAwareAdapter, restore_session
from txsocketio.socketio.recovery import RestoredSession
from txsocketio.socketio.socket import Socket, SocketHandshake

if TYPE_CHECKING:
    from txsocketio.socketio.namespaces import ServerNamespace
    from txsocketio.socketio.server import SocketIOServer

__all__ = ["Client", "EngineConnection"]

log = Logger(namespace="txsocketio.socketio")


class EngineConnection(Protocol):
    """What Socket.IO needs from an Engine.IO session (``EngineIOSocket``
    provides it, and so does the in-memory connection of
    :mod:`txsocketio.testing`)."""

    sid: str
    protocol: int
    transport: str
    writable: bool
    handshake: Any
    context: Any

    def send_many(self, messages: Sequence[Any]) -> None: ...

    def close(self, reason: str = "forced close") -> None: ...


class Client:
    """The Socket.IO state of one Engine.IO connection."""

    def __init__(self, server: "SocketIOServer", eio: EngineConnection) -> None:
        self.server = server
        self.eio = eio
        config = server.config
        self.connection = sio.Connection(eio.protocol, eio.sid, connect_timeout=config.connect_timeout,
                                         parser=config.parser, max_attachments=config.max_attachments,
                                         max_depth=config.max_json_depth)
        #: namespace name -> socket (connected, or with its connect handler running)
        self.sockets: dict[str, Socket] = {}
        self.closed = False
        self._timer: Any = None
        # Observed connections only: the transport last reported, and the
        # bytes of the messages of the packet being received.
        self._transport: str | None = None
        self._bytes_in = 0

    def __repr__(self) -> str:
        return f"<Client {self.eio.sid}>"

    def log_fields(self, namespace: str | None = None) -> dict[str, Any]:
        """The fields of a log line about this connection (:mod:`txsocketio.logs`)."""
        return log_fields(sid=self.eio.sid, namespace=namespace,
                          remote=getattr(self.eio.handshake, "remote", None))

    def start(self) -> None:
        """Arm the connect timeout; a Socket.IO v4 client (EIO 3) joins ``/`` at once."""
        observer = self.server.observer
        if observer is not NULL_OBSERVER:
            self._transport = self.eio.transport
            observer.client_opened(self._transport, self.eio.protocol)
        events = self.connection.start(self.server.reactor.seconds())
        self._schedule()
        self._handle(events)

    # -- time ---------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Match the one timer to the machine's deadline (it changes on start,
        accept, timer and close only)."""
        deadline = self.connection.next_deadline()
        timer = self._timer
        if deadline is None:
            if timer is not None and timer.active():
                timer.cancel()
            self._timer = None
            return
        reactor = self.server.reactor
        delay = max(0.0, deadline - reactor.seconds())
        if timer is not None and timer.active():
            timer.reset(delay)
        else:
            self._timer = reactor.callLater(delay, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self._handle(self.connection.handle_timer(self.server.reactor.seconds()))
        self._schedule()

    # -- from Engine.IO -------------------------------------------------------------

    def on_message(self, data: str | bytes) -> None:
        if not self.closed:
            observer = self.server.observer
            if observer is not NULL_OBSERVER:
                self._observed_message(observer, data)
                return
            self._handle(self.connection.receive(data))

    def _observed_message(self, observer: Any, data: str | bytes) -> None:
        nbytes = message_size(data)
        observer.message_received(nbytes)
        self._bytes_in += nbytes
        events = self.connection.receive(data)
        self._handle(events)
        if events:
            self._bytes_in = 0

    def on_upgrade(self) -> None:
        """The Engine.IO session has just moved to WebSocket."""
        if self._transport is not None:  # observed since it opened
            self._transport = self.eio.transport
            self.server.observer.client_upgraded(self.eio.sid, self.eio.protocol)

    def _handle(self, events: list[sio.Event]) -> None:
        for event in events:
            if isinstance(event, sio.EventReceived):
                socket = self.sockets.get(event.namespace)
                if socket is not None:
                    observer = self.server.observer
                    if observer is not NULL_OBSERVER:
                        observer.event_received(socket, event.event, event.args, self._bytes_in)
                    socket.handle_event(event.event, event.args, event.ack_id)
            elif isinstance(event, sio.AckReceived):
                socket = self.sockets.get(event.namespace)
                if socket is not None:
                    socket.handle_ack(event.ack_id, event.args)
            elif isinstance(event, sio.ConnectRequested):
                d = Deferred.fromCoroutine(self._join(event.namespace, event.auth, event.query))
                d.addErrback(_log_join_failure, event.namespace, self)
            elif isinstance(event, sio.NamespaceLeft):
                socket = self.sockets.get(event.namespace)
                if socket is not None:
                    socket.handle_close("client namespace disconnect")
            elif isinstance(event, sio.ConnectIgnored):
                log.info("connection {sid}: second CONNECT to {nsp}; ignored", nsp=event.namespace,
                         **self.log_fields(event.namespace))
            elif isinstance(event, sio.ProtocolViolated):
                log.info("connection {sid}: protocol error ({problem}); closing", problem=event.problem,
                         **self.log_fields())
                if event.refusal is not None:
                    self.send_packet(event.refusal)
                self.on_close("parse error")
                self.eio.close("parse error")
            elif isinstance(event, sio.ConnectTimedOut):
                if not self.closed:
                    log.info("connection {sid}: no namespace joined within connect_timeout; closing",
                             **self.log_fields())
                    self.eio.close("forced close")

    def on_close(self, reason: str) -> None:
        """The Engine.IO session ended: every namespace sees ``reason``."""
        if self.closed:
            return
        self.closed = True
        self.connection.close()
        self._schedule()
        self.server.client_closed(self)
        for socket in list(self.sockets.values()):
            socket.handle_close(reason)
        self.sockets.clear()
        if self._transport is not None:
            self.server.observer.client_closed(self._transport, self.eio.protocol, reason)

    # -- the connect flow -------------------------------------------------------------

    async def _join(self, name: str, auth: dict[str, Any], query: str | None) -> None:
        """Admit the client to ``name``: find the namespace, make the socket
        (a recovered one when the auth asks back a session that is still
        kept), run the middlewares, the class and the connect handler, then reply."""
        nsp = await self.server.find_namespace(name, auth, lambda: self.closed)
        if self.closed:
            return
        if nsp is None:
            log.info("connection {sid}: CONNECT to unknown namespace {nsp}", nsp=name, **self.log_fields(name))
            self.server.observer.socket_refused("invalid_namespace")
            self.send_packet(self.connection.reject_namespace(name))
            return
        recovery = self.server.config.connection_state_recovery
        session = None
        if recovery is not None and self.connection.rules.eio == 4:
            session = await restore_session(nsp.adapter, auth)
            if self.closed:
                return
        socket = self._new_socket(nsp, auth, query, session)
        try:
            if session is None or not recovery.skip_middlewares:  # type: ignore[union-attr]
                await self._run_middlewares(nsp, socket)
            if self.closed or socket.disconnected:
                self.connection.abandon(name)
                socket.handle_close("transport close")
                return
            nsp.admit(socket)
            if session is not None:
                socket.join(*session.rooms)
            self.sockets[name] = socket
            cls = nsp.namespace_class
            if cls is not None:
                socket.instance = cls(socket)
            result = nsp.run_connect_handler(socket, auth)
            if isinstance(result, Deferred):
                await result
        except Exception as e:
            self._refuse(socket, e)
            return
        self._complete(socket, session.missed_packets if session is not None else ())

    async def _run_middlewares(self, nsp: "ServerNamespace", socket: Socket) -> None:
        for middleware in nsp.middlewares:
            if self.closed:
                break
            result = invoke(middleware, socket)
            if isinstance(result, Deferred):
                await result

    def _new_socket(self, nsp: "ServerNamespace", auth: dict[str, Any], query: str | None,
                    session: RestoredSession | None = None) -> Socket:
        base = self.eio.handshake
        handshake = SocketHandshake(
            headers=base.headers, query=self.connection.rules.handshake_query(base.query, query),
            address=base.address, time=base.time, issued=base.issued, url=base.url, secure=base.secure,
            xdomain=base.xdomain, auth=auth, environ=base.environ,
        )
        if session is not None:
            socket = Socket(nsp, self, session.sid, handshake)
            socket.pid, socket.data, socket.recovered = session.pid, session.data, True
        else:
            socket = Socket(nsp, self, self.connection.socket_id(nsp.name), handshake)
            if self.server.config.connection_state_recovery is not None and self.connection.rules.eio == 4:
                socket.pid = sio.new_socket_id()
        if socket.pid is not None and isinstance(nsp.adapter, SessionAwareAdapter):
            # Only where emits are recorded: through a plain adapter it would cost and bring nothing.
            socket.executor = RecoveringSocketExecutor(socket.executor)  # type: ignore[assignment]
        return socket

    def _complete(self, socket: Socket, missed: Sequence[Packet] = ()) -> None:
        if self.closed or socket.disconnected:
            socket.handle_close("transport close")
            return
        for packet in missed:  # before the CONNECT reply, as Node sends them
            self.send_packet(packet)
        self.send_packet(self.connection.accept(socket.nsp.name, socket.id, socket.pid))
        self._schedule()
        log.debug("{socket} connected", socket=socket, namespace=socket.namespace)
        self.server.observer.socket_connected(socket)
        socket.connect_completed()

    def _refuse(self, socket: Socket, error: BaseException) -> None:
        name = socket.nsp.name
        socket.handle_close("server namespace disconnect")
        self.server.observer.socket_refused("refused" if isinstance(error, ConnectionRefused) else "error")
        if isinstance(error, ConnectionRefused):
            log.info("refused {socket}: {message}", socket=socket, message=error.message,
                     **self.log_fields(name))
        else:
            log.failure("connect handler or middleware of {nsp} raised; refusing the client",
                        failure=Failure(error, type(error), error.__traceback__), nsp=name,
                        **self.log_fields(name))
            error = ConnectionRefused("Internal server error")
        self.connection.abandon(name)
        if self.closed:
            return
        try:
            self.send_packet(self.connection.refuse(name, error.message, error.data))
        except (TypeError, ValueError):
            log.failure("the data of {error!r} cannot be serialised; refusing without it", error=error,
                        **self.log_fields(name))
            self.send_packet(self.connection.refuse(name, error.message))

    # -- to Engine.IO ---------------------------------------------------------------

    def socket_left(self, socket: Socket) -> None:
        """``socket`` left its namespace (called by the socket)."""
        name = socket.nsp.name
        if self.sockets.get(name) is socket:
            del self.sockets[name]
        self.connection.leave(name)

    def send_packet(self, packet: Packet) -> None:
        """Encode and send one packet (not for broadcasts: they encode once)."""
        messages = self.server.config.parser.encode(packet)
        observer = self.server.observer
        if observer is not NULL_OBSERVER:
            for m in messages:
                observer.message_sent(message_size(m))
        self.eio.send_many(messages)

    def disconnect_all(self, reason: str, engine_reason: str = "forced close") -> None:
        """Tell every namespace of this connection goodbye (DISCONNECT packets),
        run the handlers with ``reason``, then close the Engine.IO session."""
        if self.closed:
            return
        for socket in list(self.sockets.values()):
            if socket.connected:
                socket.send_packet(self.connection.disconnect(socket.nsp.name))
        self.on_close(reason)
        self.eio.close(engine_reason)

    def shutdown(self, reason: str = "server shutting down") -> None:
        """The server is going away: goodbye packets, handlers see ``reason``."""
        self.disconnect_all(reason, reason)


def _log_join_failure(failure: Failure, namespace: str, client: Client) -> None:
    log.failure("connecting to {nsp} failed", failure, nsp=namespace, **client.log_fields(namespace))
