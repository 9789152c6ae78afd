# -*- test-case-name: tests.test_engineio_glue -*-
"""The Engine.IO server: the sessions table, one timer per session, and the
application-facing :class:`EngineIOSocket`.

HTTP dispatch lives in :mod:`txsocketio.engineio.resource`, WebSocket framing
in :mod:`txsocketio.engineio.websocket`; the protocol rules themselves are in
the pure :mod:`txsocketio.engineio.session` and :mod:`txsocketio.engineio.packet`.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from autobahn.websocket.protocol import PreparedMessage
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from txsocketio.engineio.cors import AllowedOrigins, CorsPolicy
from txsocketio.engineio.handshake import Handshake
from txsocketio.engineio.packet import Packet, PacketType, encode_frame
from txsocketio.engineio.session import (
    MessageReceived,
    Session,
    SessionClosed,
    SessionConfig,
    SessionState,
)
from txsocketio.errors import ProtocolError

if TYPE_CHECKING:
    from twisted.web.server import Request

    from txsocketio.engineio.websocket import EngineIOWebSocketProtocol

__all__ = ["EngineIOServer", "EngineIOSocket", "OutgoingMessage", "TRANSPORTS"]

TRANSPORTS = ("polling", "websocket")

log = Logger(namespace="txsocketio.engineio")


def _new_sid() -> str:
    # 128 random bits, URL-safe, 22 characters.
    return secrets.token_urlsafe(16)


class OutgoingMessage:
    """A message encoded once, to be written to many sessions.

    The WebSocket frame (per protocol version) is built on first use and then
    reused for every recipient, so a broadcast frames its payload once.
    """

    __slots__ = ("data", "packet", "compress", "_frames")

    def __init__(self, data: str | bytes, compress: bool = True) -> None:
        self.data = data
        #: False: never compressed, even where permessage-deflate was negotiated
        self.compress = compress
        self.packet = Packet(PacketType.MESSAGE, data)
        self._frames: dict[tuple[int, bool], PreparedMessage] = {}

    def prepared(self, version: int, b64: bool = False) -> PreparedMessage:
        key = (version, b64)
        frame = self._frames.get(key)
        if frame is None:
            payload, is_binary = encode_frame(self.packet, version, b64=b64)
            frame = self._frames[key] = PreparedMessage(payload, is_binary, False, not self.compress)
        return frame


class EngineIOSocket:
    """One client's Engine.IO session, as the application sees it."""

    def __init__(self, server: "EngineIOServer", session: Session, handshake: Handshake,
                 *, b64: bool = False) -> None:
        self.server = server
        self.session = session
        self.handshake = handshake
        self.b64 = b64
        #: free for the layer above (Socket.IO keeps its client state here)
        self.context: Any = None
        self._timer: IDelayedCall | None = None
        self._grace: IDelayedCall | None = None
        self._deadline: float | None = None
        self._poll: Request | None = None
        self._poll_jsonp: str | None = None
        self._ws: EngineIOWebSocketProtocol | None = None
        self._probe: EngineIOWebSocketProtocol | None = None

    # -- public ---------------------------------------------------------------

    @property
    def sid(self) -> str:
        return self.session.sid

    @property
    def protocol(self) -> int:
        """Engine.IO protocol version: 4, or 3 for ``allow_eio3`` clients."""
        return self.session.version

    @property
    def transport(self) -> str:
        return self.session.transport

    @property
    def closed(self) -> bool:
        return self.session.state is not SessionState.OPEN

    @property
    def writable(self) -> bool:
        """True when a message sent now goes out at once (for volatile emits)."""
        if self.session.state is not SessionState.OPEN:
            return False
        if self.session.transport == "websocket":
            return self._ws is not None and self._ws.can_send
        return self._poll is not None

    def send(self, data: "str | bytes | OutgoingMessage") -> None:
        """Send one message (text or binary) to the client."""
        session = self.session
        if session.state is not SessionState.OPEN:
            return
        ws = self._ws
        if ws is not None and session.transport == "websocket":
            if isinstance(data, OutgoingMessage):
                ws.send_prepared(data.prepared(session.version, self.b64))
            else:
                payload, is_binary = encode_frame(Packet(PacketType.MESSAGE, data), session.version,
                                                  b64=self.b64)
                ws.send_frame(payload, is_binary)
            return
        session.send(data.packet if isinstance(data, OutgoingMessage) else
                     Packet(PacketType.MESSAGE, data))
        self._flush()

    def send_many(self, messages: Sequence["str | bytes | OutgoingMessage"]) -> None:
        """Send several messages; on polling they go out in one response."""
        session = self.session
        if session.state is not SessionState.OPEN:
            return
        if session.transport == "websocket":
            ws = self._ws
            if ws is not None:
                version, b64 = session.version, self.b64
                for m in messages:
                    if isinstance(m, OutgoingMessage):
                        ws.send_prepared(m.prepared(version, b64))
                    else:
                        ws.send_frame(*encode_frame(Packet(PacketType.MESSAGE, m), version, b64=b64))
                return
        for m in messages:
            session.send(m.packet if isinstance(m, OutgoingMessage) else Packet(PacketType.MESSAGE, m))
        self._flush()

    def close(self, reason: str = "forced close") -> None:
        """End the session; the client is told with a CLOSE packet."""
        events = self.session.close(reason, self._now())
        self._flush()
        self._dispatch(events)
        self._after()

    # -- glue: transports ------------------------------------------------------

    def _now(self) -> float:
        return self.server.reactor.seconds()

    def _flush(self) -> None:
        """Write whatever is queued, if the transport can take it now."""
        session = self.session
        if not session.outbox:
            return
        if session.transport == "websocket":
            ws = self._ws
            if ws is None:
                return
            for packet in session.take_outbox():
                payload, is_binary = encode_frame(packet, session.version, b64=self.b64)
                ws.send_frame(payload, is_binary)
            if session.state is SessionState.CLOSING:
                session.closed_after_flush()
                ws.sendClose(1000)
            return
        if self._poll is not None:
            self._answer_poll(session.take_outbox())
            if session.state is SessionState.CLOSING:
                session.closed_after_flush()

    def _answer_poll(self, packets: list[Packet]) -> None:
        from txsocketio.engineio.resource import write_payload

        request, self._poll = self._poll, None
        assert request is not None
        self.session.poll_ended(self._now())
        write_payload(self.server, request, packets, self.session.version,
                      b64=self.b64, jsonp=self._poll_jsonp)

    def _poll_lost(self, request: "Request") -> None:
        """The client dropped its pending GET."""
        if self._poll is request:
            self._poll = None
            self._transport_lost("transport close")

    def _transport_lost(self, reason: str) -> None:
        self._dispatch(self.session.transport_lost(reason))
        self._after()

    def _receive(self, packets: Iterable[Packet]) -> None:
        session = self.session
        now = self._now()
        for packet in packets:
            try:
                events = session.receive(packet, now)
            except ProtocolError as e:
                log.info("session {sid}: {error}; closing", sid=session.sid, error=e)
                events = session.protocol_violation()
            if events:
                self._dispatch(events)
            if session.state is not SessionState.OPEN:
                break
        self._flush()
        self._after()

    def _dispatch(self, events: Iterable[MessageReceived | SessionClosed]) -> None:
        server = self.server
        for event in events:
            if isinstance(event, MessageReceived):
                if server.on_message is not None:
                    try:
                        server.on_message(self, event.data)
                    except Exception:
                        log.failure("on_message callback failed for session {sid}", sid=self.sid)
            else:
                log.debug("session {sid} closed: {reason}", sid=self.sid, reason=event.reason)
                if server.on_disconnect is not None:
                    try:
                        server.on_disconnect(self, event.reason)
                    except Exception:
                        log.failure("on_disconnect callback failed for session {sid}", sid=self.sid)

    def _after(self) -> None:
        """Tidy up after any step: release or drop transports, re-arm the timer."""
        session = self.session
        if session.state is SessionState.CLOSED:
            self._teardown()
            return
        if self._poll is not None and (session.releases_poll_with_noop or session.transport == "websocket"):
            self._answer_poll([Packet(PacketType.NOOP)])
        self._arm_timer()

    def _teardown(self) -> None:
        self.server._forget(self)
        for call in (self._timer, self._grace):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._grace = None
        if self._poll is not None:
            # A GET still pending when the session dies is told so; when the
            # client itself asked to close, it only needs releasing (Node).
            client_closed = self.session.close_reason == "transport close"
            self._answer_poll([Packet(PacketType.NOOP if client_closed else PacketType.CLOSE)])
        for ws in (self._ws, self._probe):
            if ws is not None:
                ws.detach()
        self._ws = self._probe = None

    def _arm_timer(self) -> None:
        if self._grace is not None:
            return  # _on_timer runs in a moment and re-arms
        deadline = self.session.next_deadline()
        if deadline == self._deadline and self._timer is not None and self._timer.active():
            return
        self._deadline = deadline
        if self._timer is not None and self._timer.active():
            if deadline is None:
                self._timer.cancel()
                self._timer = None
            else:
                self._timer.reset(max(0.0, deadline - self._now()))
            return
        if deadline is not None:
            self._timer = self.server.reactor.callLater(
                max(0.0, deadline - self._now()), self._on_deadline
            )

    def _on_deadline(self) -> None:
        # Look at the network once more before acting: after a long busy turn
        # of the reactor the awaited pong may already sit in the socket, and
        # timers run before I/O is read.  A zero-delay call runs after the
        # next poll for I/O.
        self._timer = None
        self._grace = self.server.reactor.callLater(0, self._on_timer)

    def _on_timer(self) -> None:
        self._grace = None
        self._timer = None
        self._deadline = None
        events, upgrade_expired = self.session.handle_timer(self._now())
        if upgrade_expired and self._probe is not None:
            probe, self._probe = self._probe, None
            log.debug("session {sid}: upgrade timed out", sid=self.sid)
            probe.detach()
        self._dispatch(events)
        self._flush()
        self._after()

    # -- glue: WebSocket -------------------------------------------------------

    def _ws_opened(self, ws: "EngineIOWebSocketProtocol") -> None:
        """A WebSocket-only session's socket is open: send the OPEN packet."""
        self._ws = ws
        self._flush()
        self._after()

    def _probe_opened(self, ws: "EngineIOWebSocketProtocol") -> bool:
        """A WebSocket arrived for this polling session; False means refuse it."""
        if not self.session.can_upgrade():
            return False
        self._probe = ws
        self.session.upgrade_started(self._now())
        self._arm_timer()
        return True

    def _ws_packet(self, ws: "EngineIOWebSocketProtocol", packet: Packet) -> None:
        if ws is self._ws:
            self._receive([packet])
            return
        if ws is not self._probe:
            return
        session = self.session
        try:
            if packet.type is PacketType.PING and packet.data == "probe":
                pong = session.probe_received(self._now())
                payload, is_binary = encode_frame(pong, session.version)
                ws.send_frame(payload, is_binary)
            elif packet.type is PacketType.UPGRADE:
                session.upgrade_received(self._now())
                self._probe, self._ws = None, ws
                log.debug("session {sid} upgraded to websocket", sid=self.sid)
            elif packet.type is PacketType.NOOP:
                pass
            else:
                raise ProtocolError(f"unexpected {packet.type.name} during upgrade")
        except ProtocolError as e:
            log.info("session {sid}: bad upgrade ({error})", sid=self.sid, error=e)
            session.upgrade_failed()
            self._probe = None
            ws.detach()
        # Flush first: writing a CLOSING session's CLOSE packet on the new
        # transport finishes it, and _after() then tears it down.
        self._flush()
        self._after()

    def _ws_bad_frame(self, ws: "EngineIOWebSocketProtocol", error: Exception) -> None:
        if ws is self._ws:
            log.info("session {sid}: undecodable frame ({error}); closing", sid=self.sid, error=error)
            self._dispatch(self.session.protocol_violation())
            self._after()
        elif ws is self._probe:
            self._probe = None
            self.session.upgrade_failed()
            ws.detach()
            self._after()

    def _ws_closed(self, ws: "EngineIOWebSocketProtocol", reason: str = "transport close") -> None:
        # "opening": a WebSocket-only session whose socket went away between
        # onConnect (where the session was created) and onOpen.
        opening = self._ws is None and self._probe is None and self.session.transport == "websocket"
        if ws is self._ws or opening:
            self._ws = None
            self._transport_lost(reason)
        elif ws is self._probe:
            self._probe = None
            self.session.upgrade_failed()
            self._after()


class EngineIOServer:
    """Engine.IO sessions over long-polling and WebSocket.

    Times are in seconds (floats allowed); the handshake advertises them in
    integer milliseconds.  Callbacks: ``on_connect(socket)``,
    ``on_message(socket, data)`` (``str`` or ``bytes``),
    ``on_disconnect(socket, reason)``.  Mount :meth:`resource` in a
    ``twisted.web`` tree.
    """

    def __init__(
        self,
        reactor: IReactorTime | None = None,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        upgrade_timeout: float = 10.0,
        max_http_buffer_size: int = 1_000_000,
        transports: Sequence[str] = TRANSPORTS,
        allow_upgrades: bool = True,
        allow_eio3: bool = False,
        cookie: bool | str | dict[str, Any] | None = None,
        cors_allowed_origins: AllowedOrigins = None,
        cors_credentials: bool = False,
        allow_request: Callable[[Any], Any] | None = None,
        http_compression: bool = True,
        compression_threshold: int = 1024,
        per_message_deflate: bool = False,
        on_connect: Callable[[EngineIOSocket], Any] | None = None,
        on_message: Callable[[EngineIOSocket, str | bytes], Any] | None = None,
        on_disconnect: Callable[[EngineIOSocket, str], Any] | None = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor  # type: ignore[assignment]
        self.reactor: Any = reactor
        transports = tuple(transports)
        unknown = [t for t in transports if t not in TRANSPORTS]
        if unknown or not transports:
            raise ValueError(f"transports must be a non-empty subset of {TRANSPORTS}, not {transports!r}")
        for name, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout),
                            ("upgrade_timeout", upgrade_timeout)):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        self.config = SessionConfig(
            ping_interval=float(ping_interval),
            ping_timeout=float(ping_timeout),
            upgrade_timeout=float(upgrade_timeout),
            max_payload=int(max_http_buffer_size),
        )
        self.transports = transports
        self.allow_upgrades = allow_upgrades
        self.allow_eio3 = allow_eio3
        self.cookie = _cookie_settings(cookie)
        self.cors = CorsPolicy(cors_allowed_origins, cors_credentials)
        self.allow_request = allow_request
        self.http_compression = http_compression
        self.compression_threshold = compression_threshold
        self.per_message_deflate = per_message_deflate
        self.on_connect = on_connect
        self.on_message = on_message
        self.on_disconnect = on_disconnect
        self.sockets: dict[str, EngineIOSocket] = {}
        self._ws_factory: Any = None

    @property
    def max_http_buffer_size(self) -> int:
        return self.config.max_payload

    def resource(self) -> Any:
        """A ``twisted.web`` resource serving this server (polling and WebSocket)."""
        from txsocketio.engineio.resource import EngineIOResource

        return EngineIOResource(self)

    def prepare(self, data: str | bytes) -> OutgoingMessage:
        """Encode a message once for sending to many sockets."""
        return OutgoingMessage(data)

    def close_all(self, reason: str = "server shutting down") -> None:
        """Close every session."""
        for socket in list(self.sockets.values()):
            socket.close(reason)

    # -- used by the transports -------------------------------------------------

    def upgrades_for(self, transport: str) -> list[str]:
        if transport == "polling" and self.allow_upgrades and "websocket" in self.transports:
            return ["websocket"]
        return []

    def open_session(self, version: int, transport: str, handshake: Handshake,
                     *, b64: bool | None = None) -> EngineIOSocket:
        """Create a session; its OPEN packet waits in the outbox."""
        sid = _new_sid()
        while sid in self.sockets:  # pragma: no cover - 128 random bits
            sid = _new_sid()
        session = Session(sid, version, transport, self.config, self.reactor.seconds(),
                          upgrades=self.upgrades_for(transport))
        if b64 is None:
            # engine.io-client's forceBase64 asks with b64=1 in the query.
            b64 = "b64" in handshake.query
        socket = EngineIOSocket(self, session, handshake, b64=b64)
        self.sockets[sid] = socket
        log.debug("session {sid} opened over {transport} (EIO={version})",
                  sid=sid, transport=transport, version=version)
        if self.on_connect is not None:
            try:
                self.on_connect(socket)
            except Exception:
                log.failure("on_connect callback failed for session {sid}", sid=sid)
        socket._arm_timer()
        return socket

    def cookie_header(self, sid: str) -> str | None:
        """The ``Set-Cookie`` value for a new session, or None when cookies are off."""
        c = self.cookie
        if c is None:
            return None
        parts = [f"{c['name']}={sid}"]
        if c.get("path"):
            parts.append(f"Path={c['path']}")
        if c.get("httponly"):
            parts.append("HttpOnly")
        if c.get("secure"):
            parts.append("Secure")
        if c.get("samesite"):
            parts.append(f"SameSite={c['samesite']}")
        return "; ".join(parts)

    def _forget(self, socket: EngineIOSocket) -> None:
        if self.sockets.get(socket.sid) is socket:
            del self.sockets[socket.sid]


def _cookie_settings(cookie: bool | str | dict[str, Any] | None) -> dict[str, Any] | None:
    if not cookie:
        return None
    settings: dict[str, Any] = {"name": "io", "path": "/", "httponly": True, "samesite": "Lax"}
    if isinstance(cookie, str):
        settings["name"] = cookie
    elif isinstance(cookie, dict):
        settings.update(cookie)
    return settings
