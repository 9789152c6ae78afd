# -*- test-case-name: tests.test_engineio_glue -*-
"""The Engine.IO WebSocket transport on Autobahn.

This is the only module that takes over a ``twisted.web`` request's TCP
connection: :func:`take_over` hands it to an :class:`EngineIOWebSocketProtocol`
together with what the HTTP layer already decided (open a new session, probe
an upgrade of an existing one, or accept-then-close a duplicate upgrade).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from autobahn.websocket.protocol import PreparedMessage
from twisted.internet.error import AlreadyCalled, AlreadyCancelled
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper
from twisted.web.server import NOT_DONE_YET

from txsocketio.engineio.handshake import Handshake
from txsocketio.engineio.packet import decode_frame
from txsocketio.errors import ProtocolError

if TYPE_CHECKING:
    from twisted.web.server import Request

    from txsocketio.engineio.server import EngineIOServer, EngineIOSocket

__all__ = ["EngineIOWebSocketProtocol", "make_factory", "take_over", "NewSession", "Upgrade", "Refuse"]

log = Logger(namespace="txsocketio.engineio")


@attrs.frozen
class NewSession:
    """Open a WebSocket-only session."""

    version: int
    handshake: Handshake


@attrs.frozen
class Upgrade:
    """Probe an upgrade of this polling session."""

    socket: "EngineIOSocket"


@attrs.frozen
class Refuse:
    """Complete the handshake, then close (a duplicate upgrade, as Node does)."""


class EngineIOWebSocketProtocol(WebSocketServerProtocol):
    """Carries one Engine.IO session (or one upgrade probe) over WebSocket."""

    plan: NewSession | Upgrade | Refuse | None = None
    eio_server: "EngineIOServer | None" = None
    _socket: "EngineIOSocket | None" = None

    def onConnect(self, request: Any) -> Any:
        plan, server = self.plan, self.eio_server
        if isinstance(plan, NewSession) and server is not None:
            # The session starts now so that its sid can go in a cookie; its
            # OPEN packet waits until the socket is open.
            socket = self._socket = server.open_session(plan.version, "websocket", plan.handshake)
            cookie = server.cookie_header(socket.sid)
            if cookie:
                return None, {"Set-Cookie": cookie}
        return None

    def onOpen(self) -> None:
        plan = self.plan
        if isinstance(plan, NewSession) and self._socket is not None:
            self._socket._ws_opened(self)
        elif isinstance(plan, Upgrade) and plan.socket._probe_opened(self):
            self._socket = plan.socket
        else:
            self._socket = None
            self.sendClose(1000)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        socket = self._socket
        if socket is None:
            return
        try:
            packet = decode_frame(payload, isBinary, socket.protocol)
        except ProtocolError as e:
            socket._ws_bad_frame(self, e)
            return
        socket._ws_packet(self, packet)

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            if self.failedByMe:
                # Autobahn failed the connection because of the client: an
                # oversize message (1009), invalid UTF-8 (1007), a bad frame
                # (1002).  Node calls that a "transport error".
                log.info("session {sid}: WebSocket failed ({code}); closing",
                         sid=socket.sid, code=self.localCloseCode)
                socket._ws_closed(self, "transport error")
            else:
                socket._ws_closed(self, "transport close")

    def connectionLost(self, reason: Any) -> None:
        super().connectionLost(reason)
        # Autobahn does not cancel its closing-handshake timeout when the
        # connection goes first (it happens when it fails a connection twice,
        # e.g. on invalid UTF-8): do it, so no timer outlives the socket.
        call, self.closeHandshakeTimeoutCall = self.closeHandshakeTimeoutCall, None
        if call is not None:
            try:
                call.cancel()
            except (AlreadyCalled, AlreadyCancelled):
                pass

    @property
    def can_send(self) -> bool:
        """True while messages can be sent (the closing handshake has not begun)."""
        return self.state == self.STATE_OPEN

    def send_frame(self, payload: bytes, is_binary: bool) -> bool:
        """Send one message if the socket is open; False (and nothing sent) if not.

        Between the peer's close frame and the loss of the connection the
        session still holds this socket; a send then is dropped instead of
        raising autobahn's ``Disconnected`` into the caller.
        """
        if self._perMessageCompress is None:
            return self.send_prepared(PreparedMessage(payload, is_binary, False, False))
        if self.state != self.STATE_OPEN:
            return False
        self._send_compressed(payload, is_binary)
        return True

    def send_prepared(self, message: PreparedMessage) -> bool:
        """Send a message framed once for many sockets; see :meth:`send_frame`.

        Uncompressed frames go straight to the transport when nothing is
        queued before them (autobahn's ``sendData`` would format a debug log
        line for every frame, even with debugging off).
        """
        if self.state != self.STATE_OPEN:
            return False
        if self._perMessageCompress is None or message.doNotCompress:
            if self.send_queue:
                self.sendData(message.payloadHybi)
            else:
                self.transport.write(message.payloadHybi)
            return True
        self._send_compressed(message.payload, message.binary)
        return True

    def _send_compressed(self, payload: bytes, is_binary: bool) -> None:
        # ``maxMessagePayloadSize`` is our limit for what the client sends
        # (Node's ``maxHttpBufferSize``); autobahn also applies it to outgoing
        # messages, which Node does not, so it is lifted while sending.
        limit, self.maxMessagePayloadSize = self.maxMessagePayloadSize, 0
        try:
            self.sendMessage(payload, is_binary)
        finally:
            self.maxMessagePayloadSize = limit

    def onMessageEnd(self) -> None:
        # As autobahn's, without firing its "message" observers through txaio
        # (a Deferred per message nobody listens to).
        if not self.failedByMe:
            self._onMessage(b"".join(self.message_data), self.message_is_binary)
        self.message_data = None

    def detach(self) -> None:
        """The session no longer uses this socket: close it cleanly."""
        self._socket = None
        if self.state == self.STATE_OPEN:
            self.sendClose(1000)
        elif self.state != self.STATE_CLOSED and self.state != self.STATE_CLOSING:
            self.dropConnection(abort=True)


class _ReactorTimer:
    """txaio's ``IBatchedTimer`` on a given reactor.

    Autobahn times its opening and closing handshakes with the factory's
    batched timer, which txaio builds on the *global* reactor; this one uses
    the reactor the :class:`EngineIOServer` was given, so those timeouts
    follow the same clock as everything else (and tests can drive them).
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def call_later(self, delay: float, func: Any, *args: Any, **kwargs: Any) -> Any:
        return self._reactor.callLater(delay, func, *args, **kwargs)


def make_factory(server: "EngineIOServer") -> WebSocketServerFactory:
    """The Autobahn factory for one :class:`EngineIOServer`."""
    factory = WebSocketServerFactory(url=None, reactor=server.reactor)
    factory._batched_timer = _ReactorTimer(server.reactor)
    factory.protocol = EngineIOWebSocketProtocol
    options: dict[str, Any] = dict(
        maxMessagePayloadSize=server.max_http_buffer_size,
        maxFramePayloadSize=server.max_http_buffer_size,
        failByDrop=False,  # oversize messages get a 1009 close, not a dropped TCP connection
        autoPingInterval=0,  # Engine.IO does its own heartbeat
        openHandshakeTimeout=server.config.upgrade_timeout,
        closeHandshakeTimeout=1,
    )
    if server.per_message_deflate:
        def accept(offers: list[Any]) -> Any:
            for offer in offers:
                if isinstance(offer, PerMessageDeflateOffer):
                    return PerMessageDeflateOfferAccept(offer)
            return None

        options["perMessageCompressionAccept"] = accept
    factory.setProtocolOptions(**options)
    return factory


def take_over(factory: WebSocketServerFactory, server: "EngineIOServer", request: "Request",
              plan: NewSession | Upgrade | Refuse) -> Any:
    """Hand the request's connection to a new WebSocket protocol that follows ``plan``."""
    channel = request.channel
    transport = channel.transport if channel is not None else None
    if transport is None:
        # HTTP/2 or a connection that went away: nothing to take over.
        return None
    protocol: EngineIOWebSocketProtocol = factory.buildProtocol(transport.getPeer())
    protocol.plan = plan
    protocol.eio_server = server
    channel.transport = None
    if isinstance(transport, ProtocolWrapper):
        transport.wrappedProtocol = protocol
    elif isinstance(getattr(transport, "protocol", None), ProtocolWrapper):
        transport.protocol.wrappedProtocol = protocol
    else:
        transport.protocol = protocol
    protocol.makeConnection(transport)
    producer = getattr(transport, "_networkProducer", None)
    if producer is not None:
        producer.resumeProducing()
    elif hasattr(transport, "resumeProducing"):
        transport.resumeProducing()
    # Autobahn parses the opening handshake itself: replay the request to it.
    lines = [request.method + b" " + request.uri + b" HTTP/1.1"]
    for name, values in request.requestHeaders.getAllRawHeaders():
        lines.append(name + b": " + b",".join(values))
    protocol.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n")
    return NOT_DONE_YET
