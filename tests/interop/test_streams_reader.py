"""The stream reader (txsocketio.adapters.streams_reader) against a real
redis-server that is killed (SIGKILL) and restarted mid-stream, with
persistence on (``--appendonly yes --appendfsync always`` in a data dir) so
the stream survives: every entry is delivered once, in order."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.trial import unittest

from tests.support import RedisServer, poll_until, sleep
from txsocketio.adapters import streams_wire as sw
from txsocketio.adapters.base import BroadcastOptions
from txsocketio.adapters.streams_reader import StreamReader
from txsocketio.redisconn import RedisConnection
from txsocketio.socketio.packet import Packet, PacketType

STREAM = "socket.io"


def entry_fields(n: int) -> list[str]:
    message = sw.broadcast_message("writer", "/", Packet(PacketType.EVENT, "/", ["n", n]), BroadcastOptions())
    return sw.xadd_command(STREAM, sw.encode_entry(message))


class ReaderRestartTests(unittest.TestCase):
    async def test_kill_and_restart(self) -> None:
        """Entries added before the kill, and right after the restart (while
        the reader is still reconnecting), all arrive exactly once, in
        order, and the reader goes on reading afterwards."""
        data_dir = self.mktemp()
        os.makedirs(data_dir)
        redis = RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always", "--dir",
                                        os.path.abspath(data_dir)])
        self.addCleanup(redis.stop)
        await redis.start()
        writer = RedisConnection(redis.url, reactor, initial_retry_delay=0.05, max_retry_delay=0.2,
                                 command_timeout=10)
        self.addCleanup(writer.close)
        # The reader's own connection comes back more slowly than the writer's.
        read_conn = RedisConnection(redis.url, reactor, initial_retry_delay=0.8, max_retry_delay=1.0,
                                    command_timeout=10)
        self.addCleanup(read_conn.close)
        got: list[tuple[str, Any]] = []

        def on_entry(entry: sw.StreamEntry) -> None:
            op = sw.read_operation(sw.decode_entry(entry.fields))
            assert op.packet is not None
            got.append((entry.id, op.packet.data[1]))

        reader = StreamReader(read_conn, STREAM, on_entry, reactor, block_ms=300, retry_delay=0.05,
                              max_retry_delay=0.5)
        self.addCleanup(reader.stop)
        reader.start()
        await poll_until(lambda: reader.last_id != "$", 5, message="the reader never pinned '$'")
        for n in range(5):
            await writer.execute(*entry_fields(n))
        await poll_until(lambda: len(got) == 5, 5, message=lambda: f"before the kill: {got}")

        await redis.kill()
        await redis.start()
        # A restarted redis-server accepts connections while it loads the
        # append-only file, answering -LOADING; wait until PING says PONG.
        # (The reader itself just retries on -LOADING.)
        pongs: list[bytes] = []

        async def pong() -> bool:
            pongs.append(await redis.ping())
            return pongs[-1].startswith(b"+PONG")

        for _ in range(250):
            if await pong():
                break
            await sleep(0.02)
        else:
            self.fail(f"redis-server never finished loading: {pongs[-3:]}")
        for n in range(5, 10):
            await writer.execute(*entry_fields(n))
        reader_was_down = not read_conn.connected
        await poll_until(lambda: len(got) >= 10, 15, message=lambda: f"after the restart: {got}")
        for n in range(10, 12):
            await writer.execute(*entry_fields(n))
        await poll_until(lambda: len(got) >= 12, 5, message=lambda: f"later: {got}")

        self.assertTrue(reader_was_down, "entries 5..9 were meant to be added while the reader was reconnecting")
        self.assertEqual([n for _, n in got], list(range(12)))
        ids = [entry_id for entry_id, _ in got]
        self.assertEqual(len(set(ids)), 12)
        self.assertEqual(sorted(ids, key=lambda i: tuple(map(int, i.split("-")))), ids)
        self.assertEqual(await writer.execute("XLEN", STREAM), 12)  # the stream did survive the kill
