"""The Admin UI static resource: the shipped ui/dist files with their types,
caching, gzip, 304s, HEAD, the trailing-slash redirect, and nothing else."""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from pathlib import Path

from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import Site

from txsocketio.admin.ui import (
    CACHE_IMMUTABLE,
    CACHE_REVALIDATE,
    PACKAGE_ADMIN_UI,
    AdminUIResource,
    admin_ui_files,
)

MANIFEST = json.loads((PACKAGE_ADMIN_UI / "bundle.json").read_text())


def _names(suffix: str) -> list[str]:
    return sorted(n for n in MANIFEST["files"] if n.endswith(suffix))


def request(resource: Resource, path: str, *, method: str = "GET", mount: tuple[bytes, ...] = (b"admin-ui",),
            headers: dict[bytes, bytes] | None = None) -> tuple[int, bytes, Headers]:
    """One request through a real twisted.web Site in memory: the status,
    headers and body as written on the wire."""
    root = parent = Resource()
    for segment in mount[:-1]:
        child = Resource()
        parent.putChild(segment, child)
        parent = child
    parent.putChild(mount[-1], resource)
    channel = Site(root, reactor=Clock()).buildProtocol(None)
    transport = StringTransport()
    channel.makeConnection(transport)
    lines = [b"%s %s HTTP/1.1" % (method.encode("ascii"), path.encode("ascii")),
             b"Host: example.com", b"Connection: close"]
    lines.extend(name + b": " + value for name, value in (headers or {}).items())
    channel.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n")
    channel.connectionLost(Failure(ConnectionDone()))
    head, _, body = transport.value().partition(b"\r\n\r\n")
    status, *header_lines = head.split(b"\r\n")
    parsed = Headers()
    for line in header_lines:
        name, _, value = line.partition(b":")
        parsed.addRawHeader(name.strip(), value.strip())
    return int(status.split()[1]), body, parsed


class ShippedFilesTests(unittest.TestCase):
    """The package copy, served as it is."""

    def setUp(self) -> None:
        self.resource = AdminUIResource()

    def test_index_at_mount_path(self) -> None:
        """/admin-ui/ is index.html: HTML, revalidated (no-cache) with a strong
        ETag, nosniff, its exact length."""
        code, body, headers = request(self.resource, "/admin-ui/")
        self.assertEqual(code, 200)
        self.assertEqual(body, (PACKAGE_ADMIN_UI / "index.html").read_bytes())
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"text/html; charset=utf-8"])
        self.assertEqual(headers.getRawHeaders(b"cache-control"), [CACHE_REVALIDATE])
        self.assertEqual(headers.getRawHeaders(b"x-content-type-options"), [b"nosniff"])
        self.assertEqual(headers.getRawHeaders(b"content-length"), [b"%d" % len(body)])
        [etag] = headers.getRawHeaders(b"etag")
        self.assertRegex(etag, rb'^"[0-9a-f]{32}"$')
        code, again, _ = request(self.resource, "/admin-ui/index.html")
        self.assertEqual((code, again), (200, body))

    def test_redirect_adds_slash(self) -> None:
        """/admin-ui (no slash) redirects to /admin-ui/, keeping the query, so
        the page's relative asset URLs resolve below the mount path."""
        code, _, headers = request(self.resource, "/admin-ui?x=1")
        self.assertEqual(code, 302)
        self.assertEqual(headers.getRawHeaders(b"location"), [b"/admin-ui/?x=1"])
        code, _, headers = request(self.resource, "/ops/admin", mount=(b"ops", b"admin"))
        self.assertEqual(code, 302)
        self.assertEqual(headers.getRawHeaders(b"location"), [b"/ops/admin/"])

    def test_every_file_served_byte_for_byte(self) -> None:
        """Every file of the bundle's manifest is served, identical, at its
        relative path, with the type of its suffix."""
        types = {".js": b"application/javascript; charset=utf-8", ".css": b"text/css; charset=utf-8",
                 ".map": b"application/json; charset=utf-8", ".svg": b"image/svg+xml",
                 ".png": b"image/png", ".html": b"text/html; charset=utf-8"}
        self.assertGreaterEqual(len(MANIFEST["files"]), 8)
        for name in MANIFEST["files"]:
            code, body, headers = request(self.resource, "/admin-ui/" + name)
            self.assertEqual(code, 200, name)
            self.assertEqual(body, (PACKAGE_ADMIN_UI / name).read_bytes(), name)
            self.assertEqual(headers.getRawHeaders(b"content-type"), [types[Path(name).suffix]], name)

    def test_hashed_assets_are_immutable(self) -> None:
        """Assets whose name carries the build hash are cached for a year as
        immutable; favicon.png (no hash) is revalidated."""
        for name in _names(".js") + _names(".css") + _names(".svg"):
            _, _, headers = request(self.resource, "/admin-ui/" + name)
            self.assertEqual(headers.getRawHeaders(b"cache-control"), [CACHE_IMMUTABLE], name)
        _, _, headers = request(self.resource, "/admin-ui/favicon.png")
        self.assertEqual(headers.getRawHeaders(b"cache-control"), [CACHE_REVALIDATE])

    def test_gzip_when_accepted(self) -> None:
        """A JavaScript asset is gzipped when the client accepts gzip: another
        ETag, Vary, and the body decompresses to the file."""
        [name] = [n for n in _names(".js") if "app." in n]
        code, body, headers = request(self.resource, "/admin-ui/" + name,
                                      headers={b"Accept-Encoding": b"gzip, br"})
        self.assertEqual(code, 200)
        self.assertEqual(headers.getRawHeaders(b"content-encoding"), [b"gzip"])
        self.assertEqual(headers.getRawHeaders(b"vary"), [b"Accept-Encoding"])
        self.assertEqual(gzip.decompress(body), (PACKAGE_ADMIN_UI / name).read_bytes())
        [etag] = headers.getRawHeaders(b"etag")
        self.assertTrue(etag.endswith(b'-gzip"'))

    def test_large_map_and_png_not_gzipped(self) -> None:
        """The 3 MB vendor source map (over GZIP_MAX_SIZE) and the PNG are sent
        as they are even when gzip is accepted."""
        big = [n for n in MANIFEST["files"] if (PACKAGE_ADMIN_UI / n).stat().st_size > 1 << 20]
        self.assertEqual(len(big), 1, big)
        for name in big + ["favicon.png"]:
            code, body, headers = request(self.resource, "/admin-ui/" + name,
                                          headers={b"Accept-Encoding": b"gzip"})
            self.assertEqual(code, 200)
            self.assertIsNone(headers.getRawHeaders(b"content-encoding"), name)
            self.assertIsNone(headers.getRawHeaders(b"vary"), name)
            self.assertEqual(body, (PACKAGE_ADMIN_UI / name).read_bytes())

    def test_if_none_match(self) -> None:
        """A matching If-None-Match gets 304 with no body and no
        Content-Length; the ETag of the other representation does not match."""
        _, _, headers = request(self.resource, "/admin-ui/")
        [etag] = headers.getRawHeaders(b"etag")
        code, body, headers = request(self.resource, "/admin-ui/", headers={b"If-None-Match": etag})
        self.assertEqual((code, body), (304, b""))
        self.assertIsNone(headers.getRawHeaders(b"content-length"))
        code, _, _ = request(self.resource, "/admin-ui/", headers={b"If-None-Match": etag,
                                                                   b"Accept-Encoding": b"gzip"})
        self.assertEqual(code, 200)

    def test_head(self) -> None:
        """HEAD answers the headers of GET, with the full length, and no body."""
        code, body, headers = request(self.resource, "/admin-ui/index.html", method="HEAD")
        self.assertEqual((code, body), (200, b""))
        self.assertEqual(headers.getRawHeaders(b"content-length"),
                         [b"%d" % (PACKAGE_ADMIN_UI / "index.html").stat().st_size])

    def test_other_methods_refused(self) -> None:
        """POST (or any method but GET and HEAD) gets 405 with an Allow header."""
        code, _, headers = request(self.resource, "/admin-ui/", method="POST")
        self.assertEqual(code, 405)
        [allow] = headers.getRawHeaders(b"allow")
        self.assertEqual(sorted(m.strip() for m in allow.split(b",")), [b"GET", b"HEAD"])

    def test_unknown_and_traversal_are_404(self) -> None:
        """Names outside the bundle, directories, parent references (plain or
        percent-encoded), dot-files and invalid UTF-8 are all 404."""
        for path in ("/admin-ui/nope.js", "/admin-ui/js/", "/admin-ui/js", "/admin-ui/../setup.py",
                     "/admin-ui/%2e%2e/setup.py", "/admin-ui/js/..%2f..%2fbundle.json",
                     "/admin-ui/.gitattributes", "/admin-ui/%ff.js"):
            code, body, _ = request(self.resource, path)
            self.assertEqual(code, 404, path)
            self.assertEqual(body, b"Admin UI file not found\n", path)


class DirectoryTests(unittest.TestCase):
    """Another ui/dist folder given explicitly."""

    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.dir)
        (self.dir / "index.html").write_text("<p>ui</p>")
        (self.dir / "js").mkdir()
        (self.dir / "js" / "a.0123abcd.js").write_text("1;")
        (self.dir / ".hidden").mkdir()
        (self.dir / ".hidden" / "x.js").write_text("secret")
        (self.dir / "notes.unknownsuffix").write_text("x")

    def test_serves_given_directory(self) -> None:
        """The files of the given directory are served; dot-directories and
        unknown suffixes are not part of the UI."""
        resource = AdminUIResource(self.dir)
        self.assertEqual(resource.names, {"index.html", "js/a.0123abcd.js"})
        self.assertEqual(request(resource, "/admin-ui/")[:2], (200, b"<p>ui</p>"))
        self.assertEqual(request(resource, "/admin-ui/js/a.0123abcd.js")[:2], (200, b"1;"))
        self.assertEqual(request(resource, "/admin-ui/.hidden/x.js")[0], 404)

    def test_no_file_system_lookup_per_request(self) -> None:
        """A file created after construction is not served (the set of names
        is fixed); a file read once is served from memory even if it changes."""
        resource = AdminUIResource(self.dir)
        self.assertEqual(request(resource, "/admin-ui/index.html")[1], b"<p>ui</p>")
        (self.dir / "late.js").write_text("late")
        (self.dir / "index.html").write_text("changed")
        self.assertEqual(request(resource, "/admin-ui/late.js")[0], 404)
        self.assertEqual(request(resource, "/admin-ui/index.html")[1], b"<p>ui</p>")

    def test_unreadable_file_is_404(self) -> None:
        """A listed file that vanished before its first request is a 404 (and
        a warning), not a 500."""
        resource = AdminUIResource(self.dir)
        (self.dir / "js" / "a.0123abcd.js").unlink()
        self.assertEqual(request(resource, "/admin-ui/js/a.0123abcd.js")[0], 404)

    def test_directory_without_index_refused(self) -> None:
        """A folder without index.html is not an Admin UI build: ValueError
        at construction, naming the folder."""
        (self.dir / "index.html").unlink()
        error = self.assertRaises(ValueError, AdminUIResource, self.dir)
        self.assertIn(str(self.dir), str(error))

    def test_admin_ui_files_package_copy(self) -> None:
        """The package copy's servable files are exactly the manifest's files
        plus bundle.json (LICENSE has no suffix; .gitattributes is a dot-file)."""
        self.assertEqual(admin_ui_files(PACKAGE_ADMIN_UI), set(MANIFEST["files"]) | {"bundle.json"})
