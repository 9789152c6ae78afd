# -*- test-case-name: tests.test_httpdirect -*-
"""The direct path: a plain request answered without twisted.web's parsing.

:class:`~txsocketio.http.SocketIOSite` reads a plain request under a path
given to :meth:`~txsocketio.http.SocketIOSite.serve_directly` with
:func:`txsocketio.httphead.read_request` and hands the resource there a
:class:`DirectRequest`: the part of twisted.web's ``Request`` API that the
Engine.IO resource uses (the arguments, the request headers, response code
and headers, ``write``/``finish``, ``notifyFinish``), answered with one
write, or handed over whole to a WebSocket protocol
(:meth:`DirectRequest.hand_over`).  The resource says which requests it takes
(:meth:`DirectResource.serves_directly`): the Engine.IO resource takes the
long-polling requests of open sessions, the hot path of a polling client, and
WebSocket upgrades, the whole of a WebSocket connect; polling handshakes and
whatever a hook, ``allow_request`` or the access log needs to see as a real
``Request`` keep going through twisted.web.
"""

from __future__ import annotations

from io import BytesIO
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web.http import RESPONSES, datetimeToString
from twisted.web.server import NOT_DONE_YET

from txsocketio.httphead import RequestHead, parse_query
from txsocketio.logs import Logger

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress, IProtocol

__all__ = ["DirectHeaders", "DirectRequest", "DirectResource", "HTTPDate"]

log = Logger(namespace="txsocketio.http")


class DirectResource(Protocol):
    """A resource that can answer some requests on the direct path."""

    def serves_directly(self, request: "DirectRequest") -> bool:
        """True to take ``request`` (else it goes through twisted.web)."""

    def render(self, request: Any) -> Any:
        """As ``IResource.render``: bytes, or ``NOT_DONE_YET`` and finish later."""


class DirectChannel(Protocol):
    """What a :class:`DirectRequest` needs of its connection."""

    transport: Any

    def isSecure(self) -> bool: ...

    def direct_pending(self, request: "DirectRequest") -> None: ...

    def direct_finished(self, request: "DirectRequest", data: bytes) -> None: ...

    def direct_hand_over(self, request: "DirectRequest", protocol: "IProtocol") -> None: ...


class DirectHeaders:
    """A direct request's headers as the part of twisted.web's ``Headers``
    that readers use (each name once: the direct path reads no repeats)."""

    __slots__ = ("_headers",)

    def __init__(self, headers: dict[bytes, bytes]) -> None:
        self._headers = headers

    def getRawHeaders(self, name: bytes, default: Any = None) -> Any:
        value = self._headers.get(name.lower())
        return default if value is None else [value]

    def hasHeader(self, name: bytes) -> bool:
        return name.lower() in self._headers

    def getAllRawHeaders(self) -> Iterator[tuple[bytes, list[bytes]]]:
        for name, value in self._headers.items():
            yield name, [value]


class HTTPDate:
    """The ``Date`` header value, formatted once per second of ``seconds()``."""

    def __init__(self, seconds: Callable[[], float]) -> None:
        self._seconds = seconds
        self._second = -1
        self._value = b""

    def __call__(self) -> bytes:
        now = int(self._seconds())
        if now != self._second:
            self._second = now
            self._value = datetimeToString(now)
        return self._value


#: the status lines of the answers the Engine.IO resource gives most
_STATUS_LINES = {code: b"HTTP/1.1 %d %s" % (code, RESPONSES[code]) for code in (200, 204, 400, 403, 413)}


class DirectRequest:
    """A request read by the direct path (see the module docstring).

    ``postpath`` is the path below the resource, as twisted.web's traversal
    would leave it; ``server_header`` and ``date`` make the response's
    ``Server`` and ``Date`` headers.
    """

    clientproto = b"HTTP/1.1"
    __slots__ = ("channel", "method", "uri", "path", "postpath", "args", "content", "code", "finished",
                 "_disconnected", "_headers", "_response", "_body", "_server_header", "_date", "_waiters")

    def __init__(self, channel: DirectChannel, head: RequestHead, postpath: list[bytes], *,
                 server_header: bytes | None, date: Callable[[], bytes]) -> None:
        self.channel = channel
        self.method = head.method
        self.uri = head.target
        self.path = head.path
        self.postpath = postpath
        self.args = parse_query(head.query)
        self.content = BytesIO(head.body)
        self.code = 200
        self.finished = False
        #: set when the client went away before the answer
        self._disconnected = False
        self._headers = head.headers
        self._response: dict[bytes, tuple[bytes, bytes]] = {}
        self._body: list[bytes] = []
        self._server_header = server_header
        self._date = date
        self._waiters: list[Deferred[None]] = []

    # -- the request ------------------------------------------------------------------

    def getHeader(self, name: bytes) -> bytes | None:
        """The request header ``name`` (any case), or None."""
        value = self._headers.get(name)
        if value is None and not name.islower():
            value = self._headers.get(name.lower())
        return value

    def isSecure(self) -> bool:
        return bool(self.channel.isSecure())

    def getClientAddress(self) -> "IAddress":
        return self.channel.transport.getPeer()

    def getHost(self) -> "IAddress":
        return self.channel.transport.getHost()

    @property
    def requestHeaders(self) -> "DirectHeaders":
        """The request headers, read as twisted.web's ``Headers``."""
        return DirectHeaders(self._headers)

    def hand_over(self, protocol: "IProtocol") -> None:
        """Give the connection to ``protocol`` (a WebSocket upgrade), which
        reads this request's bytes itself, as it would as the port's protocol.
        Only while the resource renders: the request is then done."""
        self.finished = True
        self.channel.direct_hand_over(self, protocol)

    # -- the response -----------------------------------------------------------------

    def setResponseCode(self, code: int, message: bytes | None = None) -> None:
        self.code = code

    def setHeader(self, name: bytes | str, value: bytes | str) -> None:
        """Set a response header (replacing one of the same name)."""
        if name.__class__ is not bytes:
            name = str(name).encode("latin-1")
        if value.__class__ is not bytes:
            value = str(value).encode("latin-1")
        self._response[name.lower()] = (name, value)

    def write(self, data: bytes) -> None:
        if not self.finished:
            self._body.append(data)

    def finish(self) -> None:
        """Send the response, in one write."""
        if self.finished:
            return
        self.finished = True
        parts = self._body
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        self._body = []
        code = self.code
        lines = [_STATUS_LINES.get(code) or b"HTTP/1.1 %d %s" % (code, RESPONSES.get(code, b"Unknown Status"))]
        if self._server_header is not None:
            lines.append(b"Server: " + self._server_header)
        lines.append(b"Date: " + self._date())
        response = self._response
        if b"content-type" not in response and body:
            lines.append(b"Content-Type: text/html")
        if b"content-length" not in response:
            lines.append(b"Content-Length: %d" % len(body))
        for name, value in response.values():
            lines.append(name + b": " + value)
        lines.append(b"")
        lines.append(body)
        if not self._disconnected:
            self.channel.direct_finished(self, b"\r\n".join(lines))
        if self._waiters:
            self._notify(None)

    def notifyFinish(self) -> "Deferred[None]":
        """Fires when the response is sent, or errs when the client goes first."""
        d: Deferred[None] = Deferred()
        if self.finished:
            d.callback(None)
        elif self._disconnected:
            d.errback(Failure(ConnectionError("the client went away")))
        else:
            self._waiters.append(d)
        return d

    def loseConnection(self) -> None:
        """Drop the connection (an aborted long-poll)."""
        transport = self.channel.transport
        if transport is not None:
            transport.loseConnection()

    # -- the channel's calls ----------------------------------------------------------

    def render(self, resource: DirectResource) -> None:
        """Let ``resource`` answer, now or later."""
        try:
            body = resource.render(self)
        except Exception:
            log.failure("rendering {method} {uri} failed", method=self.method.decode("latin-1"),
                        uri=self.uri.decode("latin-1"))
            if self.finished:
                return
            self.code = 500
            self._response = {}
            self._body = []
            body = b"Internal Server Error"
        if body is NOT_DONE_YET:
            if not self.finished:
                self.channel.direct_pending(self)
            return
        if not self.finished:
            self.setHeader(b"Content-Length", b"%d" % len(body))
            self.write(body)
            self.finish()

    def connection_lost(self, reason: Failure) -> None:
        """The client went away before the answer."""
        if self.finished or self._disconnected:
            return
        self._disconnected = True
        self._notify(reason)

    def _notify(self, failure: Failure | None) -> None:
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if failure is None:
                d.callback(None)
            else:
                d.errback(failure)
