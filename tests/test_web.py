"""Embedding: SocketIOResource in twisted.web trees, WSGI beside it, Klein, and
the browser client bundle served like Node's ``serveClient``."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from treq.testing import StubTreq
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.wsgi import WSGIResource

from txsocketio import SocketIOResource, SocketIOServer
from txsocketio.staticfiles import StaticFile
from txsocketio.web import (
    CLIENT_FILES,
    PACKAGE_CLIENT_DIST,
    WSGIRoot,
    build_root,
    find_client_dist,
)


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


def _set_env(testcase: unittest.TestCase, name: str, value: str | None) -> None:
    """Set (or unset) an environment variable for the duration of a test."""
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value

    def restore() -> None:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old

    testcase.addCleanup(restore)


class ClientBundleTests(unittest.TestCase):
    """The browser client served like Node's serveClient, from the package copy."""

    def setUp(self) -> None:
        _set_env(self, "TXSOCKETIO_CLIENT_DIST", None)
        self.sio = SocketIOServer(reactor=Clock())
        self.dist = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dist)
        with open(os.path.join(self.dist, "socket.io.min.js"), "w") as f:
            f.write("/* bundle */")
        with open(os.path.join(self.dist, "socket.io.js"), "w") as f:
            f.write("/* full */")

    def request(self, resource: Resource, path: str, *, method: str = "GET",
                headers: dict[bytes, list[bytes]] | None = None) -> tuple[int, bytes, Headers]:
        """One request through a real twisted.web Site, in memory: the status,
        headers and body exactly as written on the wire (an HTTP client would
        hide Content-Length and might gunzip)."""
        root = Resource()
        root.putChild(b"socket.io", resource)
        channel = Site(root, reactor=Clock()).buildProtocol(None)
        transport = StringTransport()
        channel.makeConnection(transport)
        lines = [b"%s %s HTTP/1.1" % (method.encode("ascii"), path.encode("ascii")),
                 b"Host: example.com", b"Connection: close"]
        for name, values in (headers or {}).items():
            lines.extend(name + b": " + value for value in values)
        channel.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n")
        channel.connectionLost(Failure(ConnectionDone()))
        head, _, body = transport.value().partition(b"\r\n\r\n")
        status, *header_lines = head.split(b"\r\n")
        parsed = Headers()
        for line in header_lines:
            name, _, value = line.partition(b":")
            parsed.addRawHeader(name.strip(), value.strip())
        return int(status.split()[1]), body, parsed

    def shipped(self, name: str) -> bytes:
        return (PACKAGE_CLIENT_DIST / name).read_bytes()

    def test_serves_package_copy_by_default(self) -> None:
        """/socket.io/socket.io.min.js is the shipped bundle, as JavaScript, with
        a strong ETag, Cache-Control, Vary and its length."""
        code, body, headers = self.request(SocketIOResource(self.sio), "/socket.io/socket.io.min.js")
        self.assertEqual(code, 200)
        self.assertEqual(body, self.shipped("socket.io.min.js"))
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/javascript; charset=utf-8"])
        self.assertEqual(headers.getRawHeaders(b"cache-control"), [b"public, max-age=0"])
        self.assertEqual(headers.getRawHeaders(b"vary"), [b"Accept-Encoding"])
        self.assertEqual(headers.getRawHeaders(b"content-length"), [str(len(body)).encode()])
        self.assertIsNone(headers.getRawHeaders(b"content-encoding"))
        [etag] = headers.getRawHeaders(b"etag")
        self.assertRegex(etag, rb'^"[0-9a-f]{32}"$')

    def test_every_node_client_file(self) -> None:
        """Every file Node's serveClient serves is shipped and served: scripts as
        JavaScript, source maps as JSON."""
        resource = SocketIOResource(self.sio)
        self.assertEqual(len(CLIENT_FILES), 8)
        for name in sorted(CLIENT_FILES):
            code, body, headers = self.request(resource, "/socket.io/" + name)
            self.assertEqual((code, body), (200, self.shipped(name)), name)
            kind = b"json" if name.endswith(".map") else b"javascript"
            self.assertEqual(headers.getRawHeaders(b"content-type"),
                             [b"application/" + kind + b"; charset=utf-8"], name)

    def test_package_copy_is_consistent(self) -> None:
        """The shipped copy is a socket.io-client 4.x whose files match the
        sha256 sums of its bundle.json, with the client's MIT licence beside it."""
        manifest = json.loads((PACKAGE_CLIENT_DIST / "bundle.json").read_text())
        self.assertEqual(manifest["name"], "socket.io-client")
        self.assertEqual(manifest["version"].split(".")[0], "4")
        self.assertEqual(set(manifest["files"]), set(CLIENT_FILES))
        for name, digest in manifest["files"].items():
            self.assertEqual(hashlib.sha256(self.shipped(name)).hexdigest(), digest, name)
        self.assertIn("MIT License", (PACKAGE_CLIENT_DIST / "LICENSE").read_text())

    def test_gzip_when_accepted(self) -> None:
        """With Accept-Encoding: gzip the answer is gzipped, with an ETag of its own."""
        resource = SocketIOResource(self.sio)
        _, _, plain = self.request(resource, "/socket.io/socket.io.js")
        code, body, headers = self.request(resource, "/socket.io/socket.io.js",
                                           headers={b"Accept-Encoding": [b"gzip, deflate, br"]})
        self.assertEqual(code, 200)
        self.assertEqual(headers.getRawHeaders(b"content-encoding"), [b"gzip"])
        self.assertEqual(gzip.decompress(body), self.shipped("socket.io.js"))
        self.assertLess(len(body), len(self.shipped("socket.io.js")) // 2)
        self.assertEqual(headers.getRawHeaders(b"content-length"), [str(len(body)).encode()])
        self.assertNotEqual(headers.getRawHeaders(b"etag"), plain.getRawHeaders(b"etag"))

    def test_gzip_refused(self) -> None:
        """gzip;q=0 (or only other codings) gets the file as it is."""
        resource = SocketIOResource(self.sio)
        for value in (b"gzip;q=0", b"br", b"identity", b"*;q=0"):
            code, body, headers = self.request(resource, "/socket.io/socket.io.js",
                                               headers={b"Accept-Encoding": [value]})
            self.assertEqual((code, body), (200, self.shipped("socket.io.js")), value)
            self.assertIsNone(headers.getRawHeaders(b"content-encoding"), value)

    def test_gzip_computed_once(self) -> None:
        """Each file is read and gzipped once, on its first request, not per request."""
        reads: list[str] = []
        original = StaticFile.read

        def counting(path: Path, **kwargs: Any) -> StaticFile:
            reads.append(path.name)
            return original(path, **kwargs)

        self.patch(StaticFile, "read", staticmethod(counting))
        resource = SocketIOResource(self.sio)
        self.assertEqual(reads, [])
        for _ in range(3):
            self.request(resource, "/socket.io/socket.io.min.js", headers={b"Accept-Encoding": [b"gzip"]})
            self.request(resource, "/socket.io/socket.io.min.js")
        self.assertEqual(reads, ["socket.io.min.js"])

    def test_if_none_match(self) -> None:
        """If-None-Match naming the current ETag (strong, weak, in a list, or
        *) gets a bodiless 304 that still carries the ETag and Cache-Control."""
        resource = SocketIOResource(self.sio)
        _, _, headers = self.request(resource, "/socket.io/socket.io.min.js")
        [etag] = headers.getRawHeaders(b"etag")
        for value in (etag, b"W/" + etag, b'"other", ' + etag, b"*"):
            code, body, headers = self.request(resource, "/socket.io/socket.io.min.js",
                                               headers={b"If-None-Match": [value]})
            self.assertEqual((code, body), (304, b""), value)
            self.assertEqual(headers.getRawHeaders(b"etag"), [etag])
            self.assertEqual(headers.getRawHeaders(b"cache-control"), [b"public, max-age=0"])
            self.assertIsNone(headers.getRawHeaders(b"content-length"))

    def test_if_none_match_other_representation(self) -> None:
        """A stale ETag, or the plain file's ETag on a gzip request, gets the whole file."""
        resource = SocketIOResource(self.sio)
        _, _, headers = self.request(resource, "/socket.io/socket.io.min.js")
        [etag] = headers.getRawHeaders(b"etag")
        code, body, _ = self.request(resource, "/socket.io/socket.io.min.js",
                                     headers={b"If-None-Match": [b'"0123"']})
        self.assertEqual((code, body), (200, self.shipped("socket.io.min.js")))
        code, body, headers = self.request(resource, "/socket.io/socket.io.min.js",
                                           headers={b"If-None-Match": [etag], b"Accept-Encoding": [b"gzip"]})
        self.assertEqual(code, 200)
        self.assertEqual(gzip.decompress(body), self.shipped("socket.io.min.js"))
        [gzip_etag] = headers.getRawHeaders(b"etag")
        code, body, _ = self.request(resource, "/socket.io/socket.io.min.js",
                                     headers={b"If-None-Match": [gzip_etag], b"Accept-Encoding": [b"gzip"]})
        self.assertEqual((code, body), (304, b""))

    def test_head(self) -> None:
        """HEAD gets the headers of GET (the length of the body it would get), no body."""
        resource = SocketIOResource(self.sio)
        for encoding, expected in ((b"identity", self.shipped("socket.io.min.js.map")),
                                   (b"gzip", None)):
            _, get_body, get_headers = self.request(resource, "/socket.io/socket.io.min.js.map",
                                                    headers={b"Accept-Encoding": [encoding]})
            code, body, headers = self.request(resource, "/socket.io/socket.io.min.js.map", method="HEAD",
                                               headers={b"Accept-Encoding": [encoding]})
            self.assertEqual((code, body), (200, b""))
            if expected is not None:
                self.assertEqual(get_body, expected)
            self.assertEqual(headers.getRawHeaders(b"content-length"), [str(len(get_body)).encode()])
            for name in (b"etag", b"content-type", b"content-encoding", b"cache-control"):
                self.assertEqual(headers.getRawHeaders(name), get_headers.getRawHeaders(name), name)

    def test_client_dist_argument(self) -> None:
        """client_dist=DIR serves that directory's files instead."""
        code, body, headers = self.request(SocketIOResource(self.sio, client_dist=self.dist),
                                           "/socket.io/socket.io.min.js")
        self.assertEqual((code, body), (200, b"/* bundle */"))
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/javascript; charset=utf-8"])

    def test_missing_file_is_404(self) -> None:
        """A client file the directory lacks is a plain 404 (and a warning in the log)."""
        code, body, _ = self.request(SocketIOResource(self.sio, client_dist=self.dist),
                                     "/socket.io/socket.io.esm.min.js")
        self.assertEqual(code, 404)
        self.assertEqual(body, b"socket.io client file not found\n")

    def test_env_override(self) -> None:
        """$TXSOCKETIO_CLIENT_DIST points at another dist folder."""
        _set_env(self, "TXSOCKETIO_CLIENT_DIST", self.dist)
        self.assertEqual(find_client_dist(), Path(self.dist))
        code, body, _ = self.request(SocketIOResource(self.sio), "/socket.io/socket.io.js")
        self.assertEqual((code, body), (200, b"/* full */"))

    def test_env_override_without_bundle(self) -> None:
        """An override without socket.io.min.js is ignored: the package copy is served."""
        _set_env(self, "TXSOCKETIO_CLIENT_DIST", tempfile.mkdtemp())
        self.assertEqual(find_client_dist(), PACKAGE_CLIENT_DIST)

    def test_no_node_modules_lookup(self) -> None:
        """Without an override the package copy is used, even inside a checkout
        that has node_modules/socket.io-client (a pip user has no npm)."""
        self.assertEqual(find_client_dist(), PACKAGE_CLIENT_DIST)
        self.assertEqual(SocketIOResource(self.sio).client_bundle.directory, PACKAGE_CLIENT_DIST)

    def test_serve_client_off(self) -> None:
        """serve_client=False leaves the path to Engine.IO (a 400 without a transport)."""
        code, body, _ = self.request(SocketIOResource(self.sio, serve_client=False),
                                     "/socket.io/socket.io.min.js")
        self.assertEqual(code, 400)

    def test_only_get_and_head(self) -> None:
        """A POST, or a request with a transport, is Engine.IO's, not a file."""
        resource = SocketIOResource(self.sio)
        code, _, _ = self.request(resource, "/socket.io/socket.io.min.js", method="POST")
        self.assertEqual(code, 400)
        code, body, _ = self.request(resource, "/socket.io/socket.io.min.js?EIO=4&transport=polling")
        self.assertEqual(code, 200)
        self.assertTrue(body.startswith(b'0{"sid":'))
