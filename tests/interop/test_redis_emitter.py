"""txsocketio.emitter against a real redis-server (the interop tier).

* Against Node's ``@socket.io/redis-emitter`` 5.x (``tests/node/emitter_node.js``)
  on a real redis-server: the same operations publish the same bytes on the
  same channels.
* Both flavours against a real redis-server (the result of PUBLISH, owning or
  borrowing the connection).

The in-memory tests of the emitter are in tests/test_emitter.py; the emitters
reaching the clients of real servers (txsocketio processes and Node socket.io
on @socket.io/redis-adapter) are in tests/interop/test_cluster.py.
"""

from __future__ import annotations

import json

from twisted.internet import threads
from twisted.trial import unittest

from tests.support import NODE_DIR, RedisServer, poll_until, require_node_modules, require_tool, run_process
from tests.test_emitter import OPERATIONS, run_spec
from txsocketio.adapters import redis_wire as wire
from txsocketio.emitter import BlockingEmitter, Emitter
from txsocketio.redisconn import RedisConnection


class RedisTestCase(unittest.TestCase):
    timeout = 60

    async def start_redis(self) -> RedisServer:
        redis = RedisServer()
        self.addCleanup(redis.stop)
        await redis.start()
        return redis

    def connection(self, url: str) -> RedisConnection:
        conn = RedisConnection(url)
        self.addCleanup(conn.close)
        return conn

    async def capture(self, url: str) -> list[tuple[str, bytes]]:
        """Every message published on the server from now on, as (channel, payload)."""
        conn = self.connection(url)
        seen: list[tuple[str, bytes]] = []
        subscription = conn.psubscribe("*", lambda pattern, channel, payload: seen.append((channel, payload)))
        await subscription.ready()
        return seen


class NodeEmitterComparisonTests(RedisTestCase):
    async def test_same_bytes_as_node(self) -> None:
        """Every operation publishes exactly what @socket.io/redis-emitter publishes:
        the same channels, the same bytes (MessagePack and JSON)."""
        require_node_modules("@socket.io/redis-emitter", "redis")
        redis = await self.start_redis()
        seen = await self.capture(redis.url)
        result = await run_process([require_tool("node"), str(NODE_DIR / "emitter_node.js"), "--redis", redis.url,
                                    json.dumps(OPERATIONS)], cwd=NODE_DIR)
        self.assertEqual(result.exit_code, 0, result.describe())
        await poll_until(lambda: len(seen) >= len(OPERATIONS), 5)
        node = list(seen)
        seen.clear()
        with BlockingEmitter(redis.url) as emitter:
            counts = await threads.deferToThread(lambda: [run_spec(emitter, spec) for spec in OPERATIONS])
        self.assertEqual(counts, [1] * len(OPERATIONS))   # our capture was the one subscriber
        await poll_until(lambda: len(seen) >= len(OPERATIONS), 5)
        for spec, theirs, ours in zip(OPERATIONS, node, seen):
            self.assertEqual(ours, theirs, f"operation {spec}")
        self.assertEqual(len(seen), len(node))

    async def test_same_bytes_with_a_custom_key(self) -> None:
        require_node_modules("@socket.io/redis-emitter", "redis")
        redis = await self.start_redis()
        seen = await self.capture(redis.url)
        ops = [{"op": "emit", "to": ["r"], "event": "x", "args": [1]}, {"op": "socketsJoin", "rooms": ["q"]}]
        result = await run_process([require_tool("node"), str(NODE_DIR / "emitter_node.js"), "--redis", redis.url,
                                    "--key", "my#app", json.dumps(ops)], cwd=NODE_DIR)
        self.assertEqual(result.exit_code, 0, result.describe())
        await poll_until(lambda: len(seen) >= 2, 5)
        emitter = Emitter(self.connection(redis.url), key="my#app")
        for spec in ops:
            await run_spec(emitter, spec)
        await poll_until(lambda: len(seen) >= 4, 5)
        self.assertEqual(seen[2:], seen[:2])
        self.assertEqual(seen[0][0], "my#app#/#r#")


class RealRedisTests(RedisTestCase):
    async def test_twisted_emitter(self) -> None:
        """Emitter on a RedisConnection: each call's Deferred fires with the
        number of subscribers reached; the connection passed in stays open."""
        redis = await self.start_redis()
        seen = await self.capture(redis.url)
        conn = self.connection(redis.url)
        emitter = Emitter(conn)
        self.assertEqual(await emitter.to("r").emit("x", b"\xff"), 1)
        self.assertEqual(await emitter.of("/q").server_side_emit("y"), 1)
        await poll_until(lambda: len(seen) == 2, 5)
        self.assertEqual(wire.decode_broadcast(seen[0][1]).packet.data, ["x", b"\xff"])
        await emitter.close()
        self.assertFalse(conn.closed)

    async def test_twisted_emitter_from_url(self) -> None:
        """Emitter(url) opens its own connection, and close() closes it."""
        redis = await self.start_redis()
        seen = await self.capture(redis.url)
        emitter = Emitter(redis.url)
        self.addCleanup(emitter.close)
        self.assertEqual(await emitter.emit("x"), 1)
        await emitter.close()
        self.assertTrue(emitter.connection.closed)
        await poll_until(lambda: len(seen) == 1, 5)

    async def test_blocking_emitter_from_url(self) -> None:
        """BlockingEmitter(url) with redis-py, from a thread."""
        redis = await self.start_redis()
        seen = await self.capture(redis.url)

        def work() -> list[int]:
            with BlockingEmitter(redis.url + "/0") as emitter:
                return [emitter.emit("a"), emitter.to("r").emit("b"), emitter.disconnect_sockets()]

        self.assertEqual(await threads.deferToThread(work), [1, 1, 1])
        await poll_until(lambda: len(seen) == 3, 5)
        self.assertEqual([c for c, _ in seen], ["socket.io#/#", "socket.io#/#r#", "socket.io-request#/#"])
