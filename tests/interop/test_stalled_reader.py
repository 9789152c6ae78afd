"""A client that stops reading while the server broadcasts is cut off at
``max_buffered_bytes`` (here 1 MB), as a "transport error", and the server
forgets it; a client that reads keeps everything.

The server is ``twistd txsocketio`` with tests/apps/limits_app.py.  The
stalled client is Node's ``ws`` with ``ws.pause()`` (it stops reading the
socket, so the kernel buffers fill and Twisted pauses the connection); the
reading client is a treq polling client that drains every response and asks
for ``stats`` at the end.  What the server still holds is read from the app's
``stats`` event, not from memory figures.
"""

import json
import os
import sys
from pathlib import Path

from twisted.internet import reactor
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
    spawn,
)

try:
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool
except ImportError:  # pragma: no cover
    HTTPClient = None

RAW_WS = NODE_DIR / "raw_ws.js"
COUNT, SIZE, INTERVAL = 400, 50_000, 0.005  # 20 MB over about 2 s


def twistd_argv():
    script = Path(sys.executable).with_name("twistd")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


class StalledReaderTests(unittest.TestCase):
    timeout = 90

    async def setUp(self):
        require_node_modules("ws")
        if HTTPClient is None:
            self.skipTest("treq is not installed")
        self.port = free_port()
        self.base = f"http://{LOCALHOST}:{self.port}/socket.io/?EIO=4&transport=polling"
        self.server = ServerProcess(
            [*twistd_argv(), "-n", "--pidfile=", "txsocketio", "--app", "tests.apps.limits_app:sio",
             "--listen", f"tcp:{self.port}:interface={LOCALHOST}"],
            self.port, cwd=PROJECT_ROOT, name="twistd txsocketio", startup_timeout=30)
        self.addCleanup(self.server.stop)
        await self.server.start()
        pool = HTTPConnectionPool(reactor, persistent=True)
        self.addCleanup(pool.closeCachedConnections)
        self.http = HTTPClient(Agent(reactor, pool=pool))

    async def post(self, url, text):
        self.assertEqual(await (await self.http.post(url, data=text.encode())).text(), "ok")

    async def test_cut_off_at_the_cap(self):
        """The stalled client is disconnected ("transport error") and gone from
        the server's tables; the reading client got every blob."""
        stalled = spawn([require_node(), str(RAW_WS), "stall",
                         f"ws://{LOCALHOST}:{self.port}/socket.io/?EIO=4&transport=websocket"], cwd=NODE_DIR)
        self.addCleanup(stalled.signal, "KILL")
        await poll_until(lambda: b"ready" in stalled.stdout, 15,
                         message=lambda: f"stalled client not ready: {bytes(stalled.stdout)!r}")
        stalled_id = json.loads(bytes(stalled.stdout).decode().splitlines()[0])["ready"]

        # The reading client: polling, drains every response as it comes.
        response = await self.http.get(self.base)
        sid = json.loads((await response.text())[1:])["sid"]
        url = f"{self.base}&sid={sid}"
        await self.post(url, "40")
        blobs, done = 0, False
        await self.post(url, '420["flood",{"count":%d,"size":%d,"interval":%s}]' % (COUNT, SIZE, INTERVAL))
        while not done:
            body = await (await self.http.get(url)).text()
            for packet in body.split("\x1e"):
                if packet == "2":
                    await self.post(url, "3")
                elif packet.startswith('42["blob"'):
                    blobs += 1
                elif packet.startswith('42["flood_done"'):
                    done = True
        self.assertEqual(blobs, COUNT)
        await self.post(url, '421["stats"]')
        stats = None
        while stats is None:
            body = await (await self.http.get(url)).text()
            for packet in body.split("\x1e"):
                if packet.startswith("431"):
                    stats = json.loads(packet[3:])[0]
        context = f"{stats}\n{self.server.describe()}"
        self.assertEqual(stats["engine_sessions"], [sid], context)
        self.assertEqual(stats["clients"], [sid], context)
        self.assertEqual(stats["reasons"].get(stalled_id), "transport error", context)
