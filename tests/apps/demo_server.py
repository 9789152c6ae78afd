"""Serve the chat demo for the browser end-to-end test.

    python tests/apps/demo_server.py --port 8080 [--host 127.0.0.1]

Mounts ``txsocketio.demo.chat.make_server()`` at ``/socket.io/`` and the
demo's static files at ``/`` -- what ``twistd -n txsocketio`` does with no
``--app``.  Until ``SocketIOResource`` serves the official client bundle at
``/socket.io/socket.io.min.js`` itself, this runner serves it from
``node_modules/socket.io-client/dist`` (``npm ci`` at the repository root) or
``tests/node/node_modules/sioc4/dist``.  Logs go to standard output.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(os.path.abspath(__file__)).parent.parent.parent
sys.path.insert(0, str(ROOT))

from twisted.internet import reactor  # noqa: E402
from twisted.logger import (  # noqa: E402
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    Logger,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.web.resource import Resource  # noqa: E402
from twisted.web.server import Site  # noqa: E402
from twisted.web.static import File  # noqa: E402

from txsocketio.demo import STATIC_DIR  # noqa: E402
from txsocketio.demo.chat import make_server  # noqa: E402

log = Logger(namespace="demo_server")

BUNDLE_FILES = (b"socket.io.min.js", b"socket.io.min.js.map", b"socket.io.js", b"socket.io.js.map")
BUNDLE_DIRS = (ROOT / "node_modules" / "socket.io-client" / "dist",
               ROOT / "tests" / "node" / "node_modules" / "sioc4" / "dist")


def serves_bundle(resource: Resource) -> bool:
    """Whether ``resource`` answers ``GET socket.io.min.js`` with a 200 itself."""
    if getattr(resource, "serve_client", False):  # SocketIOResource(serve_client=True)
        return True
    from twisted.web.test.requesthelper import DummyRequest

    request = DummyRequest([b"socket.io.min.js"])
    request.method = b"GET"
    request.uri = request.path = b"/socket.io/socket.io.min.js"
    try:
        resource.render(request)
    except Exception:
        return False
    return (request.responseCode or 200) == 200


class BundleFallback(Resource):
    """The Socket.IO resource, plus the client bundle it does not serve yet."""

    isLeaf = True

    def __init__(self, inner: Resource, dist: Path) -> None:
        super().__init__()
        self.inner = inner
        self.dist = dist

    def render(self, request):
        if len(request.postpath) == 1 and request.postpath[0] in BUNDLE_FILES:
            path = self.dist / request.postpath[0].decode()
            return File(str(path), defaultType="application/javascript").render(request)
        return self.inner.render(request)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--debug", action="store_true", help="log at debug level")
    args = parser.parse_args(argv)

    level = LogLevel.debug if args.debug else LogLevel.info
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(sys.stdout),
                              [LogLevelFilterPredicate(defaultLogLevel=level)])],
        redirectStandardIO=False,
    )

    sio = make_server(reactor=reactor)
    socketio = sio.resource()
    if not serves_bundle(socketio):
        dist = next((d for d in BUNDLE_DIRS if (d / "socket.io.min.js").is_file()), None)
        if dist is None:
            sys.exit("socket.io-client's dist/ not found: run `npm ci` at the repository root")
        log.info("serving the client bundle from {dist}", dist=os.fspath(dist))
        socketio = BundleFallback(socketio, dist)
    else:
        log.info("the client bundle is served by SocketIOResource")

    root = File(str(STATIC_DIR))
    root.putChild(b"socket.io", socketio)
    reactor.listenTCP(args.port, Site(root), interface=args.host)
    log.info("chat demo on http://{host}:{port}/", host=args.host, port=args.port)
    reactor.run()


if __name__ == "__main__":
    main()
