"""
Nesting depth with a real client: the official socket.io-client 4.x sends an
echo nested 100 levels deep (what python-socketio accepts) and gets it back;
one nested 100,000 levels deep is refused with a CONNECT_ERROR that names the
limit (socket.io-client's ``connect_error``) and the connection is closed; the
server logs why, and it keeps serving.  Against ``twistd -n txsocketio --app``.

The scenario was first run by hand with the same client against Node's
socket.io 4.8 server (the shared harness's ``servers/node_sio.js``): 100 and
1,000 levels echo, 100,000 levels end in a disconnect ("transport close",
without saying why) and that server lives on too.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import TestCase

from tests.interop.test_abuse_fuzz import log_problems, start_abuse_app
from tests.support import require_node, require_node_modules, run_process


async def depth_client(port: int, depth: int, *options: str) -> dict[str, Any]:
    """
    Run C{tests/node/abuse_depth_client.js} against the server on C{port}:
    what it printed.
    """
    node_dir = require_node_modules("sioc4")
    result = await run_process(
        [require_node(), "abuse_depth_client.js", "--url", f"http://127.0.0.1:{port}",
         "--depth", str(depth), *options], cwd=node_dir, timeout=60)
    assert result.exit_code == 0, result.describe()
    return json.loads(result.stdout_text)


class NestingDepthTests(TestCase):
    """
    The JSON depth limit as a socket.io-client sees it.
    """

    timeout = 180

    async def test_deepEchoes(self) -> None:
        """
        100 levels come back over WebSocket and polling; 100,000 levels get a
        connect_error naming max_json_depth (no ack, no hang) over both, the log names the limit, the
        server keeps running and echoes 100 levels again; no traceback is
        logged.
        """
        server, logfile = start_abuse_app(self)
        await server.start()
        for transports in ("websocket", "polling"):
            self.assertEqual(
                await depth_client(server.port, 100, "--transports", transports),
                {"ok": True, "depth": 100},
            )
        for transports in ("websocket", "polling"):
            answer = await depth_client(server.port, 100_000, "--raw", "--transports", transports)
            self.assertIn("max_json_depth", answer.get("connect_error", {}).get("message", ""), answer)
            self.assertNotIn("timeout", answer)
            self.assertNotIn("ok", answer)
            self.assertTrue(server.running, server.describe())
        self.assertEqual(
            await depth_client(server.port, 100), {"ok": True, "depth": 100}
        )
        await server.stop(grace=10)
        with open(logfile, encoding="utf-8") as f:
            log = f.read()
        self.assertEqual(
            log.count("protocol error (JSON payload nests deeper than 128 levels (max_json_depth))"),
            2, log[-3000:])
        self.assertEqual(log_problems(logfile), [])
