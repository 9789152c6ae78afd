"""The txsocketio server for the shared Socket.IO benchmark harness.

    python examples/bench_app.py --port 9403 [--host 127.0.0.1]

Implements the harness's behaviour contract (shared/bench/README.md), the same
as its python-socketio and Node socket.io anchor servers:

=========  ====================  ==================================================
event      payload               server does
=========  ====================  ==================================================
``echo``   any args, incl. bin.  acks with exactly the same args
``join``   room name             enters the room, acks ``true``
``fanout`` ``{room,count,size}`` emits ``tick`` ``{i, d: "x"*size}`` to the room
                                 ``count`` times, then acks ``count``
=========  ====================  ==================================================

Settings: pingInterval 25 s, pingTimeout 20 s, maxHttpBufferSize 1e7, CORS
``*``, path ``/socket.io/``, no access log, only warnings and errors logged
(to standard error), no form parsing of POST bodies (see :func:`make_site`;
``--form-parsing`` restores Twisted's default).  The epoll reactor is
installed when available.

Profiling (off by default): ``TXSIO_BENCH_PROFILE=/path/out.prof`` runs the
reactor under cProfile and writes the stats there when the server stops
(SIGTERM or SIGINT), which the harness's driver does after each scenario.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:  # before anything imports twisted.internet.reactor
    from twisted.internet import epollreactor

    epollreactor.install()
except Exception:  # not Linux, or a reactor is already installed
    pass

from twisted.internet import reactor  # noqa: E402
from twisted.logger import (  # noqa: E402
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.web.resource import Resource  # noqa: E402
from twisted.web.server import Site  # noqa: E402

from txsocketio import SocketIOServer  # noqa: E402


class QuietSite(Site):
    """A Site without the access log.

    ``Site(root)`` with no ``logPath`` still writes one line per request to
    the global legacy log (``HTTPFactory.startFactory`` falls back to
    ``log.logfile``), formatted by ``combinedLogFormatter``; that would cost
    every long-polling request a formatted line.  ``noisy = False`` drops the
    "Starting factory" lines.
    """

    noisy = False

    def log(self, request):  # noqa: D102 - no access log at all
        pass


def make_site(root: Resource, form_parsing: bool = False) -> Site:
    """The Site, by default without parsing POST bodies as HTML forms.

    Twisted's ``Request.requestReceived`` parses the Content-Type of every
    POST with ``email.message`` to look for form submissions (Engine.IO
    polling POSTs are ``text/plain``, and nothing reads ``request.args`` from
    a body here); that parse is about a fifth of the server's CPU in the
    polling scenario.  ``parsePOSTFormSubmission=False`` (twisted.web.server.Site, 26.x)
    skips it and changes nothing else (a Twisted without the option gets the
    plain Site).  ``--form-parsing`` keeps Twisted's
    default.
    """
    if not form_parsing:
        try:
            return QuietSite(root, parsePOSTFormSubmission=False)
        except TypeError:  # an older Twisted without the option
            pass
    return QuietSite(root)


def make_server() -> SocketIOServer:
    sio = SocketIOServer(
        reactor=reactor,
        ping_interval=25,
        ping_timeout=20,
        max_http_buffer_size=10_000_000,
        cors_allowed_origins="*",
    )

    @sio.on("echo")
    def echo(socket, *args):
        return args  # a tuple: acked as the same argument list

    @sio.on("join")
    def join(socket, room):
        socket.join(room)
        return True

    @sio.on("fanout")
    def fanout(socket, opts):
        room = opts.get("room")
        count = int(opts.get("count", 1))
        d = "x" * int(opts.get("size", 16))
        for i in range(count):
            sio.to(room).emit("tick", {"i": i, "d": d})
        return count

    return sio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9403)
    parser.add_argument("--form-parsing", action="store_true",
                        help="keep twisted.web's parsing of POST bodies as forms (its default)")
    args = parser.parse_args(argv)

    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(sys.stderr),
                              [LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)])],
        redirectStandardIO=False,
    )

    sio = make_server()
    root = Resource()
    root.putChild(b"socket.io", sio.resource())
    reactor.listenTCP(args.port, make_site(root, args.form_parsing), interface=args.host)

    profile_path = os.environ.get("TXSIO_BENCH_PROFILE")
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            reactor.run()
        finally:
            profiler.disable()
            profiler.dump_stats(profile_path)
    else:
        reactor.run()


if __name__ == "__main__":
    main()
