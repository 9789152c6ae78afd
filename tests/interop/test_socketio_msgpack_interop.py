"""The official socket.io-client 4.x with socket.io-msgpack-parser
(tests/node/msgpack_scenario.js): connect with auth and a refusal, acks,
binary and Dates both ways, a second namespace, rooms and broadcasts to
several clients, over WebSocket, over polling and with the upgrade.

The scenario is validated against Node's socket.io 4.8 server with the same
parser (tests/node/msgpack_node_server.js; :class:`NodeServerTests`), then
run against txsocketio with :class:`~txsocketio.socketio.msgpack_parser.MsgpackParser`
(:class:`TxsocketioServerTests`, the same handlers in :func:`build_server`).

:class:`TxsocketioServerTests` uses ``SocketIOServer(parser=MsgpackParser())``,
the server's parser option, which lands with the parser refactor of the
server; until then these tests fail (TypeError in setUp), by design.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.server import Site

from tests.support import ServerProcess, free_port, require_node, require_node_modules, run_process
from txsocketio import ConnectionRefused, SocketIOServer
from txsocketio.socketio.msgpack_parser import MsgpackParser

QUESTION_BYTES = b"\x00\x01\xfe\xff"
TRANSPORTS = {"websocket": "websocket", "polling": "polling", "upgrade": "polling,websocket"}


def build_server() -> SocketIOServer:
    """txsocketio with the msgpack parser and the handlers of msgpack_node_server.js."""
    sio = SocketIOServer(parser=MsgpackParser())

    def check_token(socket: Any) -> None:
        if socket.handshake.auth.get("token") == "bad":
            raise ConnectionRefused("not allowed", {"code": 42})

    sio.use(check_token)

    @sio.on("connect")
    def connect(socket: Any, auth: Any) -> None:
        socket.emit("welcome", {"auth": auth, "id": socket.id, "nsp": "/"})

    @sio.on("echo")
    def echo(socket: Any, *args: Any) -> tuple[Any, ...]:
        return tuple(args)

    @sio.on("ask")
    def ask(socket: Any) -> bool:
        d = socket.emit_with_ack("question", {"text": "what?", "bin": QUESTION_BYTES}, timeout=5)
        d.addCallbacks(lambda answer: socket.emit("answer", answer),
                       lambda failure: socket.emit("answer", {"error": str(failure.value)}))
        return True

    @sio.on("join")
    def join(socket: Any, room: str) -> bool:
        socket.join(room)
        return True

    @sio.on("to_room")
    def to_room(socket: Any, spec: dict[str, Any]) -> bool:
        socket.to(spec["room"]).emit(spec["event"], spec.get("data"))
        return True

    @sio.on("broadcast")
    def broadcast(socket: Any, spec: dict[str, Any]) -> bool:
        socket.broadcast.emit(spec["event"], spec.get("data"))
        return True

    @sio.on("all")
    def to_all(socket: Any, spec: dict[str, Any]) -> bool:
        sio.emit(spec["event"], spec.get("data"))
        return True

    chat = sio.of("/chat")

    @chat.on("connect")
    def chat_connect(socket: Any, auth: Any) -> None:
        socket.emit("welcome", {"auth": auth, "id": socket.id, "nsp": "/chat"})

    @chat.on("echo")
    def chat_echo(socket: Any, *args: Any) -> tuple[Any, ...]:
        return tuple(args)

    return sio


class _Scenario:
    """Runs msgpack_scenario.js against ``self.url`` (set by setUp)."""

    url: str

    async def scenario(self, transport: str) -> None:
        node_dir = require_node_modules("sioc4", "socket.io-msgpack-parser")
        result = await run_process([require_node(), "msgpack_scenario.js", "--url", self.url,
                                    "--transports", TRANSPORTS[transport]], cwd=node_dir, timeout=60)
        lines = result.stdout_text.strip().splitlines()
        report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
        case: unittest.TestCase = self  # type: ignore[assignment]  # a mixin of TestCases
        case.assertEqual((result.exit_code, report.get("ok")), (0, True), result.describe())
        case.assertEqual(sorted(report["steps"]),
                         ["ack", "binary", "connect_auth", "namespace", "rooms", "server_ack"])
        expected = "polling" if transport == "polling" else "websocket"
        case.assertEqual(report.get("engine_transport"), expected)

    async def test_websocket(self) -> None:
        """The whole scenario over WebSocket only."""
        await self.scenario("websocket")

    async def test_polling(self) -> None:
        """The whole scenario over long-polling only (binary messages as base64)."""
        await self.scenario("polling")

    async def test_upgrade(self) -> None:
        """The whole scenario opening with polling and upgrading to WebSocket."""
        await self.scenario("upgrade")


class NodeServerTests(_Scenario, unittest.TestCase):
    """The scenario against Node's socket.io 4.8 with socket.io-msgpack-parser:
    proves the scenario itself."""

    timeout = 90

    async def setUp(self) -> None:
        node_dir = require_node_modules("socket.io", "socket.io-msgpack-parser")
        port = free_port()
        self.server = ServerProcess([require_node(), "msgpack_node_server.js", "--port", str(port)], port,
                                    cwd=node_dir, name="msgpack_node_server.js")
        self.addCleanup(self.server.stop)
        await self.server.start()
        self.url = f"http://127.0.0.1:{port}"


class TxsocketioServerTests(_Scenario, unittest.TestCase):
    """The same scenario against txsocketio with MsgpackParser."""

    timeout = 90

    def setUp(self) -> None:
        self.sio = build_server()
        root = Resource()
        root.putChild(b"socket.io", self.sio.resource())
        listening = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        self.addCleanup(self.sio.shutdown)
        self.url = f"http://127.0.0.1:{listening.getHost().port}"
