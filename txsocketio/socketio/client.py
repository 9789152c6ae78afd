# -*- test-case-name: tests.test_socketio_server -*-
"""One Engine.IO connection seen from Socket.IO: its decoder, its namespaces,
and the connect timeout.

Protocol errors from the client (an undecodable message, an unknown packet
type, a packet for a namespace it has not joined) close the connection with
the reason ``"parse error"`` and one log line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import attrs
from twisted.logger import Logger

from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import Decoder, Packet, PacketType, encode

if TYPE_CHECKING:
    from txsocketio.socketio.server import SocketIOServer
    from txsocketio.socketio.socket import Socket

__all__ = ["Client", "EngineConnection"]

log = Logger(namespace="txsocketio.socketio")


class EngineConnection:
    """What Socket.IO needs from an Engine.IO session (``EngineIOSocket``
    provides it, and so does the in-memory connection of
    :mod:`txsocketio.testing`)."""

    sid: str
    protocol: int
    transport: str
    writable: bool
    handshake: Any
    context: Any

    def send_many(self, messages: Any) -> None: ...

    def close(self, reason: str = "forced close") -> None: ...


class Client:
    """The Socket.IO state of one Engine.IO connection."""

    def __init__(self, server: "SocketIOServer", eio: EngineConnection) -> None:
        self.server = server
        self.eio = eio
        self.decoder = Decoder(max_attachments=server.max_attachments)
        #: namespace name -> socket (connected, or with its connect handler running)
        self.sockets: dict[str, "Socket"] = {}
        self.closed = False
        self._connecting: set[str] = set()
        self._timer: Any = None

    def start(self) -> None:
        """Arm the connect timeout; a Socket.IO v4 client (EIO 3) joins ``/`` at once."""
        server = self.server
        self._timer = server.reactor.callLater(server.connect_timeout, self._connect_timed_out)
        if self.eio.protocol == 3:
            server._connect(self, "/", {}, None)

    def _connect_timed_out(self) -> None:
        self._timer = None
        # As Node: only a completed connection counts (a connect handler
        # that never finishes does not keep the session open).
        if not self.closed and not any(s.connected for s in self.sockets.values()):
            log.info("connection {sid}: no namespace joined within connect_timeout; closing",
                     sid=self.eio.sid)
            self.eio.close("forced close")

    def namespace_joined(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    # -- from Engine.IO -------------------------------------------------------------

    def on_message(self, data: str | bytes) -> None:
        if self.closed:
            return
        try:
            packet = self.decoder.feed(data)
        except ProtocolError as e:
            self._protocol_error(str(e))
            return
        if packet is None:
            return
        kind = packet.type
        if kind is PacketType.CONNECT:
            name = packet.namespace
            if self.eio.protocol != 3 and packet.query is not None:
                # Socket.IO v5 has no query in CONNECT: like Node, the whole
                # "/nsp?x=1" is the namespace's name (and so usually unknown).
                name = f"{name}?{packet.query}"
                packet = attrs.evolve(packet, namespace=name, query=None)
            if name in self.sockets or name in self._connecting:
                log.info("connection {sid}: second CONNECT to {nsp}; ignored", sid=self.eio.sid, nsp=name)
                return
            if self.eio.protocol == 3:
                # Socket.IO v4 clients send their auth as the namespace's query
                # string (``40/nsp?token=x,``); Node hands it over as auth.
                query = packet.query
                auth = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
            else:
                auth = packet.data if isinstance(packet.data, dict) else {}
            self.server._connect(self, name, auth, packet.query)
            return
        socket = self.sockets.get(packet.namespace)
        if socket is None or not socket.connected:
            self._protocol_error(f"{kind.name} packet for namespace {packet.namespace!r}, "
                                 "which this client has not joined")
            return
        if kind is PacketType.EVENT or kind is PacketType.BINARY_EVENT:
            socket._on_event(packet)
        elif kind is PacketType.ACK or kind is PacketType.BINARY_ACK:
            socket._on_ack(packet)
        elif kind is PacketType.DISCONNECT:
            socket._on_close("client namespace disconnect")
        else:
            self._protocol_error(f"unexpected {kind.name} packet from a client")

    def on_close(self, reason: str) -> None:
        """The Engine.IO session ended: every namespace sees ``reason``."""
        if self.closed:
            return
        self.closed = True
        self.namespace_joined()
        clients = self.server.clients
        if clients.get(self.eio.sid) is self:
            del clients[self.eio.sid]
        for socket in list(self.sockets.values()):
            socket._on_close(reason)
        self.sockets.clear()
        self._connecting.clear()

    def _protocol_error(self, problem: str) -> None:
        log.info("connection {sid}: protocol error ({problem}); closing", sid=self.eio.sid, problem=problem)
        self.on_close("parse error")
        self.eio.close("parse error")

    # -- to Engine.IO ---------------------------------------------------------------

    def send_packet(self, packet: Packet) -> None:
        """Encode and send one packet (not for broadcasts: they encode once)."""
        self.eio.send_many(encode(packet))

    def disconnect_all(self, reason: str, engine_reason: str = "forced close") -> None:
        """Tell every namespace of this connection goodbye (DISCONNECT packets),
        run the handlers with ``reason``, then close the Engine.IO session."""
        if self.closed:
            return
        for socket in list(self.sockets.values()):
            if socket.connected:
                try:
                    socket._send(Packet(PacketType.DISCONNECT, socket.nsp.name))
                except Exception:  # pragma: no cover - a DISCONNECT always encodes
                    log.failure("cannot say goodbye to {socket}", socket=socket)
        self.on_close(reason)
        self.eio.close(engine_reason)

    def shutdown(self, reason: str = "server shutting down") -> None:
        """The server is going away: goodbye packets, handlers see ``reason``."""
        self.disconnect_all(reason, reason)
