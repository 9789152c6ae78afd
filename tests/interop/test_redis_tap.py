"""``twistd txsocketio --redis URL --redis-key KEY``: options, the adapter it
installs, and a real twistd process joining a cluster."""

from __future__ import annotations

import sys
import tempfile

from twisted.python import usage
from twisted.trial import unittest

from tests.support import RedisServer, ServerProcess, free_port, sleep
from txsocketio.adapters import redis_wire as wire
from txsocketio.adapters.redis import RedisAdapter, RedisAdapterFactory
from txsocketio.redisconn import RedisConnection
from txsocketio.logs import Logger, set_debug_logging
from txsocketio.tap import Options, makeService


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


class RedisOptionTests(unittest.TestCase):
    def test_bad_values(self) -> None:
        """A bad URL, or --redis-key/--redis-timeout without --redis, is a usage error."""
        for argv in (["--redis", "http://x"], ["--redis", "redis://h:port"], ["--redis-key", "k"],
                     ["--redis-timeout", "2"], ["--redis", "redis://h", "--redis-key", ""],
                     ["--redis", "redis://h", "--redis-timeout", "0"]):
            self.assertRaises(usage.UsageError, parse, *argv)

    def test_help(self) -> None:
        """--help documents the options and the URL forms."""
        text = str(Options())
        for words in ("--redis=", "rediss://", "unix:///path/to/redis.sock", "--redis-key=", "--redis-timeout="):
            self.assertIn(words, text)

    async def test_installs_the_adapter(self) -> None:
        """--redis replaces the app's adapter with the Redis one, with --redis-key and --redis-timeout."""
        redis = RedisServer()
        self.addCleanup(redis.stop)
        await redis.start()
        options = parse("--redis", redis.url, "--redis-key", "myapp", "--redis-timeout", "1.5",
                        "--listen", "tcp:0:interface=127.0.0.1")
        self.addCleanup(set_debug_logging, Logger.debug_enabled)  # makeService sets it
        makeService(options)
        sio = options["sio"]
        self.addCleanup(sio.shutdown)
        self.assertIsInstance(sio.adapter_factory, RedisAdapterFactory)
        adapter = sio.of("/").adapter
        self.assertIsInstance(adapter, RedisAdapter)
        self.assertEqual((adapter.key, adapter.request_timeout), ("myapp", 1.5))
        await adapter.wait_ready()
        self.assertEqual(await adapter.server_count(), 1)


class RedisTwistdTests(unittest.TestCase):
    timeout = 60

    async def test_process_joins_the_cluster(self) -> None:
        """A twistd process started with --redis subscribes to the cluster's
        request channel under its key, and leaves it when stopped."""
        redis = RedisServer()
        self.addCleanup(redis.stop)
        await redis.start()
        port = free_port()
        server = ServerProcess([sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
                                "--pidfile=", "txsocketio", "--listen", f"tcp:{port}:interface=127.0.0.1",
                                "--redis", redis.url, "--redis-key", "tapkey"], port, cwd=tempfile.mkdtemp())
        self.addCleanup(server.stop)
        await server.start()
        watcher = RedisConnection(redis.url)
        self.addCleanup(watcher.close)
        channel = wire.Channels("tapkey", "/").request
        for _ in range(100):
            if await watcher.numsub(channel) == 1:
                break
            await sleep(0.05)
        self.assertEqual(await watcher.numsub(channel), 1, server.describe())
        await server.stop()
        for _ in range(100):
            if await watcher.numsub(channel) == 0:
                break
            await sleep(0.05)
        self.assertEqual(await watcher.numsub(channel), 0)
