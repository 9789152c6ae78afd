"""The Socket.IO app of the shutdown and stalled-reader interop tests
(tests/interop/test_shutdown.py, tests/interop/test_stalled_reader.py).

    twistd -n --pidfile= txsocketio --app tests.apps.limits_app:sio --listen tcp:PORT:interface=127.0.0.1

``max_buffered_bytes`` is 1 MB (``TXSIO_MAX_BUFFERED_BYTES`` overrides it).
Events on ``/`` (each handler's return value is the acknowledgement):

``flood {"count", "size", "interval"}``
    broadcasts ``blob`` (``size`` characters) to every client ``count``
    times, one every ``interval`` seconds, then ``flood_done`` with the
    count; acks true at once.
``stats``
    acks ``{"engine_sessions": [sid, ...], "clients": [sid, ...], "reasons":
    {socket id: disconnect reason}}``: what the server still holds.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor

from txsocketio import SocketIOServer

sio = SocketIOServer(reactor=reactor,
                     max_buffered_bytes=int(os.environ.get("TXSIO_MAX_BUFFERED_BYTES", "1000000")))
reasons: dict[str, str] = {}


@sio.on("disconnect")
def disconnect(socket: Any, reason: str) -> None:
    reasons[socket.id] = reason


@sio.on("flood")
def flood(socket: Any, spec: dict[str, Any]) -> bool:
    count, size, interval = int(spec["count"]), int(spec["size"]), float(spec["interval"])
    blob = "x" * size

    def step(i: int) -> None:
        if i >= count:
            sio.emit("flood_done", count)
            return
        sio.emit("blob", blob)
        reactor.callLater(interval, step, i + 1)

    step(0)
    return True


@sio.on("stats")
def stats(socket: Any) -> dict[str, Any]:
    return {"engine_sessions": sorted(sio.engine.sockets), "clients": sorted(sio.clients),
            "reasons": dict(reasons)}
