"""Connection state recovery's pure store (txsocketio.socketio.recovery):
offsets, persisted sessions, restore, expiry and caps, as Node's
SessionAwareAdapter keeps them (plus the caps Node lacks)."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from txsocketio.socketio import recovery
from txsocketio.socketio.packet import Packet, PacketType
from txsocketio.socketio.recovery import RecoveryStore

NONE: frozenset[str] = frozenset()


def event(name: str, *args: object, nsp: str = "/", id: int | None = None) -> Packet:
    return Packet(PacketType.EVENT, nsp, [name, *args], id)


def store(window: float = 120, **kwargs: object) -> RecoveryStore:
    return RecoveryStore(window, new_offset=lambda seq: f"o{seq}", **kwargs)  # type: ignore[arg-type]


class ReasonsTests(unittest.TestCase):
    def test_recoverable_reasons_are_nodes(self) -> None:
        """Exactly the six reasons of socket.io 4.8's RECOVERABLE_DISCONNECT_REASONS persist a session."""
        self.assertEqual(recovery.RECOVERABLE_DISCONNECT_REASONS, {
            "transport error", "transport close", "forced close", "ping timeout",
            "server shutting down", "forced server close"})
        for reason in ["client namespace disconnect", "server namespace disconnect", "parse error", ""]:
            self.assertFalse(recovery.is_recoverable(reason), reason)
        self.assertTrue(recovery.is_recoverable("ping timeout"))

    def test_recordable(self) -> None:
        """Only events without ack id and without the volatile flag get an offset."""
        self.assertTrue(recovery.is_recordable(event("a"), {}))
        self.assertTrue(recovery.is_recordable(Packet(PacketType.BINARY_EVENT, "/", ["a", b"x"]), {}))
        self.assertFalse(recovery.is_recordable(event("a", id=3), {}))
        self.assertFalse(recovery.is_recordable(event("a"), {"volatile": True}))
        self.assertFalse(recovery.is_recordable(Packet(PacketType.ACK, "/", [1], 2), {}))
        self.assertFalse(recovery.is_recordable(Packet(PacketType.CONNECT, "/", {"sid": "x"}), {}))

    def test_credentials(self) -> None:
        """pid and offset are taken from the auth only when both are strings (Node 4.8)."""
        self.assertEqual(recovery.recovery_credentials({"pid": "p", "offset": "o", "token": 1}), ("p", "o"))
        for auth in [None, [], "x", {}, {"pid": "p"}, {"pid": "p", "offset": 123}, {"pid": 1, "offset": "o"},
                     {"offset": "o"}, {"pid": None, "offset": None}]:
            self.assertIsNone(recovery.recovery_credentials(auth), auth)

    def test_should_include(self) -> None:
        """Node's shouldIncludePacket: any shared room (or no rooms) and no excepted room."""
        self.assertTrue(recovery.should_include({"s", "r"}, NONE, NONE))
        self.assertTrue(recovery.should_include({"s", "r"}, frozenset({"r", "q"}), NONE))
        self.assertFalse(recovery.should_include({"s"}, frozenset({"r"}), NONE))
        self.assertFalse(recovery.should_include({"s", "r"}, NONE, frozenset({"s"})))
        self.assertFalse(recovery.should_include({"s", "r"}, frozenset({"r"}), frozenset({"r"})))


class RecordTests(unittest.TestCase):
    def test_offset_appended(self) -> None:
        """A recorded event comes back with its offset as last argument, and is kept."""
        s = store()
        sent = s.record(event("hello", 1), NONE, NONE, {}, now=0)
        self.assertEqual(sent, event("hello", 1, "o0"))
        self.assertEqual([p.offset for p in s.packets()], ["o0"])
        self.assertEqual(s.record(event("x"), NONE, NONE, {}, now=0).data, ["x", "o1"])

    def test_not_recorded(self) -> None:
        """Volatile events and events with an ack id pass unchanged and are not kept."""
        s = store()
        self.assertEqual(s.record(event("v"), NONE, NONE, {"volatile": True}, now=0), event("v"))
        self.assertEqual(s.record(event("a", id=1), NONE, NONE, {}, now=0), event("a", id=1))
        self.assertEqual(s.packet_count, 0)

    def test_default_offsets_unique_per_store(self) -> None:
        """Default offsets are strings unique within a store and across stores (random prefix)."""
        a, b = RecoveryStore(), RecoveryStore()
        offsets = [a.record(event("e"), NONE, NONE, {}, 0).data[-1] for _ in range(50)]
        offsets.append(b.record(event("e"), NONE, NONE, {}, 0).data[-1])
        self.assertTrue(all(isinstance(o, str) for o in offsets))
        self.assertEqual(len(set(offsets)), len(offsets))

    def test_bad_settings(self) -> None:
        """Nonsensical limits are refused with ValueError."""
        for kwargs in [{"max_disconnection_duration": -1}, {"max_packets": 0}, {"max_sessions": 0},
                       {"max_disconnection_duration": float("nan")}]:
            self.assertRaises(ValueError, RecoveryStore, **kwargs)


class RestoreTests(unittest.TestCase):
    def setUp(self) -> None:
        self.s = store(window=120)
        self.first = self.s.record(event("hello"), NONE, NONE, {}, now=1)
        self.s.persist("sid1", "pid1", {"sid1", "room1"}, {"foo": "bar"}, now=2)

    def test_restore_session_and_missed_packets(self) -> None:
        """A known pid and offset give back sid, rooms, data and the missed
        packets in order: to everyone, to a room of the socket, to the socket itself."""
        s = self.s
        p1 = s.record(event("hello1"), NONE, NONE, {}, now=3)
        p2 = s.record(event("hello2"), frozenset({"room1"}), NONE, {}, now=4)
        s.record(event("other"), frozenset({"room2"}), NONE, {}, now=5)
        s.record(event("not-me"), NONE, frozenset({"sid1"}), {}, now=5)
        s.record(event("volatile"), NONE, NONE, {"volatile": True}, now=5)
        p3 = s.record(event("hello3"), frozenset({"sid1"}), NONE, {}, now=6)
        got = s.restore("pid1", self.first.data[-1], now=7)
        assert got is not None
        self.assertEqual((got.sid, got.pid, got.rooms, got.data), ("sid1", "pid1", {"sid1", "room1"}, {"foo": "bar"}))
        self.assertEqual(got.missed_packets, (p1, p2, p3))
        self.assertEqual([p.data for p in got.missed_packets],
                         [["hello1", "o1"], ["hello2", "o2"], ["hello3", "o5"]])

    def test_nothing_missed(self) -> None:
        """The latest offset restores with no missed packets."""
        got = self.s.restore("pid1", self.first.data[-1], now=3)
        assert got is not None
        self.assertEqual(got.missed_packets, ())

    def test_pid_single_use(self) -> None:
        """A pid restores once; any attempt (even a failed one) consumes it."""
        self.assertIsNotNone(self.s.restore("pid1", "o0", now=3))
        self.assertIsNone(self.s.restore("pid1", "o0", now=3))
        self.s.persist("sid2", "pid2", {"sid2"}, {}, now=3)
        self.assertIsNone(self.s.restore("pid2", "nope", now=3))
        self.assertIsNone(self.s.restore("pid2", "o0", now=3))

    def test_unknown(self) -> None:
        """An unknown pid or offset is not recovered."""
        self.assertIsNone(self.s.restore("nope", "o0", now=3))
        self.assertIsNone(self.s.restore("pid1", "o99", now=3))

    def test_window(self) -> None:
        """At disconnect + window the session restores; a moment later it does not."""
        self.assertIsNotNone(self.s.restore("pid1", "o0", now=2 + 120))
        self.s.persist("sid1", "pid1", {"sid1"}, {}, now=200)
        self.s.record(event("keep"), NONE, NONE, {}, now=200)
        self.assertIsNone(self.s.restore("pid1", "o1", now=320.5))

    def test_data_is_copied(self) -> None:
        """Changing the dict passed to persist, or the restored one, does not change the store."""
        data = {"n": 1}
        s = store()
        s.record(event("e"), NONE, NONE, {}, 0)
        s.persist("a", "p", {"a"}, data, 0)
        data["n"] = 2
        got = s.restore("p", "o0", 1)
        assert got is not None
        self.assertEqual(got.data, {"n": 1})

    def test_persist_replaces(self) -> None:
        """Persisting one pid twice keeps only the later session."""
        self.s.persist("sid1", "pid1", {"sid1", "room9"}, {"v": 2}, now=5)
        self.assertEqual(self.s.session_count, 1)
        got = self.s.restore("pid1", "o0", now=6)
        assert got is not None
        self.assertEqual(got.data, {"v": 2})


class BoundsTests(unittest.TestCase):
    def test_packet_cap_drops_oldest(self) -> None:
        """Over max_packets the oldest packets go; a client whose offset
        fell out is not recovered, one whose offset is still there is, with
        exactly the packets after it."""
        s = store(max_packets=3)
        for i in range(5):
            s.record(event("e", i), NONE, NONE, {}, now=i)
        self.assertEqual([p.offset for p in s.packets()], ["o2", "o3", "o4"])
        s.persist("a", "pa", {"a"}, {}, 5)
        s.persist("b", "pb", {"b"}, {}, 5)
        self.assertIsNone(s.restore("pa", "o1", 6))
        got = s.restore("pb", "o2", 6)
        assert got is not None
        self.assertEqual([p.data for p in got.missed_packets], [["e", 3, "o3"], ["e", 4, "o4"]])

    def test_session_cap(self) -> None:
        """Over max_sessions the session that went away first is dropped."""
        s = store(max_sessions=2)
        s.record(event("e"), NONE, NONE, {}, 0)
        for i in range(3):
            s.persist(f"s{i}", f"p{i}", {f"s{i}"}, {}, i)
        self.assertEqual([x.pid for x in s.sessions()], ["p1", "p2"])
        self.assertIsNone(s.restore("p0", "o0", 3))

    def test_expire_and_deadline(self) -> None:
        """expire(now) drops what is older than the window; next_deadline says when that is."""
        s = store(window=10)
        self.assertIsNone(s.next_deadline())
        s.record(event("e"), NONE, NONE, {}, now=1)
        s.persist("a", "pa", {"a"}, {}, now=4)
        s.record(event("f"), NONE, NONE, {}, now=6)
        self.assertEqual(s.next_deadline(), 11)
        s.expire(11)
        self.assertEqual(s.packet_count, 2)
        s.expire(11.5)
        self.assertEqual(s.packet_count, 1)
        self.assertEqual(s.next_deadline(), 14)
        s.expire(14.5)
        self.assertEqual((s.session_count, s.packet_count), (0, 1))
        s.expire(16.5)
        self.assertEqual((s.session_count, s.packet_count, s.next_deadline()), (0, 0, None))

    def test_infinite_window(self) -> None:
        """With an infinite window nothing expires and there is no deadline."""
        s = store(window=float("inf"))
        s.record(event("e"), NONE, NONE, {}, 0)
        s.persist("a", "pa", {"a"}, {}, 0)
        self.assertIsNone(s.next_deadline())
        s.expire(1e12)
        self.assertIsNotNone(s.restore("pa", "o0", 1e12))


# -- properties -----------------------------------------------------------------------

ops = st.lists(st.one_of(
    st.tuples(st.just("record"), st.floats(0, 5), st.booleans()),
    st.tuples(st.just("persist"), st.floats(0, 5), st.integers(0, 5)),
    st.tuples(st.just("restore"), st.floats(0, 5), st.integers(0, 5)),
    st.tuples(st.just("expire"), st.floats(0, 5), st.just(0)),
), max_size=60)


class PropertyTests(unittest.TestCase):
    @settings(max_examples=200, deadline=None)
    @given(ops, st.integers(1, 6), st.integers(1, 4), st.floats(0, 20))
    def test_bounded_and_consistent(self, script, max_packets, max_sessions, window) -> None:
        """Under any sequence of operations: never more than max_packets
        packets or max_sessions sessions; after expire(now) nothing older
        than the window is left; a restore never returns a packet at or
        before its offset, never one older than the window or out of
        order, and only to a session still inside the window."""
        s = RecoveryStore(window, max_packets=max_packets, max_sessions=max_sessions)
        now = 0.0
        offsets: list[str] = []
        for op, dt, arg in script:
            now += dt
            if op == "record":
                sent = s.record(event("e"), NONE, NONE, {"volatile": True} if arg else {}, now)
                if not arg:
                    offsets.append(sent.data[-1])
            elif op == "persist":
                s.persist(f"s{arg}", f"p{arg}", {f"s{arg}"}, {}, now)
            elif op == "restore":
                if offsets:
                    off = offsets[arg % len(offsets)]
                    sessions = {x.pid: x for x in s.sessions()}
                    got = s.restore(f"p{arg}", off, now)
                    if got is not None:
                        self.assertLessEqual(now, sessions[f"p{arg}"].disconnected_at + window)
                        missed = [p.data[-1] for p in got.missed_packets]
                        self.assertEqual(missed, offsets[offsets.index(off) + 1:])
                    self.assertNotIn(f"p{arg}", {x.pid for x in s.sessions()})
            else:
                s.expire(now)
                self.assertTrue(all(p.emitted_at + window >= now for p in s.packets()))
                self.assertTrue(all(x.disconnected_at + window >= now for x in s.sessions()))
            self.assertLessEqual(s.packet_count, max_packets)
            self.assertLessEqual(s.session_count, max_sessions)
            deadline = s.next_deadline()
            if s.packet_count or s.session_count:
                assert deadline is not None
                self.assertGreaterEqual(deadline + 1e-9, min(
                    [p.emitted_at for p in s.packets()] + [x.disconnected_at for x in s.sessions()]) + window)


room_names = st.sampled_from(["a", "b", "s1", "s2"])
audiences = st.tuples(st.frozensets(room_names, max_size=2), st.frozensets(room_names, max_size=2))


class AudienceModelTests(unittest.TestCase):
    @settings(max_examples=200, deadline=None)
    @given(st.lists(audiences, min_size=1, max_size=12), st.frozensets(room_names, max_size=3), st.data())
    def test_missed_packets_model(self, log, session_rooms, data) -> None:
        """restore() returns exactly the packets after the offset whose
        audience (rooms, or everyone; minus except) includes the session's
        rooms, in order, each with its own offset (a model check)."""
        s = store()
        sent = [s.record(event("e", i), rooms, except_, {}, now=0) for i, (rooms, except_) in enumerate(log)]
        start = data.draw(st.integers(0, len(log) - 1))
        s.persist("sid", "pid", session_rooms, {}, now=0)
        got = s.restore("pid", sent[start].data[-1], now=0)
        assert got is not None
        want = [sent[i] for i in range(start + 1, len(log))
                if (not log[i][0] or log[i][0] & session_rooms) and not log[i][1] & session_rooms]
        self.assertEqual(list(got.missed_packets), want)


class PurityTests(unittest.TestCase):
    def test_no_io_imports(self) -> None:
        """recovery imports nothing from twisted.internet, twisted.web or autobahn."""
        code = ("import sys, txsocketio.socketio.recovery; print(','.join(sorted(m for m in sys.modules "
                "if m.startswith(('twisted.internet', 'twisted.web', 'autobahn')))))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        self.assertEqual(out.strip(), "")
