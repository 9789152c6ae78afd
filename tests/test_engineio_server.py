"""In-memory tests of L{txsocketio.engineio.server} and L{txsocketio.engineio.socket}:
heartbeats, the socket API, hygiene (no leaked session or timer) and random
clients (see L{tests.engineio_support})."""

from __future__ import annotations

import zlib

from hypothesis import given, settings, strategies as st
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from txsocketio.engineio.server import EngineIOServer, EngineIOSocket, OutgoingMessage
from txsocketio.engineio.session import SessionState

from tests.engineio_support import (
    upgraded,
    Harness,
    OP_TEXT,
    PendingRequest,
    UNKNOWN_SID,
    WebSocketClient,
    open_sid,
)


class HeartbeatTests(SynchronousTestCase):
    """Heartbeats and reaping, driven by the clock."""

    def test_v4_ping_to_pending_get(self):
        """
        After ping_interval the server sends C{2} to the pending GET; a C{3}
        within ping_timeout keeps the session, and the next ping comes
        ping_interval after the pong.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        request = h.poll(sid)
        h.advance(24.9)
        self.assertFalse(request.done)
        h.advance(0.1)
        self.assertEqual(request.result().text(), "2")
        request = h.poll(sid)
        h.advance(5)
        h.send(sid, b"3")
        h.assert_timer_consistent(h.socket(sid))
        h.advance(24.9)
        self.assertFalse(request.done)
        h.advance(0.1)
        self.assertEqual(request.result().text(), "2")
        self.assertEqual(h.disconnects(), [])

    def test_v4_ping_queued_without_get(self):
        """A ping due while no GET is pending waits for the next GET."""
        h = Harness(self)
        sid, _ = h.handshake()
        h.advance(25)
        self.assertEqual(h.poll(sid).result().text(), "2")

    def test_v4_ping_timeout(self):
        """
        No pong within ping_timeout: on_disconnect("ping timeout"), the
        pending GET is answered C{1}, and later requests on the sid get code 1.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        h.advance(25)
        self.assertEqual(h.poll(sid).result().text(), "2")
        request = h.poll(sid)
        h.advance(19.9)
        self.assertEqual(h.disconnects(), [])
        h.advance(0.1)
        self.assertEqual(h.disconnects(), ["ping timeout"])
        self.assertEqual(request.result().text(), "1")
        self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
        self.assertEqual(h.send(sid, b"3").body, UNKNOWN_SID)
        h.assert_clean()

    def test_pong_read_after_a_busy_turn_counts(self):
        """
        When the pong deadline passes, the verdict waits for one more look at
        the network: a pong that arrived while the reactor was busy (read in
        the same turn, before the zero-delay check runs) keeps the session.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        h.advance(25)
        self.assertEqual(h.poll(sid).result().text(), "2")
        socket = h.socket(sid)
        # Run the deadline call by hand, as a late reactor turn would...
        deadline_call = socket._timer
        h.clock.advance(19.999)
        self.assertTrue(deadline_call.active())
        deadline_call.cancel()
        socket._on_deadline()
        # ...then the pong is read before the zero-delay verdict runs.
        h.send(sid, b"3")
        h.advance(0)
        self.assertEqual(h.disconnects(), [])
        h.assert_timer_consistent(socket)

    def test_v4_ping_timeout_without_get(self):
        """The ping timeout is enforced even with no GET pending."""
        h = Harness(self, ping_interval=1, ping_timeout=2)
        h.handshake()
        h.advance(3)
        self.assertEqual(h.disconnects(), ["ping timeout"])
        h.assert_clean()

    def test_v3_client_ping(self):
        """In v3 the client POSTs C{2} and the pending GET is answered C{3}; the server never pings."""
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake(eio=3)
        request = h.poll(sid, eio=3)
        h.advance(24)
        self.assertFalse(request.done)
        h.send(sid, b"1:2", eio=3)
        self.assertEqual(request.result().text(), "1:3")
        request = h.poll(sid, eio=3)
        h.advance(40)
        self.assertFalse(request.done)
        h.send(sid, b"1:2", eio=3)
        self.assertEqual(request.result().text(), "1:3")
        self.assertEqual(h.disconnects(), [])

    def test_v3_silence(self):
        """A v3 client silent for ping_interval + ping_timeout is closed ("ping timeout")."""
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake(eio=3)
        request = h.poll(sid, eio=3)
        h.advance(44.9)
        self.assertEqual(h.disconnects(), [])
        h.advance(0.1)
        self.assertEqual(h.disconnects(), ["ping timeout"])
        self.assertEqual(request.result().text(), "1:1")
        h.assert_clean()

    def test_reaping_without_get(self):
        """
        A polling client that keeps pinging (v3) but never GETs is reaped
        ping_interval + ping_timeout after its last GET ("transport close").
        """
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake(eio=3)
        for _ in range(4):
            h.advance(10)
            h.send(sid, b"1:2", eio=3)
        h.advance(4.9)
        self.assertEqual(h.disconnects(), [])
        h.advance(0.1)
        self.assertEqual(h.disconnects(), ["transport close"])
        h.assert_clean()

    def test_timer_follows_deadline(self):
        """
        After every step (handshake, GET, send, POST, timer) the socket's one
        DelayedCall sits at its session's next deadline.
        """
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake(eio=3)
        socket = h.socket(sid)
        h.assert_timer_consistent(socket)
        request = h.poll(sid, eio=3)
        h.assert_timer_consistent(socket)
        h.advance(30)
        socket.send("x")
        request.result()
        h.assert_timer_consistent(socket)
        h.send(sid, b"1:2", eio=3)
        h.assert_timer_consistent(socket)
        socket.send_many(["a", "b"])
        h.assert_timer_consistent(socket)
        h.poll(sid, eio=3).result()
        h.assert_timer_consistent(socket)
        socket.close()
        h.assert_timer_consistent(socket)


class SocketAPITests(SynchronousTestCase):
    """EngineIOSocket and EngineIOServer as the application uses them."""

    def test_close_polling_with_pending_get(self):
        """
        close() answers a pending GET with C{1}, reports "forced close" once,
        and forgets the session; later requests get code 1.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        socket = h.socket(sid)
        request = h.poll(sid)
        socket.close()
        self.assertTrue(socket.closed)
        self.assertEqual(request.result().text(), "1")
        self.assertEqual(h.disconnects(), ["forced close"])
        socket.close()
        socket.send("ignored")
        self.assertEqual(h.disconnects(), ["forced close"])
        self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
        h.assert_clean()

    def test_close_polling_without_get(self):
        """
        close() with no GET pending keeps the session CLOSING: the next GET
        gets the queued messages and C{1}, and then the session is gone.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        socket = h.socket(sid)
        socket.send("last words")
        socket.close("server shutting down")
        self.assertIs(socket.session.state, SessionState.CLOSING)
        self.assertEqual(h.disconnects(), ["server shutting down"])
        self.assertFalse(socket.writable)
        socket.send("too late")
        h.send(sid, b"4ignored")
        self.assertEqual(h.messages(), [])
        h.assert_timer_consistent(socket)
        self.assertEqual(h.poll(sid).result().text(), "4last words\x1e1")
        self.assertIs(socket.session.state, SessionState.CLOSED)
        self.assertEqual(h.disconnects(), ["server shutting down"])
        h.assert_clean()

    def test_closing_deadline(self):
        """A CLOSING polling session whose client never polls again is forgotten after ping_timeout."""
        h = Harness(self)
        sid, _ = h.handshake()
        h.socket(sid).close()
        h.advance(19.9)
        self.assertIn(sid, h.server.sockets)
        h.advance(0.1)
        self.assertEqual(h.disconnects(), ["forced close"])
        h.assert_clean()

    def test_close_all(self):
        """
        close_all() closes every session ("server shutting down"), whatever
        its transport; with the clients' last polls, nothing is left.
        """
        h = Harness(self, allow_eio3=True)
        polling_sid, _ = h.handshake()
        v3_sid, _ = h.handshake(eio=3)
        pending = h.poll(v3_sid, eio=3)
        ws = h.websocket("EIO=4&transport=websocket")
        open_sid(ws.received()[0])
        h.server.close_all()
        self.assertEqual(sorted(h.disconnects()), ["server shutting down"] * 3)
        self.assertEqual(pending.result().text(), "1:1")
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        self.assertEqual(h.poll(polling_sid).result().text(), "1")
        h.assert_clean()

    def test_close_all_deadline(self):
        """Sessions that never poll again after close_all() are gone after ping_timeout."""
        h = Harness(self)
        for _ in range(3):
            h.handshake()
        h.server.close_all()
        h.advance(20)
        h.assert_clean()

    def test_outgoing_message(self):
        """
        An OutgoingMessage reaches several sockets of both versions and both
        transports, framed once per version for WebSocket.
        """
        h = Harness(self, allow_eio3=True)
        sid4, _ = h.handshake()
        sid3, _ = h.handshake(eio=3)
        ws4 = h.websocket("EIO=4&transport=websocket")
        ws4_sid = open_sid(ws4.received()[0])
        ws3 = h.websocket("EIO=3&transport=websocket")
        ws3_sid = open_sid(ws3.received()[0])
        for data, text4, text3, frame4, frame3 in (
                ("hi", "4hi", "3:4hi", "4hi", "4hi"),
                (b"\x01\x02", "bAQI=", None, b"\x01\x02", b"\x04\x01\x02")):
            message = h.server.prepare(data)
            self.assertIsInstance(message, OutgoingMessage)
            for sid in (sid4, sid3, ws4_sid, ws3_sid):
                h.socket(sid).send(message)
            self.assertEqual(h.poll(sid4).result().text(), text4)
            response = h.poll(sid3, eio=3).result()
            if text3 is not None:
                self.assertEqual(response.text(), text3)
            else:
                self.assertEqual(response.body, b"\x01\x03\xff\x04\x01\x02")
            self.assertEqual(ws4.received(), [frame4])
            self.assertEqual(ws3.received(), [frame3])
            self.assertIs(message.prepared(4), message.prepared(4))

    def test_outgoing_message_compressed(self):
        """
        An OutgoingMessage also reaches a socket that negotiated
        permessage-deflate (compressed there, not sent pre-framed).
        """
        h = Harness(self, per_message_deflate=True)
        ws = h.websocket("EIO=4&transport=websocket",
                         headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
        inflate = zlib.decompressobj(-15)
        ws._parse()
        texts = []
        for opcode, payload in ws.frames:
            self.assertEqual(opcode, OP_TEXT)
            texts.append(inflate.decompress(payload + b"\x00\x00\xff\xff").decode())
        ws.frames = []
        [open_packet] = texts
        h.socket(open_sid(open_packet)).send(h.server.prepare("hello"))
        ws._parse()
        [(opcode, payload)] = ws.frames
        self.assertEqual(inflate.decompress(payload + b"\x00\x00\xff\xff"), b"4hello")

    def test_large_outgoing_messages(self):
        """
        max_http_buffer_size limits what the client sends, not what the
        server sends: larger messages go out on both transports.
        """
        h = Harness(self, max_http_buffer_size=100)
        sid, _ = h.handshake()
        h.socket(sid).send("x" * 500)
        self.assertEqual(h.poll(sid).result().text(), "4" + "x" * 500)
        ws = h.websocket("EIO=4&transport=websocket")
        ws_sid = open_sid(ws.received()[0])
        h.socket(ws_sid).send("y" * 500)
        h.socket(ws_sid).send(b"z" * 500)
        h.socket(ws_sid).send(h.server.prepare("w" * 500))
        self.assertEqual(ws.received(), ["4" + "y" * 500, b"z" * 500, "4" + "w" * 500])
        self.assertEqual(h.disconnects(), [])

    def test_on_message_closes_websocket(self):
        """on_message may close a WebSocket session: C{1}, close frame, on_disconnect once."""
        h = Harness(self)
        h.on_message = lambda socket, data: socket.close()
        ws = h.websocket("EIO=4&transport=websocket")
        ws.received()
        ws.send_text("4bye")
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        self.assertEqual(h.disconnects(), ["forced close"])
        h.assert_clean()

    def test_on_disconnect_error(self):
        """An exception in on_disconnect is logged; the session is still cleaned up."""
        h = Harness(self)
        def boom(socket, reason):
            raise RuntimeError(reason)
        h.server.on_disconnect = boom
        sid, _ = h.handshake()
        h.send(sid, b"1")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        h.assert_clean()

    def test_on_connect_error(self):
        """An exception in on_connect is logged; the handshake still succeeds."""
        h = Harness(self)
        def boom(socket):
            raise RuntimeError("connect")
        h.on_connect = boom
        h.handshake()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_socket_properties(self):
        """sid, protocol, transport, closed and writable describe the session."""
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake(eio=3)
        socket = h.socket(sid)
        self.assertEqual((socket.sid, socket.protocol, socket.transport, socket.closed),
                         (sid, 3, "polling", False))
        self.assertFalse(socket.writable)
        request = h.poll(sid, eio=3)
        self.assertTrue(socket.writable)
        socket.close()
        self.assertTrue(socket.closed)
        self.assertFalse(socket.writable)
        request.result()

    def test_bad_settings(self):
        """Nonsensical settings are refused when the server is built."""
        clock = MemoryReactorClock()
        self.assertRaises(ValueError, EngineIOServer, reactor=clock, transports=())
        self.assertRaises(ValueError, EngineIOServer, reactor=clock, transports=("flashsocket",))
        self.assertRaises(ValueError, EngineIOServer, reactor=clock, ping_interval=0)
        self.assertRaises(ValueError, EngineIOServer, reactor=clock, ping_timeout=-1)
        self.assertRaises(ValueError, EngineIOServer, reactor=clock, upgrade_timeout=0)


class HygieneTests(SynchronousTestCase):
    """Nothing outlives the sessions: no table entries, no timers."""

    def test_many_sessions_all_ways_of_ending(self):
        """
        Sessions ended in every way (client close, abort, bad POST, overlap,
        ping timeout, reaping, server close, WebSocket close/drop/bad frame,
        failed and successful upgrades) leave server.sockets empty and no
        DelayedCall on the clock.
        """
        h = Harness(self, allow_eio3=True, upgrade_timeout=5)
        a, _ = h.handshake()
        h.send(a, b"1")
        b, _ = h.handshake()
        h.poll(b).abort()
        c, _ = h.handshake()
        h.send(c, b"?")
        d, _ = h.handshake()
        first = h.poll(d)
        h.poll(d)
        first.result()
        e, _ = h.handshake()
        h.socket(e).close()
        h.poll(e).result()
        f, _ = h.handshake()
        probe = h.websocket(f"EIO=4&transport=websocket&sid={f}")
        g, ws_g = upgraded(h)
        ws_g.send_close()
        ws1 = h.websocket("EIO=4&transport=websocket")
        ws1.send_text("1")
        ws2 = h.websocket("EIO=4&transport=websocket")
        ws2.drop()
        ws3 = h.websocket("EIO=3&transport=websocket")
        ws3.send_text("nonsense")
        v3, _ = h.handshake(eio=3)
        h.advance(5)
        self.assertTrue(probe.disconnected)
        self.assertEqual(len(h.server.sockets), 2)  # f (polling, idle) and v3
        h.advance(45)
        self.assertEqual(len(h.disconnects()), len([e for e in h.events if e[0] == "connect"]))
        h.assert_clean()


_BODIES = [b"4hi", b"4a\x1e4b", b"3", b"2", b"1", b"5", b"6", b"bAQI=", b"x", b"", b"4\xff",
           b"2probe", b"0", b"4" + b"x" * 200]


_FRAMES = ["2probe", "5", "3", "4hi", "6", "1", "2", "abc", ""]


_steps = st.lists(
    st.one_of(
        st.tuples(st.just("get"), st.integers(0, 2)),
        st.tuples(st.just("post"), st.sampled_from(_BODIES)),
        st.tuples(st.just("abort"), st.integers(0, 3)),
        st.tuples(st.just("advance"), st.sampled_from([0.1, 1.0, 4.0, 9.0, 20.0])),
        st.tuples(st.just("websocket"), st.booleans()),
        st.tuples(st.just("frame"), st.sampled_from(_FRAMES)),
        st.tuples(st.just("ws_close"), st.booleans()),
        st.tuples(st.just("server_send"), st.sampled_from(["m", b"\x00"])),
        st.tuples(st.just("server_close"), st.just(None)),
        st.tuples(st.just("handshake"), st.sampled_from([3, 4])),
    ),
    max_size=25,
)


class RandomClientTests(SynchronousTestCase):
    """Arbitrary client behaviour never breaks the server's bookkeeping."""

    @settings(max_examples=150, deadline=None)
    @given(steps=_steps)
    def test_random_clients(self, steps):
        """
        Random handshakes, GETs, POSTs, aborts, WebSocket probes and frames,
        server sends and closes, and time passing: after every step each live
        session's timer sits at its deadline and no session reports more than
        one disconnect; at the end close_all() and time answer every request
        and leave no session and no DelayedCall.
        """
        h = Harness(self, allow_eio3=True, max_http_buffer_size=100, upgrade_timeout=5)
        h.on_message = lambda socket, data: socket.send(data) if data == "hi" else None
        sessions: list[tuple[str, int]] = []
        requests: list[PendingRequest] = []
        sockets: list[WebSocketClient] = []
        for name, arg in steps:
            if name == "handshake" or not sessions:
                version = arg if name == "handshake" else 4
                sessions.append((h.handshake(eio=version)[0], version))
                if name == "handshake":
                    continue
            sid, version = sessions[-1]
            if name == "get":
                requests.append(h.poll(sid, eio=version))
            elif name == "post":
                body = arg
                if version == 3:
                    body = b"%d:%s" % (len(arg), arg)
                h.send(sid, body, eio=version)
            elif name == "abort":
                pending = [r for r in requests if not r.done and not r.aborted]
                if pending:
                    pending[arg % len(pending)].abort()
            elif name == "advance":
                h.advance(arg)
            elif name == "websocket":
                query = f"EIO={version}&transport=websocket"
                sockets.append(h.websocket(query + (f"&sid={sid}" if arg else "")))
            elif name == "frame" and sockets:
                if sockets[-1].status == 101 and not sockets[-1].disconnected:
                    sockets[-1].send_text(arg)
            elif name == "ws_close" and sockets:
                if sockets[-1].status == 101 and not sockets[-1].disconnected:
                    sockets[-1].send_close() if arg else sockets[-1].drop()
            elif name == "server_send" and sid in h.server.sockets:
                h.socket(sid).send(arg)
            elif name == "server_close" and sid in h.server.sockets:
                h.socket(sid).close()
            for socket in h.server.sockets.values():
                self.assertIsNot(socket.session.state, SessionState.CLOSED)
                h.assert_timer_consistent(socket)
            closed = [e[1] for e in h.events if e[0] == "disconnect"]
            self.assertEqual(len(closed), len(set(map(id, closed))))
            for socket in closed:
                if socket.sid in h.server.sockets:
                    # Told already; waits to write its CLOSE packet.
                    self.assertIs(socket.session.state, SessionState.CLOSING)
        h.server.close_all()
        h.advance(60)
        for request in requests:
            self.assertTrue(request.aborted or request.done, "a long-poll was never answered")
        for ws in sockets:
            if ws.status == 101:
                self.assertTrue(ws.disconnected, "a WebSocket was left open")
        connects = [e[1] for e in h.events if e[0] == "connect"]
        self.assertEqual(len(h.disconnects()), len(connects))
        h.assert_clean()


class ShutdownTests(SynchronousTestCase):
    """EngineIOServer.shutdown(timeout): every client's goodbye, then a Deferred."""

    def ws_session(self, h: Harness, **kw) -> tuple[str, WebSocketClient]:
        ws = h.websocket("EIO=4&transport=websocket", **kw)
        [open_packet] = ws.received()
        return open_sid(open_packet), ws

    def test_nothing_open(self):
        """With no session, the Deferred has fired already; no timer is left."""
        h = Harness(self)
        self.assertIsNone(self.successResultOf(h.server.shutdown(30)))
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_goodbyes(self):
        """Queued messages, then CLOSE, reach a WebSocket client (then a close
        frame 1000) and a pending GET at once; the Deferred fires when the
        WebSocket has closed and the idle polling client's short grace is over,
        long before the timeout, leaving no timer behind."""
        h = Harness(self)
        ws_sid, ws = self.ws_session(h)
        polled, _ = h.handshake()
        idle, _ = h.handshake()
        pending = h.poll(polled)
        h.socket(idle).send("queued")
        d = h.server.shutdown(30)
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        self.assertTrue(ws.disconnected)
        self.assertEqual(pending.result().text(), "1")
        self.assertEqual(sorted(h.disconnects()), ["server shutting down"] * 3)
        self.assertNoResult(d)  # the idle polling client may still come for its goodbye
        h.advance(0.5)
        self.assertIsNone(self.successResultOf(d))
        h.assert_clean()

    def test_idle_polling_client_fetches_goodbye(self):
        """A polling client that comes back within the grace gets its queued
        messages and CLOSE, and the Deferred fires at once."""
        h = Harness(self)
        sid, _ = h.handshake()
        h.socket(sid).send("last")
        d = h.server.shutdown(30)
        self.assertNoResult(d)
        self.assertEqual(h.poll(sid).result().text(), "4last\x1e1")
        self.assertIsNone(self.successResultOf(d))
        h.assert_clean()

    def test_timeout(self):
        """A connection still open at the timeout is dropped, the Deferred fires
        and a warning says so."""
        from twisted.logger import LogLevel, globalLogPublisher

        logged: list[dict] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        h = Harness(self)
        _, ws = self.ws_session(h, auto_close_reply=False)
        d = h.server.shutdown(0.25)
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        self.assertNoResult(d)
        h.advance(0.25)
        self.assertIsNone(self.successResultOf(d))
        self.assertTrue(ws.disconnected)
        self.assertTrue(any(e.get("log_level") is LogLevel.warn and "timed out" in e["log_format"]
                            for e in logged))
        h.assert_clean()

    def test_stuck_closing_handshake_is_bounded(self):
        """A WebSocket client that never answers the close frame is dropped by
        the closing-handshake timeout (1 s), well within a long shutdown timeout."""
        h = Harness(self)
        _, ws = self.ws_session(h, auto_close_reply=False)
        d = h.server.shutdown(30)
        h.advance(0.9)
        self.assertNoResult(d)
        h.advance(0.1)
        self.assertIsNone(self.successResultOf(d))
        h.assert_clean()

    def test_waits_for_the_goodbye_to_leave_the_buffer(self):
        """The Deferred fires only once the response carrying CLOSE has left
        the connection's write buffer (a stopping reactor drops what is still
        buffered); twisted.web's channel is its producer again afterwards."""
        from twisted.internet.address import IPv4Address
        from twisted.internet.testing import StringTransport

        class TCPLike(StringTransport):
            """Asks a pull producer to resume at once, as Twisted's TCP does."""

            def registerProducer(self, producer, streaming):
                super().registerProducer(producer, streaming)
                if not streaming:
                    producer.resumeProducing()

        h = Harness(self)
        sid, _ = h.handshake()
        channel = h.site.buildProtocol(IPv4Address("TCP", "10.0.0.2", 40000))
        transport = TCPLike(peerAddress=IPv4Address("TCP", "10.0.0.2", 40000))
        channel.makeConnection(transport)
        channel.dataReceived(f"GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                             f"Host: example.com\r\n\r\n".encode())
        d = h.server.shutdown(30)
        self.assertTrue(transport.value().endswith(b"\r\n\r\n1"), transport.value())
        self.assertEqual(h.server.sockets, {})
        self.assertNoResult(d)  # the response is still "in the buffer"
        transport.producer.resumeProducing()  # the buffer has been written
        self.assertIsNone(self.successResultOf(d))
        self.assertTrue(transport.streaming)
        h.assert_clean()
