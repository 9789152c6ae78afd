"""Engine.IO over WebSocket with a raw Node ``ws`` client (no engine.io-client logic).

The first frame after the 101: a client that only listens for ``message``
once ``open`` has fired must still get the OPEN packet, for EIO=3 and EIO=4.
The server writes it in a write of its own once the 101 has gone out, as
Node's server does.  ``TXSIO_EIO_SERVER=node`` runs the same test against the
reference server on Node's ``engine.io`` (see tests/interop/test_engineio.py).
"""

import json

from twisted.trial import unittest

from tests.interop.test_engineio import server_argv
from tests.support import NODE_DIR, ServerProcess, free_port, require_node, require_node_modules, run_process

RAW_WS = NODE_DIR / "raw_ws.js"


class FirstFrameTests(unittest.TestCase):
    """The OPEN packet reaches a client that listens for messages only after open."""

    async def setUp(self):
        require_node_modules("ws", "engine.io")
        port = free_port()
        self.url = f"ws://127.0.0.1:{port}/engine.io/"
        self.server = ServerProcess(server_argv(port), port)
        self.addCleanup(self.server.stop)
        await self.server.start()

    async def first_frame(self, eio):
        result = await run_process([require_node(), str(RAW_WS), "first-frame",
                                    f"{self.url}?EIO={eio}&transport=websocket"],
                                   cwd=NODE_DIR, timeout=30)
        context = f"{result.describe()}\n=== server\n{self.server.describe()}"
        self.assertEqual(result.exit_code, 0, context)
        return json.loads(result.stdout_text.strip().splitlines()[-1])["first"], context

    async def check(self, eio):
        # A few connections: the coalesced 101 + OPEN was missed most of the time.
        for _ in range(5):
            first, context = await self.first_frame(eio)
            self.assertTrue(first.startswith('0{"sid":'), context)
            self.assertEqual(json.loads(first[1:])["upgrades"], [], context)

    async def test_eio4(self):
        """EIO=4: the first message the raw client sees is the OPEN packet."""
        await self.check(4)

    async def test_eio3(self):
        """EIO=3: the same."""
        await self.check(3)


class HeadersHookTests(unittest.TestCase):
    """The headers hooks reach a real WebSocket 101 (a raw Node ``ws`` client
    against the server on a real loopback port)."""

    async def setUp(self):
        require_node_modules("ws")
        from twisted.internet import reactor
        from twisted.web.resource import Resource
        from twisted.web.server import Site

        from txsocketio.engineio.server import EngineIOServer

        self.server = EngineIOServer(reactor, cookie=True)
        self.server.on_initial_headers(lambda headers, request: headers.update({"X-Initial": "first"}))
        self.server.on_headers(lambda headers, request: headers.update({"X-Served-By": "hooks-test"}))
        root = Resource()
        root.putChild(b"engine.io", self.server.resource())
        self.port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.addCleanup(self.server.shutdown, 1)
        self.url = f"ws://127.0.0.1:{self.port.getHost().port}/engine.io/"

    async def headers(self, query):
        result = await run_process([require_node(), str(RAW_WS), "headers", f"{self.url}?{query}"],
                                   cwd=NODE_DIR, timeout=30)
        self.assertEqual(result.exit_code, 0, result.describe())
        return json.loads(result.stdout_text.strip().splitlines()[-1])

    async def test_websocket_only_101(self):
        """The 101 of a WebSocket-only handshake carries the initial headers,
        the headers and the session cookie."""
        got = await self.headers("EIO=4&transport=websocket")
        self.assertEqual(got["status"], 101)
        self.assertEqual(got["headers"].get("x-initial"), "first")
        self.assertEqual(got["headers"].get("x-served-by"), "hooks-test")
        self.assertTrue(got["headers"].get("set-cookie", [""])[0].startswith("io="), got)

    async def test_upgrade_101(self):
        """The 101 of an upgrade from polling carries the headers, not the
        initial headers (it opens no session)."""
        import treq
        from twisted.internet import reactor
        from twisted.web.client import HTTPConnectionPool

        http = self.url.replace("ws://", "http://")
        pool = HTTPConnectionPool(reactor, persistent=False)
        response = await treq.get(f"{http}?EIO=4&transport=polling", pool=pool)
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders(b"x-initial"), [b"first"])
        sid = json.loads((await response.text())[1:])["sid"]
        got = await self.headers(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual(got["status"], 101)
        self.assertEqual(got["headers"].get("x-served-by"), "hooks-test")
        self.assertNotIn("x-initial", got["headers"])
