# -*- test-case-name: tests.test_http -*-
"""``twisted.web`` with limits: the HTTP site txsocketio serves on.

:class:`SocketIOSite` is a ``twisted.web.server.Site`` that

* never parses POST bodies as forms and writes no access-log line unless
  asked (``access_log``);
* gives the whole request head a deadline (``headers_timeout``, default 30 s:
  Twisted's idle timeout restarts on every byte, so a header trickle is never
  cut) and answers **408**; caps the request line (**414**) and the header
  fields (size and count, **431**) instead of dropping the connection;
* refuses a request body over the limit of its path with **413** as soon as
  the ``Content-Length`` is known, without reading the body, and cuts a
  chunked body off as soon as it passes the limit; bodies to a limited path
  (the Socket.IO path) are kept in memory, never in a temporary file;
* names itself ``Server: txsocketio`` (configurable) instead of Twisted's
  version;
* speaks HTTP/1.1 only (an HTTP/2 connection would bypass these limits).
* answers plain long-polling requests, and hands plain WebSocket upgrades to
  their protocol, under a path given to :meth:`SocketIOSite.serve_directly`
  without twisted.web's parsing, request objects and traversal
  (:mod:`txsocketio.httpdirect`); everything else goes to twisted.web.

``twistd txsocketio`` and :class:`~txsocketio.service.SocketIOService` use it.
To embed txsocketio in a site of your own with the same protection::

    site = SocketIOSite(root, reactor=reactor)
    site.limit_path("/socket.io/", lambda: sio.engine.max_http_buffer_size)
    site.serve_directly("/socket.io/", sio_resource)

Other paths keep ``twisted.web``'s body handling unless
``HTTPLimits(max_body_size=...)`` caps every request.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO, cast

import attr
from twisted.internet.interfaces import IConsumer, IProtocol
from twisted.internet.protocol import connectionDone
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure
from twisted.web import http, server
from twisted.web.resource import IResource

from txsocketio.httpdirect import DirectRequest, DirectResource, HTTPDate
from txsocketio.httphead import read_request
from txsocketio.logs import Logger

__all__ = ["DirectRoute", "HTTPLimits", "RefusedRequest", "SocketIOSite", "LimitedChannel", "Request"]

log = Logger(namespace="txsocketio.http")
access_log = Logger(namespace="txsocketio.access")

#: Bytes of pipelined data held while a direct request is answered before
#: the connection is no longer read (twisted.web's own threshold).
HELD_BYTES = 0x4000

#: Seconds a refused connection is read (and the bytes dropped) after the
#: answer, so that the answer is not lost to a TCP reset.
LINGER = 2.0

_REASONS = {
    408: b"Request Timeout",
    413: b"Payload Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class HTTPLimits:
    """The limits of a :class:`SocketIOSite` (defaults after Node's ``http``)."""

    #: Seconds from a request's first byte (from the connection for the first
    #: request) to the end of its head; then 408 and close.
    headers_timeout: float = 30.0
    #: Bytes of the request line (method, URL, version); above: 414.
    max_request_line: int = 8192
    #: Bytes of all header lines together (Node's ``maxHeaderSize``); above: 431.
    max_header_size: int = 16384
    #: Number of header lines; above: 431.
    max_headers: int = 500
    #: A body cap for every path (413), or ``None`` to leave paths that are not
    #: limited with :meth:`SocketIOSite.limit_path` to twisted.web.
    max_body_size: int | None = None
    #: Seconds a connection may stay idle between requests (Twisted's default).
    idle_timeout: float | None = 60.0

    def __attrs_post_init__(self) -> None:
        if not self.headers_timeout > 0:
            raise ValueError(f"headers_timeout must be positive, not {self.headers_timeout!r}")
        for name in ("max_request_line", "max_header_size", "max_headers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        if self.max_body_size is not None and (isinstance(self.max_body_size, bool)
                                               or not isinstance(self.max_body_size, int)
                                               or self.max_body_size < 0):
            raise ValueError(f"max_body_size must be a non-negative int or None, not {self.max_body_size!r}")


@attr.s(frozen=True, auto_attribs=True)
class RefusedRequest:
    """A request whose body was refused (413), as given to a path's ``on_refused``."""

    method: bytes
    target: bytes
    headers: Mapping[bytes, Sequence[bytes]]


#: ``on_refused`` of :meth:`SocketIOSite.limit_path`: told about a 413; returns
#: extra response headers (CORS, for instance).
OnRefused = Callable[[RefusedRequest], Iterable[tuple[bytes, bytes]]]


@attr.s(frozen=True, auto_attribs=True)
class DirectRoute:
    """Requests under ``prefix`` (``b"/socket.io/"``) that ``resource`` may take directly."""

    prefix: bytes
    resource: DirectResource


@attr.s(frozen=True, auto_attribs=True)
class _BodyRule:
    segments: tuple[bytes, ...]
    max_size: Callable[[], int]
    on_refused: OnRefused | None


#: first bytes of a folded (continuation) header line: space, tab
_FOLD = frozenset(b" \t")


def _segments(path: bytes) -> list[bytes]:
    """The path segments as twisted.web traverses them (unquoted)."""
    segments = path[1:].split(b"/")
    if b"%" in path:
        segments = [server.unquote(s) for s in segments]
    return segments


class Request(server.Request):
    """A request whose body is kept in memory when its path is limited."""

    #: the body limit of this request, set by the channel from the head
    max_body_size: int | None = None
    #: keep the body in a BytesIO whatever its size (limited paths)
    body_in_memory: bool = False
    #: set when a chunked body passed :attr:`max_body_size`
    body_too_large: bool = False
    _body_received = 0

    def gotLength(self, length: int | None) -> None:
        if self.body_in_memory:
            self.content = BytesIO()  # type: ignore[assignment]  # Twisted annotates it None
        else:
            super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        limit = self.max_body_size
        if limit is not None:
            if self.body_too_large:
                return
            self._body_received += len(data)
            if self._body_received > limit:
                self.body_too_large = True
                return
        content: Any = self.content
        content.write(data)

    def write(self, data: bytes) -> None:
        if not self.startedWriting and self.responseHeaders.getRawHeaders(b"server") == [server.version]:
            # Twisted's process() names its version; say what the site says instead.
            value = getattr(self.site, "server_header", None)
            if value is None:
                self.responseHeaders.removeHeader(b"server")
            else:
                self.responseHeaders.setRawHeaders(b"server", [value])
        super().write(data)


class LimitedChannel(http.HTTPChannel):
    """``HTTPChannel`` with a head deadline, 408/413/414/431 answers and body caps.

    The state it keeps: whether a request head is being received (``True``:
    the deadline runs), a body is being read or answered (``False``) or the
    kept-alive connection waits for its next request (``None``); the request
    line and header byte counts; and whether the connection has been refused
    (:attr:`refused`, the status sent; everything read after it is dropped).
    """

    site: "SocketIOSite"
    requestFactory: Any

    def __init__(self) -> None:
        super().__init__()
        self._in_head: bool | None = True
        self._request_line: bytes | None = None
        self._header_bytes = 0
        self._header_lines = 0
        self._deadline: Any = None
        self._linger: Any = None
        self.refused: int | None = None
        #: the request of the direct path being answered, if any
        self.direct: DirectRequest | None = None
        self._held: list[bytes] = []
        self._held_size = 0
        self._reading_paused = False
        self._secure: bool | None = None
        #: the bytes of the direct request being rendered (for a hand-over)
        self._direct_bytes: bytes | None = None

    # -- the limits the site gives ---------------------------------------------------

    @property
    def limits(self) -> HTTPLimits:
        return self.site.limits

    def connectionMade(self) -> None:
        limits = self._limits = self.site.limits
        # Our checks come first; Twisted's own (answered 400) only as a backstop.
        self.totalHeadersSize = limits.max_request_line + limits.max_header_size
        self.maxHeaders = limits.max_headers
        self.MAX_LENGTH = limits.max_request_line
        super().connectionMade()
        self._arm_deadline()

    # -- the request head ------------------------------------------------------------

    def _arm_deadline(self) -> None:
        if self._deadline is None:
            self._deadline = self.callLater(self.limits.headers_timeout, self._head_timed_out)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def _head_timed_out(self) -> None:
        # As Node: 408 even when nothing at all was sent.
        self._deadline = None
        log.info("request head from {peer} not complete after {t} s: 408",
                 peer=_peer(self), t=self.limits.headers_timeout)
        self.refuse(408)

    def dataReceived(self, data: bytes) -> None:
        if self.refused is not None:
            return
        if self.direct is not None:
            self._hold(data)
            return
        if self.site.direct_route is not None and self._between_requests() and self._serve_directly(data):
            return
        if data and self._in_head is None:
            self._start_head()
        super().dataReceived(data)

    # -- the direct path (see txsocketio.httpdirect) -------------------------------------

    def isSecure(self) -> bool:
        """Whether the connection is TLS (asked once: a connection does not change)."""
        secure = self._secure
        if secure is None:
            secure = self._secure = bool(super().isSecure())
        return secure

    def _between_requests(self) -> bool:
        """True when no request is under way and nothing is buffered."""
        return (not self.requests and bool(self.line_mode) and not self._buffer
                and self._request_line is None)

    def _serve_directly(self, data: bytes) -> bool:
        """Answer ``data`` on the direct path if it is a plain request there."""
        site = self.site
        route = site.direct_route
        if route is None or site.access_log is not None:
            return False
        limits = self._limits
        head = read_request(data, prefix=route.prefix, max_request_line=limits.max_request_line,
                            max_header_size=limits.max_header_size, max_headers=limits.max_headers)
        if head is None:
            return False
        if head.body:
            limit = site.body_limit_for(head.target)[0]
            if limit is not None and len(head.body) > limit:
                return False  # twisted.web's path answers 413 and tells on_refused
        postpath = head.path[len(route.prefix):].split(b"/") if len(head.path) >= len(route.prefix) else []
        request = DirectRequest(self, head, postpath, server_header=site.server_header, date=site.http_date)
        if not route.resource.serves_directly(request):
            return False
        # No resetTimeout: the answer resets it (a pending poll's timer re-arms itself).
        self._cancel_deadline()
        self._in_head = False
        self.direct = request
        self._direct_bytes = data
        try:
            request.render(route.resource)
        finally:
            self._direct_bytes = None
        return True

    def direct_hand_over(self, request: DirectRequest, protocol: IProtocol) -> None:
        """The connection is ``protocol``'s now (a WebSocket upgrade): it is
        given the request's bytes, as if it had been the port's protocol; this
        channel's timers stop and it reads no more."""
        data, transport = self._direct_bytes, self.transport
        if request is not self.direct or data is None or transport is None:
            raise RuntimeError("hand_over() is for the direct request being rendered")
        self.direct = None
        self.setTimeout(None)
        self._cancel_deadline()
        self.transport = None
        switch_protocol(transport, protocol)
        protocol.makeConnection(transport)
        protocol.dataReceived(data)

    def direct_pending(self, request: DirectRequest) -> None:
        """``request`` is answered later: no idle timeout meanwhile (as twisted.web).

        The timer is not cancelled (a long-poll per message would cancel and
        make one): if it fires while the request waits, :meth:`timeoutConnection`
        re-arms it.
        """

    def timeoutConnection(self) -> None:
        if self.direct is not None:
            self.setTimeout(self.timeOut)  # a long-poll is pending: not idle
            return
        super().timeoutConnection()

    def direct_finished(self, request: DirectRequest, data: bytes) -> None:
        """Send the answer to ``request``, then read what came meanwhile."""
        if request is not self.direct:
            return
        self.direct = None
        if self.transport is None or self.refused is not None:
            return
        self.transport.write(data)
        self.resetTimeout()  # idle from now
        self._in_head = None
        held, self._held, self._held_size = self._held, [], 0
        if self._reading_paused:
            self._reading_paused = False
            self._networkProducer.resumeProducing()  # the transport, as HTTPChannel pauses it
        if held:
            self.dataReceived(b"".join(held))

    def _hold(self, data: bytes) -> None:
        """Keep bytes that came during a direct request; stop reading past 16 KiB."""
        self._held.append(data)
        self._held_size += len(data)
        if self._held_size > HELD_BYTES and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self._networkProducer.pauseProducing()

    def _start_head(self) -> None:
        """The first byte of the next request on a kept-alive connection."""
        self._in_head = True
        self._arm_deadline()

    def lineReceived(self, line: bytes) -> None:
        if self.refused is not None:
            return
        if self._in_head is None:
            # Pipelined bytes already buffered by LineReceiver reach us here directly.
            self._start_head()
        if self._in_head and line:
            # (Runs for every header line: kept lean.)
            limits = self._limits
            if self._request_line is None:
                if len(line) > limits.max_request_line:
                    self.refuse(414)
                    return
                self._request_line = line
                self.MAX_LENGTH = limits.max_header_size
            else:
                size = self._header_bytes = self._header_bytes + len(line) + 2
                if line[0] not in _FOLD:
                    self._header_lines += 1
                if size > limits.max_header_size or self._header_lines > limits.max_headers:
                    self.refuse(431)
                    return
                self.MAX_LENGTH = max(limits.max_header_size - size, 1)
        super().lineReceived(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        if self.refused is None:
            self.refuse(414 if self._request_line is None else 431)

    def allHeadersReceived(self) -> None:
        self._cancel_deadline()
        self._in_head = False
        request = self.requests[-1]
        method, target = _split_request_line(self._request_line or b"")
        limit, rule = self.site.body_limit_for(target)
        if limit is not None:
            length = self.length
            if length is not None and length > limit:
                log.info("{method} {path}: Content-Length {length} is over the limit of {limit} bytes: 413",
                         method=_text(method), path=_path_only(target), length=length, limit=limit)
                self._refuse_body(request, method, target, rule)
                return
            request.max_body_size = limit
            request.body_in_memory = rule is not None
        super().allHeadersReceived()

    # -- the body ---------------------------------------------------------------------

    def rawDataReceived(self, data: bytes) -> None:
        if self.refused is not None:
            return
        super().rawDataReceived(data)
        self._check_body()

    def allContentReceived(self) -> None:
        if self.refused is not None or self._check_body():
            return
        super().allContentReceived()

    def _check_body(self) -> bool:
        """Refuse a chunked body that has just passed its limit (True if so)."""
        if self.refused is not None or not self.requests or self._in_head is not False:
            return self.refused is not None
        request = self.requests[-1]
        if not getattr(request, "body_too_large", False):
            return False
        # ``disconnecting`` is on every Twisted transport, not on ITransport.
        if self.transport is None or getattr(self.transport, "disconnecting", False):
            return True
        method, target = _split_request_line(self._request_line or b"")
        log.info("{method} {path}: chunked body over the limit of {limit} bytes: 413",
                 method=_text(method), path=_path_only(target), limit=request.max_body_size)
        self._refuse_body(request, method, target, self.site.body_limit_for(target)[1])
        return True

    def _refuse_body(self, request: Any, method: bytes, target: bytes, rule: _BodyRule | None) -> None:
        extra: list[tuple[bytes, bytes]] = []
        if rule is not None and rule.on_refused is not None:
            refused = RefusedRequest(method, target, dict(request.requestHeaders.getAllRawHeaders()))
            try:
                extra = list(rule.on_refused(refused))
            except Exception:
                log.failure("on_refused failed for {path}", path=_path_only(target))
        self.refuse(413, extra)

    def requestDone(self, request: Any) -> None:
        if self.persistent and self.refused is None:
            # Reset before Twisted replays pipelined bytes into dataReceived.
            self._in_head = None
            self._request_line = None
            self._header_bytes = self._header_lines = 0
            self.MAX_LENGTH = self.limits.max_request_line
        super().requestDone(request)

    # -- refusing ---------------------------------------------------------------------

    def refuse(self, status: int, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        """Answer ``status`` with an empty body and close the connection.

        The write side is shut at once; what the client still sends is read
        and dropped for up to :data:`LINGER` seconds so that it gets the answer
        rather than a TCP reset.
        """
        if self.refused is not None or self.transport is None:
            return
        self.refused = status
        self._cancel_deadline()
        self.setTimeout(None)
        lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Error")),
                 b"Date: " + http.datetimeToString(), b"Content-Length: 0", b"Connection: close"]
        server_header = self.site.server_header
        if server_header is not None:
            lines.append(b"Server: " + server_header)
        lines.extend(name + b": " + value for name, value in headers)
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n")
        half_close = getattr(self.transport, "loseWriteConnection", None)
        if half_close is None:
            self.loseConnection()
            return
        try:
            # The transport is the consumer this channel registered with (as in HTTPChannel).
            cast(IConsumer, self.transport).unregisterProducer()
        except RuntimeError:
            pass
        half_close()
        self._linger = self.callLater(LINGER, self._end_linger)

    def _end_linger(self) -> None:
        self._linger = None
        if self.transport is not None:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancel_deadline()
        direct, self.direct = self.direct, None
        if direct is not None:
            direct.connection_lost(reason)
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        self._linger = None
        super().connectionLost(reason)


def switch_protocol(transport: Any, protocol: IProtocol) -> None:
    """Make ``protocol`` the receiver of ``transport``'s bytes, below TLS if
    any (as Autobahn's ``WebSocketResource`` does; Twisted has no API for it,
    https://github.com/twisted/twisted/issues/3204)."""
    if isinstance(transport, ProtocolWrapper):
        transport.wrappedProtocol = protocol  # a TLS connection's protocol
    elif isinstance(getattr(transport, "protocol", None), ProtocolWrapper):
        transport.protocol.wrappedProtocol = protocol
    else:
        transport.protocol = protocol


def _split_request_line(line: bytes) -> tuple[bytes, bytes]:
    parts = line.split(b" ")
    return parts[0], (parts[1] if len(parts) > 1 else b"")


def _text(method: bytes) -> str:
    return method[:20].decode("latin-1")


def _path_only(target: bytes) -> str:
    return target.split(b"?", 1)[0][:200].decode("latin-1")


def _peer(channel: http.HTTPChannel) -> str:
    transport: Any = channel.transport
    return "?" if transport is None else str(transport.getPeer())


class SocketIOSite(server.Site):
    """A ``Site`` with :class:`HTTPLimits`, no form parsing and no default access log.

    ``access_log``: ``None`` (off), ``"-"`` (one info line per request on the
    Twisted log, namespace ``txsocketio.access``), a file path, or an open text
    file; lines are in the combined log format.  ``server_header``: the
    ``Server`` response header (``None`` to send none).  ``requestFactory``, if
    given, must subclass :class:`Request`.
    """

    # Twisted types ``protocol`` as its HTTP/2-negotiating wrapper's factory; ours is a plain HTTPChannel.
    protocol = LimitedChannel  # type: ignore[assignment]
    requestFactory = Request
    noisy = False  # no "Starting factory" lines

    def __init__(self, resource: IResource, *, reactor: Any = None, limits: HTTPLimits | None = None,
                 server_header: str | bytes | None = "txsocketio", access_log: str | TextIO | None = None,
                 requestFactory: type[Request] | None = None) -> None:
        if requestFactory is not None and not (isinstance(requestFactory, type)
                                               and issubclass(requestFactory, Request)):
            raise TypeError("requestFactory must subclass txsocketio.http.Request")
        limits = limits or HTTPLimits()
        super().__init__(resource, requestFactory, parsePOSTFormSubmission=False,
                         timeout=limits.idle_timeout, reactor=reactor)
        self.limits = limits
        if isinstance(server_header, str):
            server_header = server_header.encode("latin-1")
        #: the ``Server`` header value (bytes), or ``None``
        self.server_header: bytes | None = server_header
        self.access_log = access_log
        self._access_file: TextIO | None = None
        self._rules: list[_BodyRule] = []
        #: where plain requests skip twisted.web (see :meth:`serve_directly`)
        self.direct_route: DirectRoute | None = None
        #: the ``Date`` header value, formatted once a second
        self.http_date = HTTPDate(self.reactor.seconds)

    def limit_path(self, path: str, max_body_size: int | Callable[[], int], *,
                   on_refused: OnRefused | None = None) -> None:
        """Cap request bodies under ``path`` and keep them in memory.

        ``max_body_size`` is a number of bytes, or a callable read for each
        request (``lambda: sio.engine.max_http_buffer_size``).  ``on_refused``
        is told about each 413 and may return extra response headers.
        """
        segments = tuple(s.encode("utf-8") for s in path.strip("/").split("/") if s)
        if not segments:
            raise ValueError("limit_path needs a path below /, e.g. /socket.io/")
        size = max_body_size if callable(max_body_size) else (lambda: int(max_body_size))
        self._rules.append(_BodyRule(segments, size, on_refused))

    def serve_directly(self, path: str, resource: DirectResource) -> None:
        """Let ``resource`` (the one mounted at ``path``) answer plain requests
        there without twisted.web's parsing, request objects and traversal.

        Which requests qualify: :mod:`txsocketio.httpdirect`; with an access
        log every request goes through twisted.web.
        """
        segments = [s for s in path.strip("/").split("/") if s]
        if not segments:
            raise ValueError("serve_directly needs a path below /, e.g. /socket.io/")
        self.direct_route = DirectRoute(("/" + "/".join(segments) + "/").encode("utf-8"), resource)

    def body_limit_for(self, target: bytes) -> tuple[int | None, _BodyRule | None]:
        """The body limit for a request target, and the rule it comes from."""
        if self._rules:
            segments = _segments(target.split(b"?", 1)[0])
            for rule in self._rules:
                if tuple(segments[:len(rule.segments)]) == rule.segments:
                    return rule.max_size(), rule
        return self.limits.max_body_size, None

    def acceptableProtocols(self) -> list[bytes]:
        return [b"http/1.1"]

    # -- access log -------------------------------------------------------------------

    def startFactory(self) -> None:
        target = self.access_log
        if isinstance(target, str) and target != "-":
            self._access_file = open(target, "a", buffering=1, encoding="utf-8", newline="\n")
        elif target is not None and not isinstance(target, str):
            self._access_file = target

    def stopFactory(self) -> None:
        if self._access_file is not None and isinstance(self.access_log, str):
            self._access_file.close()
        self._access_file = None

    def log(self, request: Any) -> None:
        if self.access_log is None:
            return
        line = http.combinedLogFormatter(http.datetimeToLogString(self.reactor.seconds()), request)
        if self._access_file is not None:
            self._access_file.write(line + "\n")
        elif self.access_log == "-":
            access_log.info("{line}", line=line)
