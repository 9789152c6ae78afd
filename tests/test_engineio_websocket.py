"""In-memory tests of L{txsocketio.engineio.websocket}: the upgrade from polling and
WebSocket sessions, over L{twisted.test.iosim} with a raw client (see
L{tests.engineio_support})."""

from __future__ import annotations

import struct
import zlib
from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory
from autobahn.websocket.protocol import PreparedMessage
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from txsocketio.eager import TurnBudget
from txsocketio.engineio import _autobahn
from txsocketio.engineio._autobahn import FramingProtocol, configured_protocol, frame_pieces, use_reactor

from txsocketio.engineio.server import EngineIOSocket, OutgoingMessage
from txsocketio.engineio.session import SessionState

from tests.engineio_support import (
    upgraded,
    BAD_REQUEST,
    Harness,
    OP_CLOSE,
    OP_BINARY,
    OP_TEXT,
    WebSocketClient,
    client_frame,
    open_sid,
)


class UpgradeTests(SynchronousTestCase):
    """Polling to WebSocket."""

    def test_full_upgrade(self):
        """
        The probe socket gets 101; C{2probe} is answered C{3probe} on it and
        the pending GET with C{6}; after C{5} the WebSocket is the transport,
        messages queued meanwhile are flushed on it, and polling is 400.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        socket = h.socket(sid)
        request = h.poll(sid)
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.received(), [])
        self.assertTrue(socket.session.upgrading)
        ws.send_text("2probe")
        self.assertEqual(ws.received(), ["3probe"])
        self.assertEqual(request.result().text(), "6")
        socket.send("queued")
        socket.send(b"\x01")
        after_probe = h.poll(sid)
        self.assertEqual(after_probe.result().text(), "4queued\x1ebAQ==")
        socket.send("while paused")
        ws.send_text("5")
        self.assertEqual(socket.transport, "websocket")
        self.assertEqual(ws.received(), ["4while paused"])
        socket.send("direct")
        socket.send(b"\x02")
        self.assertEqual(ws.received(), ["4direct", b"\x02"])
        ws.send_text("4from client")
        ws.send_binary(b"\x03")
        self.assertEqual(h.messages(), ["from client", b"\x03"])
        response = h.poll(sid).result()
        self.assertEqual((response.code, response.body), (400, BAD_REQUEST))
        self.assertEqual(h.send(sid, b"4x").body, BAD_REQUEST)
        self.assertEqual(h.disconnects(), [])
        h.assert_timer_consistent(socket)

    def test_pending_get_released_on_upgrade(self):
        """A GET still pending when C{5} arrives is answered C{6}."""
        h = Harness(self)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.send_text("2probe")
        ws.received()
        request = h.poll(sid)
        self.assertEqual(request.result().text(), "6")
        request = h.poll(sid)
        self.assertEqual(request.result().text(), "6")
        ws.send_text("5")
        self.assertEqual(h.socket(sid).transport, "websocket")

    def test_heartbeat_after_upgrade(self):
        """After the upgrade pings go over the WebSocket; no pong closes the session."""
        h = Harness(self)
        sid, ws = upgraded(h)
        h.advance(25)
        self.assertEqual(ws.received(), ["2"])
        ws.send_text("3")
        h.advance(25)
        self.assertEqual(ws.received(), ["2"])
        h.advance(20)
        self.assertEqual(h.disconnects(), ["ping timeout"])
        self.assertEqual(ws.received(), [("close", 1000)])
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_upgrade_v3(self):
        """The v3 upgrade is the same; binary frames then carry a leading 4."""
        h = Harness(self, allow_eio3=True)
        sid, ws = upgraded(h, eio=3)
        h.socket(sid).send(b"\x01\x02")
        self.assertEqual(ws.received(), [b"\x04\x01\x02"])
        ws.send_binary(b"\x04\x09")
        self.assertEqual(h.messages(), [b"\x09"])

    def test_upgrade_timeout(self):
        """
        No C{5} within upgrade_timeout: the probe socket is closed and the
        session keeps polling.
        """
        h = Harness(self, upgrade_timeout=5)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.send_text("2probe")
        self.assertEqual(ws.received(), ["3probe"])
        h.advance(4.9)
        self.assertFalse(ws.disconnected)
        h.advance(0.1)
        self.assertEqual(ws.received(), [("close", 1000)])
        self.assertTrue(ws.disconnected)
        socket = h.socket(sid)
        self.assertEqual(socket.transport, "polling")
        self.assertFalse(socket.session.upgrading)
        socket.send("still here")
        self.assertEqual(h.poll(sid).result().text(), "4still here")
        request = h.poll(sid)
        self.assertFalse(request.done)
        self.assertEqual(h.disconnects(), [])
        h.assert_timer_consistent(socket)

    def test_upgrade_timeout_without_probe(self):
        """A probe socket that never sends C{2probe} is also dropped on time."""
        h = Harness(self, upgrade_timeout=5)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        h.advance(5)
        self.assertTrue(ws.disconnected)
        self.assertTrue(h.socket(sid).session.can_upgrade())

    def test_retry_after_failed_upgrade(self):
        """After a failed upgrade, a new WebSocket may try again and succeed."""
        h = Harness(self, upgrade_timeout=5)
        sid, _ = h.handshake()
        h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        h.advance(5)
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.send_text("2probe")
        self.assertEqual(ws.received(), ["3probe"])
        ws.send_text("5")
        self.assertEqual(h.socket(sid).transport, "websocket")

    def test_probe_socket_closed_by_client(self):
        """A client that closes its probe socket before C{5} keeps polling."""
        h = Harness(self)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.send_text("2probe")
        ws.received()
        ws.send_close()
        self.assertTrue(ws.disconnected)
        socket = h.socket(sid)
        self.assertEqual(socket.transport, "polling")
        self.assertFalse(socket.session.upgrading)
        socket.send("x")
        self.assertEqual(h.poll(sid).result().text(), "4x")
        self.assertEqual(h.disconnects(), [])

    def test_probe_socket_dropped(self):
        """A probe socket whose TCP connection drops leaves the session polling."""
        h = Harness(self)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.drop()
        self.assertTrue(h.socket(sid).session.can_upgrade())
        self.assertEqual(h.disconnects(), [])

    def test_bad_packet_on_probe(self):
        """
        Anything but C{2probe}, C{5} or C{6} on the probe socket drops the
        probe; the session keeps polling.
        """
        for frame in ("4hello", "5", "2", "xyz"):
            h = Harness(self)
            sid, _ = h.handshake()
            ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
            ws.send_text(frame)
            self.assertTrue(ws.disconnected, frame)
            self.assertEqual(h.socket(sid).transport, "polling")
            self.assertFalse(h.socket(sid).session.upgrading)
            self.assertEqual(h.messages(), [])
            self.assertEqual(h.disconnects(), [])

    def test_second_websocket_after_upgrade(self):
        """
        A second WebSocket on an already upgraded sid completes the 101
        handshake and is then closed; the session is unharmed.
        """
        h = Harness(self)
        sid, ws = upgraded(h)
        second = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual(second.status, 101)
        self.assertEqual(second.received(), [("close", 1000)])
        self.assertTrue(second.disconnected)
        h.socket(sid).send("still")
        self.assertEqual(ws.received(), ["4still"])
        self.assertEqual(h.disconnects(), [])

    def test_second_websocket_while_upgrading(self):
        """A WebSocket on a sid that is already upgrading gets 101 and a close."""
        h = Harness(self)
        sid, _ = h.handshake()
        first = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        second = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual(second.status, 101)
        self.assertEqual(second.received(), [("close", 1000)])
        self.assertTrue(second.disconnected)
        first.send_text("2probe")
        self.assertEqual(first.received(), ["3probe"])
        first.send_text("5")
        self.assertEqual(h.socket(sid).transport, "websocket")

    def test_second_websocket_on_websocket_session(self):
        """A WebSocket naming the sid of a WebSocket-only session gets 101 and a close."""
        h = Harness(self)
        ws = h.websocket("EIO=4&transport=websocket")
        sid = open_sid(ws.received()[0])
        second = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual((second.status, second.received()), (101, [("close", 1000)]))
        self.assertFalse(h.socket(sid).closed)

    def test_websocket_with_upgrades_off(self):
        """With allow_upgrades off, a WebSocket on a polling sid gets 101 and a close."""
        h = Harness(self, allow_upgrades=False)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual((ws.status, ws.received()), (101, [("close", 1000)]))
        self.assertEqual(h.socket(sid).transport, "polling")

    def test_session_closed_during_upgrade(self):
        """Closing a session while its upgrade is under way closes the probe socket too."""
        h = Harness(self)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        ws.send_text("2probe")
        ws.received()
        self.assertEqual(h.poll(sid).result().text(), "6")
        self.assertEqual(h.send(sid, b"1").body, b"ok")
        self.assertEqual(h.disconnects(), ["transport close"])
        self.assertEqual(ws.received(), [("close", 1000)])
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_upgrade_completes_while_closing(self):
        """
        A session closed by the server after the probe still accepts C{5}; the
        CLOSE packet then goes out on the WebSocket and everything is cleaned up.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}", auto_close_reply=False)
        ws.send_text("2probe")
        ws.received()
        socket = h.socket(sid)
        socket.close()
        self.assertEqual(h.disconnects(), ["forced close"])
        ws.send_text("5")
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        # Finished as soon as the CLOSE packet is written, not when the
        # client gets round to answering the close frame.
        self.assertIs(socket.session.state, SessionState.CLOSED)
        self.assertEqual(h.server.sockets, {})
        ws.send_close()
        h.assert_clean()


class WebSocketTests(SynchronousTestCase):
    """Sessions carried over WebSocket from the start."""

    def open(self, h: Harness, eio: int = 4, **kw: Any) -> tuple[str, WebSocketClient]:
        ws = h.websocket(f"EIO={eio}&transport=websocket", **kw)
        self.assertEqual(ws.status, 101)
        return open_sid(ws.received()[0]), ws

    def test_messages(self):
        """
        One packet per frame: text frames are C{4<text>}, binary frames the raw
        bytes (v4); both ways.
        """
        h = Harness(self)
        sid, ws = self.open(h)
        ws.send_text("4h\u00e9llo")
        ws.send_binary(b"\x00\xff")
        ws.send_text("4")
        self.assertEqual(h.messages(), ["h\u00e9llo", b"\x00\xff", ""])
        socket = h.socket(sid)
        self.assertTrue(socket.writable)
        socket.send("back")
        socket.send(b"\x01")
        socket.send_many(["m1", "m2"])
        self.assertEqual(ws.received(), ["4back", b"\x01", "4m1", "4m2"])

    def test_v3_binary_frames(self):
        """In v3, binary frames carry a leading type byte 4, both ways."""
        h = Harness(self, allow_eio3=True)
        sid, ws = self.open(h, eio=3)
        ws.send_binary(b"\x04\x00\xff")
        self.assertEqual(h.messages(), [b"\x00\xff"])
        h.socket(sid).send(b"\x01")
        self.assertEqual(ws.received(), [b"\x04\x01"])

    def test_v3_bad_binary_frame(self):
        """A v3 binary frame without the type byte 4 closes the session."""
        h = Harness(self, allow_eio3=True)
        _, ws = self.open(h, eio=3)
        ws.send_binary(b"\x00\xff")
        self.assertEqual(h.disconnects(), ["parse error"])
        h.assert_clean()

    def test_v3_client_ping(self):
        """A v3 client's C{2} is answered C{3} on the WebSocket."""
        h = Harness(self, allow_eio3=True)
        _, ws = self.open(h, eio=3)
        ws.send_text("2")
        self.assertEqual(ws.received(), ["3"])

    def test_heartbeat(self):
        """The server pings over the WebSocket; a missing pong closes it with 1000."""
        h = Harness(self, ping_interval=1, ping_timeout=0.5)
        _, ws = self.open(h)
        h.advance(1)
        self.assertEqual(ws.received(), ["2"])
        ws.send_text("3")
        h.advance(1)
        self.assertEqual(ws.received(), ["2"])
        h.advance(0.5)
        self.assertEqual(h.disconnects(), ["ping timeout"])
        self.assertEqual(ws.received(), [("close", 1000)])
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_invalid_text_frame(self):
        """A text frame that is not a packet (C{abc}) closes the session ("parse error")."""
        for frame in ("abc", "", "9"):
            h = Harness(self)
            _, ws = self.open(h)
            ws.send_text(frame)
            self.assertEqual(h.disconnects(), ["parse error"], frame)
            self.assertEqual(ws.received(), [("close", 1000)])
            self.assertTrue(ws.disconnected)
            h.assert_clean()

    def test_protocol_violation_packets(self):
        """A v4 client PING on the session is a "transport error"; OPEN is a "parse error"."""
        for frame, reason in (("2", "transport error"), ("0", "parse error"), ("5", "parse error")):
            h = Harness(self)
            _, ws = self.open(h)
            ws.send_text(frame)
            self.assertEqual(h.disconnects(), [reason], frame)
            self.assertTrue(ws.disconnected)
            h.assert_clean()

    def test_client_close_packet(self):
        """A C{1} from the client closes the session ("transport close") and the socket."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_text("1")
        self.assertEqual(h.disconnects(), ["transport close"])
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_client_close_frame(self):
        """A WebSocket close from the client ends the session ("transport close")."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_close()
        self.assertEqual(h.disconnects(), ["transport close"])
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_client_drops_tcp(self):
        """A dropped TCP connection ends the session ("transport close")."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.drop()
        self.assertEqual(h.disconnects(), ["transport close"])
        h.assert_clean()

    def test_oversize_message(self):
        """
        A message over max_http_buffer_size gets a close frame with code 1009
        (not a dropped TCP connection) and ends the session.
        """
        h = Harness(self, max_http_buffer_size=100)
        _, ws = self.open(h)
        ws.send_text("4" + "x" * 99)
        self.assertEqual(h.messages(), ["x" * 99])
        ws.send_text("4" + "x" * 100)
        received = ws.received()
        self.assertEqual(received[-1], ("close", 1009))
        self.assertEqual(ws.close_code, 1009)
        self.assertTrue(ws.disconnected)
        self.assertEqual(h.messages(), ["x" * 99])
        self.assertEqual(h.disconnects(), ["transport error"])
        h.assert_clean()

    def test_invalid_utf8(self):
        """A text frame that is not UTF-8 gets close code 1007: "transport error"."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_raw(client_frame(OP_TEXT, b"4\xff\xfe"))
        self.assertEqual(ws.close_code, 1007)
        self.assertEqual(h.disconnects(), ["transport error"])
        h.assert_clean()

    def test_oversize_fragmented_message(self):
        """A message over the limit in several small frames is refused with 1009 too."""
        h = Harness(self, max_http_buffer_size=100)
        _, ws = self.open(h)
        ws.send_raw(client_frame(OP_TEXT, b"4" + b"x" * 60, fin=False))
        ws.send_raw(client_frame(0, b"x" * 60, fin=True))
        self.assertEqual(ws.close_code, 1009)
        self.assertEqual(h.messages(), [])
        h.assert_clean()

    def test_server_close(self):
        """EngineIOSocket.close() sends C{1} and a close frame 1000; on_disconnect once."""
        h = Harness(self)
        sid, ws = self.open(h)
        h.socket(sid).close()
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        self.assertTrue(ws.disconnected)
        self.assertEqual(h.disconnects(), ["forced close"])
        h.assert_clean()

    def test_close_handshake_timer_on_server_reactor(self):
        """
        A client that never answers the close frame is dropped after
        autobahn's close-handshake timeout, timed on the server's reactor (not
        the global one): the session is gone at once and the TCP connection
        once the clock moves.
        """
        h = Harness(self)
        sid, ws = self.open(h, auto_close_reply=False)
        h.socket(sid).close()
        self.assertEqual(ws.received(), ["1", ("close", 1000)])
        self.assertEqual(h.server.sockets, {})
        self.assertFalse(ws.disconnected)
        self.assertNotEqual(h.clock.getDelayedCalls(), [])
        h.advance(1)
        self.assertTrue(ws.disconnected)
        h.assert_clean()

    def test_send_while_peer_closing(self):
        """
        Sending to a socket whose client has sent its close frame (before the
        connection is gone) does not raise; nothing is written.
        """
        h = Harness(self)
        sid, ws = self.open(h)
        socket = h.socket(sid)
        protocol = ws.server_io.protocol
        # Deliver the close frame straight to the server protocol, without
        # pumping: the TCP connection is not closed yet.
        protocol.dataReceived(client_frame(OP_CLOSE, struct.pack("!H", 1000)))
        self.assertFalse(socket.writable)
        socket.send("late")
        socket.send(b"late")
        socket.send(OutgoingMessage("late"))
        socket.close()
        h.advance(25)
        self.assertEqual(h.disconnects(), ["forced close"])
        self.assertEqual([f for f in ws.received() if f != ("close", 1000)], [])
        h.assert_clean()

    def test_on_connect_sends(self):
        """Messages sent from on_connect follow the OPEN packet."""
        h = Harness(self)
        h.on_connect = lambda socket: socket.send("hello")
        ws = h.websocket("EIO=4&transport=websocket")
        frames = ws.received()
        open_sid(frames[0])
        self.assertEqual(frames[1:], ["4hello"])

    def test_on_connect_closes(self):
        """A WebSocket session closed from on_connect sends OPEN, C{1}, and closes."""
        h = Harness(self)
        h.on_connect = lambda socket: socket.close()
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual(ws.status, 101)
        frames = ws.received()
        open_sid(frames[0])
        self.assertEqual(frames[1:], ["1", ("close", 1000)])
        self.assertEqual(h.disconnects(), ["forced close"])
        h.assert_clean()

    def test_failed_opening_handshake(self):
        """
        If the WebSocket handshake fails after the session was created (here:
        a malformed permessage-deflate offer), the session ends with
        "transport close" and nothing is left behind.
        """
        h = Harness(self, per_message_deflate=True)
        ws = h.websocket("EIO=4&transport=websocket",
                         headers={"Sec-WebSocket-Extensions": "permessage-deflate; bogus=1"})
        self.assertNotEqual(ws.status, 101)
        self.assertEqual(len([e for e in h.events if e[0] == "connect"]),
                         len(h.disconnects()))
        h.assert_clean()

    def test_per_message_deflate(self):
        """With per_message_deflate on, an offer is accepted and messages still flow."""
        h = Harness(self, per_message_deflate=True)
        ws = h.websocket("EIO=4&transport=websocket",
                         headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
        self.assertEqual(ws.status, 101)
        self.assertIn("permessage-deflate", ws.headers.get("sec-websocket-extensions", [""])[0])

    def test_per_message_deflate_honours_compress_false(self):
        """
        With permessage-deflate negotiated, a message prepared with
        C{compress=False} goes out uncompressed (RSV1 clear, the plain
        packet), while the default one is compressed (RSV1 set).
        """
        from txsocketio.engineio.server import OutgoingMessage

        h = Harness(self, per_message_deflate=True)
        ws = h.websocket("EIO=4&transport=websocket",
                         headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
        import zlib

        [(_, compressed)] = ws.frames
        opening = zlib.decompressobj(-15).decompress(compressed + b"\x00\x00\xff\xff").decode()
        socket = h.socket(open_sid(opening))
        text = "x" * 300
        socket.send(OutgoingMessage(text))
        socket.send(OutgoingMessage(text, compress=False))
        ws._parse()
        self.assertEqual(ws.rsv1[-2:], [True, False])
        self.assertLess(len(ws.frames[-2][1]), 100)
        self.assertEqual(ws.frames[-1][1], b"4" + text.encode())

    def test_per_message_deflate_off(self):
        """By default no compression extension is negotiated."""
        h = Harness(self)
        ws = h.websocket("EIO=4&transport=websocket",
                         headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
        self.assertNotIn("sec-websocket-extensions", ws.headers)

    def test_websocket_sid_gets_no_polling(self):
        """Polling requests on a WebSocket-only session are 400."""
        h = Harness(self)
        sid, _ = self.open(h)
        response = h.poll(sid).result()
        self.assertEqual((response.code, response.body), (400, BAD_REQUEST))


# -- the connection's producer: the first frame, a stalled reader -----------------------


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Parse unmasked server frames (opcode, payload)."""
    frames = []
    while len(data) >= 2:
        n, offset = data[1] & 0x7F, 2
        if n == 126:
            n, offset = struct.unpack("!H", data[2:4])[0], 4
        elif n == 127:
            n, offset = struct.unpack("!Q", data[2:10])[0], 10
        frames.append((data[0] & 0x0F, data[offset:offset + n]))
        data = data[offset + n:]
    return frames


class StringConnection:
    """One WebSocket connection to the harness's Site over a StringTransport:
    every write the server makes can be seen before anything is 'sent'."""

    def __init__(self, h: Harness, query: str) -> None:
        from twisted.internet.address import IPv4Address
        from twisted.internet.testing import StringTransport

        self.h = h
        self.protocol = h.site.buildProtocol(IPv4Address("TCP", "10.0.0.2", 40000))
        self.transport = StringTransport(hostAddress=IPv4Address("TCP", "10.0.0.1", 80),
                                         peerAddress=IPv4Address("TCP", "10.0.0.2", 40000))
        self.transport.protocol = self.protocol  # as a TCP transport has (the takeover sets it)
        self.protocol.makeConnection(self.transport)
        self.protocol.dataReceived(
            (f"GET /engine.io/?{query} HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n").encode("latin-1"))

    def take(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data

    def drained(self) -> None:
        """The kernel took everything: Twisted asks its producer for more."""
        self.transport.producer.resumeProducing()


class FirstFrameTests(SynchronousTestCase):
    """The OPEN packet goes out in a write of its own after the 101 (as Node's server)."""

    def check(self, eio: int) -> None:
        h = Harness(self, allow_eio3=True)
        conn = StringConnection(h, f"EIO={eio}&transport=websocket")
        head = conn.take()
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        self.assertTrue(head.endswith(b"\r\n\r\n"), "nothing may follow the 101 in its write")
        [sid] = h.server.sockets
        self.assertFalse(h.socket(sid).writable)
        conn.drained()
        [(opcode, payload)] = server_frames(conn.take())
        self.assertEqual(opcode, OP_TEXT)
        self.assertEqual(open_sid(payload.decode()), sid)
        self.assertTrue(h.socket(sid).writable)

    def test_eio4(self):
        """EIO=4: the 101 alone, then the OPEN frame once the 101 is written."""
        self.check(4)

    def test_eio3(self):
        """EIO=3: the same."""
        self.check(3)

    def test_messages_before_open_wait(self):
        """Messages sent before the 101 is out follow the OPEN packet, in order."""
        h = Harness(self)
        h.on_connect = lambda socket: socket.send("hello")
        conn = StringConnection(h, "EIO=4&transport=websocket")
        self.assertTrue(conn.take().endswith(b"\r\n\r\n"))
        conn.drained()
        frames = [p.decode() for _, p in server_frames(conn.take())]
        self.assertEqual([f[0] for f in frames], ["0", "4"])
        self.assertEqual(frames[1], "4hello")


class BurstTests(SynchronousTestCase):
    """A burst larger than max_buffered_bytes to a reader that keeps up."""

    def test_burst_over_the_cap_is_delivered(self):
        """One handler's burst may pass max_buffered_bytes while Twisted's
        buffer is full: a client that reads it before buffer_drain_timeout
        gets all of it, in order, and stays connected."""
        h = Harness(self, max_buffered_bytes=1000)
        conn = StringConnection(h, "EIO=4&transport=websocket")
        conn.drained()
        conn.take()
        [sid] = h.server.sockets
        socket = h.socket(sid)
        conn.transport.producer.pauseProducing()
        for i in range(30):
            socket.send(f"{i:03d}" + "x" * 97)
        h.clock.advance(1)
        conn.drained()
        frames = [p for _, p in server_frames(conn.take())]
        self.assertEqual([f[1:4] for f in frames], [b"%03d" % i for i in range(30)])
        h.clock.advance(10)
        self.assertFalse(socket.closed)


class PartialWriteTests(SynchronousTestCase):
    """A resumed connection takes only what fits before Twisted pauses it
    again; the rest stays in the session, where the cap counts it."""

    def test_stalled_after_one_resume_is_cut_off(self):
        """A reader that takes one frame and stalls again: the frames Twisted
        did not take go back to the session (first in line), and with no
        further progress the client is cut off at buffer_drain_timeout, its
        queue freed; what it did take was written in order."""
        h = Harness(self, max_buffered_bytes=300_000)
        conn = StringConnection(h, "EIO=4&transport=websocket")
        conn.drained()
        conn.take()
        [sid] = h.server.sockets
        socket = h.socket(sid)
        producer = conn.transport.producer
        producer.pauseProducing()
        for i in range(30):
            socket.send(f"{i:03d}" + "x" * 30_000)
        real_write, real_sequence = conn.transport.write, conn.transport.writeSequence

        def write_then_full(data: bytes) -> None:
            real_write(data)
            producer.pauseProducing()  # as Twisted does once its buffer passes bufferSize

        def sequence_then_full(data: list[bytes]) -> None:
            real_sequence(data)
            producer.pauseProducing()

        conn.transport.write = write_then_full  # type: ignore[method-assign]
        conn.transport.writeSequence = sequence_then_full  # type: ignore[method-assign]
        conn.drained()
        frames = [p for _, p in server_frames(conn.take())]
        # Queued frames are handed over together up to about 64 KiB (BATCH_BYTES): three of 30 kB.
        self.assertEqual([f[1:4] for f in frames], [b"000", b"001", b"002"])
        self.assertEqual(len(socket.session.outbox), 27)
        self.assertFalse(socket.closed)
        h.clock.advance(5)
        self.assertTrue(socket.closed)
        self.assertEqual(h.disconnects(), ["transport error"])
        self.assertEqual(socket.session.outbox, [])

    def test_resumed_inside_the_write(self):
        """When the push to the kernel empties Twisted's buffer during the
        write (Twisted then resumes us at once, from inside it), the socket
        goes on writing: no resume would come later."""
        h = Harness(self, max_buffered_bytes=1000)
        conn = StringConnection(h, "EIO=4&transport=websocket")
        conn.drained()
        conn.take()
        [sid] = h.server.sockets
        socket = h.socket(sid)
        producer = conn.transport.producer
        producer.pauseProducing()
        for i in range(30):
            socket.send(f"{i:03d}" + "x" * 97)
        real_write = conn.transport.write

        def write_then_full(data: bytes) -> None:
            real_write(data)
            producer.pauseProducing()  # the buffer passed bufferSize...

        real_push = producer.protocol.push  # the WebSocket transport is the connection's producer

        def push_then_sent() -> None:
            real_push()
            producer.resumeProducing()  # ...and the push to the kernel took it all

        conn.transport.write = write_then_full  # type: ignore[method-assign]
        producer.protocol.push = push_then_sent
        conn.drained()
        frames = [p[1:4] for _, p in server_frames(conn.take())]
        self.assertEqual(frames, [b"%03d" % i for i in range(30)])
        self.assertEqual(socket.session.outbox, [])

    def test_progress_resets_the_deadline(self):
        """A slow reader that keeps taking frames is not cut off."""
        h = Harness(self, max_buffered_bytes=1000)
        conn = StringConnection(h, "EIO=4&transport=websocket")
        conn.drained()
        conn.take()
        [sid] = h.server.sockets
        socket = h.socket(sid)
        producer = conn.transport.producer
        producer.pauseProducing()
        for i in range(30):
            socket.send(f"{i:03d}" + "x" * 97)
        real_write = conn.transport.write

        def write_then_full(data: bytes) -> None:
            real_write(data)
            producer.pauseProducing()

        conn.transport.write = write_then_full  # type: ignore[method-assign]
        got = []
        for _ in range(30):
            h.clock.advance(1)  # 30 s in all: past one drain timeout many times over, before a ping timeout
            conn.drained()
            got += [p[1:4] for _, p in server_frames(conn.take()) if p.startswith(b"4")]
        self.assertEqual(got, [b"%03d" % i for i in range(30)])
        self.assertFalse(socket.closed)


class StalledReaderTests(SynchronousTestCase):
    """max_buffered_bytes on a WebSocket whose client stops reading."""

    def open(self, cap: int) -> tuple[Harness, StringConnection, EngineIOSocket]:
        h = Harness(self, max_buffered_bytes=cap)
        conn = StringConnection(h, "EIO=4&transport=websocket")
        conn.drained()
        conn.take()
        [sid] = h.server.sockets
        return h, conn, h.socket(sid)

    def test_paused_queues_then_resumes(self):
        """While Twisted has paused us (its buffer is full) the socket is not
        writable (volatile emits are dropped) and messages wait in the session;
        when it resumes them they are written, in order."""
        h, conn, socket = self.open(cap=1000)
        conn.transport.producer.pauseProducing()
        self.assertFalse(socket.writable)
        socket.send("a")
        socket.send_many(["b", OutgoingMessage("c")])
        self.assertEqual(conn.take(), b"")
        conn.drained()
        self.assertEqual([p for _, p in server_frames(conn.take())], [b"4a", b"4b", b"4c"])
        self.assertTrue(socket.writable)

    def test_several_messages_in_one_write(self):
        """A text packet and its binary attachment (one send_many) reach the
        connection in one writeSequence, so they leave in one send."""
        h = Harness(self)
        conn = StringConnection(h, "EIO=4&transport=websocket")
        conn.drained()
        conn.take()
        calls: list[Any] = []
        real = conn.transport.writeSequence
        conn.transport.writeSequence = lambda data: (calls.append(list(data)), real(data))  # type: ignore
        [sid] = h.server.sockets
        h.socket(sid).send_many(['451-["a",{"_placeholder":true,"num":0}]', b"\x01" * 70_000])
        self.assertEqual(len(calls), 1)
        self.assertEqual([(op, p[:3]) for op, p in server_frames(conn.take())],
                         [(OP_TEXT, b"445"), (OP_BINARY, b"\x01\x01\x01")])

    def test_queued_broadcast_shares_one_frame(self):
        """A message sent to several paused readers waits as one shared
        frame: when each resumes, its transport is given that same bytes
        object (no copy per recipient), in order with the other messages."""
        h = Harness(self, max_buffered_bytes=100_000)
        conns = [StringConnection(h, "EIO=4&transport=websocket") for _ in range(2)]
        written: list[list[bytes]] = []
        for conn in conns:
            conn.drained()
            conn.take()
            log: list[bytes] = []
            written.append(log)
            real, real_sequence = conn.transport.write, conn.transport.writeSequence

            def write(data: bytes, real: Any = real, log: list[bytes] = log) -> None:
                log.append(data)
                real(data)

            def sequence(data: list[bytes], real: Any = real_sequence, log: list[bytes] = log) -> None:
                log.extend(data)
                real(data)

            conn.transport.write = write  # type: ignore[method-assign]
            conn.transport.writeSequence = sequence  # type: ignore[method-assign]
            conn.transport.producer.pauseProducing()
        sockets = [h.socket(sid) for sid in h.server.sockets]
        message = OutgoingMessage("tick" * 1000)
        for socket in sockets:
            socket.send_many(["a", message])
        for conn in conns:
            self.assertEqual(conn.take(), b"")
            conn.drained()
            self.assertEqual([p[:5] for _, p in server_frames(conn.take())], [b"4a", b"4tick"])
        [first_a, first_tick], [second_a, second_tick] = written
        self.assertIs(first_tick, second_tick)
        self.assertIs(first_tick, message.prepared(4).payloadHybi)

    def test_cut_off_at_the_cap(self):
        """Past max_buffered_bytes a client that does not catch up within
        buffer_drain_timeout is disconnected ("transport error"), the
        connection aborted (no close frame can get through) and the queued
        messages freed; the session is gone once the connection is."""
        h, conn, socket = self.open(cap=1000)
        conn.transport.producer.pauseProducing()
        for _ in range(10):
            socket.send("x" * 100)
        socket.send("x")
        self.assertFalse(socket.closed)
        h.clock.advance(4.9)
        self.assertFalse(socket.closed)
        h.clock.advance(0.1)
        self.assertTrue(socket.closed)
        self.assertEqual(h.disconnects(), ["transport error"])
        self.assertEqual(socket.session.outbox, [])
        self.assertEqual(h.server.sockets, {})
        self.assertTrue(conn.transport.disconnected)  # aborted
        self.assertEqual(conn.take(), b"")
        from twisted.internet.error import ConnectionAborted
        from twisted.python.failure import Failure

        conn.protocol.connectionLost(Failure(ConnectionAborted()))
        h.assert_clean()


class _PushableTransport(StringTransport):
    """A transport with the reactor's C{doWrite}, counting its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.pushes = 0

    def doWrite(self) -> None:
        self.pushes += 1


class AutobahnSeamTests(SynchronousTestCase):
    """L{txsocketio.engineio._autobahn}: options on the class, pushes per turn."""

    def _protocol(self, transport: StringTransport, **extra: Any) -> Any:
        factory = WebSocketServerFactory(url=None)
        use_reactor(factory, Clock())  # its handshake timer, off the global reactor
        accept = lambda offers: None  # noqa: E731
        factory.setProtocolOptions(maxMessagePayloadSize=123, perMessageCompressionAccept=accept)
        cls = configured_protocol(factory, FramingProtocol, **extra)
        protocol = cls()
        protocol.factory = factory
        protocol.makeConnection(transport)
        return protocol, accept

    def test_options_on_the_class(self):
        """
        A protocol of C{configured_protocol} reads the factory's options
        through its class (a callback option stays a plain function) and
        holds no per-connection copy of them.
        """
        protocol, accept = self._protocol(StringTransport())
        self.assertEqual(protocol.maxMessagePayloadSize, 123)
        self.assertIs(protocol.perMessageCompressionAccept, accept)
        self.assertNotIn("maxMessagePayloadSize", vars(protocol))
        self.assertNotIn("perMessageCompressionAccept", vars(protocol))

    def test_push_within_budget(self):
        """
        C{push} calls the connection's C{doWrite} while the turn's budget
        lasts, and not on a transport that is disconnecting or lacks one.
        """
        clock = Clock()
        transport = _PushableTransport()
        protocol, _ = self._protocol(transport, push_budget=TurnBudget(clock, 2))
        for _ in range(3):
            protocol.push()
        self.assertEqual(transport.pushes, 2)
        clock.advance(0)
        transport.disconnecting = True
        protocol.push()
        self.assertEqual(transport.pushes, 2)
        plain, _ = self._protocol(StringTransport(), push_budget=TurnBudget(clock, 2))
        plain.push()  # no doWrite: nothing to do, nothing raised

    def test_no_push_when_sent_at_once(self):
        """
        A connection that C{sends_at_once} (L{txsocketio.eager.EagerServer})
        is not pushed and takes nothing from the budget.
        """
        clock = Clock()
        transport = _PushableTransport()
        transport.sends_at_once = True
        budget = TurnBudget(clock, 1)
        protocol, _ = self._protocol(transport, push_budget=budget)
        protocol.push()
        self.assertEqual(transport.pushes, 0)
        self.assertTrue(budget.take())


class PlainFrameTests(SynchronousTestCase):
    """frame_pieces builds the bytes of autobahn's PreparedMessage."""

    def test_length_encodings(self):
        for n in (0, 1, 125, 126, 127, 65535, 65536, 70000):
            for binary in (False, True):
                payload = b"x" * n
                self.assertEqual(b"".join(frame_pieces(payload, binary)),
                                 PreparedMessage(payload, binary, False, False).payloadHybi, (n, binary))

    def test_large_payload_not_copied(self):
        payload = b"z" * 70_000
        header, body = frame_pieces(payload, True)
        self.assertIs(body, payload)
        self.assertEqual(len(frame_pieces(b"z" * 4095, True)), 1)

    @given(st.binary(max_size=300), st.booleans())
    def test_same_as_autobahn(self, payload, binary):
        self.assertEqual(b"".join(frame_pieces(payload, binary)),
                         PreparedMessage(payload, binary, False, False).payloadHybi)


def _masked(payload: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class UnmaskTests(SynchronousTestCase):
    """The unmasking of frames read by take_frames: NVX's native code on one
    buffer (where autobahn uses NVX), else autobahn's masker; either way the
    bytes the client masked."""

    def implementations(self) -> list[Any]:
        found = [_autobahn._unmask_joined]
        if _autobahn._NVX is not None:
            found.append(_autobahn._unmask_native)
        return found

    @given(st.binary(min_size=1, max_size=3000), st.binary(min_size=4, max_size=4),
           st.lists(st.integers(min_value=0, max_value=3000), max_size=4), st.booleans())
    def test_pieces_unmasked(self, payload, mask, cuts, views):
        """Any split of a payload into pieces (bytes or views) unmasks to the payload."""
        masked = _masked(payload, mask)
        bounds = [0, *sorted(min(c, len(masked)) for c in cuts), len(masked)]
        pieces: list[Any] = [masked[a:b] for a, b in zip(bounds, bounds[1:])]
        if views:
            pieces = [memoryview(p) for p in pieces]
        for unmask in self.implementations():
            result = unmask(mask, pieces, len(payload))
            self.assertIsInstance(result, bytes)
            self.assertEqual(result, payload, unmask)

    def test_native_used_where_autobahn_uses_nvx(self):
        """Frames in pieces go through the native path exactly when autobahn's masker is NVX's."""
        import autobahn.websocket

        # Autobahn before 25 (the one for Python 3.10) has no NVX masker, nor the flag.
        uses_nvx = getattr(autobahn.websocket, "USES_NVX", False)
        expected = _autobahn._unmask_native if uses_nvx else _autobahn._unmask_joined
        self.assertIs(_autobahn._unmask_pieces, expected)

    def test_native_refuses_pieces_of_the_wrong_length(self):
        """The native path writes into a buffer that is not zeroed: pieces
        longer or shorter than the payload are refused, never read past."""
        if _autobahn._NVX is None:
            # No native masker here: pieces are joined, nothing unzeroed exists to hand out.
            self.assertIs(_autobahn._unmask_pieces, _autobahn._unmask_joined)
            return
        for pieces in ([b"abc", b"de"], [b"abc"]):
            self.assertRaises(ValueError, _autobahn._unmask_native, b"\x01\x02\x03\x04", pieces, 4)

    def test_complete_frame_around_the_native_threshold(self):
        """A payload complete in the read, short (Python) or long (native),
        at an offset in the read: the client's bytes."""
        mask = b"\x9a\x01\xff\x10"
        for n in (0, 1, 5, _autobahn._NATIVE_FROM - 1, _autobahn._NATIVE_FROM, _autobahn._NATIVE_FROM + 3):
            payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
            data = b"junk" + mask + _masked(payload, mask) + b"tail"
            self.assertEqual(_autobahn._unmask(data, 8, n), payload, n)

    def test_frames_read_without_nvx(self):
        """With autobahn's masker instead of NVX, frames complete in a read and
        frames in pieces are delivered the same."""
        self.patch(_autobahn, "_NVX", None)
        self.patch(_autobahn, "_unmask_pieces", _autobahn._unmask_joined)
        big = bytes(range(256)) * 300
        data = client_frame(OP_TEXT, b"4" + "\u00e9".encode() * 400) + client_frame(0x2, big)
        for size in (len(data), 30_000):
            h = Harness(self)
            ws = h.websocket("EIO=4&transport=websocket")
            open_sid(ws.received()[0])
            for i in range(0, len(data), size):
                ws.send_raw(data[i:i + size])
            self.assertEqual(h.messages(), ["\u00e9" * 400, big], size)


class FramePathTests(SynchronousTestCase):
    """FramingProtocol.take_frames: plain data frames read by txsocketio, everything
    else by Autobahn, with the same results either way."""

    def open(self, h: Harness) -> tuple[str, WebSocketClient]:
        ws = h.websocket("EIO=4&transport=websocket")
        return open_sid(ws.received()[0]), ws

    def protocol(self, h: Harness, sid: str) -> Any:
        carrier: Any = h.socket(sid).carrier
        return carrier.protocol

    def frames(self) -> bytes:
        return b"".join([client_frame(OP_TEXT, "4h\u00e9".encode()), client_frame(0x2, b"\x00\xff"),
                         client_frame(OP_TEXT, b"4" + b"y" * 300), client_frame(OP_TEXT, b"4"),
                         client_frame(0x2, bytes(range(256)) * 200)])

    def test_one_read_and_byte_by_byte_agree(self):
        """Frames in one read and the same bytes one at a time (Autobahn's path)
        deliver the same messages and the same traffic counts."""
        results = []
        for chunked in (False, True):
            h = Harness(self)
            sid, ws = self.open(h)
            data = self.frames()
            if chunked:
                for i in range(len(data)):
                    ws.send_raw(data[i:i + 1])
            else:
                ws.send_raw(data)
            stats = self.protocol(h, sid).trafficStats
            results.append((h.messages(), stats.incomingOctetsWireLevel, stats.incomingOctetsAppLevel,
                            stats.incomingWebSocketFrames, stats.incomingWebSocketMessages))
        self.assertEqual(results[0], results[1])
        self.assertEqual(results[0][0], ["h\u00e9", b"\x00\xff", "y" * 300, "", bytes(range(256)) * 200])

    def test_plain_frames_skip_autobahns_frame_machinery(self):
        """Plain frames at the start of a read skip Autobahn's onFrameBegin; from a
        ping on, the rest of that read is Autobahn's; the next read is direct again."""
        h = Harness(self)
        sid, ws = self.open(h)
        protocol = self.protocol(h, sid)
        begun: list[int] = []
        original = protocol.onFrameBegin
        protocol.onFrameBegin = lambda: (begun.append(protocol.current_frame.opcode), original())[1]
        ws.send_raw(client_frame(OP_TEXT, b"4a") + client_frame(0x9, b"p") + client_frame(OP_TEXT, b"4b"))
        self.assertEqual(begun, [0x9, OP_TEXT])
        ws.send_raw(client_frame(OP_TEXT, b"4c"))
        self.assertEqual(begun, [0x9, OP_TEXT])
        self.assertEqual(h.messages(), ["a", "b", "c"])
        self.assertIn((0xA, b"p"), ws.frames)  # the pong, by Autobahn

    def test_fragmented_message_then_plain_frame(self):
        """A fragmented message is assembled by Autobahn; the plain frame after it is read directly."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_raw(client_frame(OP_TEXT, b"4ab", fin=False) + client_frame(0, b"cd", fin=True)
                    + client_frame(OP_TEXT, b"4e"))
        self.assertEqual(h.messages(), ["abcd", "e"])

    def test_invalid_utf8_after_a_good_frame(self):
        """A good frame is delivered, the invalid one after it in the same read gets Autobahn's 1007."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_raw(client_frame(OP_TEXT, b"4ok") + client_frame(OP_TEXT, b"4\xed\xa0\x80"))
        self.assertEqual(h.messages(), ["ok"])
        self.assertEqual(ws.close_code, 1007)
        self.assertEqual(h.disconnects(), ["transport error"])

    def test_invalid_utf8_in_a_long_text_frame(self):
        """A text frame long enough to be unmasked natively is still checked: 1007."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_raw(client_frame(OP_TEXT, b"4" + b"a" * 600 + b"\xed\xa0\x80"))
        self.assertEqual(h.messages(), [])
        self.assertEqual(ws.close_code, 1007)

    def test_unmasked_frame_is_a_protocol_error(self):
        """An unmasked client frame is left to Autobahn, which closes with 1002."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_raw(bytes([0x81, 2]) + b"4x")
        self.assertEqual(h.messages(), [])
        self.assertEqual(ws.close_code, 1002)

    def test_non_minimal_length_is_a_protocol_error(self):
        """A 16-bit length under 126 is not read directly: Autobahn closes with 1002."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_raw(bytes([0x81, 0x80 | 126, 0, 2]) + b"\x00\x00\x00\x00" + b"4x")
        self.assertEqual(h.messages(), [])
        self.assertEqual(ws.close_code, 1002)

    def test_rsv_bit_is_a_protocol_error(self):
        """A frame with an RSV bit and no extension goes to Autobahn: 1002."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_raw(client_frame(OP_TEXT, b"4x", rsv=1))
        self.assertEqual(h.messages(), [])
        self.assertEqual(ws.close_code, 1002)

    def test_binary_frame_in_pieces(self):
        """A binary frame whose payload comes in several reads (16- and 64-bit
        lengths) is read directly, delivered once complete, with the frame
        after it; the same messages and counts as in one read and as
        Autobahn's path (7-byte reads: the header is never whole)."""
        big, small = bytes(range(256)) * 300, b"\x07" * 1000
        data = client_frame(0x2, big) + client_frame(0x2, small) + client_frame(OP_TEXT, b"4z")
        results = []
        for size in (len(data), 30_000, 7):
            h = Harness(self)
            sid, ws = self.open(h)
            protocol = self.protocol(h, sid)
            begun: list[int] = []
            original = protocol.onFrameBegin
            protocol.onFrameBegin = lambda: (begun.append(1), original())[1]
            for i in range(0, len(data), size):
                ws.send_raw(data[i:i + size])
            self.assertIsNone(protocol.partial_frame)
            stats = protocol.trafficStats
            results.append((h.messages(), stats.incomingOctetsWireLevel, stats.incomingOctetsAppLevel,
                            stats.incomingWebSocketFrames, stats.incomingWebSocketMessages))
            if size == 30_000:
                self.assertEqual(begun, [])  # neither frame went through Autobahn's frame machinery
        self.assertEqual(results[0], results[1])
        self.assertEqual(results[1], results[2])
        self.assertEqual(results[0][0], [big, small, "z"])

    def test_binary_frame_begun_after_a_frame_in_the_same_read(self):
        """A binary attachment's header frame and the start of the attachment in
        one read, the rest in the next (Socket.IO's binary packets): the same
        messages and traffic counts as Autobahn's path (1-byte reads), and
        what follows the attachment is read too."""
        attachment = bytes(range(256)) * 256
        data = (client_frame(OP_TEXT, b'451-0["echo",{"_placeholder":true,"num":0}]')
                + client_frame(0x2, attachment) + client_frame(OP_TEXT, b"4z"))
        results = []
        for cut in (40_000, None):
            h = Harness(self)
            sid, ws = self.open(h)
            protocol = self.protocol(h, sid)
            if cut is None:
                for i in range(len(data)):
                    ws.send_raw(data[i:i + 1])
            else:
                ws.send_raw(data[:cut])
                self.assertIsNotNone(protocol.partial_frame)
                ws.send_raw(data[cut:])
            self.assertIsNone(protocol.partial_frame)
            stats = protocol.trafficStats
            results.append((h.messages(), stats.incomingOctetsWireLevel, stats.incomingOctetsAppLevel,
                            stats.incomingWebSocketFrames, stats.incomingWebSocketMessages))
        self.assertEqual(results[0], results[1])
        self.assertEqual(results[0][0], ['51-0["echo",{"_placeholder":true,"num":0}]', attachment, "z"])
        self.assertEqual(results[0][1], len(data))

    def test_long_text_frame_is_autobahns(self):
        """A text frame that is not complete in one read goes to Autobahn (which
        validates UTF-8 as it comes)."""
        h = Harness(self)
        sid, ws = self.open(h)
        data = client_frame(OP_TEXT, b"4" + "\u00e9".encode() * 200)
        ws.send_raw(data[:100])
        self.assertIsNone(self.protocol(h, sid).partial_frame)
        self.assertIsNotNone(self.protocol(h, sid).current_frame)
        ws.send_raw(data[100:])
        self.assertEqual(h.messages(), ["\u00e9" * 200])

    def test_binary_frame_over_the_limit_in_pieces(self):
        """A binary frame announcing more than max_http_buffer_size is left to
        Autobahn from its header: 1009, nothing kept."""
        h = Harness(self, max_http_buffer_size=1000)
        sid, ws = self.open(h)
        ws.send_raw(client_frame(0x2, b"x" * 1001)[:500])
        self.assertIsNone(self.protocol(h, sid).partial_frame)
        self.assertEqual(ws.close_code, 1009)
        self.assertEqual(h.messages(), [])

    def test_non_minimal_64bit_length_is_a_protocol_error(self):
        """A 64-bit length under 65536 is Autobahn's to refuse (1002)."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_raw(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 2) + b"\x00\x00\x00\x00" + b"ab")
        self.assertEqual(h.messages(), [])
        self.assertEqual(ws.close_code, 1002)

    def test_close_frame_after_a_frame_in_pieces(self):
        """The close frame that follows a completed binary frame in the same read is Autobahn's."""
        h = Harness(self)
        _, ws = self.open(h)
        data = client_frame(0x2, b"q" * 2000) + client_frame(OP_CLOSE, struct.pack("!H", 1000))
        ws.send_raw(data[:1000])
        ws.send_raw(data[1000:])
        self.assertEqual(h.messages(), [b"q" * 2000])
        self.assertEqual(ws.close_code, 1000)

    def test_frame_completed_after_the_server_closed(self):
        """The server starts the closing handshake while a frame is arriving:
        the frame is still delivered, as Autobahn does (7-byte reads: its path).
        The client does not answer the close frame in the middle of its own."""
        data = client_frame(0x2, b"q" * 2000)
        for first, step in ((1000, 1000), (7, 7)):
            h = Harness(self)
            ws = h.websocket("EIO=4&transport=websocket", auto_close_reply=False)
            sid = open_sid(ws.received()[0])
            protocol = self.protocol(h, sid)
            ws.send_raw(data[:first])
            protocol.sendClose(1000)
            for i in range(first, len(data), step):
                ws.send_raw(data[i:i + step])
            self.assertIsNone(protocol.partial_frame)
            self.assertEqual(h.messages(), [b"q" * 2000], step)

    def test_connection_lost_in_the_middle_of_a_frame(self):
        """The client goes with half a frame sent: nothing delivered, nothing kept."""
        h = Harness(self)
        sid, ws = self.open(h)
        protocol = self.protocol(h, sid)
        ws.send_raw(client_frame(0x2, b"q" * 2000)[:1000])
        self.assertIsNotNone(protocol.partial_frame)
        ws.drop()
        self.assertIsNone(protocol.partial_frame)
        self.assertEqual(h.messages(), [])
        self.assertEqual(h.disconnects(), ["transport close"])

    def test_frame_over_the_limit_in_one_read(self):
        """A complete frame over max_http_buffer_size is not delivered: 1009 from Autobahn."""
        h = Harness(self, max_http_buffer_size=100)
        _, ws = self.open(h)
        ws.send_raw(client_frame(OP_TEXT, b"4" + b"x" * 99) + client_frame(OP_TEXT, b"4" + b"x" * 100))
        self.assertEqual(h.messages(), ["x" * 99])
        self.assertEqual(ws.close_code, 1009)

    def test_nothing_after_a_close_frame(self):
        """Data frames after the client's close frame in the same read are not delivered."""
        h = Harness(self)
        _, ws = self.open(h)
        ws.send_raw(client_frame(OP_TEXT, b"4a") + client_frame(OP_CLOSE, struct.pack("!H", 1000))
                    + client_frame(OP_TEXT, b"4b"))
        self.assertEqual(h.messages(), ["a"])
        self.assertEqual(ws.close_code, 1000)

    def test_handler_closing_stops_the_read(self):
        """When a message closes the session, the frames after it in the read are not delivered."""
        h = Harness(self)
        sid, ws = self.open(h)
        h.server.on_message = lambda socket, data: socket.close() if data == "stop" else h._message(socket, data)
        ws.send_raw(client_frame(OP_TEXT, b"4a") + client_frame(OP_TEXT, b"4stop") + client_frame(OP_TEXT, b"4b"))
        self.assertEqual(h.messages(), ["a"])
