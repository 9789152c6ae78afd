"""Embedding: SocketIOResource in twisted.web trees, WSGI beside it, Klein, and
the browser client bundle served like Node's ``serveClient``."""

from __future__ import annotations

import json
import os
import tempfile

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.wsgi import WSGIResource

from txsocketio import SocketIOResource, SocketIOServer
from txsocketio.web import WSGIRoot, build_root, find_client_dist


class _SyncThreadPool:
    """Runs WSGI calls at once, in the caller's thread (for StubTreq)."""

    def callInThread(self, f, *a, **kw):  # noqa: N802 - Twisted's name
        f(*a, **kw)

    def callInThreadWithCallback(self, onResult, f, *a, **kw):  # noqa: N802 - Twisted's name
        try:
            result = f(*a, **kw)
        except BaseException as e:  # pragma: no cover
            onResult(False, e)
        else:
            onResult(True, result)


class _SyncReactor:
    def callFromThread(self, f, *a, **kw):  # noqa: N802 - Twisted's name
        f(*a, **kw)


def wsgi_app(environ, start_response):
    body = f"wsgi {environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def _real_get(testcase: unittest.TestCase, root: Resource, path: str) -> tuple[int, bytes, object]:
    """GET over a real loopback port (static files stream through producers,
    which the in-memory StubTreq does not pump)."""
    import treq
    from twisted.internet import reactor
    from twisted.web.client import HTTPConnectionPool
    from twisted.web.server import Site

    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    testcase.addCleanup(port.stopListening)
    pool = HTTPConnectionPool(reactor, persistent=False)
    response = await treq.get(f"http://127.0.0.1:{port.getHost().port}{path}", pool=pool)
    body = await response.content()
    return response.code, body, response.headers


class ResourceTests(unittest.TestCase):
    def setUp(self) -> None:
        self.sio = SocketIOServer(reactor=Clock())

    def get(self, root: Resource, url: str) -> tuple[int, bytes, object]:
        treq = StubTreq(root)
        d = treq.get(url)
        treq.flush()
        response = self.successResultOf(d)
        body = self.successResultOf(response.content())
        return response.code, body, response.headers

    def test_handshake_through_put_child(self) -> None:
        """Mounted with putChild, the resource answers the polling handshake."""
        root = Resource()
        root.putChild(b"socket.io", SocketIOResource(self.sio))
        code, body, _ = self.get(root, "http://example.com/socket.io/?EIO=4&transport=polling")
        self.assertEqual(code, 200)
        self.assertTrue(body.startswith(b'0{"sid":'))

    def test_build_root_nested_path(self) -> None:
        """build_root mounts the resource at a nested path and nothing else answers there."""
        root = build_root(SocketIOResource(self.sio), "/rt/io/")
        code, body, _ = self.get(root, "http://example.com/rt/io/?EIO=4&transport=polling")
        self.assertEqual(code, 200)
        self.assertTrue(body.startswith(b"0{"))
        code, _, _ = self.get(root, "http://example.com/socket.io/?EIO=4&transport=polling")
        self.assertEqual(code, 404)

    def test_build_root_refuses_root_path(self) -> None:
        """The Socket.IO path cannot be / (the other resources need it)."""
        self.assertRaises(ValueError, build_root, SocketIOResource(self.sio), "/")

    async def test_static_beside(self) -> None:
        """With static=DIR, files are served at / and Socket.IO at its path."""
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "index.html"), "w") as f:
            f.write("<h1>hi</h1>")
        root = build_root(SocketIOResource(self.sio), static=d)
        code, body, _ = await _real_get(self, root, "/index.html")
        self.assertEqual((code, body), (200, b"<h1>hi</h1>"))
        code, body, _ = self.get(root, "http://example.com/socket.io/?EIO=4&transport=polling")
        self.assertTrue(body.startswith(b"0{"))

    def test_wsgi_root_routes(self) -> None:
        """WSGIRoot gives /socket.io/ to txsocketio and every other path, whole, to WSGI."""
        wsgi = WSGIResource(_SyncReactor(), _SyncThreadPool(), wsgi_app)
        root = WSGIRoot(wsgi, {b"socket.io": SocketIOResource(self.sio)})
        self.assertEqual(self.get(root, "http://example.com/")[1], b"wsgi /")
        self.assertEqual(self.get(root, "http://example.com/admin/login/")[1], b"wsgi /admin/login/")
        code, body, _ = self.get(root, "http://example.com/socket.io/?EIO=4&transport=polling")
        self.assertTrue(body.startswith(b"0{"))
        code, body, _ = self.get(root, "http://example.com/socket.io/?transport=polling")
        self.assertEqual((code, json.loads(body)), (400, {"code": 5, "message": "Unsupported protocol version"}))

    async def test_build_root_with_wsgi_and_static(self) -> None:
        """With both WSGI and static files, the files move to /static/."""
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "a.txt"), "w") as f:
            f.write("A")
        wsgi = WSGIResource(_SyncReactor(), _SyncThreadPool(), wsgi_app)
        root = build_root(SocketIOResource(self.sio), static=d, wsgi=wsgi)
        self.assertEqual((await _real_get(self, root, "/static/a.txt"))[1], b"A")
        self.assertEqual(self.get(root, "http://example.com/a.txt")[1], b"wsgi /a.txt")

    def test_klein_branch_route(self) -> None:
        """A Klein app can hand its /socket.io/ branch to the resource."""
        from klein import Klein

        app = Klein()
        resource = SocketIOResource(self.sio)

        @app.route("/socket.io/", branch=True)
        def sio_branch(request):
            return resource

        @app.route("/")
        def home(request):
            return "klein home"

        root = app.resource()
        self.assertEqual(self.get(root, "http://example.com/")[1], b"klein home")
        code, body, _ = self.get(root, "http://example.com/socket.io/?EIO=4&transport=polling")
        self.assertEqual(code, 200)
        self.assertTrue(body.startswith(b'0{"sid":'))


class ClientBundleTests(unittest.TestCase):
    def setUp(self) -> None:
        self.sio = SocketIOServer(reactor=Clock())
        self.dist = tempfile.mkdtemp()
        with open(os.path.join(self.dist, "socket.io.min.js"), "w") as f:
            f.write("/* bundle */")
        with open(os.path.join(self.dist, "socket.io.js"), "w") as f:
            f.write("/* full */")

    def get(self, resource: Resource, url: str) -> tuple[int, bytes, object]:
        root = Resource()
        root.putChild(b"socket.io", resource)
        treq = StubTreq(root)
        d = treq.get(url)
        treq.flush()
        response = self.successResultOf(d)
        return response.code, self.successResultOf(response.content()), response.headers

    async def test_serves_bundle(self) -> None:
        """/socket.io/socket.io.min.js is the client bundle, as JavaScript."""
        root = Resource()
        root.putChild(b"socket.io", SocketIOResource(self.sio, client_dist=self.dist))
        code, body, headers = await _real_get(self, root, "/socket.io/socket.io.min.js")
        self.assertEqual((code, body), (200, b"/* bundle */"))
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/javascript"])

    def test_missing_bundle_says_what_to_do(self) -> None:
        """Without the npm package the answer is a 404 that says how to install it."""
        empty = tempfile.mkdtemp()
        code, body, _ = self.get(SocketIOResource(self.sio, client_dist=empty),
                                 "http://example.com/socket.io/socket.io.js")
        self.assertEqual(code, 404)
        self.assertIn(b"npm ci", body)

    def test_serve_client_off(self) -> None:
        """serve_client=False leaves the path to Engine.IO (a 400 without a transport)."""
        code, body, _ = self.get(SocketIOResource(self.sio, serve_client=False, client_dist=self.dist),
                                 "http://example.com/socket.io/socket.io.min.js")
        self.assertEqual(code, 400)

    def test_find_client_dist_env(self) -> None:
        """TXSOCKETIO_CLIENT_DIST points at a dist folder."""
        old = os.environ.get("TXSOCKETIO_CLIENT_DIST")
        os.environ["TXSOCKETIO_CLIENT_DIST"] = self.dist
        try:
            self.assertEqual(str(find_client_dist()), self.dist)
        finally:
            if old is None:
                del os.environ["TXSOCKETIO_CLIENT_DIST"]
            else:
                os.environ["TXSOCKETIO_CLIENT_DIST"] = old
