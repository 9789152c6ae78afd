"""Tests for L{txsocketio.testing.TestClient}: a client that drives the real
Engine.IO resource in memory."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txsocketio import SocketIOServer
from txsocketio.testing import TestClient


class TestClientTests(SynchronousTestCase):
    """The client speaks real long-polling to the server's Engine.IO layer."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.sio = SocketIOServer(reactor=self.clock, allow_eio3=True)

    def test_real_polling_session(self) -> None:
        """A handshake opens a real Engine.IO polling session, with a GET kept
        pending; the handshake's time is the server's clock (no wall clock)."""
        client = TestClient(self.sio, headers={"User-Agent": "t"}, query={"q": "1"})
        [socket] = self.sio.engine.sockets.values()
        self.assertIs(client.engine_socket, socket)
        self.assertEqual(socket.transport, "polling")
        self.assertTrue(socket.writable)  # the long-poll GET is pending
        self.assertEqual(socket.handshake.issued, 1000 * 1000)
        self.assertEqual(socket.handshake.query["q"], "1")
        self.assertEqual(socket.handshake.headers["user-agent"], "t")
        self.assertTrue(client.is_connected())

    def test_default_namespace(self) -> None:
        """TestClient(sio, namespace=...) makes it the default of emit,
        emit_with_ack and on."""
        seen: list[Any] = []
        chat = self.sio.of("/chat")
        chat.on("say", lambda socket, text: seen.append(text) or "ok")
        chat.on("ask", lambda socket: socket.emit_with_ack("q"))
        client = TestClient(self.sio, namespace="/chat")
        self.assertTrue(client.is_connected("/chat"))
        client.emit("say", "hi")
        self.assertEqual(self.successResultOf(client.emit_with_ack("say", "again")), ["ok"])
        self.assertEqual(seen, ["hi", "again"])
        client.on("q", lambda: "answer")
        client.emit("ask")
        self.assertEqual(client.pop_received("/chat"), [("q", [])])
        self.assertEqual(client.raw_sent[-1], "3/chat,0[\"answer\"]")

    def test_heartbeat(self) -> None:
        """The client answers Engine.IO pings (v4) and pings (v3): it stays
        connected however far the clock goes."""
        v4 = TestClient(self.sio)
        v3 = TestClient(self.sio, protocol=3)
        self.clock.pump([5] * 60)
        self.clock.advance(500)
        self.assertTrue(v4.is_connected())
        self.assertTrue(v3.is_connected())

    def test_paused_polling(self) -> None:
        """writable = False pauses polling (an upgrade probe releases the GET):
        volatile emits are dropped, others wait and arrive when it resumes."""
        sockets: list[Any] = []
        self.sio.on("connect", sockets.append)
        client = TestClient(self.sio)
        client.connection.writable = False
        self.assertFalse(client.engine_socket.writable)
        sockets[0].volatile.emit("dropped")
        sockets[0].emit("kept")
        self.assertEqual(client.pop_received(), [])
        client.connection.writable = True
        self.assertEqual(client.pop_received(), [("kept", [])])
        self.assertTrue(client.engine_socket.writable)

    def test_close_reasons(self) -> None:
        """close() drops the pending GET ("transport close"); "transport error"
        is a second GET while one is pending; other reasons end the session
        from the server side with that reason."""
        reasons: list[str] = []
        self.sio.on("disconnect", lambda socket, reason: reasons.append(reason))
        for reason in ("transport close", "transport error", "ping timeout"):
            client = TestClient(self.sio)
            client.close(reason)
            self.assertTrue(client.connection.closed)
            self.assertEqual(client.connection.close_reason, reason)
            self.assertFalse(client.is_connected())
        self.assertEqual(reasons, ["transport close", "transport error", "ping timeout"])
        self.assertEqual(self.sio.engine.sockets, {})

    def test_v3_refused_without_allow_eio3(self) -> None:
        """A protocol=3 client on a server without allow_eio3 is refused, as a
        2.x client would be, with a hint."""
        sio = SocketIOServer(reactor=self.clock)
        e = self.assertRaises(AssertionError, TestClient, sio, protocol=3)
        self.assertIn("allow_eio3=True", str(e))
