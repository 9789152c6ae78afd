"""RedisStreamsAdapter on a real redis-server that is killed (SIGKILL) and
restarted mid-stream, with persistence on (``--appendonly yes --appendfsync
always`` in a data dir) so the stream survives: two txsocketio servers, a
steady flow of broadcasts from one, and every broadcast reaches the clients
of both exactly once, in order."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.trial import unittest

from tests.support import RedisServer, poll_until, sleep
from txsocketio import SocketIOServer
from txsocketio.adapters.streams import redis_streams_adapter
from txsocketio.redisconn import RedisConnection
from txsocketio.testing import TestClient


class AdapterRestartTests(unittest.TestCase):
    timeout = 60

    async def test_kill_and_restart_mid_stream(self) -> None:
        """Broadcasts published before, during and after a Redis outage (the
        publisher's XADDs wait for the reconnection, the reader resumes after
        the last entry it saw) arrive once each, in order, on both servers."""
        data_dir = self.mktemp()
        os.makedirs(data_dir)
        redis = RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always", "--dir",
                                        os.path.abspath(data_dir)])
        self.addCleanup(redis.stop)
        await redis.start()
        servers = []
        for _ in range(2):
            sio = SocketIOServer(reactor=reactor, adapter=redis_streams_adapter(
                redis.url, request_timeout=15.0, block_ms=300))
            self.addCleanup(sio.shutdown, 2)
            await sio.of("/").adapter.wait_ready()  # type: ignore[attr-defined]
            servers.append(sio)
        a, b = servers
        clients = [TestClient(a), TestClient(b)]
        await sleep(0.5)  # both readers have pinned '$'

        def received(client: TestClient) -> list[Any]:
            return [args[0] for event, args in client.pop_received() if event == "n"]

        got: list[list[Any]] = [[], []]
        killed = False
        for n in range(30):
            if n == 10:
                await redis.kill()
                killed = True
            if n == 15:
                await redis.start()
            a.emit("n", n)
            await sleep(0.03)
        self.assertTrue(killed)

        def complete() -> bool:
            for i, client in enumerate(clients):
                got[i] += received(client)
            return all(len(g) >= 30 for g in got)

        await poll_until(complete, 30, message=lambda: f"received: {got}")
        await sleep(0.5)
        complete()
        self.assertEqual(got[0], list(range(30)))
        self.assertEqual(got[1], list(range(30)))
        checker = RedisConnection(redis.url, reactor)
        self.addCleanup(checker.close)
        self.assertEqual(await checker.execute("XLEN", "socket.io"), 30)  # each XADD once, none lost
