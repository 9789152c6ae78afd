"""Dynamic namespaces that clean up after themselves, against a real redis-server.

A server with the Redis adapter and ``cleanup_empty_child_namespaces=True``
serves 50 dynamic children that come and go; Redis itself (``PUBSUB
CHANNELS``, ``PUBSUB NUMPAT``) is asked what is still subscribed.  Without
the option the same run leaves one pattern and three channels per child.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from twisted.trial import unittest

from tests.support import RedisServer, poll_until, sleep
from txsocketio import SocketIOServer
from txsocketio.adapters.redis import RedisAdapter, redis_adapter
from txsocketio.redisconn import RedisConnection
from txsocketio.testing import TestClient

CHILDREN = 50


class NamespaceCleanupRedisTests(unittest.TestCase):
    timeout = 60

    async def set_up(self, cleanup: bool) -> None:
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        await self.redis.start()
        self.key = "t" + uuid.uuid4().hex[:10]
        self.probe = RedisConnection(self.redis.url)
        self.addCleanup(self.probe.close)
        self.sio = self.server(cleanup)
        self.parent = self.sio.of(re.compile(r"/org-\d+"))
        await self.sio.of("/").adapter.wait_ready()

    def server(self, cleanup: bool) -> SocketIOServer:
        sio = SocketIOServer(adapter=redis_adapter(self.redis.url, key=self.key),
                             cleanup_empty_child_namespaces=cleanup)
        self.addCleanup(sio.shutdown)
        return sio

    async def subscribed(self) -> tuple[list[str], int]:
        """What Redis holds: the channels of this test's key, and the number of patterns."""
        channels = await self.probe.execute("PUBSUB", "CHANNELS", f"{self.key}*")
        numpat = await self.probe.execute("PUBSUB", "NUMPAT")
        return sorted(c.decode() for c in channels), numpat

    async def come_and_go(self) -> None:
        """50 clients each open a child, wait until Redis confirmed its
        subscriptions, then all close."""
        clients = []
        for i in range(CHILDREN):
            client = TestClient(self.sio)
            client.connect(f"/org-{i}")
            self.assertTrue(client.is_connected(f"/org-{i}"), client.connect_errors)
            clients.append(client)
        for i in range(CHILDREN):
            adapter: Any = self.sio.of(f"/org-{i}").adapter
            self.assertIsInstance(adapter, RedisAdapter)
            await adapter.wait_ready()
        channels, numpat = await self.subscribed()
        self.assertEqual((len(channels), numpat), (3 * (CHILDREN + 1), CHILDREN + 1))
        for client in clients:
            client.close()

    async def test_children_leave_only_the_main_namespace_subscribed(self) -> None:
        """After 50 children came and went Redis holds the 3 channels and the 1
        pattern of C{/}, exactly as before the first child; a later client gets
        a fresh child that subscribes again and receives another server's broadcast."""
        await self.set_up(cleanup=True)
        before = await self.subscribed()
        self.assertEqual(before, (sorted([f"{self.key}-request#/#", f"{self.key}-response#/#",
                                          f"{self.key}-response#/#{self.sio.of('/').adapter.uid}#"]), 1))
        await self.come_and_go()
        self.assertEqual(self.parent.children, {})
        self.assertEqual(set(self.sio.namespaces), {"/"})
        # Redis sees the UNSUBSCRIBEs a moment later.
        last: list[Any] = []
        for _ in range(200):
            last[:] = [await self.subscribed()]
            if last[0] == before:
                break
            await sleep(0.05)
        self.assertEqual(last[0], before)

        other = self.server(cleanup=True)
        client = TestClient(self.sio)
        client.connect("/org-7")
        await self.sio.of("/org-7").adapter.wait_ready()
        await other.of("/org-7").adapter.wait_ready()
        other.of("/org-7").emit("hello", "again")
        await poll_until(lambda: client.pop_received("/org-7") == [("hello", ["again"])] or None, 10,
                         message="the fresh child did not receive the broadcast")

    async def test_without_the_option_children_stay_subscribed(self) -> None:
        """The default (as Node): emptied children keep their subscriptions,
        one pattern and three channels each."""
        await self.set_up(cleanup=False)
        await self.come_and_go()
        channels, numpat = await self.subscribed()
        self.assertEqual((len(channels), numpat), (3 * (CHILDREN + 1), CHILDREN + 1))
        self.assertEqual(len(self.parent.children), CHILDREN)

