"""The in-memory harness of the Engine.IO glue tests (server, resource, WebSocket).

No real sockets and no real time.  The server runs on a
L{MemoryReactorClock}; HTTP goes through treq's in-memory
L{RequestTraversalAgent} (the agent behind C{StubTreq}, used directly so
that no C{Accept-Encoding} is added and bodies arrive exactly as sent);
WebSocket goes over L{twisted.test.iosim} with a raw client written here
(masked client frames, unmasked server frames), so every byte can be checked.
"""

from __future__ import annotations

import json
import os
import re
import struct
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from twisted.web.resource import Resource
from twisted.web.server import Site
from treq.testing import RequestTraversalAgent
from zope.interface import implementer

from txsocketio.engineio.server import EngineIOServer, EngineIOSocket
from txsocketio.http import SocketIOSite

HOST = "example.com"
BASE = f"http://{HOST}/engine.io/"

OPEN_RE = re.compile(
    r'^0\{"sid":"(?P<sid>[A-Za-z0-9_-]+)","upgrades":(?P<upgrades>\[[^\]]*\]),'
    r'"pingInterval":(?P<interval>\d+),"pingTimeout":(?P<timeout>\d+),'
    r'"maxPayload":(?P<max>\d+)\}$'
)


def error_body(code: int, message: str) -> bytes:
    return json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()


UNKNOWN_TRANSPORT = error_body(0, "Transport unknown")
UNKNOWN_SID = error_body(1, "Session ID unknown")
BAD_HANDSHAKE_METHOD = error_body(2, "Bad handshake method")
BAD_REQUEST = error_body(3, "Bad request")
FORBIDDEN = error_body(4, "Forbidden")
UNSUPPORTED_VERSION = error_body(5, "Unsupported protocol version")


# -- HTTP in memory --------------------------------------------------------------


@implementer(IBodyProducer)
class _Body:
    """A request body written at once."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer: Any) -> Deferred:
        consumer.write(self._data)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class Response:
    """A finished HTTP response."""

    def __init__(self, code: int, headers: Headers, body: bytes, length: Any = None) -> None:
        self.code = code
        self.headers = headers
        self.body = body
        #: the Content-Length the server sent (the agent takes it out of the headers)
        self.length = length

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name.encode("latin-1"))
        return None if values is None else ", ".join(v.decode("latin-1") for v in values)

    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.code} {self.body[:200]!r}>"


class PendingRequest:
    """An HTTP request in flight (a long-poll stays pending)."""

    def __init__(self, harness: "Harness", deferred: Deferred) -> None:
        self._harness = harness
        self._deferred = deferred
        self._results: list[Any] = []
        self.aborted = False
        deferred.addCallback(self._read)
        deferred.addBoth(self._results.append)

    def _read(self, response: Any) -> Deferred:
        return readBody(response).addCallback(
            lambda body: Response(response.code, response.headers, body, response.length))

    @property
    def done(self) -> bool:
        self._harness.flush()
        return bool(self._results)

    def result(self) -> Response:
        self._harness.flush()
        if not self._results:
            raise AssertionError("the request is still pending")
        result = self._results[0]
        if not isinstance(result, Response):
            result.raiseException()
        return result

    def abort(self) -> None:
        """The client gives up: its TCP connection closes."""
        self.aborted = True
        self._deferred.cancel()
        self._harness.flush()
        self._results[:] = []


class Harness:
    """One EngineIOServer on a MemoryReactorClock, with in-memory clients.

    The application callbacks record what they see in C{self.events}:
    C{("connect", socket)}, C{("message", socket, data)},
    C{("disconnect", socket, reason)}.
    """

    def __init__(self, test: SynchronousTestCase, server: EngineIOServer | None = None,
                 **options: Any) -> None:
        """``server``: serve that one (e.g. a SocketIOServer's ``engine``, on
        its own clock; the callbacks are then its owner's) instead of a new one."""
        self.test = test
        self.clock = server.reactor if server is not None else MemoryReactorClock()
        self.events: list[tuple[Any, ...]] = []
        self.on_connect = None
        self.on_message = None
        self.server = server if server is not None else EngineIOServer(
            reactor=self.clock,
            on_connect=self._connected,
            on_message=self._message,
            on_disconnect=self._disconnected,
            **options,
        )
        self.root = Resource()
        self.resource = self.server.resource()
        self.root.putChild(b"engine.io", self.resource)
        self.agent = RequestTraversalAgent(self.root)
        self.site_clock = MemoryReactorClock()
        if getattr(test, "direct_path", False):
            # WebSocket upgrades (and polling) on SocketIOSite's direct path
            self.site: Site = SocketIOSite(self.root, reactor=self.site_clock)
            self.site.serve_directly("/engine.io/", self.resource)
        else:
            self.site = Site(self.root, reactor=self.site_clock)
        self.websockets: list[WebSocketClient] = []

    # -- application callbacks

    def _connected(self, socket: EngineIOSocket) -> None:
        self.events.append(("connect", socket))
        if self.on_connect is not None:
            self.on_connect(socket)

    def _message(self, socket: EngineIOSocket, data: str | bytes) -> None:
        self.events.append(("message", socket, data))
        if self.on_message is not None:
            self.on_message(socket, data)

    def _disconnected(self, socket: EngineIOSocket, reason: str) -> None:
        self.events.append(("disconnect", socket, reason))

    def messages(self) -> list[str | bytes]:
        return [e[2] for e in self.events if e[0] == "message"]

    def disconnects(self) -> list[str]:
        return [e[2] for e in self.events if e[0] == "disconnect"]

    # -- HTTP

    def start(self, method: str, query: str, body: bytes | None = None,
              headers: dict[str, str] | None = None, path: str = BASE) -> PendingRequest:
        h = Headers({"Host": [HOST]})
        for name, value in (headers or {}).items():
            h.setRawHeaders(name, [value])
        d = self.agent.request(method.encode("ascii"), (path + "?" + query).encode("ascii"),
                               h, None if body is None else _Body(body))
        return PendingRequest(self, d)

    def request(self, method: str, query: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, path: str = BASE) -> Response:
        return self.start(method, query, body, headers, path).result()

    def get(self, query: str, **kw: Any) -> Response:
        return self.request("GET", query, **kw)

    def post(self, query: str, body: bytes, **kw: Any) -> Response:
        return self.request("POST", query, body, **kw)

    def handshake(self, eio: int = 4, extra: str = "", **kw: Any) -> tuple[str, Response]:
        """A polling handshake; returns the sid and the response."""
        response = self.get(f"EIO={eio}&transport=polling{extra}", **kw)
        self.test.assertEqual(response.code, 200, response)
        text = response.text()
        if eio == 3:
            length, _, text = text.partition(":")
            self.test.assertEqual(int(length), len(text))
        match = OPEN_RE.match(text)
        self.test.assertIsNotNone(match, text)
        return match.group("sid"), response

    def poll(self, sid: str, eio: int = 4, extra: str = "", **kw: Any) -> PendingRequest:
        return self.start("GET", f"EIO={eio}&transport=polling&sid={sid}{extra}", **kw)

    def send(self, sid: str, body: bytes, eio: int = 4, extra: str = "", **kw: Any) -> Response:
        return self.post(f"EIO={eio}&transport=polling&sid={sid}{extra}", body, **kw)

    # -- WebSocket

    def websocket(self, query: str, headers: dict[str, str] | None = None,
                  auto_close_reply: bool = True) -> "WebSocketClient":
        ws = WebSocketClient(self, query, headers, auto_close_reply)
        self.websockets.append(ws)
        return ws

    # -- time and I/O

    def flush(self) -> None:
        self.agent.flush()
        for ws in self.websockets:
            ws.pump.flush()

    def advance(self, seconds: float) -> None:
        """Let time pass, in steps, moving bytes after each step."""
        target = self.clock.seconds() + seconds
        while True:
            pending = [c.getTime() for c in self.clock.getDelayedCalls()]
            step = min([t for t in pending if t <= target], default=target)
            self.clock.advance(max(0.0, step - self.clock.seconds()))
            self.flush()
            if self.clock.seconds() >= target:
                break
        self.flush()

    def socket(self, sid: str) -> EngineIOSocket:
        return self.server.sockets[sid]

    def assert_timer_consistent(self, socket: EngineIOSocket) -> None:
        """The socket's one DelayedCall is armed at its session's next deadline."""
        deadline = socket.session.next_deadline()
        calls = [c for c in self.clock.getDelayedCalls()
                 if getattr(c.func, "__self__", None) is socket]
        if deadline is None:
            self.test.assertEqual(calls, [])
        else:
            self.test.assertEqual(len(calls), 1, calls)
            self.test.assertAlmostEqual(calls[0].getTime(), deadline)

    def assert_clean(self) -> None:
        """No session left, and no DelayedCall left on the server's clock."""
        self.flush()
        self.test.assertEqual(self.server.sockets, {})
        self.test.assertEqual(self.clock.getDelayedCalls(), [])


# -- WebSocket in memory -----------------------------------------------------------

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10


def client_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """A masked client-to-server frame."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class _RawClient(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.lost: Any = None

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Any) -> None:
        self.lost = reason


class WebSocketClient:
    """A raw WebSocket client over iosim, talking to the harness's Site."""

    def __init__(self, harness: Harness, query: str, headers: dict[str, str] | None,
                 auto_close_reply: bool) -> None:
        self.harness = harness
        self.auto_close_reply = auto_close_reply
        self.client = _RawClient()
        server_protocol = harness.site.buildProtocol(IPv4Address("TCP", "10.0.0.2", 40000))
        self.server_io = iosim.FakeTransport(
            server_protocol, isServer=True,
            hostAddress=IPv4Address("TCP", "10.0.0.1", 80),
            peerAddress=IPv4Address("TCP", "10.0.0.2", 40000))
        self.client_io = iosim.FakeTransport(
            self.client, isServer=False,
            hostAddress=IPv4Address("TCP", "10.0.0.2", 40000),
            peerAddress=IPv4Address("TCP", "10.0.0.1", 80))
        self.pump = iosim.connect(server_protocol, self.server_io, self.client, self.client_io,
                                  greet=False, clock=harness.clock)
        lines = [f"GET /engine.io/?{query} HTTP/1.1", f"Host: {HOST}",
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.client_io.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.pump.flush()
        head, sep, rest = self.client.data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError(f"no HTTP response: {self.client.data!r}")
        status, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status.split()[1])
        self.headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers.setdefault(name.strip().lower(), []).append(value.strip())
        if self.status == 101:
            self.client.data = rest
            self.body = b""
        else:
            self.client.data = b""
            self.body = rest
        self.frames: list[tuple[int, bytes]] = []
        #: per frame: the RSV1 bit, set on permessage-deflate compressed messages
        self.rsv1: list[bool] = []
        self.close_code: int | None = None
        self._parse()

    # -- sending

    def send_raw(self, data: bytes) -> None:
        self.client_io.write(data)
        self.harness.flush()
        self._parse()

    def send_text(self, text: str) -> None:
        self.send_raw(client_frame(OP_TEXT, text.encode("utf-8")))

    def send_binary(self, data: bytes) -> None:
        self.send_raw(client_frame(OP_BINARY, data))

    def send_close(self, code: int = 1000) -> None:
        self.send_raw(client_frame(OP_CLOSE, struct.pack("!H", code)))

    def drop(self) -> None:
        """The client's TCP connection goes away without a close frame."""
        self.client_io.loseConnection()
        self.harness.flush()

    # -- receiving

    def _parse(self) -> None:
        self.harness.flush()
        data = self.client.data
        while len(data) >= 2:
            b0, b1 = data[0], data[1]
            if b1 & 0x80:
                raise AssertionError("a server frame must not be masked")
            n = b1 & 0x7F
            offset = 2
            if n == 126:
                if len(data) < 4:
                    break
                n = struct.unpack("!H", data[2:4])[0]
                offset = 4
            elif n == 127:
                if len(data) < 10:
                    break
                n = struct.unpack("!Q", data[2:10])[0]
                offset = 10
            if len(data) < offset + n:
                break
            opcode, payload = b0 & 0x0F, data[offset:offset + n]
            if not b0 & 0x80:
                raise AssertionError("the server is expected to send unfragmented frames")
            data = data[offset + n:]
            self.frames.append((opcode, payload))
            self.rsv1.append(bool(b0 & 0x40))
            if opcode == OP_CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                if self.auto_close_reply:
                    self.client_io.write(client_frame(OP_CLOSE, payload[:2]))
        self.client.data = data
        self.pump.flush()

    def received(self) -> list[str | bytes | tuple[str, int | None]]:
        """Everything received since the last call: text as str, binary as
        bytes, a close frame as C{("close", code)}."""
        self._parse()
        out: list[Any] = []
        for opcode, payload in self.frames:
            if opcode == OP_TEXT:
                out.append(payload.decode("utf-8"))
            elif opcode == OP_BINARY:
                out.append(payload)
            elif opcode == OP_CLOSE:
                out.append(("close", struct.unpack("!H", payload[:2])[0] if payload else None))
        self.frames = []
        return out

    @property
    def disconnected(self) -> bool:
        self._parse()
        return self.client.lost is not None


def open_sid(text: str) -> str:
    match = OPEN_RE.match(text)
    if match is None:
        raise AssertionError(f"not an OPEN packet: {text!r}")
    return match.group("sid")


def upgraded(h: Harness, eio: int = 4) -> tuple[str, WebSocketClient]:
    """A polling session upgraded to WebSocket; returns its sid and socket."""
    sid, _ = h.handshake(eio=eio)
    ws = h.websocket(f"EIO={eio}&transport=websocket&sid={sid}")
    ws.send_text("2probe")
    h.test.assertEqual(ws.received(), ["3probe"])
    ws.send_text("5")
    h.test.assertEqual(h.socket(sid).transport, "websocket")
    return sid, ws
