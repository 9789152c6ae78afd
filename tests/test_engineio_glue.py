"""In-memory tests of the Engine.IO glue: server, resource, WebSocket, CORS.

No real sockets and no real time.  The server runs on a
L{MemoryReactorClock}; HTTP goes through treq's in-memory
L{RequestTraversalAgent} (the agent behind C{StubTreq}, used directly so
that no C{Accept-Encoding} is added and bodies arrive exactly as sent);
WebSocket goes over L{twisted.test.iosim} with a raw client written here
(masked client frames, unmasked server frames), so every byte can be checked.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import struct
import zlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
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

from txsocketio.engineio.server import EngineIOServer, EngineIOSocket, OutgoingMessage
from txsocketio.engineio.session import SessionState

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

    def __init__(self, test: SynchronousTestCase, **options: Any) -> None:
        self.test = test
        self.clock = MemoryReactorClock()
        self.events: list[tuple[Any, ...]] = []
        self.on_connect = None
        self.on_message = None
        self.server = EngineIOServer(
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


# -- tests -------------------------------------------------------------------------------


class HandshakeTests(SynchronousTestCase):
    """Opening a session: the OPEN packet, the sid, the transports on offer."""

    def test_polling_v4_body(self):
        """
        C{GET ?EIO=4&transport=polling} answers 200, C{text/plain;
        charset=UTF-8}, with exactly the OPEN packet (Node's defaults), and
        the application sees the connection.
        """
        h = Harness(self)
        response = h.get("EIO=4&transport=polling")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.header("Content-Type"), "text/plain; charset=UTF-8")
        sid = open_sid(response.text())
        self.assertEqual(
            response.text(),
            '0{"sid":"%s","upgrades":["websocket"],"pingInterval":25000,'
            '"pingTimeout":20000,"maxPayload":1000000}' % sid)
        self.assertEqual(list(h.server.sockets), [sid])
        self.assertEqual(h.events, [("connect", h.socket(sid))])
        self.assertEqual(h.socket(sid).protocol, 4)
        self.assertEqual(h.socket(sid).transport, "polling")

    def test_polling_v3_body(self):
        """
        With allow_eio3, C{EIO=3} gets the same OPEN packet in the v3
        length-prefixed payload format.
        """
        h = Harness(self, allow_eio3=True)
        response = h.get("EIO=3&transport=polling")
        self.assertEqual(response.code, 200)
        text = response.text()
        length, _, packet = text.partition(":")
        sid = open_sid(packet)
        self.assertEqual(
            text,
            '%d:0{"sid":"%s","upgrades":["websocket"],"pingInterval":25000,'
            '"pingTimeout":20000,"maxPayload":1000000}' % (len(packet), sid))
        self.assertEqual(h.socket(sid).protocol, 3)

    def test_trailing_slash_optional(self):
        """Both C{/engine.io/?…} and C{/engine.io?…} reach the endpoint."""
        h = Harness(self)
        response = h.get("EIO=4&transport=polling", path=f"http://{HOST}/engine.io")
        self.assertEqual(response.code, 200)
        open_sid(response.text())

    def test_sid_unguessable(self):
        """
        Session ids are URL-safe, at least 120 bits long (base64url: 6 bits a
        character) and all different.
        """
        h = Harness(self)
        sids = {h.handshake()[0] for _ in range(200)}
        self.assertEqual(len(sids), 200)
        for sid in sids:
            self.assertRegex(sid, r"^[A-Za-z0-9_-]+$")
            self.assertGreaterEqual(len(sid) * 6, 120)
        # Every character position varies: the bits are random, not a counter.
        # (The last character of 128 bits in base64 carries only 2 bits.)
        for position in range(len(next(iter(sids))) - 1):
            self.assertGreater(len({sid[position] for sid in sids}), 10)

    def test_times_in_integer_milliseconds(self):
        """Heartbeat settings of 0.3 s and 0.2 s are advertised as 300 and 200."""
        h = Harness(self, ping_interval=0.3, ping_timeout=0.2, max_http_buffer_size=5000)
        match = OPEN_RE.match(h.get("EIO=4&transport=polling").text())
        self.assertEqual((match.group("interval"), match.group("timeout"), match.group("max")),
                         ("300", "200", "5000"))

    def test_websocket_only(self):
        """
        C{GET ?EIO=4&transport=websocket} with Upgrade answers 101; the first
        text frame is the OPEN packet, with no upgrades on offer.
        """
        h = Harness(self)
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual(ws.status, 101)
        frames = ws.received()
        self.assertEqual(len(frames), 1)
        sid = open_sid(frames[0])
        self.assertEqual(
            frames[0],
            '0{"sid":"%s","upgrades":[],"pingInterval":25000,'
            '"pingTimeout":20000,"maxPayload":1000000}' % sid)
        self.assertEqual(h.socket(sid).transport, "websocket")
        self.assertEqual(h.events, [("connect", h.socket(sid))])

    def test_websocket_base64_client(self):
        """
        A client that asked for base64 (C{b64=1}, engine.io-client's
        C{forceBase64}) gets binary messages as C{b<base64>} text frames, and
        its own C{b<base64>} text frames arrive as binary messages.
        """
        h = Harness(self)
        h.on_message = lambda socket, data: socket.send(data)
        ws = h.websocket("EIO=4&transport=websocket&b64=1")
        [opening] = ws.received()
        ws.send_text("bAQL/")
        self.assertEqual(h.events[-1][2], b"\x01\x02\xff")
        self.assertEqual(ws.received()[-1], "bAQL/")

    def test_websocket_only_v3(self):
        """A v3 WebSocket-only session also starts with the OPEN text frame."""
        h = Harness(self, allow_eio3=True)
        ws = h.websocket("EIO=3&transport=websocket")
        self.assertEqual(ws.status, 101)
        [frame] = ws.received()
        self.assertEqual(h.socket(open_sid(frame)).protocol, 3)

    def test_polling_only_server(self):
        """
        With C{transports=("polling",)} the OPEN packet offers no upgrade and a
        WebSocket request is refused with code 0.
        """
        h = Harness(self, transports=("polling",))
        sid, response = h.handshake()
        self.assertIn('"upgrades":[]', response.text())
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual(ws.status, 400)
        self.assertEqual(ws.body, UNKNOWN_TRANSPORT)
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual(ws.status, 400)
        self.assertEqual(ws.body, UNKNOWN_TRANSPORT)
        self.assertEqual(h.socket(sid).transport, "polling")

    def test_websocket_only_server(self):
        """With C{transports=("websocket",)} polling is refused with code 0."""
        h = Harness(self, transports=("websocket",))
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (400, UNKNOWN_TRANSPORT))
        self.assertEqual(h.websocket("EIO=4&transport=websocket").status, 101)

    def test_allow_upgrades_off(self):
        """With allow_upgrades off, polling sessions offer no upgrade."""
        h = Harness(self, allow_upgrades=False)
        sid, response = h.handshake()
        self.assertIn('"upgrades":[]', response.text())
        self.assertFalse(h.socket(sid).session.can_upgrade())

    def test_handshake_record(self):
        """The socket keeps the opening request: query, headers, address."""
        h = Harness(self)
        sid, _ = h.handshake(extra="&token=abc", headers={"X-Thing": "1"})
        handshake = h.socket(sid).handshake
        self.assertEqual(handshake.query["token"], "abc")
        self.assertEqual(handshake.headers["x-thing"], "1")
        self.assertEqual(handshake.headers["host"], HOST)
        self.assertEqual(handshake.address, "127.0.0.1")
        self.assertFalse(handshake.xdomain)

    def test_handshake_time_from_reactor(self):
        """The handshake's issue time comes from the server's reactor, in milliseconds."""
        h = Harness(self)
        h.clock.advance(1234.5)
        sid, _ = h.handshake()
        self.assertEqual(h.socket(sid).handshake.issued, 1234500)


class CookieTests(SynchronousTestCase):
    """The optional C{io} cookie."""

    def test_off_by_default(self):
        """By default no cookie is set, on polling or WebSocket handshakes."""
        h = Harness(self)
        _, response = h.handshake()
        self.assertIsNone(response.header("Set-Cookie"))
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertNotIn("set-cookie", ws.headers)

    def test_polling_cookie(self):
        """
        With C{cookie=True} the polling handshake sets
        C{io=<sid>; Path=/; HttpOnly; SameSite=Lax}; later polls set none.
        """
        h = Harness(self, cookie=True)
        sid, response = h.handshake()
        self.assertEqual(response.header("Set-Cookie"), f"io={sid}; Path=/; HttpOnly; SameSite=Lax")
        h.send(sid, b"4x")
        self.assertIsNone(h.send(sid, b"4x").header("Set-Cookie"))

    def test_websocket_cookie(self):
        """A WebSocket-only session sets the same cookie on its 101 answer."""
        h = Harness(self, cookie=True)
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual(ws.status, 101)
        sid = open_sid(ws.received()[0])
        self.assertEqual(ws.headers.get("set-cookie"),
                         [f"io={sid}; Path=/; HttpOnly; SameSite=Lax"])

    def test_cookie_name(self):
        """A string names the cookie; a dict overrides the attributes."""
        h = Harness(self, cookie="sess")
        sid, response = h.handshake()
        self.assertEqual(response.header("Set-Cookie"), f"sess={sid}; Path=/; HttpOnly; SameSite=Lax")
        h = Harness(self, cookie={"name": "x", "path": "/app", "httponly": False,
                                  "secure": True, "samesite": "None"})
        sid, response = h.handshake()
        self.assertEqual(response.header("Set-Cookie"), f"x={sid}; Path=/app; Secure; SameSite=None")


class ErrorTests(SynchronousTestCase):
    """Requests the protocol refuses: HTTP 400 with Node's JSON body."""

    def assertError(self, response: Response, body: bytes, code: int = 400) -> None:
        self.assertEqual((response.code, response.body), (code, body))
        self.assertEqual(response.header("Content-Type"), "application/json")

    def test_unknown_transport(self):
        """A missing or unknown transport is code 0, "Transport unknown"."""
        h = Harness(self)
        for query in ("EIO=4", "EIO=4&transport=", "EIO=4&transport=flashsocket",
                      "EIO=4&transport=POLLING"):
            self.assertError(h.get(query), UNKNOWN_TRANSPORT)
        self.assertEqual(h.server.sockets, {})

    def test_bad_version(self):
        """
        A missing, empty, non-numeric or unsupported EIO is code 5,
        "Unsupported protocol version".
        """
        h = Harness(self)
        for query in ("transport=polling", "EIO=&transport=polling", "EIO=four&transport=polling",
                      "EIO=5&transport=polling", "EIO=2&transport=polling", "EIO=04&transport=polling",
                      "EIO=3&transport=polling"):
            self.assertError(h.get(query), UNSUPPORTED_VERSION)
        self.assertEqual(h.server.sockets, {})

    def test_bad_version_with_eio3(self):
        """With allow_eio3 on, a missing or bad EIO is still refused (not taken as v3)."""
        h = Harness(self, allow_eio3=True)
        for query in ("transport=polling", "EIO=&transport=polling", "EIO=x&transport=polling"):
            self.assertError(h.get(query), UNSUPPORTED_VERSION)
        self.assertEqual(h.server.sockets, {})

    def test_bad_version_websocket(self):
        """A WebSocket handshake with a bad EIO is refused with code 5 too."""
        h = Harness(self)
        ws = h.websocket("EIO=3&transport=websocket")
        self.assertEqual((ws.status, ws.body), (400, UNSUPPORTED_VERSION))

    def test_unknown_sid(self):
        """An unknown sid is code 1, "Session ID unknown", for GET, POST and WebSocket."""
        h = Harness(self)
        self.assertError(h.get("EIO=4&transport=polling&sid=nope"), UNKNOWN_SID)
        self.assertError(h.post("EIO=4&transport=polling&sid=nope", b"4x"), UNKNOWN_SID)
        ws = h.websocket("EIO=4&transport=websocket&sid=nope")
        self.assertEqual((ws.status, ws.body), (400, UNKNOWN_SID))

    def test_handshake_method(self):
        """POST, PUT and DELETE without a sid are code 2, "Bad handshake method"."""
        h = Harness(self)
        self.assertError(h.post("EIO=4&transport=polling", b"4x"), BAD_HANDSHAKE_METHOD)
        for method in ("PUT", "DELETE", "PATCH"):
            self.assertError(h.request(method, "EIO=4&transport=polling"), BAD_HANDSHAKE_METHOD)
        self.assertEqual(h.server.sockets, {})

    def test_other_methods_with_sid(self):
        """PUT and DELETE on a session are 400 code 3; the session is unharmed."""
        h = Harness(self)
        sid, _ = h.handshake()
        for method in ("PUT", "DELETE"):
            self.assertError(h.request(method, f"EIO=4&transport=polling&sid={sid}", b"4x"),
                             BAD_REQUEST)
        self.assertEqual(h.send(sid, b"4x").body, b"ok")

    def test_version_mismatch(self):
        """A request on a v4 session that says EIO=3 is a bad request."""
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake()
        self.assertError(h.get(f"EIO=3&transport=polling&sid={sid}"), BAD_REQUEST)

    def test_websocket_without_upgrade(self):
        """
        C{transport=websocket} without an Upgrade header is code 3, with or
        without a sid.
        """
        h = Harness(self)
        self.assertError(h.get("EIO=4&transport=websocket"), BAD_REQUEST)
        sid, _ = h.handshake()
        self.assertError(h.get(f"EIO=4&transport=websocket&sid={sid}"), BAD_REQUEST)
        self.assertError(h.post(f"EIO=4&transport=websocket&sid={sid}", b"4x"), BAD_REQUEST)
        self.assertEqual(h.socket(sid).transport, "polling")
        self.assertEqual(list(h.server.sockets), [sid])


class AllowRequestTests(SynchronousTestCase):
    """The C{allow_request} hook: 403 with code 4 on refusal."""

    def test_allowed(self):
        """True or None lets the handshake through; the hook gets the request."""
        for verdict in (True, None):
            seen = []
            h = Harness(self, allow_request=lambda request: seen.append(request) or verdict)
            h.handshake()
            self.assertEqual(len(seen), 1)
            self.assertEqual(seen[0].method, b"GET")

    def test_refused(self):
        """False answers 403 C{{"code":4,"message":"Forbidden"}}; no session."""
        h = Harness(self, allow_request=lambda request: False)
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, FORBIDDEN))
        self.assertEqual(response.header("Content-Type"), "application/json")
        self.assertEqual((h.server.sockets, h.events), ({}, []))

    def test_refused_with_message(self):
        """A string refuses with that message."""
        h = Harness(self, allow_request=lambda request: "no token")
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, error_body(4, "no token")))

    def test_refused_with_code_and_message(self):
        """A (code, message) tuple refuses with that code and message, as Node's hook may."""
        h = Harness(self, allow_request=lambda request: (42, "quota exceeded"))
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, error_body(42, "quota exceeded")))

    def test_deferred(self):
        """
        A Deferred holds the handshake until it fires: True opens the session,
        False answers 403.
        """
        pending: list[Deferred] = []
        h = Harness(self, allow_request=lambda request: pending.append(Deferred()) or pending[-1])
        request = h.start("GET", "EIO=4&transport=polling")
        self.assertFalse(request.done)
        self.assertEqual(h.server.sockets, {})
        pending[0].callback(True)
        self.assertEqual(request.result().code, 200)
        open_sid(request.result().text())
        refused = h.start("GET", "EIO=4&transport=polling")
        pending[1].callback(False)
        self.assertEqual((refused.result().code, refused.result().body), (403, FORBIDDEN))

    def test_coroutine(self):
        """An async hook works like a Deferred."""
        async def allow(request):
            return "go away"
        h = Harness(self, allow_request=allow)
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, error_body(4, "go away")))

    def test_raising(self):
        """A hook that raises (or fails) refuses with 403; the error is logged."""
        def allow(request):
            raise RuntimeError("boom")
        h = Harness(self, allow_request=allow)
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, FORBIDDEN))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        h = Harness(self, allow_request=lambda request: fail(ValueError("late boom")))
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, FORBIDDEN))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(h.server.sockets, {})

    def test_client_gone_before_verdict(self):
        """
        If the client leaves while the hook decides, no session is opened
        when it allows.
        """
        pending: list[Deferred] = []
        h = Harness(self, allow_request=lambda request: pending.append(Deferred()) or pending[-1])
        request = h.start("GET", "EIO=4&transport=polling")
        request.abort()
        pending[0].callback(True)
        h.assert_clean()

    def test_websocket(self):
        """The hook guards WebSocket handshakes too: 101 when allowed, 403 when refused."""
        h = Harness(self, allow_request=lambda request: True)
        self.assertEqual(h.websocket("EIO=4&transport=websocket").status, 101)
        h = Harness(self, allow_request=lambda request: "nope")
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual((ws.status, ws.body), (403, error_body(4, "nope")))
        self.assertEqual(h.server.sockets, {})

    def test_websocket_deferred(self):
        """A WebSocket handshake may wait for a Deferred verdict."""
        pending: list[Deferred] = []
        h = Harness(self, allow_request=lambda request: pending.append(Deferred()) or pending[-1])
        # Start the handshake by hand: the 101 only comes after the verdict.
        client = _RawClient()
        server_protocol = h.site.buildProtocol(IPv4Address("TCP", "10.0.0.2", 1))
        sio = iosim.FakeTransport(server_protocol, isServer=True)
        cio = iosim.FakeTransport(client, isServer=False)
        pump = iosim.connect(server_protocol, sio, client, cio, greet=False, clock=h.clock)
        cio.write(b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: example.com\r\n"
                  b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        pump.flush()
        self.assertEqual(client.data, b"")
        pending[0].callback(True)
        pump.flush()
        self.assertTrue(client.data.startswith(b"HTTP/1.1 101 "), client.data)
        self.assertIn(b'0{"sid":', client.data)
        self.assertEqual(len(h.server.sockets), 1)

    def test_not_called_for_existing_sessions(self):
        """The hook runs once, at the handshake, not for the session's later requests."""
        calls = []
        h = Harness(self, allow_request=lambda request: calls.append(request) and False)
        sid, _ = h.handshake()
        h.send(sid, b"4x")
        h.poll(sid)
        self.assertEqual(len(calls), 1)


class CorsTests(SynchronousTestCase):
    """Cross-origin checks and headers."""

    def acao(self, response: Response) -> str | None:
        return response.header("Access-Control-Allow-Origin")

    def test_same_origin_default(self):
        """
        By default a foreign Origin is refused with 403 and no CORS headers;
        the page's own origin and requests without Origin are served.
        """
        h = Harness(self)
        refused = h.get("EIO=4&transport=polling", headers={"Origin": "http://evil.test"})
        self.assertEqual((refused.code, refused.body), (403, FORBIDDEN))
        self.assertIsNone(self.acao(refused))
        self.assertEqual(h.server.sockets, {})
        _, same = h.handshake(headers={"Origin": f"http://{HOST}"})
        self.assertEqual(self.acao(same), f"http://{HOST}")
        _, none = h.handshake()
        self.assertIsNone(self.acao(none))
        other_scheme = h.get("EIO=4&transport=polling", headers={"Origin": f"https://{HOST}"})
        self.assertEqual(other_scheme.code, 403)

    def test_same_origin_websocket(self):
        """The same-origin default refuses a foreign WebSocket handshake too."""
        h = Harness(self)
        ws = h.websocket("EIO=4&transport=websocket", headers={"Origin": "http://evil.test"})
        self.assertEqual((ws.status, ws.body), (403, FORBIDDEN))
        self.assertEqual(h.websocket("EIO=4&transport=websocket",
                                     headers={"Origin": f"http://{HOST}"}).status, 101)

    def test_list(self):
        """
        A list allows exactly its origins, echoed in Access-Control-Allow-Origin
        with C{Vary: Origin}; others get 403.
        """
        h = Harness(self, cors_allowed_origins=["http://a.test", "http://b.test"])
        _, response = h.handshake(headers={"Origin": "http://b.test"})
        self.assertEqual(self.acao(response), "http://b.test")
        self.assertEqual(response.header("Vary"), "Origin")
        self.assertIsNone(response.header("Access-Control-Allow-Credentials"))
        self.assertEqual(h.get("EIO=4&transport=polling",
                               headers={"Origin": "http://c.test"}).code, 403)
        self.assertEqual(h.get("EIO=4&transport=polling",
                               headers={"Origin": f"http://{HOST}"}).code, 403)

    def test_single_string(self):
        """A single string is one allowed origin."""
        h = Harness(self, cors_allowed_origins="http://a.test")
        _, response = h.handshake(headers={"Origin": "http://a.test"})
        self.assertEqual(self.acao(response), "http://a.test")
        self.assertEqual(h.get("EIO=4&transport=polling",
                               headers={"Origin": "http://a.test.evil"}).code, 403)

    def test_any(self):
        """C{"*"} allows every origin with C{Access-Control-Allow-Origin: *}."""
        h = Harness(self, cors_allowed_origins="*")
        _, response = h.handshake(headers={"Origin": "http://anything.test"})
        self.assertEqual(self.acao(response), "*")

    def test_any_with_credentials(self):
        """
        C{"*"} with credentials echoes the origin (browsers refuse C{*} with
        credentials) and adds C{Access-Control-Allow-Credentials: true}.
        """
        h = Harness(self, cors_allowed_origins="*", cors_credentials=True)
        _, response = h.handshake(headers={"Origin": "http://anything.test"})
        self.assertEqual(self.acao(response), "http://anything.test")
        self.assertEqual(response.header("Access-Control-Allow-Credentials"), "true")
        self.assertEqual(response.header("Vary"), "Origin")

    def test_regex(self):
        """A compiled pattern allows origins it matches fully."""
        h = Harness(self, cors_allowed_origins=re.compile(r"https?://[a-z]+\.example\.org"))
        _, response = h.handshake(headers={"Origin": "https://app.example.org"})
        self.assertEqual(self.acao(response), "https://app.example.org")
        self.assertEqual(h.get("EIO=4&transport=polling",
                               headers={"Origin": "https://app.example.org.evil"}).code, 403)

    def test_callable(self):
        """A callable decides per origin."""
        seen = []
        h = Harness(self, cors_allowed_origins=lambda origin: seen.append(origin) or
                    origin.endswith(".good"))
        _, response = h.handshake(headers={"Origin": "http://x.good"})
        self.assertEqual(self.acao(response), "http://x.good")
        self.assertEqual(h.get("EIO=4&transport=polling",
                               headers={"Origin": "http://x.bad"}).code, 403)
        self.assertEqual(seen, ["http://x.good", "http://x.bad"])

    def test_disabled(self):
        """C{[]} turns checks and headers off: every origin is served, no CORS headers."""
        h = Harness(self, cors_allowed_origins=[])
        _, response = h.handshake(headers={"Origin": "http://evil.test"})
        self.assertIsNone(self.acao(response))

    def test_preflight(self):
        """
        OPTIONS answers 204 with the allowed origin, methods, the requested
        headers and a max age.
        """
        h = Harness(self, cors_allowed_origins=["http://a.test"], cors_credentials=True)
        response = h.request("OPTIONS", "EIO=4&transport=polling", headers={
            "Origin": "http://a.test", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-custom"})
        self.assertEqual(response.code, 204)
        self.assertEqual(response.body, b"")
        self.assertEqual(self.acao(response), "http://a.test")
        self.assertEqual(response.header("Access-Control-Allow-Methods"), "GET, POST, OPTIONS")
        self.assertEqual(response.header("Access-Control-Allow-Headers"), "content-type, x-custom")
        self.assertEqual(response.header("Access-Control-Allow-Credentials"), "true")
        self.assertEqual(response.header("Access-Control-Max-Age"), "86400")
        refused = h.request("OPTIONS", "EIO=4&transport=polling", headers={"Origin": "http://b.test"})
        self.assertEqual(refused.code, 403)
        self.assertIsNone(self.acao(refused))

    def test_headers_on_every_answer(self):
        """
        Allowed cross-origin requests get CORS headers on GET, POST and on
        400 error answers alike.
        """
        h = Harness(self, cors_allowed_origins=["http://a.test"])
        origin = {"Origin": "http://a.test"}
        sid, _ = h.handshake(headers=origin)
        self.assertEqual(self.acao(h.send(sid, b"4x", headers=origin)), "http://a.test")
        h.socket(sid).send("y")
        self.assertEqual(self.acao(h.poll(sid, headers=origin).result()), "http://a.test")
        for response in (h.get("EIO=4&transport=bogus", headers=origin),
                         h.get("EIO=9&transport=polling", headers=origin),
                         h.get("EIO=4&transport=polling&sid=nope", headers=origin),
                         h.post("EIO=4&transport=polling", b"x", headers=origin)):
            self.assertEqual(response.code, 400)
            self.assertEqual(self.acao(response), "http://a.test")

    def test_headers_on_403_from_allow_request(self):
        """A 403 from allow_request carries the CORS headers too."""
        h = Harness(self, cors_allowed_origins="*", allow_request=lambda request: False)
        response = h.get("EIO=4&transport=polling", headers={"Origin": "http://a.test"})
        self.assertEqual(response.code, 403)
        self.assertEqual(self.acao(response), "*")

    def test_xdomain(self):
        """The handshake record says whether the request was cross-origin."""
        h = Harness(self, cors_allowed_origins="*")
        sid, _ = h.handshake(headers={"Origin": "http://a.test"})
        self.assertTrue(h.socket(sid).handshake.xdomain)


class PollingTests(SynchronousTestCase):
    """Long-polling v4: GET carries packets to the client, POST from it."""

    def test_post_answer(self):
        """A POST is answered 200, body C{ok}, C{Content-Type: text/html}."""
        h = Harness(self)
        sid, _ = h.handshake()
        response = h.send(sid, b"4hello")
        self.assertEqual((response.code, response.body), (200, b"ok"))
        self.assertEqual(response.header("Content-Type"), "text/html")
        self.assertEqual(h.messages(), ["hello"])

    def test_post_payload(self):
        """
        A v4 POST payload is packets joined with C{\\x1e}; C{b}+base64 is a
        binary message; messages reach the application in order.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        body = "4a\x1e4h\u00e9\u2603\x1eb" + base64.b64encode(b"\x00\x01\xff").decode() + "\x1e4"
        h.send(sid, body.encode("utf-8"), headers={"Content-Type": "text/plain;charset=UTF-8"})
        self.assertEqual(h.messages(), ["a", "h\u00e9\u2603", b"\x00\x01\xff", ""])

    def test_octet_stream_post(self):
        """A POST sent as application/octet-stream is decoded the same way."""
        h = Harness(self)
        sid, _ = h.handshake()
        h.send(sid, b"4x", headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(h.messages(), ["x"])

    def test_get_payload(self):
        """
        A GET returns every queued packet joined with C{\\x1e}, binary as
        C{b}+base64 (no type digit), as C{text/plain; charset=UTF-8}.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        socket = h.socket(sid)
        socket.send("one")
        socket.send(b"\x01\x02")
        socket.send("th\u00e9")
        response = h.poll(sid).result()
        self.assertEqual(response.code, 200)
        self.assertEqual(response.header("Content-Type"), "text/plain; charset=UTF-8")
        self.assertEqual(response.text(), "4one\x1ebAQI=\x1e4th\u00e9")

    def test_long_poll_waits(self):
        """A GET with nothing to send stays pending until a message is sent."""
        h = Harness(self)
        sid, _ = h.handshake()
        request = h.poll(sid)
        self.assertFalse(request.done)
        self.assertTrue(h.socket(sid).writable)
        h.socket(sid).send("late")
        self.assertEqual(request.result().text(), "4late")
        self.assertFalse(h.socket(sid).writable)

    def test_send_many_one_response(self):
        """send_many() queues several messages that leave in one response."""
        h = Harness(self)
        sid, _ = h.handshake()
        request = h.poll(sid)
        h.socket(sid).send_many(["a", b"b", "c"])
        self.assertEqual(request.result().text(), "4a\x1ebYg==\x1e4c")

    def test_echo_from_callback(self):
        """A message sent from on_message goes to the pending GET."""
        h = Harness(self)
        h.on_message = lambda socket, data: socket.send(data)
        sid, _ = h.handshake()
        request = h.poll(sid)
        h.send(sid, b"4ping")
        self.assertEqual(request.result().text(), "4ping")

    def test_undecodable_post(self):
        """
        A POST body that does not decode is answered 400 (code 3) and closes
        the session ("parse error"); later requests get code 1.
        """
        for body in (b"", b"x", b"4ok\x1e9bad", b"b!!!", b"\xff\xfe"):
            h = Harness(self)
            sid, _ = h.handshake()
            response = h.send(sid, body)
            self.assertEqual((response.code, response.body), (400, BAD_REQUEST), body)
            self.assertEqual(h.disconnects(), ["parse error"])
            self.assertEqual(h.messages(), [])
            self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
            h.assert_clean()

    def test_undecodable_post_releases_get(self):
        """A pending GET is answered with CLOSE when a bad POST closes the session."""
        h = Harness(self)
        sid, _ = h.handshake()
        request = h.poll(sid)
        h.send(sid, b"zzz")
        self.assertEqual(request.result().text(), "1")
        h.assert_clean()

    def test_overlapping_get(self):
        """
        A second GET while one is pending: the first is answered C{1}, the
        second 400, and the session is closed.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        first = h.poll(sid)
        second = h.poll(sid).result()
        self.assertEqual((second.code, second.body), (400, BAD_REQUEST))
        self.assertEqual(first.result().text(), "1")
        self.assertEqual(h.disconnects(), ["transport error"])
        self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
        h.assert_clean()

    def test_aborted_get(self):
        """A client that drops its pending GET closes the session ("transport close")."""
        h = Harness(self)
        sid, _ = h.handshake()
        h.poll(sid).abort()
        self.assertEqual(h.disconnects(), ["transport close"])
        self.assertEqual(h.send(sid, b"4x").body, UNKNOWN_SID)
        h.assert_clean()

    def test_client_close_releases_get(self):
        """
        A POST of C{1} while a GET is pending: the GET is answered C{6}, the
        POST C{ok}, and the session is closed ("transport close").
        """
        h = Harness(self)
        sid, _ = h.handshake()
        request = h.poll(sid)
        self.assertEqual(h.send(sid, b"1").body, b"ok")
        self.assertEqual(request.result().text(), "6")
        self.assertEqual(h.disconnects(), ["transport close"])
        self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
        h.assert_clean()

    def test_client_close_after_messages(self):
        """Messages before a C{1} in the same POST are delivered, then the session closes."""
        h = Harness(self)
        sid, _ = h.handshake()
        h.send(sid, b"4a\x1e4b\x1e1\x1e4c")
        self.assertEqual(h.messages(), ["a", "b"])
        self.assertEqual(h.disconnects(), ["transport close"])
        h.assert_clean()

    def test_post_too_large(self):
        """
        A POST larger than max_http_buffer_size is answered 413 (empty body,
        as Node) and closes the session ("transport error"); nothing of it is
        delivered; a pending GET gets C{1}.
        """
        h = Harness(self, max_http_buffer_size=100)
        sid, _ = h.handshake()
        request = h.poll(sid)
        response = h.send(sid, b"4" + b"x" * 100, headers={"Origin": f"http://{HOST}"})
        self.assertEqual((response.code, response.body), (413, b""))
        self.assertEqual(response.header("Access-Control-Allow-Origin"), f"http://{HOST}")
        self.assertEqual(h.disconnects(), ["transport error"])
        self.assertEqual(request.result().text(), "1")
        self.assertEqual(h.messages(), [])
        self.assertEqual(len(h.disconnects()), 1)
        self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
        h.assert_clean()

    def test_post_at_limit(self):
        """A POST of exactly max_http_buffer_size bytes is accepted."""
        h = Harness(self, max_http_buffer_size=100)
        sid, _ = h.handshake()
        self.assertEqual(h.send(sid, b"4" + b"x" * 99).body, b"ok")
        self.assertEqual(h.messages(), ["x" * 99])

    def test_on_message_closes_mid_payload(self):
        """
        If on_message closes the socket, the rest of the POST's packets are
        dropped, the POST still answers C{ok}, and the socket is closed once.
        """
        h = Harness(self)
        h.on_message = lambda socket, data: socket.close() if data == "b" else None
        sid, _ = h.handshake()
        request = h.poll(sid)
        self.assertEqual(h.send(sid, b"4a\x1e4b\x1e4c").body, b"ok")
        self.assertEqual(h.messages(), ["a", "b"])
        self.assertEqual(h.disconnects(), ["forced close"])
        self.assertEqual(request.result().text(), "1")
        h.assert_clean()

    def test_on_message_error(self):
        """An exception in on_message is logged; the session goes on."""
        h = Harness(self)
        def boom(socket, data):
            raise ValueError(data)
        h.on_message = boom
        sid, _ = h.handshake()
        self.assertEqual(h.send(sid, b"4a\x1e4b").body, b"ok")
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 2)
        self.assertEqual(h.messages(), ["a", "b"])
        self.assertFalse(h.socket(sid).closed)

    def test_on_connect_sends(self):
        """Messages sent from on_connect follow the OPEN packet in the handshake answer."""
        h = Harness(self)
        h.on_connect = lambda socket: socket.send("welcome")
        response = h.get("EIO=4&transport=polling")
        open_packet, _, rest = response.text().partition("\x1e")
        open_sid(open_packet)
        self.assertEqual(rest, "4welcome")

    def test_on_connect_closes(self):
        """
        A session closed from on_connect answers its handshake with the OPEN
        and CLOSE packets and is gone.
        """
        h = Harness(self)
        h.on_connect = lambda socket: socket.close()
        response = h.get("EIO=4&transport=polling")
        open_packet, _, rest = response.text().partition("\x1e")
        open_sid(open_packet)
        self.assertEqual(rest, "1")
        self.assertEqual(h.disconnects(), ["forced close"])
        h.assert_clean()


class HeartbeatTests(SynchronousTestCase):
    """Heartbeats and reaping, driven by the clock."""

    def test_v4_ping_to_pending_get(self):
        """
        After ping_interval the server sends C{2} to the pending GET; a C{3}
        within ping_timeout keeps the session, and the next ping comes
        ping_interval after the pong.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        request = h.poll(sid)
        h.advance(24.9)
        self.assertFalse(request.done)
        h.advance(0.1)
        self.assertEqual(request.result().text(), "2")
        request = h.poll(sid)
        h.advance(5)
        h.send(sid, b"3")
        h.assert_timer_consistent(h.socket(sid))
        h.advance(24.9)
        self.assertFalse(request.done)
        h.advance(0.1)
        self.assertEqual(request.result().text(), "2")
        self.assertEqual(h.disconnects(), [])

    def test_v4_ping_queued_without_get(self):
        """A ping due while no GET is pending waits for the next GET."""
        h = Harness(self)
        sid, _ = h.handshake()
        h.advance(25)
        self.assertEqual(h.poll(sid).result().text(), "2")

    def test_v4_ping_timeout(self):
        """
        No pong within ping_timeout: on_disconnect("ping timeout"), the
        pending GET is answered C{1}, and later requests on the sid get code 1.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        h.advance(25)
        self.assertEqual(h.poll(sid).result().text(), "2")
        request = h.poll(sid)
        h.advance(19.9)
        self.assertEqual(h.disconnects(), [])
        h.advance(0.1)
        self.assertEqual(h.disconnects(), ["ping timeout"])
        self.assertEqual(request.result().text(), "1")
        self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
        self.assertEqual(h.send(sid, b"3").body, UNKNOWN_SID)
        h.assert_clean()

    def test_pong_read_after_a_busy_turn_counts(self):
        """
        When the pong deadline passes, the verdict waits for one more look at
        the network: a pong that arrived while the reactor was busy (read in
        the same turn, before the zero-delay check runs) keeps the session.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        h.advance(25)
        self.assertEqual(h.poll(sid).result().text(), "2")
        socket = h.socket(sid)
        # Run the deadline call by hand, as a late reactor turn would...
        deadline_call = socket._timer
        h.clock.advance(19.999)
        self.assertTrue(deadline_call.active())
        deadline_call.cancel()
        socket._on_deadline()
        # ...then the pong is read before the zero-delay verdict runs.
        h.send(sid, b"3")
        h.advance(0)
        self.assertEqual(h.disconnects(), [])
        h.assert_timer_consistent(socket)

    def test_v4_ping_timeout_without_get(self):
        """The ping timeout is enforced even with no GET pending."""
        h = Harness(self, ping_interval=1, ping_timeout=2)
        h.handshake()
        h.advance(3)
        self.assertEqual(h.disconnects(), ["ping timeout"])
        h.assert_clean()

    def test_v3_client_ping(self):
        """In v3 the client POSTs C{2} and the pending GET is answered C{3}; the server never pings."""
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake(eio=3)
        request = h.poll(sid, eio=3)
        h.advance(24)
        self.assertFalse(request.done)
        h.send(sid, b"1:2", eio=3)
        self.assertEqual(request.result().text(), "1:3")
        request = h.poll(sid, eio=3)
        h.advance(40)
        self.assertFalse(request.done)
        h.send(sid, b"1:2", eio=3)
        self.assertEqual(request.result().text(), "1:3")
        self.assertEqual(h.disconnects(), [])

    def test_v3_silence(self):
        """A v3 client silent for ping_interval + ping_timeout is closed ("ping timeout")."""
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake(eio=3)
        request = h.poll(sid, eio=3)
        h.advance(44.9)
        self.assertEqual(h.disconnects(), [])
        h.advance(0.1)
        self.assertEqual(h.disconnects(), ["ping timeout"])
        self.assertEqual(request.result().text(), "1:1")
        h.assert_clean()

    def test_reaping_without_get(self):
        """
        A polling client that keeps pinging (v3) but never GETs is reaped
        ping_interval + ping_timeout after its last GET ("transport close").
        """
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake(eio=3)
        for _ in range(4):
            h.advance(10)
            h.send(sid, b"1:2", eio=3)
        h.advance(4.9)
        self.assertEqual(h.disconnects(), [])
        h.advance(0.1)
        self.assertEqual(h.disconnects(), ["transport close"])
        h.assert_clean()

    def test_timer_follows_deadline(self):
        """
        After every step (handshake, GET, send, POST, timer) the socket's one
        DelayedCall sits at its session's next deadline.
        """
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake(eio=3)
        socket = h.socket(sid)
        h.assert_timer_consistent(socket)
        request = h.poll(sid, eio=3)
        h.assert_timer_consistent(socket)
        h.advance(30)
        socket.send("x")
        request.result()
        h.assert_timer_consistent(socket)
        h.send(sid, b"1:2", eio=3)
        h.assert_timer_consistent(socket)
        socket.send_many(["a", "b"])
        h.assert_timer_consistent(socket)
        h.poll(sid, eio=3).result()
        h.assert_timer_consistent(socket)
        socket.close()
        h.assert_timer_consistent(socket)


class V3PollingTests(SynchronousTestCase):
    """Engine.IO v3 payload formats over long-polling."""

    def setUp(self):
        self.h = Harness(self, allow_eio3=True)

    def test_length_prefixed_get(self):
        """
        v3 GET payloads are C{<len>:<packet>} with lengths in UTF-16 code
        units: C{6:4hello2:4€}, and C{3:4😀} for an astral character.
        """
        h = self.h
        sid, _ = h.handshake(eio=3)
        socket = h.socket(sid)
        socket.send("hello")
        socket.send("\u20ac")
        socket.send("\U0001F600")
        response = h.poll(sid, eio=3).result()
        self.assertEqual(response.header("Content-Type"), "text/plain; charset=UTF-8")
        self.assertEqual(response.text(), "6:4hello2:4\u20ac3:4\U0001F600")

    def test_length_prefixed_post(self):
        """A v3 POST payload is decoded by its UTF-16 lengths."""
        h = self.h
        sid, _ = h.handshake(eio=3)
        self.assertEqual(h.send(sid, "6:4hello2:4\u20ac3:4\U0001F600".encode(), eio=3).body, b"ok")
        self.assertEqual(h.messages(), ["hello", "\u20ac", "\U0001F600"])

    def test_bad_v3_post(self):
        """A v3 POST whose lengths do not match its content closes the session."""
        h = self.h
        sid, _ = h.handshake(eio=3)
        self.assertEqual(h.send(sid, b"9:4hi", eio=3).code, 400)
        self.assertEqual(h.disconnects(), ["parse error"])
        h.assert_clean()

    def test_b64(self):
        """With C{b64=1}, binary messages are C{<len>:b4<base64>} in a text body."""
        h = self.h
        sid, _ = h.handshake(eio=3, extra="&b64=1")
        h.socket(sid).send(b"\x00\x01\xff")
        h.socket(sid).send("t")
        response = h.poll(sid, eio=3, extra="&b64=1").result()
        self.assertEqual(response.header("Content-Type"), "text/plain; charset=UTF-8")
        self.assertEqual(response.text(), "6:b4AAH/2:4t")

    def test_b64_post(self):
        """A v3 client may POST binary as C{b4}+base64."""
        h = self.h
        sid, _ = h.handshake(eio=3, extra="&b64=1")
        h.send(sid, b"6:b4AAH/", eio=3)
        self.assertEqual(h.messages(), [b"\x00\x01\xff"])

    def test_xhr2_binary_body(self):
        """
        Without b64, a payload holding binary is an C{application/octet-stream}
        body: per packet a 0/1 flag, the length's digits as byte values, 0xFF,
        then the packet (text with its type digit, or 4 and the raw bytes).
        """
        h = self.h
        sid, _ = h.handshake(eio=3)
        h.socket(sid).send("hi")
        h.socket(sid).send(b"\x00\x01\xff")
        response = h.poll(sid, eio=3).result()
        self.assertEqual(response.header("Content-Type"), "application/octet-stream")
        self.assertEqual(response.body, b"\x00\x03\xff4hi" + b"\x01\x04\xff\x04\x00\x01\xff")

    def test_text_only_stays_text(self):
        """Without binary messages a v3 XHR2 client still gets a text body."""
        h = self.h
        sid, _ = h.handshake(eio=3)
        h.socket(sid).send("hi")
        response = h.poll(sid, eio=3).result()
        self.assertEqual(response.header("Content-Type"), "text/plain; charset=UTF-8")
        self.assertEqual(response.body, b"3:4hi")

    def test_xhr2_binary_post(self):
        """A v3 binary POST body is decoded."""
        h = self.h
        sid, _ = h.handshake(eio=3)
        h.send(sid, b"\x01\x04\xff\x04\x00\x01\xff\x00\x03\xff4hi", eio=3,
               headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(h.messages(), [b"\x00\x01\xff", "hi"])

    def test_jsonp_handshake_and_get(self):
        """
        With C{j=<n>} the GET answers C{___eio[n]("<payload>");} as JavaScript;
        binary is base64 inside the string.
        """
        h = self.h
        response = h.get("EIO=3&transport=polling&j=4")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.header("Content-Type"), "text/javascript; charset=UTF-8")
        match = re.match(r'^___eio\[4\]\((".*")\);$', response.text())
        self.assertIsNotNone(match, response.text())
        payload = json.loads(match.group(1))
        length, _, packet = payload.partition(":")
        sid = open_sid(packet)
        h.socket(sid).send('say "hi"\n')
        h.socket(sid).send(b"\xff")
        response = h.poll(sid, eio=3, extra="&j=4").result()
        self.assertEqual(response.text(), '___eio[4]("10:4say \\"hi\\"\\n6:b4/w==");')

    def test_jsonp_post(self):
        """
        A JSONP POST comes form-encoded as C{d=<payload>}, with escaped
        newlines restored; it answers C{ok}.
        """
        h = self.h
        response = h.get("EIO=3&transport=polling&j=0")
        sid = open_sid(json.loads(response.text()[len("___eio[0]("):-2]).partition(":")[2])
        body = b"d=" + b"12%3A4line1%5Cnline2"
        response = h.send(sid, body, eio=3, extra="&j=0",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((response.code, response.body), (200, b"ok"))
        self.assertEqual(h.messages(), ["line1\nline2"])

    def test_jsonp_bad_post(self):
        """A JSONP POST without a C{d} field closes the session with 400."""
        h = self.h
        response = h.get("EIO=3&transport=polling&j=0")
        sid = open_sid(json.loads(response.text()[len("___eio[0]("):-2]).partition(":")[2])
        self.assertEqual(h.send(sid, b"x=1", eio=3, extra="&j=0").code, 400)
        self.assertEqual(h.disconnects(), ["parse error"])

    def test_v4_ignores_j_and_b64(self):
        """C{j} and C{b64} mean nothing to a v4 session."""
        h = self.h
        sid, _ = h.handshake(eio=4, extra="&b64=1&j=3")
        h.socket(sid).send(b"\x01")
        self.assertEqual(h.poll(sid, extra="&j=3").result().text(), "bAQ==")


class CompressionTests(SynchronousTestCase):
    """HTTP compression of polling answers."""

    def poll_with(self, size: int, accept: str | None, **options: Any) -> Response:
        h = Harness(self, **options)
        sid, _ = h.handshake()
        h.socket(sid).send("x" * (size - 1))
        headers = {"Accept-Encoding": accept} if accept is not None else {}
        return h.poll(sid, headers=headers).result()

    def test_gzip(self):
        """A body of 1024 bytes or more is gzipped when the client accepts gzip."""
        response = self.poll_with(1024, "gzip, deflate, br")
        self.assertEqual(response.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(response.body), b"4" + b"x" * 1023)
        self.assertEqual(response.length, len(response.body))

    def test_deflate(self):
        """A client accepting only deflate gets deflate."""
        response = self.poll_with(2000, "deflate")
        self.assertEqual(response.header("Content-Encoding"), "deflate")
        self.assertEqual(zlib.decompress(response.body), b"4" + b"x" * 1999)

    def test_below_threshold(self):
        """A body under 1024 bytes is not compressed."""
        response = self.poll_with(1023, "gzip")
        self.assertIsNone(response.header("Content-Encoding"))
        self.assertEqual(response.body, b"4" + b"x" * 1022)

    def test_not_accepted(self):
        """Without Accept-Encoding nothing is compressed."""
        response = self.poll_with(5000, None)
        self.assertIsNone(response.header("Content-Encoding"))
        self.assertEqual(len(response.body), 5000)

    def test_disabled(self):
        """With http_compression off nothing is compressed."""
        response = self.poll_with(5000, "gzip", http_compression=False)
        self.assertIsNone(response.header("Content-Encoding"))

    def test_accept_encoding_weights(self):
        """
        Accept-Encoding is read with its q-values: C{gzip;q=0} is a refusal,
        C{*} stands for gzip, C{identity} asks for nothing; compressible
        answers say C{Vary: Accept-Encoding}.
        """
        for accept, expected in (("gzip;q=0", None), ("gzip;q=0, deflate", "deflate"),
                                 ("GZIP", "gzip"), ("*", "gzip"), ("*;q=0", None),
                                 ("identity", None), ("br", None), ("deflate;q=0.5, gzip;q=0.1", "gzip"),
                                 ("gzip;q=x", None)):
            response = self.poll_with(2000, accept)
            self.assertEqual(response.header("Content-Encoding"), expected, accept)
            self.assertEqual(response.header("Vary"), "Accept-Encoding")

    def test_threshold_option(self):
        """compression_threshold moves the limit."""
        response = self.poll_with(100, "gzip", compression_threshold=100)
        self.assertEqual(response.header("Content-Encoding"), "gzip")


def upgraded(h: Harness, eio: int = 4) -> tuple[str, WebSocketClient]:
    """A polling session upgraded to WebSocket; returns its sid and socket."""
    sid, _ = h.handshake(eio=eio)
    ws = h.websocket(f"EIO={eio}&transport=websocket&sid={sid}")
    ws.send_text("2probe")
    h.test.assertEqual(ws.received(), ["3probe"])
    ws.send_text("5")
    h.test.assertEqual(h.socket(sid).transport, "websocket")
    return sid, ws


class UpgradeTests(SynchronousTestCase):
    """Polling to WebSocket."""

    def test_full_upgrade(self):
        """
        The probe socket gets 101; C{2probe} is answered C{3probe} on it and
        the pending GET with C{6}; after C{5} the WebSocket is the transport,
        messages queued meanwhile are flushed on it, and polling is 400.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        socket = h.socket(sid)
        request = h.poll(sid)
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.received(), [])
        self.assertTrue(socket.session.upgrading)
        ws.send_text("2probe")
        self.assertEqual(ws.received(), ["3probe"])
        self.assertEqual(request.result().text(), "6")
        socket.send("queued")
        socket.send(b"\x01")
        after_probe = h.poll(sid)
        self.assertEqual(after_probe.result().text(), "4queued\x1ebAQ==")
        socket.send("while paused")
        ws.send_text("5")
        self.assertEqual(socket.transport, "websocket")
        self.assertEqual(ws.received(), ["4while paused"])
        socket.send("direct")
        socket.send(b"\x02")
        self.assertEqual(ws.received(), ["4direct", b"\x02"])
        ws.send_text("4from client")
        ws.send_binary(b"\x03")
        self.assertEqual(h.messages(), ["from client", b"\x03"])
        response = h.poll(sid).result()
        self.assertEqual((response.code, response.body), (400, BAD_REQUEST))
        self.assertEqual(h.send(sid, b"4x").body, BAD_REQUEST)
        self.assertEqual(h.disconnects(), [])
        h.assert_timer_consistent(socket)

    def test_pending_get_released_on_upgrade(self):
        """A GET still pending when C{5} arrives is answered C{6}."""
        h = Harness(self)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.send_text("2probe")
        ws.received()
        request = h.poll(sid)
        self.assertEqual(request.result().text(), "6")
        request = h.poll(sid)
        self.assertEqual(request.result().text(), "6")
        ws.send_text("5")
        self.assertEqual(h.socket(sid).transport, "websocket")

    def test_heartbeat_after_upgrade(self):
        """After the upgrade pings go over the WebSocket; no pong closes the session."""
        h = Harness(self)
        sid, ws = upgraded(h)
        h.advance(25)
        self.assertEqual(ws.received(), ["2"])
        ws.send_text("3")
        h.advance(25)
        self.assertEqual(ws.received(), ["2"])
        h.advance(20)
        self.assertEqual(h.disconnects(), ["ping timeout"])
        self.assertEqual(ws.received(), [("close", 1000)])
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_upgrade_v3(self):
        """The v3 upgrade is the same; binary frames then carry a leading 4."""
        h = Harness(self, allow_eio3=True)
        sid, ws = upgraded(h, eio=3)
        h.socket(sid).send(b"\x01\x02")
        self.assertEqual(ws.received(), [b"\x04\x01\x02"])
        ws.send_binary(b"\x04\x09")
        self.assertEqual(h.messages(), [b"\x09"])

    def test_upgrade_timeout(self):
        """
        No C{5} within upgrade_timeout: the probe socket is closed and the
        session keeps polling.
        """
        h = Harness(self, upgrade_timeout=5)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.send_text("2probe")
        self.assertEqual(ws.received(), ["3probe"])
        h.advance(4.9)
        self.assertFalse(ws.disconnected)
        h.advance(0.1)
        self.assertEqual(ws.received(), [("close", 1000)])
        self.assertTrue(ws.disconnected)
        socket = h.socket(sid)
        self.assertEqual(socket.transport, "polling")
        self.assertFalse(socket.session.upgrading)
        socket.send("still here")
        self.assertEqual(h.poll(sid).result().text(), "4still here")
        request = h.poll(sid)
        self.assertFalse(request.done)
        self.assertEqual(h.disconnects(), [])
        h.assert_timer_consistent(socket)

    def test_upgrade_timeout_without_probe(self):
        """A probe socket that never sends C{2probe} is also dropped on time."""
        h = Harness(self, upgrade_timeout=5)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        h.advance(5)
        self.assertTrue(ws.disconnected)
        self.assertTrue(h.socket(sid).session.can_upgrade())

    def test_retry_after_failed_upgrade(self):
        """After a failed upgrade, a new WebSocket may try again and succeed."""
        h = Harness(self, upgrade_timeout=5)
        sid, _ = h.handshake()
        h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        h.advance(5)
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.send_text("2probe")
        self.assertEqual(ws.received(), ["3probe"])
        ws.send_text("5")
        self.assertEqual(h.socket(sid).transport, "websocket")

    def test_probe_socket_closed_by_client(self):
        """A client that closes its probe socket before C{5} keeps polling."""
        h = Harness(self)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.send_text("2probe")
        ws.received()
        ws.send_close()
        self.assertTrue(ws.disconnected)
        socket = h.socket(sid)
        self.assertEqual(socket.transport, "polling")
        self.assertFalse(socket.session.upgrading)
        socket.send("x")
        self.assertEqual(h.poll(sid).result().text(), "4x")
        self.assertEqual(h.disconnects(), [])

    def test_probe_socket_dropped(self):
        """A probe socket whose TCP connection drops leaves the session polling."""
        h = Harness(self)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.drop()
        self.assertTrue(h.socket(sid).session.can_upgrade())
        self.assertEqual(h.disconnects(), [])

    def test_bad_packet_on_probe(self):
        """
        Anything but C{2probe}, C{5} or C{6} on the probe socket drops the
        probe; the session keeps polling.
        """
        for frame in ("4hello", "5", "2", "xyz"):
            h = Harness(self)
            sid, _ = h.handshake()
            ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
            ws.send_text(frame)
            self.assertTrue(ws.disconnected, frame)
            self.assertEqual(h.socket(sid).transport, "polling")
            self.assertFalse(h.socket(sid).session.upgrading)
            self.assertEqual(h.messages(), [])
            self.assertEqual(h.disconnects(), [])

    def test_second_websocket_after_upgrade(self):
        """
        A second WebSocket on an already upgraded sid completes the 101
        handshake and is then closed; the session is unharmed.
        """
        h = Harness(self)
        sid, ws = upgraded(h)
        second = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual(second.status, 101)
        self.assertEqual(second.received(), [("close", 1000)])
        self.assertTrue(second.disconnected)
        h.socket(sid).send("still")
        self.assertEqual(ws.received(), ["4still"])
        self.assertEqual(h.disconnects(), [])

    def test_second_websocket_while_upgrading(self):
        """A WebSocket on a sid that is already upgrading gets 101 and a close."""
        h = Harness(self)
        sid, _ = h.handshake()
        first = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        second = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual(second.status, 101)
        self.assertEqual(second.received(), [("close", 1000)])
        self.assertTrue(second.disconnected)
        first.send_text("2probe")
        self.assertEqual(first.received(), ["3probe"])
        first.send_text("5")
        self.assertEqual(h.socket(sid).transport, "websocket")

    def test_second_websocket_on_websocket_session(self):
        """A WebSocket naming the sid of a WebSocket-only session gets 101 and a close."""
        h = Harness(self)
        ws = h.websocket("EIO=4&transport=websocket")
        sid = open_sid(ws.received()[0])
        second = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual((second.status, second.received()), (101, [("close", 1000)]))
        self.assertFalse(h.socket(sid).closed)

    def test_websocket_with_upgrades_off(self):
        """With allow_upgrades off, a WebSocket on a polling sid gets 101 and a close."""
        h = Harness(self, allow_upgrades=False)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual((ws.status, ws.received()), (101, [("close", 1000)]))
        self.assertEqual(h.socket(sid).transport, "polling")

    def test_session_closed_during_upgrade(self):
        """Closing a session while its upgrade is under way closes the probe socket too."""
        h = Harness(self)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.send_text("2probe")
        ws.received()
        self.assertEqual(h.poll(sid).result().text(), "6")
        self.assertEqual(h.send(sid, b"1").body, b"ok")
        self.assertEqual(h.disconnects(), ["transport close"])
        self.assertEqual(ws.received(), [("close", 1000)])
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_upgrade_completes_while_closing(self):
        """
        A session closed by the server after the probe still accepts C{5}; the
        CLOSE packet then goes out on the WebSocket and everything is cleaned up.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}", auto_close_reply=False)
        ws.send_text("2probe")
        ws.received()
        socket = h.socket(sid)
        socket.close()
        self.assertEqual(h.disconnects(), ["forced close"])
        ws.send_text("5")
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        # Finished as soon as the CLOSE packet is written, not when the
        # client gets round to answering the close frame.
        self.assertIs(socket.session.state, SessionState.CLOSED)
        self.assertEqual(h.server.sockets, {})
        ws.send_close()
        h.assert_clean()


class WebSocketTests(SynchronousTestCase):
    """Sessions carried over WebSocket from the start."""

    def open(self, h: Harness, eio: int = 4, **kw: Any) -> tuple[str, WebSocketClient]:
        ws = h.websocket(f"EIO={eio}&transport=websocket", **kw)
        self.assertEqual(ws.status, 101)
        return open_sid(ws.received()[0]), ws

    def test_messages(self):
        """
        One packet per frame: text frames are C{4<text>}, binary frames the raw
        bytes (v4); both ways.
        """
        h = Harness(self)
        sid, ws = self.open(h)
        ws.send_text("4h\u00e9llo")
        ws.send_binary(b"\x00\xff")
        ws.send_text("4")
        self.assertEqual(h.messages(), ["h\u00e9llo", b"\x00\xff", ""])
        socket = h.socket(sid)
        self.assertTrue(socket.writable)
        socket.send("back")
        socket.send(b"\x01")
        socket.send_many(["m1", "m2"])
        self.assertEqual(ws.received(), ["4back", b"\x01", "4m1", "4m2"])

    def test_v3_binary_frames(self):
        """In v3, binary frames carry a leading type byte 4, both ways."""
        h = Harness(self, allow_eio3=True)
        sid, ws = self.open(h, eio=3)
        ws.send_binary(b"\x04\x00\xff")
        self.assertEqual(h.messages(), [b"\x00\xff"])
        h.socket(sid).send(b"\x01")
        self.assertEqual(ws.received(), [b"\x04\x01"])

    def test_v3_bad_binary_frame(self):
        """A v3 binary frame without the type byte 4 closes the session."""
        h = Harness(self, allow_eio3=True)
        _, ws = self.open(h, eio=3)
        ws.send_binary(b"\x00\xff")
        self.assertEqual(h.disconnects(), ["parse error"])
        h.assert_clean()

    def test_v3_client_ping(self):
        """A v3 client's C{2} is answered C{3} on the WebSocket."""
        h = Harness(self, allow_eio3=True)
        _, ws = self.open(h, eio=3)
        ws.send_text("2")
        self.assertEqual(ws.received(), ["3"])

    def test_heartbeat(self):
        """The server pings over the WebSocket; a missing pong closes it with 1000."""
        h = Harness(self, ping_interval=1, ping_timeout=0.5)
        _, ws = self.open(h)
        h.advance(1)
        self.assertEqual(ws.received(), ["2"])
        ws.send_text("3")
        h.advance(1)
        self.assertEqual(ws.received(), ["2"])
        h.advance(0.5)
        self.assertEqual(h.disconnects(), ["ping timeout"])
        self.assertEqual(ws.received(), [("close", 1000)])
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_invalid_text_frame(self):
        """A text frame that is not a packet (C{abc}) closes the session ("parse error")."""
        for frame in ("abc", "", "9"):
            h = Harness(self)
            _, ws = self.open(h)
            ws.send_text(frame)
            self.assertEqual(h.disconnects(), ["parse error"], frame)
            self.assertEqual(ws.received(), [("close", 1000)])
            self.assertTrue(ws.disconnected)
            h.assert_clean()

    def test_protocol_violation_packets(self):
        """A v4 client PING on the session is a "transport error"; OPEN is a "parse error"."""
        for frame, reason in (("2", "transport error"), ("0", "parse error"), ("5", "parse error")):
            h = Harness(self)
            _, ws = self.open(h)
            ws.send_text(frame)
            self.assertEqual(h.disconnects(), [reason], frame)
            self.assertTrue(ws.disconnected)
            h.assert_clean()

    def test_client_close_packet(self):
        """A C{1} from the client closes the session ("transport close") and the socket."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_text("1")
        self.assertEqual(h.disconnects(), ["transport close"])
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_client_close_frame(self):
        """A WebSocket close from the client ends the session ("transport close")."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_close()
        self.assertEqual(h.disconnects(), ["transport close"])
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_client_drops_tcp(self):
        """A dropped TCP connection ends the session ("transport close")."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.drop()
        self.assertEqual(h.disconnects(), ["transport close"])
        h.assert_clean()

    def test_oversize_message(self):
        """
        A message over max_http_buffer_size gets a close frame with code 1009
        (not a dropped TCP connection) and ends the session.
        """
        h = Harness(self, max_http_buffer_size=100)
        _, ws = self.open(h)
        ws.send_text("4" + "x" * 99)
        self.assertEqual(h.messages(), ["x" * 99])
        ws.send_text("4" + "x" * 100)
        received = ws.received()
        self.assertEqual(received[-1], ("close", 1009))
        self.assertEqual(ws.close_code, 1009)
        self.assertTrue(ws.disconnected)
        self.assertEqual(h.messages(), ["x" * 99])
        self.assertEqual(h.disconnects(), ["transport error"])
        h.assert_clean()

    def test_invalid_utf8(self):
        """A text frame that is not UTF-8 gets close code 1007: "transport error"."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_raw(client_frame(OP_TEXT, b"4\xff\xfe"))
        self.assertEqual(ws.close_code, 1007)
        self.assertEqual(h.disconnects(), ["transport error"])
        h.assert_clean()

    def test_oversize_fragmented_message(self):
        """A message over the limit in several small frames is refused with 1009 too."""
        h = Harness(self, max_http_buffer_size=100)
        _, ws = self.open(h)
        ws.send_raw(client_frame(OP_TEXT, b"4" + b"x" * 60, fin=False))
        ws.send_raw(client_frame(0, b"x" * 60, fin=True))
        self.assertEqual(ws.close_code, 1009)
        self.assertEqual(h.messages(), [])
        h.assert_clean()

    def test_server_close(self):
        """EngineIOSocket.close() sends C{1} and a close frame 1000; on_disconnect once."""
        h = Harness(self)
        sid, ws = self.open(h)
        h.socket(sid).close()
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        self.assertTrue(ws.disconnected)
        self.assertEqual(h.disconnects(), ["forced close"])
        h.assert_clean()

    def test_close_handshake_timer_on_server_reactor(self):
        """
        A client that never answers the close frame is dropped after
        autobahn's close-handshake timeout, timed on the server's reactor (not
        the global one): the session is gone at once and the TCP connection
        once the clock moves.
        """
        h = Harness(self)
        sid, ws = self.open(h, auto_close_reply=False)
        h.socket(sid).close()
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        self.assertEqual(h.server.sockets, {})
        self.assertFalse(ws.disconnected)
        self.assertNotEqual(h.clock.getDelayedCalls(), [])
        h.advance(1)
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_send_while_peer_closing(self):
        """
        Sending to a socket whose client has sent its close frame (before the
        connection is gone) does not raise; nothing is written.
        """
        h = Harness(self)
        sid, ws = self.open(h)
        socket = h.socket(sid)
        protocol = ws.server_io.protocol
        # Deliver the close frame straight to the server protocol, without
        # pumping: the TCP connection is not closed yet.
        protocol.dataReceived(client_frame(OP_CLOSE, struct.pack("!H", 1000)))
        self.assertFalse(socket.writable)
        socket.send("late")
        socket.send(b"late")
        socket.send(OutgoingMessage("late"))
        socket.close()
        h.advance(25)
        self.assertEqual(h.disconnects(), ["forced close"])
        self.assertEqual([f for f in ws.received() if f != ("close", 1000)], [])
        h.assert_clean()

    def test_on_connect_sends(self):
        """Messages sent from on_connect follow the OPEN packet."""
        h = Harness(self)
        h.on_connect = lambda socket: socket.send("hello")
        ws = h.websocket("EIO=4&transport=websocket")
        frames = ws.received()
        open_sid(frames[0])
        self.assertEqual(frames[1:], ["4hello"])

    def test_on_connect_closes(self):
        """A WebSocket session closed from on_connect sends OPEN, C{1}, and closes."""
        h = Harness(self)
        h.on_connect = lambda socket: socket.close()
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual(ws.status, 101)
        frames = ws.received()
        open_sid(frames[0])
        self.assertEqual(frames[1:], ["1", ("close", 1000)])
        self.assertEqual(h.disconnects(), ["forced close"])
        h.assert_clean()

    def test_failed_opening_handshake(self):
        """
        If the WebSocket handshake fails after the session was created (here:
        a malformed permessage-deflate offer), the session ends with
        "transport close" and nothing is left behind.
        """
        h = Harness(self, per_message_deflate=True)
        ws = h.websocket("EIO=4&transport=websocket",
                         headers={"Sec-WebSocket-Extensions": "permessage-deflate; bogus=1"})
        self.assertNotEqual(ws.status, 101)
        self.assertEqual(len([e for e in h.events if e[0] == "connect"]),
                         len(h.disconnects()))
        h.assert_clean()

    def test_per_message_deflate(self):
        """With per_message_deflate on, an offer is accepted and messages still flow."""
        h = Harness(self, per_message_deflate=True)
        ws = h.websocket("EIO=4&transport=websocket",
                         headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
        self.assertEqual(ws.status, 101)
        self.assertIn("permessage-deflate", ws.headers.get("sec-websocket-extensions", [""])[0])

    def test_per_message_deflate_honours_compress_false(self):
        """
        With permessage-deflate negotiated, a message prepared with
        C{compress=False} goes out uncompressed (RSV1 clear, the plain
        packet), while the default one is compressed (RSV1 set).
        """
        from txsocketio.engineio.server import OutgoingMessage

        h = Harness(self, per_message_deflate=True)
        ws = h.websocket("EIO=4&transport=websocket",
                         headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
        import zlib

        [(_, compressed)] = ws.frames
        opening = zlib.decompressobj(-15).decompress(compressed + b"\x00\x00\xff\xff").decode()
        socket = h.socket(open_sid(opening))
        text = "x" * 300
        socket.send(OutgoingMessage(text))
        socket.send(OutgoingMessage(text, compress=False))
        ws._parse()
        self.assertEqual(ws.rsv1[-2:], [True, False])
        self.assertLess(len(ws.frames[-2][1]), 100)
        self.assertEqual(ws.frames[-1][1], b"4" + text.encode())

    def test_per_message_deflate_off(self):
        """By default no compression extension is negotiated."""
        h = Harness(self)
        ws = h.websocket("EIO=4&transport=websocket",
                         headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
        self.assertNotIn("sec-websocket-extensions", ws.headers)

    def test_websocket_sid_gets_no_polling(self):
        """Polling requests on a WebSocket-only session are 400."""
        h = Harness(self)
        sid, _ = self.open(h)
        response = h.poll(sid).result()
        self.assertEqual((response.code, response.body), (400, BAD_REQUEST))


class SocketAPITests(SynchronousTestCase):
    """EngineIOSocket and EngineIOServer as the application uses them."""

    def test_close_polling_with_pending_get(self):
        """
        close() answers a pending GET with C{1}, reports "forced close" once,
        and forgets the session; later requests get code 1.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        socket = h.socket(sid)
        request = h.poll(sid)
        socket.close()
        self.assertTrue(socket.closed)
        self.assertEqual(request.result().text(), "1")
        self.assertEqual(h.disconnects(), ["forced close"])
        socket.close()
        socket.send("ignored")
        self.assertEqual(h.disconnects(), ["forced close"])
        self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
        h.assert_clean()

    def test_close_polling_without_get(self):
        """
        close() with no GET pending keeps the session CLOSING: the next GET
        gets the queued messages and C{1}, and then the session is gone.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        socket = h.socket(sid)
        socket.send("last words")
        socket.close("server shutting down")
        self.assertIs(socket.session.state, SessionState.CLOSING)
        self.assertEqual(h.disconnects(), ["server shutting down"])
        self.assertFalse(socket.writable)
        socket.send("too late")
        h.send(sid, b"4ignored")
        self.assertEqual(h.messages(), [])
        h.assert_timer_consistent(socket)
        self.assertEqual(h.poll(sid).result().text(), "4last words\x1e1")
        self.assertIs(socket.session.state, SessionState.CLOSED)
        self.assertEqual(h.disconnects(), ["server shutting down"])
        h.assert_clean()

    def test_closing_deadline(self):
        """A CLOSING polling session whose client never polls again is forgotten after ping_timeout."""
        h = Harness(self)
        sid, _ = h.handshake()
        h.socket(sid).close()
        h.advance(19.9)
        self.assertIn(sid, h.server.sockets)
        h.advance(0.1)
        self.assertEqual(h.disconnects(), ["forced close"])
        h.assert_clean()

    def test_close_all(self):
        """
        close_all() closes every session ("server shutting down"), whatever
        its transport; with the clients' last polls, nothing is left.
        """
        h = Harness(self, allow_eio3=True)
        polling_sid, _ = h.handshake()
        v3_sid, _ = h.handshake(eio=3)
        pending = h.poll(v3_sid, eio=3)
        ws = h.websocket("EIO=4&transport=websocket")
        open_sid(ws.received()[0])
        h.server.close_all()
        self.assertEqual(sorted(h.disconnects()), ["server shutting down"] * 3)
        self.assertEqual(pending.result().text(), "1:1")
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        self.assertEqual(h.poll(polling_sid).result().text(), "1")
        h.assert_clean()

    def test_close_all_deadline(self):
        """Sessions that never poll again after close_all() are gone after ping_timeout."""
        h = Harness(self)
        for _ in range(3):
            h.handshake()
        h.server.close_all()
        h.advance(20)
        h.assert_clean()

    def test_outgoing_message(self):
        """
        An OutgoingMessage reaches several sockets of both versions and both
        transports, framed once per version for WebSocket.
        """
        h = Harness(self, allow_eio3=True)
        sid4, _ = h.handshake()
        sid3, _ = h.handshake(eio=3)
        ws4 = h.websocket("EIO=4&transport=websocket")
        ws4_sid = open_sid(ws4.received()[0])
        ws3 = h.websocket("EIO=3&transport=websocket")
        ws3_sid = open_sid(ws3.received()[0])
        for data, text4, text3, frame4, frame3 in (
                ("hi", "4hi", "3:4hi", "4hi", "4hi"),
                (b"\x01\x02", "bAQI=", None, b"\x01\x02", b"\x04\x01\x02")):
            message = h.server.prepare(data)
            self.assertIsInstance(message, OutgoingMessage)
            for sid in (sid4, sid3, ws4_sid, ws3_sid):
                h.socket(sid).send(message)
            self.assertEqual(h.poll(sid4).result().text(), text4)
            response = h.poll(sid3, eio=3).result()
            if text3 is not None:
                self.assertEqual(response.text(), text3)
            else:
                self.assertEqual(response.body, b"\x01\x03\xff\x04\x01\x02")
            self.assertEqual(ws4.received(), [frame4])
            self.assertEqual(ws3.received(), [frame3])
            self.assertIs(message.prepared(4), message.prepared(4))

    def test_outgoing_message_compressed(self):
        """
        An OutgoingMessage also reaches a socket that negotiated
        permessage-deflate (compressed there, not sent pre-framed).
        """
        h = Harness(self, per_message_deflate=True)
        ws = h.websocket("EIO=4&transport=websocket",
                         headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
        inflate = zlib.decompressobj(-15)
        ws._parse()
        texts = []
        for opcode, payload in ws.frames:
            self.assertEqual(opcode, OP_TEXT)
            texts.append(inflate.decompress(payload + b"\x00\x00\xff\xff").decode())
        ws.frames = []
        [open_packet] = texts
        h.socket(open_sid(open_packet)).send(h.server.prepare("hello"))
        ws._parse()
        [(opcode, payload)] = ws.frames
        self.assertEqual(inflate.decompress(payload + b"\x00\x00\xff\xff"), b"4hello")

    def test_large_outgoing_messages(self):
        """
        max_http_buffer_size limits what the client sends, not what the
        server sends: larger messages go out on both transports.
        """
        h = Harness(self, max_http_buffer_size=100)
        sid, _ = h.handshake()
        h.socket(sid).send("x" * 500)
        self.assertEqual(h.poll(sid).result().text(), "4" + "x" * 500)
        ws = h.websocket("EIO=4&transport=websocket")
        ws_sid = open_sid(ws.received()[0])
        h.socket(ws_sid).send("y" * 500)
        h.socket(ws_sid).send(b"z" * 500)
        h.socket(ws_sid).send(h.server.prepare("w" * 500))
        self.assertEqual(ws.received(), ["4" + "y" * 500, b"z" * 500, "4" + "w" * 500])
        self.assertEqual(h.disconnects(), [])

    def test_on_message_closes_websocket(self):
        """on_message may close a WebSocket session: C{1}, close frame, on_disconnect once."""
        h = Harness(self)
        h.on_message = lambda socket, data: socket.close()
        ws = h.websocket("EIO=4&transport=websocket")
        ws.received()
        ws.send_text("4bye")
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        self.assertEqual(h.disconnects(), ["forced close"])
        h.assert_clean()

    def test_on_disconnect_error(self):
        """An exception in on_disconnect is logged; the session is still cleaned up."""
        h = Harness(self)
        def boom(socket, reason):
            raise RuntimeError(reason)
        h.server.on_disconnect = boom
        sid, _ = h.handshake()
        h.send(sid, b"1")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        h.assert_clean()

    def test_on_connect_error(self):
        """An exception in on_connect is logged; the handshake still succeeds."""
        h = Harness(self)
        def boom(socket):
            raise RuntimeError("connect")
        h.on_connect = boom
        h.handshake()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_socket_properties(self):
        """sid, protocol, transport, closed and writable describe the session."""
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake(eio=3)
        socket = h.socket(sid)
        self.assertEqual((socket.sid, socket.protocol, socket.transport, socket.closed),
                         (sid, 3, "polling", False))
        self.assertFalse(socket.writable)
        request = h.poll(sid, eio=3)
        self.assertTrue(socket.writable)
        socket.close()
        self.assertTrue(socket.closed)
        self.assertFalse(socket.writable)
        request.result()

    def test_bad_settings(self):
        """Nonsensical settings are refused when the server is built."""
        clock = MemoryReactorClock()
        self.assertRaises(ValueError, EngineIOServer, reactor=clock, transports=())
        self.assertRaises(ValueError, EngineIOServer, reactor=clock, transports=("flashsocket",))
        self.assertRaises(ValueError, EngineIOServer, reactor=clock, ping_interval=0)
        self.assertRaises(ValueError, EngineIOServer, reactor=clock, ping_timeout=-1)
        self.assertRaises(ValueError, EngineIOServer, reactor=clock, upgrade_timeout=0)


class HygieneTests(SynchronousTestCase):
    """Nothing outlives the sessions: no table entries, no timers."""

    def test_many_sessions_all_ways_of_ending(self):
        """
        Sessions ended in every way (client close, abort, bad POST, overlap,
        ping timeout, reaping, server close, WebSocket close/drop/bad frame,
        failed and successful upgrades) leave server.sockets empty and no
        DelayedCall on the clock.
        """
        h = Harness(self, allow_eio3=True, upgrade_timeout=5)
        a, _ = h.handshake()
        h.send(a, b"1")
        b, _ = h.handshake()
        h.poll(b).abort()
        c, _ = h.handshake()
        h.send(c, b"?")
        d, _ = h.handshake()
        first = h.poll(d)
        h.poll(d)
        first.result()
        e, _ = h.handshake()
        h.socket(e).close()
        h.poll(e).result()
        f, _ = h.handshake()
        probe = h.websocket(f"EIO=4&transport=websocket&sid={f}")
        g, ws_g = upgraded(h)
        ws_g.send_close()
        ws1 = h.websocket("EIO=4&transport=websocket")
        ws1.send_text("1")
        ws2 = h.websocket("EIO=4&transport=websocket")
        ws2.drop()
        ws3 = h.websocket("EIO=3&transport=websocket")
        ws3.send_text("nonsense")
        v3, _ = h.handshake(eio=3)
        h.advance(5)
        self.assertTrue(probe.disconnected)
        self.assertEqual(len(h.server.sockets), 2)  # f (polling, idle) and v3
        h.advance(45)
        self.assertEqual(len(h.disconnects()), len([e for e in h.events if e[0] == "connect"]))
        h.assert_clean()


_BODIES = [b"4hi", b"4a\x1e4b", b"3", b"2", b"1", b"5", b"6", b"bAQI=", b"x", b"", b"4\xff",
           b"2probe", b"0", b"4" + b"x" * 200]
_FRAMES = ["2probe", "5", "3", "4hi", "6", "1", "2", "abc", ""]
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("get"), st.integers(0, 2)),
        st.tuples(st.just("post"), st.sampled_from(_BODIES)),
        st.tuples(st.just("abort"), st.integers(0, 3)),
        st.tuples(st.just("advance"), st.sampled_from([0.1, 1.0, 4.0, 9.0, 20.0])),
        st.tuples(st.just("websocket"), st.booleans()),
        st.tuples(st.just("frame"), st.sampled_from(_FRAMES)),
        st.tuples(st.just("ws_close"), st.booleans()),
        st.tuples(st.just("server_send"), st.sampled_from(["m", b"\x00"])),
        st.tuples(st.just("server_close"), st.just(None)),
        st.tuples(st.just("handshake"), st.sampled_from([3, 4])),
    ),
    max_size=25,
)


class RandomClientTests(SynchronousTestCase):
    """Arbitrary client behaviour never breaks the server's bookkeeping."""

    @settings(max_examples=150, deadline=None)
    @given(steps=_steps)
    def test_random_clients(self, steps):
        """
        Random handshakes, GETs, POSTs, aborts, WebSocket probes and frames,
        server sends and closes, and time passing: after every step each live
        session's timer sits at its deadline and no session reports more than
        one disconnect; at the end close_all() and time answer every request
        and leave no session and no DelayedCall.
        """
        h = Harness(self, allow_eio3=True, max_http_buffer_size=100, upgrade_timeout=5)
        h.on_message = lambda socket, data: socket.send(data) if data == "hi" else None
        sessions: list[tuple[str, int]] = []
        requests: list[PendingRequest] = []
        sockets: list[WebSocketClient] = []
        for name, arg in steps:
            if name == "handshake" or not sessions:
                version = arg if name == "handshake" else 4
                sessions.append((h.handshake(eio=version)[0], version))
                if name == "handshake":
                    continue
            sid, version = sessions[-1]
            if name == "get":
                requests.append(h.poll(sid, eio=version))
            elif name == "post":
                body = arg
                if version == 3:
                    body = b"%d:%s" % (len(arg), arg)
                h.send(sid, body, eio=version)
            elif name == "abort":
                pending = [r for r in requests if not r.done and not r.aborted]
                if pending:
                    pending[arg % len(pending)].abort()
            elif name == "advance":
                h.advance(arg)
            elif name == "websocket":
                query = f"EIO={version}&transport=websocket"
                sockets.append(h.websocket(query + (f"&sid={sid}" if arg else "")))
            elif name == "frame" and sockets:
                if sockets[-1].status == 101 and not sockets[-1].disconnected:
                    sockets[-1].send_text(arg)
            elif name == "ws_close" and sockets:
                if sockets[-1].status == 101 and not sockets[-1].disconnected:
                    sockets[-1].send_close() if arg else sockets[-1].drop()
            elif name == "server_send" and sid in h.server.sockets:
                h.socket(sid).send(arg)
            elif name == "server_close" and sid in h.server.sockets:
                h.socket(sid).close()
            for socket in h.server.sockets.values():
                self.assertIsNot(socket.session.state, SessionState.CLOSED)
                h.assert_timer_consistent(socket)
            closed = [e[1] for e in h.events if e[0] == "disconnect"]
            self.assertEqual(len(closed), len(set(map(id, closed))))
            for socket in closed:
                if socket.sid in h.server.sockets:
                    # Told already; waits to write its CLOSE packet.
                    self.assertIs(socket.session.state, SessionState.CLOSING)
        h.server.close_all()
        h.advance(60)
        for request in requests:
            self.assertTrue(request.aborted or request.done, "a long-poll was never answered")
        for ws in sockets:
            if ws.status == 101:
                self.assertTrue(ws.disconnected, "a WebSocket was left open")
        connects = [e[1] for e in h.events if e[0] == "connect"]
        self.assertEqual(len(h.disconnects()), len(connects))
        h.assert_clean()
