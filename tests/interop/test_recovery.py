"""Connection state recovery with the official socket.io-client 4.8
(tests/node/recovery_scenario.js), validated against Node's socket.io 4.8
(tests/node/recovery_node_server.js), then run against txsocketio
(tests/apps/recovery_app.py) with the same expectations.

The client's transport is killed (``socket.io.engine.close()``), the server
emits to its room, to it directly, volatile and with acks meanwhile; the
client comes back with the same id, ``recovered`` true, the missed packets
once each and in order (before the CONNECT reply, as Node sends them), the
volatile/ack ones not replayed; after the window, a fresh session.  The
scenario's header has the details.

The txsocketio class fails until ``SocketIOServer(connection_state_recovery=...)``
is wired (issue 12); it is not skipped.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from twisted.trial import unittest

from tests.support import (
    NODE_DIR,
    PROJECT_ROOT,
    ServerProcess,
    free_port,
    require_node_modules,
    require_tool,
    run_process,
)

SCENARIO = NODE_DIR / "recovery_scenario.js"
NODE_SERVER = NODE_DIR / "recovery_node_server.js"
APP = PROJECT_ROOT / "tests" / "apps" / "recovery_app.py"
#: Short enough for the expiry phase to wait it out, long enough for the
#: first reconnection (1 s after the kill) to land well inside it.
WINDOW = 3.0


class _RecoveryScenario:
    """The scenario, run by each subclass against its server(s).

    ``start_servers()`` starts what the scenario talks to and returns
    ``(url, reconnect_url or None)``; ``expect_replayed`` lists the gap events
    the server under test is known to replay although Node's in-memory
    adapter does not.
    """

    expect_replayed: tuple[str, ...] = ()

    def server(self, port: int) -> ServerProcess:
        raise NotImplementedError

    async def start_servers(self) -> tuple[str, str | None]:
        port = free_port()
        server = self.server(port)
        self.addCleanup(server.stop)  # type: ignore[attr-defined]
        self.servers = [server]
        await server.start()
        return f"http://127.0.0.1:{port}", None

    async def run_scenario(self, transports: str) -> dict[str, Any]:
        node = require_tool("node")
        require_node_modules("sioc4", "socket.io")
        url, reconnect_url = await self.start_servers()
        argv = [node, SCENARIO, "--url", url, "--window", str(WINDOW), "--transports", transports]
        if reconnect_url:
            argv += ["--reconnect-url", reconnect_url]
        if self.expect_replayed:
            argv += ["--expect-replayed", ",".join(self.expect_replayed)]
        result = await run_process(argv, cwd=NODE_DIR, timeout=60)
        servers = "\n".join(s.describe() for s in self.servers)
        lines = result.stdout.decode("utf-8", "replace").strip().splitlines()
        self.assertTrue(lines, f"no output from the scenario: {result.describe()}\n{servers}")  # type: ignore[attr-defined]
        report = json.loads(lines[-1])
        self.assertEqual(report["failures"], [],  # type: ignore[attr-defined]
                         f"{json.dumps(report['phases'], indent=1)}\n{servers}")
        self.assertEqual(result.exit_code, 0, result.describe())  # type: ignore[attr-defined]
        return report

    async def test_websocket(self) -> None:
        """Over WebSocket: same id, recovered, missed packets 1..4 in order once
        each with offsets, no volatile/ack replay, data and rooms back,
        middlewares skipped; after the window a fresh session."""
        report = await self.run_scenario("websocket")
        recover = report["phases"]["recover"]
        self.assertEqual([m[0] for m in recover["missed"]], [1, 2, 3, 4])  # type: ignore[attr-defined]
        self.assertTrue(recover["recovered"])  # type: ignore[attr-defined]
        self.assertFalse(report["phases"]["expire"]["recovered"])  # type: ignore[attr-defined]

    async def test_polling(self) -> None:
        """The same over HTTP long-polling only."""
        await self.run_scenario("polling")

    async def test_upgrade(self) -> None:
        """The same with polling upgraded to WebSocket (each reconnection upgrades again)."""
        await self.run_scenario("polling,websocket")


class NodeServerTests(_RecoveryScenario, unittest.TestCase):
    """The expectations hold for Node's own server (socket.io 4.8, in-memory adapter)."""

    def server(self, port: int) -> ServerProcess:
        return ServerProcess([require_tool("node"), NODE_SERVER, "--port", str(port), "--window", str(WINDOW)],
                             port, cwd=NODE_DIR, name="recovery_node_server.js")


class TxSocketIOServerTests(_RecoveryScenario, unittest.TestCase):
    """The same expectations for txsocketio (fails until recovery is wired)."""

    def server(self, port: int) -> ServerProcess:
        return ServerProcess([sys.executable, APP, "--port", str(port), "--window", str(WINDOW)], port)
