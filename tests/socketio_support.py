"""Helpers shared by the Socket.IO server tests (tests/test_socketio_*.py).

Everything runs in memory: the server on a L{Clock}, clients are
L{txsocketio.testing.TestClient}s, log events are collected with a
C{twisted.logger} observer.
"""

from __future__ import annotations

import json
import re
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from txsocketio import SocketIOServer
from txsocketio.engineio.packet import Packet as EnginePacket
from txsocketio.engineio.packet import PacketType as EnginePacketType
from txsocketio.engineio.packet import encode_frame
from txsocketio.testing import TestClient

#: a Socket.IO v5 socket id: 15 random bytes, URL-safe base64
SOCKET_ID = re.compile(r"^[A-Za-z0-9_-]{20}$")


def connect_reply(message: str) -> tuple[str, dict[str, Any] | None]:
    """Split a CONNECT reply C{'40/chat,{"sid":"x"}'} into (namespace prefix, payload)."""
    assert message.startswith("40"), message
    rest = message[2:]
    brace = rest.find("{")
    if brace < 0:
        return rest, None
    return rest[:brace], json.loads(rest[brace:])


def frames(messages: list[str | bytes], version: int) -> list[str | bytes]:
    """Engine.IO messages as the WebSocket transport writes them for an
    Engine.IO C{version} client: text frames C{'4' + text} (so a Socket.IO
    CONNECT reply reads C{'40{"sid":…}'}), binary frames as bytes (v3: with
    the C{\\x04} type byte)."""
    out: list[str | bytes] = []
    for m in messages:
        payload, is_binary = encode_frame(EnginePacket(EnginePacketType.MESSAGE, m), version)
        out.append(payload if is_binary else payload.decode("utf-8"))
    return out



class ServerTestCase(SynchronousTestCase):
    """A server on a fresh L{Clock}; C{self.protocol} is the clients' Engine.IO
    version (4: socket.io-client 3.x/4.x; 3: 2.x)."""

    protocol = 4

    def setUp(self) -> None:
        self.clock = Clock()
        self.sio = SocketIOServer(reactor=self.clock, allow_eio3=True)
        self.logged: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.logged.append)

    def client(self, namespace: str = "/", **kwargs: Any) -> TestClient:
        kwargs.setdefault("protocol", self.protocol)
        return TestClient(self.sio, namespace=namespace, **kwargs)

    def log_lines(self, namespace: str = "txsocketio.socketio") -> list[str]:
        """The formatted log lines of C{namespace} (default: the Socket.IO layer)."""
        from twisted.logger import formatEvent

        return [formatEvent(e) for e in self.logged if e.get("log_namespace") == namespace]

    def app_calls(self) -> list[Any]:
        """The clock's pending calls, without the heartbeat timers of Engine.IO
        (one per open session) and of v3 TestClients (they ping, as 2.x clients do)."""
        from txsocketio.engineio.socket import EngineIOSocket

        return [c for c in self.clock.getDelayedCalls()
                if not isinstance(getattr(c.func, "__self__", None), (EngineIOSocket, TestClient))]

    def assertNoLeaks(self, *namespaces: str) -> None:
        """Every table is empty: sockets, rooms, clients, and no timer is left."""
        for name in namespaces or ("/",):
            nsp = self.sio.of(name)
            self.assertEqual(nsp.sockets, {}, f"sockets left in {name}")
            self.assertEqual(nsp.adapter.rooms, {}, f"rooms left in {name}")
            self.assertEqual(nsp.adapter.sids, {}, f"socket rooms left in {name}")
        self.assertEqual(self.sio.clients, {})
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def sid_for(self, client: TestClient, namespace: str = "/") -> str:
        return client.sids[namespace]

    def socket_of(self, client: TestClient, namespace: str = "/") -> Any:
        """The server-side Socket of C{client} in C{namespace}."""
        return client.server_client.sockets[namespace]

    def wire(self, client: TestClient) -> list[str | bytes]:
        """What the server wrote to C{client}, as WebSocket frames."""
        return frames(client.raw_received, client.connection.protocol)

    def wire_sent(self, client: TestClient) -> list[str | bytes]:
        """What C{client} wrote to the server, as WebSocket frames."""
        return frames(client.raw_sent, client.connection.protocol)

    def send_frame(self, client: TestClient, frame: str | bytes) -> None:
        """Deliver one WebSocket frame: C{'4…'} text (the Engine.IO message type
        is stripped), or bytes for a binary attachment."""
        if isinstance(frame, str):
            assert frame.startswith("4"), f"not an Engine.IO message frame: {frame!r}"
            client.send_raw(frame[1:])
        else:
            client.send_raw(frame)
