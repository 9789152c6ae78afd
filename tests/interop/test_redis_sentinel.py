"""Redis Sentinel failover with real processes (issue 13): a master
redis-server, a replica (``--replicaof``) and a Sentinel with fast timings;
two in-process SocketIOServers on the Redis adapter with a
``redis+sentinel://`` URL keep broadcasting to each other's clients after the
master is killed."""

from __future__ import annotations

import os
import uuid
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial import unittest

from tests.support import RedisSentinel, RedisServer, free_port, poll_until, require_tool, run_process, sleep
from txsocketio import SocketIOServer
from txsocketio.adapters.redis import RedisAdapter, redis_adapter
from txsocketio.redisconn import RedisConnection
from txsocketio.testing import TestClient

MASTER = "txsio"


class SentinelFailoverTests(unittest.TestCase):
    timeout = 60

    def directory(self) -> str:
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        return path

    async def start(self, server: Any) -> Any:
        self.addCleanup(server.stop)
        await server.start()
        return server

    async def replicated_pair(self, password: str | None = None, sentinel_password: str | None = None,
                              ) -> tuple[RedisServer, RedisServer, RedisSentinel]:
        """Master, replica in sync, and a Sentinel that knows both."""
        auth = ["--requirepass", password, "--masterauth", password] if password else []
        # Each in its own directory: a replica writes the synced dump.rdb to
        # disk, and a later test's server must not load it.
        master = await self.start(RedisServer(extra_args=["--dir", self.directory(), *auth]))
        replica = await self.start(RedisServer(extra_args=["--dir", self.directory(), *auth,
                                                           "--replicaof", "127.0.0.1", str(master.port)]))
        await replica.wait_for_output("MASTER <-> REPLICA sync: Finished with success", timeout=15)
        config = [f"sentinel auth-pass {MASTER} {password}"] if password else []
        if sentinel_password:
            config.append(f"requirepass {sentinel_password}")
        sentinel = await self.start(RedisSentinel(MASTER, master.port, down_after_ms=500,
                                                  failover_timeout_ms=2000, extra_config=config))
        # Sentinel learns the replicas from the master's INFO; without one
        # it has nothing to promote.
        await sentinel.wait_for_output(f"+slave slave 127.0.0.1:{replica.port}", timeout=15)
        return master, replica, sentinel

    def server(self, url: str, key: str) -> SocketIOServer:
        sio = SocketIOServer(adapter=redis_adapter(url, key=key, request_timeout=2.0))
        self.addCleanup(sio.shutdown)
        return sio

    async def cluster(self, sentinel: RedisSentinel) -> tuple[list[SocketIOServer], list[list[float]], dict]:
        """Two servers on the Sentinel URL, one client each, each server
        broadcasting a tick every 50 ms; returns the servers, the arrival times
        of the other server's ticks at each client, and the switch that stops
        the broadcasting."""
        # The first Sentinel listed is down: the next one is asked.
        url = f"redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{sentinel.port}/{MASTER}"
        key = "t" + uuid.uuid4().hex[:10]
        servers = [self.server(url, key), self.server(url, key)]
        arrivals: list[list[float]] = [[], []]
        for i, sio in enumerate(servers):
            await sio.of("/").adapter.wait_ready()
            client = TestClient(sio)
            self.assertTrue(client.is_connected())
            client.on("tick", lambda sender, n, i=i: arrivals[i].append(reactor.seconds()) if sender != i else None)
        running = {"on": True}

        async def broadcast() -> None:
            n = 0
            while running["on"]:
                n += 1
                for i, sio in enumerate(servers):
                    sio.emit("tick", i, n)
                await sleep(0.05)

        running["done"] = Deferred.fromCoroutine(broadcast())
        await poll_until(lambda: all(len(a) >= 5 for a in arrivals), 10)
        self.url = url
        return servers, arrivals, running

    async def follow(self, what: str, servers: list[SocketIOServer], arrivals: list[list[float]], running: dict,
                     sentinel: RedisSentinel, old: RedisServer, new: RedisServer, started_at: float) -> None:
        """Wait for the switch and for delivery both ways, report the gap, and
        check that every connection is on the new master."""
        await sentinel.wait_for_output(f"+switch-master {MASTER} 127.0.0.1 {old.port} 127.0.0.1 {new.port}",
                                       timeout=30)
        switched_at = reactor.seconds()
        await poll_until(lambda: all(a and a[-1] > switched_at for a in arrivals), 20)
        resumed_at = reactor.seconds()
        await sleep(1.0)
        running["on"] = False
        await running["done"]
        gaps = []
        for a in arrivals:
            gaps.append(max(later - earlier for earlier, later in zip(a, a[1:])))
            self.assertGreater(len([t for t in a if t > resumed_at]), 5)  # steady again
        print(f"\nsentinel {what}: +switch-master {switched_at - started_at:.2f} s after it began; "
              f"longest stretch without delivery {gaps[0]:.2f} s and {gaps[1]:.2f} s; delivery resumed both ways "
              f"{resumed_at - started_at:.2f} s after it began")
        for sio in servers:
            adapter = sio.of("/").adapter
            assert isinstance(adapter, RedisAdapter)
            # The publisher connection is on a master, the promoted one.
            self.assertEqual((await adapter.connection.execute("ROLE"))[0], b"master")
            self.assertEqual(await sio.of("/").server_count(), 2)
        watcher = RedisConnection(self.url)
        self.addCleanup(watcher.close)
        self.assertEqual(await watcher.discover_master(), ("127.0.0.1", new.port))

    async def test_master_killed(self) -> None:
        """Kill the master (SIGKILL): Sentinel promotes the replica, both
        servers' publisher and subscriber connections move to it and
        broadcasts flow again both ways; the gap is reported."""
        master, replica, sentinel = await self.replicated_pair()
        servers, arrivals, running = await self.cluster(sentinel)
        await master.kill()
        await self.follow("failover (master killed)", servers, arrivals, running, sentinel, master, replica,
                          reactor.seconds())

    async def test_manual_failover(self) -> None:
        """SENTINEL FAILOVER with the old master alive (it is demoted to a
        replica): the servers leave it for the promoted one and broadcasts flow
        again both ways."""
        master, replica, sentinel = await self.replicated_pair()
        servers, arrivals, running = await self.cluster(sentinel)
        started_at = reactor.seconds()
        result = await run_process([require_tool("redis-cli"), "-h", "127.0.0.1", "-p", str(sentinel.port),
                                    "SENTINEL", "FAILOVER", MASTER], timeout=10)
        self.assertEqual(result.exit_code, 0, result.describe())
        self.assertIn("OK", result.stdout_text, result.describe())
        await self.follow("manual failover", servers, arrivals, running, sentinel, master, replica, started_at)
        # Every connection left the old master, which is still a master for a
        # while (Sentinel demotes it later): the +switch-master announcement
        # moved them, not a dropped connection.
        self.assertEqual(await self.our_clients(master.port), {"pubsub": 0, "normal": 0})
        self.assertEqual(await self.our_clients(replica.port), {"pubsub": 2, "normal": 2})

    async def our_clients(self, port: int) -> dict[str, int]:
        """How many subscriber ("pubsub") and command ("normal") connections a
        Redis server has, leaving out Sentinel's own and redis-cli's."""
        counts = {}
        for kind in ("pubsub", "normal"):
            result = await run_process([require_tool("redis-cli"), "-h", "127.0.0.1", "-p", str(port),
                                        "CLIENT", "LIST", "TYPE", kind], timeout=10)
            self.assertEqual(result.exit_code, 0, result.describe())
            counts[kind] = len([line for line in result.stdout_text.splitlines()
                                if line.startswith("id=") and " name=sentinel-" not in line
                                and " cmd=client|list " not in line])
        return counts

    async def test_passwords(self) -> None:
        """Passwords on both sides: the URL's for the Redis servers,
        sentinel_password for the Sentinels; pub/sub works and the
        +switch-master watcher is connected to the Sentinel."""
        master, replica, sentinel = await self.replicated_pair(password="data-pw", sentinel_password="sentinel-pw")
        url = f"redis+sentinel://:data-pw@127.0.0.1:{sentinel.port}/{MASTER}/0?sentinel_password=sentinel-pw"
        conn = RedisConnection(url)
        self.addCleanup(conn.close)
        got: list[bytes] = []
        conn.subscribe("c", lambda channel, payload: got.append(payload))
        await conn.wait_subscribed()
        self.assertEqual(await conn.publish("c", b"hello"), 1)
        await poll_until(lambda: got == [b"hello"], 5)
        result = await run_process([require_tool("redis-cli"), "-h", "127.0.0.1", "-p", str(sentinel.port),
                                    "--no-auth-warning", "-a", "sentinel-pw", "CLIENT", "LIST", "TYPE", "pubsub"],
                                   timeout=10)
        self.assertIn("cmd=subscribe", result.stdout_text, result.describe())
