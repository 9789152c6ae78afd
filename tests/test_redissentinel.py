"""txsocketio.redissentinel in memory: asking the Sentinels in turn where
the master is (through RedisConnection.discover_master, its public door),
connecting to the first Sentinel that accepts, reading +switch-master."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IHostnameResolver, IReactorPluggableNameResolver
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest
from zope.interface import alsoProvides, implementer

from txsocketio.errors import RedisUnavailable
from txsocketio.redisaddress import RedisAddress
from txsocketio.redisconn import RedisConnection
from txsocketio.redissentinel import AnySentinelEndpoint, Sentinels, parse_switch_master


@implementer(IHostnameResolver)
class _LiteralResolver:
    """Resolves every name to itself (the tests use IP literals)."""

    def resolveHostName(self, receiver: Any, hostName: str, portNumber: int = 0, addressTypes: Any = None,
                        transportSemantics: str = "TCP") -> Any:
        from twisted.internet._resolver import HostResolution

        resolution = HostResolution(hostName)
        receiver.resolutionBegan(resolution)
        receiver.addressResolved(IPv4Address("TCP", hostName, portNumber))
        receiver.resolutionComplete()
        return resolution


def _reactor() -> MemoryReactorClock:
    reactor = MemoryReactorClock()
    alsoProvides(reactor, IReactorPluggableNameResolver)
    reactor.nameResolver = _LiteralResolver()  # type: ignore[attr-defined]
    return reactor


def _bulk(*items: bytes | None) -> bytes:
    out = b"*%d\r\n" % len(items)
    for item in items:
        out += b"$-1\r\n" if item is None else b"$%d\r\n%s\r\n" % (len(item), item)
    return out


class DiscoveryTests(unittest.TestCase):
    """RedisConnection.discover_master over in-memory connections."""

    def setUp(self) -> None:
        self.reactor = _reactor()
        self.seen = 0

    def next_attempt(self) -> tuple[str, int, Any]:
        """The next TCP connection attempt: (host, port, factory)."""
        for _ in range(20):  # HostnameEndpoint starts its attempts from a LoopingCall
            self.reactor.advance(0.05)
            if len(self.reactor.tcpClients) > self.seen:
                break
        self.assertGreater(len(self.reactor.tcpClients), self.seen, "no connection attempt")
        host, port, factory = self.reactor.tcpClients[self.seen][:3]
        self.seen += 1
        return host, port, factory

    def answer(self, factory: Any, reply: bytes) -> StringTransport:
        """Accept the connection, check the question, send ``reply``."""
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(reply)
        self.reactor.advance(0)  # txredisapi resumes parsing after a bulk reply with callLater(0)
        transport.protocol = protocol  # type: ignore[attr-defined]
        return transport

    def close(self, transport: StringTransport) -> None:
        self.assertTrue(transport.disconnecting, "the Sentinel connection was left open")
        transport.protocol.connectionLost(Failure(ConnectionRefusedError()))  # type: ignore[attr-defined]

    def test_asks_in_turn(self) -> None:
        """A Sentinel that is down or does not know the master is skipped; the
        one that answers is asked first next time; each connection is closed."""
        conn = RedisConnection("redis+sentinel://10.0.0.1:1,10.0.0.2:2,10.0.0.3:3/mymaster", reactor=self.reactor)
        result = conn.discover_master()
        host, port, factory = self.next_attempt()
        self.assertEqual((host, port), ("10.0.0.1", 1))
        factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        host, port, factory = self.next_attempt()
        self.assertEqual((host, port), ("10.0.0.2", 2))
        transport = self.answer(factory, b"*-1\r\n")  # unknown master name
        self.assertIn(b"GET-MASTER-ADDR-BY-NAME", transport.value())
        self.assertIn(b"mymaster", transport.value())
        self.close(transport)
        host, port, factory = self.next_attempt()
        self.assertEqual((host, port), ("10.0.0.3", 3))
        self.close(self.answer(factory, _bulk(b"10.1.1.1", b"6390")))
        self.assertEqual(self.successResultOf(result), ("10.1.1.1", 6390))
        # The one that answered comes first now.
        result = conn.discover_master()
        host, port, factory = self.next_attempt()
        self.assertEqual((host, port), ("10.0.0.3", 3))
        self.close(self.answer(factory, _bulk(b"10.1.1.2", b"6391")))
        self.assertEqual(self.successResultOf(result), ("10.1.1.2", 6391))

    def test_none_answers(self) -> None:
        """When no Sentinel names the master, discovery fails with
        RedisUnavailable listing why, per Sentinel."""
        conn = RedisConnection("redis+sentinel://10.0.0.1:1,10.0.0.2:2/mymaster", reactor=self.reactor)
        result = conn.discover_master()
        self.next_attempt()[2].clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        self.close(self.answer(self.next_attempt()[2], b"*-1\r\n"))
        error = self.failureResultOf(result, RedisUnavailable).value
        self.assertIn("10.0.0.1:1", str(error))
        self.assertIn("knows no master named 'mymaster'", str(error))

    def test_silent_sentinel(self) -> None:
        """A Sentinel that accepts but never answers is given up on after
        connect_timeout; the next one is asked."""
        conn = RedisConnection("redis+sentinel://10.0.0.1:1,10.0.0.2:2/m", reactor=self.reactor, connect_timeout=2)
        result = conn.discover_master()
        transport = self.answer(self.next_attempt()[2], b"")
        self.reactor.advance(2.01)
        self.close(transport)
        self.close(self.answer(self.next_attempt()[2], _bulk(b"10.1.1.1", b"7000")))
        self.assertEqual(self.successResultOf(result), ("10.1.1.1", 7000))

    def test_sentinel_password(self) -> None:
        """sentinel_password (and sentinel_username) authenticate to the Sentinel first."""
        conn = RedisConnection("redis+sentinel://:master-pw@10.0.0.1:1/m?sentinel_password=s-pw&sentinel_username=su",
                               reactor=self.reactor)
        result = conn.discover_master()
        transport = self.answer(self.next_attempt()[2], b"+OK\r\n" + _bulk(b"10.1.1.1", b"7000"))
        sent = transport.value()
        self.assertTrue(sent.startswith(b"*3\r\n$4\r\nAUTH\r\n$2\r\nsu\r\n$4\r\ns-pw\r\n"), sent)
        self.assertNotIn(b"master-pw", sent)
        self.close(transport)
        self.assertEqual(self.successResultOf(result), ("10.1.1.1", 7000))

    def test_cancel(self) -> None:
        """Cancelling a discovery (closing the connection mid-question) leaves
        nothing open."""
        conn = RedisConnection("redis+sentinel://10.0.0.1:1/m", reactor=self.reactor)
        result = conn.discover_master()
        transport = self.answer(self.next_attempt()[2], b"")
        result.cancel()
        self.close(transport)
        self.failureResultOf(result, CancelledError)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_not_sentinel(self) -> None:
        """discover_master on a plain address fails at once."""
        self.failureResultOf(RedisConnection("redis://h", reactor=self.reactor).discover_master(), ValueError)


class AnySentinelTests(unittest.TestCase):
    def test_first_that_accepts(self) -> None:
        """The announcement watcher connects to the first Sentinel that accepts, in order."""
        reactor = _reactor()
        sentinels = Sentinels(RedisAddress.parse("redis+sentinel://10.0.0.1:1,10.0.0.2:2/m"), reactor, 5.0)
        factory = Factory.forProtocol(Protocol)
        d = AnySentinelEndpoint(sentinels).connect(factory)
        reactor.advance(0.05)
        reactor.tcpClients[0][2].clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        for _ in range(20):
            reactor.advance(0.05)
        self.assertEqual(reactor.tcpClients[1][:2], ("10.0.0.2", 2))
        protocol = reactor.tcpClients[1][2].buildProtocol(None)
        protocol.makeConnection(StringTransport())
        self.assertIsInstance(self.successResultOf(d), Protocol)

    def test_none_accepts(self) -> None:
        """No Sentinel accepting fails the attempt with RedisUnavailable (ClientService retries)."""
        reactor = _reactor()
        sentinels = Sentinels(RedisAddress.parse("redis+sentinel://10.0.0.1:1/m"), reactor, 5.0)
        d = AnySentinelEndpoint(sentinels).connect(Factory.forProtocol(Protocol))
        reactor.advance(0.05)
        reactor.tcpClients[0][2].clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        reactor.advance(1)
        self.failureResultOf(d, RedisUnavailable)


class SwitchMasterParseTests(unittest.TestCase):
    def test_parse(self) -> None:
        """+switch-master's message gives the master's name and its new address."""
        self.assertEqual(parse_switch_master(b"mymaster 10.0.0.5 6379 10.0.0.6 6380"),
                         ("mymaster", ("10.0.0.6", 6380)))
        self.assertEqual(parse_switch_master("m ::1 1 ::2 2"), ("m", ("::2", 2)))

    def test_malformed(self) -> None:
        """A malformed announcement raises ValueError, nothing else."""
        for message in (b"mymaster", b"mymaster a b c notaport", b"\xff\xfe", b"", b"a b c d e f"):
            self.assertRaises(ValueError, parse_switch_master, message)
