# -*- test-case-name: tests.test_web -*-
"""Embedding txsocketio in a ``twisted.web`` site.

    root = Resource()
    root.putChild(b"socket.io", SocketIOResource(sio))

Long-polling and WebSocket are served on the same path, beside any other
resources of the site (static files, Klein, a WSGI application — see
:class:`WSGIRoot` and :func:`build_root`).  Like Node's ``serveClient``, the
resource also serves the official browser client at
``<path>/socket.io.min.js`` (and ``socket.io.js`` and their source maps) when
the ``socket.io-client`` npm package is installed (``npm ci`` at the
repository root puts it in ``node_modules/``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from twisted.web.resource import Resource
from twisted.web.static import File

from txsocketio.engineio.resource import EngineIOResource

if TYPE_CHECKING:
    from twisted.web.server import Request

    from txsocketio.socketio.server import SocketIOServer

__all__ = ["SocketIOResource", "WSGIRoot", "build_root", "find_client_dist"]

CLIENT_FILES = {
    b"socket.io.js": "socket.io.js",
    b"socket.io.min.js": "socket.io.min.js",
    b"socket.io.js.map": "socket.io.js.map",
    b"socket.io.min.js.map": "socket.io.min.js.map",
    b"socket.io.esm.min.js": "socket.io.esm.min.js",
}


def find_client_dist(extra: Iterable[str | os.PathLike[str]] = ()) -> Path | None:
    """Where the ``socket.io-client`` browser bundle is, if anywhere.

    Looks in ``$TXSOCKETIO_CLIENT_DIST``, then ``node_modules/socket.io-client/dist``
    under the current directory and its parents, then under this checkout.
    """
    candidates: list[Path] = [Path(p) for p in extra]
    env = os.environ.get("TXSOCKETIO_CLIENT_DIST")
    if env:
        candidates.append(Path(env))
    here = Path.cwd()
    for base in (here, *here.parents, Path(__file__).resolve().parent.parent):
        candidates.append(base / "node_modules" / "socket.io-client" / "dist")
    for candidate in candidates:
        if (candidate / "socket.io.min.js").is_file():
            return candidate
    return None


class SocketIOResource(EngineIOResource):
    """The ``twisted.web`` resource of a :class:`~txsocketio.SocketIOServer`.

    ``serve_client`` (on by default) serves the browser client bundle from
    ``client_dist`` (found with :func:`find_client_dist` when not given).
    """

    def __init__(self, sio: "SocketIOServer", *, serve_client: bool = True,
                 client_dist: str | os.PathLike[str] | None = None) -> None:
        super().__init__(sio.engine)
        self.sio = sio
        # The Autobahn factory has read the size limits: configure() would be too late now.
        sio.mounted()
        self.serve_client = serve_client
        self._client_dist = Path(client_dist) if client_dist is not None else None

    def render(self, request: "Request") -> Any:
        postpath = [p for p in (request.postpath or []) if p]
        if self.serve_client and len(postpath) == 1 and postpath[0] in CLIENT_FILES \
                and request.method in (b"GET", b"HEAD") and b"transport" not in (request.args or {}):
            return self._client_file(request, CLIENT_FILES[postpath[0]])
        return super().render(request)

    def _client_file(self, request: "Request", name: str) -> Any:
        dist = self._client_dist or find_client_dist()
        if dist is None or not (dist / name).is_file():
            request.setResponseCode(404)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return (b"socket.io-client is not installed: run `npm ci` at the repository root "
                    b"(or set TXSOCKETIO_CLIENT_DIST to its dist/ folder)\n")
        self._client_dist = dist
        resource = File(str(dist / name), defaultType="application/javascript")
        resource.type = "application/javascript" if name.endswith(".js") else "application/json"
        resource.encoding = None  # File sets it only when it picks the type itself
        request.setHeader(b"Cache-Control", b"public, max-age=3600")
        return resource.render(request)


class WSGIRoot(Resource):
    """A WSGI application at ``/`` with some paths given to other resources.

    ``WSGIRoot(wsgi_resource, {b"socket.io": sio_resource})`` sends
    ``/socket.io/…`` to txsocketio and everything else to the WSGI application
    (Django, Flask…), on one port.
    """

    def __init__(self, wsgi: Resource, children: dict[bytes, Resource]) -> None:
        super().__init__()
        self.wsgi = wsgi
        for name, child in children.items():
            self.putChild(name, child)

    def getChild(self, path: bytes, request: "Request") -> Resource:
        # Not one of ours: give the WSGI application the whole path back.
        request.prepath.pop()
        request.postpath.insert(0, path)
        return self.wsgi

    def render(self, request: "Request") -> Any:
        return self.wsgi.render(request)


def build_root(sio_resource: Resource, path: str = "/socket.io/", *, static: str | None = None,
               wsgi: Resource | None = None) -> Resource:
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
