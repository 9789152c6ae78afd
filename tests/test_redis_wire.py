"""The Redis wire format (txsocketio.adapters.redis_wire): notepack-compatible
MessagePack, JSON, channels, broadcasts, requests and responses."""

from __future__ import annotations

import datetime
import math
import subprocess
import sys

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from txsocketio.adapters import redis_wire as wire
from txsocketio.adapters.base import BroadcastOptions
from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import Packet, PacketType

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)

# -- strategies ---------------------------------------------------------------------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
datetimes = st.datetimes(min_value=datetime.datetime(1, 1, 2), max_value=datetime.datetime(9999, 12, 30),
                         timezones=st.just(UTC))
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
           | st.floats(allow_nan=False) | texts | st.binary(max_size=300) | datetimes)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6)
                      | st.dictionaries(texts, inner, max_size=6), max_leaves=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | st.floats(allow_nan=False,
                                                                                             allow_infinity=False)
    | texts, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(texts, inner, max_size=5),
    max_leaves=20)
room_sets = st.frozensets(texts, max_size=4)


def js(value):
    """What a JavaScript peer would hand back: integral floats are integers."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and -(2**63) <= value < 2**64:
        return int(value)
    if isinstance(value, list):
        return [js(v) for v in value]
    if isinstance(value, dict):
        return {k: js(v) for k, v in value.items()}
    return value


def as_doubles(value):
    """Every number as the double JavaScript would hold."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        return [as_doubles(v) for v in value]
    if isinstance(value, dict):
        return {k: as_doubles(v) for k, v in value.items()}
    return value


# Bytes notepack.io 3.0.1 wrote for these values (node -e "require('notepack.io').encode(v)").
NOTEPACK_VECTORS = [
    (0, "00"), (128, "cc80"), (65536, "ce00010000"), (2**32, "cf0000000100000000"), (-33, "d0df"),
    (-(2**31) - 1, "d3ffffffff7fffffff"), (1.5, "cb3ff8000000000000"), (1.0, "01"), (-0.0, "00"),
    (3.0e10, "cf00000006fc23ac00"), (float("inf"), "cb7ff0000000000000"), ("", "a0"),
    ("x" * 32, "d920" + "78" * 32), ("😀", "a4f09f9880"), (b"", "c400"), (b"\x01\x02\x03", "c403010203"),
    (None, "c0"), (True, "c3"), ([], "90"), ({}, "80"),
    ({"a": 1, "b": [1, {"c": None}]}, "82a16101a162920181a163c0"),
    (EPOCH, "d6ff00000000"), (EPOCH + datetime.timedelta(milliseconds=1700000000123), "d7ff1d5353006553f100"),
    (EPOCH - datetime.timedelta(milliseconds=1), "c70cff3b8b87c0ffffffffffffffff"),
    (["uid123", {"type": 2, "data": ["ev", 1, "two", b"\xff"], "nsp": "/chat"},
      {"rooms": ["r1"], "except": ["x"], "flags": {"volatile": True, "timeout": 5000}}],
     "93a6756964313233" "83a47479706502a46461746194a2657601a374776fc401ffa36e7370a52f63686174"
     "83a5726f6f6d7391a27231a665786365707491a178a5666c61677382a8766f6c6174696c65c3a774696d656f7574cd1388"),
]


class MessagePackTests(unittest.TestCase):
    def test_notepack_vectors(self) -> None:
        """pack() writes exactly notepack.io's bytes, and unpack() reads them back."""
        for value, hexed in NOTEPACK_VECTORS:
            self.assertEqual(wire.pack(value).hex(), hexed, repr(value))
            self.assertEqual(wire.unpack(bytes.fromhex(hexed)), js(value), repr(value))

    def test_notepack_quirks(self) -> None:
        """undefined (fixext1 type 0) is None in arrays and drops a map entry;
        ext 0 is an ArrayBuffer; unknown extensions are [type, bytes]; the
        legacy fixext8 type-0 date; invalid UTF-8 is replaced; numeric keys
        become strings."""
        self.assertEqual(wire.unpack(bytes.fromhex("92d40000c0")), [None, None])
        self.assertEqual(wire.unpack(bytes.fromhex("82a161d40000a16201")), {"b": 1})
        self.assertIsNone(wire.unpack(bytes.fromhex("d40000")))
        self.assertEqual(wire.unpack(bytes.fromhex("c70200abcd")), b"\xab\xcd")
        self.assertEqual(wire.unpack(bytes.fromhex("d50761ff")), [7, b"\x61\xff"])
        self.assertEqual(wire.unpack(bytes.fromhex("d700" "00000000000003e8")),
                         EPOCH + datetime.timedelta(seconds=1))
        self.assertEqual(wire.unpack(bytes.fromhex("a2ff41")), "\ufffdA")
        self.assertEqual(wire.unpack(bytes.fromhex("8201c3c0c2")), {"1": True, "null": False})

    def test_dates(self) -> None:
        """A timestamp is a UTC datetime, or Date.toJSON's string with dates='iso';
        naive datetimes are packed as UTC."""
        packed = wire.pack(datetime.datetime(2023, 11, 14, 22, 13, 20, 123000))
        self.assertEqual(packed.hex(), "d7ff1d5353006553f100")
        self.assertEqual(wire.unpack(packed, dates="iso"), "2023-11-14T22:13:20.123Z")
        self.assertEqual(wire.unpack(packed), datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, UTC))
        self.assertEqual(wire.iso_date(-62198755200001), "-000002-12-31T23:59:59.999Z")
        self.assertEqual(wire.iso_date(int(8.64e15)), "+275760-09-13T00:00:00.000Z")
        huge = b"\xc7\x0c\xff" + (0).to_bytes(4, "big") + (2**62).to_bytes(8, "big")
        self.assertIsNone(wire.unpack(huge, dates="iso"))
        self.assertRaises(ProtocolError, wire.unpack, huge)

    def test_refusals(self) -> None:
        """What MessagePack cannot carry raises TypeError or ValueError."""
        self.assertRaises(TypeError, wire.pack, object())
        self.assertRaises(TypeError, wire.pack, {(1, 2): 3})
        self.assertRaises(ValueError, wire.pack, 2**64)
        self.assertRaises(ValueError, wire.pack, -(2**63) - 1)
        self.assertRaises(ValueError, wire.pack, "\ud800")
        loop: list[object] = []
        loop.append(loop)
        self.assertRaises(ValueError, wire.pack, loop)

    def test_malformed(self) -> None:
        """Truncation, trailing bytes, 0xc1, absurd lengths and deep nesting are ProtocolErrors."""
        for hexed in ["", "92", "c0c0", "c1", "dd7fffffff", "d9", "c70cff00", "c702ff0000"]:
            self.assertRaises(ProtocolError, wire.unpack, bytes.fromhex(hexed))
        self.assertRaises(ProtocolError, wire.unpack, b"\x91" * 200 + b"\xc0")
        nested = wire.unpack(b"\x91" * 50 + b"\xc0", max_depth=60)
        for _ in range(50):
            nested = nested[0]
        self.assertIsNone(nested)

    @given(values)
    @settings(max_examples=300)
    def test_round_trip(self, value) -> None:
        """unpack(pack(v)) is v as a JavaScript peer would see it."""
        self.assertEqual(wire.unpack(wire.pack(value)), js(value))

    @given(values)
    @settings(max_examples=200)
    def test_agrees_with_msgpack(self, value) -> None:
        """The msgpack library reads what pack() writes, and unpack() reads what it writes."""
        self.assertEqual(msgpack.unpackb(wire.pack(value), raw=False, timestamp=3, strict_map_key=False),
                         js(value))
        self.assertEqual(wire.unpack(msgpack.packb(value, use_bin_type=True, datetime=True)), value)

    @given(st.binary(max_size=200))
    @settings(max_examples=300)
    def test_arbitrary_bytes(self, data) -> None:
        """Any bytes decode or raise ProtocolError; nothing else escapes."""
        for decode in (wire.unpack, wire.decode_broadcast, wire.decode_request, wire.decode_response,
                       wire.load_json):
            try:
                decode(data)
            except ProtocolError:
                pass

    @given(values)
    @settings(max_examples=200)
    def test_arbitrary_values(self, value) -> None:
        """Well-formed MessagePack or JSON of any shape: the message decoders
        raise only ProtocolError."""
        payloads = [wire.pack(value), wire.pack([value, value, value]),
                    wire.pack({"type": 7, "requestId": "x", "packet": value, "opts": value})]
        try:
            payloads.append(wire.dump_json({"requestId": value, "type": 6, "sockets": value}))
        except (TypeError, ValueError):
            pass
        for payload in payloads:
            for decode in (wire.decode_broadcast, wire.decode_request, wire.decode_response):
                try:
                    decode(payload)
                except ProtocolError:
                    pass


class JSONTests(unittest.TestCase):
    def test_stringify(self) -> None:
        """dump_json writes what JSON.stringify writes (Buffer.toJSON, Date.toJSON, 1.0 as 1)."""
        self.assertEqual(wire.dump_json({"b": b"ab", 1: 2.0, "n": float("nan"), "d": EPOCH, "t": (1, 1e21)}),
                         b'{"b":{"type":"Buffer","data":[97,98]},"1":2,"n":null,'
                         b'"d":"1970-01-01T00:00:00.000Z","t":[1,1e+21]}')
        self.assertRaises(TypeError, wire.dump_json, {"x": object()})

    def test_parse(self) -> None:
        """load_json refuses NaN and garbage with ProtocolError."""
        self.assertEqual(wire.load_json(b'{"a":[1,2.5]}'), {"a": [1, 2.5]})
        self.assertRaises(ProtocolError, wire.load_json, b"NaN")
        self.assertRaises(ProtocolError, wire.load_json, b"[" * 100000)

    @given(json_values)
    def test_round_trip(self, value) -> None:
        """JSON.parse(JSON.stringify(v)) is v, number for number (as doubles)."""
        self.assertEqual(as_doubles(wire.load_json(wire.dump_json(value))), as_doubles(value))


class ChannelTests(unittest.TestCase):
    def test_names(self) -> None:
        """The channel names of @socket.io/redis-adapter 8.x."""
        c = wire.Channels("socket.io", "/chat")
        self.assertEqual(c.broadcast, "socket.io#/chat#")
        self.assertEqual(c.room("room1"), "socket.io#/chat#room1#")
        self.assertEqual(c.request, "socket.io-request#/chat#")
        self.assertEqual(c.response, "socket.io-response#/chat#")
        self.assertEqual(c.specific_response("abc123"), "socket.io-response#/chat#abc123#")
        self.assertEqual(c.broadcast_pattern, "socket.io#/chat#*")
        self.assertEqual(wire.Channels("a*b", "/[x]").broadcast_pattern, "a\\*b#/\\[x\\]#*")
        self.assertEqual(c.for_broadcast(BroadcastOptions(frozenset(["r"]))), "socket.io#/chat#r#")
        self.assertEqual(c.for_broadcast(BroadcastOptions(frozenset(["r", "s"]))), "socket.io#/chat#")
        self.assertEqual(c.room_of("socket.io#/chat#"), "")
        self.assertEqual(c.room_of("socket.io#/chat#r1#"), "r1")
        self.assertIsNone(c.room_of("socket.io#/#"))

    def test_uid(self) -> None:
        uid = wire.new_uid()
        self.assertEqual(len(uid), 6)
        self.assertTrue(uid.isalnum() and uid.isascii())


class BroadcastTests(unittest.TestCase):
    def test_node_message(self) -> None:
        """A broadcast as Node's adapter publishes it (rooms, except, flags, binary)."""
        message = wire.decode_broadcast(bytes.fromhex(NOTEPACK_VECTORS[-1][1]))
        self.assertEqual(message.uid, "uid123")
        self.assertEqual(message.packet, Packet(PacketType.EVENT, "/chat", ["ev", 1, "two", b"\xff"]))
        self.assertEqual(message.opts, BroadcastOptions(frozenset(["r1"]), frozenset(["x"]),
                                                         {"volatile": True, "timeout": 5.0}))

    def test_encoding(self) -> None:
        """Our broadcast is byte for byte Node's: timeout in ms, packet keys type/data/nsp."""
        opts = BroadcastOptions(frozenset(["r1"]), frozenset(["x"]), {"volatile": True, "timeout": 5})
        packet = Packet(PacketType.EVENT, "/chat", ["ev", 1, "two", b"\xff"])
        self.assertEqual(wire.encode_broadcast("uid123", packet, opts).hex(), NOTEPACK_VECTORS[-1][1])
        emitter = wire.unpack(wire.encode_broadcast("emitter", packet, opts, emitter=True))
        self.assertEqual(list(emitter[2]), ["rooms", "flags", "except"])

    def test_missing_nsp_and_numbers(self) -> None:
        """No nsp means "/"; numeric rooms become strings; a date becomes its ISO string."""
        payload = wire.pack(["emitter", {"type": 2, "data": ["e", EPOCH]}, {"rooms": [1, 2.5], "except": []}])
        message = wire.decode_broadcast(payload)
        self.assertEqual(message.packet, Packet(PacketType.EVENT, "/", ["e", "1970-01-01T00:00:00.000Z"]))
        self.assertEqual(message.opts.rooms, frozenset(["1", "2.5"]))

    def test_refused(self) -> None:
        for value in [[], ["u", {}, {}], [1, {"type": 2, "data": ["e"]}, {}], ["u", {"type": 3, "data": ["e"]}, {}],
                      ["u", {"type": 2, "data": [1]}, {}], ["u", {"type": 2, "data": ["e"]}, {"rooms": [None]}],
                      ["u", {"type": 2, "data": ["e"], "nsp": 3}, {}], ["u", {"type": 2, "data": ["e"]}, []]]:
            self.assertRaises(ProtocolError, wire.decode_broadcast, wire.pack(value))

    @given(st.text(max_size=8), texts, st.lists(json_values | st.binary(max_size=20), max_size=4),
           room_sets, room_sets, st.booleans(), st.none() | st.integers(min_value=1, max_value=10**6))
    def test_round_trip(self, uid, event, args, rooms, except_, volatile, timeout_ms) -> None:
        flags: dict[str, object] = {"volatile": volatile}
        if timeout_ms is not None:
            flags["timeout"] = timeout_ms / 1000
        opts = BroadcastOptions(rooms, except_, flags)
        packet = Packet(PacketType.EVENT, "/n", [event, *args])
        message = wire.decode_broadcast(wire.encode_broadcast(uid, packet, opts))
        self.assertEqual(message, wire.BroadcastMessage(uid, Packet(PacketType.EVENT, "/n", js([event, *args])),
                                                        opts))


class RequestTests(unittest.TestCase):
    def test_builders_match_node(self) -> None:
        """Each request is the JSON (or MessagePack) Node's adapter and emitter publish."""
        opts = BroadcastOptions(frozenset(["a"]), frozenset(["b"]))
        self.assertEqual(wire.all_rooms_request("u", "r"), b'{"uid":"u","requestId":"r","type":1}')
        self.assertEqual(wire.remote_join_request("u", opts, ["x"]),
                         b'{"uid":"u","type":2,"opts":{"rooms":["a"],"except":["b"]},"rooms":["x"]}')
        self.assertEqual(wire.remote_leave_request(None, opts, ["x"]),
                         b'{"type":3,"opts":{"rooms":["a"],"except":["b"]},"rooms":["x"]}')
        self.assertEqual(wire.remote_disconnect_request("u", opts, True),
                         b'{"uid":"u","type":4,"opts":{"rooms":["a"],"except":["b"]},"close":true}')
        self.assertEqual(wire.fetch_sockets_request("u", "r", opts),
                         b'{"uid":"u","requestId":"r","type":5,"opts":{"rooms":["a"],"except":["b"]}}')
        self.assertEqual(wire.server_side_emit_request("u", ["e", 1]), b'{"uid":"u","type":6,"data":["e",1]}')
        self.assertEqual(wire.server_side_emit_request("u", ["e"], "r"),
                         b'{"uid":"u","requestId":"r","type":6,"data":["e"]}')
        packed = wire.broadcast_request("u", "r", Packet(PacketType.EVENT, "/", ["e"]), opts)
        self.assertEqual(wire.unpack(packed), {"uid": "u", "requestId": "r", "type": 7,
                                               "packet": {"type": 2, "data": ["e"], "nsp": "/"},
                                               "opts": {"rooms": ["a"], "except": ["b"], "flags": {}}})

    def test_responses_match_node(self) -> None:
        self.assertEqual(wire.all_rooms_response("r", ["a"]), b'{"requestId":"r","rooms":["a"]}')
        self.assertEqual(wire.sockets_response("r", ["s"]), b'{"requestId":"r","sockets":["s"]}')
        self.assertEqual(wire.server_side_emit_response("r", None), b'{"type":6,"requestId":"r","data":null}')
        self.assertEqual(wire.client_count_response("r", 3), b'{"type":8,"requestId":"r","clientCount":3}')
        self.assertEqual(wire.unpack(wire.broadcast_ack_response("r", b"x")),
                         {"type": 9, "requestId": "r", "packet": b"x"})

    def test_decode_requests(self) -> None:
        """Requests as Node and the emitter send them decode to Request records."""
        r = wire.decode_request(b'{"type":2,"opts":{"rooms":["a"],"except":[]},"rooms":["x","y"]}')
        self.assertEqual((r.type, r.uid, r.opts, r.rooms), (2, None, BroadcastOptions(frozenset(["a"])), ("x", "y")))
        r = wire.decode_request(b'{"uid":"u","type":4,"opts":{"rooms":[],"except":["b"]},"close":true}')
        self.assertEqual((r.close, r.opts.except_), (True, frozenset(["b"])))
        r = wire.decode_request(b'{"uid":"emitter","type":6,"data":["ev",{"k":1}]}')
        self.assertEqual((r.uid, r.request_id, r.data), ("emitter", None, ("ev", {"k": 1})))
        r = wire.decode_request(b'{"type":2,"sid":"s1","room":"x","requestId":"q"}')
        self.assertEqual((r.opts, r.sid, r.room), (None, "s1", "x"))
        r = wire.decode_request(wire.broadcast_request("u", "r", Packet(PacketType.EVENT, "/", ["e", b"\x00"]),
                                                       BroadcastOptions(flags={"timeout": 2})))
        self.assertEqual((r.packet.data, r.opts.flags), (["e", b"\x00"], {"timeout": 2.0}))
        self.assertEqual(wire.decode_request(b'{"type":42}').type, 42)
        for bad in [b'{"type":"1"}', b'[1]', b'{"type":1}', b'{"type":6,"data":[]}', b'{"type":5}',
                    b'{"type":2,"opts":{"rooms":"a"}}']:
            self.assertRaises(ProtocolError, wire.decode_request, bad)

    def test_decode_responses(self) -> None:
        r = wire.decode_response(b'{"requestId":"r","sockets":[{"id":"s","handshake":{"auth":{}},'
                                 b'"rooms":["s","a"],"data":{"n":1}}]}')
        self.assertEqual(r.remote_sockets(), [wire.RemoteSocketDetails("s", {"auth": {}}, frozenset(["s", "a"]),
                                                                       {"n": 1})])
        self.assertEqual(wire.decode_response(b'{"type":8,"requestId":"r","clientCount":2}').client_count, 2)
        self.assertRaises(ProtocolError, wire.decode_response(b'{"requestId":"r","sockets":[1]}').remote_sockets)
        for bad in [b'{"sockets":[]}', b'{"requestId":"r","clientCount":-1}', b'{"requestId":"r","type":"x"}']:
            self.assertRaises(ProtocolError, wire.decode_response, bad)


class PurityTests(unittest.TestCase):
    def test_no_io_imports(self) -> None:
        """redis_wire imports nothing from twisted.internet, twisted.web or autobahn."""
        code = ("import sys, txsocketio.adapters.redis_wire; print(','.join(sorted(m for m in sys.modules "
                "if m.startswith(('twisted.internet', 'twisted.web', 'autobahn')))))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        self.assertEqual(out.strip(), "")
