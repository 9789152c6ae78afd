"""
The Socket.IO codec against Node's: a large random corpus of packets encoded
by L{txsocketio.socketio.packet.encode} (through the orjson fast path and
through the exact path alone) and by Node's C{socket.io-parser} C{Encoder}
must give the same Engine.IO messages, byte for byte; and what Node wrote
must decode, on both paths, to the data it was given.

Real peer: Node's C{socket.io-parser} 4.2 (the parser of the socket.io 4.8
server), driven by C{tests/node/sio_parser_codec.js}.
"""

from __future__ import annotations

import base64
import json
import math
import random
import struct
from pathlib import Path
from typing import Any, Iterator, Union

from twisted.trial.unittest import TestCase

from tests.support import require_node, require_node_modules, run_process
from txsocketio.errors import ProtocolError
from txsocketio.socketio import packet as packet_module
from txsocketio.socketio.packet import Decoder, Packet, PacketType, encode

#: Packets in the corpus (the issue's "today's 45,000").
CORPUS_SIZE = 45_000
SEED = 20261126

_TEXT_POOLS = [
    "abcxyz",
    "0123456789 .,:;-+eE",
    '"\\/[]{}',
    "\x00\x01\x08\t\n\x0c\r\x1f\x7f",
    "éßñ€\u2028\u2029\ufeff\uffff",
    "😀𝄞\U0010ffff",
    "\ud800\udbff\udc00\udfff",  # surrogates, alone or in pairs
]


class _Corpus:
    """
    Random packets, seeded; each comes with the data as Node should get it
    (binary values and non-finite numbers tagged).
    """

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def text(self, limit: int = 12) -> str:
        rnd = self.random
        pool = "".join(rnd.sample(_TEXT_POOLS, rnd.randint(1, 3)))
        return "".join(rnd.choice(pool) for _ in range(rnd.randint(0, limit)))

    def key(self) -> str:
        """
        A random object key; not an array index ("0", "42"), which a
        JavaScript object enumerates first, whatever the order of the Python
        dict (the object a client reads is the same, the text is not), and
        not one of the corpus file's tags.
        """
        while True:
            key = self.text(6)
            if key.startswith(("$", "_placeholder")):
                continue
            if key.isascii() and key.isdigit() and str(int(key)) == key:
                continue
            return key

    def number(self) -> Union[int, float]:
        rnd = self.random
        kind = rnd.randrange(9)
        if kind == 0:
            return rnd.randint(-1000, 1000)
        if kind == 1:
            return rnd.choice([0, -1, 2**31, 2**32, 2**53, -(2**53), 2**53 - 1])
        if kind == 2:
            return rnd.randint(-(2**53), 2**53)
        if kind == 3:
            (value,) = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))
            return value
        if kind == 4:
            return rnd.choice([0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324,
                               1.7976931348623157e308, 2.0**53, 0.1, 1e21, 1e-7])
        if kind == 5:
            return rnd.randint(-99999, 99999) * 10.0 ** rnd.randint(-25, 25)
        if kind == 6:
            return float(rnd.randint(-(10**17), 10**17))
        if kind == 7:
            return round(rnd.uniform(-1000, 1000), rnd.randint(0, 6))
        return 10.0 ** rnd.randint(-8, 23)

    def value(self, depth: int, binary: bool) -> Any:
        rnd = self.random
        kind = rnd.randrange(10 if depth < 5 else 7)
        if kind == 0:
            return rnd.choice([None, True, False])
        if kind in (1, 2):
            return self.number()
        if kind in (3, 4):
            return self.text()
        if kind == 5:
            return rnd.randbytes(rnd.randint(0, 6)) if binary else self.text()
        if kind == 6:
            return self.number()
        if kind in (7, 8):
            return [self.value(depth + 1, binary) for _ in range(rnd.randint(0, 4))]
        return {self.key(): self.value(depth + 1, binary) for _ in range(rnd.randint(0, 4))}

    def namespace(self) -> str:
        """
        A namespace: a name the application chose, written as is in the
        header (no surrogates: they cannot go out as UTF-8 there).
        """
        rnd = self.random
        name = "/" + "".join(c for c in self.key() if c != "," and not 0xD800 <= ord(c) <= 0xDFFF)
        return rnd.choice(["/", "/", "/chat", "/a/b", "/é", name])

    def packet(self) -> Packet:
        rnd = self.random
        kind = rnd.randrange(10)
        namespace = self.namespace()
        binary = rnd.random() < 0.3
        if kind < 6:
            name = self.text() or "ev"
            args = [self.value(1, binary) for _ in range(rnd.randint(0, 4))]
            ack = rnd.choice([None, rnd.randint(0, 1000), 2**53 - 1])
            return Packet(PacketType.EVENT, namespace, [name, *args], ack)
        if kind < 8:
            args = [self.value(1, binary) for _ in range(rnd.randint(0, 4))]
            return Packet(PacketType.ACK, namespace, args, rnd.randint(0, 2**31))
        if kind == 8:
            data = rnd.choice([None, {self.key(): self.value(1, False)}])
            return Packet(PacketType.CONNECT, namespace.replace("?", ""), data)
        return Packet(
            PacketType.CONNECT_ERROR,
            namespace,
            rnd.choice([self.text(), {"message": self.text(), "data": self.value(1, False)}]),
        )

    def __iter__(self) -> Iterator[Packet]:
        while True:
            yield self.packet()


def _for_node(value: Any) -> Any:
    """
    C{value} in the corpus file: binary values and non-finite numbers
    tagged, the rest as JSON (lone surrogates travel as escapes).
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bin": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$num": repr(value).replace("inf", "Infinity").replace("nan", "NaN")}
    if isinstance(value, list):
        return [_for_node(item) for item in value]
    if isinstance(value, dict):
        return {key: _for_node(item) for key, item in value.items()}
    return value


def _from_node(message: Any) -> Union[str, bytes]:
    if isinstance(message, dict):
        return base64.b64decode(message["$bin"])
    return message


def _normal(value: Any) -> Any:
    """
    What C{value} is after a trip through JSON: numbers as doubles (NaN and
    infinities as null), surrogate pairs joined, binary as bytes.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    if isinstance(value, (int, float)):
        number = float(value)
        return None if not math.isfinite(number) else ("n", number)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("b", bytes(value))
    if isinstance(value, list):
        return [_normal(item) for item in value]
    return {_normal(key): _normal(item) for key, item in value.items()}


class NodeParserDifferentialTests(TestCase):
    """
    Same packets, same bytes as Node's socket.io-parser, on both JSON paths.
    """

    timeout = 300

    async def test_corpus(self) -> None:
        """
        45,000 random packets (events, acks, CONNECT, CONNECT_ERROR; binary
        values, all sorts of floats, NaN and infinities, control characters,
        non-ASCII, astral characters, lone surrogates) encode to exactly what
        Node's Encoder writes, through the fast path and through the exact
        path alone; a good share of them take each path.  What Node wrote
        decodes on both paths to the data Node was given.
        """
        node_dir = require_node_modules("socket.io-parser")
        if packet_module._orjson is None:
            self.fail("orjson is not installed: the fast path cannot be compared")
        packets = []
        lines = []
        for packet, _ in zip(_Corpus(SEED), range(CORPUS_SIZE)):
            packets.append(packet)
            spec: dict[str, Any] = {"type": int(packet.type), "nsp": packet.namespace}
            if packet.data is not None:
                spec["data"] = _for_node(packet.data)
            if packet.id is not None:
                spec["id"] = packet.id
            lines.append(json.dumps(spec))
        corpus = Path(self.mktemp()).resolve()
        corpus.parent.mkdir(parents=True, exist_ok=True)
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = await run_process(
            [require_node(), "sio_parser_codec.js", str(corpus)], cwd=node_dir, timeout=240
        )
        self.assertEqual(result.exit_code, 0, result.describe())
        expected = [
            [_from_node(m) for m in json.loads(line)]
            for line in result.stdout_text.split("\n")
            if line
        ]
        self.assertEqual(len(expected), CORPUS_SIZE)

        differences: dict[str, list[Any]] = {"orjson-first": [], "exact-only": []}
        took_fast = 0
        for packet, node in zip(packets, expected):
            fast = encode(packet)
            if fast != node:
                differences["orjson-first"].append((packet, fast, node))
            took_fast += self._fastPathServes(packet)
            saved = packet_module._orjson
            packet_module._orjson = None
            try:
                exact = encode(packet)
            finally:
                packet_module._orjson = saved
            if exact != node:
                differences["exact-only"].append((packet, exact, node))
        for path, found in differences.items():
            self.assertEqual(
                found[:5], [], f"{len(found)} differences from Node on the {path} path"
            )
        # Both paths must really have been exercised by the corpus.
        self.assertGreater(took_fast, CORPUS_SIZE // 2)
        self.assertGreater(CORPUS_SIZE - took_fast, CORPUS_SIZE // 20)

        mismatches = []
        for packet, node in zip(packets, expected):
            for exact_only in (False, True):
                saved = packet_module._orjson
                if exact_only:
                    packet_module._orjson = None
                try:
                    decoder = Decoder(max_attachments=100)
                    decoded = None
                    for message in node:
                        decoded = decoder.feed(message)
                except ProtocolError as e:
                    mismatches.append((packet, node, exact_only, str(e)))
                    continue
                finally:
                    packet_module._orjson = saved
                if decoded is None or _normal(decoded.data) != _normal(packet.data):
                    mismatches.append((packet, node, exact_only, decoded))
        self.assertEqual(mismatches[:5], [], f"{len(mismatches)} decoding mismatches")

    @staticmethod
    def _fastPathServes(packet: Packet) -> bool:
        """
        Whether orjson writes C{packet}'s payload (else the exact path does).
        """
        if packet.data is None:
            return True
        binary_ok = packet.type in (PacketType.EVENT, PacketType.ACK)
        return packet_module._fast_payload(packet.data, [] if binary_ok else None) is not None
