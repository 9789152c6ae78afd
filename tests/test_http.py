"""``txsocketio.http``: the limited twisted.web site, driven in memory
(MemoryReactorClock, StringTransport)."""

from __future__ import annotations

import io
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.trial import unittest
from twisted.web import server
from twisted.web.resource import Resource

from txsocketio.http import LINGER, HTTPLimits, RefusedRequest, Request, SocketIOSite, switch_protocol


class Recorder(Resource):
    """A leaf that answers 200 with the body length and remembers each request."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Any] = []
        #: (type of request.content, body) of each request, seen in render
        self.bodies: list[tuple[type, bytes]] = []

    def render(self, request: Any) -> bytes:
        self.requests.append(request)
        request.content.seek(0)
        body = request.content.read()
        self.bodies.append((type(request.content), body))
        return b"got %d" % len(body)


class HalfCloseTransport(StringTransport):
    """A StringTransport that can shut its write side, as TCP can."""

    write_closed = False

    def loseWriteConnection(self) -> None:
        self.write_closed = True


def make_site(limits: HTTPLimits | None = None, **kwargs: Any) -> tuple[SocketIOSite, Recorder, Recorder,
                                                                          MemoryReactorClock]:
    clock = MemoryReactorClock()
    root = Resource()
    sio, other = Recorder(), Recorder()
    root.putChild(b"socket.io", sio)
    root.putChild(b"upload", other)
    site = SocketIOSite(root, reactor=clock, limits=limits, **kwargs)
    return site, sio, other, clock


def connect(site: SocketIOSite, transport: StringTransport | None = None) -> tuple[Any, StringTransport]:
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = transport or StringTransport()
    channel.makeConnection(transport)
    return channel, transport


def status(transport: StringTransport) -> bytes:
    return transport.value().split(b"\r\n", 1)[0]


POLL_POST = b"POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: a\r\n"


class BodyTests(unittest.TestCase):
    def setUp(self) -> None:
        self.site, self.sio, self.other, self.clock = make_site()
        self.site.limit_path("/socket.io/", lambda: 1000)

    def test_content_length_over_the_limit_is_413_before_the_body(self) -> None:
        """A Content-Length above the limit of the Socket.IO path is answered 413
        as soon as the head is complete, no body byte is needed, nothing reaches
        the resource, and the connection is closed."""
        channel, transport = connect(self.site)
        channel.dataReceived(POLL_POST + b"Content-Length: 300000000\r\n\r\n")
        self.assertEqual(status(transport), b"HTTP/1.1 413 Payload Too Large")
        self.assertIn(b"Server: txsocketio", transport.value())
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.sio.requests, [])
        self.assertIsNone(channel.requests[-1].content)  # no content file was ever made

    def test_no_100_continue_for_a_refused_body(self) -> None:
        """A client that asks "Expect: 100-continue" for an oversized body gets
        the 413 and never a 100 Continue inviting it to send."""
        channel, transport = connect(self.site)
        channel.dataReceived(POLL_POST + b"Expect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
        self.assertEqual(status(transport), b"HTTP/1.1 413 Payload Too Large")
        self.assertNotIn(b"100 Continue", transport.value())

    def test_pipelined_request_after_a_good_one(self) -> None:
        """Two pipelined requests are both served; limits apply to the second too."""
        channel, transport = connect(self.site)
        channel.dataReceived(b"GET /upload HTTP/1.1\r\nHost: a\r\n\r\n" + POLL_POST
                             + b"Content-Length: 5000\r\n\r\n")
        self.assertIn(b"HTTP/1.1 200 OK", transport.value())
        self.assertIn(b"HTTP/1.1 413 Payload Too Large", transport.value())

    def test_body_after_refusal_is_dropped(self) -> None:
        """Body bytes that follow a refused head are read and dropped, not stored."""
        channel, transport = connect(self.site, HalfCloseTransport())
        channel.dataReceived(POLL_POST + b"Content-Length: 5000\r\n\r\n" + b"x" * 4000)
        channel.dataReceived(b"x" * 1000)
        self.assertEqual(status(transport), b"HTTP/1.1 413 Payload Too Large")
        self.assertIsNone(channel.requests[-1].content)
        self.assertEqual(self.sio.requests, [])

    def test_refusal_lingers_then_closes(self) -> None:
        """Where the transport can half-close, the answer is followed by a shut
        write side, and the connection is closed after LINGER seconds."""
        channel, transport = connect(self.site, HalfCloseTransport())
        channel.dataReceived(POLL_POST + b"Content-Length: 5000\r\n\r\n")
        self.assertTrue(transport.write_closed)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(LINGER)
        self.assertTrue(transport.disconnecting)

    def test_body_within_the_limit_stays_in_memory(self) -> None:
        """A body within the limit reaches the resource in a BytesIO, even above
        twisted.web's 100 kB temp-file threshold."""
        self.site.limit_path("/upload/", 10**6)
        channel, transport = connect(self.site)
        body = b"y" * 200_000
        channel.dataReceived(b"POST /upload/ HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        [(kind, _)] = self.other.bodies
        self.assertIs(kind, io.BytesIO)
        self.assertIn(b"got 200000", transport.value())

    def test_socketio_body_at_the_limit_is_accepted(self) -> None:
        """Exactly max bytes is accepted, in memory; form parsing is off."""
        channel, transport = connect(self.site)
        body = b"a=1&" + b"z" * 996
        channel.dataReceived(POLL_POST + b"Content-Type: application/x-www-form-urlencoded\r\n"
                             b"Content-Length: 1000\r\n\r\n" + body)
        [request] = self.sio.requests
        [(kind, _)] = self.sio.bodies
        self.assertIs(kind, io.BytesIO)
        self.assertNotIn(b"a", request.args)
        self.assertEqual(status(transport), b"HTTP/1.1 200 OK")

    def test_chunked_body_is_cut_off_past_the_limit(self) -> None:
        """A chunked body is answered 413 as soon as it passes the limit, before
        its end; the resource never sees it."""
        channel, transport = connect(self.site)
        channel.dataReceived(POLL_POST + b"Transfer-Encoding: chunked\r\n\r\n")
        channel.dataReceived(b"258\r\n" + b"q" * 600 + b"\r\n")
        self.assertEqual(transport.value(), b"")
        channel.dataReceived(b"258\r\n" + b"q" * 600 + b"\r\n")
        self.assertEqual(status(transport), b"HTTP/1.1 413 Payload Too Large")
        self.assertLessEqual(len(channel.requests[-1].content.getvalue()), 1000)
        channel.dataReceived(b"0\r\n\r\n")
        self.assertEqual(self.sio.requests, [])

    def test_chunked_body_over_the_limit_in_one_read(self) -> None:
        """Even when the whole oversized chunked body, terminator included,
        arrives in one read, the answer is 413 and the resource is not called."""
        channel, transport = connect(self.site)
        channel.dataReceived(POLL_POST + b"Transfer-Encoding: chunked\r\n\r\n"
                             + b"7d0\r\n" + b"q" * 2000 + b"\r\n0\r\n\r\n")
        self.assertEqual(status(transport), b"HTTP/1.1 413 Payload Too Large")
        self.assertEqual(self.sio.requests, [])

    def test_chunked_body_within_the_limit(self) -> None:
        """A chunked body within the limit is delivered whole."""
        channel, transport = connect(self.site)
        channel.dataReceived(POLL_POST + b"Transfer-Encoding: chunked\r\n\r\n"
                             + b"64\r\n" + b"q" * 100 + b"\r\n0\r\n\r\n")
        self.assertEqual(self.sio.bodies, [(io.BytesIO, b"q" * 100)])

    def test_percent_encoded_path_is_limited_too(self) -> None:
        """The path is matched as twisted.web traverses it (unquoted), so
        /socket%2Eio/ does not escape the limit."""
        channel, transport = connect(self.site)
        channel.dataReceived(b"POST /socket%2Eio/?sid=x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n")
        self.assertEqual(status(transport), b"HTTP/1.1 413 Payload Too Large")

    def test_other_paths_keep_twisted_behaviour(self) -> None:
        """Without a global cap, other paths take any body, spooled by twisted.web
        as usual (a temporary file above 100 kB)."""
        channel, transport = connect(self.site)
        body = b"y" * 200_000
        channel.dataReceived(b"POST /upload HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        [(kind, _)] = self.other.bodies
        self.assertIsNot(kind, io.BytesIO)
        self.assertIn(b"got 200000", transport.value())

    def test_global_cap(self) -> None:
        """HTTPLimits(max_body_size=...) caps every path."""
        site, _, other, _ = make_site(HTTPLimits(max_body_size=100))
        channel, transport = connect(site)
        channel.dataReceived(b"POST /upload HTTP/1.1\r\nContent-Length: 101\r\n\r\n")
        self.assertEqual(status(transport), b"HTTP/1.1 413 Payload Too Large")
        self.assertEqual(other.requests, [])

    def test_on_refused_is_told_and_adds_headers(self) -> None:
        """on_refused gets the method, target and headers, and its headers go on the 413."""
        seen: list[RefusedRequest] = []

        def refused(r: RefusedRequest) -> list[tuple[bytes, bytes]]:
            seen.append(r)
            return [(b"Access-Control-Allow-Origin", b"http://a.example")]

        site, _, _, _ = make_site()
        site.limit_path("/socket.io/", 10, on_refused=refused)
        channel, transport = connect(site)
        channel.dataReceived(POLL_POST + b"Origin: http://a.example\r\nContent-Length: 11\r\n\r\n")
        [r] = seen
        self.assertEqual((r.method, r.target), (b"POST", b"/socket.io/?EIO=4&transport=polling&sid=x"))
        self.assertEqual(r.headers[b"Origin"], [b"http://a.example"])
        self.assertIn(b"Access-Control-Allow-Origin: http://a.example", transport.value())

    def test_limit_is_read_per_request(self) -> None:
        """A callable limit is read for every request (the server's current value)."""
        limit = [10]
        site, _, _, _ = make_site()
        site.limit_path("/socket.io", lambda: limit[0])
        limit[0] = 20
        channel, transport = connect(site)
        channel.dataReceived(POLL_POST + b"Content-Length: 15\r\n\r\n" + b"k" * 15)
        self.assertEqual(status(transport), b"HTTP/1.1 200 OK")


class HeadTests(unittest.TestCase):
    def setUp(self) -> None:
        self.site, self.sio, self.other, self.clock = make_site(HTTPLimits(headers_timeout=30))

    def test_header_trickle_gets_408_at_the_deadline(self) -> None:
        """A head sent one byte at a time (each byte resetting Twisted's idle
        timeout) is answered 408 when the deadline passes, and closed."""
        channel, transport = connect(self.site)
        channel.dataReceived(b"GET / HTTP/1.1\r\nX-a: ")
        for _ in range(29):
            self.clock.advance(1)
            channel.dataReceived(b"b")
        self.assertEqual(transport.value(), b"")
        self.clock.advance(1)
        self.assertEqual(status(transport), b"HTTP/1.1 408 Request Timeout")
        self.assertTrue(transport.disconnecting)

    def test_silent_connection_gets_408(self) -> None:
        """A new connection that sends nothing gets 408 at the deadline, as from Node."""
        channel, transport = connect(self.site)
        self.clock.advance(29.9)
        self.assertEqual(transport.value(), b"")
        self.clock.advance(0.1)
        self.assertEqual(status(transport), b"HTTP/1.1 408 Request Timeout")
        self.assertTrue(transport.disconnecting)

    def test_complete_head_stops_the_deadline(self) -> None:
        """A head completed in time is served, and the kept-alive connection
        outlasts the head deadline (only the idle timeout applies)."""
        channel, transport = connect(self.site)
        channel.dataReceived(b"GET /upload HTTP/1.1\r\nHost: a\r\n\r\n")
        self.clock.advance(45)
        self.assertEqual(status(transport), b"HTTP/1.1 200 OK")
        self.assertFalse(transport.disconnecting)

    def test_deadline_restarts_for_the_next_request(self) -> None:
        """On a kept-alive connection the deadline starts at the next request's
        first byte, not while the connection is idle."""
        channel, transport = connect(self.site)
        channel.dataReceived(b"GET /upload HTTP/1.1\r\nHost: a\r\n\r\n")
        self.clock.advance(50)
        transport.clear()
        channel.dataReceived(b"GET /upl")
        self.clock.advance(29)
        self.assertEqual(transport.value(), b"")
        self.clock.advance(1)
        self.assertEqual(status(transport), b"HTTP/1.1 408 Request Timeout")

    def test_header_fields_over_the_cap_get_431(self) -> None:
        """Header lines above max_header_size are answered 431, not dropped."""
        site, _, _, _ = make_site(HTTPLimits(max_header_size=1000))
        channel, transport = connect(site)
        channel.dataReceived(b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 50) for i in range(30)))
        self.assertEqual(status(transport), b"HTTP/1.1 431 Request Header Fields Too Large")
        self.assertTrue(transport.disconnecting)

    def test_one_long_header_line_gets_431(self) -> None:
        """A single header line longer than the cap, even before its line end, gets 431."""
        channel, transport = connect(self.site)
        channel.dataReceived(b"GET / HTTP/1.1\r\nX-Big: " + b"v" * 20000)
        self.assertEqual(status(transport), b"HTTP/1.1 431 Request Header Fields Too Large")

    def test_default_header_cap_is_16k(self) -> None:
        """By default 16 KiB of headers pass and more do not (Node's maxHeaderSize)."""
        channel, transport = connect(self.site)
        channel.dataReceived(b"GET /upload HTTP/1.1\r\nX-Big: " + b"v" * 16000 + b"\r\n\r\n")
        self.assertEqual(status(transport), b"HTTP/1.1 200 OK")
        channel, transport = connect(self.site)
        channel.dataReceived(b"GET /upload HTTP/1.1\r\nX-Big: " + b"v" * 8000 + b"\r\nX-Big2: "
                             + b"v" * 8400 + b"\r\n\r\n")
        self.assertEqual(status(transport), b"HTTP/1.1 431 Request Header Fields Too Large")

    def test_too_many_headers_get_431(self) -> None:
        """More header lines than max_headers get 431."""
        site, _, _, _ = make_site(HTTPLimits(max_headers=5))
        channel, transport = connect(site)
        channel.dataReceived(b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(6)))
        self.assertEqual(status(transport), b"HTTP/1.1 431 Request Header Fields Too Large")

    def test_long_url_gets_414(self) -> None:
        """A request line over max_request_line (8 KiB by default) gets 414, even
        before its line end."""
        channel, transport = connect(self.site)
        channel.dataReceived(b"GET /?" + b"q" * 9000)
        self.assertEqual(status(transport), b"HTTP/1.1 414 URI Too Long")
        self.assertTrue(transport.disconnecting)

    def test_url_within_the_limit(self) -> None:
        """A 7 kB URL is served."""
        channel, transport = connect(self.site)
        channel.dataReceived(b"GET /upload?" + b"q" * 7000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(status(transport), b"HTTP/1.1 200 OK")

    def test_limits_are_validated(self) -> None:
        """Nonsense limits are refused with ValueError."""
        for bad in ({"headers_timeout": 0}, {"max_header_size": 0}, {"max_request_line": -1},
                    {"max_headers": True}, {"max_body_size": -1}):
            self.assertRaises(ValueError, HTTPLimits, **bad)


class SiteTests(unittest.TestCase):
    def test_server_header(self) -> None:
        """Responses say Server: txsocketio, not Twisted's version."""
        site, _, _, _ = make_site()
        channel, transport = connect(site)
        channel.dataReceived(b"GET /upload HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertIn(b"\r\nServer: txsocketio\r\n", transport.value())
        self.assertNotIn(server.version, transport.value())

    def test_server_header_configurable_or_absent(self) -> None:
        """server_header sets another name, or None sends no Server header."""
        site, _, _, _ = make_site(server_header="chat/1")
        channel, transport = connect(site)
        channel.dataReceived(b"GET /upload HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertIn(b"\r\nServer: chat/1\r\n", transport.value())
        site, _, _, _ = make_site(server_header=None)
        channel, transport = connect(site)
        channel.dataReceived(b"GET /upload HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertNotIn(b"\r\nServer:", transport.value())

    def test_no_access_log_by_default(self) -> None:
        """Without access_log, requests are not logged (and no log timer runs)."""
        site, _, _, clock = make_site()
        site.doStart()
        self.addCleanup(site.doStop)
        channel, transport = connect(site)
        channel.dataReceived(b"GET /upload HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual([c for c in clock.getDelayedCalls() if "LogDateTime" in repr(c.func)], [])
        self.assertEqual(len(clock.getDelayedCalls()), 1)  # the channel's idle timeout only

    def test_access_log_to_a_file_in_combined_format(self) -> None:
        """access_log given a file writes one combined-format line per request."""
        out = io.StringIO()
        site, _, _, _ = make_site(access_log=out)
        site.doStart()
        self.addCleanup(site.doStop)
        channel, transport = connect(site)
        channel.dataReceived(b"GET /upload?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: ua\r\n"
                             b"Referer: http://r/\r\n\r\n")
        [line] = out.getvalue().splitlines()
        self.assertRegex(line, r'^"192\.168\.1\.1" - - \[.+\] "GET /upload\?x=1 HTTP/1\.1" 200 5 "http://r/" "ua"$')

    def test_access_log_path(self) -> None:
        """access_log given a path appends to that file while the site runs."""
        path = self.mktemp()
        site, _, _, _ = make_site(access_log=path)
        site.doStart()
        channel, transport = connect(site)
        channel.dataReceived(b"GET /upload HTTP/1.1\r\nHost: a\r\n\r\n")
        site.doStop()
        with open(path) as f:
            self.assertIn('"GET /upload HTTP/1.1" 200', f.read())

    def test_access_log_to_twisted_log(self) -> None:
        """access_log="-" emits each line on the txsocketio.access logger."""
        from twisted.logger import globalLogPublisher

        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        site, _, _, _ = make_site(access_log="-")
        channel, transport = connect(site)
        channel.dataReceived(b"GET /upload HTTP/1.1\r\nHost: a\r\n\r\n")
        lines = [e["line"] for e in events if e.get("log_namespace") == "txsocketio.access"]
        self.assertEqual(len(lines), 1)
        self.assertIn('"GET /upload HTTP/1.1" 200', lines[0])

    def test_http1_only(self) -> None:
        """The site offers only http/1.1 in ALPN: HTTP/2 would bypass the limits."""
        site, _, _, _ = make_site()
        self.assertEqual(site.acceptableProtocols(), [b"http/1.1"])

    def test_request_factory_must_subclass_ours(self) -> None:
        """A requestFactory that is not a txsocketio.http.Request is refused."""
        self.assertRaises(TypeError, SocketIOSite, Resource(), requestFactory=server.Request)

        class Mine(Request):
            pass

        self.assertIs(SocketIOSite(Resource(), requestFactory=Mine, reactor=MemoryReactorClock()).requestFactory,
                      Mine)

    def test_limit_path_needs_a_path(self) -> None:
        """limit_path("/") is an error: the whole site would be the Socket.IO path."""
        site, _, _, _ = make_site()
        self.assertRaises(ValueError, site.limit_path, "/", 10)


class SwitchProtocolTests(unittest.SynchronousTestCase):
    """``switch_protocol``: who receives a connection's bytes after a hand-over."""

    def test_plain_transport(self) -> None:
        transport = StringTransport()
        new = Protocol()
        switch_protocol(transport, new)
        self.assertIs(transport.protocol, new)  # type: ignore[attr-defined]

    def test_below_a_wrapper(self) -> None:
        """A TLS connection's transport is a protocol wrapper: its wrapped protocol changes."""
        wrapper = ProtocolWrapper(WrappingFactory(Factory()), Protocol())
        new = Protocol()
        switch_protocol(wrapper, new)
        self.assertIs(wrapper.wrappedProtocol, new)

    def test_wrapper_as_the_protocol(self) -> None:
        """A transport whose protocol is a wrapper (TLS over the TCP connection): below the wrapper."""
        transport = StringTransport()
        wrapper = ProtocolWrapper(WrappingFactory(Factory()), Protocol())
        transport.protocol = wrapper  # type: ignore[attr-defined]
        new = Protocol()
        switch_protocol(transport, new)
        self.assertIs(transport.protocol, wrapper)  # type: ignore[attr-defined]
        self.assertIs(wrapper.wrappedProtocol, new)
