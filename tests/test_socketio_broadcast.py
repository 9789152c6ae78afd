"""Broadcasting: rooms and exclusions, encoding once, broadcasts with acks,
fetch_sockets / sockets_join / sockets_leave / disconnect_sockets, volatile
broadcasts and broadcasts over dynamic namespaces; the memory adapter's
tables after everyone has left.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.internet.defer import CancelledError

from txsocketio import AckTimeout, SocketIOServer
from txsocketio.adapters.base import Flags
from txsocketio.socketio.broadcast import BroadcastOperator
from txsocketio.testing import TestClient

from tests.socketio_support import ServerTestCase


class RoomTestsMixin:
    """Who receives what."""

    protocol: int
    sio: SocketIOServer

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.sio.of("/chat")
        self.a, self.b, self.c = (self.client() for _ in range(3))
        self.other = TestClient(self.sio, namespace="/chat")  # v5: not in /
        self.sa, self.sb, self.sc = (self.socket_of(x) for x in (self.a, self.b, self.c))
        self.sa.join("red")
        self.sb.join("red", "blue")
        self.sc.join("blue")

    def events(self) -> list[list[str]]:
        return [[e for e, _ in x.pop_received()] for x in (self.a, self.b, self.c)]

    def test_server_emit_reaches_everyone_in_main_namespace(self) -> None:
        """sio.emit reaches every socket of / and no other namespace."""
        self.sio.emit("all", 1)
        self.assertEqual(self.events(), [["all"]] * 3)
        self.assertEqual(self.other.pop_received("/chat"), [])

    def test_to_room(self) -> None:
        """sio.to(room) reaches the room's members, the sender included."""
        self.sio.to("red").emit("r")
        self.assertEqual(self.events(), [["r"], ["r"], []])

    def test_to_several_rooms_once(self) -> None:
        """A socket in several selected rooms gets the event once."""
        self.sio.to("red").to("blue").emit("x")
        self.sio.in_(["red", "blue"]).emit("y")
        self.assertEqual(self.events(), [["x", "y"]] * 3)

    def test_except(self) -> None:
        """except_ leaves out the members of rooms (socket ids are rooms)."""
        self.sio.except_("blue").emit("e1")
        self.sio.to("red").except_(self.sa.id).emit("e2")
        self.assertEqual(self.events(), [["e1"], ["e2"], []])

    def test_python_socketio_spelling(self) -> None:
        """sio.emit(to=..., skip_sid=...) and room=... work as in python-socketio."""
        self.sio.emit("p", to="red", skip_sid=self.sb.id)
        self.sio.emit("q", room="blue")
        self.assertEqual(self.events(), [["p"], ["q"], ["q"]])

    def test_socket_to_excludes_sender(self) -> None:
        """socket.to(room) reaches the room but not the sender."""
        self.sb.to("red").emit("from-b")
        self.sb.to("red", "blue").emit("twice")
        self.assertEqual(self.events(), [["from-b", "twice"], [], ["twice"]])

    def test_socket_broadcast_and_except(self) -> None:
        """socket.broadcast reaches everyone else; socket.except_ also skips rooms."""
        self.sa.broadcast.emit("b")
        self.sa.except_("blue").emit("c")
        self.assertEqual(self.events(), [[], ["b"], ["b"]])

    def test_namespace_emit(self) -> None:
        """sio.of(name).emit reaches only that namespace."""
        self.sio.of("/chat").emit("c")
        self.assertEqual(self.events(), [[], [], []])
        self.assertEqual(self.other.pop_received("/chat"), [("c", [])])

    def test_encoded_once(self) -> None:
        """A broadcast encodes once and hands the same messages to every client."""
        batches: list[Any] = []
        for x in (self.a, self.b, self.c):
            original = x.connection.send_many
            x.connection.send_many = (lambda original: lambda ms: (batches.append(ms), original(ms)))(original)
        prepared: list[Any] = []
        nsp = self.sio.of("/")
        real = nsp.prepare
        self.patch(nsp, "prepare", lambda packet, *a: prepared.append(packet) or real(packet, *a))
        self.sio.emit("big", {"data": "x" * 1000}, b"\x00")
        self.assertEqual(len(prepared), 1)
        self.assertEqual(len(batches), 3)
        self.assertTrue(all(batch is batches[0] for batch in batches))

    def test_unserialisable_broadcast(self) -> None:
        """A broadcast with an argument that cannot be serialised raises
        TypeError naming it, and reaches nobody."""
        e = self.assertRaises(TypeError, self.sio.to("red").emit, "ev", 1, 2, object())
        self.assertIn("argument 3 of event 'ev'", str(e))
        self.assertRaises(TypeError, self.sa.broadcast.emit, "ev", object())
        self.assertRaises(TypeError, self.sio.to("nobody-here").emit, "ev", object())
        self.assertEqual(self.events(), [[], [], []])

    def test_volatile_broadcast(self) -> None:
        """A volatile broadcast skips the clients that cannot take it now."""
        self.b.connection.writable = False
        self.sio.volatile.emit("v")
        self.sio.of("/").volatile.to("blue").emit("w")
        self.assertEqual(self.events(), [["v"], [], ["v", "w"]])

    def test_local_and_compress(self) -> None:
        """local and compress(flag) select the same sockets with one server."""
        self.sio.local.emit("l")
        self.sio.compress(False).to("red").emit("c")
        self.assertEqual(self.events(), [["l", "c"], ["l", "c"], ["l"]])

    def test_fetch_sockets(self) -> None:
        """fetch_sockets returns the selected sockets."""
        everyone = self.successResultOf(self.sio.fetch_sockets())
        self.assertEqual({s.id for s in everyone}, {self.sa.id, self.sb.id, self.sc.id})
        reds = self.successResultOf(self.sio.to("red").except_(self.sa.id).fetch_sockets())
        self.assertEqual(reds, [self.sb])
        self.assertEqual(self.successResultOf(self.sio.of("/chat").fetch_sockets()),
                         [self.socket_of(self.other, "/chat")])

    def test_sockets_join_and_leave(self) -> None:
        """sockets_join/sockets_leave change the rooms of the selected sockets."""
        self.assertIsNone(self.successResultOf(self.sio.to("blue").sockets_join("green", "x")))
        self.assertEqual(self.sb.rooms, {self.sb.id, "red", "blue", "green", "x"})
        self.assertEqual(self.sa.rooms, {self.sa.id, "red"})
        self.successResultOf(self.sio.sockets_leave("red"))
        self.assertNotIn("red", self.sio.of("/").adapter.rooms)
        self.assertEqual(self.successResultOf(self.sio.of("/").all_rooms()),
                         {self.sa.id, self.sb.id, self.sc.id, "blue", "green", "x"})

    def test_disconnect_sockets(self) -> None:
        """disconnect_sockets() ends the selected sockets' namespace; with close,
        their whole connection."""
        reasons: list[str] = []
        self.sio.on("disconnect", lambda socket, reason: reasons.append(reason))
        self.successResultOf(self.sio.to("red").except_("blue").disconnect_sockets())
        self.assertEqual(self.wire(self.a)[-1], "41")
        self.assertFalse(self.a.connection.closed)
        self.successResultOf(self.sio.to("blue").disconnect_sockets(close=True))
        self.assertTrue(self.b.connection.closed and self.c.connection.closed)
        self.assertEqual(reasons, ["server namespace disconnect"] * 3)
        self.assertEqual(self.sio.of("/").sockets, {})

    def test_server_side_emit_alone(self) -> None:
        """With the memory adapter there are no other servers: no answers."""
        self.assertEqual(self.successResultOf(self.sio.server_side_emit("hello", want_ack=True)), [])
        self.assertEqual(self.successResultOf(self.sio.of("/").server_count()), 1)

    def test_no_leaks(self) -> None:
        """When everyone has left, the adapter's tables are empty."""
        for x in (self.a, self.b, self.c, self.other):
            x.close()
        self.assertNoLeaks("/", "/chat")


class RoomV4Tests(RoomTestsMixin, ServerTestCase):
    protocol = 4


class RoomV3Tests(RoomTestsMixin, ServerTestCase):
    protocol = 3


class BroadcastAckTestsMixin:
    """sio.timeout(s).emit_with_ack(...): one answer per client."""

    protocol: int
    sio: SocketIOServer

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.clients = [self.client() for _ in range(3)]
        for i, c in enumerate(self.clients):
            c.on("vote", lambda i=i: ("yes", i))  # only the first ack argument counts

    def test_all_answer(self) -> None:
        """The Deferred fires with every client's first ack argument."""
        d = self.sio.timeout(5).emit_with_ack("vote")
        self.assertEqual(sorted(self.successResultOf(d)), ["yes"] * 3)
        self.assertEqual(self.app_calls(), [])

    def test_timeout_with_partial_responses(self) -> None:
        """When some clients do not answer, AckTimeout carries the answers that
        arrived and how many clients were asked; the sockets forget the ack id."""
        silent = self.client()
        d = self.sio.timeout(2).emit_with_ack("vote")
        self.assertNoResult(d)
        self.clock.advance(2)
        error = self.failureResultOf(d, AckTimeout).value
        self.assertEqual(error.responses, ["yes"] * 3)
        self.assertEqual(error.expected, 4)
        self.assertEqual(self.socket_of(silent).pending_acks, 0)
        self.assertEqual(self.app_calls(), [])

    def test_late_answers_are_ignored(self) -> None:
        """An answer after the timeout changes nothing."""
        silent = self.client()
        d = self.sio.timeout(1).emit_with_ack("ask")
        ack_id = int(silent.raw_received[-1][1:].split("[")[0])
        self.clock.advance(1)
        self.failureResultOf(d, AckTimeout)
        silent.send_raw(f"3{ack_id}[1]")
        self.assertTrue(silent.is_connected())

    def test_no_recipient(self) -> None:
        """With nobody selected the Deferred fires at once with []."""
        d = self.sio.to("empty-room").timeout(5).emit_with_ack("vote")
        self.assertEqual(self.successResultOf(d), [])
        self.assertEqual(self.app_calls(), [])

    def test_needs_timeout(self) -> None:
        """Without timeout() emit_with_ack refuses (it could wait for ever)."""
        self.assertRaises(ValueError, self.sio.to("x").emit_with_ack, "vote")
        self.assertRaises(ValueError, self.sio.emit_with_ack, "vote")

    def test_unserialisable(self) -> None:
        """A TypeError at call time, and no timer is left behind."""
        self.assertRaises(TypeError, self.sio.timeout(5).emit_with_ack, "vote", object())
        self.assertEqual(self.app_calls(), [])

    def test_cancel(self) -> None:
        """Cancelling stops the timer and forgets the ack ids."""
        silent = self.client()
        d = self.sio.timeout(5).emit_with_ack("ask")
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.socket_of(silent).pending_acks, 0)
        self.assertEqual(self.app_calls(), [])

    def test_from_socket(self) -> None:
        """socket.timeout(...).broadcast-style: socket.to(room) with acks skips the sender."""
        sender = self.socket_of(self.clients[0])
        for c in self.clients:
            self.socket_of(c).join("team")
        d = sender.to("team").timeout(5).emit_with_ack("vote")
        self.assertEqual(self.successResultOf(d), ["yes", "yes"])


class BroadcastAckV4Tests(BroadcastAckTestsMixin, ServerTestCase):
    protocol = 4


class BroadcastAckV3Tests(BroadcastAckTestsMixin, ServerTestCase):
    protocol = 3


class DynamicBroadcastTestsMixin:
    """Operations on a dynamic namespace reach every child."""

    protocol: int
    sio: SocketIOServer

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.parent = self.sio.of(re.compile(r"/org-\d+"))
        self.one = self.client()
        self.one.connect("/org-1")
        self.two = self.client()
        self.two.connect("/org-2")
        self.s1 = self.socket_of(self.one, "/org-1")
        self.s2 = self.socket_of(self.two, "/org-2")
        self.s1.join("admins")

    def test_rooms_across_children(self) -> None:
        """parent.to(room) reaches the room in every child; except_ works too."""
        self.parent.to("admins").emit("a")
        self.parent.except_("admins").emit("b")
        self.assertEqual(self.one.pop_received("/org-1"), [("a", [])])
        self.assertEqual(self.two.pop_received("/org-2"), [("b", [])])

    def test_fetch_join_leave_disconnect(self) -> None:
        """fetch_sockets, sockets_join, sockets_leave, disconnect_sockets span the children."""
        self.assertEqual({s.id for s in self.successResultOf(self.parent.fetch_sockets())},
                         {self.s1.id, self.s2.id})
        self.assertIsNone(self.successResultOf(self.parent.sockets_join("all")))
        self.assertIn("all", self.s2.rooms)
        self.assertIsNone(self.successResultOf(self.parent.sockets_leave("all")))
        self.assertNotIn("all", self.s2.rooms)
        self.assertIsNone(self.successResultOf(self.parent.to("admins").disconnect_sockets()))
        self.assertFalse(self.one.is_connected("/org-1"))
        self.assertTrue(self.two.is_connected("/org-2"))

    def test_emit_with_ack_across_children(self) -> None:
        """Answers from every child come in one list; on timeout one AckTimeout
        carries them all."""
        self.one.on("q", lambda: 1, namespace="/org-1")
        d = self.parent.timeout(3).emit_with_ack("q")
        self.assertNoResult(d)
        self.clock.advance(3)
        error = self.failureResultOf(d, AckTimeout).value
        self.assertEqual((error.responses, error.expected), ([1], 2))
        self.two.on("q", lambda: 2, namespace="/org-2")
        d = self.parent.timeout(3).emit_with_ack("q")
        self.assertEqual(sorted(self.successResultOf(d)), [1, 2])
        self.assertRaises(ValueError, self.parent.emit_with_ack, "q")

    def test_checks_without_children(self) -> None:
        """With no child yet, emits still check names and arguments."""
        empty = self.sio.of(re.compile(r"/none-\d+"))
        self.assertRaises(TypeError, empty.emit, "ev", object())
        self.assertRaises(ValueError, empty.emit, "connect")
        self.assertEqual(self.successResultOf(empty.fetch_sockets()), [])
        self.assertEqual(self.successResultOf(empty.timeout(1).emit_with_ack("q")), [])


class DynamicBroadcastV4Tests(DynamicBroadcastTestsMixin, ServerTestCase):
    protocol = 4


class DynamicBroadcastV3Tests(DynamicBroadcastTestsMixin, ServerTestCase):
    protocol = 3


class ManyClientsTests(ServerTestCase):
    """A mix of client generations in one server."""

    def test_mixed_protocols(self) -> None:
        """A broadcast reaches 2.x and 4.x clients alike, with the same text."""
        v4 = TestClient(self.sio, protocol=4)
        v3 = TestClient(self.sio, protocol=3)
        self.sio.emit("both", {"x": 1})
        self.assertEqual(v4.raw_received[-1], v3.raw_received[-1])
        self.assertEqual(v4.pop_received(), v3.pop_received())


class RecordingExecutor:
    """An executor that records what the operator hands it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, action: str) -> Any:
        return lambda *args: self.calls.append((action, *args)) or action


class OperatorTests(ServerTestCase):
    """The one BroadcastOperator: a frozen selection and an executor."""

    def test_operator_hands_the_selection_to_its_executor(self) -> None:
        """Chaining builds BroadcastOptions with typed flags; actions go to the executor as they are."""
        executor = RecordingExecutor()
        op = BroadcastOperator(executor).to("a", ["b"]).except_("x").volatile.local.compress(False).timeout(3)
        self.assertEqual(op.emit("ev", 1), "emit")
        self.assertEqual(op.sockets_join("r", ["s"]), "sockets_join")
        [(_, opts, event, args), (_, _, rooms)] = executor.calls
        self.assertEqual((opts.rooms, opts.except_, event, args, rooms),
                         ({"a", "b"}, {"x"}, "ev", (1,), {"r", "s"}))
        self.assertEqual(opts.flags, Flags(volatile=True, compress=False, local=True, timeout=3))
        self.assertRaises(ValueError, op.emit, "disconnect")
        self.assertEqual(len(executor.calls), 2)

    def test_every_front_door_is_the_same_operator(self) -> None:
        """Namespace, server, socket, dynamic parent, thread-safe facade and emitter share one class."""
        from txsocketio.emitter import BlockingEmitter

        class Redis:
            def publish(self, channel: str, payload: bytes) -> int:
                return 0

        socket = self.socket_of(self.client())
        doors = [self.sio.to("r"), self.sio.of("/").to("r"), socket.to("r"), socket.volatile,
                 self.sio.of(re.compile("/d")).to("r"), self.sio.threadsafe.to("r"),
                 BlockingEmitter(Redis()).to("r")]
        self.assertEqual({type(door) for door in doors}, {BroadcastOperator})

    def test_socket_view_with_rooms_broadcasts(self) -> None:
        """socket.volatile.to(room) is a broadcast to the room without the sender (as Node)."""
        a, b = self.client(), self.client()
        sa, sb = self.socket_of(a), self.socket_of(b)
        sa.join("r")
        sb.join("r")
        sa.volatile.to("r").emit("v")
        self.assertEqual((a.pop_received(), b.pop_received()), ([], [("v", [])]))
        sa.volatile.emit("self")
        self.assertEqual((a.pop_received(), b.pop_received()), ([("self", [])], []))
