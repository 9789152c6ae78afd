"""``SocketIOService``: listening like ``strports.service`` (bound in
privilegedStartService, errors raised there), the backlog, the site it serves
and its graceful stop — with MemoryReactorClock, no real sockets."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.error import CannotListenError
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial import unittest

from txsocketio import SocketIOServer
from txsocketio.http import HTTPLimits, SocketIOSite
from txsocketio.service import CannotListen, SocketIOService, with_backlog
from txsocketio.testing import TestClient


class Port:
    """A listening port that knows whether it still listens."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.listening = True

    def stopListening(self) -> None:
        self.listening = False

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", self.number)


class BusyReactor(MemoryReactorClock):
    """A MemoryReactorClock whose TCP ports can stop listening, and on which
    port 8080 is in use."""

    busy = 8080

    def __init__(self) -> None:
        super().__init__()
        self.ports: list[Port] = []

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        if port == self.busy:
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))
        super().listenTCP(port, factory, backlog, interface)
        self.ports.append(Port(port))
        return self.ports[-1]


class BacklogTests(unittest.TestCase):
    def test_added_to_every_stream_endpoint(self) -> None:
        """tcp, tcp6, ssl and unix descriptions get backlog=511, whatever else they say."""
        for given, expected in [
            ("tcp:8080", "tcp:8080:backlog=511"),
            ("tcp:8080:interface=127.0.0.1", "tcp:8080:interface=127.0.0.1:backlog=511"),
            ("TCP:port=8080", "TCP:port=8080:backlog=511"),
            ("tcp6:8080:interface=\\:\\:1", "tcp6:8080:interface=\\:\\:1:backlog=511"),
            ("ssl:8443:privateKey=k.pem:certKey=c.pem", "ssl:8443:privateKey=k.pem:certKey=c.pem:backlog=511"),
            ("unix:/tmp/s.sock", "unix:/tmp/s.sock:backlog=511"),
        ]:
            self.assertEqual(with_backlog(given), expected, given)

    def test_a_given_backlog_is_kept(self) -> None:
        """A description that sets its backlog, and endpoints that have none, are unchanged."""
        for description in ["tcp:8080:backlog=64", "tcp:8080:interface=127.0.0.1:backlog=1024",
                            "ssl:8443:backlog=10:privateKey=k.pem", "systemd:domain=INET:index=0",
                            "unix:/tmp/backlog=1", "tcp:8080:interface=\\"]:
            if description == "unix:/tmp/backlog=1":
                continue
            self.assertEqual(with_backlog(description), description)

    def test_escaped_colon_is_not_a_separator(self) -> None:
        """An escaped colon in a value is part of the value, not a new argument."""
        self.assertEqual(with_backlog("unix:/tmp/a\\:backlog=5"), "unix:/tmp/a\\:backlog=5:backlog=511")

    def test_service_listens_with_the_backlog(self) -> None:
        """Every TCP port the service opens (given with or without options) listens with 511."""
        reactor = MemoryReactorClock()
        sio = SocketIOServer(reactor=reactor)
        service = SocketIOService(sio, ["tcp:8080", "tcp:8081:interface=127.0.0.1", "tcp:8082:backlog=7",
                                        "tcp6:8083:interface=\\:\\:1"], reactor=reactor)
        service.privilegedStartService()
        backlogs = {port: backlog for port, _, backlog, _ in reactor.tcpServers}
        self.assertEqual(backlogs, {8080: 511, 8081: 511, 8082: 7, 8083: 511})
        self.assertEqual([i for _, _, _, i in reactor.tcpServers], ["", "127.0.0.1", "", "::1"])

    def test_unix_socket_gets_the_backlog(self) -> None:
        """A UNIX socket listens with backlog 511 too."""
        reactor = MemoryReactorClock()
        service = SocketIOService(SocketIOServer(reactor=reactor), ["unix:/tmp/txsio-test.sock"], reactor=reactor)
        service.privilegedStartService()
        [(address, _, backlog, _, _)] = reactor.unixServers
        self.assertEqual((address, backlog), ("/tmp/txsio-test.sock", 511))


class ListeningTests(unittest.TestCase):
    def test_bound_in_privileged_start(self) -> None:
        """Ports are bound in privilegedStartService, before startService and
        before twistd sheds privileges; startService does not bind twice."""
        reactor = MemoryReactorClock()
        service = SocketIOService(SocketIOServer(reactor=reactor), ["tcp:8080"], reactor=reactor)
        service.privilegedStartService()
        self.assertEqual(len(reactor.tcpServers), 1)
        self.assertEqual(len(service.ports), 1)
        service.startService()
        self.assertEqual(len(reactor.tcpServers), 1)
        self.assertTrue(service.running)

    def test_start_alone_binds(self) -> None:
        """startService alone (no privileged start, as in a plain MultiService) binds too."""
        reactor = MemoryReactorClock()
        service = SocketIOService(SocketIOServer(reactor=reactor), ["tcp:8080"], reactor=reactor)
        service.startService()
        self.assertEqual(len(reactor.tcpServers), 1)

    def test_port_in_use_raises_synchronously(self) -> None:
        """A busy port raises CannotListen from privilegedStartService, with a
        one-line message naming the reason and the description as given; ports
        already bound are released."""
        reactor = BusyReactor()
        service = SocketIOService(SocketIOServer(reactor=reactor),
                                  ["tcp:9000", "tcp:8080:interface=127.0.0.1"], reactor=reactor)
        e = self.assertRaises(CannotListen, service.privilegedStartService)
        self.assertEqual(str(e), "Address already in use: tcp:8080:interface=127.0.0.1")
        self.assertEqual(service.ports, [])
        [port] = reactor.ports
        self.assertEqual(port.number, 9000)
        self.assertFalse(port.listening)

    def test_no_reactor_stop_and_no_exit(self) -> None:
        """A busy port does not stop the reactor or end the process: the caller decides."""
        reactor = BusyReactor()
        service = SocketIOService(SocketIOServer(reactor=reactor), ["tcp:8080"], reactor=reactor)
        self.assertRaises(CannotListen, service.startService)
        self.assertFalse(reactor.hasStopped)
        self.assertEqual(reactor.triggers, {})

    def test_site_is_the_limited_site(self) -> None:
        """The service serves a SocketIOSite whose Socket.IO body limit is the
        server's max_http_buffer_size, read per request."""
        reactor = MemoryReactorClock()
        sio = SocketIOServer(reactor=reactor, max_http_buffer_size=1234)
        service = SocketIOService(sio, ["tcp:8080"], path="/sio/", reactor=reactor,
                                  limits=HTTPLimits(headers_timeout=5))
        self.assertIsInstance(service.site, SocketIOSite)
        self.assertEqual(service.site.limits.headers_timeout, 5)
        self.assertEqual(service.site.body_limit_for(b"/sio/?EIO=4")[0], 1234)
        self.assertIsNone(service.site.body_limit_for(b"/other")[0])
        self.assertEqual(service.site.server_header, b"txsocketio")


class RefusedBodyTests(unittest.TestCase):
    def test_oversize_post_closes_its_session(self) -> None:
        """A POST over max_http_buffer_size to a live session is answered 413
        before its body is read, and the session is closed ("transport error"),
        as Node does; allowed origins get their CORS headers on the 413."""
        reactor = MemoryReactorClock()
        sio = SocketIOServer(reactor=reactor, max_http_buffer_size=100, cors_allowed_origins=["http://a.example"])
        service = SocketIOService(sio, ["tcp:8080"], reactor=reactor)
        reasons: list[str] = []
        sio.on("disconnect", lambda socket, reason: reasons.append(reason))
        channel = service.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5555))
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: h\r\n\r\n")
        [sid] = list(sio.engine.sockets)
        channel.dataReceived(b"POST /socket.io/?EIO=4&transport=polling&sid=" + sid.encode()
                             + b" HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n40")
        self.assertIn(b"\r\n\r\nok", transport.value())
        transport = StringTransport()
        channel = service.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5556))
        channel.makeConnection(transport)
        channel.dataReceived(b"POST /socket.io/?EIO=4&transport=polling&sid=" + sid.encode()
                             + b" HTTP/1.1\r\nHost: h\r\nOrigin: http://a.example\r\nContent-Length: 101\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertIn(b"Access-Control-Allow-Origin: http://a.example", transport.value())
        self.assertEqual(reasons, ["transport error"])
        self.assertTrue(sid not in sio.engine.sockets or sio.engine.sockets[sid].closed)

    def test_oversize_post_with_unknown_sid(self) -> None:
        """An oversize POST naming no live session is just answered 413."""
        reactor = MemoryReactorClock()
        sio = SocketIOServer(reactor=reactor, max_http_buffer_size=100)
        service = SocketIOService(sio, ["tcp:8080"], reactor=reactor)
        channel = service.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5555))
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"POST /socket.io/?EIO=4&transport=polling&sid=nope HTTP/1.1\r\n"
                             b"Origin: http://evil.example\r\nContent-Length: 101\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertNotIn(b"Access-Control", transport.value())


class StopTests(unittest.TestCase):
    def test_stop_is_graceful(self) -> None:
        """Stopping stops listening first, then waits for sio.shutdown(timeout)
        — clients are told "server shutting down" — and the service is then stopped."""
        reactor = BusyReactor()
        sio = SocketIOServer(reactor=reactor)
        reasons: list[str] = []
        sio.on("disconnect", lambda socket, reason: reasons.append(reason))
        service = SocketIOService(sio, ["tcp:9000"], reactor=reactor, shutdown_timeout=3)
        service.privilegedStartService()
        service.startService()
        [port] = service.ports
        client = TestClient(sio)
        d = service.stopService()
        self.assertFalse(port.listening)
        reactor.advance(3)
        self.successResultOf(d)
        self.assertEqual(reasons, ["server shutting down"])
        self.assertIn("/", client.disconnected)
        self.assertFalse(service.running)
        self.assertEqual(service.ports, [])

    def test_stop_waits_for_shutdown(self) -> None:
        """stopService's Deferred fires only once sio.shutdown's has, with the timeout given."""
        reactor = MemoryReactorClock()
        sio = SocketIOServer(reactor=reactor)
        pending: defer.Deferred[None] = defer.Deferred()
        timeouts: list[float] = []

        def shutdown(timeout: float) -> defer.Deferred[None]:
            timeouts.append(timeout)
            return pending

        sio.shutdown = shutdown  # type: ignore[method-assign]
        service = SocketIOService(sio, ["tcp:8080"], reactor=reactor, shutdown_timeout=7)
        service.startService()
        d = service.stopService()
        self.assertNoResult(d)
        self.assertEqual(timeouts, [7])
        pending.callback(None)
        self.successResultOf(d)

    def test_stop_with_a_clock_server(self) -> None:
        """The service may use another clock than the server's (the server's
        shutdown runs on its own)."""
        clock = Clock()
        reactor = MemoryReactorClock()
        sio = SocketIOServer(reactor=clock)
        service = SocketIOService(sio, ["tcp:0"], reactor=reactor)
        service.startService()
        d = service.stopService()
        clock.advance(10)
        self.successResultOf(d)
