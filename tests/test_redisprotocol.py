"""txsocketio.redisprotocol in memory: the protocols report to their
ConnectionEvents (ready, lost, messages, announcements, failed attempts), the
ROLE check with Sentinel, and the factories' retry delays."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from twisted.internet.defer import fail, succeed
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial import unittest

from txsocketio.redisaddress import RedisAddress
from txsocketio.redisconn import RedisConnection
from txsocketio.redisprotocol import (ConnectionEvents, PublisherProtocol, SubscriberProtocol, SwitchWatchProtocol,
                                      WatchedEndpoint, publisher_factory, subscriber_factory, switch_watch_factory)


class _Recorder:
    """A ConnectionEvents that records what it is told."""

    def __init__(self, url: str = "redis://h") -> None:
        self.reactor = Clock()
        self.address = RedisAddress.parse(url)
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        if name not in ("retry_delay", "unreachable", "not_master", "subscriber_ready", "subscriber_lost",
                        "message_received", "publisher_ready", "publisher_lost", "master_switched"):
            raise AttributeError(name)
        return lambda *args: self.calls.append((name, *args))


def _connect(events: Any, protocol_class: Any, reply: bytes = b"") -> tuple[Any, StringTransport]:
    protocol = protocol_class(charset=None, convertNumbers=False)
    protocol.factory = SimpleNamespace(events=events)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(reply)
    for _ in range(5):  # txredisapi resumes parsing after a bulk reply with callLater(0)
        events.reactor.advance(0)
    return protocol, transport


class EventsTests(unittest.TestCase):
    """The protocols hold no state: they tell their ConnectionEvents."""

    def test_recorder_is_connection_events(self) -> None:
        """RedisConnection and the test recorder both offer every ConnectionEvents member."""
        members = [name for name in vars(ConnectionEvents) if not name.startswith("_")]
        members += list(ConnectionEvents.__annotations__)
        self.assertIn("message_received", members)
        conn = RedisConnection("redis://h", reactor=Clock())
        for name in members:
            self.assertTrue(hasattr(conn, name), name)
            self.assertTrue(hasattr(_Recorder(), name), name)

    def test_publisher(self) -> None:
        """The publisher reports itself ready once connected, and lost when it is."""
        events = _Recorder()
        proto, transport = _connect(events, PublisherProtocol)
        self.assertEqual(events.calls, [("publisher_ready", proto)])
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(events.calls[1:], [("publisher_lost", proto)])

    def test_subscriber(self) -> None:
        """The subscriber reports itself ready, passes every message on as
        (pattern, channel, payload) bytes, and reports itself lost."""
        events = _Recorder()
        proto, transport = _connect(events, SubscriberProtocol)
        self.assertEqual(events.calls, [("subscriber_ready", proto)])
        proto.dataReceived(b"*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$3\r\n\xff\x00a\r\n"
                           b"*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nc1\r\n$1\r\nx\r\n")
        for _ in range(5):
            events.reactor.advance(0)
        self.assertEqual(events.calls[1:], [("message_received", None, b"chan", b"\xff\x00a"),
                                            ("message_received", b"c*", b"c1", b"x")])
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(events.calls[-1], ("subscriber_lost", proto))

    def test_switch_watch(self) -> None:
        """The watcher subscribes to +switch-master and passes each announcement on."""
        events = _Recorder("redis+sentinel://h/m")
        proto, transport = _connect(events, SwitchWatchProtocol)
        self.assertIn(b"+switch-master", transport.value())
        proto.dataReceived(b"*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$9\r\nm a 1 b 2\r\n")
        for _ in range(5):
            events.reactor.advance(0)
        self.assertEqual(events.calls, [("master_switched", b"m a 1 b 2")])

    def test_watched_endpoint(self) -> None:
        """A failed attempt is reported as unreachable and still fails; a
        successful one is not reported."""
        events = _Recorder()
        refused = Failure(ConnectionRefusedError())
        d = WatchedEndpoint(SimpleNamespace(connect=lambda factory: fail(refused)), events).connect(None)
        self.failureResultOf(d, ConnectionRefusedError)
        self.assertEqual(events.calls, [("unreachable", refused)])
        d = WatchedEndpoint(SimpleNamespace(connect=lambda factory: succeed("proto")), events).connect(None)
        self.assertEqual(self.successResultOf(d), "proto")
        self.assertEqual(len(events.calls), 1)


class RoleCheckTests(unittest.TestCase):
    """With Sentinel, a connection counts only once ROLE says master."""

    def connect(self, url: str, protocol_class: Any, reply: bytes) -> tuple[Any, StringTransport, RedisConnection]:
        clock = Clock()
        conn = RedisConnection(url, reactor=clock)
        protocol = protocol_class(charset=None, convertNumbers=False, password=conn.address.password)
        protocol.factory = SimpleNamespace(events=conn)
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
        proto, transport, conn = self.connect("redis+sentinel://h/m", PublisherProtocol, master)
        self.assertIn(b"ROLE", transport.value())
        self.assertFalse(transport.disconnecting)
        self.assertTrue(proto.whenConnected().called)
        proto, transport, conn = self.connect("redis+sentinel://h/m", SubscriberProtocol, master)
        self.assertFalse(transport.disconnecting)
        self.assertTrue(proto.whenConnected().called)

    def test_replica(self) -> None:
        """ROLE slave (a stale answer during a failover): the connection is
        dropped before it is usable, with one warning."""
        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        replica = b"*5\r\n$5\r\nslave\r\n$8\r\n10.0.0.9\r\n$4\r\n6379\r\n$9\r\nconnected\r\n:5\r\n"
        for protocol_class in (PublisherProtocol, SubscriberProtocol):
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
        proto, transport, conn = self.connect("redis+sentinel://:pw@h/m", PublisherProtocol, master)
        sent = transport.value()
        self.assertLess(sent.index(b"AUTH"), sent.index(b"ROLE"))

    def test_plain_address(self) -> None:
        """Without Sentinel there is no ROLE round trip."""
        proto, transport, conn = self.connect("redis://h", PublisherProtocol, b"")
        self.assertNotIn(b"ROLE", transport.value())
        self.assertTrue(proto.whenConnected().called)


class FactoryTests(unittest.TestCase):
    def test_factories_use_it(self) -> None:
        """txredisapi's factories (the watcher's too) take their delays from the connection
        (their retryDelay is ClientService's retryPolicy), not from txredisapi's
        own backoff capped at 10 s."""
        conn = RedisConnection("redis://127.0.0.1:1", reactor=Clock(), retry_policy=lambda n: 0.125 * n)
        for factory in (subscriber_factory(conn), publisher_factory(conn), switch_watch_factory(conn)):
            self.assertEqual(factory.retryDelay(2), 0.25)
            self.assertEqual(factory.retryDelay(1000), 125.0)
