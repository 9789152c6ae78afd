"""txsocketio.redisconn without a Redis server: Sentinel URLs, the reconnect
backoff (alone and driving Twisted's ClientService on a task.Clock), the
Sentinel master discovery and the ROLE check, all in memory."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.application.internet import ClientService
from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IHostnameResolver, IReactorPluggableNameResolver
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport, StringTransportWithDisconnection
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial import unittest
from zope.interface import alsoProvides, implementer

from txsocketio import redisconn
from txsocketio.errors import RedisUnavailable
from txsocketio.redisconn import Backoff, RedisAddress, RedisConnection


# -- URLs ---------------------------------------------------------------------------


class SentinelAddressTests(unittest.TestCase):
    def test_forms(self) -> None:
        """redis+sentinel:// lists Sentinels (port 26379 by default, IPv6 in
        brackets), then the master's name and an optional db."""
        a = RedisAddress.parse("redis+sentinel://s1:26380,[::1],s3/mymaster/2")
        self.assertEqual(a.sentinels, (("s1", 26380), ("::1", 26379), ("s3", 26379)))
        self.assertEqual((a.master_name, a.db, a.host, a.path, a.tls), ("mymaster", 2, None, None, False))
        self.assertTrue(a.is_sentinel)
        self.assertFalse(RedisAddress.parse("redis://h").is_sentinel)
        self.assertEqual(RedisAddress.parse("redis+sentinel://h/m?db=4").db, 4)
        self.assertIsNone(RedisAddress.parse("redis+sentinel://h/m").db)
        self.assertEqual(RedisAddress.parse("REDIS+SENTINEL://h/m").master_name, "m")

    def test_credentials(self) -> None:
        """user:password in the URL are the Redis servers'; the Sentinels'
        come as sentinel_username / sentinel_password in the query; none of
        them shows in str() or repr()."""
        a = RedisAddress.parse("redis+sentinel://u%40x:p%2Fw@h1,h2:1/m?sentinel_password=s3&sentinel_username=su")
        self.assertEqual((a.username, a.password, a.sentinel_username, a.sentinel_password),
                         ("u@x", "p/w", "su", "s3"))
        self.assertEqual(str(a), "redis+sentinel://u@x:***@h1:26379,h2:1/m")
        for secret in ("p/w", "s3"):
            self.assertNotIn(secret, repr(a))
            self.assertNotIn(secret, str(a))
        b = RedisAddress.parse("redis+sentinel://h/m?password=pw&username=me")
        self.assertEqual((b.username, b.password), ("me", "pw"))

    def test_str_round_trip(self) -> None:
        """str() of an address without a password parses back to the same address."""
        for url in ["redis+sentinel://h1:26379,h2:26380/m/3", "redis+sentinel://[::1]:5/name"]:
            a = RedisAddress.parse(url)
            self.assertEqual(RedisAddress.parse(str(a)), a)
            self.assertEqual(str(a), url)

    def test_tls_refused(self) -> None:
        """rediss+sentinel:// is refused with a reason and an alternative
        (txredisapi reaches the master without TLS)."""
        with self.assertRaises(ValueError) as caught:
            RedisAddress.parse("rediss+sentinel://h:26379/m")
        self.assertIn("TLS", str(caught.exception))
        self.assertIn("redis+sentinel://", str(caught.exception))

    def test_bad(self) -> None:
        """Malformed Sentinel URLs raise ValueError saying the expected form,
        without echoing a password."""
        for url in ["redis+sentinel://h", "redis+sentinel://h/", "redis+sentinel:///m", "redis+sentinel://h/m/1/2",
                    "redis+sentinel://h:0/m", "redis+sentinel://h:99999/m", "redis+sentinel://h:x/m",
                    "redis+sentinel://h,,h2/m", "redis+sentinel://[::1/m", "redis+sentinel://[::1]x/m",
                    "redis+sentinel://h/m/x", "redis+sentinel://h/m/-1"]:
            self.assertRaises(ValueError, RedisAddress.parse, url)
        for url in ["redis+sentinel://:hunter2@h:x/m", "redis+sentinel://h:x/m?sentinel_password=hunter2",
                    "http://u:hunter2@h"]:
            with self.assertRaises(ValueError) as caught:
                RedisAddress.parse(url)
            self.assertNotIn("hunter2", str(caught.exception))

    @given(st.text(max_size=60))
    def test_fuzz(self, tail: str) -> None:
        """Any text after a known scheme parses or raises ValueError, nothing else."""
        for scheme in ("redis+sentinel://", "redis://", "unix://"):
            try:
                RedisAddress.parse(scheme + tail)
            except ValueError:
                pass


# -- the backoff ----------------------------------------------------------------------


class BackoffTests(unittest.TestCase):
    def test_defaults(self) -> None:
        """The default grows 0.25 -> 0.5 -> 1 s and stays capped at 1 s, never below 0.05 s."""
        b = Backoff()
        self.assertEqual([b.ceiling(n) for n in (1, 2, 3, 4, 50, 10**9)], [0.25, 0.5, 1.0, 1.0, 1.0, 1.0])
        self.assertEqual(b.delay(1, 0.0), 0.05)
        self.assertAlmostEqual(b.delay(7, 0.999999), 1.0, places=5)
        self.assertEqual(b.delay(3, 0.5), 0.05 + 0.5 * 0.95)

    @given(st.floats(0, 5), st.floats(0, 5), st.floats(1, 10), st.integers(-5, 10**12),
           st.floats(0, 1, exclude_max=True))
    def test_bounds(self, initial: float, extra: float, factor: float, attempt: int, draw: float) -> None:
        """Every delay lies between the minimum and the ceiling, the ceiling
        never exceeds the maximum and never shrinks from one attempt to the
        next, even after an absurdly long outage."""
        b = Backoff(initial=initial, maximum=initial + extra, factor=factor, minimum=initial / 2)
        ceiling = b.ceiling(attempt)
        self.assertLessEqual(ceiling, b.maximum)
        self.assertLessEqual(ceiling, b.ceiling(attempt + 1))
        delay = b.delay(attempt, draw)
        self.assertGreaterEqual(delay, b.minimum)
        self.assertLessEqual(delay, ceiling)

    def test_full_jitter(self) -> None:
        """The draw spans the whole interval: attempts of many clients spread out."""
        b = Backoff()
        delays = [b.delay(10, random.Random(seed).random()) for seed in range(200)]
        self.assertLess(min(delays), 0.15)
        self.assertGreater(max(delays), 0.9)

    def test_invalid(self) -> None:
        """Inconsistent settings are refused."""
        for kw in [{"initial": 2.0, "maximum": 1.0}, {"minimum": 0.5, "initial": 0.25}, {"minimum": -1},
                   {"factor": 0.5}]:
            self.assertRaises(ValueError, Backoff, **kw)

    def test_policy(self) -> None:
        """policy() is a ClientService retryPolicy drawing from the given source."""
        draws = iter([0.0, 0.5])
        policy = Backoff(initial=1.0, maximum=4.0, minimum=0.0).policy(lambda: next(draws))
        self.assertEqual([policy(1), policy(3)], [0.0, 2.0])


class _Flaky:
    """A client endpoint that refuses while ``down`` and records when it connected."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.down = False
        self.connected_at: float | None = None
        self.attempts = 0

    def connect(self, factory: Any) -> Deferred:
        self.attempts += 1
        if self.down:
            return fail(ConnectionRefusedError())
        protocol = factory.buildProtocol(None)
        self.transport = StringTransportWithDisconnection()
        self.transport.protocol = protocol
        protocol.makeConnection(self.transport)
        if self.connected_at is None:
            self.connected_at = self.clock.seconds()
        return succeed(protocol)


class ReconnectTests(unittest.TestCase):
    """The backoff as the retry policy of Twisted's ClientService (what
    txredisapi 1.6 builds each connection on), on a task.Clock."""

    def service(self, clock: Clock, seed: int) -> tuple[ClientService, _Flaky]:
        endpoint = _Flaky(clock)
        service = ClientService(endpoint, Factory.forProtocol(Protocol), clock=clock,
                                retryPolicy=Backoff().policy(random.Random(seed).random))
        service.startService()
        self.addCleanup(service.stopService)
        return service, endpoint

    def outage(self, clock: Clock, endpoints: list[_Flaky], seconds: float) -> None:
        for endpoint in endpoints:
            endpoint.down = True
            endpoint.connected_at = None
            endpoint.transport.loseConnection()
        clock.pump([0.01] * int(seconds * 100))

    def test_back_within_a_second(self) -> None:
        """However long Redis was down (a minute here), the connection is back
        at most one second after Redis is."""
        clock = Clock()
        service, endpoint = self.service(clock, 1)
        self.assertEqual(endpoint.connected_at, 0)
        self.outage(clock, [endpoint], 60)
        self.assertIsNone(endpoint.connected_at)
        # About two attempts a second while down, not a tight loop.
        self.assertTrue(60 < endpoint.attempts < 250, endpoint.attempts)
        back = clock.seconds()
        endpoint.down = False
        clock.pump([0.01] * 101)
        self.assertIsNotNone(endpoint.connected_at)
        self.assertLessEqual(endpoint.connected_at - back, 1.0)

    def test_blip(self) -> None:
        """A connection dropped while Redis stays up is retried within 0.25 s."""
        clock = Clock()
        for seed in range(20):
            service, endpoint = self.service(clock, seed)
            endpoint.connected_at = None
            endpoint.transport.loseConnection()
            start = clock.seconds()
            clock.pump([0.01] * 26)
            self.assertIsNotNone(endpoint.connected_at)
            self.assertLessEqual(endpoint.connected_at - start, 0.25 + 1e-9)

    def test_no_stampede(self) -> None:
        """Forty servers that lost Redis together come back spread over the
        second after Redis does, not all at the same instant."""
        clock = Clock()
        endpoints = [self.service(clock, seed)[1] for seed in range(40)]
        self.outage(clock, endpoints, 10)
        back = clock.seconds()
        for endpoint in endpoints:
            endpoint.down = False
        clock.pump([0.01] * 101)
        delays = sorted(e.connected_at - back for e in endpoints if e.connected_at is not None)
        self.assertEqual(len(delays), 40)
        self.assertLessEqual(delays[-1], 1.0)
        tenths = {int(d * 10) for d in delays}
        self.assertGreaterEqual(len(tenths), 7, delays)  # spread over most of the second


class ConnectionPolicyTests(unittest.TestCase):
    def test_default_policy(self) -> None:
        """RedisConnection's delays follow the default backoff: at most 1 s."""
        conn = RedisConnection("redis://127.0.0.1:1", reactor=Clock())
        delays = [conn.retry_delay(n) for n in range(1, 200)]
        self.assertLessEqual(max(delays[:1]), 0.25)
        self.assertLessEqual(max(delays), 1.0)
        self.assertGreaterEqual(min(delays), 0.05)

    def test_custom_policy(self) -> None:
        """retry_policy replaces the backoff; initial/max_retry_delay shape the default one."""
        conn = RedisConnection("redis://127.0.0.1:1", reactor=Clock(), retry_policy=lambda n: n * 10.0)
        self.assertEqual(conn.retry_delay(3), 30.0)
        conn = RedisConnection("redis://127.0.0.1:1", reactor=Clock(), initial_retry_delay=0.01,
                               max_retry_delay=0.02)
        self.assertTrue(all(0 <= conn.retry_delay(n) <= 0.02 for n in range(1, 50)))
        self.assertRaises(ValueError, RedisConnection, "redis://h", reactor=Clock(), initial_retry_delay=5.0)

    def test_together_within_one_outage(self) -> None:
        """The publisher and the subscriber of one connection get the same
        delay for the same attempt (they come back together); two connections
        (two servers) draw their own."""
        clock = Clock()
        a = RedisConnection("redis://127.0.0.1:1", reactor=clock)
        b = RedisConnection("redis://127.0.0.1:1", reactor=clock)
        first = [a.retry_delay(n) for n in range(1, 30)]
        self.assertEqual([a.retry_delay(n) for n in range(28, 30)], first[-2:])
        self.assertNotEqual([b.retry_delay(n) for n in range(1, 30)], first)
        self.assertLessEqual(len(a._delays), 2)  # bounded, however long the outage

    def test_factories_use_it(self) -> None:
        """Both of txredisapi's factories take their delays from the connection
        (their retryDelay is ClientService's retryPolicy), not from txredisapi's
        own backoff capped at 10 s."""
        conn = RedisConnection("redis://127.0.0.1:1", reactor=Clock(), retry_policy=lambda n: 0.125 * n)
        for factory in (redisconn._SubscriberFactory(isLazy=True),
                        redisconn._PublisherFactory("x", None, 1, isLazy=True)):
            factory.hub = conn
            self.assertEqual(factory.retryDelay(2), 0.25)
            self.assertEqual(factory.retryDelay(1000), 125.0)


# -- Sentinel, in memory --------------------------------------------------------------------


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


class RoleCheckTests(unittest.TestCase):
    """With Sentinel, a connection counts only once ROLE says master."""

    def connect(self, url: str, protocol_class: Any, reply: bytes) -> tuple[Any, StringTransport, RedisConnection]:
        clock = Clock()
        conn = RedisConnection(url, reactor=clock)
        protocol = protocol_class(charset=None, convertNumbers=False, password=conn.address.password)
        protocol.factory = SimpleNamespace(hub=conn)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(reply)
        for _ in range(5):  # txredisapi resumes parsing after a bulk reply with callLater(0)
            clock.advance(0)
        return protocol, transport, conn

    def test_master(self) -> None:
        """ROLE master: the publisher becomes the connection's publisher and
        the subscriber its subscriber."""
        master = b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"
        proto, transport, conn = self.connect("redis+sentinel://h/m", redisconn._PublisherProtocol, master)
        self.assertIn(b"ROLE", transport.value())
        self.assertFalse(transport.disconnecting)
        self.assertTrue(proto.whenConnected().called)
        proto, transport, conn = self.connect("redis+sentinel://h/m", redisconn._SubscriberProtocol, master)
        self.assertFalse(transport.disconnecting)
        self.assertTrue(proto.whenConnected().called)

    def test_replica(self) -> None:
        """ROLE slave (a stale answer during a failover): the connection is
        dropped before it is usable, with one warning."""
        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        replica = _bulk(b"slave", b"10.0.0.9", b"6379", b"connected") + b":5\r\n"
        replica = b"*5\r\n" + replica[4:]
        for protocol_class in (redisconn._PublisherProtocol, redisconn._SubscriberProtocol):
            proto, transport, conn = self.connect("redis+sentinel://h/m", protocol_class, replica)
            self.assertTrue(transport.disconnecting)
            self.assertFalse(proto.whenConnected().called)
            self.assertFalse(conn.connected)
        warnings = [e for e in events if e.get("log_namespace") == "txsocketio.redis"]
        self.assertEqual(len(warnings), 2)  # one per connection object (one outage each)
        self.assertIn("is not a master", warnings[0]["error"])

    def test_password_first(self) -> None:
        """With a password, AUTH goes before ROLE."""
        master = b"+OK\r\n*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n+OK\r\n"
        proto, transport, conn = self.connect("redis+sentinel://:pw@h/m", redisconn._PublisherProtocol, master)
        sent = transport.value()
        self.assertLess(sent.index(b"AUTH"), sent.index(b"ROLE"))

    def test_plain_address(self) -> None:
        """Without Sentinel there is no ROLE round trip."""
        proto, transport, conn = self.connect("redis://h", redisconn._PublisherProtocol, b"")
        self.assertNotIn(b"ROLE", transport.value())
        self.assertTrue(proto.whenConnected().called)


class SwitchMasterTests(unittest.TestCase):
    """Sentinel's +switch-master announcement moves the connections."""

    def hub(self) -> tuple[RedisConnection, list[StringTransport]]:
        conn = RedisConnection("redis+sentinel://10.0.0.1:26379/mymaster", reactor=Clock())
        transports = []
        for kind in ("subscriber", "publisher"):
            transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.5", 6379))
            transports.append(transport)
            setattr(conn, f"_{kind}", SimpleNamespace(transport=transport))
        return conn, transports

    def test_switch(self) -> None:
        """An announcement for our master moves both connections (they are
        closed and reconnect through Sentinel)."""
        conn, transports = self.hub()
        conn._master_switched(b"mymaster 10.0.0.5 6379 10.0.0.6 6380")
        self.assertEqual([t.disconnecting for t in transports], [True, True])

    def test_already_there(self) -> None:
        """A connection already on the new master stays; another master's
        announcement changes nothing."""
        conn, transports = self.hub()
        conn._master_switched(b"mymaster 10.0.0.4 6379 10.0.0.5 6379")
        conn._master_switched(b"othermaster 10.0.0.5 6379 10.0.0.6 6380")
        self.assertEqual([t.disconnecting for t in transports], [False, False])

    def test_malformed(self) -> None:
        """A malformed announcement is logged and ignored."""
        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        conn, transports = self.hub()
        for message in (b"mymaster", b"mymaster a b c notaport", b"\xff\xfe"):
            conn._master_switched(message)
        self.assertEqual([t.disconnecting for t in transports], [False, False])
        self.assertEqual(len([e for e in events if e.get("log_namespace") == "txsocketio.redis"]), 3)


class AnySentinelTests(unittest.TestCase):
    def test_first_that_accepts(self) -> None:
        """The announcement watcher connects to the first Sentinel that accepts, in order."""
        reactor = _reactor()
        conn = RedisConnection("redis+sentinel://10.0.0.1:1,10.0.0.2:2/m", reactor=reactor)
        factory = Factory.forProtocol(Protocol)
        d = redisconn._AnySentinelEndpoint(conn).connect(factory)
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
        conn = RedisConnection("redis+sentinel://10.0.0.1:1/m", reactor=reactor)
        d = redisconn._AnySentinelEndpoint(conn).connect(Factory.forProtocol(Protocol))
        reactor.advance(0.05)
        reactor.tcpClients[0][2].clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        reactor.advance(1)
        self.failureResultOf(d, RedisUnavailable)
