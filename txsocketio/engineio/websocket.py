# -*- test-case-name: tests.test_engineio_websocket -*-
"""The Engine.IO WebSocket transport on Autobahn.

:func:`take_over` hands a ``twisted.web`` request's connection to an
:class:`EngineIOWebSocketProtocol` through Autobahn's public
``WebSocketResource``, together with what the HTTP layer already decided
(open a new session, probe an upgrade of an existing one, or accept-then-close
a duplicate upgrade).  :class:`WebSocketTransport` is the session's
:class:`~txsocketio.engineio.transport.Transport`; it is also the Twisted
producer of the TCP connection, which is how it knows that the 101 response
has been written (the OPEN packet then goes out in a write of its own, as
Node's server does) and when the client stops reading (Twisted pauses it:
messages then wait in the session, up to ``max_buffered_bytes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import attrs
from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer

from txsocketio.eager import SENDS_PER_TURN, TurnBudget
from txsocketio.engineio._autobahn import FramingProtocol, configured_protocol, frame_pieces, use_reactor
from txsocketio.engineio.handshake import Handshake
from txsocketio.engineio.message import OutgoingMessage
from txsocketio.engineio.packet import Packet, decode_frame, encode_frame
from txsocketio.engineio.transport import Outgoing
from txsocketio.errors import ProtocolError
from txsocketio.httpdirect import DirectRequest
from txsocketio.logs import Logger

if TYPE_CHECKING:
    from twisted.web.server import Request

    from txsocketio.engineio.server import EngineIOServer
    from txsocketio.engineio.socket import EngineIOSocket

__all__ = ["EngineIOWebSocketProtocol", "WebSocketTransport", "make_factory", "take_over",
           "NewSession", "Upgrade", "Refuse"]

log = Logger(namespace="txsocketio.engineio")

#: frames written together by one ``write`` of several messages (Twisted's buffer size)
BATCH_BYTES = 65536


@attrs.frozen
class NewSession:
    """Open a WebSocket-only session."""

    version: int
    handshake: Handshake
    b64: bool = False
    #: headers the hooks add to the 101
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Upgrade:
    """Probe an upgrade of this polling session."""

    socket: "EngineIOSocket"
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Refuse:
    """Complete the handshake, then close (a duplicate upgrade, as Node does)."""

    headers: Mapping[str, str] = attrs.field(factory=dict)


@implementer(IPushProducer)
class WebSocketTransport:
    """Carries one session (or one upgrade probe) over one WebSocket."""

    name = "websocket"

    def __init__(self, protocol: "EngineIOWebSocketProtocol", socket: "EngineIOSocket") -> None:
        self.protocol = protocol
        self.socket = socket
        #: the 101 response has been written out; frames may follow
        self.ready = False
        #: Twisted paused us: the client is not reading fast enough
        self.paused = False
        self._registering = False

    # -- Transport ----------------------------------------------------------------

    @property
    def writable(self) -> bool:
        return self.ready and not self.paused and self.protocol.can_send

    @property
    def connected(self) -> bool:
        return self.protocol.state != self.protocol.STATE_CLOSED

    def write(self, items: Sequence[Outgoing]) -> int:
        protocol = self.protocol
        version, b64 = self.socket.protocol, self.socket.b64
        if len(items) > 1 and protocol.frames_are_plain:
            return self._write_batched(items, version, b64)
        sent = False
        written = 0
        for item in items:
            if self.paused:
                break  # Twisted's buffer is full again: the rest waits in the session
            if isinstance(item, OutgoingMessage):
                sent = protocol.send_prepared(item.prepared(version, b64)) or sent
            else:
                sent = protocol.send_frame(*encode_frame(item, version, b64=b64)) or sent
            written += 1
        if sent:
            protocol.push()
        return written

    def _write_batched(self, items: Sequence[Outgoing], version: int, b64: bool) -> int:
        """Several messages (a binary packet and its attachments, an outbox):
        their frames handed over together, about :data:`BATCH_BYTES` at a
        time, so they leave in one ``send`` (a binary ack's header frame no
        longer goes alone ahead of its attachment)."""
        protocol = self.protocol
        written, count = 0, len(items)
        while written < count and not self.paused:
            frames: list[bytes] = []
            size = 0
            while written < count and size < BATCH_BYTES:
                item = items[written]
                if isinstance(item, OutgoingMessage):
                    frame = item.prepared(version, b64).payloadHybi
                    frames.append(frame)
                    size += len(frame)
                else:
                    for piece in frame_pieces(*encode_frame(item, version, b64=b64)):
                        frames.append(piece)
                        size += len(piece)
                written += 1
            if protocol.write_frames(frames):
                protocol.push()
        return written

    def release(self, packet: Packet) -> None:
        """Nothing waits on a WebSocket."""

    def close(self) -> None:
        protocol = self.protocol
        if self.paused:
            self.abort()  # a stalled reader would never read the close frame
        elif protocol.can_send:
            protocol.sendClose(1000)
        elif protocol.state not in (protocol.STATE_CLOSED, protocol.STATE_CLOSING):
            self.abort()

    def abort(self) -> None:
        if self.protocol.state != self.protocol.STATE_CLOSED:
            self.protocol.dropConnection(abort=True)

    # -- the TCP connection's producer --------------------------------------------

    def start(self) -> None:
        """The 101 is in the connection's write buffer: wait until it is written.

        twisted.web's channel was this connection's producer; we replace it,
        first as a pull producer (asked to resume once the buffer is empty),
        then as a push producer (paused and resumed with the buffer).
        """
        protocol = self.protocol
        try:
            protocol.unregisterProducer()
        except RuntimeError:  # pragma: no cover - some test transports insist
            pass
        self._registering = True
        try:
            protocol.registerProducer(self, False)
        except RuntimeError:
            # A connection that cannot tell (an in-memory one writes at once).
            self._registering = False
            self.resumeProducing()
        finally:
            self._registering = False

    def resumeProducing(self) -> None:
        if self._registering:
            return  # a pull producer is asked once at once; the 101 is not out yet
        if not self.ready:
            self.ready = True
            try:
                self.protocol.unregisterProducer()
            except RuntimeError:
                pass  # the in-memory case of start(): nothing was registered
            self.protocol.registerProducer(self, True)
        self.paused = False
        self.socket.flush()

    def pauseProducing(self) -> None:
        self.paused = True

    def stopProducing(self) -> None:
        """The connection is going away; :meth:`EngineIOWebSocketProtocol.onClose` says so."""


class EngineIOWebSocketProtocol(FramingProtocol):
    """Translates one WebSocket into calls on an Engine.IO socket."""

    plan: NewSession | Upgrade | Refuse | None = None
    eio_server: "EngineIOServer | None" = None
    carrier: WebSocketTransport | None = None

    def onConnect(self, request: Any) -> Any:
        """Accept; the 101 carries the hooks' headers (and a new session's cookie)."""
        plan, server = self.plan, self.eio_server
        headers = dict(plan.headers) if plan is not None else {}
        if isinstance(plan, NewSession) and server is not None:
            # The session starts now so that its sid can go in a cookie; its
            # OPEN packet waits until the 101 has been written.
            socket = server.open_session(plan.version, "websocket", plan.handshake,
                                         self._carry, b64=plan.b64)
            cookie = server.cookie_header(socket.sid)
            if cookie:
                headers["Set-Cookie"] = cookie
        # Autobahn's public way to add headers to its handshake response.
        return (None, headers) if headers else None

    def _carry(self, socket: "EngineIOSocket") -> WebSocketTransport:
        self.carrier = WebSocketTransport(self, socket)
        return self.carrier

    def onOpen(self) -> None:
        plan = self.plan
        if isinstance(plan, Upgrade):
            carrier = WebSocketTransport(self, plan.socket)
            if plan.socket.probe_opened(carrier):
                self.carrier = carrier
        if self.carrier is None:
            self.sendClose(1000)
            return
        self.carrier.start()

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        carrier = self.carrier
        if carrier is None:
            return
        socket = carrier.socket
        try:
            packet = decode_frame(payload, isBinary, socket.protocol)
        except ProtocolError as e:
            socket.bad_input(carrier, e)
            return
        socket.receive(carrier, [packet])

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        carrier = self.carrier
        if carrier is not None:
            if self.failed_by_server:
                log.info("session {sid}: WebSocket failed ({code}); closing",
                         sid=carrier.socket.sid, code=self.localCloseCode,
                         remote=carrier.socket.handshake.remote)
            carrier.socket.lost(carrier, failed_by_server=self.failed_by_server)


class _PlannedFactory:
    """The server's factory, for one request: its protocol follows ``plan``."""

    def __init__(self, factory: WebSocketServerFactory, server: "EngineIOServer",
                 plan: NewSession | Upgrade | Refuse) -> None:
        self._factory = factory
        self._server = server
        self._plan = plan

    def buildProtocol(self, addr: Any) -> EngineIOWebSocketProtocol:
        protocol = self._factory.buildProtocol(addr)
        assert isinstance(protocol, EngineIOWebSocketProtocol)  # the factory's protocol class
        protocol.plan = self._plan
        protocol.eio_server = self._server
        return protocol


def take_over(factory: WebSocketServerFactory, server: "EngineIOServer", request: "Request | DirectRequest",
              plan: NewSession | Upgrade | Refuse) -> Any:
    """Hand the request's connection to a new protocol that follows ``plan``.

    A request of the direct path gives the protocol the bytes it came in
    (Autobahn reads the handshake once); a twisted.web one goes through
    Autobahn's ``WebSocketResource``, which writes the request out again
    from the parsed one.
    """
    planned = _PlannedFactory(factory, server, plan)
    if isinstance(request, DirectRequest):
        request.hand_over(planned.buildProtocol(request.getClientAddress()))
        return NOT_DONE_YET
    return WebSocketResource(planned).render(request)


def make_factory(server: "EngineIOServer") -> WebSocketServerFactory:
    """The Autobahn factory for one :class:`EngineIOServer`."""
    factory = WebSocketServerFactory(url=None, reactor=server.reactor)
    use_reactor(factory, server.reactor)
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
        options["perMessageCompressionAccept"] = _accept_deflate
    factory.setProtocolOptions(**options)
    factory.protocol = configured_protocol(factory, EngineIOWebSocketProtocol,
                                           push_budget=TurnBudget(server.reactor, SENDS_PER_TURN))
    return factory


def _accept_deflate(offers: list[Any]) -> Any:
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None
