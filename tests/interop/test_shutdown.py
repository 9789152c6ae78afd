"""SIGTERM to ``twistd -n txsocketio`` with idle sessions: every client gets its
goodbye, and the process exits promptly.

Clients, all idle when the signal comes: two raw WebSocket clients (Node's
``ws``), a polling client with its long-poll GET pending, and a polling client
between polls (handshake done, no GET pending), which comes back for its
goodbye right after the signal.  Each must receive the Socket.IO DISCONNECT
``41`` and the Engine.IO CLOSE ``1``, and the WebSocket clients a close frame
(1000).  The shutdown timeout is 30 s: the process must be gone long before it
could have elapsed (the bound is a hang guard, not a performance figure).
"""

import json
import os
import sys
import time
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial import unittest

from tests.support import (
    LOCALHOST,
    NODE_DIR,
    PROJECT_ROOT,
    ServerProcess,
    free_port,
    poll_until,
    require_node,
    require_node_modules,
    sleep,
    spawn,
)

try:
    import treq
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool
except ImportError:  # pragma: no cover
    treq = None

RAW_WS = NODE_DIR / "raw_ws.js"
SHUTDOWN_TIMEOUT = 30.0
#: far below SHUTDOWN_TIMEOUT: a shutdown that waited for it (or for ping_timeout) fails
EXIT_BOUND = 5.0


def twistd_argv():
    script = Path(sys.executable).with_name("twistd")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


def payload(text):
    """The Engine.IO v4 packets of a polling body."""
    return text.split("\x1e")


class ShutdownTests(unittest.TestCase):
    timeout = 60

    async def setUp(self):
        require_node_modules("ws")
        if treq is None:
            self.skipTest("treq is not installed")
        self.port = free_port()
        self.base = f"http://{LOCALHOST}:{self.port}/socket.io/?EIO=4&transport=polling"
        self.server = ServerProcess(
            [*twistd_argv(), "-n", "--pidfile=", "txsocketio", "--app", "tests.apps.limits_app:sio",
             "--listen", f"tcp:{self.port}:interface={LOCALHOST}",
             "--shutdown-timeout", str(SHUTDOWN_TIMEOUT)],
            self.port, cwd=PROJECT_ROOT, name="twistd txsocketio", startup_timeout=30)
        self.addCleanup(self.server.stop)
        await self.server.start()

    def http_client(self):
        """A client with its own keep-alive connection, as a browser's polling has."""
        pool = HTTPConnectionPool(reactor, persistent=True)
        self.addCleanup(pool.closeCachedConnections)
        return HTTPClient(Agent(reactor, pool=pool))

    async def ws_client(self):
        proto = spawn([require_node(), str(RAW_WS), "goodbye", f"ws://{LOCALHOST}:{self.port}/socket.io/"
                       "?EIO=4&transport=websocket"], cwd=NODE_DIR)
        self.addCleanup(proto.signal, "KILL")
        await poll_until(lambda: b"ready" in proto.stdout, 15,
                         message=lambda: f"ws client not ready: {bytes(proto.stdout)!r} {bytes(proto.stderr)!r}")
        return proto

    async def polling_client(self):
        """Handshake and join "/"; returns the client and its URL (no GET left pending)."""
        http = self.http_client()
        response = await http.get(self.base)
        sid = json.loads((await response.text())[1:])["sid"]
        url = f"{self.base}&sid={sid}"
        self.assertEqual(await (await http.post(url, data=b"40")).text(), "ok")
        body = await (await http.get(url)).text()
        self.assertTrue(body.startswith('40{"sid":'), body)
        return http, url

    async def until_closed(self, http, url, first=None):
        """Poll as engine.io-client does (the next GET as soon as one returns)
        until the Engine.IO CLOSE: every packet received, in order."""
        packets = []
        while "1" not in packets:
            response = await (first if first is not None else http.get(url))
            first = None
            self.assertEqual(response.code, 200, f"{packets}\n{self.server.describe()}")
            packets += payload(await response.text())
        return packets

    async def test_goodbyes_and_prompt_exit(self):
        """Every client gets 41 and the Engine.IO close (WebSocket: and a close
        frame 1000); the process exits well before the shutdown timeout."""
        ws_clients = [await self.ws_client(), await self.ws_client()]
        pending_http, pending_url = await self.polling_client()
        idle_http, idle_url = await self.polling_client()
        pending = pending_http.get(pending_url)  # the long-poll, left pending
        await sleep(0.3)  # let it reach the server (nothing in the protocol says it has)
        exited = self.server.wait_for_exit(EXIT_BOUND + 5)
        started = time.monotonic()
        self.server.send_signal(15)
        idle = idle_http.get(idle_url)  # between polls: comes back for its goodbye
        # Both poll on at once, as engine.io-client does, until the Engine.IO close.
        pending_seen = Deferred.fromCoroutine(self.until_closed(pending_http, pending_url, pending))
        idle_seen = Deferred.fromCoroutine(self.until_closed(idle_http, idle_url, idle))
        context = lambda: self.server.describe()
        for proto in ws_clients:
            await proto.when_ended()
            result = json.loads(bytes(proto.stdout).decode().strip().splitlines()[-1])
            self.assertEqual(result["messages"], ["41", "1"], context())
            self.assertEqual(result["code"], 1000, context())
        self.assertEqual(await pending_seen, ["41", "1"], context())
        self.assertEqual(await idle_seen, ["41", "1"], context())
        await exited
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, EXIT_BOUND, f"exit took {elapsed:.2f} s\n{context()}")
        # twistd stops the reactor, then ends itself with the signal it got.
        self.assertIn(self.server.exit_code, (0, -15), context())
        self.assertNotIn("timed out", self.server.stdout_text + self.server.stderr_text, context())
