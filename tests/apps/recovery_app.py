"""The txsocketio twin of tests/node/recovery_node_server.js, for the
connection state recovery scenario (tests/node/recovery_scenario.js,
tests/interop/test_recovery.py).

    python tests/apps/recovery_app.py --port P [--window SECONDS] [--skip-middlewares true|false]

Same namespaces, events and control commands as the Node script (see its
header).  It uses the API issue 12 asks for,
``SocketIOServer(connection_state_recovery={"max_disconnection_duration": S,
"skip_middlewares": B})`` and ``socket.recovered``; until that is wired the
app does not start and the txsocketio half of the interop test fails.
Prints ``recovery app listening on ...`` once the port is open.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from twisted.internet import reactor  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver  # noqa: E402
from twisted.web.resource import Resource  # noqa: E402
from twisted.web.server import Site  # noqa: E402

from txsocketio import SocketIOServer  # noqa: E402

log = Logger(namespace="recovery_app")
NAME = "txsocketio"


def build_server(window: float, skip_middlewares: bool, redis_streams: str | None = None,
                 stream_name: str = "socket.io") -> SocketIOServer:
    adapter = None
    if redis_streams:
        from txsocketio.adapters.streams import redis_streams_adapter

        adapter = redis_streams_adapter(redis_streams, stream_name=stream_name)
    sio = SocketIOServer(adapter=adapter, connection_state_recovery={"max_disconnection_duration": window,
                                                                     "skip_middlewares": skip_middlewares})
    state: dict[str, Any] = {"middleware_runs": 0, "tags": 0}
    last_socket: dict[str, Any] = {}
    connections: list[dict[str, Any]] = []
    disconnects: dict[str, str] = {}
    waiters: dict[str, list[Deferred[str | None]]] = {}

    @sio.use
    def count(socket):
        state["middleware_runs"] += 1

    @sio.on("connect")
    def connect(socket, auth):
        if not socket.recovered:
            state["tags"] += 1
            socket.data = {"tag": f"t{state['tags']}", "server": NAME}
        last_socket[socket.id] = socket
        connections.append({"id": socket.id, "recovered": socket.recovered})
        disconnects.pop(socket.id, None)

    @sio.on("disconnect")
    def disconnect(socket, reason):
        disconnects[socket.id] = reason
        for d in waiters.pop(socket.id, []):
            d.callback(reason)

    @sio.on("join")
    def join(socket, room):
        socket.join(room)
        return True

    @sio.on("whoami")
    def whoami(socket):
        return {"id": socket.id, "recovered": socket.recovered, "data": socket.data,
                "rooms": sorted(socket.rooms), "server": NAME}

    control = sio.of("/control")

    @control.on("emit")
    def emit(socket, spec):
        rooms = spec.get("to") or []
        op = sio.to(*rooms) if rooms else sio.of("/")
        if spec.get("volatile"):
            op = op.volatile
        if spec.get("ack_timeout_ms"):
            d = op.timeout(spec["ack_timeout_ms"] / 1000).emit_with_ack(spec["event"], *spec.get("args", []))
            d.addErrback(lambda _: None)
        else:
            op.emit(spec["event"], *spec.get("args", []))
        return True

    @control.on("direct")
    def direct(socket, spec):
        target = last_socket.get(spec["sid"])
        if target is None:
            return False
        if spec.get("ack"):
            target.emit_with_ack(spec["event"], *spec.get("args", [])).addErrback(lambda _: None)
        else:
            target.emit(spec["event"], *spec.get("args", []))
        return True

    @control.on("wait_disconnect")
    def wait_disconnect(socket, spec):
        sid = spec["sid"]
        if sid in disconnects:
            return (disconnects[sid],)
        d: Deferred[str | None] = Deferred()
        waiters.setdefault(sid, []).append(d)
        d.addTimeout(spec.get("timeout_ms", 5000) / 1000, reactor, onTimeoutCancel=lambda *_: None)
        return d.addCallback(lambda reason: (reason,))

    @control.on("stats")
    def stats(socket):
        return {"middleware_runs": state["middleware_runs"], "connections": connections,
                "disconnects": disconnects}

    return sio


def maybe_init(adapter: Any) -> Any:
    from twisted.internet.defer import maybeDeferred

    return maybeDeferred(adapter.init)


def main(argv: list[str] | None = None) -> None:
    global NAME
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--window", type=float, default=120.0)
    parser.add_argument("--skip-middlewares", choices=("true", "false"), default="true")
    parser.add_argument("--redis-streams", default=None, help="redis://host:port: the streams adapter")
    parser.add_argument("--stream-name", default="socket.io")
    parser.add_argument("--name", default=NAME)
    args = parser.parse_args(argv)
    NAME = args.name
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    sio = build_server(args.window, args.skip_middlewares == "true", args.redis_streams, args.stream_name)
    root = Resource()
    root.putChild(b"socket.io", sio.resource())
    port = reactor.listenTCP(args.port, Site(root), interface=args.host)
    from twisted.internet.defer import gatherResults

    def listening(_: object) -> None:
        log.info("recovery app listening on http://{host}:{port}/socket.io/ ({name})",
                 host=args.host, port=port.getHost().port, name=NAME)

    # With the streams adapter: once its subscriptions are confirmed (Node's twin waits for Redis too).
    gatherResults([maybe_init(sio.of(n).adapter) for n in ("/", "/control")]).addCallback(listening)
    reactor.run()


if __name__ == "__main__":
    main()
