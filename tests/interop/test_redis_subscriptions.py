"""Redis channels forwarded to connected clients (txsocketio.subscriptions and
the Namespace methods) against a real redis-server.

The server runs in this process with the in-memory TestClient (real reactor,
real Redis): forwarding, event names, decoders, patterns, unsubscribing,
cleanup on disconnect (PUBSUB NUMSUB / NUMPAT back to 0), one Redis
subscription for many clients, and Redis killed and restarted under them.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor
from twisted.trial import unittest

from tests.support import RedisServer, poll_until, sleep
from txsocketio import Namespace, SocketIOServer
from txsocketio import subscriptions
from txsocketio.redisconn import RedisConnection
from txsocketio.subscriptions import Subscriptions
from txsocketio.testing import TestClient


class Feed(Namespace):
    """Clients choose what they watch."""

    def on_watch(self, channel: str, options: dict[str, Any] | None = None):
        options = options or {}
        decode: Any = subscriptions.decode_json
        if "decode" in options:
            decode = {"raw": None, "upper": lambda b: b.decode().upper()}[options["decode"]]
        return self.subscribe(channel, event=options.get("event"), decode=decode).addCallback(lambda _: "ok")

    def on_watch_pattern(self, pattern: str, event: str | None = None):
        return self.psubscribe(pattern, event=event).addCallback(lambda _: "ok")

    def on_unwatch(self, channel: str | None = None):
        self.unsubscribe(channel)
        return "ok"

    def on_unwatch_pattern(self, pattern: str | None = None):
        self.punsubscribe(pattern)
        return "ok"

    def on_watching(self):
        subs = Subscriptions.of(self.socket.nsp.server)
        return [sorted(subs.channels(self.socket)), sorted(subs.patterns(self.socket))]


class Received:
    """Everything a TestClient received in /feed, kept (pop_received empties it)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.events: list[tuple[str, list[Any]]] = []

    def __call__(self) -> list[tuple[str, list[Any]]]:
        self.events.extend(self.client.pop_received("/feed"))
        return self.events


class SubscriptionTestCase(unittest.TestCase):
    timeout = 60

    async def set_up(self) -> None:
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        await self.redis.start()
        self.conn = self.connection()
        self.publisher = self.connection()
        self.sio = SocketIOServer()
        self.sio.register("/feed", Feed)
        self.subs = Subscriptions.of(self.sio, connection=self.conn)
        self.addCleanup(self.sio.close)

    def connection(self) -> RedisConnection:
        conn = RedisConnection(self.redis.url, initial_retry_delay=0.1, max_retry_delay=0.3)
        self.addCleanup(conn.close)
        return conn

    def client(self) -> Received:
        client = TestClient(self.sio, namespace="/feed")
        self.assertTrue(client.is_connected("/feed"))
        self.addCleanup(client.close)
        return Received(client)

    async def call(self, received: Received, event: str, *args: Any) -> Any:
        return (await received.client.emit_with_ack(event, *args, namespace="/feed"))[0]

    async def publish(self, channel: str, message: Any) -> int:
        payload = message if isinstance(message, bytes) else json.dumps(message).encode()
        return await self.publisher.publish(channel, payload)

    async def wait_events(self, received: Received, count: int, timeout: float = 5.0) -> list:
        await poll_until(lambda: len(received()) >= count, timeout, interval=0.01,
                         message=lambda: f"got {received()!r}, wanted {count} events")
        return received()

    async def numsub(self, channel: str) -> int:
        return await self.publisher.numsub(channel)

    async def numpat(self) -> int:
        return await self.publisher.execute("PUBSUB", "NUMPAT")

    async def wait_numpat(self, n: int) -> None:
        values: list[int] = []

        async def check() -> bool:
            values.append(await self.numpat())
            return values[-1] == n

        deadline = reactor.seconds() + 5
        while not await check():
            if reactor.seconds() > deadline:
                self.fail(f"PUBSUB NUMPAT stayed {values[-1]}, not {n}")
            await sleep(0.02)

    async def wait_numsub(self, channel: str, n: int) -> None:
        values: list[int] = []

        async def check() -> bool:
            values.append(await self.numsub(channel))
            return values[-1] == n

        deadline = reactor.seconds() + 10
        while not await check():
            if reactor.seconds() > deadline:
                self.fail(f"PUBSUB NUMSUB {channel} stayed {values[-1]}, not {n}")
            await sleep(0.02)


class ForwardingTests(SubscriptionTestCase):
    async def test_forwarding(self) -> None:
        """A message published on the channel reaches the subscribed client as
        an event named after the channel, JSON-decoded; others get nothing."""
        await self.set_up()
        alice, bob = self.client(), self.client()
        self.assertEqual(await self.call(alice, "watch", "prices"), "ok")
        self.assertEqual(await self.publish("prices", {"acme": 12.5, "name": "é€"}), 1)
        self.assertEqual(await self.wait_events(alice, 1), [("prices", [{"acme": 12.5, "name": "é€"}])])
        await self.publish("other", 1)
        await sleep(0.1)
        self.assertEqual(bob(), [])
        self.assertEqual(len(alice()), 1)

    async def test_event_names(self) -> None:
        """``event=``: a fixed name, or a callable (channel, pattern); the
        server-wide default can change."""
        await self.set_up()
        alice = self.client()
        await self.call(alice, "watch", "a", {"event": "tick"})
        socket = self.sio.of("/feed").sockets[alice.client.sids["/feed"]]
        await self.subs.subscribe(socket, "b", event=lambda channel, pattern: f"{channel}/{pattern}")
        self.subs.event_name = lambda channel, pattern: "default:" + channel
        await self.subs.subscribe(socket, "c")
        for channel in "abc":
            await self.publish(channel, channel)
        events = await self.wait_events(alice, 3)
        self.assertEqual(sorted(events), [("b/None", ["b"]), ("default:c", ["c"]), ("tick", ["a"])])

    async def test_reserved_event_names(self) -> None:
        """A reserved event name is refused when subscribing (channel "disconnect"
        needs event=), and a pattern that yields one skips the message."""
        await self.set_up()
        alice = self.client()
        socket = self.sio.of("/feed").sockets[alice.client.sids["/feed"]]
        self.assertRaises(ValueError, self.subs.subscribe, socket, "disconnect")
        self.assertRaises(ValueError, self.subs.subscribe, socket, "x", event="connect")
        await self.subs.subscribe(socket, "disconnect", event="bye")
        await self.subs.psubscribe(socket, "connec*")
        await self.publish("disconnect", 1)
        await self.publish("connect", 2)       # skipped (logged), the client stays well
        await self.publish("connector", 3)
        await self.wait_events(alice, 2)
        await sleep(0.1)
        self.assertEqual(sorted(alice()), [("bye", [1]), ("connector", [3])])
        self.assertTrue(alice.client.is_connected("/feed"))

    async def test_decoders(self) -> None:
        """JSON by default; decode=None forwards text as str and non-UTF-8
        bytes as binary; any callable; a message that does not decode is
        skipped for that subscription only."""
        await self.set_up()
        as_json, raw, upper = self.client(), self.client(), self.client()
        await self.call(as_json, "watch", "c")
        await self.call(raw, "watch", "c", {"decode": "raw"})
        await self.call(upper, "watch", "c", {"decode": "upper"})
        await self.publish("c", b'{"n": [1, 2]}')
        await self.publish("c", b"not json")
        await self.publish("c", b"\xff\x00binary")
        await self.wait_events(raw, 3)
        await self.wait_events(upper, 2)
        await sleep(0.1)
        self.assertEqual(as_json(), [("c", [{"n": [1, 2]}])])
        self.assertEqual(raw(), [("c", ['{"n": [1, 2]}']), ("c", ["not json"]), ("c", [b"\xff\x00binary"])])
        self.assertEqual(upper(), [("c", ['{"N": [1, 2]}']), ("c", ["NOT JSON"])])

    async def test_patterns(self) -> None:
        """psubscribe: every matching channel, the event named after the channel;
        punsubscribe stops it."""
        await self.set_up()
        alice = self.client()
        self.assertEqual(await self.call(alice, "watch_pattern", "news.*"), "ok")
        await self.publish("news.sport", "goal")
        await self.publish("weather", "rain")
        await self.publish("news.tech", "chip")
        self.assertEqual(await self.wait_events(alice, 2), [("news.sport", ["goal"]), ("news.tech", ["chip"])])
        self.assertEqual(await self.call(alice, "watching"), [[], ["news.*"]])
        self.assertEqual(await self.numpat(), 1)
        await self.call(alice, "unwatch_pattern", "news.*")
        await self.publish("news.sport", "late")
        await sleep(0.1)
        self.assertEqual(len(alice()), 2)
        await self.wait_numpat(0)

    async def test_unsubscribe(self) -> None:
        """unsubscribe(channel) stops one channel, unsubscribe() all of them;
        the Redis subscription goes when its last client leaves."""
        await self.set_up()
        alice, bob = self.client(), self.client()
        for channel in ("a", "b"):
            await self.call(alice, "watch", channel)
        await self.call(bob, "watch", "a")
        self.assertEqual(await self.call(alice, "watching"), [["a", "b"], []])
        await self.call(alice, "unwatch", "a")
        self.assertEqual(await self.numsub("a"), 1)   # bob still watches it
        await self.publish("a", 1)
        await self.publish("b", 2)
        await self.wait_events(bob, 1)
        self.assertEqual(await self.wait_events(alice, 1), [("b", [2])])
        await self.call(alice, "unwatch")
        await self.call(bob, "unwatch", "a")
        await self.wait_numsub("a", 0)
        await self.wait_numsub("b", 0)
        self.assertEqual(await self.publish("a", 3), 0)
        self.assertEqual(await self.call(alice, "watching"), [[], []])

    async def test_cleanup_on_disconnect(self) -> None:
        """A client that goes away (connection dropped, or namespace left) is
        unsubscribed: NUMSUB and NUMPAT drop to 0."""
        await self.set_up()
        alice, bob = self.client(), self.client()
        await self.call(alice, "watch", "a")
        await self.call(alice, "watch_pattern", "p.*")
        await self.call(bob, "watch", "b")
        self.assertEqual((await self.numsub("a"), await self.numsub("b"), await self.numpat()), (1, 1, 1))
        alice.client.close()                      # the connection drops
        bob.client.disconnect("/feed")            # leaves the namespace, connection stays
        await self.wait_numsub("a", 0)
        await self.wait_numsub("b", 0)
        await self.wait_numpat(0)
        self.assertEqual(self.subs.listeners("a"), 0)
        self.assertEqual(self.subs.sockets(), set())

    async def test_one_redis_subscription_for_many_clients(self) -> None:
        """200 clients on one channel: one SUBSCRIBE (NUMSUB 1), one PUBLISH
        reaches all of them, each once."""
        await self.set_up()
        clients = [self.client() for _ in range(200)]
        for received in clients:
            await self.call(received, "watch", "crowd")
        self.assertEqual(await self.numsub("crowd"), 1)
        self.assertEqual(self.subs.listeners("crowd"), 200)
        self.assertEqual(await self.publish("crowd", {"n": 1}), 1)   # one subscriber connection
        for received in clients:
            await self.wait_events(received, 1)
        await sleep(0.1)
        self.assertTrue(all(r() == [("crowd", [{"n": 1}])] for r in clients))
        for received in clients[:150]:
            received.client.close()
        self.assertEqual(await self.numsub("crowd"), 1)
        for received in clients[150:]:
            received.client.close()
        await self.wait_numsub("crowd", 0)

    async def test_redis_restart(self) -> None:
        """Redis killed and restarted: the subscriptions come back by themselves
        and messages flow again, exactly once per client."""
        await self.set_up()
        alice, bob = self.client(), self.client()
        await self.call(alice, "watch", "live")
        await self.call(bob, "watch_pattern", "live*")
        await self.publish("live", 0)
        await self.wait_events(alice, 1)
        await self.wait_events(bob, 1)
        await self.redis.kill()
        await self.redis.start()
        await self.wait_numsub("live", 1)
        await self.wait_numpat(1)
        await self.conn.wait_subscribed()
        for n in (1, 2, 3):
            self.assertEqual(await self.publish("live", n), 2)   # our one connection, channel + pattern
        await self.wait_events(alice, 4)
        await self.wait_events(bob, 4)
        await sleep(0.2)
        self.assertEqual(alice(), [("live", [n]) for n in range(4)])
        self.assertEqual(bob(), [("live", [n]) for n in range(4)])
        # and they still subscribe and unsubscribe normally
        await self.call(alice, "unwatch")
        await self.call(bob, "unwatch_pattern")
        await self.wait_numsub("live", 0)
        await self.wait_numpat(0)

    async def test_subscribe_while_redis_is_down(self) -> None:
        """A subscription made while Redis is down starts when it is back."""
        await self.set_up()
        alice = self.client()
        await self.call(alice, "watch", "first")
        await self.redis.kill()
        watching = alice.client.emit_with_ack("watch", "later", namespace="/feed")
        await sleep(0.3)
        self.assertFalse(watching.called)
        await self.redis.start()
        self.assertEqual(await watching, ["ok"])
        await self.publish("later", "hi")
        self.assertEqual(await self.wait_events(alice, 1), [("later", ["hi"])])


class FunctionStyleTests(SubscriptionTestCase):
    async def test_function_style(self) -> None:
        """subscriptions.subscribe(socket, ...) from a function handler; the
        same bookkeeping and cleanup."""
        await self.set_up()

        @self.sio.on("follow")
        def follow(socket, channel):
            return subscriptions.subscribe(socket, channel, event="update").addCallback(lambda _: True)

        @self.sio.on("unfollow")
        def unfollow(socket, channel):
            subscriptions.unsubscribe(socket, channel)
            return True

        client = TestClient(self.sio)
        self.addCleanup(client.close)
        self.assertEqual(await client.emit_with_ack("follow", "topic"), [True])
        await self.publish("topic", [1, "two"])
        await poll_until(lambda: client.raw_received and "update" in str(client.raw_received[-1]), 5)
        self.assertEqual(client.pop_received(), [("update", [[1, "two"]])])
        self.assertEqual(await client.emit_with_ack("unfollow", "topic"), [True])
        await self.wait_numsub("topic", 0)

    async def test_disconnected_socket(self) -> None:
        """Subscribing a socket that already left does nothing."""
        await self.set_up()
        received = self.client()
        socket = self.sio.of("/feed").sockets[received.client.sids["/feed"]]
        received.client.close()
        await self.subs.subscribe(socket, "x")
        self.assertEqual(self.subs.listeners("x"), 0)
        self.assertEqual(self.conn.channels(), set())


class AdapterConnectionTests(SubscriptionTestCase):
    async def test_uses_the_adapter_connection(self) -> None:
        """With the Redis adapter, subscriptions ride on its connection: one
        subscriber connection per process for the adapter and every client."""
        from txsocketio.adapters.redis import redis_adapter

        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        await self.redis.start()
        self.publisher = self.connection()
        self.sio = SocketIOServer(adapter=redis_adapter(self.redis.url))
        self.sio.register("/feed", Feed)
        self.addCleanup(self.sio.shutdown, 1)
        alice = self.client()
        self.assertEqual(await self.call(alice, "watch", "news"), "ok")
        subs = Subscriptions.of(self.sio)
        self.assertIs(subs.connection, self.sio.adapter_factory.connection)
        clients = await self.publisher.execute("CLIENT", "LIST")
        self.assertEqual(clients.count(b"cmd=subscribe") + clients.count(b"cmd=psubscribe"), 1, clients)
        self.assertEqual(await self.publish("news", "hi"), 1)
        self.assertEqual(await self.wait_events(alice, 1), [("news", ["hi"])])


class NoConnectionTests(unittest.TestCase):
    def test_no_redis(self) -> None:
        """Without a Redis connection, subscribing says how to get one."""
        from twisted.internet.task import Clock

        sio = SocketIOServer(reactor=Clock())
        sio.register("/feed", Feed)
        client = TestClient(sio, namespace="/feed")
        socket = sio.of("/feed").sockets[client.sids["/feed"]]
        with self.assertRaises(RuntimeError) as caught:
            subscriptions.subscribe(socket, "x")
        self.assertIn("--redis", str(caught.exception))
        subscriptions.unsubscribe(socket, "x")  # nothing to undo: no error
