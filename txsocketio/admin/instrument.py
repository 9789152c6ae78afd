# -*- test-case-name: tests.test_admin_instrument -*-
"""``sio.instrument(...)``: the admin namespace of the Socket.IO Admin UI.

Glue between a :class:`~txsocketio.SocketIOServer` and the pure
:mod:`txsocketio.admin.protocol` / :mod:`txsocketio.admin.auth`:

* a connection middleware on the admin namespace decides the login
  (:func:`txsocketio.admin.auth.authenticate`); a refusal is a CONNECT_ERROR
  ``{"message": "invalid credentials"}``;
* a connected admin socket gets ``session`` (when one was minted),
  ``config`` and, in development mode, ``all_sockets`` (every namespace,
  cluster-wide through ``fetch_sockets``);
* :class:`AdminInstrumentation` is an observer of the server
  (:mod:`txsocketio.observer`): it turns what the server reports into the
  UI's events, emitted to the whole admin namespace (through its adapter,
  so with Redis every admin UI of the cluster sees every server);
* ``server_stats`` is emitted at once and every
  :data:`~txsocketio.admin.protocol.SERVER_STATS_INTERVAL` seconds by a
  ``LoopingCall`` on the server's reactor, stopped by ``sio.shutdown()``;
* the UI's commands (``emit``, ``join``, ``leave``, ``_disconnect``) act
  through the namespaces' broadcast operators (cluster-wide); a read-only
  instrumentation refuses them.

``docs/development/admin-protocol.md`` is the spec.
"""

from __future__ import annotations

import os
import socket as _socket
from typing import TYPE_CHECKING, Any, Sequence

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import LoopingCall

from txsocketio.adapters.memory import MemoryAdapter
from txsocketio.admin import protocol as p
from txsocketio.admin.auth import AdminAuthenticator, AdminCredentials, authenticate
from txsocketio.errors import ConnectionRefused
from txsocketio.logs import Logger
from txsocketio.observer import NullObserver

if TYPE_CHECKING:
    from txsocketio.socketio.namespaces import ServerNamespace
    from txsocketio.socketio.server import SocketIOServer

__all__ = ["instrument", "AdminInstrumentation"]

log = Logger(namespace="txsocketio.admin")


def instrument(sio: "SocketIOServer", *, auth: AdminCredentials | bool, mode: str = "development",
               namespace: str = p.NAMESPACE, read_only: bool = False, server_id: str | None = None,
               threadpool: Any = None) -> "AdminInstrumentation":
    """Serve the Admin UI's namespace on ``sio`` and start reporting to it.

    ``auth``: an :class:`~txsocketio.admin.auth.AdminCredentials` (a user
    name and a bcrypt hash), or ``False`` for no authentication (an explicit
    choice, as Node's ``auth: false``; anything else raises ``TypeError``).
    ``mode``: ``"development"`` (every socket, room and event) or
    ``"production"`` (``server_stats`` only).  ``read_only``: refuse the UI's
    commands.  ``server_id``: how the UI names this server (default: the host
    name, ``hostname#pid`` with a cluster adapter).  ``threadpool``: where the
    bcrypt checks run (default: the reactor's).
    """
    if auth is False:
        credentials = None
    elif isinstance(auth, AdminCredentials):
        credentials = auth
    else:
        raise TypeError("instrument() needs auth=AdminCredentials(user, bcrypt_hash), or auth=False for no "
                        f"authentication (an explicit choice), not {auth!r}")
    p.check_mode(mode)
    if not isinstance(namespace, str) or not namespace.startswith("/"):
        raise ValueError(f"the admin namespace is a name starting with '/', not {namespace!r}")
    return AdminInstrumentation(sio, AdminAuthenticator(credentials), mode=mode, namespace=namespace,
                                read_only=read_only, server_id=server_id, threadpool=threadpool)


def socket_view(socket: Any) -> p.SocketView:
    """What the UI shows of a local or remote socket (own id room first)."""
    rooms = sorted(socket.rooms, key=lambda r: (r != socket.id, r))
    return p.SocketView(id=socket.id, nsp=socket.namespace, handshake=socket.handshake, rooms=rooms,
                        data=socket.data if isinstance(socket.data, dict) else {},
                        client_id=getattr(socket, "client_id", None), transport=getattr(socket, "transport", None))


class AdminInstrumentation(NullObserver):
    """The Admin UI's side of one server: its namespace, login, stats timer,
    and the observer that reports sockets, rooms and events to it."""

    def __init__(self, sio: "SocketIOServer", authenticator: AdminAuthenticator, *, mode: str,
                 namespace: str, read_only: bool, server_id: str | None, threadpool: Any = None) -> None:
        self.sio = sio
        self.reactor = sio.reactor
        self.authenticator = authenticator
        self.mode = mode
        self.development = mode == "development"
        self.read_only = read_only
        self.features = p.supported_features(read_only=read_only, mode=mode)
        self.threadpool = threadpool
        self.hostname = _socket.gethostname()
        self.pid = os.getpid()
        self.nsp: ServerNamespace = sio.of(namespace)
        if server_id is None:
            clustered = not isinstance(self.nsp.adapter, MemoryAdapter)
            server_id = p.default_server_id(self.hostname, self.pid, clustered=clustered)
        self.server_id = server_id
        # With the in-memory adapter only this process's admin sockets can
        # watch: while there are none, per-socket reports are not even built.
        self._local_only = isinstance(self.nsp.adapter, MemoryAdapter)
        self.aggregated = p.AggregatedEvents()
        self.started = self.reactor.seconds()
        #: admin socket id -> the session id minted by its login, sent after the CONNECT
        self._minted: dict[str, str] = {}
        self.nsp.use(self._login)
        self.nsp.on("connect", self._connected)
        for command in sorted(p.COMMANDS):
            self.nsp.on(command, self._command_handler(command))
        sio.add_observer(self)
        self._stats = LoopingCall(self.emit_stats)
        self._stats.clock = self.reactor
        self._stats.start(p.SERVER_STATS_INTERVAL, now=True)

    def __repr__(self) -> str:
        return f"<AdminInstrumentation {self.nsp.name} {self.mode}{' read-only' if self.read_only else ''}>"

    def stop(self) -> None:
        """Stop the stats timer and the reports (the namespace stays)."""
        if self._stats.running:
            self._stats.stop()
        self.sio.remove_observer(self)

    # -- login and the first events ---------------------------------------------------

    async def _login(self, socket: Any) -> None:
        result = await authenticate(self.authenticator, socket.handshake.auth, reactor=self.reactor,
                                    threadpool=self.threadpool)
        if not result.accepted:
            log.info("admin login refused from {address}", address=socket.handshake.address)
            raise ConnectionRefused(result.message or p.INVALID_CREDENTIALS)
        if result.session_id is not None:
            self._minted[socket.id] = result.session_id

    def _connected(self, socket: Any) -> None:
        session_id = self._minted.pop(socket.id, None)
        if session_id is not None:
            self._emit_to(socket, p.session_event(session_id))
        self._emit_to(socket, p.config_event(self.features))
        if self.development:
            self.all_sockets().addCallback(lambda sockets: self._emit_to(socket, p.all_sockets_event(sockets)))

    def all_sockets(self) -> "Deferred[list[dict[str, Any]]]":
        """Every socket of every namespace, serialised, cluster-wide (the
        sockets of servers that do not answer in time are left out)."""
        def one(nsp: "ServerNamespace") -> "Deferred[list[Any]]":
            d = nsp.fetch_sockets()

            def partial(f: Any) -> list[Any]:
                log.warn("all_sockets: {nsp}: {error}", nsp=nsp.name, error=f.getErrorMessage())
                return list(getattr(f.value, "results", None) or [])

            return d.addErrback(partial)

        namespaces = list(self.sio.namespaces.values())
        d = gatherResults([one(nsp) for nsp in namespaces])
        return d.addCallback(lambda results: [self._serialize(s) for r in results for s in r])

    def _serialize(self, socket: Any) -> dict[str, Any]:
        return p.serialize_socket(socket_view(socket))

    # -- emitting ---------------------------------------------------------------------

    def _emit(self, event: p.AdminEvent) -> None:
        """To every admin socket of the cluster."""
        try:
            self.nsp.emit(event.name, *event.args)
        except (TypeError, ValueError):
            log.failure("cannot send {event} to the admin namespace", event=event.name)

    def _emit_to(self, socket: Any, event: p.AdminEvent) -> None:
        try:
            socket.emit(event.name, *event.args)
        except (TypeError, ValueError):
            log.failure("cannot send {event} to the admin socket", event=event.name)

    def emit_stats(self) -> None:
        """Emit this server's ``server_stats`` (the timer calls it)."""
        clients = list(self.sio.clients.values())
        self._emit(p.server_stats_event(
            server_id=self.server_id, hostname=self.hostname, pid=self.pid,
            uptime=self.reactor.seconds() - self.started, clients_count=len(clients),
            polling_clients_count=sum(1 for c in clients if c.eio.transport == "polling"),
            aggregated_events=self.aggregated.drain(),
            namespaces={name: len(nsp.sockets) for name, nsp in self.sio.namespaces.items()}))

    # -- commands ---------------------------------------------------------------------

    def _command_handler(self, command: str) -> Any:
        def handle(socket: Any, *args: Any) -> None:
            self.run_command(command, args)

        return handle

    def run_command(self, event: str, args: Sequence[Any]) -> "Deferred[Any] | None":
        """Act on one command of the UI; an invalid or refused one is logged and ignored."""
        try:
            command = p.parse_command(event, args, self.features)
        except p.InvalidCommand as e:
            log.info("admin command ignored: {error}", error=e)
            return None
        nsp = self.sio.namespaces.get(command.nsp)
        if nsp is None:
            log.info("admin command {event} for unknown namespace {nsp} ignored", event=event, nsp=command.nsp)
            return None
        op: Any = nsp.in_(command.filter) if command.filter is not None else nsp
        log.info("admin command {event} on {nsp} {args!r}", event=event, nsp=command.nsp, args=list(args))
        try:
            if isinstance(command, p.EmitCommand):
                op.emit(command.event, *command.args)
                return None
            if isinstance(command, p.JoinCommand):
                return op.sockets_join(command.room)
            if isinstance(command, p.LeaveCommand):
                return op.sockets_leave(command.room)
            return op.disconnect_sockets(command.close)
        except (TypeError, ValueError) as e:
            log.info("admin command {event} failed: {error}", event=event, error=e)
            return None

    # -- the observer -----------------------------------------------------------------

    def _now(self) -> float:
        return self.reactor.seconds()

    def _watched(self) -> bool:
        """Whether per-socket reports can reach an admin UI now."""
        return self.development and (not self._local_only or bool(self.nsp.sockets))

    def client_opened(self, transport: str, protocol: int) -> None:
        self.aggregated.push(p.RAW_CONNECTION, self._now())

    def client_closed(self, transport: str, protocol: int, reason: str) -> None:
        self.aggregated.push(p.RAW_DISCONNECTION, self._now(), reason)

    def message_received(self, nbytes: int) -> None:
        now = self._now()
        self.aggregated.push(p.PACKETS_IN, now)
        self.aggregated.push(p.BYTES_IN, now, count=nbytes)

    def message_sent(self, nbytes: int) -> None:
        now = self._now()
        self.aggregated.push(p.PACKETS_OUT, now)
        self.aggregated.push(p.BYTES_OUT, now, count=nbytes)

    def client_upgraded(self, sid: str, protocol: int) -> None:
        if not self._watched():
            return
        client = self.sio.clients.get(sid)
        if client is not None:
            for socket in list(client.sockets.values()):
                self._emit(p.socket_transport_event(socket.id, socket.namespace, socket.transport))

    def socket_connected(self, socket: Any) -> None:
        # Node keeps these in socket.data so that they travel to the other
        # servers with fetch_sockets.
        socket.data[p.ADMIN_DATA_KEY] = p.admin_data(socket.client_id, socket.transport)
        if not self._watched():
            return
        now = self._now()
        view = socket_view(socket)
        for room in view.rooms:
            self._emit(p.room_joined_event(socket.namespace, room, socket.id, now))
        self._emit(p.socket_connected_event(view, now))

    def socket_disconnected(self, socket: Any, reason: str) -> None:
        if not self._watched():
            return
        now = self._now()
        rooms = sorted(socket.rooms, key=lambda r: (r != socket.id, r))
        self._emit(p.socket_disconnected_event(socket.namespace, socket.id, reason, now))
        for room in rooms:
            self._emit(p.room_left_event(socket.namespace, room, socket.id, now))

    def room_joined(self, socket: Any, room: str) -> None:
        if self._watched():
            self._emit(p.room_joined_event(socket.namespace, room, socket.id, self._now()))

    def room_left(self, socket: Any, room: str) -> None:
        if self._watched():
            self._emit(p.room_left_event(socket.namespace, room, socket.id, self._now()))

    def event_received(self, socket: Any, event: str, args: Sequence[Any], nbytes: int) -> None:
        if socket.namespace != self.nsp.name and self._watched():
            self._emit(p.event_received_event(socket.namespace, socket.id, event, args, self._now()))

    def event_sent(self, socket: Any, event: str, args: Sequence[Any], nbytes: int) -> None:
        if socket.namespace != self.nsp.name and self._watched():
            self._emit(p.event_sent_event(socket.namespace, socket.id, event, args, self._now()))

    def server_shutdown(self) -> None:
        if self._stats.running:
            self._stats.stop()
