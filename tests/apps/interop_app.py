"""The Socket.IO server the interop tests run against (tests/test_interop_socketio.py).

    python tests/apps/interop_app.py --port P [--host H] [--ping-interval S]
        [--ping-timeout S] [--connect-timeout S] [--debug]

Serves http://H:P/socket.io/ with ``allow_eio3`` on (socket.io-client 2.x
too) and logs to standard output; prints ``interop app listening on ...``
once the port is open.  Times are in seconds.

Namespaces and events (every handler's return value is the acknowledgement):

``/``
    on connect: emits ``auth`` ``{"auth", "query", "id", "nsp"}`` (auth is
    ``{}`` when the client sent none; query is the handshake query).

    ``echo *args`` -> acks the same arguments (text, numbers, nested, unicode,
    binary).
    ``ask *args`` -> emits ``question`` ``{"text": "what?", "bin": b"\\x00\\x01\\xfe\\xff", "args": args}``
    with an ack to the client (5 s timeout), then emits ``answer`` with the
    list of the client's ack arguments (or ``{"error": ...}``); acks true
    once the question is out.
    ``join room`` -> acks true.  ``leave room`` -> acks true.
    ``rooms`` -> acks the sorted list of the socket's rooms.
    ``to_room {room, event, data}`` -> ``socket.to(room).emit(event, data)``
    (everyone in the room but the sender); acks true.
    ``to_room_except {room, except, event, data}`` -> ``sio.to(room).except_(except).emit(...)``
    (the sender included unless excluded); acks true.
    ``broadcast {event, data}`` -> everyone but the sender; acks true.
    ``all {event, data}`` -> everyone, the sender included; acks true.
    ``server_disconnect`` -> ``socket.disconnect()`` (the client sees
    ``io server disconnect``); no ack.
    ``last_disconnect sid`` -> acks the reason of the last disconnect seen
    for the socket id ``sid`` (any namespace), or null.
    ``server_ack_all *args`` -> ``sio.timeout(2).emit_with_ack("ping_all", *args)``
    to every client of ``/``; emits ``server_ack_all_result``
    ``{"ok": true, "responses": [...]}`` (or ``{"ok": false, "error",
    "responses"}`` on timeout) to the sender and acks the same object.
    ``handshake`` -> acks ``{"auth", "query", "id", "transport"}``.

``/chat`` (a class-based :class:`~txsocketio.Namespace`)
    on connect: joins ``lobby``, emits ``welcome {"nsp", "id", "auth"}``.
    ``say text`` -> ``said {"from": id, "text": text}`` to the rest of the
    lobby; acks ``"delivered"``.  ``echo *args`` -> acks the arguments.

``/refuse``
    a middleware refuses everyone: ``ConnectionRefused("not allowed", {"code": 42})``.

``/private``
    the connect handler refuses (``"bad token"``, ``{"code": 401}``) unless
    ``auth["token"]`` or the query's ``token`` is ``"s3cret"``; on success
    emits ``private_ok {"id": ...}``.  ``echo`` as in ``/``.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

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

from txsocketio import AckTimeout, ConnectionRefused, Namespace, SocketIOServer  # noqa: E402

log = Logger(namespace="interop_app")

SECRET = "s3cret"
QUESTION_BYTES = b"\x00\x01\xfe\xff"


def _jsonable_query(query) -> dict:
    return {str(k): str(v) for k, v in dict(query).items()}


def build_server(ping_interval: float, ping_timeout: float, connect_timeout: float) -> SocketIOServer:
    sio = SocketIOServer(allow_eio3=True, ping_interval=ping_interval, ping_timeout=ping_timeout,
                         connect_timeout=connect_timeout)
    # socket id -> reason of its last disconnect, for every namespace.
    last_disconnect: dict[str, str] = {}

    def remember(socket, reason):
        last_disconnect[socket.id] = reason
        log.info("{nsp} socket {sid} disconnected: {reason}", nsp=socket.namespace,
                 sid=socket.id, reason=reason)

    # -- "/" -----------------------------------------------------------------------------

    @sio.on("connect")
    def connect(socket, auth):
        log.info("/ socket {sid} connected (transport {transport}, auth {auth})",
                 sid=socket.id, transport=socket.transport, auth=auth)
        socket.emit("auth", {"auth": auth, "query": _jsonable_query(socket.handshake.query),
                             "id": socket.id, "nsp": socket.namespace})

    @sio.on("disconnect")
    def disconnect(socket, reason):
        remember(socket, reason)

    @sio.on("echo")
    def echo(socket, *args):
        return tuple(args)

    @sio.on("ask")
    async def ask(socket, *args):
        d = socket.emit_with_ack("question", {"text": "what?", "bin": QUESTION_BYTES,
                                              "args": list(args)}, timeout=5)

        def answered(answer):
            socket.emit("answer", answer)

        def failed(failure):
            log.info("ask: no answer from {sid}: {error}", sid=socket.id, error=failure.value)
            if socket.connected:
                socket.emit("answer", {"error": repr(failure.value)})

        d.addCallbacks(answered, failed)
        return True

    @sio.on("join")
    def join(socket, room):
        socket.join(room)
        return True

    @sio.on("leave")
    def leave(socket, room):
        socket.leave(room)
        return True

    @sio.on("rooms")
    def rooms(socket):
        return sorted(socket.rooms)

    @sio.on("to_room")
    def to_room(socket, spec):
        socket.to(spec["room"]).emit(spec["event"], spec.get("data"))
        return True

    @sio.on("to_room_except")
    def to_room_except(socket, spec):
        sio.to(spec["room"]).except_(spec["except"]).emit(spec["event"], spec.get("data"))
        return True

    @sio.on("broadcast")
    def broadcast(socket, spec):
        socket.broadcast.emit(spec["event"], spec.get("data"))
        return True

    @sio.on("all")
    def to_all(socket, spec):
        sio.emit(spec["event"], spec.get("data"))
        return True

    @sio.on("server_disconnect")
    def server_disconnect(socket, *args):
        socket.disconnect()

    @sio.on("last_disconnect")
    def last(socket, sid):
        return (last_disconnect.get(sid),)  # a 1-tuple: null is an argument too

    @sio.on("server_ack_all")
    async def server_ack_all(socket, *args):
        try:
            responses = await sio.timeout(2).emit_with_ack("ping_all", *args)
        except AckTimeout as e:
            result = {"ok": False, "error": str(e), "responses": list(e.responses)}
        else:
            result = {"ok": True, "responses": list(responses)}
        if socket.connected:
            socket.emit("server_ack_all_result", result)
        return result

    @sio.on("handshake")
    def handshake(socket):
        return {"auth": socket.handshake.auth, "query": _jsonable_query(socket.handshake.query),
                 "id": socket.id, "transport": socket.transport}

    # -- "/chat": class-based --------------------------------------------------------------

    class Chat(Namespace):
        def on_connect(self, auth):
            self.join("lobby")
            self.emit("welcome", {"nsp": self.namespace, "id": self.id, "auth": auth})

        def on_say(self, text):
            self.to("lobby").emit("said", {"from": self.id, "text": text})
            return "delivered"

        def on_echo(self, *args):
            return tuple(args)

        def on_disconnect(self, reason):
            remember(self.socket, reason)

    sio.register("/chat", Chat)

    # -- "/refuse": a middleware says no ---------------------------------------------------

    def refuse_everyone(socket):
        raise ConnectionRefused("not allowed", {"code": 42})

    sio.use(refuse_everyone, namespace="/refuse")

    # -- "/private": the connect handler checks a token ------------------------------------

    private = sio.of("/private")

    @private.on("connect")
    def private_connect(socket, auth):
        token = (auth or {}).get("token") if isinstance(auth, dict) else None
        if token is None:
            token = socket.handshake.query.get("token")
        if token != SECRET:
            raise ConnectionRefused("bad token", {"code": 401})
        socket.emit("private_ok", {"id": socket.id})

    @private.on("echo")
    def private_echo(socket, *args):
        return tuple(args)

    @private.on("disconnect")
    def private_disconnect(socket, reason):
        remember(socket, reason)

    return sio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ping-interval", type=float, default=25.0, metavar="S")
    parser.add_argument("--ping-timeout", type=float, default=20.0, metavar="S")
    parser.add_argument("--connect-timeout", type=float, default=45.0, metavar="S")
    parser.add_argument("--debug", action="store_true", help="log at debug level")
    args = parser.parse_args(argv)

    level = LogLevel.debug if args.debug else LogLevel.info
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(sys.stdout),
                              [LogLevelFilterPredicate(defaultLogLevel=level)])],
        redirectStandardIO=False,
    )
    sio = build_server(args.ping_interval, args.ping_timeout, args.connect_timeout)
    root = Resource()
    root.putChild(b"socket.io", sio.resource())
    port = reactor.listenTCP(args.port, Site(root), interface=args.host)
    log.info("interop app listening on http://{host}:{port}/socket.io/",
             host=args.host, port=port.getHost().port)
    reactor.run()


if __name__ == "__main__":
    main()
