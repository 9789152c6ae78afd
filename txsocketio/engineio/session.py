# -*- test-case-name: tests.test_engineio_session -*-
"""The Engine.IO session state machine, without I/O.

A :class:`Session` is told what arrived (:meth:`Session.receive`), what the
transport did (a long-poll started or ended, a WebSocket probe, an upgrade),
and what time it is; it answers with events for the application and packets
for the peer.  It never reads a clock and never schedules anything: the glue
asks :meth:`Session.next_deadline` and calls :meth:`Session.handle_timer` when
that moment comes, in the manner of aioquic's ``get_timer``/``handle_timer``.

Theory of operation
-------------------
A session is born ``OPEN`` on one transport (``polling`` or ``websocket``).
Outgoing packets wait in :attr:`Session.outbox` until the glue can write them
(a pending long-poll GET, or at once on a WebSocket).

Heartbeat.  With Engine.IO v4 the server pings: ``ping_interval`` after the
open (or after the last pong) a PING is queued, and if no PONG arrives within
``ping_timeout`` the session closes with ``"ping timeout"``.  With v3 the client
pings and the server answers PONG; a client that has not pinged for
``ping_interval + ping_timeout`` is closed the same way.  A PING in the wrong
direction is a ``"transport error"``, as in Node.

Polling clients that vanish.  Independently of the heartbeat, a polling
session whose client has not had a GET pending for ``ping_interval +
ping_timeout`` is closed with ``"transport close"``.

Upgrade.  ``probe_received`` (the client sent ``2probe`` on the new socket),
then ``upgrade_received`` (it sent ``5``) switch the session to WebSocket; if
``5`` does not come within ``upgrade_timeout`` the attempt is abandoned and the
session keeps polling.

Closing.  :meth:`Session.close` (the server's decision) queues a CLOSE packet
for the peer and moves to ``CLOSING`` until the glue has written it
(:meth:`Session.closed_after_flush`) or ``ping_timeout`` (or the ``linger``
given) has passed; the application has already been told.  Any other close
is immediate.  A long-poll still pending when the session ends is answered
with :attr:`Session.poll_release` (NOOP when the client itself closed, else
CLOSE).

Events.  Nothing returns events: every method queues them, and the glue
drains the queue with :meth:`Session.next_event` after each call, as with
aioquic's ``next_event()``.  Besides :class:`MessageReceived` and
:class:`SessionClosed` there is :class:`UpgradeExpired` (drop the probe socket).

Limits.  A POST larger than ``max_payload`` (:meth:`Session.post_received`),
a second long-poll while one is pending (:meth:`Session.poll_started`), and
messages waiting for a slow client (:meth:`Session.send`: no GET pending, or
a WebSocket the client does not read fast enough) beyond
``max_buffered_bytes`` for longer than ``buffer_drain_timeout`` (a reader that
keeps up drains a burst within it; a stalled one does not), or beyond
``BUFFER_HARD_FACTOR`` times ``max_buffered_bytes`` at any moment, all close
the session with ``"transport error"``, as Node names a failing transport;
the queue is dropped at once so the memory is freed.
"""

from __future__ import annotations

import enum
import json
from typing import Iterable

import attrs

from txsocketio.engineio.packet import Packet, PacketType
from txsocketio.errors import ProtocolError

__all__ = [
    "SessionConfig",
    "SessionState",
    "Session",
    "MessageReceived",
    "SessionClosed",
    "UpgradeExpired",
    "Event",
]


@attrs.frozen
class SessionConfig:
    """Timing and size limits, in seconds and bytes."""

    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    upgrade_timeout: float = 10.0
    max_payload: int = 1_000_000
    #: outgoing bytes a connection may have waiting for a slow reader for up
    #: to ``buffer_drain_timeout`` seconds (never more than
    #: ``BUFFER_HARD_FACTOR`` times as many)
    max_buffered_bytes: int = 10_000_000
    buffer_drain_timeout: float = 5.0


class SessionState(enum.Enum):
    #: The session carries traffic.
    OPEN = "open"
    #: The server closed it; the CLOSE packet still waits to be written.
    CLOSING = "closing"
    #: Nothing more happens.
    CLOSED = "closed"


# The members Session.receive compares with, as module constants:
# before Python 3.12 reading a member through its class goes through
# EnumType's __getattr__ hook (~70 ns; a global, ~7 ns).
_MESSAGE_TYPE = PacketType.MESSAGE
_PONG_TYPE = PacketType.PONG
_PING_TYPE = PacketType.PING
_CLOSE_TYPE = PacketType.CLOSE
_NOOP_TYPE = PacketType.NOOP
_OPEN = SessionState.OPEN


class UpgradeState(enum.Enum):
    NONE = "none"
    #: A WebSocket has been opened for this sid; no probe yet.
    PENDING = "pending"
    #: ``2probe`` answered; the long-poll must be released with a NOOP.
    PROBED = "probed"
    #: The session has moved to WebSocket.
    DONE = "done"


@attrs.frozen
class MessageReceived:
    """The client sent a message (text or binary)."""

    data: str | bytes


@attrs.frozen
class SessionClosed:
    """The session ended; ``reason`` is one of Node's reasons."""

    reason: str


@attrs.frozen
class UpgradeExpired:
    """The client did not finish its upgrade in time: drop the probe socket."""


Event = MessageReceived | SessionClosed | UpgradeExpired


class Session:
    """One Engine.IO session. See the module docstring."""

    def __init__(
        self,
        sid: str,
        version: int,
        transport: str,
        config: SessionConfig,
        now: float,
        *,
        upgrades: Iterable[str] = (),
    ) -> None:
        if version not in (3, 4):
            raise ValueError(f"unsupported Engine.IO version {version!r}")
        if transport not in ("polling", "websocket"):
            raise ValueError(f"unknown transport {transport!r}")
        self.sid = sid
        self.version = version
        self.transport = transport
        self.config = config
        self.state = SessionState.OPEN
        self.upgrade = UpgradeState.NONE
        self.close_reason: str | None = None
        self.outbox: list[Packet] = []
        self._events: list[Event] = []
        self._queued_bytes = 0
        self._drain_deadline: float | None = None
        self._upgrades = list(upgrades)
        self._poll_pending = False
        self._last_poll_end = now
        self._upgrade_deadline: float | None = None
        self._closing_deadline: float | None = None
        self._ping_due: float | None = None
        self._pong_due: float | None = None
        self._client_silence_deadline: float | None = None
        if version == 4:
            self._ping_due = now + config.ping_interval
        else:
            self._client_silence_deadline = now + config.ping_interval + config.ping_timeout
        self.outbox.append(Packet(PacketType.OPEN, self.open_payload()))

    # -- what the peer is told ------------------------------------------------

    def open_payload(self) -> str:
        """The JSON of the OPEN packet: times in integer milliseconds."""
        return json.dumps(
            {
                "sid": self.sid,
                "upgrades": self._upgrades,
                "pingInterval": _ms(self.config.ping_interval),
                "pingTimeout": _ms(self.config.ping_timeout),
                "maxPayload": self.config.max_payload,
            },
            separators=(",", ":"),
        )

    @property
    def is_open(self) -> bool:
        return self.state is SessionState.OPEN

    # -- outgoing -------------------------------------------------------------

    def send(self, packet: Packet, now: float) -> None:
        """Queue a packet for the peer; ignored once the session is closing.

        Past ``max_buffered_bytes`` of queued messages the client has
        ``buffer_drain_timeout`` seconds to take them (a burst from one
        handler is fine for a reader that keeps up); past
        ``BUFFER_HARD_FACTOR`` times that, or when the time is up, the
        session closes (``"transport error"``) and the queue is dropped.
        """
        if self.state is not SessionState.OPEN:
            return
        self.outbox.append(packet)
        self._queued_bytes += len(packet.data)
        limit = self.config.max_buffered_bytes
        if self._queued_bytes > limit:
            if self._queued_bytes > BUFFER_HARD_FACTOR * limit:
                self._closed("transport error")
            elif self._drain_deadline is None:
                self._drain_deadline = now + self.config.buffer_drain_timeout

    def requeue(self, packets: list[Packet], now: float) -> None:
        """Put back, first in line, what the transport did not take (its
        buffer filled up again).  It counts against ``max_buffered_bytes``
        again, with a fresh ``buffer_drain_timeout``: the client made
        progress, a stalled one makes none and is cut off."""
        if self.state is SessionState.CLOSED:
            return
        self.outbox[:0] = packets
        self._queued_bytes += sum(len(p.data) for p in packets)
        if self._queued_bytes > self.config.max_buffered_bytes and self._drain_deadline is None:
            self._drain_deadline = now + self.config.buffer_drain_timeout

    def take_outbox(self) -> list[Packet]:
        """Everything queued, in order; the queue is left empty."""
        out, self.outbox = self.outbox, []
        self._queued_bytes = 0
        self._drain_deadline = None
        return out

    def next_event(self) -> Event | None:
        """The oldest event not yet taken, or None."""
        return self._events.pop(0) if self._events else None

    # -- incoming -------------------------------------------------------------

    def receive(self, packet: Packet, now: float) -> None:
        """Handle one packet from the client on the session's transport.

        Raises :class:`ProtocolError` for a packet that makes no sense here
        (the glue then calls :meth:`protocol_violation`).
        """
        if self.state is not _OPEN:
            return
        kind = packet.type
        if kind is _MESSAGE_TYPE:
            self._events.append(MessageReceived(packet.data))
        elif kind is _PONG_TYPE:
            if self.version == 3:
                self._closed("transport error")
                return
            self._pong_due = None
            self._ping_due = now + self.config.ping_interval
        elif kind is _PING_TYPE:
            if self.version == 4:
                self._closed("transport error")
                return
            self._client_silence_deadline = (
                now + self.config.ping_interval + self.config.ping_timeout
            )
            self.outbox.append(Packet(_PONG_TYPE, packet.data))
        elif kind is _CLOSE_TYPE:
            self._closed("transport close")
        elif kind is not _NOOP_TYPE:
            # OPEN and UPGRADE make no sense here (UPGRADE goes on the probe socket).
            raise ProtocolError(f"unexpected packet type {kind.name} from client")

    def post_received(self, size: int) -> bool:
        """A POST of ``size`` bytes arrived: False (and the session closed) if
        it exceeds ``max_payload`` (the glue answers 413)."""
        if size > self.config.max_payload:
            self.transport_lost("transport error")
            return False
        return True

    # -- polling bookkeeping --------------------------------------------------

    def poll_started(self, now: float) -> bool:
        """A long-poll GET arrived.  False if one was already pending: the
        session closes (``"transport error"``); the glue answers the new GET
        400 and the pending one with :attr:`poll_release` (CLOSE)."""
        if self._poll_pending:
            self.transport_lost("transport error")
            return False
        self._poll_pending = True
        return True

    def poll_ended(self, now: float) -> None:
        self._poll_pending = False
        self._last_poll_end = now

    @property
    def poll_release(self) -> Packet | None:
        """What a pending long-poll must be answered with now, if anything.

        NOOP while an upgrade is probed or done (the client's poll loop
        stops); when the session is over, NOOP if the client asked to close
        and CLOSE otherwise (Node); None while the GET should keep waiting.
        """
        if self.state is SessionState.CLOSED:
            return _NOOP if self.close_reason == "transport close" else _CLOSE
        if self.upgrade is UpgradeState.PROBED or self.transport == "websocket":
            return _NOOP
        return None

    # -- upgrade --------------------------------------------------------------

    def can_upgrade(self) -> bool:
        return (
            self.state is SessionState.OPEN
            and self.transport == "polling"
            and self.upgrade is UpgradeState.NONE
            and "websocket" in self._upgrades
        )

    def upgrade_started(self, now: float) -> None:
        """A WebSocket for this sid is open and waits for ``2probe``."""
        if not self.can_upgrade():
            raise ValueError("this session cannot be upgraded now")
        self.upgrade = UpgradeState.PENDING
        self._upgrade_deadline = now + self.config.upgrade_timeout

    def probe_received(self, now: float) -> Packet:
        """The client sent ``2probe``; returns the ``3probe`` to answer on the probe socket."""
        if self.upgrade is not UpgradeState.PENDING:
            raise ProtocolError("probe outside of an upgrade")
        self.upgrade = UpgradeState.PROBED
        return Packet(PacketType.PONG, "probe")

    def upgrade_received(self, now: float) -> None:
        """The client sent ``5``: the WebSocket becomes the transport."""
        if self.upgrade is not UpgradeState.PROBED:
            raise ProtocolError("upgrade before probe")
        self.upgrade = UpgradeState.DONE
        self.transport = "websocket"
        self._upgrade_deadline = None
        self._poll_pending = False

    def receive_on_probe(self, packet: Packet, now: float) -> Packet | None:
        """A packet arrived on the probe socket of an upgrade.

        ``2probe`` returns the ``3probe`` to answer there; ``5`` completes the
        upgrade; NOOP is ignored.  Anything else (or a step out of order)
        abandons the upgrade and raises :class:`ProtocolError`: the glue then
        closes the probe socket and the session keeps polling.
        """
        try:
            if packet.type is PacketType.PING and packet.data == "probe":
                return self.probe_received(now)
            if packet.type is PacketType.UPGRADE:
                self.upgrade_received(now)
                return None
            if packet.type is PacketType.NOOP:
                return None
            raise ProtocolError(f"unexpected {packet.type.name} during upgrade")
        except ProtocolError:
            self.upgrade_failed()
            raise

    def upgrade_failed(self) -> None:
        """The probe socket went away, or it broke the protocol: keep polling."""
        if self.upgrade in (UpgradeState.PENDING, UpgradeState.PROBED):
            self.upgrade = UpgradeState.NONE
            self._upgrade_deadline = None

    @property
    def upgrading(self) -> bool:
        return self.upgrade in (UpgradeState.PENDING, UpgradeState.PROBED)

    # -- closing --------------------------------------------------------------

    def close(self, reason: str, now: float, *, linger: float | None = None) -> None:
        """The server ends the session: a CLOSE packet is queued for the peer.

        The session waits in ``CLOSING`` for the glue to write it, at most
        ``linger`` seconds (``ping_timeout`` by default).  On a session that
        is already closing, a ``linger`` can only shorten the wait.
        """
        if self.state is SessionState.CLOSING and linger is not None:
            if self._closing_deadline is None or now + linger < self._closing_deadline:
                self._closing_deadline = now + linger
            return
        if self.state is not SessionState.OPEN:
            return
        self.outbox.append(Packet(PacketType.CLOSE))
        self.state = SessionState.CLOSING
        self.close_reason = reason
        wait = self.config.ping_timeout if linger is None else linger
        self._closing_deadline = now + wait
        self._events.append(SessionClosed(reason))

    def transport_lost(self, reason: str = "transport close") -> None:
        """The active transport went away (TCP closed, aborted long-poll...)."""
        if self.state is SessionState.OPEN:
            self._closed(reason)
        else:
            self._finish()

    def connection_lost(self, failed_by_server: bool = False) -> None:
        """The connection carrying the session closed (a WebSocket, or the
        client's pending long-poll).

        ``failed_by_server``: the framing layer failed the connection because
        of the client (oversize message, invalid UTF-8, a bad frame), which
        Node calls a ``"transport error"``; otherwise ``"transport close"``.
        """
        self.transport_lost("transport error" if failed_by_server else "transport close")

    def protocol_violation(self) -> None:
        """The client sent something undecodable: ``parse error``."""
        self.transport_lost("parse error")

    def closed_after_flush(self) -> None:
        """The glue wrote the CLOSE packet queued by :meth:`close`."""
        if self.state is SessionState.CLOSING:
            self._finish()

    def _closed(self, reason: str) -> None:
        self.close_reason = reason
        self._finish()
        self._events.append(SessionClosed(reason))

    def _finish(self) -> None:
        self.state = SessionState.CLOSED
        self.outbox = []
        self._queued_bytes = 0
        self._drain_deadline = None
        # An upgrade cannot outlive the session: a late ``2probe`` or ``5``
        # on the probe socket is then a protocol error, not an answer.
        if self.upgrading:
            self.upgrade = UpgradeState.NONE
        self._upgrade_deadline = None

    # -- time -----------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """The next moment :meth:`handle_timer` must be called, or None."""
        if self.state is SessionState.CLOSED:
            return None
        if self.state is SessionState.CLOSING:
            return self._closing_deadline
        # Written out rather than min() over a list: this runs after every packet.
        best = self._ping_due
        for candidate in (self._pong_due, self._client_silence_deadline, self._upgrade_deadline,
                          self._drain_deadline):
            if candidate is not None and (best is None or candidate < best):
                best = candidate
        if self.transport == "polling" and not self._poll_pending:
            reap = self._last_poll_end + self.config.ping_interval + self.config.ping_timeout
            if best is None or reap < best:
                best = reap
        return best

    def handle_timer(self, now: float) -> None:
        """Act on every deadline that has passed; results are queued as events
        (:class:`UpgradeExpired`, :class:`SessionClosed`) and packets."""
        if self.state is SessionState.CLOSING:
            if self._closing_deadline is not None and now >= self._closing_deadline:
                self._finish()
            return
        if self.state is not SessionState.OPEN:
            return
        if self._upgrade_deadline is not None and now >= self._upgrade_deadline:
            self.upgrade_failed()
            self._events.append(UpgradeExpired())
        if self._drain_deadline is not None and now >= self._drain_deadline:
            self._closed("transport error")  # the client did not take its messages in time
        elif self._pong_due is not None and now >= self._pong_due:
            self._closed("ping timeout")
        elif self._client_silence_deadline is not None and now >= self._client_silence_deadline:
            self._closed("ping timeout")
        elif (
            self.transport == "polling"
            and not self._poll_pending
            and now >= self._last_poll_end + self.config.ping_interval + self.config.ping_timeout
        ):
            self._closed("transport close")
        elif self._ping_due is not None and now >= self._ping_due:
            self._ping_due = None
            self._pong_due = now + self.config.ping_timeout
            self.outbox.append(Packet(PacketType.PING))


#: How many times ``max_buffered_bytes`` may wait, however briefly, before the
#: session is closed: the bound on what one client can pin.
BUFFER_HARD_FACTOR = 10

# Frozen, so shared: poll_release runs after every packet.
_NOOP = Packet(PacketType.NOOP)
_CLOSE = Packet(PacketType.CLOSE)


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))
