# -*- test-case-name: tests.interop.test_abuse_fuzz -*-
"""The Socket.IO app of the abuse suite (``tests/interop/test_abuse_*.py`` and
``bench/abuse/``), started the way users start theirs::

    twistd -n --pidfile= txsocketio --app tests.apps.abuse_app:sio \\
        --listen tcp:PORT:interface=127.0.0.1

(from the project root, which ``--app`` imports from).  It follows the
behaviour contract of the shared benchmark harness, like its anchor servers
(python-socketio, Node socket.io), so that the same clients drive all of
them:

``echo *args``
    acks the same arguments.
``join room``
    enters the room, acks ``true``.
``fanout {room, count, size}``
    emits ``tick {i, d: "x" * size}`` to the room ``count`` times, acks
    ``count``.

And one event of its own, for the checks at the end of a run:

``tables``
    acks ``{"engine_sessions", "clients", "sockets", "rooms"}``: the sizes
    of the server's tables (Engine.IO sessions, Socket.IO clients, sockets
    and rooms of ``/``), the asking client included.
"""

from __future__ import annotations

from typing import Any

from txsocketio import SocketIOServer

sio = SocketIOServer(max_http_buffer_size=10_000_000, cors_allowed_origins="*")


@sio.on("echo")
def echo(socket: Any, *args: Any) -> tuple[Any, ...]:
    return args


# The handlers check their arguments: the fuzz test sends them anything, and
# a handler that raises is logged as critical (rightly: it is a bug in the
# app), which the test counts as a failure.


@sio.on("join")
def join(socket: Any, room: Any = None, *rest: Any) -> bool:
    if not isinstance(room, str):
        return False
    socket.join(room)
    return True


@sio.on("fanout")
def fanout(socket: Any, spec: Any = None, *rest: Any) -> Any:
    if not isinstance(spec, dict):
        return False
    room, count, size = spec.get("room"), spec.get("count"), spec.get("size")
    if not (isinstance(room, str) and type(count) is int and type(size) is int):
        return False
    if not (0 <= count <= 100_000 and 0 <= size <= 1_000_000):
        return False
    target = sio.to(room)
    data = "x" * size
    for i in range(count):
        target.emit("tick", {"i": i, "d": data})
    return count


@sio.on("tables")
def tables(socket: Any, *ignored: Any) -> dict[str, int]:
    root = sio.of("/")
    return {
        "engine_sessions": len(sio.engine.sockets),
        "clients": len(sio.clients),
        "sockets": len(root.sockets),
        "rooms": len(root.adapter.rooms),
    }
