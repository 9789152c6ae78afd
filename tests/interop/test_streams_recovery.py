"""Connection state recovery across a cluster on one real redis-server with
Node's socket.io 4.8 + @socket.io/redis-streams-adapter 0.3.1
(tests/node/recovery_node_server.js --redis-streams), driven by the same
socket.io-client 4.8 scenario as tests/interop/test_recovery.py.

The Node classes pin Node's behaviour; the txsocketio ones run the same
expectations against RedisStreamsAdapter alone and in a mixed cluster:

* one Node server on the streams adapter: recovery works as with the
  in-memory adapter, except that 0.3.1 also replays a volatile broadcast and
  a ``socket.emit`` with an ack (both are in the stream and its
  ``restoreSession`` does not filter them; txsocketio's streams adapter
  replays them too, so that a mixed cluster behaves the same);
* two Node servers: the client is cut off from server A and comes back to
  server B, which restores the session (from Redis) and the missed packets
  (from the stream), skipping B's middlewares;
* txsocketio alone, and mixed: cut off from Node and recovered by txsocketio,
  and the other way round.
"""

from __future__ import annotations

import sys

from twisted.trial import unittest


from tests.interop.test_recovery import APP, NODE_SERVER, WINDOW, _RecoveryScenario
from tests.support import NODE_DIR, RedisServer, ServerProcess, free_port, require_node_modules, require_tool

#: What Node's streams adapter 0.3.1 replays although the in-memory adapter does not.
NODE_STREAMS_REPLAYS = ("volatile-gap", "ack-gap")


class _NodeStreams(_RecoveryScenario):
    expect_replayed = NODE_STREAMS_REPLAYS
    server_count = 1
    #: which implementation serves as server A and B ("node" or "txsocketio")
    kinds = ("node", "node")

    def tx_server(self, port: int, name: str, redis_url: str) -> ServerProcess:
        return ServerProcess([sys.executable, APP, "--port", str(port), "--window", str(WINDOW),
                              "--name", name, "--redis-streams", redis_url], port, name=f"recovery_app.py ({name})")

    def node_server(self, port: int, name: str, redis_url: str) -> ServerProcess:
        return ServerProcess([require_tool("node"), NODE_SERVER, "--port", str(port), "--window", str(WINDOW),
                              "--name", name, "--redis-streams", redis_url],
                             port, cwd=NODE_DIR, name=f"recovery_node_server.js ({name})")

    async def start_servers(self) -> tuple[str, str | None]:
        require_node_modules("@socket.io/redis-streams-adapter", "redis")
        redis = RedisServer()
        self.addCleanup(redis.stop)
        await redis.start()
        self.servers = []
        urls = []
        for name in "AB"[:self.server_count]:
            port = free_port()
            kind = self.kinds["AB".index(name)]
            server = (self.node_server if kind == "node" else self.tx_server)(port, name, redis.url)
            self.addCleanup(server.stop)
            self.servers.append(server)
            await server.start()
            await server.wait_for_output("listening on", timeout=10)
            urls.append(f"http://127.0.0.1:{port}")
        return urls[0], (urls[1] if len(urls) > 1 else None)


class NodeStreamsServerTests(_NodeStreams, unittest.TestCase):
    """One Node server on @socket.io/redis-streams-adapter."""


class NodeStreamsClusterTests(_NodeStreams, unittest.TestCase):
    """Two Node servers on one stream: cut off from A, recovered on B."""

    server_count = 2


class TxStreamsServerTests(_NodeStreams, unittest.TestCase):
    """One txsocketio server on RedisStreamsAdapter: the same as Node's
    (volatile and with-ack emits replayed, as Node's streams adapter does)."""

    kinds = ("txsocketio", "txsocketio")


class NodeToTxClusterTests(_NodeStreams, unittest.TestCase):
    """A mixed cluster: cut off from a Node server, recovered by a txsocketio server."""

    server_count = 2
    kinds = ("node", "txsocketio")


class TxToNodeClusterTests(_NodeStreams, unittest.TestCase):
    """A mixed cluster: cut off from a txsocketio server, recovered by a Node server."""

    server_count = 2
    kinds = ("txsocketio", "node")
