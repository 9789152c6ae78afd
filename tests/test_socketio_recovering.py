"""Connection state recovery wired into the server (txsocketio.socketio.recovering):
the option, the CONNECT reply's pid, offsets on what goes through the adapter,
restore (id, rooms, data, missed packets before the reply), middlewares,
recoverable reasons, the expiry timer, class-based namespaces, and a soak of
1,000 disconnect/recover cycles with bounded memory (10,000 in
bench/recovery_soak.py).  All in memory (TestClient on a task.Clock)."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.task import Clock
from twisted.trial import unittest

from txsocketio import Namespace, SocketIOServer
from txsocketio.adapters.memory import MemoryAdapter
from txsocketio.socketio.recovering import (
    RecoveringMemoryAdapter,
    RecoveringSocketExecutor,
    RecoveryOptions,
    recovery_options,
)
from txsocketio.socketio.socket import SocketExecutor
from txsocketio.testing import TestClient


def timers_of(clock: Clock, owner: object) -> int:
    """How many pending calls on ``clock`` are methods of ``owner``."""
    return sum(1 for call in clock.getDelayedCalls() if getattr(call.func, "__self__", None) is owner)


def payload(message: str | bytes) -> Any:
    """The JSON part of a Socket.IO message of the main namespace (``'2["ev",1]'`` -> ``["ev", 1]``)."""
    assert isinstance(message, str)
    return json.loads(message[1:])


class _Base(unittest.TestCase):
    window = 10.0
    skip_middlewares = True

    def setUp(self) -> None:
        self.clock = Clock()
        self.sio = SocketIOServer(reactor=self.clock, connection_state_recovery={
            "max_disconnection_duration": self.window, "skip_middlewares": self.skip_middlewares})
        self.connects: list[Any] = []
        self.middleware_runs = 0

        @self.sio.use
        def count(socket: Any) -> None:
            self.middleware_runs += 1

        @self.sio.on("connect")
        def connect(socket: Any) -> None:
            self.connects.append((socket.id, socket.recovered))
            if not socket.recovered:
                socket.data = {"tag": len(self.connects)}
                socket.join("room1")

    def credentials(self, client: TestClient) -> dict[str, str]:
        """The auth a socket.io-client 4.8 sends back: its pid and the last offset it got."""
        pid = payload(client.raw_received[0])["pid"]
        offsets = [payload(m)[-1] for m in client.raw_received if isinstance(m, str) and m.startswith("2")]
        return {"pid": pid, "offset": offsets[-1]}

    @property
    def adapter(self) -> RecoveringMemoryAdapter:
        adapter = self.sio.of("/").adapter
        assert isinstance(adapter, RecoveringMemoryAdapter)
        return adapter


class OffTests(unittest.TestCase):
    def test_off_by_default_nothing_changes(self) -> None:
        """Without the option: the reply is {"sid"} only, no offsets, the plain
        adapter and the direct socket executor (the hot path of before)."""
        sio = SocketIOServer(reactor=Clock())
        client = TestClient(sio)
        self.assertEqual(list(payload(client.raw_received[0])), ["sid"])
        sio.emit("a", 1)
        sio.of("/").sockets[client.sids["/"]].emit("b", 2)
        self.assertEqual(client.pop_received(), [("a", [1]), ("b", [2])])
        self.assertIs(sio.config.adapter, MemoryAdapter)
        self.assertIs(type(sio.of("/").sockets[client.sids["/"]].executor), SocketExecutor)
        self.assertIsNone(sio.config.connection_state_recovery)

    def test_options_validated(self) -> None:
        """{} and True are Node's defaults; unknown names and bad values are refused."""
        self.assertEqual(recovery_options({}), RecoveryOptions())
        self.assertEqual(recovery_options(True).max_disconnection_duration, 120.0)
        self.assertIsNone(recovery_options(None))
        self.assertRaises(TypeError, recovery_options, {"max_disconnection": 1})
        self.assertRaises(TypeError, recovery_options, 5)
        for bad in [{"max_disconnection_duration": -1}, {"max_disconnection_duration": "2"},
                    {"skip_middlewares": 1}, {"max_packets": 0}, {"max_sessions": 0}]:
            self.assertRaises(ValueError, SocketIOServer, reactor=Clock(), connection_state_recovery=bad)

    def test_configure_switches_the_default_adapter(self) -> None:
        """configure(connection_state_recovery=...) before any client swaps the
        namespaces' default adapter both ways; a custom adapter is kept."""
        sio = SocketIOServer(reactor=Clock())
        sio.configure(connection_state_recovery={})
        self.assertIsInstance(sio.of("/").adapter, RecoveringMemoryAdapter)
        sio.configure(connection_state_recovery=None)
        self.assertIs(type(sio.of("/").adapter), MemoryAdapter)
        custom = SocketIOServer(reactor=Clock(), adapter=MemoryAdapter, connection_state_recovery={})
        self.assertIs(custom.config.adapter, RecoveringMemoryAdapter)  # the default, named: same thing

    def test_no_timer_when_off(self) -> None:
        """Without recovery, connecting, emitting and dropping leave no timer behind."""
        clock = Clock()
        sio = SocketIOServer(reactor=clock)
        client = TestClient(sio)
        sio.emit("a")
        client.close("transport close")
        self.assertEqual([c for c in clock.getDelayedCalls()
                          if isinstance(getattr(c.func, "__self__", None), MemoryAdapter)], [])


class WireTests(_Base):
    def test_connect_reply_carries_pid(self) -> None:
        """The CONNECT reply is {"sid", "pid"}; each new session gets a new pid."""
        a, b = TestClient(self.sio), TestClient(self.sio)
        pa, pb = payload(a.raw_received[0]), payload(b.raw_received[0])
        self.assertEqual(sorted(pa), ["pid", "sid"])
        self.assertNotEqual(pa["pid"], pb["pid"])
        self.assertIsInstance(self.sio.of("/").sockets[pa["sid"]].executor, RecoveringSocketExecutor)

    def test_offsets_on_broadcasts_and_socket_emit(self) -> None:
        """Broadcasts and a plain socket.emit get a string offset as last
        argument; volatile emits, emits with an ack and middleware emits do not."""
        seen: list[Any] = []

        @self.sio.use
        def greet(socket: Any) -> None:
            socket.emit("early")

        client = TestClient(self.sio)
        client.on("asks", lambda: seen.append("asked"))
        socket = self.sio.of("/").sockets[client.sids["/"]]
        self.sio.emit("all", 1)
        self.sio.to("room1").emit("room", 2)
        socket.emit("direct", 3)
        socket.volatile.emit("vol")
        self.sio.volatile.emit("vol2")
        socket.emit_with_ack("asks")
        received = client.pop_received()
        self.assertEqual(received[0], ("early", []))
        for name, args in received[1:4]:
            self.assertIsInstance(args[-1], str, name)
        self.assertEqual([r[0] for r in received[1:4]], ["all", "room", "direct"])
        self.assertEqual(received[4:], [("vol", []), ("vol2", []), ("asks", [])])
        self.assertEqual(len({args[-1] for _, args in received[1:4]}), 3)
        self.assertEqual(self.adapter.store.packet_count, 3)

    def test_eio3_clients_get_no_pid(self) -> None:
        """Socket.IO v4 clients (Engine.IO 3) have no recovery: empty CONNECT reply, no pid."""
        sio = SocketIOServer(reactor=self.clock, allow_eio3=True, connection_state_recovery={})
        client = TestClient(sio, protocol=3)
        socket = sio.of("/").sockets[client.sids["/"]]
        self.assertIsNone(socket.pid)


class RestoreTests(_Base):
    def test_recovered_with_id_rooms_data_and_missed_packets_before_the_reply(self) -> None:
        """A client cut off and back within the window: same id, rooms and data,
        recovered True, the packets it missed (to everyone, its room, itself)
        in order before the CONNECT reply; packets for others are not replayed."""
        first = TestClient(self.sio)
        other = TestClient(self.sio)
        sid = first.sids["/"]
        old = self.sio.of("/").sockets[sid]
        self.sio.emit("hello")
        auth = self.credentials(first)
        first.close("transport close")
        self.sio.emit("m1")
        self.sio.to("room1").emit("m2")
        old.emit("m3")
        self.sio.to(other.sids["/"]).emit("not-for-you")
        self.sio.except_("room1").emit("not-for-you-either")
        self.sio.volatile.emit("volatile")
        self.clock.advance(self.window - 1)
        back = TestClient(self.sio, auth=auth)
        self.assertEqual(back.sids["/"], sid)
        kinds = [m[0] for m in back.raw_received]
        self.assertEqual(kinds, ["2", "2", "2", "0"])
        self.assertEqual([payload(m)[0] for m in back.raw_received[:3]], ["m1", "m2", "m3"])
        self.assertEqual(payload(back.raw_received[3]), {"sid": sid, "pid": auth["pid"]})
        socket = self.sio.of("/").sockets[sid]
        self.assertTrue(socket.recovered)
        self.assertEqual(socket.data, {"tag": 1})
        self.assertEqual(socket.rooms, {sid, "room1"})
        self.assertEqual(self.connects[-1], (sid, True))
        self.sio.to("room1").emit("after")
        self.assertEqual(back.pop_received()[-1][0], "after")

    def test_middlewares_skipped(self) -> None:
        """With skip_middlewares (the default) a recovered client does not run them."""
        first = TestClient(self.sio)
        self.sio.emit("x")
        auth = self.credentials(first)
        first.close("ping timeout")
        TestClient(self.sio, auth=auth)
        self.assertEqual(self.middleware_runs, 1)
        self.assertEqual(self.connects[-1][1], True)

    def test_unknown_pid_bad_offset_and_no_offset_get_fresh_sessions(self) -> None:
        """An unknown pid, an offset never issued, or a client that never got
        an offset: a new id, recovered False (the session is consumed by the try)."""
        first = TestClient(self.sio)
        self.sio.emit("x")
        auth = self.credentials(first)
        old_sid = first.sids["/"]
        first.close("transport close")
        for bad in [{"pid": "nope", "offset": auth["offset"]}, {"pid": auth["pid"]},
                    {"pid": auth["pid"], "offset": 5}]:
            client = TestClient(self.sio, auth=bad)
            self.assertNotEqual(client.sids["/"], old_sid)
        client = TestClient(self.sio, auth={"pid": auth["pid"], "offset": "zz"})
        self.assertNotEqual(client.sids["/"], old_sid)
        again = TestClient(self.sio, auth=auth)  # the try above consumed it
        self.assertNotEqual(again.sids["/"], old_sid)
        self.assertFalse(any(r for _, r in self.connects))

    def test_after_the_window_a_fresh_session(self) -> None:
        """Past max_disconnection_duration the session and packets are gone:
        a fresh session, and the store is empty again."""
        first = TestClient(self.sio)
        self.sio.emit("x")
        auth = self.credentials(first)
        old_sid = first.sids["/"]
        first.close("transport close")
        self.clock.advance(self.window + 1)
        self.assertEqual((self.adapter.store.session_count, self.adapter.store.packet_count), (0, 0))
        back = TestClient(self.sio, auth=auth)
        self.assertNotEqual(back.sids["/"], old_sid)
        self.assertEqual(self.connects[-1][1], False)

    def test_only_recoverable_reasons_persist(self) -> None:
        """A client namespace disconnect and a server disconnect persist nothing;
        transport close, ping timeout, forced close and server shutdown do."""
        for leave in [lambda c, s: c.disconnect(), lambda c, s: s.disconnect(),
                      lambda c, s: s.disconnect(True)]:
            client = TestClient(self.sio)
            self.sio.emit("x")
            leave(client, self.sio.of("/").sockets[client.sids["/"]])
        self.assertEqual(self.adapter.store.session_count, 0)
        for reason in ["transport close", "ping timeout", "forced close", "transport error"]:
            TestClient(self.sio).close(reason)
        self.assertEqual(self.adapter.store.session_count, 4)
        TestClient(self.sio)
        self.sio.close()
        self.assertEqual(self.adapter.store.session_count, 5)

    def test_packet_cap_makes_an_old_offset_unrecoverable(self) -> None:
        """When max_packets drops a client's offset it is not recovered
        (recovered False), as documented."""
        sio = SocketIOServer(reactor=self.clock, connection_state_recovery={"max_packets": 3})
        first = TestClient(sio)
        sio.emit("x")
        auth = self.credentials(first)
        old_sid = first.sids["/"]
        first.close("transport close")
        for i in range(3):
            sio.emit("flood", i)
        back = TestClient(sio, auth=auth)
        self.assertNotEqual(back.sids["/"], old_sid)
        self.assertFalse(sio.of("/").sockets[back.sids["/"]].recovered)


class MiddlewareTests(_Base):
    skip_middlewares = False

    def test_middlewares_run_when_not_skipped_and_see_recovered(self) -> None:
        """With skip_middlewares False they run, and socket.recovered is already True."""
        seen: list[bool] = []
        self.sio.use(lambda socket: seen.append(socket.recovered))
        first = TestClient(self.sio)
        self.sio.emit("x")
        auth = self.credentials(first)
        first.close("transport close")
        TestClient(self.sio, auth=auth)
        self.assertEqual(self.middleware_runs, 2)
        self.assertEqual(seen, [False, True])


class TimerTests(_Base):
    def test_one_timer_per_namespace_and_none_when_idle(self) -> None:
        """The store's expiry uses at most one timer per namespace, armed
        when something is kept and gone once everything expired."""
        self.assertEqual(timers_of(self.clock, self.adapter), 0)
        clients = [TestClient(self.sio) for _ in range(5)]
        for i in range(20):
            self.sio.emit("x", i)
        for c in clients:
            c.close("transport close")
        self.assertEqual(timers_of(self.clock, self.adapter), 1)
        self.clock.advance(self.window + 0.5)
        self.assertEqual(timers_of(self.clock, self.adapter), 0)
        self.assertEqual((self.adapter.store.session_count, self.adapter.store.packet_count), (0, 0))

    def test_close_cancels_the_timer(self) -> None:
        """Closing the adapter (server shutdown) cancels its timer."""
        TestClient(self.sio)
        self.sio.emit("x")
        self.assertEqual(timers_of(self.clock, self.adapter), 1)
        self.adapter.close()
        self.assertEqual(timers_of(self.clock, self.adapter), 0)


class ClassBasedTests(_Base):
    def test_on_connect_sees_recovered_and_a_new_instance(self) -> None:
        """A class-based namespace's on_connect sees self.socket.recovered; the
        recovered connection gets a new instance, its state in socket.data."""
        instances: list[Any] = []

        class Chat(Namespace):
            def on_connect(self, auth: Any) -> None:
                instances.append((self, self.socket.recovered, dict(self.socket.data)))
                if not self.socket.recovered:
                    self.socket.data["nick"] = "ann"

        self.sio.register("/chat", Chat)
        first = TestClient(self.sio, namespace="/chat")
        self.sio.of("/chat").emit("x")
        pid = json.loads(first.raw_received[0][7:])["pid"]
        offset = json.loads(first.raw_received[-1][7:])[-1]
        first.close("transport close")
        TestClient(self.sio, namespace="/chat", auth={"pid": pid, "offset": offset})
        (one, r1, d1), (two, r2, d2) = instances
        self.assertIsNot(one, two)
        self.assertEqual((r1, d1, r2, d2), (False, {}, True, {"nick": "ann"}))


class SoakTests(unittest.TestCase):
    def test_a_thousand_cycles_memory_bounded(self) -> None:
        """1,000 disconnect/recover cycles with traffic (twice the window and
        the cap): every one recovers, and nothing grows: the packet log stays
        within its cap, at most one session is kept, and the server's tables
        hold one client.  The 10,000-cycle soak with its traced-memory figure
        is bench/recovery_soak.py (too slow for the fast tier)."""
        clock = Clock()
        sio = SocketIOServer(reactor=clock, connection_state_recovery={
            "max_disconnection_duration": 5, "max_packets": 500})
        nsp = sio.of("/")
        adapter = nsp.adapter
        assert isinstance(adapter, RecoveringMemoryAdapter)
        client = TestClient(sio)
        sid = client.sids["/"]
        sio.emit("tick", -1)
        pid = payload(client.raw_received[0])["pid"]
        most = 0
        for cycle in range(1_000):
            offset = next(payload(m)[-1] for m in reversed(client.raw_received) if m[0] == "2")
            client.close("transport close")
            sio.emit("tick", cycle)
            clock.advance(0.01)
            client = TestClient(sio, auth={"pid": pid, "offset": offset})
            self.assertEqual(client.sids["/"], sid)
            self.assertEqual(payload(client.raw_received[0]), ["tick", cycle, offset_after(offset)])
            most = max(most, adapter.store.packet_count)
        self.assertEqual(most, 500)
        self.assertEqual(adapter.store.session_count, 0)
        self.assertEqual((len(sio.clients), len(nsp.sockets), len(adapter.sids)), (1, 1, 1))
        self.assertEqual(timers_of(clock, adapter), 1)  # the store's one timer


def offset_after(offset: str) -> Any:
    """Matches any offset other than ``offset`` (offsets are opaque)."""
    return _OtherThan(offset)


class _OtherThan:
    def __init__(self, value: str) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other != self.value

    def __repr__(self) -> str:
        return f"<a str other than {self.value!r}>"


class PlainAdapterTests(unittest.TestCase):
    def test_an_adapter_without_sessions_never_recovers_and_keeps_the_direct_path(self) -> None:
        """With an adapter that cannot keep sessions (a custom or the pub/sub
        one), clients get a pid but are never recovered, and socket.emit keeps
        writing straight to the client (no broadcast through the adapter)."""
        sio = SocketIOServer(reactor=Clock(), adapter=lambda nsp: MemoryAdapter(nsp),
                             connection_state_recovery={})
        client = TestClient(sio)
        sid = client.sids["/"]
        pid = payload(client.raw_received[0])["pid"]
        socket = sio.of("/").sockets[sid]
        self.assertIs(type(socket.executor), SocketExecutor)
        socket.emit("x")
        self.assertEqual(client.pop_received(), [("x", [])])
        client.close("transport close")
        back = TestClient(sio, auth={"pid": pid, "offset": "anything"})
        self.assertNotEqual(back.sids["/"], sid)
