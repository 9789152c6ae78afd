"""Differential tests of txsocketio.socketio.msgpack_parser against Node's
socket.io-msgpack-parser 3.x (tests/node/msgpack_codec.js).

The mapping from a Python packet to the JavaScript object Node encodes is
the one of socket.io 4.8's server (key order per packet type; see
msgpack_codec.js).  Python values JavaScript cannot hold are kept out of the
byte-for-byte corpus and pinned by their own test: integers that are not
doubles (we write them exactly; Node reads the nearest double), integral
floats from 2**64 up or below -2**63 (we write float64; notepack 2 truncates
them to 64 bits), datetimes finer than a millisecond (written floored to the
millisecond, as a JavaScript Date holds them).
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import random
import struct
from pathlib import Path
from typing import Any

from twisted.trial import unittest

from tests.support import require_node, require_node_modules, run_process
from txsocketio.errors import ProtocolError
from txsocketio.socketio.msgpack_parser import MsgpackParser
from txsocketio.socketio.packet import MAX_ACK_ID, Packet, PacketType

T = PacketType
UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
CORPUS_SIZE = 3000
NODE_CORPUS_SIZE = 2000
MUTATIONS = 3000

# -- the Python corpus ---------------------------------------------------------------

INT_EDGES = [0, 1, -1, 31, -31, -32, -33, 127, 128, 255, 256, -128, -129, 32767, 32768, 65535, 65536,
             -32768, -32769, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**32 - 1, 2**32, 2**53 - 1, 2**53,
             -(2**53), 2**60, 2**63, 2**64 - 2**11, -(2**63), MAX_ACK_ID]
FLOAT_EDGES = [0.5, -0.5, 1.0, -0.0, 0.0, 1e-7, 1e16, 5e-324, 2.2250738585072014e-308, 1.5e-300, math.nan,
               -math.nan, math.inf - math.inf, math.inf, -math.inf, 4294967296.0, -2147483649.0, 2.0**63,
               2.0**64 - 2048, -(2.0**63)]
ALPHABETS = ["abc", "aé€", "😀𝄞", "\x00\x7f", "ü"]


class Corpus:
    """A seeded random source of packets that JavaScript can hold exactly."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    def integer(self) -> int:
        rnd = self.rnd
        choice = rnd.randrange(4)
        if choice == 0:
            return rnd.choice(INT_EDGES)
        if choice == 1:
            return rnd.randrange(-(2**53), 2**53)
        if choice == 2:  # a double that is a large integer
            return int(float(rnd.randrange(-(2**63), 2**64 - 2**11)))
        return rnd.randrange(-300, 70000)

    def floating(self) -> float:
        rnd = self.rnd
        choice = rnd.randrange(4)
        if choice == 0:
            return rnd.choice(FLOAT_EDGES)
        if choice == 1:
            while True:  # any double, from random bits
                value = struct.unpack(">d", rnd.getrandbits(64).to_bytes(8, "big"))[0]
                if not (math.isfinite(value) and value.is_integer() and not -(2.0**63) <= value < 2.0**64):
                    return value
        if choice == 2:
            return float(rnd.randrange(-(2**40), 2**40))  # integral: written as an integer
        return rnd.uniform(-1e6, 1e6)

    def text(self, length: int | None = None) -> str:
        rnd = self.rnd
        if length is None:
            length = rnd.choice([0, 1, 5, 31, 32, 33, rnd.randrange(300)])
        if rnd.random() < 0.2:  # any code point but surrogates
            return "".join(chr(rnd.choice([rnd.randrange(0xD800), rnd.randrange(0xE000, 0x110000)]))
                           for _ in range(length))
        alphabet = rnd.choice(ALPHABETS)
        return "".join(rnd.choice(alphabet) for _ in range(length))

    def binary(self) -> bytes | bytearray | memoryview:
        rnd = self.rnd
        data = rnd.randbytes(rnd.choice([0, 1, 2, 8, 16, 255, 256, rnd.randrange(600)]))
        return rnd.choice([bytes, bytearray, memoryview])(data)

    def date(self) -> datetime.datetime:
        rnd = self.rnd
        micros = rnd.randrange(-62135596800 * 10**6, 253402300799 * 10**6)
        value = EPOCH + datetime.timedelta(microseconds=micros)
        return value.replace(tzinfo=None) if rnd.random() < 0.3 else value

    def key(self) -> Any:
        rnd = self.rnd
        choice = rnd.randrange(10)
        if choice < 5:
            return self.text(rnd.choice([0, 1, 3, 40]))
        if choice < 8:
            return rnd.choice(["0", "1", "2", "9", "10", "01", "-1", "1.5", "4294967294", "4294967295",
                               "99999999999", "type", "data"])
        return rnd.choice([0, 7, 12, -3, 1.5, -0.0, 1e21, 1e-7, math.nan, True, False, None])

    def value(self, depth: int = 0) -> Any:
        rnd = self.rnd
        if depth < 4 and rnd.random() < 0.35:
            size = rnd.choice([0, 1, 2, 3, 15, 16, 17])
            kind = rnd.randrange(3)
            if kind == 0:
                return [self.value(depth + 1) for _ in range(size)]
            if kind == 1:
                return tuple(self.value(depth + 1) for _ in range(size))
            return {self.key(): self.value(depth + 1) for _ in range(size)}
        choice = rnd.randrange(9)
        return [None, rnd.random() < 0.5, self.integer(), self.integer(), self.floating(), self.text(),
                self.text(), self.binary(), self.date()][choice]

    def namespace(self) -> str:
        return self.rnd.choice(["/", "/", "/", "/chat", "/é😀", "/a/b", "", "/a,b?c=d", self.text(5)])

    def ack_id(self) -> int:
        return self.rnd.choice([0, 1, 127, 128, 65536, 2**32, MAX_ACK_ID, self.rnd.randrange(MAX_ACK_ID)])

    def packet(self) -> Packet:
        rnd = self.rnd
        nsp = self.namespace()
        kind = rnd.randrange(8)
        if kind == 0:
            data = None if rnd.random() < 0.3 else {self.key(): self.value(1) for _ in range(rnd.randrange(4))}
            return Packet(T.CONNECT, nsp, data)
        if kind == 1:
            return Packet(T.DISCONNECT, nsp)
        if kind == 2:
            data = self.text() if rnd.random() < 0.3 else {"message": self.text()}
            if isinstance(data, dict) and rnd.random() < 0.5:
                data["data"] = self.value(1)
            return Packet(T.CONNECT_ERROR, nsp, data)
        if kind in (3, 4):
            return Packet(T.ACK if kind == 3 else T.BINARY_ACK, nsp,
                          [self.value(1) for _ in range(rnd.randrange(4))], self.ack_id())
        args = [self.value(1) for _ in range(rnd.randrange(5))]
        return Packet(rnd.choice([T.EVENT, T.BINARY_EVENT]), nsp, [self.text(), *args],
                      self.ack_id() if rnd.random() < 0.4 else None)


# -- tagged values (see msgpack_codec.js) ---------------------------------------------


def tag(value: Any) -> Any:
    """A Python value as msgpack_codec.js's tagged JSON of the JavaScript value."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return {"$num": "NaN"}
        if math.isinf(value):
            return {"$num": "Infinity" if value > 0 else "-Infinity"}
        if value == 0 and math.copysign(1, value) < 0:
            return {"$num": "-0"}
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bin": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return {"$date": (value - EPOCH) // datetime.timedelta(milliseconds=1)}
    if isinstance(value, (list, tuple)):
        return [tag(v) for v in value]
    if isinstance(value, dict):
        return {"$map": [[tag(k), tag(v)] for k, v in value.items()]}
    raise TypeError(type(value).__name__)


def tagged_packet(packet: Packet) -> dict[str, Any]:
    kind = {T.BINARY_EVENT: T.EVENT, T.BINARY_ACK: T.ACK}.get(packet.type, packet.type)
    out: dict[str, Any] = {"type": int(kind), "nsp": packet.namespace}
    if packet.data is not None:
        out["data"] = tag(packet.data)
    if packet.id is not None:
        out["id"] = packet.id
    return out


def untag(value: Any) -> Any:
    """Node's decoded value (tagged) as the Python value our decoder gives for it:
    an undefined map entry is dropped, undefined in an array is None."""
    if isinstance(value, list):
        return [None if isinstance(v, dict) and "$undef" in v else untag(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$map" in value:
        return {k: untag(v) for k, v in value["$map"] if not (isinstance(v, dict) and "$undef" in v)}
    if "$bin" in value:
        return base64.b64decode(value["$bin"])
    if "$ab" in value:
        return base64.b64decode(value["$ab"])
    if "$date" in value:
        return EPOCH + datetime.timedelta(milliseconds=value["$date"])
    if "$num" in value:
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}[value["$num"]]
    raise ValueError(f"unknown tag {value!r}")


def js(value: Any) -> Any:
    """A Python payload as it comes back from JavaScript (order aside)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and -(2**63) <= value < 2**64:
        return int(value)
    if isinstance(value, (list, tuple)):
        return [js(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[k if isinstance(k, str) else js_key(k)] = js(v)
        return out
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def js_key(key: Any) -> str:
    """String(key) in JavaScript, for the keys the corpus uses."""
    names = {None: "null", True: "true", False: "false"}
    if key is None or isinstance(key, bool):
        return names[key]
    if isinstance(key, float):
        if math.isnan(key):
            return "NaN"
        return {1.5: "1.5", 1e21: "1e+21", 1e-7: "1e-7"}.get(key, str(int(key)))
    return str(key)


def agree(ours: Any, node: Any) -> bool:
    """Our decoded value equals Node's: numbers as doubles (NaN equal to NaN),
    map order aside (JavaScript puts array indices first)."""
    if isinstance(ours, bool) or isinstance(node, bool):
        return ours is node
    if isinstance(ours, (int, float)) and isinstance(node, (int, float)):
        a, b = float(ours), float(node)
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(ours) is not type(node):
        return False
    if isinstance(ours, list):
        return len(ours) == len(node) and all(agree(x, y) for x, y in zip(ours, node))
    if isinstance(ours, dict):
        return ours.keys() == node.keys() and all(agree(ours[k], node[k]) for k in ours)
    return bool(ours == node)


def agree_packet(ours: Packet, node: dict[str, Any]) -> bool:
    """Our Packet against Node's decoded packet (tagged $map)."""
    fields = untag(node)
    return (int(ours.type) == fields.get("type") and ours.namespace == fields.get("nsp")
            and ours.id == fields.get("id") and agree(ours.data, fields.get("data")))


def short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def report(what: str, cases: list[Any]) -> str:
    """An assertion message: how many, and the first three (cut short)."""
    return f"{len(cases)} {what}; the first: " + "; ".join(short(case) for case in cases[:3])


def where(ours: str, node: str) -> str:
    """Where two hex strings first differ, with some context."""
    at = next((i for i, (a, b) in enumerate(zip(ours, node)) if a != b), min(len(ours), len(node)))
    start = max(0, at - 40)
    return f"at hex offset {at}: ours ...{ours[start:at + 40]}... node ...{node[start:at + 40]}..."


def mutate(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.choice([1, 1, 2, 3])):
        at = rnd.randrange(len(out) + 1)
        how = rnd.randrange(4)
        if how == 0 and at < len(out):
            out[at] = rnd.randrange(256)
        elif how == 1 and at < len(out):
            del out[at]
        elif how == 2:
            out.insert(at, rnd.choice([0xC0, 0xD4, 0xC7, 0x90, 0x80, 0xFF, 0xA1, rnd.randrange(256)]))
        else:
            del out[at:]
    return bytes(out)


class NodeDifferentialTests(unittest.TestCase):
    """Our encoder and decoder against Node's socket.io-msgpack-parser, on
    one corpus of each side (the Node process runs once for the class)."""

    response: dict[str, Any] | None = None

    async def codec(self, request: dict[str, Any]) -> dict[str, Any]:
        node_dir = require_node_modules("socket.io-msgpack-parser")
        path = Path(self.mktemp()).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(request))
        result = await run_process([require_node(), "msgpack_codec.js", str(path)], cwd=node_dir, timeout=120)
        self.assertEqual(result.exit_code, 0, result.describe())
        response: dict[str, Any] = json.loads(result.stdout)
        return response

    async def test_encoder_matches_node(self) -> None:
        """Our bytes for a corpus of 3000 random packets (every type,
        namespaces, ids, nested values, binary, dates, number and length
        edges, non-string and array-index keys) equal the bytes Node's Encoder
        writes for the JavaScript objects socket.io builds: 0 differences.
        Node's Decoder accepts every one of ours, as it accepts its own."""
        corpus = Corpus(20261126)
        packets = [corpus.packet() for _ in range(CORPUS_SIZE)]
        parser = MsgpackParser()
        ours = [parser.encode(packet)[0] for packet in packets]
        # A few big values (str 32, bin 32, array 16 and map 16 headers) on top.
        big = [Packet(T.EVENT, "/", ["big", "x" * 70000, b"\x01" * 70000, list(range(70000)),
                                     {f"k{i}": i for i in range(70000)}])]
        packets += big
        ours += [parser.encode(packet)[0] for packet in big]
        response = await self.codec({"encode": [{"packet": tagged_packet(p), "ours": o.hex()}
                                                for p, o in zip(packets, ours)]})
        results = response["encode"]
        self.assertEqual(len(results), len(packets))
        differences = [(where(o.hex(), r["node"]), p) for p, o, r in zip(packets, ours, results)
                       if o.hex() != r["node"]]
        self.assertFalse(differences, report(f"of {len(packets)} encodings differ", differences))
        refused = [(r["ours"], p) for p, r in zip(packets, results) if "error" in r["ours"]]
        self.assertFalse(refused, report("of our messages refused by Node's Decoder", refused))
        wrong = [(p, r["ours"]) for p, r in zip(packets, results)
                 if not agree_packet(Packet(p.type if p.type <= 4 else p.type - 3, p.namespace, js(p.data), p.id),
                                     r["ours"]["packet"])]
        self.assertFalse(wrong, report("of our messages decoded by Node into other values", wrong))

    async def test_decoder_matches_node(self) -> None:
        """2000 packets that Node encodes as socket.io-client and the server
        build them (undefined values, ArrayBuffers, typed arrays, Dates, the
        client's options key, number edges, notepack's own integer
        truncation of 1e21) decode to what Node's Decoder makes of them."""
        response = await self.codec({"generate": {"seed": 7, "count": NODE_CORPUS_SIZE}})
        decoder = MsgpackParser().decoder()
        mismatches = []
        for case in response["generate"]:
            self.assertIn("packet", case["decoded"], case)
            ours = decoder.feed(bytes.fromhex(case["hex"]))
            if not agree_packet(ours, case["decoded"]["packet"]):
                mismatches.append((case["hex"], ours, case["decoded"]))
        self.assertEqual(len(response["generate"]), NODE_CORPUS_SIZE)
        self.assertFalse(mismatches, report(f"of {NODE_CORPUS_SIZE} decode differently", mismatches))

    async def test_malformed_never_laxer_than_node(self) -> None:
        """3000 damaged messages (bytes changed, inserted, removed, cut):
        what our decoder accepts Node's accepts too, with the same values;
        the rest raise ProtocolError only.  (Node accepts more: negative ids,
        reserved or non-string event names, deeper nesting.)"""
        rnd = random.Random(99)
        corpus = Corpus(5)
        parser = MsgpackParser()
        sources = [parser.encode(corpus.packet())[0] for _ in range(300)]
        damaged = [mutate(rnd, rnd.choice(sources)) for _ in range(MUTATIONS)]
        response = await self.codec({"decode": [d.hex() for d in damaged]})
        laxer, different, accepted = [], [], 0
        for data, node in zip(damaged, response["decode"]):
            try:
                ours = parser.decoder().feed(data)
            except ProtocolError:
                continue
            accepted += 1
            if "error" in node:
                laxer.append((data.hex(), ours, node["error"]))
            elif not agree_packet(ours, node["packet"]):
                different.append((data.hex(), ours, node["packet"]))
        self.assertFalse(laxer, report("messages that Node refuses were accepted", laxer))
        self.assertFalse(different, report("messages decode differently", different))
        self.assertGreater(accepted, MUTATIONS // 20, "too few damaged messages still decode to test anything")

    async def test_beyond_javascript(self) -> None:
        """The mapping where JavaScript cannot hold the Python value: an
        integer that is no double is written exactly and Node reads the nearest
        double; an integral float of 2**64 and more is a float64 that Node
        reads back exactly (notepack 2 itself would write a truncated
        integer); a datetime is floored to the millisecond."""
        parser = MsgpackParser()
        packets = [Packet(T.EVENT, "/", ["i", 2**53 + 1, -(2**53) - 1, 2**64 - 1]),
                   Packet(T.EVENT, "/", ["f", 1e20, -1e19, 2.0**64]),
                   Packet(T.EVENT, "/", ["d", datetime.datetime(2000, 1, 1, 0, 0, 0, 999999, UTC)])]
        ours = [parser.encode(p)[0] for p in packets]
        response = await self.codec({"encode": [{"packet": tagged_packet(p), "ours": o.hex()}
                                                for p, o in zip(packets, ours)]})
        decoded = [untag(r["ours"]["packet"])["data"] for r in response["encode"]]
        self.assertTrue(agree(decoded[0], ["i", float(2**53 + 1), float(-(2**53) - 1), float(2**64 - 1)]), decoded[0])
        self.assertTrue(agree(decoded[1], ["f", 1e20, -1e19, 2.0**64]), decoded[1])
        self.assertEqual(decoded[2], ["d", datetime.datetime(2000, 1, 1, 0, 0, 0, 999000, UTC)])
        # Node's own bytes for 1e20 are no float: notepack 2 truncates it.
        node_1e20 = response["encode"][1]["node"]
        self.assertNotEqual(node_1e20, ours[1].hex())
        self.assertNotIn("cb4415af1d78b58c40", node_1e20)
        self.assertIn("cb4415af1d78b58c40", ours[1].hex())
