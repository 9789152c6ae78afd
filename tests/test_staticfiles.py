"""Tests for L{txsocketio.staticfiles}: files shipped in the package, served
with ETags, 304s and gzip."""

from __future__ import annotations

import gzip
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from txsocketio.staticfiles import FileCache, StaticFile, accepts_gzip, etag_matches, serve


class NegotiationTests(SynchronousTestCase):
    """The header logic: Accept-Encoding and If-None-Match."""

    def test_accepts_gzip(self) -> None:
        """gzip (or x-gzip, or *) with q > 0 admits gzip; q=0, absence and junk do not."""
        for value in (b"gzip", b"GZIP", b"deflate, gzip;q=0.5", b"x-gzip", b"*", b"br, *;q=0.1",
                      b"gzip ; q=1.0"):
            self.assertTrue(accepts_gzip(value), value)
        for value in (None, b"", b"br", b"gzip;q=0", b"gzip;q=0.0, *", b"*;q=0", b"gzip;q=x",
                      b"identity"):
            self.assertFalse(accepts_gzip(value), value)

    def test_etag_matches(self) -> None:
        """If-None-Match matches by weak comparison, in a list, or as *."""
        tag = b'"abc"'
        for value in (b'"abc"', b'W/"abc"', b' "x" , W/"abc" ', b"*"):
            self.assertTrue(etag_matches(value, tag), value)
        for value in (None, b"", b'"abcd"', b"abc", b'"x", "y"'):
            self.assertFalse(etag_matches(value, tag), value)

    @given(st.binary(max_size=200))
    def test_arbitrary_headers(self, value: bytes) -> None:
        """Any header bytes give a bool, never an exception."""
        self.assertIsInstance(accepts_gzip(value), bool)
        self.assertIsInstance(etag_matches(value, b'"abc"'), bool)


class ServeTests(SynchronousTestCase):
    """serve() and FileCache on a file of a temporary directory."""

    def setUp(self) -> None:
        self.directory = Path(self.mktemp())
        self.directory.mkdir()
        (self.directory / "a.txt").write_bytes(b"hello " * 100)
        self.loads: list[str] = []

        def load(path: Path, name: str) -> StaticFile:
            self.loads.append(name)
            return StaticFile.read(path, content_type=b"text/plain", cache_control=b"no-cache")

        self.cache = FileCache(self.directory, load, "test")

    def get(self, name: str, **headers: bytes) -> tuple[DummyRequest, object]:
        request = DummyRequest([name.encode()])
        for key, value in headers.items():
            request.requestHeaders.setRawHeaders(key.replace("_", "-").encode(), [value])
        return request, serve(request, self.cache.get(name), not_found=b"nope\n",
                              extra_headers=((b"X-Extra", b"1"),))

    def test_plain_and_gzip(self) -> None:
        """The body as it is, or gzipped for a client that accepts it, each with its ETag."""
        request, body = self.get("a.txt")
        self.assertEqual(body, b"hello " * 100)
        etag = request.responseHeaders.getRawHeaders(b"etag")[0]
        self.assertEqual(request.responseHeaders.getRawHeaders(b"x-extra"), [b"1"])
        request, body = self.get("a.txt", accept_encoding=b"gzip")
        self.assertEqual(gzip.decompress(body), b"hello " * 100)
        self.assertNotEqual(request.responseHeaders.getRawHeaders(b"etag")[0], etag)
        self.assertEqual(self.loads, ["a.txt"])

    def test_not_modified(self) -> None:
        """If-None-Match with the ETag: a finished 304 without a body or Content-Length."""
        request, _ = self.get("a.txt")
        etag = request.responseHeaders.getRawHeaders(b"etag")[0]
        request, result = self.get("a.txt", if_none_match=etag)
        self.assertIs(result, NOT_DONE_YET)
        self.assertEqual(request.responseCode, 304)
        self.assertEqual(request.finished, 1)
        self.assertIsNone(request.responseHeaders.getRawHeaders(b"content-length"))

    def test_missing(self) -> None:
        """A file that cannot be read is a 404 with the given text, logged and not retried."""
        request, body = self.get("gone.txt")
        self.assertEqual((request.responseCode, body), (404, b"nope\n"))
        self.get("gone.txt")
        self.assertEqual(self.loads, ["gone.txt"])
        self.flushLoggedErrors()
