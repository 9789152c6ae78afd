"""Tests for L{txsocketio.engineio.session}: the pure Engine.IO session.

No reactor and no clock: every call is given the time as a plain number,
exactly as the glue passes C{reactor.seconds()}.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txsocketio.engineio.packet import Packet, PacketType
from txsocketio.engineio.session import (
    BUFFER_HARD_FACTOR,
    MessageReceived,
    Session,
    SessionClosed,
    SessionConfig,
    SessionState,
    UpgradeExpired,
)
from txsocketio.errors import ProtocolError

CONFIG = SessionConfig(ping_interval=25.0, ping_timeout=20.0, upgrade_timeout=10.0,
                       max_payload=1_000_000)
# ping_interval + ping_timeout: how long a silent (v3) or poll-less client lasts.
SILENCE = CONFIG.ping_interval + CONFIG.ping_timeout

PING = Packet(PacketType.PING)
PONG = Packet(PacketType.PONG)
CLOSE = Packet(PacketType.CLOSE)


def drain(session: Session) -> list:
    """Every event the session has queued, oldest first."""
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


def receive(session: Session, packet: Packet, now: float) -> list:
    session.receive(packet, now)
    return drain(session)


def timer(session: Session, now: float) -> tuple[list, bool]:
    """handle_timer(now) -> (the other events, whether UpgradeExpired was queued)."""
    session.handle_timer(now)
    events = drain(session)
    expired = [e for e in events if isinstance(e, UpgradeExpired)]
    return [e for e in events if not isinstance(e, UpgradeExpired)], bool(expired)


def close(session: Session, reason: str, now: float, **kw) -> list:
    session.close(reason, now, **kw)
    return drain(session)


def lost(session: Session, reason: str = "transport close") -> list:
    session.transport_lost(reason)
    return drain(session)


def violation(session: Session) -> list:
    session.protocol_violation()
    return drain(session)


def polling(version: int = 4, now: float = 0.0, config: SessionConfig = CONFIG,
            upgrades: tuple[str, ...] = ("websocket",)) -> Session:
    """A polling session whose handshake GET has been answered at C{now}."""
    session = Session("sid", version, "polling", config, now, upgrades=upgrades)
    session.take_outbox()
    return session


def websocket(version: int = 4, now: float = 0.0, config: SessionConfig = CONFIG) -> Session:
    """A WebSocket-only session whose OPEN packet has been written."""
    session = Session("sid", version, "websocket", config, now)
    session.take_outbox()
    return session


class OpenPacketTests(SynchronousTestCase):
    """The OPEN packet: what the handshake tells the client."""

    def test_exact_keys_and_values(self):
        """
        The OPEN payload is compact JSON with exactly sid, upgrades,
        pingInterval, pingTimeout and maxPayload, the times in milliseconds.
        """
        session = Session("abc", 4, "polling", CONFIG, 0.0, upgrades=["websocket"])
        self.assertEqual(
            session.open_payload(),
            '{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,'
            '"pingTimeout":20000,"maxPayload":1000000}',
        )

    def test_first_packet_is_open(self):
        """A new session has exactly its OPEN packet queued."""
        session = Session("abc", 4, "polling", CONFIG, 0.0, upgrades=["websocket"])
        self.assertEqual(session.take_outbox(),
                         [Packet(PacketType.OPEN, session.open_payload())])
        self.assertEqual(session.outbox, [])

    def test_integer_milliseconds(self):
        """
        Fractional seconds become integer milliseconds, never rounded to whole
        seconds: 0.3 s is advertised as 300, 0.2 s as 200.
        """
        config = SessionConfig(ping_interval=0.3, ping_timeout=0.2)
        payload = json.loads(Session("s", 4, "polling", config, 0.0).open_payload())
        self.assertEqual((payload["pingInterval"], payload["pingTimeout"]), (300, 200))
        self.assertIs(type(payload["pingInterval"]), int)
        self.assertIs(type(payload["pingTimeout"]), int)

    def test_fractional_millisecond_rounding(self):
        """Times that are not whole milliseconds round to the nearest one."""
        config = SessionConfig(ping_interval=0.0016, ping_timeout=1.0004)
        payload = json.loads(Session("s", 4, "polling", config, 0.0).open_payload())
        self.assertEqual((payload["pingInterval"], payload["pingTimeout"]), (2, 1000))

    def test_max_payload(self):
        """maxPayload is the configured byte limit."""
        config = SessionConfig(max_payload=12345)
        payload = json.loads(Session("s", 4, "polling", config, 0.0).open_payload())
        self.assertEqual(payload["maxPayload"], 12345)

    def test_upgrades_as_given(self):
        """
        C{upgrades} is advertised as given: C{[]} by default (WebSocket-only
        sessions, or WebSocket disabled).
        """
        self.assertEqual(json.loads(Session("s", 4, "websocket", CONFIG, 0.0)
                                    .open_payload())["upgrades"], [])
        self.assertEqual(json.loads(Session("s", 3, "polling", CONFIG, 0.0,
                                            upgrades=["websocket"])
                                    .open_payload())["upgrades"], ["websocket"])

    def test_v3_same_payload(self):
        """A v3 session's OPEN payload has the same keys."""
        payload = json.loads(Session("s", 3, "polling", CONFIG, 0.0).open_payload())
        self.assertEqual(sorted(payload),
                         ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"])

    def test_bad_arguments(self):
        """An unknown version or transport is a ValueError (caller's mistake)."""
        self.assertRaises(ValueError, Session, "s", 5, "polling", CONFIG, 0.0)
        self.assertRaises(ValueError, Session, "s", 4, "flashsocket", CONFIG, 0.0)

    def test_new_session_is_open(self):
        """A new session is OPEN, not upgrading, with no close reason."""
        session = polling()
        self.assertIs(session.state, SessionState.OPEN)
        self.assertTrue(session.is_open)
        self.assertFalse(session.upgrading)
        self.assertIsNone(session.close_reason)


class ReceiveTests(SynchronousTestCase):
    """Packets from the client on the session's own transport."""

    def test_text_message(self):
        """A text MESSAGE is a MessageReceived event with the str."""
        self.assertEqual(receive(polling(), Packet(PacketType.MESSAGE, "hé"), 1.0),
                         [MessageReceived("hé")])

    def test_binary_message(self):
        """A binary MESSAGE is a MessageReceived event with the bytes."""
        self.assertEqual(receive(polling(), Packet(PacketType.MESSAGE, b"\x00\xff"), 1.0),
                         [MessageReceived(b"\x00\xff")])

    def test_noop(self):
        """A NOOP from the client does nothing."""
        session = polling()
        self.assertEqual(receive(session, Packet(PacketType.NOOP), 1.0), [])
        self.assertEqual(session.outbox, [])
        self.assertTrue(session.is_open)

    def test_client_close(self):
        """A CLOSE from the client ends the session at once: "transport close"."""
        session = polling()
        self.assertEqual(receive(session, CLOSE, 1.0), [SessionClosed("transport close")])
        self.assertIs(session.state, SessionState.CLOSED)
        self.assertEqual(session.close_reason, "transport close")
        self.assertEqual(session.outbox, [])

    def test_open_and_upgrade_are_protocol_errors(self):
        """
        OPEN and UPGRADE make no sense on the session's transport: they raise
        ProtocolError and leave the session as it was.
        """
        for kind in (PacketType.OPEN, PacketType.UPGRADE):
            session = polling()
            self.assertRaises(ProtocolError, session.receive, Packet(kind), 1.0)
            self.assertTrue(session.is_open)

    def test_protocol_violation(self):
        """protocol_violation() closes the session with "parse error"."""
        session = polling()
        self.assertEqual(violation(session), [SessionClosed("parse error")])
        self.assertIs(session.state, SessionState.CLOSED)

    def test_transport_lost(self):
        """
        transport_lost() closes an open session at once with the reason given
        (default "transport close").
        """
        session = websocket()
        self.assertEqual(lost(session), [SessionClosed("transport close")])
        self.assertIs(session.state, SessionState.CLOSED)
        session = websocket()
        self.assertEqual(lost(session, "transport error"),
                         [SessionClosed("transport error")])

    def test_send_queues(self):
        """send() queues packets in order; take_outbox() empties the queue."""
        session = polling()
        session.send(Packet(PacketType.MESSAGE, "a"), 0.0)
        session.send(Packet(PacketType.MESSAGE, b"b"), 0.0)
        self.assertEqual(session.take_outbox(), [Packet(PacketType.MESSAGE, "a"),
                                                 Packet(PacketType.MESSAGE, b"b")])
        self.assertEqual(session.take_outbox(), [])


class V4HeartbeatTests(SynchronousTestCase):
    """Engine.IO v4: the server pings, the client must pong."""

    def test_first_ping_after_interval(self):
        """
        The first deadline is ping_interval after the open; nothing happens
        before it, and at it a PING is queued.
        """
        session = websocket(now=100.0)
        self.assertEqual(session.next_deadline(), 125.0)
        self.assertEqual(timer(session, 124.999), ([], False))
        self.assertEqual(session.outbox, [])
        self.assertEqual(timer(session, 125.0), ([], False))
        self.assertEqual(session.take_outbox(), [PING])

    def test_pong_deadline(self):
        """
        After a PING the next deadline is ping_timeout later; no second PING
        is queued while waiting for the PONG.
        """
        session = websocket()
        timer(session, 25.0)
        session.take_outbox()
        self.assertEqual(session.next_deadline(), 45.0)
        timer(session, 44.0)
        self.assertEqual(session.outbox, [])
        self.assertTrue(session.is_open)

    def test_pong_reschedules(self):
        """A PONG cancels the timeout; the next PING is ping_interval after it."""
        session = websocket()
        timer(session, 25.0)
        session.take_outbox()
        self.assertEqual(receive(session, PONG, 30.0), [])
        self.assertEqual(session.next_deadline(), 55.0)
        timer(session, 45.0)  # the old pong deadline: nothing
        self.assertTrue(session.is_open)
        timer(session, 55.0)
        self.assertEqual(session.take_outbox(), [PING])
        self.assertEqual(session.next_deadline(), 75.0)

    def test_ping_timeout(self):
        """No PONG within ping_timeout: the session closes with "ping timeout"."""
        session = websocket()
        timer(session, 25.0)
        events, upgrade_expired = timer(session, 45.0)
        self.assertEqual(events, [SessionClosed("ping timeout")])
        self.assertFalse(upgrade_expired)
        self.assertIs(session.state, SessionState.CLOSED)
        self.assertEqual(session.close_reason, "ping timeout")
        self.assertIsNone(session.next_deadline())
        self.assertEqual(session.outbox, [])

    def test_late_timer(self):
        """A timer that fires late still queues the PING and measures from then."""
        session = websocket()
        timer(session, 30.0)
        self.assertEqual(session.take_outbox(), [PING])
        self.assertEqual(session.next_deadline(), 50.0)

    def test_client_ping_is_transport_error(self):
        """In v4 a PING from the client is a heartbeat in the wrong direction."""
        session = websocket()
        self.assertEqual(receive(session, PING, 1.0), [SessionClosed("transport error")])
        self.assertIs(session.state, SessionState.CLOSED)

    def test_client_probe_on_session_is_transport_error(self):
        """
        In v4 a C{2probe} on the session's own transport is a PING from the
        client too: "transport error".
        """
        session = websocket()
        self.assertEqual(receive(session, Packet(PacketType.PING, "probe"), 1.0),
                         [SessionClosed("transport error")])

    def test_messages_do_not_count_as_pong(self):
        """Only a PONG answers a PING: messages do not delay the ping timeout."""
        session = websocket()
        timer(session, 25.0)
        receive(session, Packet(PacketType.MESSAGE, "x"), 44.0)
        self.assertEqual(timer(session, 45.0)[0], [SessionClosed("ping timeout")])


class V3HeartbeatTests(SynchronousTestCase):
    """Engine.IO v3: the client pings, the server answers."""

    def test_ping_answered(self):
        """A client PING is answered with a PONG echoing its data."""
        session = websocket(version=3)
        self.assertEqual(receive(session, PING, 1.0), [])
        self.assertEqual(receive(session, Packet(PacketType.PING, "x"), 2.0), [])
        self.assertEqual(session.take_outbox(), [PONG, Packet(PacketType.PONG, "x")])

    def test_server_never_pings(self):
        """The v3 server never queues a PING of its own."""
        session = websocket(version=3)
        for t in (25.0, 30.0, 44.0):
            timer(session, t)
        self.assertEqual(session.outbox, [])

    def test_silence_deadline(self):
        """
        A v3 client not heard from (no PING) for ping_interval + ping_timeout
        is closed with "ping timeout".
        """
        session = websocket(version=3, now=10.0)
        self.assertEqual(session.next_deadline(), 10.0 + SILENCE)
        self.assertEqual(timer(session, 10.0 + SILENCE - 0.001), ([], False))
        self.assertTrue(session.is_open)
        events, _ = timer(session, 10.0 + SILENCE)
        self.assertEqual(events, [SessionClosed("ping timeout")])

    def test_ping_moves_silence_deadline(self):
        """Each client PING moves the silence deadline to ping_interval + ping_timeout later."""
        session = websocket(version=3)
        receive(session, PING, 40.0)
        self.assertEqual(session.next_deadline(), 40.0 + SILENCE)
        self.assertEqual(timer(session, SILENCE), ([], False))
        self.assertTrue(session.is_open)

    def test_messages_do_not_count(self):
        """Messages do not reset the v3 silence deadline; only a PING does (Node)."""
        session = websocket(version=3)
        receive(session, Packet(PacketType.MESSAGE, "x"), 40.0)
        self.assertEqual(session.next_deadline(), SILENCE)

    def test_client_pong_is_transport_error(self):
        """In v3 a PONG from the client is a heartbeat in the wrong direction."""
        session = websocket(version=3)
        self.assertEqual(receive(session, PONG, 1.0), [SessionClosed("transport error")])
        self.assertIs(session.state, SessionState.CLOSED)


class PollingReapTests(SynchronousTestCase):
    """A polling client that stops polling is reaped."""

    def test_no_get_reaps(self):
        """
        With no GET pending for ping_interval + ping_timeout after the last one
        ended, the session closes with "transport close" (v3: the client pings
        by POST, so the heartbeat alone would never notice).
        """
        session = polling(version=3)
        for t in (10.0, 20.0, 30.0, 40.0):
            receive(session, PING, t)
        self.assertEqual(session.next_deadline(), SILENCE)
        events, _ = timer(session, SILENCE)
        self.assertEqual(events, [SessionClosed("transport close")])
        self.assertIs(session.state, SessionState.CLOSED)

    def test_pending_get_protects(self):
        """While a GET is pending, the session is not reaped."""
        session = polling(version=3)
        session.poll_started(1.0)
        for t in (10.0, 20.0, 30.0, 40.0, 50.0):
            receive(session, PING, t)
            timer(session, t)
        self.assertEqual(session.next_deadline(), 50.0 + SILENCE)
        timer(session, 60.0)
        self.assertTrue(session.is_open)

    def test_measured_from_last_get_end(self):
        """The reaping deadline runs from the moment the last GET ended."""
        session = polling(version=3)
        session.poll_started(1.0)
        receive(session, PING, 30.0)
        session.poll_ended(30.0)
        receive(session, PING, 60.0)
        self.assertEqual(session.next_deadline(), 30.0 + SILENCE)
        self.assertEqual(timer(session, 30.0 + SILENCE)[0],
                         [SessionClosed("transport close")])

    def test_v4_reaping(self):
        """
        A v4 polling client that answers pings but stops polling is reaped at
        the same deadline.
        """
        session = polling(version=4, config=SessionConfig(ping_interval=10.0, ping_timeout=50.0))
        timer(session, 10.0)
        session.take_outbox()
        receive(session, PONG, 11.0)
        timer(session, 21.0)
        receive(session, PONG, 22.0)
        self.assertEqual(session.next_deadline(), 32.0)
        timer(session, 32.0)
        receive(session, PONG, 33.0)
        self.assertEqual(session.next_deadline(), 43.0)
        timer(session, 43.0)
        receive(session, PONG, 44.0)
        self.assertEqual(session.next_deadline(), 54.0)
        timer(session, 54.0)
        receive(session, PONG, 55.0)
        self.assertEqual(session.next_deadline(), 60.0)
        self.assertEqual(timer(session, 60.0)[0], [SessionClosed("transport close")])

    def test_websocket_not_reaped(self):
        """A WebSocket session has no reaping deadline (it has no GETs)."""
        session = websocket(version=3)
        receive(session, PING, 40.0)
        timer(session, SILENCE)
        self.assertTrue(session.is_open)


class UpgradeTests(SynchronousTestCase):
    """Polling to WebSocket."""

    def test_full_upgrade(self):
        """
        upgrade_started, then probe_received (answers C{3probe}, the poll is
        released with NOOP), then upgrade_received switch the transport.
        """
        session = polling()
        self.assertTrue(session.can_upgrade())
        session.upgrade_started(1.0)
        self.assertTrue(session.upgrading)
        self.assertIsNone(session.poll_release)
        self.assertEqual(session.probe_received(2.0), Packet(PacketType.PONG, "probe"))
        self.assertEqual(session.poll_release, Packet(PacketType.NOOP))
        self.assertEqual(session.transport, "polling")
        session.upgrade_received(3.0)
        self.assertEqual(session.transport, "websocket")
        self.assertFalse(session.upgrading)
        # A GET still pending after the upgrade is released with a NOOP.
        self.assertEqual(session.poll_release, Packet(PacketType.NOOP))
        self.assertFalse(session.can_upgrade())
        self.assertTrue(session.is_open)

    def test_upgrade_deadline(self):
        """The upgrade deadline is upgrade_timeout after upgrade_started."""
        session = polling(config=SessionConfig(ping_interval=100.0, ping_timeout=100.0))
        session.upgrade_started(5.0)
        self.assertEqual(session.next_deadline(), 15.0)
        session.probe_received(6.0)
        self.assertEqual(session.next_deadline(), 15.0)
        session.upgrade_received(7.0)
        self.assertEqual(session.next_deadline(), 100.0)

    def test_upgrade_timeout(self):
        """
        No C{5} within upgrade_timeout: handle_timer reports the expiry, the
        attempt is abandoned and the session keeps polling, open.
        """
        session = polling(config=SessionConfig(ping_interval=100.0, ping_timeout=100.0))
        session.upgrade_started(5.0)
        session.probe_received(6.0)
        self.assertEqual(timer(session, 15.0), ([], True))
        self.assertTrue(session.is_open)
        self.assertEqual(session.transport, "polling")
        self.assertFalse(session.upgrading)
        self.assertIsNone(session.poll_release)
        self.assertEqual(session.next_deadline(), 100.0)
        self.assertTrue(session.can_upgrade())
        self.assertRaises(ProtocolError, session.upgrade_received, 16.0)

    def test_upgrade_failed_keeps_polling(self):
        """upgrade_failed() abandons the attempt; a new one may start."""
        session = polling()
        session.upgrade_started(1.0)
        session.probe_received(2.0)
        session.upgrade_failed()
        self.assertFalse(session.upgrading)
        self.assertEqual(session.transport, "polling")
        self.assertTrue(session.can_upgrade())
        session.upgrade_started(3.0)
        self.assertTrue(session.upgrading)

    def test_upgrade_failed_after_upgrade(self):
        """upgrade_failed() after a completed upgrade changes nothing."""
        session = polling()
        session.upgrade_started(1.0)
        session.probe_received(2.0)
        session.upgrade_received(3.0)
        session.upgrade_failed()
        self.assertEqual(session.transport, "websocket")

    def test_probe_outside_upgrade(self):
        """A probe with no upgrade under way is a ProtocolError."""
        self.assertRaises(ProtocolError, polling().probe_received, 1.0)
        self.assertRaises(ProtocolError, websocket().probe_received, 1.0)

    def test_second_probe(self):
        """A second probe in the same upgrade is a ProtocolError."""
        session = polling()
        session.upgrade_started(1.0)
        session.probe_received(2.0)
        self.assertRaises(ProtocolError, session.probe_received, 3.0)

    def test_upgrade_before_probe(self):
        """C{5} before C{2probe} is a ProtocolError."""
        session = polling()
        self.assertRaises(ProtocolError, session.upgrade_received, 1.0)
        session.upgrade_started(1.0)
        self.assertRaises(ProtocolError, session.upgrade_received, 2.0)

    def test_cannot_upgrade(self):
        """
        No upgrade without "websocket" in upgrades, on a WebSocket session, while
        upgrading or once closing; upgrade_started then raises ValueError.
        """
        closing = polling()
        close(closing, "forced close", 1.0)
        upgrading = polling()
        upgrading.upgrade_started(1.0)
        for session in (polling(upgrades=()), websocket(), upgrading, closing):
            self.assertFalse(session.can_upgrade())
            self.assertRaises(ValueError, session.upgrade_started, 2.0)

    def test_upgrade_after_close_is_protocol_error(self):
        """
        Once the session is closed, a late C{2probe} or C{5} on the probe socket
        is a ProtocolError: nothing answers for a dead session.
        """
        session = polling()
        session.upgrade_started(1.0)
        lost(session)
        self.assertFalse(session.upgrading)
        self.assertRaises(ProtocolError, session.probe_received, 2.0)
        session = polling()
        session.upgrade_started(1.0)
        session.probe_received(2.0)
        violation(session)
        self.assertRaises(ProtocolError, session.upgrade_received, 3.0)
        self.assertEqual(session.transport, "polling")

    def test_upgrade_completes_while_closing(self):
        """
        An upgrade probed before close() may still complete: the CLOSE packet
        then goes out on the WebSocket.
        """
        session = polling()
        session.upgrade_started(1.0)
        session.probe_received(2.0)
        close(session, "forced close", 3.0)
        session.upgrade_received(4.0)
        self.assertEqual(session.transport, "websocket")
        self.assertEqual(session.take_outbox(), [CLOSE])
        session.closed_after_flush()
        self.assertIs(session.state, SessionState.CLOSED)

    def test_poll_bookkeeping_after_upgrade(self):
        """After the upgrade there is no polling deadline any more."""
        session = polling(version=3)
        session.upgrade_started(1.0)
        session.probe_received(1.0)
        session.upgrade_received(1.0)
        receive(session, PING, 40.0)
        timer(session, SILENCE + 1.0)
        self.assertTrue(session.is_open)


class CloseTests(SynchronousTestCase):
    """The server ends a session."""

    def test_close_queues_close_packet(self):
        """
        close() tells the application at once (SessionClosed), queues a CLOSE
        for the peer after what was already queued, and moves to CLOSING.
        """
        session = polling()
        session.send(Packet(PacketType.MESSAGE, "last"), 0.0)
        self.assertEqual(close(session, "forced close", 5.0), [SessionClosed("forced close")])
        self.assertIs(session.state, SessionState.CLOSING)
        self.assertFalse(session.is_open)
        self.assertEqual(session.close_reason, "forced close")
        self.assertEqual(session.outbox, [Packet(PacketType.MESSAGE, "last"), CLOSE])

    def test_closing_ignores_traffic(self):
        """While CLOSING, send() and receive() do nothing."""
        session = polling()
        close(session, "forced close", 5.0)
        session.send(Packet(PacketType.MESSAGE, "x"), 0.0)
        self.assertEqual(receive(session, Packet(PacketType.MESSAGE, "y"), 6.0), [])
        self.assertEqual(receive(session, PONG, 6.0), [])
        self.assertEqual(session.outbox, [CLOSE])

    def test_close_twice(self):
        """A second close() does nothing and reports nothing."""
        session = polling()
        close(session, "forced close", 5.0)
        self.assertEqual(close(session, "server shutting down", 6.0), [])
        self.assertEqual(session.close_reason, "forced close")
        self.assertEqual(session.outbox, [CLOSE])

    def test_closed_after_flush(self):
        """closed_after_flush() in CLOSING finishes the session."""
        session = polling()
        close(session, "forced close", 5.0)
        session.take_outbox()
        session.closed_after_flush()
        self.assertIs(session.state, SessionState.CLOSED)
        self.assertIsNone(session.next_deadline())

    def test_closed_after_flush_when_open(self):
        """closed_after_flush() on an open session does nothing."""
        session = polling()
        session.closed_after_flush()
        self.assertTrue(session.is_open)

    def test_closing_deadline(self):
        """
        A CLOSING session's only deadline is ping_timeout after close(); at it
        the session finishes, with no second SessionClosed.
        """
        session = polling()
        close(session, "forced close", 5.0)
        self.assertEqual(session.next_deadline(), 25.0)
        self.assertEqual(timer(session, 24.0), ([], False))
        self.assertIs(session.state, SessionState.CLOSING)
        self.assertEqual(timer(session, 25.0), ([], False))
        self.assertIs(session.state, SessionState.CLOSED)
        self.assertEqual(session.outbox, [])
        self.assertIsNone(session.next_deadline())

    def test_transport_lost_while_closing(self):
        """Losing the transport while CLOSING finishes silently."""
        session = websocket()
        close(session, "forced close", 1.0)
        self.assertEqual(lost(session), [])
        self.assertIs(session.state, SessionState.CLOSED)
        self.assertEqual(session.close_reason, "forced close")

    def test_closed_is_inert(self):
        """A CLOSED session reports nothing more, whatever happens."""
        session = polling()
        receive(session, CLOSE, 1.0)
        self.assertEqual(close(session, "forced close", 2.0), [])
        self.assertEqual(lost(session), [])
        self.assertEqual(violation(session), [])
        self.assertEqual(receive(session, Packet(PacketType.MESSAGE, "x"), 2.0), [])
        self.assertEqual(timer(session, 1000.0), ([], False))
        session.send(Packet(PacketType.MESSAGE, "x"), 0.0)
        self.assertEqual(session.outbox, [])
        self.assertIsNone(session.next_deadline())
        self.assertEqual(session.close_reason, "transport close")


class DeadlineTests(SynchronousTestCase):
    """next_deadline() is the earliest pending deadline."""

    def test_earliest_of_all(self):
        """With ping, upgrade and reaping deadlines, next_deadline is the least."""
        config = SessionConfig(ping_interval=30.0, ping_timeout=5.0, upgrade_timeout=2.0)
        session = polling(config=config)
        self.assertEqual(session.next_deadline(), 30.0)
        session.upgrade_started(10.0)
        self.assertEqual(session.next_deadline(), 12.0)
        session.upgrade_failed()
        self.assertEqual(session.next_deadline(), 30.0)
        timer(session, 30.0)
        self.assertEqual(session.next_deadline(), 35.0)

    def test_reaping_earliest(self):
        """When the reaping deadline comes first it is the one reported."""
        config = SessionConfig(ping_interval=30.0, ping_timeout=5.0)
        session = polling(version=3, config=config)
        session.poll_started(0.0)
        receive(session, PING, 20.0)
        session.poll_ended(1.0)
        self.assertEqual(session.next_deadline(), 36.0)
        session.poll_started(2.0)
        self.assertEqual(session.next_deadline(), 55.0)

    def test_timer_before_deadline_changes_nothing(self):
        """handle_timer() before next_deadline() leaves everything as it was."""
        session = polling()
        deadline = session.next_deadline()
        self.assertEqual(timer(session, deadline - 1), ([], False))
        self.assertEqual(session.next_deadline(), deadline)
        self.assertEqual(session.outbox, [])


# -- property: random sequences of operations ----------------------------------

_PACKET_TYPES = list(PacketType)
_packets = st.builds(
    Packet,
    st.sampled_from(_PACKET_TYPES),
    st.one_of(st.sampled_from(["", "probe", "x"]), st.text(max_size=5)),
) | st.builds(lambda data: Packet(PacketType.MESSAGE, data), st.binary(max_size=5))

_operations = st.lists(
    st.tuples(
        st.sampled_from([
            "receive", "timer", "tick", "poll_started", "poll_ended", "send", "close",
            "transport_lost", "protocol_violation", "upgrade_started", "probe_received",
            "upgrade_received", "upgrade_failed", "flush", "post_received",
            "receive_on_probe",
        ]),
        st.floats(min_value=0.0, max_value=60.0, allow_nan=False),
        _packets,
    ),
    max_size=40,
)
_configs = st.builds(
    SessionConfig,
    max_buffered_bytes=st.integers(min_value=1, max_value=20),
    buffer_drain_timeout=st.floats(min_value=0.001, max_value=30.0),
    ping_interval=st.floats(min_value=0.001, max_value=30.0),
    ping_timeout=st.floats(min_value=0.001, max_value=30.0),
    upgrade_timeout=st.floats(min_value=0.001, max_value=30.0),
)


class RandomOperationsTests(SynchronousTestCase):
    """Whatever the client and the clock do, the session stays consistent."""

    @settings(max_examples=400, deadline=None)
    @given(version=st.sampled_from([3, 4]), transport=st.sampled_from(["polling", "websocket"]),
           config=_configs, operations=_operations)
    def test_random_operations(self, version, transport, config, operations):
        """
        Random sequences of packets, timers at non-decreasing times, polls,
        upgrades and closes raise nothing but ProtocolError; SessionClosed is
        reported at most once and only when the session stops being open; an
        open session always has a deadline; after handle_timer(now) no
        deadline is left at or before now; once CLOSED, next_deadline() is
        None and the outbox stays empty.
        """
        now = 0.0
        session = Session("sid", version, transport, config, now, upgrades=["websocket"])
        closed_events = 0
        for name, delta, packet in operations:
            now += delta
            was_open = session.is_open
            events: list = []
            try:
                if name == "receive":
                    events = receive(session, packet, now)
                elif name in ("timer", "tick"):
                    if name == "tick" and session.next_deadline() is not None:
                        now = max(now, session.next_deadline())
                    events, _ = timer(session, now)
                    deadline = session.next_deadline()
                    self.assertTrue(deadline is None or deadline > now,
                                    f"deadline {deadline} not after {now}")
                elif name == "poll_started":
                    session.poll_started(now)
                elif name == "poll_ended":
                    session.poll_ended(now)
                elif name == "send":
                    session.send(packet, now)
                elif name == "close":
                    events = close(session, "forced close", now)
                elif name == "transport_lost":
                    events = lost(session)
                elif name == "protocol_violation":
                    events = violation(session)
                elif name == "upgrade_started":
                    if session.can_upgrade():
                        session.upgrade_started(now)
                elif name == "probe_received":
                    self.assertEqual(session.probe_received(now),
                                     Packet(PacketType.PONG, "probe"))
                elif name == "upgrade_received":
                    session.upgrade_received(now)
                elif name == "upgrade_failed":
                    session.upgrade_failed()
                elif name == "flush":
                    session.take_outbox()
                    session.closed_after_flush()
                elif name == "post_received":
                    session.post_received(len(packet.data) * 400_000)
                elif name == "receive_on_probe":
                    session.receive_on_probe(packet, now)
            except ProtocolError:
                pass
            events = [e for e in events + drain(session) if not isinstance(e, UpgradeExpired)]
            for event in events:
                self.assertIsInstance(event, (MessageReceived, SessionClosed))
                if isinstance(event, SessionClosed):
                    closed_events += 1
                    self.assertTrue(was_open)
                    self.assertFalse(session.is_open)
                    self.assertEqual(session.close_reason, event.reason)
            self.assertLessEqual(closed_events, 1)
            if session.is_open:
                self.assertIsNotNone(session.next_deadline())
            if session.state is SessionState.CLOSED:
                self.assertIsNone(session.next_deadline())
                self.assertEqual(session.outbox, [])
                self.assertFalse(session.upgrading)
            if not session.is_open:
                self.assertEqual(closed_events, 1)


# -- rules that used to live in the glue ---------------------------------------------


class PollingRulesTests(SynchronousTestCase):
    """Long-poll and POST rules, decided without I/O."""

    def test_overlapping_get(self):
        """A second GET while one is pending closes the session ("transport error");
        the pending GET is then released with CLOSE."""
        session = polling()
        self.assertTrue(session.poll_started(1.0))
        self.assertIsNone(session.poll_release)
        self.assertFalse(session.poll_started(2.0))
        self.assertEqual(drain(session), [SessionClosed("transport error")])
        self.assertEqual(session.poll_release, CLOSE)

    def test_client_close_releases_with_noop(self):
        """When the client itself closes, a pending GET is released with NOOP (Node)."""
        session = polling()
        session.poll_started(1.0)
        receive(session, CLOSE, 2.0)
        self.assertEqual(session.poll_release, Packet(PacketType.NOOP))

    def test_post_size(self):
        """A POST up to max_payload is fine; one byte more closes ("transport error")."""
        session = polling(config=SessionConfig(max_payload=10))
        self.assertTrue(session.post_received(10))
        self.assertEqual(drain(session), [])
        self.assertFalse(session.post_received(11))
        self.assertEqual(drain(session), [SessionClosed("transport error")])

    def test_connection_lost(self):
        """A connection failed by the framing layer is a "transport error",
        otherwise a "transport close"."""
        first, second = websocket(), websocket()
        first.connection_lost(failed_by_server=True)
        second.connection_lost()
        self.assertEqual(drain(first), [SessionClosed("transport error")])
        self.assertEqual(drain(second), [SessionClosed("transport close")])


class BufferCapTests(SynchronousTestCase):
    """max_buffered_bytes: a client that does not read is cut off; one that
    catches up within buffer_drain_timeout is not."""

    def test_over_the_cap_must_drain_in_time(self):
        """Past max_buffered_bytes the client has buffer_drain_timeout seconds
        to take its messages; when the time is up the session closes
        ("transport error") and the queue is dropped at once."""
        session = polling(config=SessionConfig(max_buffered_bytes=10, buffer_drain_timeout=5.0))
        session.send(Packet(PacketType.MESSAGE, "x" * 6), 1.0)
        session.send(Packet(PacketType.MESSAGE, b"y" * 4), 1.0)
        session.send(Packet(PacketType.MESSAGE, "z"), 1.0)
        self.assertTrue(session.is_open)
        self.assertEqual(session.next_deadline(), 6.0)
        session.handle_timer(5.9)
        self.assertTrue(session.is_open)
        session.handle_timer(6.0)
        self.assertEqual(drain(session), [SessionClosed("transport error")])
        self.assertEqual(session.outbox, [])
        self.assertEqual(session.state, SessionState.CLOSED)

    def test_a_burst_that_drains_in_time(self):
        """A burst over the cap that the client takes before the deadline
        (a reader that keeps up) changes nothing: the deadline goes with it."""
        session = polling(config=SessionConfig(max_buffered_bytes=10, buffer_drain_timeout=5.0))
        for _ in range(5):
            session.send(Packet(PacketType.MESSAGE, "x" * 8), 1.0)
        session.take_outbox()
        session.handle_timer(6.0)
        self.assertTrue(session.is_open)
        self.assertNotEqual(session.next_deadline(), 6.0)

    def test_hard_cap(self):
        """BUFFER_HARD_FACTOR times max_buffered_bytes is never allowed to wait,
        however briefly: the session closes at once."""
        session = polling(config=SessionConfig(max_buffered_bytes=10))
        session.send(Packet(PacketType.MESSAGE, "x" * 10 * BUFFER_HARD_FACTOR), 0.0)
        self.assertTrue(session.is_open)
        session.send(Packet(PacketType.MESSAGE, "x"), 0.0)
        self.assertEqual(drain(session), [SessionClosed("transport error")])
        self.assertEqual(session.outbox, [])

    def test_taking_the_outbox_resets_the_count(self):
        """What has been written no longer counts."""
        session = polling(config=SessionConfig(max_buffered_bytes=10))
        for _ in range(5):
            session.send(Packet(PacketType.MESSAGE, "x" * 8), 0.0)
            session.take_outbox()
        self.assertTrue(session.is_open)

    def test_default(self):
        """The default cap is 10 MB, with 5 s to drain a burst over it."""
        self.assertEqual((SessionConfig().max_buffered_bytes, SessionConfig().buffer_drain_timeout),
                         (10_000_000, 5.0))


class ProbeTests(SynchronousTestCase):
    """receive_on_probe(): what the probe socket of an upgrade may carry."""

    def test_probe_then_upgrade(self):
        """C{2probe} is answered C{3probe}; C{5} completes the upgrade; NOOP is ignored."""
        session = polling()
        session.upgrade_started(1.0)
        self.assertIsNone(session.receive_on_probe(Packet(PacketType.NOOP), 1.5))
        self.assertEqual(session.receive_on_probe(Packet(PacketType.PING, "probe"), 2.0),
                         Packet(PacketType.PONG, "probe"))
        self.assertIsNone(session.receive_on_probe(Packet(PacketType.UPGRADE), 3.0))
        self.assertEqual(session.transport, "websocket")

    def test_anything_else_abandons_the_upgrade(self):
        """Any other packet raises ProtocolError and the session keeps polling."""
        for packet in (Packet(PacketType.MESSAGE, "x"), Packet(PacketType.PING, "x"),
                       Packet(PacketType.UPGRADE)):
            session = polling()
            session.upgrade_started(1.0)
            self.assertRaises(ProtocolError, session.receive_on_probe, packet, 2.0)
            self.assertFalse(session.upgrading)
            self.assertTrue(session.is_open)
            self.assertEqual(session.transport, "polling")


class LingerTests(SynchronousTestCase):
    """close(linger=...) bounds how long a CLOSE waits to be written."""

    def test_linger(self):
        """The CLOSING deadline is now + linger instead of ping_timeout."""
        session = polling()
        close(session, "server shutting down", 10.0, linger=0.5)
        self.assertEqual(session.next_deadline(), 10.5)

    def test_linger_shortens(self):
        """A second close with a linger can shorten the wait, never lengthen it."""
        session = polling()
        close(session, "forced close", 10.0)
        self.assertEqual(session.next_deadline(), 10.0 + CONFIG.ping_timeout)
        self.assertEqual(close(session, "server shutting down", 11.0, linger=0.5), [])
        self.assertEqual(session.next_deadline(), 11.5)
        close(session, "server shutting down", 11.2, linger=5.0)
        self.assertEqual(session.next_deadline(), 11.5)
        self.assertEqual(session.close_reason, "forced close")
