"""The msgpack parser (txsocketio.socketio.msgpack_parser): socket.io-msgpack-parser
3.x's wire format, its packet checks, the parser contract, and bad input."""

from __future__ import annotations

import datetime
import math
import struct
import subprocess
import sys
from typing import Any

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from txsocketio.errors import ProtocolError
from txsocketio.socketio import msgpack_parser
from txsocketio.socketio.msgpack_parser import MsgpackDecoder, MsgpackParser
from txsocketio.socketio.packet import MAX_ACK_ID, Packet, PacketType

T = PacketType
UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)

# Bytes that Node's socket.io-msgpack-parser 3.0.2 Encoder wrote for the
# packets as socket.io 4.8's server builds them (node -e ...; see
# tests/node/msgpack_codec.js for the mapping).
SERVER_VECTORS = [
    (Packet(T.CONNECT, "/", {"token": "abc"}),
     "83a47479706500a46461746181a5746f6b656ea3616263a36e7370a12f"),
    (Packet(T.DISCONNECT, "/admin"), "82a47479706501a36e7370a62f61646d696e"),
    (Packet(T.CONNECT_ERROR, "/refuse", {"message": "not allowed", "data": {"code": 42}}),
     "83a47479706504a46461746182a76d657373616765ab6e6f7420616c6c6f776564a46461746181a4636f64652a"
     "a36e7370a72f726566757365"),
    (Packet(T.ACK, "/chat", [None, 1.5, "é"], 12),
     "84a269640ca47479706503a46461746193c0cb3ff8000000000000a2c3a9a36e7370a52f63686174"),
    (Packet(T.EVENT, "/", ["d", EPOCH + datetime.timedelta(milliseconds=1700000000123)]),
     "83a47479706502a46461746192a164d7000000018bcfe5687ba36e7370a12f"),
    (Packet(T.EVENT, "/", ["n", 2**53, -(2**40), 1e-7, -0.0, math.nan]),
     "83a47479706502a46461746196a16ecf0020000000000000d3ffffff0000000000cb3e7ad7f29abcaf4800"
     "cb7ff8000000000000a36e7370a12f"),
]

# Bytes socket.io-client 4.8 sends with the parser (its packet objects, encoded by Node).
CLIENT_VECTORS = [
    # connect() without auth: data is undefined (fixext 1 type 0), an entry that is no entry
    ("83a47479706500a464617461d40000a36e7370a62f61646d696e", Packet(T.CONNECT, "/admin")),
    # emit("hello", 1, Buffer, ack): the client's "options" key is ignored
    ("85a47479706502a46461746193a568656c6c6f01c403010203a76f7074696f6e7381a8636f6d7072657373c3"
     "a2696407a36e7370a12f", Packet(T.EVENT, "/", ["hello", 1, b"\x01\x02\x03"], 7)),
    ("84a47479706503a46461746191a26f6ba2696407a36e7370a12f", Packet(T.ACK, "/", ["ok"], 7)),
    # Node's server: pid undefined in the CONNECT reply; "Invalid namespace" in Node's key order
    ("83a47479706500a46461746182a3736964a3416243a3706964d40000a36e7370a12f",
     Packet(T.CONNECT, "/", {"sid": "AbC"})),
    ("83a47479706504a36e7370a52f6e6f7065a46461746181a76d657373616765b1496e76616c6964206e616d657370616365",
     Packet(T.CONNECT_ERROR, "/nope", {"message": "Invalid namespace"})),
]


def wire(obj: Any) -> bytes:
    """Plain MessagePack of ``obj`` (for hand-made packets)."""
    return msgpack.packb(obj, use_bin_type=True)


def js(value: Any) -> Any:
    """A payload as it comes back from a JavaScript peer: integral floats are
    integers, tuples are lists, binary is bytes, dates are UTC to the millisecond."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and -(2**63) <= value < 2**64:
        return int(value)
    if isinstance(value, (list, tuple)):
        return [js(v) for v in value]
    if isinstance(value, dict):
        # JavaScript's property order: array indices first, ascending.
        def index(key: str) -> int | None:
            if key == "0" or (key[:1] in "123456789" and key.isascii() and key.isdigit()):
                return int(key) if int(key) < 2**32 - 1 else None
            return None

        keys = sorted((k for k in value if index(k) is not None), key=int)
        keys += [k for k in value if index(k) is None]
        return {k: js(value[k]) for k in keys}
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def same(a: Any, b: Any) -> bool:
    """Equality that holds NaN equal to NaN and tells int from float from bool."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


# -- strategies ---------------------------------------------------------------------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
namespaces = st.just("/") | st.builds(lambda s: "/" + s, texts)
datetimes = st.datetimes(min_value=datetime.datetime(1, 1, 2), max_value=datetime.datetime(9999, 12, 30),
                         timezones=st.just(UTC) | st.none())
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
           | st.floats() | texts | st.binary(max_size=300) | st.binary(max_size=10).map(bytearray)
           | datetimes)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6) | st.tuples(inner, inner)
                      | st.dictionaries(texts, inner, max_size=6), max_leaves=25)
event_names = texts.filter(lambda s: s not in ("connect", "connect_error", "disconnect", "disconnecting",
                                                "newListener", "removeListener"))
ack_ids = st.none() | st.integers(min_value=0, max_value=MAX_ACK_ID)
packets = st.one_of(
    st.builds(Packet, st.just(T.CONNECT), namespaces, st.none() | st.dictionaries(texts, values, max_size=4)),
    st.builds(Packet, st.just(T.DISCONNECT), namespaces),
    st.builds(lambda kind, nsp, name, args, ack: Packet(kind, nsp, [name, *args], ack),
              st.sampled_from([T.EVENT, T.BINARY_EVENT]), namespaces, event_names,
              st.lists(values, max_size=4), ack_ids),
    st.builds(lambda kind, nsp, args, ack: Packet(kind, nsp, args, ack),
              st.sampled_from([T.ACK, T.BINARY_ACK]), namespaces, st.lists(values, max_size=4),
              st.integers(min_value=0, max_value=MAX_ACK_ID)),
    st.builds(Packet, st.just(T.CONNECT_ERROR), namespaces,
              texts | st.fixed_dictionaries({"message": texts}, optional={"data": values})),
)


def expected(packet: Packet) -> Packet:
    """What decoding the encoding of ``packet`` gives."""
    kind = {T.BINARY_EVENT: T.EVENT, T.BINARY_ACK: T.ACK}.get(packet.type, packet.type)
    return Packet(kind, packet.namespace, js(packet.data), packet.id)


class ParserContractTests(unittest.TestCase):
    def test_shape(self) -> None:
        """MsgpackParser is named "msgpack", encodes to a list holding one bytes
        message, and makes independent decoders that never await attachments."""
        parser = MsgpackParser()
        self.assertEqual(parser.name, "msgpack")
        messages = parser.encode(Packet(T.EVENT, "/", ["x", b"\x00"]))
        self.assertEqual(len(messages), 1)
        self.assertIsInstance(messages[0], bytes)
        decoder = parser.decoder(max_attachments=3, max_depth=8)
        self.assertIsInstance(decoder, MsgpackDecoder)
        self.assertFalse(decoder.awaiting_attachments)
        self.assertEqual(decoder.feed(messages[0]), Packet(T.EVENT, "/", ["x", b"\x00"]))
        self.assertFalse(decoder.awaiting_attachments)
        self.assertIsNot(parser.decoder(), parser.decoder())

    def test_decoder_arguments(self) -> None:
        """The decoder checks its limits as the JSON decoder does."""
        self.assertRaises(ValueError, MsgpackParser().decoder, max_attachments=-1)
        self.assertRaises(ValueError, MsgpackParser().decoder, max_depth=0)

    def test_message_kinds(self) -> None:
        """A text message is a ProtocolError (the parser is binary only);
        bytearray and memoryview are read like bytes; anything else is the
        caller's TypeError."""
        decoder = MsgpackParser().decoder()
        self.assertRaises(ProtocolError, decoder.feed, "2[\"ev\"]")
        self.assertRaises(ProtocolError, decoder.feed, "")
        message = MsgpackParser().encode(Packet(T.EVENT, "/", ["ev"]))[0]
        self.assertEqual(decoder.feed(bytearray(message)), Packet(T.EVENT, "/", ["ev"]))
        self.assertEqual(decoder.feed(memoryview(message)), Packet(T.EVENT, "/", ["ev"]))
        self.assertRaises(TypeError, decoder.feed, 42)

    def test_pure(self) -> None:
        """Importing the parser in a fresh interpreter loads no twisted.internet,
        twisted.web or autobahn module."""
        code = ("import sys, txsocketio.socketio.msgpack_parser; print(','.join(sorted(m for m in sys.modules "
                "if m.startswith(('twisted.internet', 'twisted.web', 'autobahn')))))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        self.assertEqual(out.stdout.strip(), "")


class EncodeTests(unittest.TestCase):
    def test_node_server_vectors(self) -> None:
        """Every packet type is written byte for byte as Node's server writes it
        with socket.io-msgpack-parser (key order, number widths, Date, NaN)."""
        for packet, hexed in SERVER_VECTORS:
            self.assertEqual(msgpack_parser.encode(packet).hex(), hexed, repr(packet))

    def test_key_orders(self) -> None:
        """EVENT is {type, data, id?, nsp}; ACK {id, type, data, nsp}; CONNECT
        {type, data?, nsp}; CONNECT_ERROR {type, data, nsp}; DISCONNECT {type, nsp}."""
        def keys(packet: Packet) -> list[str]:
            return list(msgpack.unpackb(msgpack_parser.encode(packet), raw=False))

        self.assertEqual(keys(Packet(T.EVENT, "/", ["e"])), ["type", "data", "nsp"])
        self.assertEqual(keys(Packet(T.EVENT, "/", ["e"], 1)), ["type", "data", "id", "nsp"])
        self.assertEqual(keys(Packet(T.ACK, "/", [], 1)), ["id", "type", "data", "nsp"])
        self.assertEqual(keys(Packet(T.CONNECT, "/")), ["type", "nsp"])
        self.assertEqual(keys(Packet(T.CONNECT, "/", {"sid": "x"})), ["type", "data", "nsp"])
        self.assertEqual(keys(Packet(T.CONNECT_ERROR, "/", "no")), ["type", "data", "nsp"])
        self.assertEqual(keys(Packet(T.DISCONNECT, "/a")), ["type", "nsp"])

    def test_binary_inline(self) -> None:
        """bytes, bytearray and memoryview anywhere (also in CONNECT and
        CONNECT_ERROR data) are MessagePack bin; BINARY_EVENT and BINARY_ACK
        are written as EVENT and ACK (no attachments)."""
        packet = Packet(T.BINARY_EVENT, "/bin", ["up", {"a": [bytearray(b"\x01")]}, memoryview(b"\x02\x03")], 4)
        raw = msgpack.unpackb(msgpack_parser.encode(packet), raw=False)
        self.assertEqual(raw, {"type": 2, "data": ["up", {"a": [b"\x01"]}, b"\x02\x03"], "id": 4, "nsp": "/bin"})
        raw = msgpack.unpackb(msgpack_parser.encode(Packet(T.BINARY_ACK, "/", [b"x" * 300], 9)), raw=False)
        self.assertEqual(raw["type"], 3)
        self.assertEqual(raw["data"], [b"x" * 300])
        for packet in (Packet(T.CONNECT, "/", {"key": b"\xff"}), Packet(T.CONNECT_ERROR, "/", {"message": "m", "data": b"\x00"})):
            self.assertEqual(MsgpackParser().decoder().feed(msgpack_parser.encode(packet)), packet)

    def test_javascript_values(self) -> None:
        """Values are written as notepack.io 2 writes the JavaScript value:
        integral floats as integers, non-string keys by their JavaScript
        name, array-index keys first in ascending order, every NaN as
        JavaScript's one NaN, a datetime as notepack 2's Date (fixext 8 type
        0, milliseconds; naive is UTC)."""
        encoded = msgpack_parser.encode(Packet(T.EVENT, "/", ["v", 3.0, {"b": 1, "10": 2, "2": 3, None: 4, 1.5: 5}]))
        self.assertEqual(msgpack.unpackb(encoded, raw=False)["data"], ["v", 3, {"2": 3, "10": 2, "b": 1, "null": 4, "1.5": 5}])
        self.assertEqual(list(msgpack.unpackb(encoded, raw=False)["data"][2]), ["2", "10", "b", "null", "1.5"])
        negative_nan = struct.unpack(">d", bytes.fromhex("fff8000000000001"))[0]
        encoded = msgpack_parser.encode(Packet(T.EVENT, "/", ["nan", negative_nan, math.inf - math.inf]))
        self.assertEqual(encoded.count(bytes.fromhex("cb7ff8000000000000")), 2)  # JavaScript's one NaN
        date = datetime.datetime(1969, 12, 31, 23, 59, 59, 999500)
        encoded = msgpack_parser.encode(Packet(T.EVENT, "/", ["d", date]))
        self.assertIn(bytes.fromhex("d700ffffffffffffffff"), encoded)
        self.assertEqual(MsgpackParser().decoder().feed(encoded).data[1],
                         datetime.datetime(1969, 12, 31, 23, 59, 59, 999000, UTC))

    def test_refusals(self) -> None:
        """A packet that breaks its type's rules is a ValueError; a value
        MessagePack cannot carry a TypeError or ValueError naming the packet."""
        encode = msgpack_parser.encode
        for packet in [
            Packet(7, "/"), Packet(T.EVENT, "/", []), Packet(T.EVENT, "/", [1]), Packet(T.EVENT, "/", "x"),
            Packet(T.ACK, "/", [1]), Packet(T.ACK, "/", {}, 1), Packet(T.CONNECT, "/", []),
            Packet(T.CONNECT_ERROR, "/", None), Packet(T.DISCONNECT, "/", {}), Packet(T.CONNECT, 5),
            Packet(T.CONNECT, "/", None, query="a=b"), Packet(T.EVENT, "/", ["e"], -1),
            Packet(T.EVENT, "/", ["e"], MAX_ACK_ID + 1), Packet(T.EVENT, "/", ["e"], True),
            Packet(T.EVENT, "/", ["e", 2**64]), Packet(T.EVENT, "/", ["e", "\ud800"]),
        ]:
            self.assertRaises(ValueError, encode, packet)
        error = self.assertRaises(TypeError, encode, Packet(T.EVENT, "/", ["e", object()]))
        self.assertIn("EVENT", str(error))
        self.assertIn("object", str(error))
        loop: list[Any] = ["e"]
        loop.append(loop)
        self.assertRaises(ValueError, encode, Packet(T.EVENT, "/", loop))

    def test_beyond_javascript(self) -> None:
        """Where JavaScript cannot hold the Python value: a 64-bit integer that
        is no double is written exactly (a JS peer reads the nearest double);
        an integral float from 2**64 up is a float64 (notepack 2 would
        truncate it); an integer past 64 bits is refused."""
        self.assertIn(bytes.fromhex("cf0020000000000001"), msgpack_parser.encode(Packet(T.EVENT, "/", ["i", 2**53 + 1])))
        self.assertIn(bytes.fromhex("cb4415af1d78b58c40"), msgpack_parser.encode(Packet(T.EVENT, "/", ["f", 1e20])))
        self.assertRaises(ValueError, msgpack_parser.encode, Packet(T.EVENT, "/", ["i", -(2**63) - 1]))


class DecodeTests(unittest.TestCase):
    def setUp(self) -> None:
        self.decoder = MsgpackParser().decoder()

    def test_node_vectors(self) -> None:
        """What Node's client and server send decodes (undefined data is no
        data; extra keys are ignored; key order does not matter)."""
        for hexed, packet in CLIENT_VECTORS:
            self.assertEqual(self.decoder.feed(bytes.fromhex(hexed)), packet, hexed)
        for packet, hexed in SERVER_VECTORS:
            got = self.decoder.feed(bytes.fromhex(hexed))
            self.assertTrue(same(got.data, js(packet.data)), (got, packet))
            self.assertEqual((got.type, got.namespace, got.id), (packet.type, packet.namespace, packet.id))

    def test_every_type(self) -> None:
        """CONNECT (with and without auth), DISCONNECT, EVENT and ACK with ids,
        CONNECT_ERROR as object and string, in any namespace."""
        for packet in [
            Packet(T.CONNECT, "/"), Packet(T.CONNECT, "/admin", {"token": "s3cret", "n": [1, 2]}),
            Packet(T.CONNECT, "/", {"sid": "AbC"}), Packet(T.DISCONNECT, "/chat"),
            Packet(T.EVENT, "/", ["message", "hi"]), Packet(T.EVENT, "/chat", ["say", {"x": None}], 0),
            Packet(T.EVENT, "/", ["bin", b"\x00\xff", [b""]], MAX_ACK_ID), Packet(T.ACK, "/chat", [], 3),
            Packet(T.ACK, "/", ["ok", b"\x01"], 77), Packet(T.CONNECT_ERROR, "/private", {"message": "bad token", "data": {"code": 401}}),
            Packet(T.CONNECT_ERROR, "/", "refused"), Packet(T.EVENT, "", ["odd namespace"]),
            Packet(T.EVENT, "/a,b?c", ["namespace with , and ?"]),
        ]:
            self.assertEqual(self.decoder.feed(msgpack_parser.encode(packet)), packet)

    def test_numbers_as_javascript(self) -> None:
        """type and id may be any MessagePack number that is an integer (as
        Number.isInteger), float64 2.0 included."""
        got = self.decoder.feed(wire({"type": 2.0, "data": ["e"], "nsp": "/", "id": 5.0}))
        self.assertEqual(got, Packet(T.EVENT, "/", ["e"], 5))
        self.assertIs(type(got.id), int)
        self.assertEqual(self.decoder.feed(wire({"nsp": "/", "type": -0.0})), Packet(T.CONNECT, "/"))

    def test_notepack_extensions(self) -> None:
        """notepack 2's extensions: undefined in an array is None, an
        ArrayBuffer (ext type 0) is bytes, a Date is a UTC datetime, another
        extension [type, bytes]."""
        data = bytes.fromhex("95" "a26576" "d40000" "c70200abcd" "d700" "00000000000003e8" "d50761ff")
        raw = bytes.fromhex("83a474797065 02 a464617461".replace(" ", "")) + data + bytes.fromhex("a36e7370a12f")
        got = self.decoder.feed(raw)
        self.assertEqual(got.data, ["ev", None, b"\xab\xcd", EPOCH + datetime.timedelta(seconds=1), [7, b"\x61\xff"]])

    def test_invalid_packets(self) -> None:
        """socket.io-msgpack-parser's checks (and ours, stricter) raise ProtocolError."""
        good = {"type": 2, "data": ["e"], "nsp": "/"}
        bad: list[Any] = [
            [], "x", 2, None, {},
            {**good, "type": 5}, {**good, "type": 6}, {**good, "type": -1}, {**good, "type": "2"},
            {**good, "type": True}, {**good, "type": 2.5}, {**good, "type": None},
            {"type": 2, "data": ["e"]}, {**good, "nsp": None}, {**good, "nsp": 1}, {**good, "nsp": b"/"},
            {**good, "data": {}}, {**good, "data": []}, {**good, "data": [1]}, {**good, "data": None},
            {**good, "data": ["disconnect"]}, {**good, "data": ["connect"]},
            {"type": 3, "data": {}, "nsp": "/", "id": 1}, {"type": 3, "nsp": "/", "id": 1},
            {"type": 0, "data": None, "nsp": "/"}, {"type": 0, "data": [], "nsp": "/"},
            {"type": 0, "data": "x", "nsp": "/"}, {"type": 1, "data": None, "nsp": "/"},
            {"type": 1, "data": {}, "nsp": "/"}, {"type": 4, "nsp": "/"}, {"type": 4, "data": None, "nsp": "/"},
            {"type": 4, "data": [], "nsp": "/"},
            {**good, "id": None}, {**good, "id": -1}, {**good, "id": 1.5}, {**good, "id": "1"},
            {**good, "id": MAX_ACK_ID + 1}, {**good, "id": 2**64 - 1}, {**good, "id": True},
        ]
        for obj in bad:
            self.assertRaises(ProtocolError, self.decoder.feed, wire(obj))
        for hexed in ["", "c1", "83", "c0c0", "dd7fffffff"]:
            self.assertRaises(ProtocolError, self.decoder.feed, bytes.fromhex(hexed))
        self.assertRaises(ProtocolError, self.decoder.feed, wire(good) + b"\xc0")

    def test_depth(self) -> None:
        """max_depth bounds the payload's nesting, counting the payload itself
        (the packet's map is not counted), as the JSON parser counts it; the
        deepest nesting is a ProtocolError, never a RecursionError."""
        def nested(levels: int) -> bytes:
            data: Any = "e"
            for _ in range(levels):
                data = [data]
            return wire({"type": 3, "data": data, "nsp": "/", "id": 1})

        decoder = MsgpackParser().decoder(max_depth=5)
        self.assertEqual(decoder.feed(nested(5)).data, [[[[["e"]]]]])
        self.assertRaises(ProtocolError, decoder.feed, nested(6))
        deep = bytes.fromhex("84a47479706503a26964 01 a36e7370a12f a464617461".replace(" ", "")) + b"\x91" * 100_000 + b"\xc0"
        self.assertRaises(ProtocolError, MsgpackParser().decoder(max_depth=10**6).feed, deep)

    def test_sizes(self) -> None:
        """A length that claims more than the message holds is a ProtocolError
        (nothing is allocated for it)."""
        for hexed in ["dbffffffff41", "c6ffffffff00", "dfffffffff", "ddffffffff", "c9ffffffff0000"]:
            self.assertRaises(ProtocolError, self.decoder.feed, bytes.fromhex("84a474797065 02 a36e7370a12f a2696401 a464617461".replace(" ", "")) + bytes.fromhex(hexed))


class PropertyTests(unittest.TestCase):
    @given(packets)
    @settings(max_examples=400)
    def test_round_trip(self, packet: Packet) -> None:
        """decode(encode(p)) is p as a JavaScript peer would echo it."""
        got = MsgpackParser().decoder(max_depth=100).feed(MsgpackParser().encode(packet)[0])
        want = expected(packet)
        self.assertEqual((got.type, got.namespace, got.id, got.query), (want.type, want.namespace, want.id, None))
        self.assertTrue(same(got.data, want.data), (got.data, want.data))

    @given(st.binary(max_size=300))
    @settings(max_examples=500)
    def test_arbitrary_bytes(self, data: bytes) -> None:
        """Any bytes decode to a packet or raise ProtocolError; nothing else escapes."""
        try:
            packet = MsgpackParser().decoder().feed(data)
        except ProtocolError:
            return
        self.assertIsInstance(packet, Packet)

    @given(st.dictionaries(st.sampled_from(["type", "data", "nsp", "id", "options"]) | texts,
                           values | st.integers(min_value=-2, max_value=7), max_size=6))
    @settings(max_examples=400)
    def test_arbitrary_maps(self, obj: dict[str, Any]) -> None:
        """Well-formed MessagePack maps of any content decode or raise ProtocolError."""
        try:
            data = msgpack.packb(obj, use_bin_type=True, datetime=True)
        except (ValueError, OverflowError):
            return
        try:
            MsgpackParser().decoder().feed(data)
        except ProtocolError:
            pass

    @given(packets, st.data())
    @settings(max_examples=300)
    def test_mutations(self, packet: Packet, data: st.DataObject) -> None:
        """A valid message with a byte changed, removed or added decodes or
        raises ProtocolError."""
        encoded = bytearray(msgpack_parser.encode(packet))
        at = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
        how = data.draw(st.sampled_from(["set", "delete", "insert"]))
        if how == "set":
            encoded[at] = data.draw(st.integers(0, 255))
        elif how == "delete":
            del encoded[at]
        else:
            encoded.insert(at, data.draw(st.integers(0, 255)))
        try:
            MsgpackParser().decoder().feed(bytes(encoded))
        except ProtocolError:
            pass
