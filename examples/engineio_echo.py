"""A bare Engine.IO echo server: every message goes back unchanged.

    python examples/engineio_echo.py --port 8000 [--ping-interval MS]
        [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3]
        [--cors-origin ORIGIN]

serves http://127.0.0.1:PORT/engine.io/ and logs each session's open and
close to standard output.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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

from txsocketio.engineio.server import EngineIOServer, EngineIOSocket  # noqa: E402

log = Logger(namespace="engineio_echo")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ping-interval", type=int, default=25000, metavar="MS")
    parser.add_argument("--ping-timeout", type=int, default=20000, metavar="MS")
    parser.add_argument("--max-payload", type=int, default=1_000_000, metavar="BYTES")
    parser.add_argument("--allow-eio3", action="store_true")
    parser.add_argument("--cors-origin", action="append", metavar="ORIGIN")
    parser.add_argument("--debug", action="store_true", help="log at debug level")
    args = parser.parse_args(argv)

    level = LogLevel.debug if args.debug else LogLevel.info
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(sys.stdout),
                              [LogLevelFilterPredicate(defaultLogLevel=level)])],
        redirectStandardIO=False,
    )

    def on_connect(socket: EngineIOSocket) -> None:
        log.info("session {sid} opened (EIO={version}, {transport})",
                 sid=socket.sid, version=socket.protocol, transport=socket.transport)

    def on_message(socket: EngineIOSocket, data: str | bytes) -> None:
        socket.send(data)

    def on_disconnect(socket: EngineIOSocket, reason: str) -> None:
        log.info("session {sid} closed: {reason}", sid=socket.sid, reason=reason)

    origins = args.cors_origin
    server = EngineIOServer(
        reactor,
        ping_interval=args.ping_interval / 1000,
        ping_timeout=args.ping_timeout / 1000,
        max_http_buffer_size=args.max_payload,
        allow_eio3=args.allow_eio3,
        cors_allowed_origins=(origins[0] if origins and len(origins) == 1 else origins),
        on_connect=on_connect,
        on_message=on_message,
        on_disconnect=on_disconnect,
    )
    root = Resource()
    root.putChild(b"engine.io", server.resource())
    port = reactor.listenTCP(args.port, Site(root), interface=args.host)
    log.info("Engine.IO echo server on http://{host}:{port}/engine.io/",
             host=args.host, port=port.getHost().port)
    reactor.run()


if __name__ == "__main__":
    main()
