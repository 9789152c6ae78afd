"""Engine.IO interop: the official engine.io-client (v6 and v3) against our server.

Each test starts ``examples/engineio_echo.py`` on a free port (short
heartbeat: ping interval 300 ms, ping timeout 200 ms, EIO3 allowed) and runs
``tests/node/eio_client.js`` against it; the client prints one JSON line with
what it saw.

Set ``TXSIO_EIO_SERVER=node`` to run the same tests against the reference
server built on Node's ``engine.io`` (tests/node/eio_reference_server.js);
that checks the tests and the client themselves.
"""

import json
import os
import sys

from twisted.trial import unittest

from tests.support import (
    NODE_DIR,
    PROJECT_ROOT,
    ServerProcess,
    free_port,
    require_node,
    require_node_modules,
    run_process,
)

PING_INTERVAL_MS = 300
PING_TIMEOUT_MS = 200

ECHO_SCRIPT = PROJECT_ROOT / "examples" / "engineio_echo.py"
REFERENCE_SERVER = NODE_DIR / "eio_reference_server.js"
CLIENT_SCRIPT = NODE_DIR / "eio_client.js"

EXPECTED_ECHOES = [
    {"type": "text", "data": "hello"},
    {"type": "text", "data": "h\u00e9llo \u2603 \U0001F600"},
    {"type": "binary", "data": [1, 2, 3, 255]},
]

POLLING = "polling"
WEBSOCKET = "websocket"
UPGRADE = "polling,websocket"


def server_kind():
    kind = os.environ.get("TXSIO_EIO_SERVER", "python")
    if kind not in ("python", "node"):
        raise ValueError(f"TXSIO_EIO_SERVER must be 'python' or 'node', not {kind!r}")
    return kind


def server_argv(port):
    options = ["--port", str(port), "--ping-interval", str(PING_INTERVAL_MS),
               "--ping-timeout", str(PING_TIMEOUT_MS), "--allow-eio3"]
    if server_kind() == "node":
        return [require_node(), str(REFERENCE_SERVER), *options]
    return [sys.executable, str(ECHO_SCRIPT), *options]


class EngineIOInteropTestCase(unittest.TestCase):
    """Starts one echo server per test; helpers to run the node client."""

    async def setUp(self):
        require_node_modules("eioc6", "eioc3", "engine.io")
        if server_kind() == "python":
            self.assertTrue(ECHO_SCRIPT.is_file(), f"{ECHO_SCRIPT} is missing")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server = ServerProcess(server_argv(port), port)
        self.addCleanup(self.server.stop)
        await self.server.start()

    async def run_client(self, client, scenario, transports=UPGRADE, *, duration_ms=None,
                         timeout_ms=10000, expect_ok=True, force_base64=False):
        """Run eio_client.js -> its JSON result (asserting exit 0 and ok)."""
        argv = [require_node(), str(CLIENT_SCRIPT), "--client", client, "--url", self.url,
                "--path", "/engine.io", "--transports", transports,
                "--scenario", scenario, "--timeout", str(timeout_ms)]
        if duration_ms is not None:
            argv += ["--duration", str(duration_ms)]
        if force_base64:
            argv += ["--force-base64", "true"]
        result = await run_process(argv, cwd=NODE_DIR, timeout=timeout_ms / 1000 + 10)
        context = (f"\n=== client {' '.join(argv[1:])}\n{result.describe()}"
                   f"\n=== server\n{self.server.describe()}")
        lines = result.stdout_text.strip().splitlines()
        self.assertTrue(lines, f"no output from the client{context}")
        try:
            data = json.loads(lines[-1])
        except ValueError:
            self.fail(f"client output is not JSON{context}")
        data["_context"] = context
        if expect_ok:
            self.assertTrue(data.get("ok"), f"client failed: {data.get('error')}{context}")
            self.assertEqual(result.exit_code, 0, context)
        return data

    def assert_echoes(self, data, transports):
        context = data["_context"]
        upgrade = transports == UPGRADE
        batches = 2 if upgrade else 1  # the client echoes again after upgrading
        echoes = data["echoes"]
        self.assertEqual(len(echoes), 3 * batches, context)
        for echo, expected in zip(echoes, EXPECTED_ECHOES * batches):
            self.assertEqual(echo["sent"], expected, context)
            received = {"type": echo["received"]["type"], "data": echo["received"]["data"]}
            self.assertEqual(received, expected, f"echo differs from what was sent{context}")
        self.assertTrue(data["sid"], context)
        final = WEBSOCKET if transports in (WEBSOCKET, UPGRADE) else POLLING
        self.assertEqual(data["transport"], final, context)
        self.assertEqual(data["upgraded"], upgrade, context)
        if upgrade:
            self.assertEqual(data["open_transport"], POLLING, context)
            self.assertEqual({e["transport"] for e in echoes if e["phase"] == "upgraded"},
                             {WEBSOCKET}, context)

    async def check_echo(self, client, transports, force_base64=False):
        data = await self.run_client(client, "echo", transports, force_base64=force_base64)
        self.assert_echoes(data, transports)

    async def check_heartbeat(self, client, transports):
        data = await self.run_client(client, "heartbeat", transports, duration_ms=1500)
        context = data["_context"]
        # 1.5 s at a 300 ms ping interval is ~4 heartbeats; ask for more than one.
        self.assertGreater(data["heartbeats"], 1, context)
        self.assertTrue(data["still_open"], context)
        self.assertEqual(data["echoes"][-1]["received"]["data"], "hello", context)

    async def check_vanish(self, client, transports):
        data = await self.run_client(client, "vanish", transports)
        sid = data["sid"]
        self.assertEqual(data["event"], "open", data["_context"])
        self.assertTrue(sid, data["_context"])

        def closed_line(text):
            for line in text.splitlines():
                if sid in line and "closed" in line:
                    return line
            return None

        # The server notices: a dropped WebSocket at once, a vanished poller
        # after ping interval + ping timeout (0.5 s).
        line = await self.server.wait_for_output(closed_line, timeout=3.0)
        self.assertIn(sid, line)


class EchoTests(EngineIOInteropTestCase):
    """Text, unicode text and binary messages come back unchanged."""

    async def test_eioc6_polling(self):
        await self.check_echo("eioc6", POLLING)

    async def test_eioc6_websocket(self):
        await self.check_echo("eioc6", WEBSOCKET)

    async def test_eioc6_upgrade(self):
        await self.check_echo("eioc6", UPGRADE)

    async def test_eioc3_polling(self):
        await self.check_echo("eioc3", POLLING)

    async def test_eioc3_websocket(self):
        await self.check_echo("eioc3", WEBSOCKET)

    async def test_eioc3_upgrade(self):
        await self.check_echo("eioc3", UPGRADE)


class ForceBase64Tests(EngineIOInteropTestCase):
    """Clients with C{forceBase64} (C{b64=1}) exchange binary as base64 text,
    over polling and over the upgraded WebSocket."""

    async def test_eioc6_upgrade(self):
        await self.check_echo("eioc6", UPGRADE, force_base64=True)

    async def test_eioc3_upgrade(self):
        await self.check_echo("eioc3", UPGRADE, force_base64=True)


class HeartbeatTests(EngineIOInteropTestCase):
    """The session survives several ping/pong rounds (v6: server pings;
    v3: client pings)."""

    async def test_eioc6_polling(self):
        await self.check_heartbeat("eioc6", POLLING)

    async def test_eioc6_websocket(self):
        await self.check_heartbeat("eioc6", WEBSOCKET)

    async def test_eioc3_polling(self):
        await self.check_heartbeat("eioc3", POLLING)

    async def test_eioc3_websocket(self):
        await self.check_heartbeat("eioc3", WEBSOCKET)


class VanishTests(EngineIOInteropTestCase):
    """A client that disappears without closing is noticed and its session
    closed."""

    async def test_eioc6_upgraded(self):
        await self.check_vanish("eioc6", UPGRADE)

    async def test_eioc6_polling(self):
        await self.check_vanish("eioc6", POLLING)

    async def test_eioc3_upgraded(self):
        await self.check_vanish("eioc3", UPGRADE)

    async def test_eioc3_polling(self):
        await self.check_vanish("eioc3", POLLING)
