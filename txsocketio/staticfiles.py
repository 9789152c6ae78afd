# -*- test-case-name: tests.test_staticfiles -*-
"""Files shipped in the package, served by ``twisted.web``.

The browser client (:mod:`txsocketio.web`) and the Admin UI
(:mod:`txsocketio.admin.ui`) are unmodified copies of npm packages inside
txsocketio.  Both are served the same way: each file is read (and gzipped)
once, on its first request, and kept in memory; every answer carries a strong
ETag, ``If-None-Match`` gives a 304, gzip goes to clients that accept it, and
HEAD works.  This module is that one implementation; the two resources only
say which files exist, their types and how long caches may keep them.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from attrs import frozen
from twisted.web.server import NOT_DONE_YET

from txsocketio.logs import Logger

if TYPE_CHECKING:
    from twisted.web.server import Request

__all__ = ["StaticFile", "FileCache", "serve", "accepts_gzip", "etag_matches"]

log = Logger(namespace="txsocketio.staticfiles")


def accepts_gzip(accept_encoding: bytes | None) -> bool:
    """Whether an ``Accept-Encoding`` header value admits gzip (``q`` > 0)."""
    if not accept_encoding:
        return False
    wildcard: bool | None = None
    for item in accept_encoding.split(b","):
        coding, _, params = item.partition(b";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(b";"):
            key, _, value = param.partition(b"=")
            if key.strip().lower() == b"q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if coding in (b"gzip", b"x-gzip"):
            return q > 0
        if coding == b"*":
            wildcard = q > 0
    return bool(wildcard)


def etag_matches(if_none_match: bytes | None, etag: bytes) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110
    asks for this header) or is ``*``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == b"*":
        return True
    return any(tag.strip().removeprefix(b"W/") == etag.removeprefix(b"W/")
               for tag in if_none_match.split(b","))


@frozen
class StaticFile:
    """One file, ready to send: its bytes, gzipped bytes (None when not
    compressed), the strong ETag of each, its Content-Type and Cache-Control."""

    body: bytes
    gzipped: bytes | None
    etag: bytes
    gzip_etag: bytes
    content_type: bytes
    cache_control: bytes

    @classmethod
    def read(cls, path: Path, *, content_type: bytes, cache_control: bytes, compress: bool = True,
             level: int = 9) -> "StaticFile":
        """Read ``path``; gzip it at ``level`` when ``compress``."""
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:32].encode("ascii")
        return cls(
            body=body,
            # mtime=0: the same bytes (and ETag) from every process of a cluster.
            gzipped=gzip.compress(body, compresslevel=level, mtime=0) if compress else None,
            etag=b'"' + digest + b'"',
            gzip_etag=b'"' + digest + b'-gzip"',
            content_type=content_type,
            cache_control=cache_control,
        )


class FileCache:
    """The files of one directory, each read once by ``load(path, name)`` on
    first use; a file that cannot be read is logged once and answered 404."""

    def __init__(self, directory: Path, load: Callable[[Path, str], StaticFile], what: str) -> None:
        self.directory = directory
        self.load = load
        self.what = what
        self.files: dict[str, StaticFile | None] = {}

    def get(self, name: str) -> StaticFile | None:
        """The file ``name`` (a relative path the caller has checked)."""
        if name not in self.files:
            path = self.directory / name
            try:
                self.files[name] = self.load(path, name)
            except OSError as e:
                log.warn("cannot serve the {what} file {path}: {error}", what=self.what, path=str(path),
                         error=e)
                self.files[name] = None
        return self.files[name]


def serve(request: "Request", served: StaticFile | None, *, not_found: bytes,
          extra_headers: tuple[tuple[bytes, bytes], ...] = ()) -> bytes | int:
    """Answer a GET or HEAD of ``served`` (404 with ``not_found`` when None)."""
    if served is None:
        request.setResponseCode(404)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return not_found
    use_gzip = served.gzipped is not None and accepts_gzip(request.getHeader(b"accept-encoding"))
    body, etag = (served.gzipped, served.gzip_etag) if use_gzip else (served.body, served.etag)
    assert body is not None
    request.setHeader(b"ETag", etag)
    request.setHeader(b"Cache-Control", served.cache_control)
    for name, value in extra_headers:
        request.setHeader(name, value)
    if served.gzipped is not None:
        request.setHeader(b"Vary", b"Accept-Encoding")
    if etag_matches(request.getHeader(b"if-none-match"), etag):
        request.setResponseCode(304)
        # Finished here: returning b"" would make twisted.web add
        # "Content-Length: 0", which a 304 must not carry.
        request.write(b"")
        request.finish()
        return NOT_DONE_YET
    request.setHeader(b"Content-Type", served.content_type)
    if use_gzip:
        request.setHeader(b"Content-Encoding", b"gzip")
    request.setHeader(b"Content-Length", b"%d" % len(body))
    return b"" if request.method == b"HEAD" else body
