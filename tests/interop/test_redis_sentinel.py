"""Redis Sentinel failover with real processes (issue 13): a master
redis-server, a replica (``--replicaof``) and a Sentinel with fast timings;
two in-process SocketIOServers on the Redis adapter with a
``redis+sentinel://`` URL keep broadcasting to each other's clients after the
master is killed."""

from __future__ import annotations

import uuid
from typing import Any

from twisted.internet import reactor
from twisted.trial import unittest

from tests.support import RedisSentinel, RedisServer, free_port, poll_until, sleep
from txsocketio import SocketIOServer
from txsocketio.adapters.redis import RedisAdapter, redis_adapter
from txsocketio.redisconn import RedisConnection
from txsocketio.testing import TestClient

MASTER = "txsio"


class SentinelFailoverTests(unittest.TestCase):
    timeout = 60

    async def start(self, server: Any) -> Any:
        self.addCleanup(server.stop)
        await server.start()
        return server

    async def replicated_pair(self) -> tuple[RedisServer, RedisServer, RedisSentinel]:
        """Master, replica in sync, and a Sentinel that knows both."""
        master = await self.start(RedisServer())
        replica = await self.start(RedisServer(extra_args=["--replicaof", "127.0.0.1", str(master.port)]))
        await replica.wait_for_output("MASTER <-> REPLICA sync: Finished with success", timeout=15)
        sentinel = await self.start(RedisSentinel(MASTER, master.port, down_after_ms=500,
                                                  failover_timeout_ms=2000))
        # Sentinel learns the replicas from the master's INFO; without one
        # it has nothing to promote.
        await sentinel.wait_for_output(f"+slave slave 127.0.0.1:{replica.port}", timeout=15)
        return master, replica, sentinel

    def server(self, url: str, key: str) -> SocketIOServer:
        sio = SocketIOServer(adapter=redis_adapter(url, key=key, request_timeout=2.0))
        self.addCleanup(sio.shutdown)
        return sio

    async def test_cluster_follows_failover(self) -> None:
        """Kill the master: Sentinel promotes the replica, both servers'
        publisher and subscriber connections move to it and broadcasts flow
        again both ways; the longest stretch without delivery is reported."""
        master, replica, sentinel = await self.replicated_pair()
        # The first Sentinel listed is down: the next one is asked.
        url = f"redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{sentinel.port}/{MASTER}"
        key = "t" + uuid.uuid4().hex[:10]
        servers = [self.server(url, key), self.server(url, key)]
        clients = []
        for sio in servers:
            sio.of("/")
            await sio.of("/").adapter.wait_ready()
            client = TestClient(sio)
            self.assertTrue(client.is_connected())
            clients.append(client)
        # Each server broadcasts to the whole cluster; each client keeps the
        # arrival times of the other server's broadcasts.
        arrivals: list[list[float]] = [[], []]
        for i, client in enumerate(clients):
            client.on("tick", lambda sender, n, i=i: arrivals[i].append(reactor.seconds())
                      if sender != i else None)
        running = {"on": True}

        async def broadcast() -> None:
            n = 0
            while running["on"]:
                n += 1
                for i, sio in enumerate(servers):
                    sio.emit("tick", i, n)
                await sleep(0.05)

        from twisted.internet.defer import Deferred

        ticking = Deferred.fromCoroutine(broadcast())
        await poll_until(lambda: all(len(a) >= 5 for a in arrivals), 10)

        await master.kill()
        killed_at = reactor.seconds()
        await sentinel.wait_for_output(f"+switch-master {MASTER} 127.0.0.1 {master.port} 127.0.0.1 {replica.port}",
                                       timeout=30)
        switched_at = reactor.seconds()
        # Delivery resumes both ways.
        await poll_until(lambda: all(a and a[-1] > switched_at for a in arrivals), 20)
        resumed_at = reactor.seconds()
        await sleep(1.0)
        running["on"] = False
        await ticking

        gaps = []
        for a in arrivals:
            before = [t for t in a if t <= killed_at]
            after = [t for t in a if t > killed_at]
            self.assertTrue(before and after)
            gaps.append(after[0] - before[-1])
        print(f"\nsentinel failover: +switch-master {switched_at - killed_at:.2f} s after the kill; "
              f"seconds without delivery {gaps[0]:.2f} and {gaps[1]:.2f}; "
              f"delivery resumed both ways {resumed_at - killed_at:.2f} s after the kill")
        for a in arrivals:  # steady again after the failover
            tail = [t for t in a if t > resumed_at]
            self.assertGreater(len(tail), 5)
        # Both connections of both servers are on the promoted replica.
        for sio in servers:
            adapter = sio.of("/").adapter
            assert isinstance(adapter, RedisAdapter)
            self.assertEqual(await adapter.connection.execute("ROLE").addCallback(lambda r: r[0]), b"master")
            self.assertEqual(await sio.of("/").server_count(), 2)
        watcher = RedisConnection(url)
        self.addCleanup(watcher.close)
        self.assertEqual(await watcher.discover_master(), ("127.0.0.1", replica.port))
