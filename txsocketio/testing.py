# -*- test-case-name: tests.test_socketio_server -*-
"""An in-memory Socket.IO client for testing applications, without sockets.

    from twisted.internet.task import Clock
    from txsocketio import SocketIOServer
    from txsocketio.testing import TestClient

    sio = SocketIOServer(reactor=Clock())
    ...                                   # register handlers
    client = TestClient(sio, auth={"token": "x"})
    assert client.is_connected()
    client.emit("say", "hi")
    [(event, args)] = client.pop_received()
    d = client.emit_with_ack("add", 1, 2)  # a Deferred firing with the ack arguments
    client.raw_received                    # every Engine.IO message, e.g. '40{"sid":"..."}'

Packets travel through the real Socket.IO codec and the server's real
connection logic; only the Engine.IO transport is replaced by a direct call.
Everything happens synchronously, unless handlers return Deferreds.  Set
``client.connection.writable = False`` to play a transport that cannot take
a message right now (volatile emits are then dropped).
"""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlencode

from twisted.internet.defer import Deferred

from txsocketio._invoke import invoke
from txsocketio.engineio.handshake import Handshake
from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import Decoder, Packet, PacketType, encode
from txsocketio.socketio.socket import ack_arguments

if TYPE_CHECKING:
    from txsocketio.socketio.client import Client
    from txsocketio.socketio.server import SocketIOServer

__all__ = ["TestClient"]

_counter = 0


def _handshake(headers: dict[str, str], query: dict[str, str], address: str) -> Handshake:
    qs = urlencode(query)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/socket.io/", "QUERY_STRING": qs,
        "REMOTE_ADDR": address, "SERVER_NAME": "localhost", "wsgi.url_scheme": "http",
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    now = time.time()
    return Handshake(
        headers=MappingProxyType({k.lower(): v for k, v in headers.items()}),
        query=MappingProxyType(dict(query)), address=address, url="/socket.io/?" + qs,
        secure=False, issued=int(now * 1000),
        time=time.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime(now)),
        xdomain=False, environ=MappingProxyType(environ),
    )


class _MemoryConnection:
    """Plays the Engine.IO session for the server side.

    ``writable`` (True) says whether the transport could write now; ``closed``
    and ``close_reason`` tell whether and why the server (or the client)
    ended it.
    """

    transport = "memory"

    def __init__(self, client: "TestClient", protocol: int, handshake: Handshake) -> None:
        global _counter
        _counter += 1
        self.sid = f"test-{_counter}"
        self.protocol = protocol
        self.handshake = handshake
        self.context: Any = None
        self.closed = False
        self.close_reason: str | None = None
        self.writable = True
        self._client = client

    def send(self, data: Any) -> None:
        self.send_many([data])

    def send_many(self, messages: Any) -> None:
        if self.closed:
            return
        for m in messages:
            self._client._receive(getattr(m, "data", m))

    def close(self, reason: str = "forced close") -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self.writable = False
        client = self.context
        if client is not None:
            client.on_close(reason)
        self._client._engine_closed(reason)


class TestClient:
    """A Socket.IO client wired straight into a :class:`~txsocketio.SocketIOServer`.

    ``protocol=4`` (the default) speaks Socket.IO v5 as socket.io-client 3.x
    and 4.x do; ``protocol=3`` speaks v4 as socket.io-client 2.x does (the
    main namespace is joined at once, and ``auth`` travels as the query
    string of a namespace's CONNECT).  With ``connect=True`` the namespace
    ``namespace`` is joined with ``auth`` straight away.

    ``raw_received`` lists every Engine.IO message the server sent, as
    written (``'40{"sid":"…"}'``, ``'42["ev",1]'``, then ``bytes`` for binary
    attachments); ``raw_sent`` those the client sent.
    """

    __test__ = False  # not a test case, whatever collectors think

    def __init__(self, sio: "SocketIOServer", *, namespace: str = "/", auth: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
                 address: str = "127.0.0.1", protocol: int = 4, connect: bool = True) -> None:
        self.sio = sio
        #: namespace -> socket id, for the namespaces joined
        self.sids: dict[str, str] = {}
        #: namespace -> the CONNECT_ERROR payload of a refused connection
        self.connect_errors: dict[str, Any] = {}
        #: namespace -> the reason the server ended it ("io server disconnect")
        self.disconnected: dict[str, str] = {}
        self.closed_reason: str | None = None
        #: every Engine.IO message from the server, in order (str, or bytes for attachments)
        self.raw_received: list[str | bytes] = []
        #: every Engine.IO message to the server, in order
        self.raw_sent: list[str | bytes] = []
        self._received: list[tuple[str, str, list[Any]]] = []
        self._handlers: dict[tuple[str, str], Callable[..., Any]] = {}
        self._acks: dict[int, Deferred[list[Any]]] = {}
        self._next_id = 0
        self._decoder = Decoder(max_attachments=1000)
        self.connection = _MemoryConnection(self, protocol, _handshake(headers or {}, query or {}, address))
        self.server_client: "Client" = sio.attach_connection(self.connection)
        if connect and (protocol == 4 or namespace != "/"):
            self.connect(namespace, auth)

    # -- what the client does ------------------------------------------------------

    def connect(self, namespace: str = "/", auth: dict[str, Any] | None = None) -> None:
        """Ask to join ``namespace`` with ``auth`` (v5: the CONNECT payload;
        v4: the namespace's query string, as 2.x clients send it)."""
        if self.connection.protocol == 4:
            self._send(Packet(PacketType.CONNECT, namespace, auth))
        else:
            self._send(Packet(PacketType.CONNECT, namespace, None, query=urlencode(auth) if auth else None))

    def emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        self._send(Packet(PacketType.EVENT, namespace, [event, *args]))

    def emit_with_ack(self, event: str, *args: Any, namespace: str = "/") -> "Deferred[list[Any]]":
        """Emit and fire with the server's acknowledgement arguments."""
        ack_id = self._next_id
        self._next_id += 1
        d: Deferred[list[Any]] = Deferred()
        self._acks[ack_id] = d
        self._send(Packet(PacketType.EVENT, namespace, [event, *args], id=ack_id))
        return d

    def on(self, event: str, handler: Callable[..., Any], namespace: str = "/") -> None:
        """Answer the server's events; the return value acknowledges (like a server handler)."""
        self._handlers[(namespace, event)] = handler

    def disconnect(self, namespace: str = "/") -> None:
        """Leave one namespace (the connection stays)."""
        self._send(Packet(PacketType.DISCONNECT, namespace))
        self.sids.pop(namespace, None)

    def close(self, reason: str = "transport close") -> None:
        """Drop the whole connection, as a vanished client would."""
        self.connection.close(reason)

    def send_raw(self, message: str | bytes) -> None:
        """Deliver one Engine.IO message as is (for testing malformed input)."""
        if not self.connection.closed:
            self.raw_sent.append(message)
            self.server_client.on_message(message)

    # -- what the client saw ---------------------------------------------------------

    def is_connected(self, namespace: str = "/") -> bool:
        return namespace in self.sids and not self.connection.closed

    def pop_received(self, namespace: str = "/") -> list[tuple[str, list[Any]]]:
        """Events received in ``namespace`` since the last call, as ``(event, args)``."""
        mine = [(e, a) for (n, e, a) in self._received if n == namespace]
        self._received = [r for r in self._received if r[0] != namespace]
        return mine

    # -- plumbing ------------------------------------------------------------------

    def _send(self, packet: Packet) -> None:
        for message in encode(packet):
            self.send_raw(message)

    def _receive(self, message: str | bytes) -> None:
        self.raw_received.append(message)
        try:
            packet = self._decoder.feed(message)
        except ProtocolError as e:  # pragma: no cover - the server's encoder is tested
            raise AssertionError(f"the server sent an undecodable message {message!r}: {e}")
        if packet is None:
            return
        nsp = packet.namespace
        kind = packet.type
        if kind is PacketType.CONNECT:
            data = packet.data or {}
            self.sids[nsp] = data.get("sid", self.connection.sid if nsp == "/" else f"{nsp}#{self.connection.sid}")
        elif kind is PacketType.CONNECT_ERROR:
            self.connect_errors[nsp] = packet.data
        elif kind is PacketType.DISCONNECT:
            self.sids.pop(nsp, None)
            self.disconnected[nsp] = "io server disconnect"
        elif kind in (PacketType.EVENT, PacketType.BINARY_EVENT):
            event, args = packet.data[0], list(packet.data[1:])
            self._received.append((nsp, event, args))
            handler = self._handlers.get((nsp, event))
            if handler is not None:
                result = invoke(handler, *args)
                if packet.id is not None:
                    if isinstance(result, Deferred):
                        result.addCallback(lambda r, i=packet.id: self._ack(nsp, i, r))
                    else:
                        self._ack(nsp, packet.id, result)
        elif kind in (PacketType.ACK, PacketType.BINARY_ACK):
            d = self._acks.pop(packet.id, None) if packet.id is not None else None
            if d is not None:
                d.callback(list(packet.data))

    def _ack(self, nsp: str, ack_id: int, result: Any) -> None:
        self._send(Packet(PacketType.ACK, nsp, ack_arguments(result), id=ack_id))

    def _engine_closed(self, reason: str) -> None:
        self.closed_reason = reason
        self.sids.clear()
