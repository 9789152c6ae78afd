# -*- test-case-name: tests.test_testing -*-
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

Like treq's ``StubTreq``, the client makes real HTTP requests in memory to
the server's real Engine.IO resource: a long-polling session (handshake GET,
a GET kept pending, a POST per message), answered through the real Engine.IO
and Socket.IO layers.  Time is the server's reactor (a ``Clock`` in tests):
heartbeats and timeouts happen when it is advanced.  Everything happens
synchronously, unless handlers return Deferreds.

``client.connection.writable = False`` plays a transport that cannot take a
message right now, the way engine.io-client pauses polling during an upgrade:
the client opens a WebSocket probe (which releases its pending GET) and stops
polling, so volatile emits are dropped and others wait in the session;
``= True`` drops the probe and the client polls again, receiving what waited.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlencode

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Site

from txsocketio._invoke import invoke
from txsocketio.engineio.packet import Packet as EnginePacket
from txsocketio.engineio.packet import PacketType as EngineType
from txsocketio.engineio.packet import decode_payload, encode_payload
from txsocketio.engineio.resource import EngineIOResource
from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import Decoder, Packet, PacketType, encode
from txsocketio.socketio.socket import ack_arguments

if TYPE_CHECKING:
    from txsocketio.engineio.socket import EngineIOSocket
    from txsocketio.socketio.client import Client
    from txsocketio.socketio.server import SocketIOServer

__all__ = ["TestClient"]

_PATH = "/socket.io/"


class _QuietSite(Site):
    """A Site that writes no access log line per request."""

    def log(self, request: Any) -> None:
        pass


class _Exchange(StringTransport):
    """One HTTP connection in memory: a request written to a real
    ``twisted.web`` channel, its response parsed as the server writes it."""

    def __init__(self, site: Site, address: str, on_response: Callable[[int, bytes], None]) -> None:
        super().__init__(hostAddress=IPv4Address("TCP", "127.0.0.1", 80),
                         peerAddress=IPv4Address("TCP", address, 40000))
        self._on_response = on_response
        self._answered = False
        self.channel = site.buildProtocol(self.getPeer())
        #: what a TCP transport has; Autobahn's takeover of a request looks at it
        self.protocol = self.channel
        self.channel.makeConnection(self)

    def send(self, method: str, uri: str, headers: dict[str, str], body: bytes = b"") -> None:
        lines = [f"{method} {uri} HTTP/1.1", "Host: localhost", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.channel.dataReceived(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def write(self, data: bytes) -> None:
        super().write(data)
        if self._answered:
            return
        head, sep, body = self.value().partition(b"\r\n\r\n")
        if not sep:
            return
        status, *header_lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(body) >= length:
            self._answered = True
            self._on_response(int(status.split()[1]), body[:length])

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        if not streaming:
            # Everything written here is read at once: there is never a
            # write buffer to wait for (the server then takes it as written).
            raise RuntimeError("an in-memory exchange has no write buffer to drain")
        super().registerProducer(producer, streaming)

    def drop(self) -> None:
        """The client goes away: the connection is lost."""
        self.channel.connectionLost(Failure(ConnectionDone()))


class _Probe:
    """A WebSocket upgrade probe in memory: it pauses the polling transport."""

    def __init__(self, site: Site, address: str, uri: str) -> None:
        self._exchange = _Exchange(site, address, lambda status, body: None)
        headers = {"Upgrade": "websocket", "Connection": "Upgrade",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}
        self._exchange.send("GET", uri, headers)

    def send_text(self, text: str) -> None:
        payload = text.encode("utf-8")
        mask = os.urandom(4)
        head = bytes([0x81, 0x80 | len(payload)]) if len(payload) < 126 else \
            bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(payload))
        self._exchange.protocol.dataReceived(
            head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def drop(self) -> None:
        # After the takeover the connection belongs to the WebSocket protocol.
        self._exchange.protocol.connectionLost(Failure(ConnectionDone()))


class _ConnectionView:
    """The client's Engine.IO connection, as tests look at it.

    ``sid``, ``protocol``, ``transport``, ``closed`` and ``close_reason`` are
    the server's session's; ``send_many`` is the server socket's (assign to
    it to spy on what the server writes); ``writable`` can be set (see the
    module docstring).
    """

    _client: "TestClient"

    def __init__(self, client: "TestClient") -> None:
        object.__setattr__(self, "_client", client)

    @property
    def _socket(self) -> "EngineIOSocket":
        return self._client.engine_socket

    @property
    def sid(self) -> str:
        return self._socket.sid

    @property
    def protocol(self) -> int:
        return self._socket.protocol

    @property
    def transport(self) -> str:
        return self._socket.transport

    @property
    def handshake(self) -> Any:
        return self._socket.handshake

    @property
    def closed(self) -> bool:
        self._client.flush()
        return self._socket.closed

    @property
    def close_reason(self) -> str | None:
        self._client.flush()
        return self._socket.session.close_reason

    @property
    def writable(self) -> bool:
        self._client.flush()
        return self._socket.writable

    @writable.setter
    def writable(self, value: bool) -> None:
        self._client.pause_polling(not value)

    @property
    def send_many(self) -> Callable[..., None]:
        return self._socket.send_many

    @send_many.setter
    def send_many(self, spy: Callable[..., None]) -> None:
        self._socket.send_many = spy  # type: ignore[method-assign]


class TestClient:
    """A Socket.IO client talking to a :class:`~txsocketio.SocketIOServer` in memory.

    ``protocol=4`` (the default) speaks Socket.IO v5 as socket.io-client 3.x
    and 4.x do; ``protocol=3`` speaks v4 as socket.io-client 2.x does (the
    main namespace is joined at once, and ``auth`` travels as the query
    string of a namespace's CONNECT).  ``namespace`` is the default of
    :meth:`emit`, :meth:`emit_with_ack` and :meth:`on`; with ``connect=True``
    it is joined with ``auth`` straight away.  ``headers``, ``query`` and
    ``address`` shape the handshake request the server sees.

    ``raw_received`` lists every Engine.IO message the server sent, as
    written (``'40{"sid":"…"}'``, ``'42["ev",1]'``, then ``bytes`` for binary
    attachments); ``raw_sent`` those the client sent.
    """

    __test__ = False  # not a test case, whatever collectors think

    def __init__(self, sio: "SocketIOServer", *, namespace: str = "/", auth: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
                 address: str = "127.0.0.1", protocol: int = 4, connect: bool = True) -> None:
        self.sio = sio
        self.namespace = namespace
        self._sids: dict[str, str] = {}
        self._connect_errors: dict[str, Any] = {}
        self._disconnected: dict[str, str] = {}
        self._closed_reason: str | None = None
        self._raw_received: list[str | bytes] = []
        #: every Engine.IO message to the server, in order
        self.raw_sent: list[str | bytes] = []
        self._received: list[tuple[str, str, list[Any]]] = []
        self._handlers: dict[tuple[str, str], Callable[..., Any]] = {}
        self._acks: dict[int, Deferred[list[Any]]] = {}
        self._next_id = 0
        self._decoder = Decoder(max_attachments=1000)
        self._version = protocol
        self._address = address
        root = Resource()
        root.putChild(b"socket.io", EngineIOResource(sio.engine))
        # The HTTP plumbing gets a clock of its own: its idle timeouts are
        # not the application's business (and are off anyway).
        self._site = _QuietSite(root, reactor=MemoryReactorClock(), timeout=None)
        self._inbox: list[tuple[int, bytes]] = []
        self._poll: _Exchange | None = None
        self._probe: _Probe | None = None
        self._paused = False
        self._busy = 0
        self._engine_closed = False
        self._ping_timer: Any = None
        self._ping_interval = 25.0
        self._sid = ""
        self.engine_socket: "EngineIOSocket"
        self._handshake(headers or {}, query or {})
        #: the server's view of this client, see :class:`_ConnectionView`
        self.connection = _ConnectionView(self)
        #: the Socket.IO state the server keeps for this connection
        self.server_client: "Client" = self.engine_socket.context
        if connect and (protocol == 4 or namespace != "/"):
            self.connect(namespace, auth)

    # -- what the client does ------------------------------------------------------

    def connect(self, namespace: str | None = None, auth: dict[str, Any] | None = None) -> None:
        """Ask to join ``namespace`` with ``auth`` (v5: the CONNECT payload;
        v4: the namespace's query string, as 2.x clients send it)."""
        nsp = self.namespace if namespace is None else namespace
        if self._version == 4:
            self._send(Packet(PacketType.CONNECT, nsp, auth))
        else:
            self._send(Packet(PacketType.CONNECT, nsp, None, query=urlencode(auth) if auth else None))

    def emit(self, event: str, *args: Any, namespace: str | None = None) -> None:
        """Emit ``event`` in ``namespace`` (the client's namespace by default)."""
        self._send(Packet(PacketType.EVENT, self._nsp(namespace), [event, *args]))

    def emit_with_ack(self, event: str, *args: Any, namespace: str | None = None) -> "Deferred[list[Any]]":
        """Emit and fire with the server's acknowledgement arguments."""
        ack_id = self._next_id
        self._next_id += 1
        d: Deferred[list[Any]] = Deferred()
        self._acks[ack_id] = d
        self._send(Packet(PacketType.EVENT, self._nsp(namespace), [event, *args], id=ack_id))
        return d

    def on(self, event: str, handler: Callable[..., Any], namespace: str | None = None) -> None:
        """Answer the server's events; the return value acknowledges (like a server handler)."""
        self._handlers[(self._nsp(namespace), event)] = handler

    def disconnect(self, namespace: str = "/") -> None:
        """Leave one namespace (the connection stays)."""
        self._send(Packet(PacketType.DISCONNECT, namespace))
        self._sids.pop(namespace, None)

    def close(self, reason: str = "transport close") -> None:
        """End the whole connection; handlers see ``reason``.

        ``"transport close"``: the client vanishes (its pending GET goes
        away).  ``"transport error"``: it breaks the protocol (a second GET
        while one is pending).  Any other reason (``"ping timeout"``,
        ``"forced close"``…) plays the server ending the session for that
        reason, through the server socket's ``close``.
        """
        if reason == "transport error":
            self._overlapping_get()
            return
        if reason != "transport close":
            self._busy += 1
            try:
                self.engine_socket.close(reason, linger=0)
            finally:
                self._busy -= 1
            self.flush()
            return
        self._busy += 1
        try:
            if self._probe is not None:
                self._probe.drop()
                self._probe = None
            poll, self._poll = self._poll, None
            if poll is not None:
                poll.drop()
            elif not self.engine_socket.closed:
                # Between two polls the server would notice at the next
                # deadline; a vanished client is dropped at once instead.
                self.engine_socket.abort()
        finally:
            self._busy -= 1
        self._set_closed()
        self.flush()

    def _overlapping_get(self) -> None:
        self._busy += 1
        try:
            qs = f"EIO={self._version}&transport=polling&sid={self._sid}"
            _Exchange(self._site, self._address, lambda status, body: None).send(
                "GET", f"{_PATH}?{qs}", {})
        finally:
            self._busy -= 1
        self.flush()

    def send_raw(self, message: str | bytes) -> None:
        """Deliver one Engine.IO message as is (for testing malformed input)."""
        if self.engine_socket.closed:
            return
        self.raw_sent.append(message)
        self._post([EnginePacket(EngineType.MESSAGE, message)])

    def pause_polling(self, paused: bool) -> None:
        """Pause (True) or resume polling; see the module docstring."""
        self._busy += 1
        try:
            if paused and not self._paused and not self.engine_socket.closed:
                self._paused = True
                query = f"EIO={self._version}&transport=websocket&sid={self.engine_socket.sid}"
                self._probe = _Probe(self._site, self._address, f"{_PATH}?{query}")
                self._probe.send_text("2probe")
            elif not paused and self._paused:
                self._paused = False
                if self._probe is not None:
                    self._probe.drop()
                    self._probe = None
        finally:
            self._busy -= 1
        self.flush()

    # -- what the client saw ---------------------------------------------------------

    @property
    def sids(self) -> dict[str, str]:
        """namespace -> socket id, for the namespaces joined."""
        self.flush()
        return self._sids

    @property
    def connect_errors(self) -> dict[str, Any]:
        """namespace -> the CONNECT_ERROR payload of a refused connection."""
        self.flush()
        return self._connect_errors

    @property
    def disconnected(self) -> dict[str, str]:
        """namespace -> the reason the server ended it ("io server disconnect")."""
        self.flush()
        return self._disconnected

    @property
    def closed_reason(self) -> str | None:
        """Why the Engine.IO session ended, once it has."""
        self.flush()
        return self._closed_reason

    @property
    def raw_received(self) -> list[str | bytes]:
        """Every Engine.IO message from the server, in order (str, or bytes for attachments)."""
        self.flush()
        return self._raw_received

    def is_connected(self, namespace: str = "/") -> bool:
        self.flush()
        return namespace in self._sids and not self.engine_socket.closed

    def pop_received(self, namespace: str = "/") -> list[tuple[str, list[Any]]]:
        """Events received in ``namespace`` since the last call, as ``(event, args)``."""
        self.flush()
        mine = [(e, a) for (n, e, a) in self._received if n == namespace]
        self._received = [r for r in self._received if r[0] != namespace]
        return mine

    def flush(self) -> None:
        """Handle every response the server has written; poll again if due."""
        if self._busy:
            return
        self._busy += 1
        try:
            while True:
                while self._inbox:
                    status, body = self._inbox.pop(0)
                    self._handle_poll_response(status, body)
                self._ensure_polling()  # may be answered at once
                if not self._inbox:
                    break
        finally:
            self._busy -= 1

    # -- HTTP --------------------------------------------------------------------------

    def _nsp(self, namespace: str | None) -> str:
        return self.namespace if namespace is None else namespace

    def _handshake(self, headers: dict[str, str], query: dict[str, str]) -> None:
        engine = self.sio.engine
        opened: list["EngineIOSocket"] = []
        on_connect = engine.on_connect

        def seen(socket: "EngineIOSocket") -> None:
            # Remember the server's socket, even if it is closed at once
            # (a server shutting down); the application's callback runs as usual.
            opened.append(socket)
            if on_connect is not None:
                on_connect(socket)

        qs = urlencode({**query, "EIO": str(self._version), "transport": "polling"})
        self._busy += 1
        engine.on_connect = seen
        try:
            _Exchange(self._site, self._address, self._answered).send(
                "GET", f"{_PATH}?{qs}", headers)
        finally:
            engine.on_connect = on_connect
            self._busy -= 1
        if not self._inbox or self._inbox[0][0] != 200:
            hint = ""
            if self._version == 3 and not self.sio.engine.allow_eio3:
                hint = " (a protocol=3 client needs a server created with allow_eio3=True)"
            raise AssertionError(f"the server refused the handshake{hint}: {self._inbox}")
        #: the server's Engine.IO socket of this client
        self.engine_socket = opened[0]
        self._sid = opened[0].sid
        if self._version == 3:
            self._ping_interval = opened[0].session.config.ping_interval
            self._schedule_ping()
        self.flush()

    def _schedule_ping(self) -> None:
        # 2.x clients ping the server (Engine.IO 3); this one does too, on the
        # server's clock, so a session stays open however far a test advances it.
        self._ping_timer = self.sio.reactor.callLater(self._ping_interval, self._ping)

    def _ping(self) -> None:
        self._ping_timer = None
        if not self._engine_closed and not self.engine_socket.closed:
            self._post([EnginePacket(EngineType.PING)])
            if not self._engine_closed:
                self._schedule_ping()

    def _answered(self, status: int, body: bytes) -> None:
        """A response from the server: handled at once, unless the client is
        in the middle of something (then right after it)."""
        self._inbox.append((status, body))
        self.flush()

    def _poll_answered(self, status: int, body: bytes) -> None:
        self._poll = None
        self._answered(status, body)

    def _ensure_polling(self) -> None:
        if self._poll is not None or self._paused or self._engine_closed:
            return
        qs = f"EIO={self._version}&transport=polling&sid={self._sid}"
        self._poll = _Exchange(self._site, self._address, self._poll_answered)
        self._poll.send("GET", f"{_PATH}?{qs}", {})

    def _post(self, packets: list[EnginePacket]) -> None:
        body, content_type = encode_payload(packets, self._version)
        qs = f"EIO={self._version}&transport=polling&sid={self._sid}"
        self._busy += 1
        try:
            _Exchange(self._site, self._address, lambda status, body: None).send(
                "POST", f"{_PATH}?{qs}", {"Content-Type": content_type}, body)
        finally:
            self._busy -= 1
        self.flush()

    def _handle_poll_response(self, status: int, body: bytes) -> None:
        if status != 200:
            self._set_closed()
            return
        for packet in decode_payload(body, self._version):
            kind = packet.type
            if kind is EngineType.MESSAGE:
                self._receive(packet.data)
            elif kind is EngineType.PING:
                self._post([EnginePacket(EngineType.PONG, packet.data)])
            elif kind is EngineType.CLOSE:
                self._set_closed()
            # OPEN, NOOP, PONG (v3): nothing to do

    def _set_closed(self) -> None:
        self._engine_closed = True
        timer, self._ping_timer = self._ping_timer, None
        if timer is not None and timer.active():
            timer.cancel()
        self._closed_reason = self.engine_socket.session.close_reason
        self._sids.clear()

    # -- Socket.IO ------------------------------------------------------------------

    def _send(self, packet: Packet) -> None:
        messages = encode(packet)
        if self.engine_socket.closed:
            return
        self.raw_sent.extend(messages)
        self._post([EnginePacket(EngineType.MESSAGE, m) for m in messages])

    def _receive(self, message: str | bytes) -> None:
        self._raw_received.append(message)
        try:
            packet = self._decoder.feed(message)
        except ProtocolError as e:  # pragma: no cover - the server's encoder is tested
            raise AssertionError(f"the server sent an undecodable message {message!r}: {e}")
        if packet is not None:
            self._dispatch(packet)

    def _dispatch(self, packet: Packet) -> None:
        nsp = packet.namespace
        kind = packet.type
        if kind is PacketType.CONNECT:
            data = packet.data or {}
            self._sids[nsp] = data.get("sid", self._sid if nsp == "/" else f"{nsp}#{self._sid}")
        elif kind is PacketType.CONNECT_ERROR:
            self._connect_errors[nsp] = packet.data
        elif kind is PacketType.DISCONNECT:
            self._sids.pop(nsp, None)
            self._disconnected[nsp] = "io server disconnect"
        elif kind in (PacketType.EVENT, PacketType.BINARY_EVENT):
            self._event(nsp, packet)
        elif kind in (PacketType.ACK, PacketType.BINARY_ACK):
            d = self._acks.pop(packet.id, None) if packet.id is not None else None
            if d is not None:
                d.callback(list(packet.data))

    def _event(self, nsp: str, packet: Packet) -> None:
        event, args = packet.data[0], list(packet.data[1:])
        self._received.append((nsp, event, args))
        handler = self._handlers.get((nsp, event))
        if handler is None:
            return
        result = invoke(handler, *args)
        if packet.id is not None:
            if isinstance(result, Deferred):
                result.addCallback(self._ack_result, nsp, packet.id)
            else:
                self._ack(nsp, packet.id, result)

    def _ack_result(self, result: Any, nsp: str, ack_id: int) -> None:
        self._ack(nsp, ack_id, result)

    def _ack(self, nsp: str, ack_id: int, result: Any) -> None:
        self._send(Packet(PacketType.ACK, nsp, ack_arguments(result), id=ack_id))

