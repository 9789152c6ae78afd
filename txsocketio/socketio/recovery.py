# -*- test-case-name: tests.test_socketio_recovery -*-
"""Connection state recovery, the state Node keeps in memory, without I/O.

Node socket.io 4.8 (``connectionStateRecovery``) lets a client whose
connection dropped come back within a window and get its old socket id,
rooms, ``data`` and every packet it missed.  Node keeps that state in
``SessionAwareAdapter`` (socket.io-adapter 2.5); this module is the same
state as a pure record store, one :class:`RecoveryStore` per namespace, time
passed in, so the glue (the adapter) only translates:

* every outgoing EVENT that :func:`is_recordable` accepts (no ack id, not
  volatile) goes through :meth:`RecoveryStore.record`, which appends a fresh
  offset as the packet's last argument and keeps it with its audience;
* a socket that closes for one of :data:`RECOVERABLE_DISCONNECT_REASONS`
  is kept by :meth:`RecoveryStore.persist`;
* a CONNECT whose auth carries :func:`recovery_credentials` is looked up
  with :meth:`RecoveryStore.restore`, which returns the session and the
  missed packets (offsets included, in order) or ``None``;
* :meth:`RecoveryStore.next_deadline` / :meth:`RecoveryStore.expire` keep
  memory bounded by the window (the glue holds one timer).

Where this differs from Node, it is on purpose and safer: a private session
id is single-use (any restore attempt consumes it, as the Redis Streams
adapter's ``GETDEL`` does; Node's in-memory adapter lets it be replayed until
it expires), the packet log has a cap (``max_packets``, the oldest dropped;
a client whose offset fell out is not recovered), and so may the sessions
(``max_sessions``).  Offsets are a random per-store prefix plus a counter, so
an offset from another process or an earlier run never matches.
"""

from __future__ import annotations

import collections
import math
import secrets
from typing import Any, Callable, Final, Iterable, Mapping

import attrs

from txsocketio.socketio.packet import Packet, PacketType

__all__ = [
    "RECOVERABLE_DISCONNECT_REASONS",
    "DEFAULT_MAX_DISCONNECTION_DURATION",
    "DEFAULT_MAX_PACKETS",
    "is_recoverable",
    "is_recordable",
    "recovery_credentials",
    "should_include",
    "PersistedSession",
    "StoredPacket",
    "RestoredSession",
    "RecoveryStore",
]

#: The disconnect reasons after which Node persists the session
#: (``RECOVERABLE_DISCONNECT_REASONS`` in socket.io's ``lib/socket.ts``).
#: A disconnect that the client or the server asked for
#: (``client namespace disconnect``, ``server namespace disconnect``,
#: ``parse error``...) never persists one.
RECOVERABLE_DISCONNECT_REASONS: Final = frozenset({
    "transport error",
    "transport close",
    "forced close",
    "ping timeout",
    "server shutting down",
    "forced server close",
})

#: Node's default window: 2 minutes (in seconds here).
DEFAULT_MAX_DISCONNECTION_DURATION: Final = 120.0
#: The default cap on stored packets per namespace (Node has none).
DEFAULT_MAX_PACKETS: Final = 10_000


def is_recoverable(reason: str) -> bool:
    """Whether a socket closed for ``reason`` is persisted."""
    return reason in RECOVERABLE_DISCONNECT_REASONS


def is_recordable(packet: Packet, flags: Mapping[str, Any]) -> bool:
    """Whether an outgoing packet gets an offset and is kept for replay:
    an EVENT without ack id, not volatile (Node: ``isEventPacket &&
    withoutAcknowledgement && notVolatile``).  A packet with an ack id is
    never kept: the acknowledgement cannot be restored after a reconnect."""
    return (packet.type in (PacketType.EVENT, PacketType.BINARY_EVENT) and packet.id is None
            and flags.get("volatile") is None)


def recovery_credentials(auth: Any) -> tuple[str, str] | None:
    """``(pid, offset)`` from a CONNECT's auth payload, when both are strings
    (socket.io 4.8 ``Namespace._createSocket``); else ``None``: a fresh session.

    socket.io-client 4.8 only sends ``offset`` once it has received at least
    one packet with an offset, so a client that never did is not recovered.
    """
    if not isinstance(auth, Mapping):
        return None
    pid = auth.get("pid")
    offset = auth.get("offset")
    if isinstance(pid, str) and isinstance(offset, str):
        return pid, offset
    return None


def should_include(session_rooms: Iterable[str], rooms: frozenset[str], except_: frozenset[str]) -> bool:
    """Whether a socket in ``session_rooms`` was in the audience of a
    broadcast to ``rooms`` (empty: everyone) minus ``except_`` (Node's
    ``shouldIncludePacket``)."""
    session_rooms = list(session_rooms)
    included = not rooms or any(room in rooms for room in session_rooms)
    return included and not any(room in except_ for room in session_rooms)


@attrs.frozen
class PersistedSession:
    """A socket that went away for a recoverable reason."""

    #: The socket id it had (and gets back).
    sid: str
    #: The private session id (the ``pid`` of its CONNECT reply).
    pid: str
    #: Its rooms, its own id included.
    rooms: frozenset[str]
    #: ``socket.data`` at the disconnect (a shallow copy).
    data: dict[str, Any]
    #: When it went away (the store's clock, seconds).
    disconnected_at: float


@attrs.frozen
class StoredPacket:
    """One recorded EVENT: its offset, the packet as sent (offset appended)
    and its audience."""

    offset: str
    packet: Packet
    rooms: frozenset[str]
    except_: frozenset[str]
    emitted_at: float


@attrs.frozen
class RestoredSession:
    """What a successful restore gives back."""

    sid: str
    pid: str
    rooms: frozenset[str]
    data: dict[str, Any]
    #: The packets the socket missed, in order, each with its offset as
    #: last argument; sent before anything new.
    missed_packets: tuple[Packet, ...]


def _random_prefix() -> str:
    return secrets.token_urlsafe(6) + "."


class RecoveryStore:
    """The sessions and the packet log of one namespace.

    ``max_disconnection_duration`` is the window in seconds
    (``math.inf``: never expires, as Node allows).  ``max_packets`` caps
    the packet log (the oldest go first), ``max_sessions`` (``None``: no
    cap) the persisted sessions (the one that went away first goes first).
    ``new_offset`` makes an offset from a sequence number (tests pass a
    deterministic one).  Every method takes the time as ``now`` (seconds,
    any monotonic origin, the same for all calls).
    """

    def __init__(self, max_disconnection_duration: float = DEFAULT_MAX_DISCONNECTION_DURATION, *,
                 max_packets: int = DEFAULT_MAX_PACKETS, max_sessions: int | None = None,
                 new_offset: Callable[[int], str] | None = None) -> None:
        if not max_disconnection_duration >= 0:
            raise ValueError("max_disconnection_duration is a number of seconds >= 0")
        if max_packets < 1:
            raise ValueError("max_packets must be at least 1")
        if max_sessions is not None and max_sessions < 1:
            raise ValueError("max_sessions must be at least 1 (or None: no cap)")
        self.max_disconnection_duration = float(max_disconnection_duration)
        self.max_packets = max_packets
        self.max_sessions = max_sessions
        if new_offset is None:
            prefix = _random_prefix()
            new_offset = lambda seq: prefix + format(seq, "x")  # noqa: E731
        self._new_offset = new_offset
        # Insertion order = disconnect order (persist() re-inserts).
        self._sessions: dict[str, PersistedSession] = {}
        self._packets: collections.deque[StoredPacket] = collections.deque()
        self._seq_of: dict[str, int] = {}
        self._next_seq = 0  # sequence number of the next recorded packet
        self._first_seq = 0  # sequence number of self._packets[0]

    # -- state -------------------------------------------------------------------

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    @property
    def packet_count(self) -> int:
        return len(self._packets)

    def sessions(self) -> list[PersistedSession]:
        """The persisted sessions, oldest disconnect first."""
        return list(self._sessions.values())

    def packets(self) -> list[StoredPacket]:
        """The packet log, oldest first."""
        return list(self._packets)

    # -- recording -----------------------------------------------------------------

    def record(self, packet: Packet, rooms: frozenset[str], except_: frozenset[str],
               flags: Mapping[str, Any], now: float) -> Packet:
        """The packet to send for a broadcast to ``rooms`` minus ``except_``.

        A recordable packet (:func:`is_recordable`) comes back with a fresh
        offset appended to its data and is kept; any other comes back as it
        is.  A plain ``socket.emit`` is recorded as a broadcast to the
        socket's own room, as Node does.
        """
        if not is_recordable(packet, flags):
            return packet
        seq = self._next_seq
        self._next_seq += 1
        offset = self._new_offset(seq)
        sent = attrs.evolve(packet, data=[*packet.data, offset])
        self._packets.append(StoredPacket(offset, sent, frozenset(rooms), frozenset(except_), now))
        self._seq_of[offset] = seq
        while len(self._packets) > self.max_packets:
            self._drop_oldest_packet()
        return sent

    def _drop_oldest_packet(self) -> None:
        dropped = self._packets.popleft()
        del self._seq_of[dropped.offset]
        self._first_seq += 1

    # -- sessions ------------------------------------------------------------------

    def persist(self, sid: str, pid: str, rooms: Iterable[str], data: Mapping[str, Any] | None,
                now: float) -> PersistedSession:
        """Keep a socket that closed for a recoverable reason (the caller
        checks :func:`is_recoverable`).  A second persist of one ``pid``
        replaces the first."""
        session = PersistedSession(sid, pid, frozenset(rooms), dict(data or {}), now)
        self._sessions.pop(pid, None)
        self._sessions[pid] = session
        if self.max_sessions is not None:
            while len(self._sessions) > self.max_sessions:
                del self._sessions[next(iter(self._sessions))]
        return session

    def restore(self, pid: str, offset: str, now: float) -> RestoredSession | None:
        """The session of ``pid`` and the packets it missed since ``offset``,
        or ``None`` (unknown or expired session, offset unknown or dropped
        by the cap or expiry: the client gets a fresh session).

        Any attempt consumes the session: a ``pid`` restores at most once.
        """
        session = self._sessions.pop(pid, None)
        if session is None or self._expired(session.disconnected_at, now):
            return None
        seq = self._seq_of.get(offset)
        if seq is None:
            return None
        missed = []
        start = seq - self._first_seq + 1
        for i in range(start, len(self._packets)):
            stored = self._packets[i]
            if should_include(session.rooms, stored.rooms, stored.except_):
                missed.append(stored.packet)
        return RestoredSession(session.sid, session.pid, session.rooms, dict(session.data), tuple(missed))

    # -- expiry --------------------------------------------------------------------

    def _expired(self, since: float, now: float) -> bool:
        return since + self.max_disconnection_duration < now

    def next_deadline(self) -> float | None:
        """When :meth:`expire` next has something to drop (``None``:
        nothing stored, or the window is infinite)."""
        if math.isinf(self.max_disconnection_duration):
            return None
        times = []
        if self._sessions:
            times.append(next(iter(self._sessions.values())).disconnected_at)
        if self._packets:
            times.append(self._packets[0].emitted_at)
        if not times:
            return None
        return min(times) + self.max_disconnection_duration

    def expire(self, now: float) -> None:
        """Drop the sessions and packets older than the window.

        Relies on ``now`` never going backwards between calls (sessions
        and packets are kept in time order)."""
        while self._sessions:
            pid, session = next(iter(self._sessions.items()))
            if not self._expired(session.disconnected_at, now):
                break
            del self._sessions[pid]
        while self._packets and self._expired(self._packets[0].emitted_at, now):
            self._drop_oldest_packet()
