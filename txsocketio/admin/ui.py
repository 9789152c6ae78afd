# -*- test-case-name: tests.test_admin_ui -*-
"""The official Socket.IO Admin UI, served by ``twisted.web``.

    root.putChild(b"admin-ui", AdminUIResource())     # http://host:port/admin-ui/

The files are an unmodified copy of the ``ui/dist`` folder of the npm package
``@socket.io/admin-ui`` (0.5.x), shipped in ``txsocketio/admin_ui/``
(``scripts/update-client-bundle.py --admin-ui`` updates it, ``bundle.json``
says the version), so no external site is needed.  The UI is a static page: it
connects from the browser to the admin namespace of a Socket.IO server (the
login form asks for its URL and credentials), so serving it grants nothing by
itself.

Caching: the build puts a content hash in every asset name
(``js/app.0d7d7845.js``), so those are cached for a year as ``immutable``; the
other files (``index.html``, ``favicon.png``) carry a strong ETag and
``Cache-Control: no-cache`` (revalidate, ``If-None-Match`` -> 304).  Text
files are gzipped when the client accepts it, once per process, on first
request; files over :data:`GZIP_MAX_SIZE` (the 3 MB vendor source map, which
only browser devtools fetch) are sent as they are, so that compressing them
never stalls the reactor.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from twisted.web.resource import Resource
from twisted.web.util import redirectTo

from txsocketio.logs import Logger
from txsocketio.staticfiles import FileCache, StaticFile, serve

if TYPE_CHECKING:
    from twisted.web.server import Request

__all__ = ["AdminUIResource", "read_ui_file", "PACKAGE_ADMIN_UI", "admin_ui_files"]

log = Logger(namespace="txsocketio.admin.ui")

#: The copy of ``@socket.io/admin-ui``'s ``ui/dist`` inside the package.
PACKAGE_ADMIN_UI = Path(__file__).resolve().parent.parent / "admin_ui"

#: Content types by file suffix; other suffixes are not served.
CONTENT_TYPES: dict[str, bytes] = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"application/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".map": b"application/json; charset=utf-8",
    ".json": b"application/json; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
    ".woff": b"font/woff",
    ".woff2": b"font/woff2",
    ".txt": b"text/plain; charset=utf-8",
}
#: Suffixes worth gzipping (the images here are PNG, already compressed, or tiny SVG).
COMPRESSIBLE = frozenset({".html", ".js", ".css", ".map", ".json", ".svg", ".txt"})
#: Larger files are never gzipped (about 0.4-0.9 s of CPU for the 3 MB map).
GZIP_MAX_SIZE = 1 << 20
GZIP_LEVEL = 6

#: Asset names with a build hash (``app.0d7d7845.js``): their content never changes.
HASHED_NAME = re.compile(r"\.[0-9a-f]{8,}\.[a-z0-9]+(\.map)?$")
CACHE_IMMUTABLE = b"public, max-age=31536000, immutable"
CACHE_REVALIDATE = b"no-cache"


def admin_ui_files(directory: Path) -> frozenset[str]:
    """The servable files below ``directory``: relative POSIX paths of regular
    files with a known suffix, no dot-file or dot-directory."""
    found = set()
    for path in directory.rglob("*"):
        relative = path.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix in CONTENT_TYPES:
            found.add(relative.as_posix())
    return frozenset(found)


def read_ui_file(path: Path, name: str) -> StaticFile:
    """One file of the UI: gzipped when worth it, cached for a year when its name carries a hash."""
    suffix = PurePosixPath(name).suffix
    return StaticFile.read(
        path, content_type=CONTENT_TYPES[suffix],
        cache_control=CACHE_IMMUTABLE if HASHED_NAME.search(name) else CACHE_REVALIDATE,
        compress=suffix in COMPRESSIBLE and path.stat().st_size <= GZIP_MAX_SIZE, level=GZIP_LEVEL)


class AdminUIResource(Resource):
    """Serves the Admin UI below the path it is mounted at.

    ``directory`` defaults to the copy shipped in the package
    (:data:`PACKAGE_ADMIN_UI`); another ``ui/dist`` folder can be given (e.g.
    from ``node_modules``).  Only the files found there at construction are
    served (no file-system lookups from request paths); GET and HEAD only.
    A request for the mount path without its trailing slash is redirected to
    it, so that the page's relative asset URLs resolve.
    """

    isLeaf = True

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.directory = Path(directory) if directory is not None else PACKAGE_ADMIN_UI
        self.names = admin_ui_files(self.directory)
        if "index.html" not in self.names:
            raise ValueError(f"{self.directory} has no index.html: not an Admin UI build (ui/dist)")
        self.cache = FileCache(self.directory, read_ui_file, "Admin UI")

    def file(self, name: str) -> StaticFile | None:
        """The file ``name`` (a relative path), read on first use; None if it
        is not one of the UI's files or cannot be read."""
        if name not in self.names:
            return None
        return self.cache.get(name)

    def render_GET(self, request: "Request") -> Any:  # noqa: N802 - twisted.web's name
        postpath = request.postpath or []
        if not postpath:
            # /admin-ui -> /admin-ui/ (the query string is kept).
            uri = request.uri or b"/"
            path, sep, query = uri.partition(b"?")
            return redirectTo(path + b"/" + sep + query, request)
        try:
            name = "/".join(segment.decode("utf-8") for segment in postpath) or "index.html"
        except UnicodeDecodeError:
            name = ""  # never one of the UI's names: 404
        return serve(request, self.file(name), not_found=b"Admin UI file not found\n",
                     extra_headers=((b"X-Content-Type-Options", b"nosniff"),))

    render_HEAD = render_GET  # noqa: N815 - twisted.web's name
