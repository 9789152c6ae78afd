"""Tests for L{txsocketio.socketio.parser}: the parser seam and the default JSON parser."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txsocketio import SocketIOServer
from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import Decoder, Packet, PacketType, encode
from txsocketio.socketio.parser import JSON_PARSER, JSONParser
from txsocketio.testing import TestClient

_json = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                 max_size=3),
                     max_leaves=8)


class JSONParserTests(SynchronousTestCase):
    def test_encode_is_the_codec(self) -> None:
        """JSON_PARSER.encode is byte for byte txsocketio.socketio.packet.encode."""
        packet = Packet(PacketType.EVENT, "/chat", ["ev", {"a": [1, "é"]}, b"\x00\x01"], id=3)
        self.assertEqual(JSON_PARSER.encode(packet), encode(packet))
        self.assertEqual(JSON_PARSER.encode(packet)[0], '51-/chat,3["ev",{"a":[1,"é"]},{"_placeholder":true,"num":0}]')

    def test_decoder(self) -> None:
        """decoder() gives a fresh packet.Decoder with the limits asked for."""
        decoder = JSON_PARSER.decoder(max_attachments=1, max_depth=4)
        self.assertIsInstance(decoder, Decoder)
        self.assertFalse(decoder.awaiting_attachments)
        self.assertEqual(decoder.feed('2["x"]'), Packet(PacketType.EVENT, "/", ["x"]))
        self.assertRaises(ProtocolError, decoder.feed, '52-["x",{"_placeholder":true,"num":0}]')
        self.assertRaises(ProtocolError, JSON_PARSER.decoder(max_attachments=1, max_depth=2).feed,
                          '2["x",[[[1]]]]')

    @settings(max_examples=100, deadline=None)
    @given(st.lists(_json | st.binary(max_size=5), max_size=4), st.sampled_from(["/", "/n"]),
           st.none() | st.integers(0, 1000))
    def test_round_trip(self, args: list[Any], nsp: str, ack_id: int | None) -> None:
        """What encode() writes, a decoder reads back as the same packet."""
        packet = Packet(PacketType.EVENT, nsp, ["ev", *args], id=ack_id)
        decoder = JSONParser().decoder(max_attachments=10)
        out = None
        for message in JSON_PARSER.encode(packet):
            out = decoder.feed(message)
        self.assertEqual(out.data if out else None, ["ev", *args])


class RecordingParser:
    """A parser that wraps the JSON one and records what passes through it."""

    def __init__(self) -> None:
        self.encoded: list[Packet] = []
        self.decoders = 0

    def encode(self, packet: Packet) -> list[str | bytes]:
        self.encoded.append(packet)
        return JSON_PARSER.encode(packet)

    def decoder(self, *, max_attachments: int, max_depth: int | None = None) -> Any:
        self.decoders += 1
        return JSON_PARSER.decoder(max_attachments=max_attachments, max_depth=max_depth)


class ServerUsesTheParserTests(SynchronousTestCase):
    def test_server_encodes_and_decodes_through_it(self) -> None:
        """SocketIOServer(parser=...) encodes every packet and makes every decoder with it."""
        parser = RecordingParser()
        sio = SocketIOServer(reactor=Clock(), parser=parser)
        sio.on("echo", lambda socket, x: x)
        client = TestClient(sio)
        self.assertEqual(parser.decoders, 1)
        d = client.emit_with_ack("echo", 5)
        self.assertEqual(self.successResultOf(d), [5])
        sio.emit("all", 1)
        kinds = [p.type for p in parser.encoded]
        self.assertEqual(kinds, [PacketType.CONNECT, PacketType.ACK, PacketType.EVENT])

    def test_bad_parser(self) -> None:
        """Something without encode/decoder is refused at construction."""
        self.assertRaises(TypeError, SocketIOServer, reactor=Clock(), parser=object())
