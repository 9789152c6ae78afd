"""The txsocketio application of the cluster tests (tests/test_cluster.py).

    CLUSTER_NODE=py1 python -m twisted txsocketio --app tests.apps.cluster_app:make_server \\
        --redis redis://127.0.0.1:R/0 --listen tcp:P:interface=127.0.0.1

The same namespaces and events as tests/node/cluster_node_server.js (the Node
socket.io server on @socket.io/redis-adapter), so that either can stand in a
cluster with the other; see that script's header for the list.  ``whoami``
also answers the handshake's address and ``X-Forwarded-For`` header (the
nginx test checks them).  ``CLUSTER_NODE`` names the process in the answers.
"""

from __future__ import annotations

import os
from typing import Any

from txsocketio import SocketIOServer
from txsocketio.errors import AckTimeout

NAME = os.environ.get("CLUSTER_NODE", f"py-{os.getpid()}")
NAMESPACES = ("/", "/chat")
SERVER_EVENTS = ("hello", "bye")


def _target(base: Any, spec: dict[str, Any]) -> Any:
    op = base
    if spec.get("to"):
        op = op.to(*spec["to"])
    if spec.get("except"):
        op = op.except_(*spec["except"])
    return op


def _set_up(sio: SocketIOServer, name: str) -> None:
    nsp = sio.of(name)
    server_events: list[list[Any]] = []

    for event in SERVER_EVENTS:
        def on_server_event(*args: Any, event: str = event) -> str:
            server_events.append([event, *args])
            return f"{NAME} got {event}"

        nsp.on_server_side(event, on_server_event)

    @nsp.on("whoami")
    def whoami(socket):
        return {"server": NAME, "id": socket.id, "nsp": socket.namespace,
                "address": socket.handshake.address,
                "forwarded_for": socket.handshake.headers.get("x-forwarded-for"),
                "transport": socket.transport}

    @nsp.on("join")
    def join(socket, *rooms):
        socket.join(*rooms)
        return True

    @nsp.on("leave")
    def leave(socket, room):
        socket.leave(room)
        return True

    @nsp.on("relay")
    def relay(socket, spec):
        _target(nsp if spec.get("self") else socket.broadcast, spec).emit(spec["event"], *spec.get("args", []))
        return True

    @nsp.on("fetch")
    async def fetch(socket, spec):
        found = await _target(nsp, spec).fetch_sockets()
        return sorted(({"id": s.id, "rooms": sorted(s.rooms)} for s in found), key=lambda s: s["id"])

    @nsp.on("ack_all")
    async def ack_all(socket, spec):
        try:
            responses = await _target(nsp.timeout(spec.get("timeout", 2000) / 1000), spec).emit_with_ack(
                spec["event"], *spec.get("args", []))
        except AckTimeout as e:
            return {"ok": False, "error": str(e), "responses": e.responses}
        return {"ok": True, "responses": responses}

    @nsp.on("sockets_join")
    async def sockets_join(socket, spec):
        await _target(nsp, spec).sockets_join(*spec["rooms"])
        return True

    @nsp.on("sockets_leave")
    async def sockets_leave(socket, spec):
        await _target(nsp, spec).sockets_leave(*spec["rooms"])
        return True

    @nsp.on("disconnect_sockets")
    def disconnect_sockets(socket, spec):
        sio.reactor.callLater(0, _target(nsp, spec).disconnect_sockets, bool(spec.get("close")))
        return True

    @nsp.on("server_side_emit")
    async def server_side_emit(socket, spec):
        await nsp.server_side_emit(spec["event"], *spec.get("args", []))
        return True

    @nsp.on("server_events")
    def get_server_events(socket):
        return server_events

    @nsp.on("server_count")
    def server_count(socket):
        return nsp.server_count()

    @nsp.on("all_rooms")
    async def all_rooms(socket):
        return sorted(await nsp.all_rooms())


def make_server() -> SocketIOServer:
    sio = SocketIOServer()
    for name in NAMESPACES:
        _set_up(sio, name)
    return sio
