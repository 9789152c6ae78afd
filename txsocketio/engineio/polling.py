# -*- test-case-name: tests.test_engineio_resource -*-
"""The long-polling transport: a pending GET to answer, POST bodies to decode.

:class:`PollingTransport` is the :class:`~txsocketio.engineio.transport.Transport`
of a polling session (it holds at most one pending GET);
:func:`handle_get` and :func:`handle_post` translate the two requests into
calls on the :class:`~txsocketio.engineio.socket.EngineIOSocket`.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, Sequence

from twisted.internet.interfaces import IPullProducer
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from txsocketio.engineio.message import OutgoingMessage
from txsocketio.engineio.packet import (
    Packet,
    PacketType,
    decode_jsonp_body,
    decode_payload,
    encode_jsonp,
    encode_payload,
)
from txsocketio.engineio.transport import Outgoing
from txsocketio.errors import ProtocolError
from txsocketio.logs import Logger

if TYPE_CHECKING:
    from twisted.web.server import Request

    from txsocketio.engineio.socket import EngineIOSocket

__all__ = ["PollingTransport", "handle_get", "handle_post", "finish", "request_gone"]

log = Logger(namespace="txsocketio.engineio")


def request_gone(request: "Request") -> bool:
    """True when a request can no longer be answered (finished, or its client left)."""
    # twisted.web has no public "is the client still there" on a Request;
    # ``_disconnected`` is what Request.write itself checks.
    return bool(request.finished) or getattr(request, "_disconnected", False)


def finish(request: "Request", body: bytes) -> None:
    """Answer a request after render() returned: with a length, not chunked."""
    request.setHeader(b"Content-Length", b"%d" % len(body))
    request.write(body)
    request.finish()


@implementer(IPullProducer)
class _Drained:
    """Calls ``then()`` once a connection's write buffer is empty.

    The last response of a session (the one carrying CLOSE) must have left
    the process before a shutdown may end it (a stopping reactor drops what
    is still buffered).  Twisted's public way to learn that is the
    producer API: a pull producer is asked to resume once the buffer has
    been written.  twisted.web's channel, the connection's usual producer,
    is put back afterwards.
    """

    def __init__(self, channel: Any, then: Any) -> None:
        self._then = then
        self._channel = channel
        self._transport: Any = channel.transport
        #: False when the connection cannot tell (then the response counts as written)
        self.watching = True
        try:
            self._transport.unregisterProducer()
        except RuntimeError:  # pragma: no cover - a test transport without a producer
            pass
        self._registering = True
        try:
            self._transport.registerProducer(self, False)
        except RuntimeError:
            self.watching = False  # an in-memory transport that writes at once
            self._restore()
        finally:
            self._registering = False

    def resumeProducing(self) -> None:
        if self._registering:
            return  # asked once at once; the response is not out yet
        self._transport.unregisterProducer()
        self._restore()
        self._done()

    def _restore(self) -> None:
        current: Any = getattr(self._channel, "transport", None)
        if current is not None and current is self._transport:
            current.registerProducer(self._channel, True)

    def stopProducing(self) -> None:
        self._done()  # the connection went away

    def _done(self) -> None:
        then, self._then = self._then, None
        if then is not None:
            then()


class PollingTransport:
    """Carries a session over long-polling (see the module docstring)."""

    name = "polling"

    def __init__(self, socket: "EngineIOSocket", *, http_compression: bool = True,
                 compression_threshold: int = 1024) -> None:
        self.socket = socket
        self._request: Request | None = None
        self._jsonp: str | None = None
        self._compression = http_compression
        self._threshold = compression_threshold
        self._goodbye: _Drained | None = None

    @property
    def writable(self) -> bool:
        return self._request is not None

    @property
    def connected(self) -> bool:
        """True while the response carrying CLOSE is still in a write buffer."""
        return self._goodbye is not None

    def hold(self, request: "Request", jsonp: str | None) -> None:
        """Keep this GET until there is something to answer."""
        self._request = request
        self._jsonp = jsonp
        request.notifyFinish().addErrback(lambda _: self._request_lost(request))

    def write(self, items: Sequence[Outgoing]) -> int:
        request, self._request = self._request, None
        if request is None:
            return 0
        self.socket.poll_ended()
        packets = [i.packet if isinstance(i, OutgoingMessage) else i for i in items]
        self._answer(request, packets)
        return len(items)

    def release(self, packet: Packet) -> None:
        if self._request is not None:
            self.write([packet])

    def close(self) -> None:
        """Nothing to close: a pending GET has been released already."""

    def abort(self) -> None:
        request, self._request = self._request, None
        if request is not None and not request_gone(request):
            request.loseConnection()
        self._goodbye = None

    def _request_lost(self, request: "Request") -> None:
        # The client dropped its pending GET.
        if self._request is request:
            self._request = None
            self.socket.lost(self)

    def _answer(self, request: "Request", packets: Sequence[Packet]) -> None:
        if request_gone(request):
            return
        socket = self.socket
        if self._jsonp is not None:
            body, content_type = encode_jsonp(packets, self._jsonp)
        else:
            body, content_type = encode_payload(packets, socket.protocol, b64=socket.b64)
        request.setHeader(b"Content-Type", content_type.encode("ascii"))
        if self._compression and len(body) >= self._threshold:
            encoding = _content_encoding(request.getHeader(b"accept-encoding"))
            if encoding == b"gzip":
                c = zlib.compressobj(6, zlib.DEFLATED, 31)
                body = c.compress(body) + c.flush()
            elif encoding == b"deflate":
                body = zlib.compress(body)
            if encoding is not None:
                request.setHeader(b"Content-Encoding", encoding)
            request.setHeader(b"Vary", b"Accept-Encoding")
        channel = request.channel  # a finished request forgets it
        finish(request, body)
        if any(p.type is PacketType.CLOSE for p in packets) and \
                getattr(channel, "transport", None) is not None:
            drained = _Drained(channel, self._goodbye_sent)
            if drained.watching:
                self._goodbye = drained

    def _goodbye_sent(self) -> None:
        self._goodbye = None
        self.socket.lost(self)


def handle_get(request: "Request", socket: "EngineIOSocket", transport: PollingTransport,
               jsonp: str | None) -> Any:
    """A long-poll GET: None when refused (overlapping GET: the caller answers 400)."""
    if not socket.poll_started():
        log.info("session {sid}: overlapping long-poll; closing", sid=socket.sid,
                 remote=socket.handshake.remote)
        return None
    transport.hold(request, jsonp)
    socket.flush()
    return NOT_DONE_YET


def handle_post(request: "Request", socket: "EngineIOSocket", transport: PollingTransport,
                jsonp: bool) -> int:
    """A POST of packets: the HTTP status to answer (200 ``ok``, 413, or 400)."""
    content = request.content
    assert content is not None  # twisted.web has read the body by now
    content.seek(0, 2)
    size = content.tell()
    if not socket.post_received(size):
        log.info("session {sid}: POST of {size} bytes exceeds max_http_buffer_size; closing",
                 sid=socket.sid, size=size, remote=socket.handshake.remote)
        return 413
    content.seek(0)
    body = content.read()
    try:
        if jsonp:
            body = decode_jsonp_body(body)
        packets = decode_payload(body, socket.protocol)
    except ProtocolError as e:
        socket.bad_input(transport, e)
        return 400
    socket.receive(transport, packets)
    return 200


def _content_encoding(accept_encoding: bytes | None) -> bytes | None:
    """gzip or deflate if the client's Accept-Encoding takes it (q > 0), else None."""
    if not accept_encoding:
        return None
    weights: dict[bytes, float] = {}
    for item in accept_encoding.lower().split(b","):
        name, _, params = item.partition(b";")
        q = 1.0
        for param in params.split(b";"):
            key, _, value = param.partition(b"=")
            if key.strip() == b"q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[name.strip()] = q
    for encoding in (b"gzip", b"deflate"):
        if weights.get(encoding, weights.get(b"*", 0.0)) > 0:
            return encoding
    return None
