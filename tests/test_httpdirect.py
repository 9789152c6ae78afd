"""The direct path of :class:`txsocketio.http.SocketIOSite`
(:mod:`txsocketio.httpdirect`): Engine.IO long-polling driven in memory
(MemoryReactorClock, StringTransport), checked against twisted.web's own
answers to the same bytes."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest
from twisted.web.resource import Resource

from txsocketio import SocketIOServer
from txsocketio.http import HELD_BYTES, Request, SocketIOSite
from txsocketio.httpdirect import DirectRequest, HTTPDate
from txsocketio.web import SocketIOResource, build_root


class CountingRequest(Request):
    """A twisted.web request that counts its instances (the direct path makes none)."""

    made = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        CountingRequest.made += 1
        super().__init__(*args, **kwargs)


def parse(raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Status, headers (lower-case names) and body of one response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(b" ")[1]), headers, body


class Server:
    """A Socket.IO server behind a SocketIOSite, with or without the direct path."""

    def __init__(self, *, direct: bool = True, sio_kwargs: dict[str, Any] | None = None,
                 **site_kwargs: Any) -> None:
        self.clock = MemoryReactorClock()
        self.sio = SocketIOServer(reactor=self.clock, cors_allowed_origins="http://example.com",
                                  **(sio_kwargs or {}))
        self.resource = SocketIOResource(self.sio)
        self.site = SocketIOSite(build_root(self.resource), reactor=self.clock,
                                 requestFactory=CountingRequest, **site_kwargs)
        self.site.limit_path("/socket.io/", lambda: self.sio.engine.max_http_buffer_size)
        if direct:
            self.site.serve_directly("/socket.io/", self.resource)

    def connect(self) -> tuple[Any, StringTransport]:
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        channel.makeConnection(transport)
        return channel, transport

    def exchange(self, transport: StringTransport, channel: Any, data: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        transport.clear()
        channel.dataReceived(data)
        return parse(transport.value())

    def handshake(self) -> str:
        channel, transport = self.connect()
        code, _, body = self.exchange(transport, channel, get(""))
        assert code == 200, body
        return str(json.loads(body[1:].split(b"\x1e")[0])["sid"])


def get(query: str, extra: bytes = b"") -> bytes:
    return (b"GET /socket.io/?EIO=4&transport=polling%s HTTP/1.1\r\nHost: example.com\r\n"
            b"Origin: http://example.com\r\n%s\r\n" % (query.encode(), extra))


def post(query: str, body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST /socket.io/?EIO=4&transport=polling%s HTTP/1.1\r\nHost: example.com\r\n"
            b"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n%s\r\n%s"
            % (query.encode(), len(body), extra, body))


class DirectPathTests(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        CountingRequest.made = 0
        self.server = Server()
        self.sid = self.server.handshake()
        self.made_by_handshake = CountingRequest.made
        self.channel, self.transport = self.server.connect()

    def post(self, body: bytes, channel: Any = None, transport: Any = None) -> tuple[int, dict[bytes, bytes], bytes]:
        return self.server.exchange(transport or self.transport, channel or self.channel,
                                    post(f"&sid={self.sid}", body))

    def test_handshake_goes_through_twisted_web(self) -> None:
        """The handshake (no sid yet) is served by twisted.web: one Request."""
        self.assertEqual(self.made_by_handshake, 1)

    def test_post_answered_without_a_twisted_request(self) -> None:
        """A POST of an open session is answered 200 ``ok`` with no twisted.web Request made."""
        code, headers, body = self.post(b"40")
        self.assertEqual((code, body), (200, b"ok"))
        self.assertEqual(headers[b"content-length"], b"2")
        self.assertEqual(headers[b"content-type"], b"text/html")
        self.assertEqual(headers[b"server"], b"txsocketio")
        self.assertIn(b"date", headers)
        self.assertEqual(CountingRequest.made, self.made_by_handshake)

    def test_long_poll_is_held_then_answered(self) -> None:
        """A GET waits for data and gets the Socket.IO CONNECT answer when it comes."""
        poller, poll_transport = self.server.connect()
        poller.dataReceived(get(f"&sid={self.sid}"))
        self.assertEqual(poll_transport.value(), b"")
        self.assertIsInstance(poller.direct, DirectRequest)
        self.post(b"40")
        code, headers, body = parse(poll_transport.value())
        self.assertEqual(code, 200)
        self.assertEqual(headers[b"content-type"], b"text/plain; charset=UTF-8")
        self.assertEqual(headers[b"access-control-allow-origin"], b"http://example.com")
        self.assertTrue(body.startswith(b"40{\"sid\":"), body)
        self.assertIsNone(poller.direct)
        self.assertEqual(CountingRequest.made, self.made_by_handshake)

    def test_idle_timeout_off_while_a_poll_waits(self) -> None:
        """As twisted.web: no idle timeout cuts a pending long-poll; it is back afterwards."""
        timeout = self.server.site.timeOut = 10  # under the 25 s ping interval, which ends a poll
        poller, poll_transport = self.server.connect()
        poller.dataReceived(get(f"&sid={self.sid}"))
        self.server.clock.advance(timeout + 1)
        self.server.clock.advance(timeout + 1)
        self.assertFalse(poll_transport.disconnecting)
        self.assertIsNotNone(poller.direct)
        self.post(b"40")
        self.assertIsNone(poller.direct)
        self.server.clock.advance(timeout - 1)
        self.assertFalse(poll_transport.disconnecting)  # counted from the answer
        self.server.clock.advance(2)
        self.assertTrue(poll_transport.disconnecting)

    def test_keep_alive_serves_the_next_request(self) -> None:
        """Several requests on one connection are each answered directly."""
        self.assertEqual(self.post(b"40")[2], b"ok")
        self.assertEqual(self.post(b"3")[2], b"ok")
        self.assertFalse(self.transport.disconnecting)
        self.assertEqual(CountingRequest.made, self.made_by_handshake)

    def test_pipelined_request_waits_for_the_pending_poll(self) -> None:
        """Bytes that come while a poll is pending are answered after it, in order."""
        poller, poll_transport = self.server.connect()
        poller.dataReceived(get(f"&sid={self.sid}"))
        poller.dataReceived(post(f"&sid={self.sid}", b"40"))
        # The POST was held; nothing answered, nothing sent to the session yet.
        self.assertEqual(poll_transport.value(), b"")
        self.post(b"3")  # a PONG from elsewhere: nothing to send, the poll still waits
        self.assertEqual(poll_transport.value(), b"")
        self.server.sio.engine.sockets[self.sid].send("hello")
        raw = poll_transport.value()
        first, _, rest = raw.partition(b"HTTP/1.1 200 OK")[2].partition(b"HTTP/1.1")
        self.assertIn(b"4hello", first)
        self.assertEqual(parse(b"HTTP/1.1" + rest)[2], b"ok")

    def test_too_much_pipelined_data_stops_reading(self) -> None:
        """Past HELD_BYTES held during a pending poll, the connection is paused until the answer."""
        poller, poll_transport = self.server.connect()
        poller.dataReceived(get(f"&sid={self.sid}"))
        poller.dataReceived(b"x" * (HELD_BYTES + 1))
        self.assertEqual(poll_transport.producerState, "paused")
        self.server.sio.engine.sockets[self.sid].send("hello")
        self.assertEqual(poll_transport.producerState, "producing")

    def test_client_gone_during_a_poll(self) -> None:
        """A client that drops its pending GET: the session learns its transport closed."""
        reasons: list[str] = []
        self.post(b"40")
        self.server.sio.on("disconnect", lambda socket, reason: reasons.append(reason))
        poller, poll_transport = self.server.connect()
        poller.dataReceived(get(f"&sid={self.sid}"))  # answered at once: the CONNECT reply
        self.assertEqual(parse(poll_transport.value())[0], 200)
        poller.dataReceived(get(f"&sid={self.sid}"))  # this one waits
        self.assertIsNotNone(poller.direct)
        poller.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(poller.direct)
        self.assertEqual(reasons, ["transport close"])
        self.assertNotIn(self.sid, self.server.sio.engine.sockets)

    def test_unknown_sid_gets_the_engineio_error(self) -> None:
        """An unknown sid is answered 400 with Engine.IO's code 1 body and CORS headers, directly."""
        errors: list[int] = []
        self.server.sio.engine.hooks.count_errors(errors.append)
        code, headers, body = self.server.exchange(self.transport, self.channel, post("&sid=nope", b"40"))
        self.assertEqual(code, 400)
        self.assertEqual(json.loads(body), {"code": 1, "message": "Session ID unknown"})
        self.assertEqual(headers[b"content-type"], b"application/json")
        self.assertEqual(errors, [1])
        self.assertEqual(CountingRequest.made, self.made_by_handshake)

    def test_resource_failure_is_a_500_and_logged(self) -> None:
        """A resource that raises on the direct path gets a 500 and an error logged."""
        def broken(request: Any) -> bytes:
            raise RuntimeError("boom")
        self.server.resource.render = broken  # type: ignore[method-assign]
        code, _, body = self.post(b"40")
        self.assertEqual((code, body), (500, b"Internal Server Error"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


def upgrade(query: str = "", extra: bytes = b"") -> bytes:
    """A WebSocket opening handshake, as a browser sends it."""
    return (b"GET /socket.io/?EIO=4&transport=websocket%s HTTP/1.1\r\nHost: example.com\r\n"
            b"Origin: http://example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
            % (query.encode(), extra))


def text_frame(payload: bytes) -> bytes:
    """A masked client text frame (short)."""
    mask = b"\x01\x02\x03\x04"
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class WebSocketUpgradeTests(unittest.SynchronousTestCase):
    """A WebSocket upgrade on the direct path: its bytes handed to Autobahn."""

    def setUp(self) -> None:
        CountingRequest.made = 0
        self.server = Server()

    def open(self, server: Server | None = None, query: str = "",
             extra: bytes = b"") -> tuple[Any, StringTransport]:
        channel, transport = (server or self.server).connect()
        transport.protocol = channel
        channel.dataReceived(upgrade(query, extra))
        return channel, transport

    def test_new_session_without_a_twisted_request(self) -> None:
        """The upgrade is answered 101 by Autobahn with no twisted.web Request
        made; the OPEN packet and a Socket.IO CONNECT's answer follow."""
        channel, transport = self.open()
        self.assertEqual(CountingRequest.made, 0)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 101 Switching Protocols\r\n"), transport.value())
        self.assertIn(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", transport.value())
        ws = transport.protocol
        self.assertIsNot(ws, channel)
        transport.producer.resumeProducing()  # the 101 is out
        self.assertIn(b"0{\"sid\":", transport.value())
        transport.clear()
        ws.dataReceived(text_frame(b"40"))
        self.assertIn(b"40{\"sid\":", transport.value())
        self.assertEqual(len(self.server.sio.engine.sockets), 1)

    def test_same_101_as_twisted_web(self) -> None:
        """The 101 is the same as on twisted.web's path (both are Autobahn's)."""
        answers = []
        for direct in (False, True):
            _, transport = self.open(Server(direct=direct), extra=b"Cookie: a=b\r\n")
            answers.append(transport.value())
        self.assertEqual(answers[0], answers[1])

    def test_channel_timers_stop(self) -> None:
        """The HTTP channel's idle timeout and head deadline do not cut the WebSocket."""
        self.server.site.timeOut = 10
        channel, transport = self.open()
        transport.producer.resumeProducing()
        self.server.clock.advance(self.server.site.limits.headers_timeout + 11)
        self.assertFalse(transport.disconnecting)
        self.assertIsNone(channel.transport)
        self.assertIsNone(channel.direct)

    def test_upgrade_of_a_polling_session(self) -> None:
        """An upgrade with a sid (the probe of a polling session) is handed over too."""
        sid = self.server.handshake()
        made = CountingRequest.made
        _, transport = self.open(query=f"&sid={sid}")
        self.assertEqual(CountingRequest.made, made)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 101 "))
        transport.producer.resumeProducing()
        transport.clear()
        transport.protocol.dataReceived(text_frame(b"2probe"))
        self.assertIn(b"3probe", transport.value())

    def test_refusals_answered_directly(self) -> None:
        """An unknown sid and a refused origin get the same answers as on twisted.web's path."""
        def answers(direct: bool) -> list[tuple[int, dict[bytes, bytes], bytes]]:
            server = Server(direct=direct)
            out = []
            for query, extra in (("&sid=nope", b""), ("", b"Origin: http://evil.example\r\n")):
                channel, transport = server.connect()
                raw = upgrade(query)
                if extra:
                    raw = raw.replace(b"Origin: http://example.com\r\n", extra)
                channel.dataReceived(raw)
                code, headers, body = parse(transport.value())
                headers.pop(b"date")
                out.append((code, headers, body))
            return out

        expected, got = answers(False), answers(True)
        self.assertEqual([a[0] for a in got], [400, 403])
        self.assertEqual(got, expected)

    def test_allow_request_sees_a_twisted_request(self) -> None:
        """With ``allow_request`` set, a new session's upgrade goes through twisted.web."""
        seen: list[Any] = []
        server = Server(sio_kwargs={"allow_request": lambda request: seen.append(request) or True})
        _, transport = self.open(server)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 101 "))
        self.assertEqual([type(r) for r in seen], [CountingRequest])

    def test_hooks_see_a_twisted_request(self) -> None:
        """With a hook that is given the request, the upgrade goes through twisted.web."""
        seen: list[Any] = []
        self.server.sio.engine.on_initial_headers(lambda headers, request: seen.append(request))
        _, transport = self.open()
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 101 "))
        self.assertEqual([type(r) for r in seen], [CountingRequest])

    def test_hand_over_only_while_rendering(self) -> None:
        """``hand_over`` outside the resource's render is a programming error."""
        sid = self.server.handshake()
        channel, _ = self.server.connect()
        channel.dataReceived(get(f"&sid={sid}"))  # nothing to send: the poll waits
        request = channel.direct
        self.assertIsInstance(request, DirectRequest)
        self.assertRaises(RuntimeError, request.hand_over, object())


class DeclinedTests(unittest.SynchronousTestCase):
    """What the direct path leaves to twisted.web."""

    def setUp(self) -> None:
        CountingRequest.made = 0

    def served_by_twisted(self, server: Server, data: bytes, chunks: int = 1) -> tuple[int, dict[bytes, bytes], bytes]:
        channel, transport = server.connect()
        before = CountingRequest.made
        step = max(1, len(data) // chunks)
        for i in range(0, len(data), step):
            channel.dataReceived(data[i:i + step])
        self.assertEqual(CountingRequest.made, before + 1)
        return parse(transport.value())

    def test_split_request(self) -> None:
        """A request that arrives in several reads is served by twisted.web, correctly."""
        server = Server()
        sid = server.handshake()
        code, _, body = self.served_by_twisted(server, post(f"&sid={sid}", b"40"), chunks=3)
        self.assertEqual((code, body), (200, b"ok"))

    def test_connection_close(self) -> None:
        """``Connection: close`` goes to twisted.web, which closes after the answer."""
        server = Server()
        sid = server.handshake()
        code, _, body = self.served_by_twisted(server, post(f"&sid={sid}", b"40", b"Connection: close\r\n"))
        self.assertEqual((code, body), (200, b"ok"))

    def test_body_over_the_limit(self) -> None:
        """A body over max_http_buffer_size is refused 413 by the site's limit, as without the direct path."""
        server = Server(sio_kwargs={"max_http_buffer_size": 10})
        sid = server.handshake()
        channel, transport = server.connect()
        channel.dataReceived(post(f"&sid={sid}", b"4" + b"x" * 20))
        self.assertEqual(parse(transport.value())[0], 413)

    def test_hooks_see_twisted_requests(self) -> None:
        """With a headers hook registered, polling requests go through twisted.web and the hook gets a Request."""
        server = Server()
        seen: list[Any] = []
        server.sio.engine.on_headers(lambda headers, request: seen.append(request))
        sid = server.handshake()
        code, _, body = self.served_by_twisted(server, post(f"&sid={sid}", b"40"))
        self.assertEqual((code, body), (200, b"ok"))
        self.assertIsInstance(seen[-1], CountingRequest)

    def test_access_log_sees_every_request(self) -> None:
        """With an access log, every request goes through twisted.web (and is logged)."""
        lines: list[str] = []

        class Sink:
            def write(self, line: str) -> None:
                lines.append(line)

        server = Server(access_log=Sink())  # type: ignore[arg-type]
        server.site.startFactory()
        sid = server.handshake()
        self.served_by_twisted(server, post(f"&sid={sid}", b"40"))
        self.assertEqual(len(lines), 2)

    def test_other_paths(self) -> None:
        """Requests outside the direct path's prefix are twisted.web's."""
        server = Server()
        channel, transport = server.connect()
        channel.dataReceived(b"GET /socket.io/socket.io.min.js HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(parse(transport.value())[0], 200)
        channel2, transport2 = server.connect()
        channel2.dataReceived(b"GET /elsewhere/?sid=x&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(parse(transport2.value())[0], 404)
        self.assertEqual(CountingRequest.made, 2)

    def test_serve_directly_needs_a_path(self) -> None:
        """The root cannot be a direct path."""
        site = SocketIOSite(Resource(), reactor=MemoryReactorClock())
        self.assertRaises(ValueError, site.serve_directly, "/", SocketIOResource(SocketIOServer(reactor=MemoryReactorClock())))


class SameAnswerTests(unittest.SynchronousTestCase):
    """The direct path answers what twisted.web answers (but for ``Date``)."""

    def answers(self, direct: bool) -> list[tuple[int, dict[bytes, bytes], bytes]]:
        server = Server(direct=direct, sio_kwargs={"http_compression": True})
        sid = server.handshake()
        channel, transport = server.connect()
        poller, poll_transport = server.connect()
        out = [server.exchange(transport, channel, post(f"&sid={sid}", b"40"))]
        poller.dataReceived(get(f"&sid={sid}", b"Accept-Encoding: gzip\r\n"))
        out.append(parse(poll_transport.value()))
        # A large packet: gzip-compressed for a client that accepts it.
        poll_transport.clear()
        poller.dataReceived(get(f"&sid={sid}", b"Accept-Encoding: gzip\r\n"))
        server.sio.engine.sockets[sid].send("x" * 5000)
        out.append(parse(poll_transport.value()))
        out.append(server.exchange(transport, channel, post("&sid=unknown", b"40")))
        out.append(server.exchange(transport, channel, post(f"&sid={sid}", b"garbage")))
        for _, headers, body in out:
            headers.pop(b"date")
            if b"40{" in body:
                out[out.index((_, headers, body))] = (_, headers, b"40{...}")
        return out

    def test_same_answers(self) -> None:
        """Status, headers and body of a POST, a poll, a gzipped poll, an unknown sid and a parse error match."""
        twisted_answers = self.answers(direct=False)
        direct_answers = self.answers(direct=True)
        self.assertEqual(len(direct_answers), 5)
        for expected, got in zip(twisted_answers, direct_answers):
            self.assertEqual(got[0], expected[0])
            self.assertEqual(got[2], expected[2])
            self.assertEqual(got[1], expected[1])


class HTTPDateTests(unittest.SynchronousTestCase):
    def test_formatted_once_a_second(self) -> None:
        """The Date value follows the clock, formatted anew only when the second changes."""
        clock = MemoryReactorClock()
        date = HTTPDate(clock.seconds)
        first = date()
        self.assertEqual(first, b"Thu, 01 Jan 1970 00:00:00 GMT")
        clock.advance(0.5)
        self.assertIs(date(), first)
        clock.advance(86400)
        self.assertEqual(date(), b"Fri, 02 Jan 1970 00:00:00 GMT")
