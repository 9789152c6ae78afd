"""The txsocketio app for the shared Socket.IO benchmark harness.

The harness starts it the way users start txsocketio (see bench/run.sh)::

    cd examples && twistd -n --pidfile= txsocketio --app bench_app:make_server \
        --listen tcp:9403:interface=127.0.0.1 --log-level warn

so what is measured is the product's own path: twistd's default reactor, the
service's Site (no access log, no form parsing of POST bodies, the HTTP
limits), the defaults of every option.  Only the app is ours.

It implements the harness's behaviour contract (shared/bench/README.md), the
same as its python-socketio and Node socket.io anchor servers:

=========  ====================  ==================================================
event      payload               server does
=========  ====================  ==================================================
``echo``   any args, incl. bin.  acks with exactly the same args
``join``   room name             enters the room, acks ``true``
``fanout`` ``{room,count,size}`` emits ``tick`` ``{i, d: "x"*size}`` to the room
                                 ``count`` times, then acks ``count``
=========  ====================  ==================================================

Settings as the anchors': pingInterval 25 s, pingTimeout 20 s,
maxHttpBufferSize 1e7, CORS ``*``, path ``/socket.io/``.

Profiling: twistd's own ``--profiler cprofile --profile /path/out.prof``
(before ``txsocketio`` on the command line) writes the stats when the server
stops.
"""

from __future__ import annotations

from typing import Any

from txsocketio import SocketIOServer


def make_server() -> SocketIOServer:
    """The bench server: the harness's three events."""
    from twisted.internet import reactor  # an entry point: the app picks the running reactor

    sio = SocketIOServer(
        reactor=reactor,
        ping_interval=25,
        ping_timeout=20,
        max_http_buffer_size=10_000_000,
        cors_allowed_origins="*",
    )

    @sio.on("echo")
    def echo(socket: Any, *args: Any) -> tuple[Any, ...]:
        return args  # a tuple: acked as the same argument list

    @sio.on("join")
    def join(socket: Any, room: str) -> bool:
        socket.join(room)
        return True

    @sio.on("fanout")
    def fanout(socket: Any, opts: dict[str, Any]) -> int:
        room = opts.get("room")
        count = int(opts.get("count", 1))
        d = "x" * int(opts.get("size", 16))
        for i in range(count):
            sio.to(room).emit("tick", {"i": i, "d": d})
        return count

    return sio
