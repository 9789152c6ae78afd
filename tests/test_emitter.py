"""txsocketio.emitter: the Python emitter (Twisted and blocking flavours), in memory.

What each call publishes, where, decoded back with the wire module; reserved
names, arguments that cannot travel, no acknowledgements.  The same operations
against Node's ``@socket.io/redis-emitter`` and a real redis-server are in
tests/interop/test_redis_emitter.py; the emitters reaching the clients of real
servers in tests/interop/test_cluster.py.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

from twisted.trial import unittest

from txsocketio.adapters import redis_wire as wire
from txsocketio.emitter import BlockingEmitter, Emitter, EmitterOperator


class Recorder:
    """Plays redis-py's client: records every publish."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish(self, channel: str, payload: bytes) -> int:
        self.published.append((channel, payload))
        return 7


def run_spec(emitter: Any, spec: dict[str, Any]) -> Any:
    """One operation in the format of tests/node/emitter_node.js."""
    base = emitter.of(spec["nsp"]) if spec.get("nsp") else emitter
    target = base
    for room in spec.get("to", []):
        target = target.to(room)
    for room in spec.get("except", []):
        target = target.except_(room)
    if spec.get("volatile"):
        target = target.volatile
    if "compress" in spec:
        target = target.compress(spec["compress"])
    args = [_from_json(a) for a in spec.get("args", [])]
    op = spec["op"]
    if op == "emit":
        return target.emit(spec["event"], *args)
    if op == "socketsJoin":
        return target.sockets_join(*spec["rooms"])
    if op == "socketsLeave":
        return target.sockets_leave(*spec["rooms"])
    if op == "disconnectSockets":
        return target.disconnect_sockets(spec.get("close", False))
    if op == "serverSideEmit":
        return base.server_side_emit(*args)
    raise ValueError(op)


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if list(value) == ["$bin"]:
            return base64.b64decode(value["$bin"])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def _bin(data: bytes) -> dict[str, str]:
    return {"$bin": base64.b64encode(data).decode()}


#: Operations run by both emitters (rooms listed in sorted order: the Python
#: emitter writes room lists sorted, Node in insertion order; the set is the same).
OPERATIONS: list[dict[str, Any]] = [
    {"op": "emit", "event": "hello", "args": []},
    {"op": "emit", "event": "values", "args": [
        1, -1, -33, 127, 128, 255, 256, 65535, 65536, 2**32, -(2**31) - 1, 2**53, 1.5, -0.25, 2.0, 1e15, 1e-7,
        True, False, None, "", "é€😀", "x" * 40, "y" * 300, [], {}, [1, [2, [3]]],
        {"a": {"b": [None, True]}, "ü": 0}]},
    {"op": "emit", "event": "binary", "args": [_bin(b"\x00\x01\xfe\xff"), {"nested": _bin(b"x" * 300)},
                                               [_bin(b"")]]},
    {"op": "emit", "to": ["room1"], "event": "one room", "args": [1]},
    {"op": "emit", "to": ["a", "b"], "except": ["c"], "event": "rooms", "args": ["x"]},
    {"op": "emit", "except": ["sid1", "sid2"], "event": "except only", "args": []},
    {"op": "emit", "nsp": "/chat", "to": ["lobby"], "event": "chat", "args": [{"text": "hi"}]},
    {"op": "emit", "nsp": "admin", "event": "no slash", "args": []},
    {"op": "emit", "volatile": True, "event": "volatile", "args": [1]},
    {"op": "emit", "compress": False, "to": ["r"], "event": "uncompressed", "args": []},
    {"op": "emit", "volatile": True, "compress": True, "event": "both", "args": []},
    {"op": "socketsJoin", "rooms": ["r2"]},
    {"op": "socketsJoin", "to": ["r1"], "except": ["x"], "rooms": ["r2", "r3"]},
    {"op": "socketsLeave", "nsp": "/chat", "to": ["r1"], "rooms": ["r1"]},
    {"op": "disconnectSockets"},
    {"op": "disconnectSockets", "to": ["bad"], "close": True},
    {"op": "serverSideEmit", "args": ["hello", 1, "é€", {"a": [1.5, None, True]}]},
    {"op": "serverSideEmit", "nsp": "/chat", "args": ["bye"]},
]


class InMemoryTests(unittest.TestCase):
    def setUp(self) -> None:
        self.redis = Recorder()
        self.emitter = BlockingEmitter(self.redis)

    def decoded_broadcast(self, index: int = -1) -> tuple[str, wire.BroadcastMessage]:
        channel, payload = self.redis.published[index]
        return channel, wire.decode_broadcast(payload)

    def decoded_request(self, index: int = -1) -> tuple[str, wire.Request]:
        channel, payload = self.redis.published[index]
        return channel, wire.decode_request(payload)

    def test_emit_to_everyone(self) -> None:
        """emit publishes [ "emitter", packet, opts ] on <key>#<nsp># and returns what PUBLISH returns."""
        self.assertEqual(self.emitter.emit("news", {"t": 1}, b"\x00"), 7)
        channel, message = self.decoded_broadcast()
        self.assertEqual(channel, "socket.io#/#")
        self.assertEqual(message.uid, "emitter")
        self.assertEqual((message.packet.namespace, message.packet.data), ("/", ["news", {"t": 1}, b"\x00"]))
        self.assertEqual((message.opts.rooms, message.opts.except_, message.opts.flags),
                         (frozenset(), frozenset(), {}))

    def test_rooms_and_namespaces(self) -> None:
        """One room: its own channel; several: the namespace's; of() with or without the slash."""
        self.emitter.of("chat").to("r1").emit("a")
        self.assertEqual(self.redis.published[-1][0], "socket.io#/chat#r1#")
        self.emitter.of("/chat").to("r1", "r2").except_(["x", "y"]).emit("b")
        channel, message = self.decoded_broadcast()
        self.assertEqual(channel, "socket.io#/chat#")
        self.assertEqual((message.opts.rooms, message.opts.except_), ({"r1", "r2"}, {"x", "y"}))
        self.assertEqual(message.packet.namespace, "/chat")
        self.emitter.in_("r1").in_("r1").emit("c")   # the same room twice is one room
        self.assertEqual(self.redis.published[-1][0], "socket.io#/#r1#")

    def test_operators_are_immutable(self) -> None:
        """Each chaining call returns a new selection; the first is unchanged."""
        base = self.emitter.to("a")
        self.assertIsInstance(base, EmitterOperator)
        base.to("b").except_("c").volatile.emit("x")
        base.emit("y")
        _, message = self.decoded_broadcast()
        self.assertEqual((message.opts.rooms, message.opts.except_, message.opts.flags), ({"a"}, frozenset(), {}))

    def test_flags(self) -> None:
        self.emitter.volatile.compress(False).emit("x")
        _, message = self.decoded_broadcast()
        self.assertEqual(message.opts.flags, {"volatile": True, "compress": False})

    def test_custom_key(self) -> None:
        emitter = BlockingEmitter(self.redis, key="myapp")
        emitter.to("r").emit("x")
        emitter.sockets_join("r")
        self.assertEqual([c for c, _ in self.redis.published], ["myapp#/#r#", "myapp-request#/#"])
        self.assertRaises(ValueError, BlockingEmitter, self.redis, key="")

    def test_requests(self) -> None:
        """sockets_join/leave and disconnect_sockets: requests 2, 3, 4 without uid;
        server_side_emit: type 6 with uid "emitter" and no requestId."""
        self.emitter.to("r1").except_("x").sockets_join("r2", "r3")
        channel, request = self.decoded_request()
        self.assertEqual(channel, "socket.io-request#/#")
        self.assertEqual((request.type, request.uid, request.opts.rooms, request.opts.except_, request.rooms),
                         (2, None, {"r1"}, {"x"}, ("r2", "r3")))
        self.emitter.of("/chat").sockets_leave("r1")
        channel, request = self.decoded_request()
        self.assertEqual((channel, request.type, request.uid, request.rooms),
                         ("socket.io-request#/chat#", 3, None, ("r1",)))
        self.emitter.in_("r1").disconnect_sockets(close=True)
        _, request = self.decoded_request()
        self.assertEqual((request.type, request.uid, request.close, request.opts.rooms), (4, None, True, {"r1"}))
        self.emitter.server_side_emit("reload", 1, {"a": b"\x01"})
        _, request = self.decoded_request()
        self.assertEqual((request.type, request.uid, request.request_id, request.data),
                         (6, "emitter", None, ("reload", 1, {"a": {"type": "Buffer", "data": [1]}})))
        self.assertNotIn(b"requestId", self.redis.published[-1][1])
        self.assertNotIn(b"uid", self.redis.published[-3][1])

    def test_reserved_event_names(self) -> None:
        """Reserved names raise ValueError; nothing is published."""
        for name in ("connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"):
            self.assertRaises(ValueError, self.emitter.emit, name)
            self.assertRaises(ValueError, self.emitter.to("r").emit, name)
            self.assertRaises(ValueError, self.emitter.server_side_emit, name)
        self.assertRaises(TypeError, self.emitter.emit, 42)
        self.assertEqual(self.redis.published, [])

    def test_unserialisable_arguments(self) -> None:
        """An argument that cannot travel raises TypeError naming it; nothing is published."""
        with self.assertRaises(TypeError) as caught:
            self.emitter.to("r").emit("ev", 1, "ok", {"bad": {1, 2}})
        self.assertIn("argument 3 of event 'ev' (dict)", str(caught.exception))
        self.assertIn("set", str(caught.exception))
        with self.assertRaises(TypeError) as caught:
            self.emitter.server_side_emit("ev", object())
        self.assertIn("argument 1 of server-side event 'ev' (object)", str(caught.exception))
        loop: list[Any] = []
        loop.append(loop)
        with self.assertRaises(ValueError) as caught:
            self.emitter.emit("ev", loop)
        self.assertIn("argument 1 of event 'ev'", str(caught.exception))
        self.assertEqual(self.redis.published, [])

    def test_dates(self) -> None:
        """A datetime travels as a JS Date (MessagePack extension -1)."""
        when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
        self.emitter.emit("at", when)
        _, message = self.decoded_broadcast()
        self.assertEqual(message.packet.data, ["at", "2024-05-06T07:08:09.000Z"])

    def test_no_acknowledgements(self) -> None:
        """server_side_emit with a callable last argument is refused (as Node's emitter)."""
        self.assertRaises(TypeError, self.emitter.server_side_emit, "ev", lambda *a: None)
        self.assertFalse(hasattr(self.emitter, "emit_with_ack"))
        self.assertEqual(self.redis.published, [])

    def test_twisted_flavour_in_memory(self) -> None:
        """Emitter(connection) publishes through connection.publish and returns its result."""
        class FakeConnection:
            def __init__(self) -> None:
                self.published: list[tuple[str, bytes]] = []

            def publish(self, channel: str, payload: bytes) -> str:
                self.published.append((channel, payload))
                return "deferred"

        conn = FakeConnection()
        emitter = Emitter(conn)
        self.assertEqual(emitter.of("/x").to("r").emit("e", 1), "deferred")
        self.assertEqual(conn.published[0][0], "socket.io#/x#r#")
        self.assertEqual(self.successResultOf(emitter.close()), None)  # not ours: nothing to close

    def test_same_bytes_from_both_flavours(self) -> None:
        """Emitter and BlockingEmitter share one core: identical messages."""
        class Conn:
            def __init__(self) -> None:
                self.published: list[tuple[str, bytes]] = []

            def publish(self, channel: str, payload: bytes) -> None:
                self.published.append((channel, payload))

        conn = Conn()
        for spec in OPERATIONS:
            run_spec(Emitter(conn), spec)
            run_spec(self.emitter, spec)
        self.assertEqual(conn.published, self.redis.published)
