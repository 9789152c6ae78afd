"""Tests for L{txsocketio.adapters.memory} against the adapter contract of
L{txsocketio.adapters.base}: rooms, selection, delivery through the
recipients' public C{deliver}, encoding once."""

from __future__ import annotations

import types
from typing import Any, Callable

from twisted.trial.unittest import SynchronousTestCase

from txsocketio.adapters.base import BroadcastOptions, Flags, room_names
from txsocketio.adapters.memory import MemoryAdapter
from txsocketio.observer import NULL_OBSERVER
from txsocketio.socketio.packet import Packet, PacketType


class Recipient:
    """A socket as an adapter sees it (the Recipient protocol), recording deliveries."""

    def __init__(self, sid: str) -> None:
        self.id = sid
        self.handshake = None
        self.data: dict[str, Any] = {}
        self.delivered: list[tuple[Any, Packet, bool]] = []
        self.acks: dict[int, Callable[[Any], None]] = {}
        self.rooms: set[str] = set()

    def deliver(self, messages: Any, packet: Packet, volatile: bool = False) -> None:
        self.delivered.append((messages, packet, volatile))

    def expect_ack(self, ack_id: int, callback: Callable[[Any], None]) -> None:
        self.acks[ack_id] = callback

    def join(self, *rooms: str) -> None:
        self.rooms.update(rooms)

    def leave(self, *rooms: str) -> None:
        self.rooms.difference_update(rooms)

    def disconnect(self, close: bool = False) -> None:
        self.rooms = {"gone"}


class Namespace:
    """A namespace as an adapter sees it (the AdapterNamespace protocol)."""

    def __init__(self) -> None:
        self.name = "/n"
        self.server = types.SimpleNamespace(observer=NULL_OBSERVER)
        self.sockets: dict[str, Recipient] = {}
        self.prepared: list[tuple[Packet, bool]] = []
        self.room_events: list[tuple[Any, ...]] = []
        self._ids = 0

    def prepare(self, packet: Packet, compress: bool = True) -> list[Any]:
        self.prepared.append((packet, compress))
        return [f"encoded {packet.data}"]

    def next_ack_id(self) -> int:
        self._ids += 1
        return self._ids

    def room_event(self, event: str, room: str, sid: str | None = None) -> None:
        self.room_events.append((event, room) if sid is None else (event, room, sid))


class MemoryAdapterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.nsp = Namespace()
        self.adapter = MemoryAdapter(self.nsp)
        for sid, rooms in [("a", ["red"]), ("b", ["red", "blue"]), ("c", ["blue"])]:
            self.nsp.sockets[sid] = Recipient(sid)
            self.adapter.add_all(sid, [sid, *rooms])

    def selected(self, **kwargs: Any) -> list[str]:
        return sorted(s.id for s in self.adapter.local_sockets(BroadcastOptions(**kwargs)))

    def test_selection(self) -> None:
        """rooms (empty = everyone) minus the sockets of except_; each socket once."""
        self.assertEqual(self.selected(), ["a", "b", "c"])
        self.assertEqual(self.selected(rooms={"red"}), ["a", "b"])
        self.assertEqual(self.selected(rooms={"red", "blue"}), ["a", "b", "c"])
        self.assertEqual(self.selected(rooms={"red", "blue"}, except_={"b"}), ["a", "c"])
        self.assertEqual(self.selected(except_={"blue"}), ["a"])
        self.assertEqual(self.selected(rooms={"nobody"}), [])

    def test_broadcast_encodes_once(self) -> None:
        """One prepare() for every recipient; the same list is delivered to each, with the flags."""
        packet = Packet(PacketType.EVENT, "/n", ["e"])
        self.adapter.broadcast(packet, BroadcastOptions(frozenset(["red"]), flags=Flags(volatile=True,
                                                                                          compress=False)))
        self.assertEqual(self.nsp.prepared, [(packet, False)])
        a, b = self.nsp.sockets["a"].delivered, self.nsp.sockets["b"].delivered
        self.assertEqual(a, [(["encoded ['e']"], packet, True)])
        self.assertIs(a[0][0], b[0][0])
        self.assertEqual(self.nsp.sockets["c"].delivered, [])

    def test_broadcast_with_ack(self) -> None:
        """Each recipient is told the ack id before delivery; the count is reported once."""
        counts: list[int] = []
        packet = Packet(PacketType.EVENT, "/n", ["e"], id=7)
        self.adapter.broadcast_with_ack(packet, BroadcastOptions(frozenset(["blue"])), counts.append, lambda _: None)
        self.assertEqual(counts, [2])
        self.assertEqual(set(self.nsp.sockets["b"].acks), {7})

    def test_rooms_tables(self) -> None:
        """delete/del_all keep both tables consistent and drop empty rooms."""
        self.adapter.delete("a", "red")
        self.assertEqual(self.adapter.socket_rooms("a"), {"a"})
        self.adapter.del_all("b")
        self.assertEqual(self.adapter.rooms, {"a": {"a"}, "blue": {"c"}, "c": {"c"}})

    def test_room_events_in_nodes_order(self) -> None:
        """Each change is reported to the namespace once, in the order Node's
        in-memory adapter emits it (checked against socket.io-adapter 2.5):
        create-room before the first join-room, delete-room after the last
        leave-room, del_all in the order the rooms were joined; no event for
        a change that changes nothing."""
        events = self.nsp.room_events
        del events[:]
        self.adapter.add_all("d", ["d", "red", "red"])
        self.adapter.delete("d", "nowhere")
        self.adapter.delete("a", "blue")
        self.adapter.add_all("d", ["green"])
        self.adapter.delete("d", "red")
        self.adapter.del_all("d")
        self.adapter.del_all("d")
        self.assertEqual(events, [
            ("create-room", "d"), ("join-room", "d", "d"), ("join-room", "red", "d"),
            ("create-room", "green"), ("join-room", "green", "d"),
            ("leave-room", "red", "d"),
            ("leave-room", "d", "d"), ("delete-room", "d"), ("leave-room", "green", "d"), ("delete-room", "green"),
        ])

    def test_reentrant_listener(self) -> None:
        """A listener that joins the same room again while create-room is reported
        does not make join-room fire twice."""
        events = self.nsp.room_events
        del events[:]
        report = self.nsp.room_event

        def reentrant(event: str, room: str, sid: str | None = None) -> None:
            report(event, room, sid)
            if event == "create-room":
                self.adapter.add_all("a", [room])

        self.nsp.room_event = reentrant  # type: ignore[method-assign]
        self.adapter.add_all("a", ["new"])
        self.assertEqual(events, [("create-room", "new"), ("join-room", "new", "a")])

    def test_server_wide_operations(self) -> None:
        """fetch/join/leave/disconnect act on the selected recipients through their public methods."""
        opts = BroadcastOptions(frozenset(["blue"]))
        self.assertEqual(sorted(s.id for s in self.successResultOf(self.adapter.fetch_sockets(opts))), ["b", "c"])
        self.adapter.add_sockets(opts, ["green"])
        self.assertIn("green", self.nsp.sockets["c"].rooms)
        self.adapter.disconnect_sockets(opts, False)
        self.assertEqual(self.nsp.sockets["b"].rooms, {"gone"})
        self.assertEqual(self.successResultOf(self.adapter.server_count()), 1)
        self.assertEqual(self.successResultOf(self.adapter.server_side_emit("x", [])), [])


class SelectionRecordTests(SynchronousTestCase):
    def test_flags_are_typed_and_read_as_the_wire_map(self) -> None:
        """Flags has typed fields; as a map it holds only the flags that are set."""
        flags = Flags(volatile=True, timeout=5)
        self.assertEqual(dict(flags), {"volatile": True, "timeout": 5})
        self.assertEqual(Flags(), {})
        self.assertTrue(Flags().compressed)
        self.assertFalse(Flags(compress=False).compressed)
        self.assertEqual(Flags.of({"compress": False, "broadcast": True, "timeout": "x"}), Flags(compress=False))

    def test_options_chain(self) -> None:
        """to/excluding/with_flags return new records; the first is unchanged."""
        base = BroadcastOptions()
        chained = base.to(["a", ("b", "c")]).excluding(["x"]).with_flags(local=True)
        self.assertEqual(base, BroadcastOptions())
        self.assertEqual((chained.rooms, chained.except_, chained.flags.local), ({"a", "b", "c"}, {"x"}, True))
        self.assertEqual(room_names([1, ["2"]]), {"1", "2"})
        self.assertEqual(hash(chained), hash(base.to(["a", "b", "c"]).excluding(["x"]).with_flags(local=True)))
