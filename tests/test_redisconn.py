"""txsocketio.redisconn without a Redis server: the reconnect backoff (alone
and driving Twisted's ClientService on a task.Clock), the connection's retry
delays, the subscriptions and commands driven through the connection's
public events (as its protocols drive them), and following Sentinel's
+switch-master announcement, all in memory.

The URL parsing is tested in tests/test_redisaddress.py, the txredisapi
protocols in tests/test_redisprotocol.py, Sentinel discovery in
tests/test_redissentinel.py."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.application.internet import ClientService
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport, StringTransportWithDisconnection
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from txsocketio.errors import RedisUnavailable
from txsocketio.redisconn import Backoff, RedisConnection


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

    def test_bounded(self) -> None:
        """However long the outage, the connection remembers the delays of the
        last two attempts only: every earlier attempt is drawn afresh."""
        drawn: list[int] = []
        conn = RedisConnection("redis://127.0.0.1:1", reactor=Clock(),
                               retry_policy=lambda n: drawn.append(n) or 0.5)
        for n in range(1, 30):
            conn.retry_delay(n)
        conn.retry_delay(29)
        conn.retry_delay(28)
        self.assertEqual(drawn, list(range(1, 30)))  # the last two are remembered
        for n in range(27, 0, -1):  # downwards, so that asking evicts nothing asked before
            conn.retry_delay(n)
        self.assertEqual(drawn[29:], list(range(27, 0, -1)))  # all earlier ones were forgotten


# -- Sentinel's announcements ------------------------------------------------------------


class SwitchMasterTests(unittest.TestCase):
    """Sentinel's +switch-master announcement moves the connections."""

    def hub(self) -> tuple[RedisConnection, list[StringTransport]]:
        conn = RedisConnection("redis+sentinel://10.0.0.1:26379/mymaster", reactor=Clock())
        transports = []
        for ready in (conn.subscriber_ready, conn.publisher_ready):
            transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.5", 6379))
            transports.append(transport)
            ready(SimpleNamespace(transport=transport))  # type: ignore[arg-type]
        return conn, transports

    def test_switch(self) -> None:
        """An announcement for our master moves both connections (they are
        closed and reconnect through Sentinel)."""
        conn, transports = self.hub()
        conn.master_switched(b"mymaster 10.0.0.5 6379 10.0.0.6 6380")
        self.assertEqual([t.disconnecting for t in transports], [True, True])

    def test_already_there(self) -> None:
        """A connection already on the new master stays; another master's
        announcement changes nothing."""
        conn, transports = self.hub()
        conn.master_switched(b"mymaster 10.0.0.4 6379 10.0.0.5 6379")
        conn.master_switched(b"othermaster 10.0.0.5 6379 10.0.0.6 6380")
        self.assertEqual([t.disconnecting for t in transports], [False, False])

    def test_malformed(self) -> None:
        """A malformed announcement is logged and ignored."""
        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        conn, transports = self.hub()
        for message in (b"mymaster", b"mymaster a b c notaport", b"\xff\xfe"):
            conn.master_switched(message)
        self.assertEqual([t.disconnecting for t in transports], [False, False])
        self.assertEqual(len([e for e in events if e.get("log_namespace") == "txsocketio.redis"]), 3)



# -- driven through its events, in memory ------------------------------------------------


class _FakeProtocol:
    """Stands in for a txredisapi protocol: records commands, answers on demand."""

    def __init__(self) -> None:
        self.transport = StringTransport()
        self.sent: list[tuple[Any, ...]] = []
        self.replies: list[Deferred] = []

    def _command(self, *args: Any) -> Deferred:
        self.sent.append(args)
        d: Deferred = Deferred()
        self.replies.append(d)
        return d

    def subscribe(self, keys: list[bytes]) -> Deferred:
        return self._command("SUBSCRIBE", *keys)

    def psubscribe(self, keys: list[bytes]) -> Deferred:
        return self._command("PSUBSCRIBE", *keys)

    def unsubscribe(self, keys: list[bytes]) -> Deferred:
        return self._command("UNSUBSCRIBE", *keys)

    def punsubscribe(self, keys: list[bytes]) -> Deferred:
        return self._command("PUNSUBSCRIBE", *keys)

    def execute_command(self, *args: Any) -> Deferred:
        return self._command(*args)


class EventsTests(unittest.TestCase):
    """RedisConnection driven through the public events its protocols call
    (ConnectionEvents), with stand-in protocols: no Redis, no sockets."""

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.conn = RedisConnection("unix:///nowhere/redis.sock", reactor=self.reactor)

        def close() -> None:
            self.conn.close()
            self.reactor.advance(0)

        self.addCleanup(close)

    def test_subscribe_when_ready(self) -> None:
        """A subscription made before the subscriber is up is sent once it is;
        ready() fires when Redis confirms; each callback gets each message once."""
        got: list[tuple[Any, ...]] = []
        first = self.conn.subscribe("news", lambda *args: got.append(("first", *args)))
        second = self.conn.subscribe(b"news", lambda *args: got.append(("second", *args)))
        pattern = self.conn.psubscribe("n*", lambda *args: got.append(("pattern", *args)))
        ready = first.ready()
        self.assertNoResult(ready)
        proto = _FakeProtocol()
        self.conn.subscriber_ready(proto)  # type: ignore[arg-type]
        self.assertEqual(proto.sent, [("SUBSCRIBE", b"news"), ("PSUBSCRIBE", b"n*")])
        all_ready = self.conn.wait_subscribed()
        proto.replies[0].callback([b"subscribe", b"news", 1])
        self.successResultOf(ready)
        self.successResultOf(second.ready())
        self.assertNoResult(all_ready)
        proto.replies[1].callback([b"psubscribe", b"n*", 2])
        self.successResultOf(all_ready)
        self.conn.message_received(None, b"news", b"\x93\xff")
        self.conn.message_received(b"n*", b"nope", "text")
        self.assertEqual(got, [("first", "news", b"\x93\xff"), ("second", "news", b"\x93\xff"),
                               ("pattern", "n*", "nope", b"text")])
        self.assertTrue(first.active and second.active and pattern.active)
        self.assertEqual((self.conn.channels(), self.conn.patterns()), ({"news"}, {"n*"}))

    def test_last_unsubscribe(self) -> None:
        """Only the last callback of a channel sends UNSUBSCRIBE; an
        unsubscribed callback is no longer active and gets nothing."""
        got: list[str] = []
        proto = _FakeProtocol()
        self.conn.subscriber_ready(proto)  # type: ignore[arg-type]
        first = self.conn.subscribe("c", lambda channel, payload: got.append("first"))
        second = self.conn.subscribe("c", lambda channel, payload: got.append("second"))
        self.assertEqual(proto.sent, [("SUBSCRIBE", b"c")])
        first.cancel()
        self.assertFalse(first.active)
        self.assertEqual(proto.sent, [("SUBSCRIBE", b"c")])
        self.conn.message_received(None, b"c", b"x")
        self.assertEqual(got, ["second"])
        self.conn.unsubscribe(second)
        self.conn.unsubscribe(second)  # twice does nothing
        self.assertEqual(proto.sent, [("SUBSCRIBE", b"c"), ("UNSUBSCRIBE", b"c")])
        self.assertFalse(second.active)

    def test_resubscribe_after_loss(self) -> None:
        """After the subscriber is lost, the next one subscribes again to
        everything current; ready() waits for that new confirmation; news of
        an older connection's loss changes nothing."""
        sub = self.conn.subscribe("c", lambda channel, payload: None)
        old = _FakeProtocol()
        self.conn.subscriber_ready(old)  # type: ignore[arg-type]
        old.replies[0].callback(None)
        self.successResultOf(sub.ready())
        self.conn.subscriber_lost(old)  # type: ignore[arg-type]
        self.assertFalse(self.conn.connected)
        ready = sub.ready()
        self.assertNoResult(ready)
        new = _FakeProtocol()
        self.conn.subscriber_ready(new)  # type: ignore[arg-type]
        self.conn.subscriber_lost(old)  # type: ignore[arg-type]
        self.assertEqual(new.sent, [("SUBSCRIBE", b"c")])
        new.replies[0].callback(None)
        self.successResultOf(ready)

    def test_commands_wait_for_the_publisher(self) -> None:
        """A command issued while there is no publisher is sent once one is
        ready, and answered from it; without one in time it fails with
        RedisUnavailable."""
        result = self.conn.publish("c", b"payload")
        proto = _FakeProtocol()
        self.conn.publisher_ready(proto)  # type: ignore[arg-type]
        self.assertEqual(proto.sent, [("PUBLISH", b"c", b"payload")])
        proto.replies[0].callback(3)
        self.assertEqual(self.successResultOf(result), 3)
        self.conn.publisher_lost(proto)  # type: ignore[arg-type]
        late = self.conn.numsub("c", timeout=2)
        self.reactor.advance(2)
        self.assertIn("could not be reached", str(self.failureResultOf(late, RedisUnavailable).value))

    def test_reconnect_listeners(self) -> None:
        """A reconnect listener is called once each time both connections are
        back after an outage, not on the first connection and not after
        it was removed; a listener that raises does not stop the others."""
        calls: list[str] = []

        def bad() -> None:
            raise RuntimeError("boom")

        self.conn.add_reconnect_listener(bad)
        self.conn.add_reconnect_listener(lambda: calls.append("back"))
        sub, pub = _FakeProtocol(), _FakeProtocol()
        self.conn.subscriber_ready(sub)  # type: ignore[arg-type]
        self.conn.publisher_ready(pub)  # type: ignore[arg-type]
        self.assertEqual(calls, [])
        self.conn.publisher_lost(pub)  # type: ignore[arg-type]
        self.conn.subscriber_lost(sub)  # type: ignore[arg-type]
        sub, pub = _FakeProtocol(), _FakeProtocol()
        self.conn.subscriber_ready(sub)  # type: ignore[arg-type]
        self.assertEqual(calls, [])  # the publisher is not back yet
        self.conn.publisher_ready(pub)  # type: ignore[arg-type]
        self.assertEqual(calls, ["back"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.conn.remove_reconnect_listener(bad)
        self.conn.publisher_lost(pub)  # type: ignore[arg-type]
        self.conn.publisher_ready(_FakeProtocol())  # type: ignore[arg-type]
        self.assertEqual(calls, ["back", "back"])
        self.assertEqual(self.flushLoggedErrors(RuntimeError), [])
