# -*- test-case-name: tests.test_web -*-
"""Embedding txsocketio in a ``twisted.web`` site.

    root = Resource()
    root.putChild(b"socket.io", SocketIOResource(sio))

Long-polling and WebSocket are served on the same path, beside any other
resources of the site (static files, Klein, a WSGI application — see
:class:`WSGIRoot` and :func:`build_root`).  Like Node's ``serveClient``, the
resource also serves the official browser client at ``<path>/socket.io.js``,
``.min.js``, ``.esm.min.js``, ``.msgpack.min.js`` and their ``.map`` files:
an unmodified copy of the npm package ``socket.io-client`` ships inside
txsocketio (``txsocketio/client_dist/``), so a pip install needs no npm.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from twisted.web.resource import IResource, Resource
from twisted.web.static import File

from txsocketio.engineio.resource import EngineIOResource
from txsocketio.logs import Logger
from txsocketio.staticfiles import FileCache, StaticFile, serve

if TYPE_CHECKING:
    from twisted.web.server import Request

    from txsocketio.socketio.server import SocketIOServer

__all__ = [
    "SocketIOResource", "WSGIRoot", "build_root",
    "ClientBundle", "read_client_file", "find_client_dist", "PACKAGE_CLIENT_DIST", "CLIENT_FILES",
]

log = Logger(namespace="txsocketio.web")

#: The copy of the official ``socket.io-client`` dist files inside the package
#: (``scripts/update-client-bundle.py`` updates it; ``bundle.json`` says the version).
PACKAGE_CLIENT_DIST = Path(__file__).resolve().parent / "client_dist"

#: The files served below the Socket.IO path: Node's ``CLIENT_FILES`` (socket.io 4.8).
CLIENT_FILES = frozenset({
    "socket.io.js", "socket.io.js.map",
    "socket.io.min.js", "socket.io.min.js.map",
    "socket.io.esm.min.js", "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map",
})

#: As Node: a cache may keep the file but revalidates it (``If-None-Match`` ->
#: 304) before each use, because the URL carries no version and an upgraded
#: server must not leave browsers on an old client.
CLIENT_CACHE_CONTROL = b"public, max-age=0"


def find_client_dist(extra: Iterable[str | os.PathLike[str]] = ()) -> Path | None:
    """The directory the browser client is served from.

    The first of ``extra``, ``$TXSOCKETIO_CLIENT_DIST`` (an override, e.g. a
    ``node_modules/socket.io-client/dist`` of another version) and the
    package's own copy (:data:`PACKAGE_CLIENT_DIST`) that holds a
    ``socket.io.min.js``; None if none does.
    """
    candidates: list[Path] = [Path(p) for p in extra]
    env = os.environ.get("TXSOCKETIO_CLIENT_DIST")
    if env:
        candidates.append(Path(env))
    candidates.append(PACKAGE_CLIENT_DIST)
    for candidate in candidates:
        if (candidate / "socket.io.min.js").is_file():
            return candidate
        log.warn("no socket.io.min.js in {directory}: not serving the browser client from there",
                 directory=str(candidate))
    return None


def read_client_file(path: Path, name: str) -> StaticFile:
    """One file of the browser client, gzipped once (JavaScript or its source map)."""
    kind = b"json" if name.endswith(".map") else b"javascript"
    return StaticFile.read(path, content_type=b"application/" + kind + b"; charset=utf-8",
                           cache_control=CLIENT_CACHE_CONTROL)


class ClientBundle:
    """The browser client files of one directory, served like Node's
    ``serveClient``: ETag and ``If-None-Match`` -> 304, ``Cache-Control``,
    gzip when the client accepts it, HEAD (see :mod:`txsocketio.staticfiles`).

    Each file is read and gzipped once, on its first request, and kept in
    memory (about 1.2 MB for all of them).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.cache = FileCache(self.directory, read_client_file, "browser client")

    def file(self, name: str) -> StaticFile | None:
        """The file ``name`` (one of :data:`CLIENT_FILES`), None if missing."""
        return self.cache.get(name)

    def render(self, request: "Request", name: str) -> Any:
        """Answer a GET or HEAD of the file ``name``."""
        return serve(request, self.file(name), not_found=b"socket.io client file not found\n")


class SocketIOResource(EngineIOResource):
    """The ``twisted.web`` resource of a :class:`~txsocketio.SocketIOServer`.

    ``serve_client`` (on by default) serves the browser client, from
    ``client_dist`` when given, else from ``$TXSOCKETIO_CLIENT_DIST`` when set,
    else from the copy shipped in the package (see :func:`find_client_dist`).
    """

    def __init__(self, sio: "SocketIOServer", *, serve_client: bool = True,
                 client_dist: str | os.PathLike[str] | None = None) -> None:
        super().__init__(sio.engine)
        self.sio = sio
        # The Autobahn factory has read the size limits: configure() would be too late now.
        sio.mounted()
        self.serve_client = serve_client
        directory = Path(client_dist) if client_dist is not None else find_client_dist()
        self.client_bundle = ClientBundle(directory if directory is not None else PACKAGE_CLIENT_DIST)

    def render(self, request: "Request") -> Any:
        postpath = [p for p in (request.postpath or []) if p]
        if self.serve_client and len(postpath) == 1 and request.method in (b"GET", b"HEAD") \
                and b"transport" not in (request.args or {}):
            name = postpath[0].decode("ascii", "replace")
            if name in CLIENT_FILES:
                return self.client_bundle.render(request, name)
        return super().render(request)


class WSGIRoot(Resource):
    """A WSGI application at ``/`` with some paths given to other resources.

    ``WSGIRoot(wsgi_resource, {b"socket.io": sio_resource})`` sends
    ``/socket.io/…`` to txsocketio and everything else to the WSGI application
    (Django, Flask…), on one port.
    """

    def __init__(self, wsgi: IResource, children: Mapping[bytes, IResource]) -> None:
        super().__init__()
        self.wsgi = wsgi
        for name, child in children.items():
            self.putChild(name, child)

    def getChild(self, path: bytes, request: "Request") -> IResource:
        # Not one of ours: give the WSGI application the whole path back.
        prepath, postpath = request.prepath, request.postpath
        assert prepath is not None and postpath is not None, "set by Site before traversal"
        prepath.pop()
        postpath.insert(0, path)
        return self.wsgi

    def render(self, request: "Request") -> Any:
        return self.wsgi.render(request)


def build_root(sio_resource: Resource, path: str = "/socket.io/", *, static: str | None = None,
               wsgi: IResource | None = None) -> Resource:
    """The root resource of a site serving ``sio_resource`` at ``path``.

    ``static`` is a directory of files served at ``/`` (at ``/static/`` when a
    WSGI application is also given); ``wsgi`` a ``WSGIResource`` served at
    ``/`` for every path that is not ours.
    """
    segments = [s.encode("utf-8") for s in path.strip("/").split("/") if s]
    if not segments:
        raise ValueError("the Socket.IO path cannot be the root: use e.g. /socket.io/")
    child: Resource = sio_resource
    for segment in reversed(segments[1:]):
        parent = Resource()
        parent.putChild(segment, child)
        child = parent
    children: dict[bytes, Resource] = {segments[0]: child}
    if wsgi is not None:
        if static is not None:
            children.setdefault(b"static", File(static))
        return WSGIRoot(wsgi, children)
    root: Resource = File(static) if static is not None else Resource()
    for name, res in children.items():
        root.putChild(name, res)
    return root
