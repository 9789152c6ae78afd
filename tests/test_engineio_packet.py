"""
Tests for L{txsocketio.engineio.packet}, the Engine.IO codec.

The fixed byte strings marked "Node" were produced by the official parsers
(engine.io 6.6's built-in v3 parser, engine.io-parser 5.2 for v4, and the
engine.io 6.6 JSONP transport) from the same packets, so these tests pin the
codec to what Node puts on the wire without needing Node to run.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from typing import Callable
from urllib.parse import quote_plus

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txsocketio.engineio import packet as packet_module
from txsocketio.engineio.packet import (
    BINARY_CONTENT_TYPE,
    JAVASCRIPT_CONTENT_TYPE,
    RECORD_SEPARATOR,
    TEXT_CONTENT_TYPE,
    Packet,
    PacketType,
    decode_frame,
    decode_jsonp_body,
    decode_payload,
    encode_frame,
    encode_jsonp,
    encode_payload,
    encode_text_packet,
)
from txsocketio.errors import ProtocolError

MESSAGE = PacketType.MESSAGE

# Node vector 1: the same five packets in every format.
MIXED = [
    Packet(MESSAGE, "hello"),
    Packet(MESSAGE, "\u20ac"),
    Packet(MESSAGE, b"\x01\x02"),
    Packet(PacketType.PING),
    Packet(MESSAGE, "\U0001f600x"),
]
MIXED_V4 = b"4hello\x1e4\xe2\x82\xac\x1ebAQI=\x1e2\x1e4\xf0\x9f\x98\x80x"
MIXED_V3_TEXT = b"6:4hello2:4\xe2\x82\xac6:b4AQI=1:24:4\xf0\x9f\x98\x80x"
MIXED_V3_BINARY = (
    b"\x00\x06\xff4hello"
    b"\x00\x04\xff4\xe2\x82\xac"
    b"\x01\x03\xff\x04\x01\x02"
    b"\x00\x01\xff2"
    b"\x00\x06\xff4\xf0\x9f\x98\x80x"
)
MIXED_JSONP = b'___eio[12]("6:4hello2:4\xe2\x82\xac6:b4AQI=1:24:4\xf0\x9f\x98\x80x");'

# Node vector 2: characters that need escaping or count differently.
AWKWARD_TEXT = 'a"\\\n\u2028\u2029\x01\t/\u00e9\U0001f600'
AWKWARD = [
    Packet(MESSAGE, AWKWARD_TEXT),
    Packet(MESSAGE, b"\xff\x00"),
    Packet(PacketType.CLOSE),
]
AWKWARD_V4 = (
    b'4a"\\\n\xe2\x80\xa8\xe2\x80\xa9\x01\t/\xc3\xa9\xf0\x9f\x98\x80' b"\x1eb/wA=\x1e1"
)
AWKWARD_V3_TEXT = (
    b'13:4a"\\\n\xe2\x80\xa8\xe2\x80\xa9\x01\t/\xc3\xa9\xf0\x9f\x98\x80' b"6:b4/wA=1:1"
)
AWKWARD_V3_BINARY = (
    b'\x00\x02\x00\xff4a"\\\n\xe2\x80\xa8\xe2\x80\xa9\x01\t/\xc3\xa9\xf0\x9f\x98\x80'
    b"\x01\x03\xff\x04\xff\x00"
    b"\x00\x01\xff1"
)
AWKWARD_JSONP = (
    b'___eio[79]("13:4a\\"\\\\\\n\\u2028\\u2029\\u0001\\t/\xc3\xa9\xf0\x9f\x98\x80'
    b'6:b4/wA=1:1");'
)


# Strategies.  Lone surrogates cannot be sent as UTF-8, so no text has them.
texts = st.text(st.characters(codec="utf-8"))
v4_texts = st.text(st.characters(codec="utf-8", exclude_characters="\x1e"))
binary_messages = st.builds(Packet, st.just(MESSAGE), st.binary())


def packets_with(data: st.SearchStrategy[str]) -> st.SearchStrategy[Packet]:
    """Packets of any type with text from C{data}, or binary messages."""
    return st.one_of(
        st.builds(Packet, st.sampled_from(PacketType), data), binary_messages
    )


any_packets = packets_with(texts)
v4_packets = packets_with(v4_texts)

FUZZ = settings(max_examples=300, deadline=None)


def unwrap_jsonp(body: bytes) -> tuple[str, bytes]:
    """Undo L{encode_jsonp}'s wrapper: return the index and the payload."""
    match = re.fullmatch(rb'___eio\[([0-9]*)\]\((".*")\);', body, re.DOTALL)
    assert match is not None, body
    return match.group(1).decode(), json.loads(match.group(2)).encode()


def jsonp_client_body(payload: str) -> bytes:
    """Form-encode C{payload} the way engine.io-client 3.x's JSONP transport does.

    It escapes a backslash-n in the data as backslash-backslash-n, then every
    newline as backslash-n, and submits the result as the form field C{d}.
    """
    escaped = payload.replace("\\n", "\\\n").replace("\n", "\\n")
    return ("d=" + quote_plus(escaped)).encode()


class PacketTests(SynchronousTestCase):
    """
    Tests for L{Packet}, L{PacketType} and L{encode_text_packet}.
    """

    def test_typeValues(self) -> None:
        """
        The packet types carry the digits used on the wire.
        """
        self.assertEqual(
            [(t.name, int(t)) for t in PacketType],
            [
                ("OPEN", 0),
                ("CLOSE", 1),
                ("PING", 2),
                ("PONG", 3),
                ("MESSAGE", 4),
                ("UPGRADE", 5),
                ("NOOP", 6),
            ],
        )

    def test_defaultData(self) -> None:
        """
        A packet built without data has the empty string as data.
        """
        self.assertEqual(Packet(PacketType.NOOP).data, "")

    def test_valueObject(self) -> None:
        """
        Packets compare by value and are immutable.
        """
        self.assertEqual(Packet(MESSAGE, "x"), Packet(MESSAGE, "x"))
        self.assertNotEqual(Packet(MESSAGE, "x"), Packet(MESSAGE, b"x"))
        packet = Packet(MESSAGE, "x")
        self.assertRaises(AttributeError, setattr, packet, "data", "y")

    def test_encodeTextPacket(self) -> None:
        """
        L{encode_text_packet} writes the type digit followed by the data.
        """
        self.assertEqual(encode_text_packet(Packet(MESSAGE, "h\u00e9")), "4h\u00e9")
        self.assertEqual(encode_text_packet(Packet(PacketType.PONG, "probe")), "3probe")
        self.assertEqual(encode_text_packet(Packet(PacketType.NOOP)), "6")

    def test_encodeTextPacketBinary(self) -> None:
        """
        A binary message has no text form: L{encode_text_packet} raises
        C{TypeError}.
        """
        self.assertRaises(TypeError, encode_text_packet, Packet(MESSAGE, b"x"))

    def test_recordSeparator(self) -> None:
        """
        The v4 record separator is the ASCII RS character.
        """
        self.assertEqual(RECORD_SEPARATOR, "\x1e")

    def test_noReactorImports(self) -> None:
        """
        The codec imports nothing from Twisted: it is pure.
        """
        tree = ast.parse(inspect.getsource(packet_module))
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module or "")
        self.assertEqual([name for name in imported if name.startswith("twisted")], [])


class EncodeFrameTests(SynchronousTestCase):
    """
    Tests for L{encode_frame}.
    """

    def test_text(self) -> None:
        """
        A text packet is a text frame holding the UTF-8 of the type digit and
        the data, the same in v3 and v4.
        """
        for version in (3, 4):
            self.assertEqual(
                encode_frame(Packet(MESSAGE, "\u20ac"), version),
                (b"4\xe2\x82\xac", False),
            )
            self.assertEqual(
                encode_frame(Packet(PacketType.PING, "probe"), version),
                (b"2probe", False),
            )
            self.assertEqual(
                encode_frame(Packet(PacketType.CLOSE), version), (b"1", False)
            )

    def test_binaryV4(self) -> None:
        """
        In v4 a binary message is a binary frame of exactly its bytes, which
        are not copied.
        """
        data = b"\xff\x00" * 10
        payload, is_binary = encode_frame(Packet(MESSAGE, data), 4)
        self.assertTrue(is_binary)
        self.assertIs(payload, data)

    def test_binaryV3(self) -> None:
        """
        In v3 a binary message is a binary frame of the type byte 4 followed by
        its bytes (Node).
        """
        self.assertEqual(
            encode_frame(Packet(MESSAGE, b"\xff\x00"), 3), (b"\x04\xff\x00", True)
        )
        self.assertEqual(encode_frame(Packet(MESSAGE, b""), 3), (b"\x04", True))

    def test_unknownVersion(self) -> None:
        """
        Asking for a binary frame in a version other than 3 or 4 is a
        programming error: C{ValueError}.
        """
        self.assertRaises(ValueError, encode_frame, Packet(MESSAGE, b"x"), 5)


class DecodeFrameTests(SynchronousTestCase):
    """
    Tests for L{decode_frame}.
    """

    def test_textEveryType(self) -> None:
        """
        A text frame is decoded to the packet type of its first digit, with
        the rest as text data, in both versions.
        """
        for version in (3, 4):
            for packet_type in PacketType:
                self.assertEqual(
                    decode_frame(b"%dd\xc3\xa9" % packet_type, False, version),
                    Packet(packet_type, "d\u00e9"),
                )

    def test_textWithoutData(self) -> None:
        """
        A text frame of just a digit is a packet with empty data.
        """
        self.assertEqual(decode_frame(b"3", False, 4), Packet(PacketType.PONG, ""))

    def test_textBinaryLooking(self) -> None:
        """
        A text frame whose data looks binary stays text.
        """
        self.assertEqual(
            decode_frame(b"4\x00\x01", False, 4), Packet(MESSAGE, "\x00\x01")
        )

    def test_binaryV4(self) -> None:
        """
        In v4 a binary frame is a binary message of all its bytes, not copied;
        an empty one is an empty binary message.
        """
        data = b"\x04\x00\xff"
        decoded = decode_frame(data, True, 4)
        self.assertEqual(decoded, Packet(MESSAGE, data))
        self.assertIs(decoded.data, data)
        self.assertEqual(decode_frame(b"", True, 4), Packet(MESSAGE, b""))

    def test_binaryV3(self) -> None:
        """
        In v3 a binary frame is the type byte 4 followed by the message bytes.
        """
        self.assertEqual(
            decode_frame(b"\x04\x00\xff", True, 3), Packet(MESSAGE, b"\x00\xff")
        )
        self.assertEqual(decode_frame(b"\x04", True, 3), Packet(MESSAGE, b""))

    def test_binaryV3NotMessage(self) -> None:
        """
        A v3 binary frame whose type byte is not 4 (including an ASCII digit
        "4") is a protocol error.
        """
        for payload in (b"\x02", b"\x00abc", b"4abc", b"\x07"):
            self.assertRaises(ProtocolError, decode_frame, payload, True, 3)

    def test_binaryV3Empty(self) -> None:
        """
        An empty v3 binary frame has no type byte: a protocol error.
        """
        self.assertRaises(ProtocolError, decode_frame, b"", True, 3)

    def test_textEmpty(self) -> None:
        """
        An empty text frame is a protocol error.
        """
        for version in (3, 4):
            self.assertRaises(ProtocolError, decode_frame, b"", False, version)

    def test_textUnknownType(self) -> None:
        """
        A text frame that does not start with a digit 0-6 (or C{b} for base64)
        is a protocol error.
        """
        for payload in (b"7", b"9x", b"abc", b" 4x", b"\xd9\xa34"):
            for version in (3, 4):
                self.assertRaises(ProtocolError, decode_frame, payload, False, version)

    def test_textBase64Binary(self) -> None:
        """
        A text frame C{b<base64>} (v4) or C{b4<base64>} (v3) is a binary
        message, as Node's parser reads frames from C{forceBase64} clients;
        malformed forms are protocol errors.
        """
        self.assertEqual(decode_frame(b"bAQI=", False, 4), Packet(PacketType.MESSAGE, b"\x01\x02"))
        self.assertEqual(decode_frame(b"b4AQI=", False, 3), Packet(PacketType.MESSAGE, b"\x01\x02"))
        for payload, version in ((b"b4AQI=", 4), (b"bAQI=", 3), (b"b2AQI=", 3), (b"bA", 4)):
            self.assertRaises(ProtocolError, decode_frame, payload, False, version)

    def test_encodeBase64Frames(self) -> None:
        """
        With C{b64=True} a binary message goes in a text frame as base64, and
        decodes back to the same bytes; text packets are unchanged.
        """
        binary = Packet(PacketType.MESSAGE, b"\x00\xff")
        self.assertEqual(encode_frame(binary, 4, b64=True), (b"bAP8=", False))
        self.assertEqual(encode_frame(binary, 3, b64=True), (b"b4AP8=", False))
        self.assertEqual(encode_frame(Packet(PacketType.MESSAGE, "x"), 4, b64=True), (b"4x", False))
        for version in (3, 4):
            payload, is_binary = encode_frame(binary, version, b64=True)
            self.assertEqual(decode_frame(payload, is_binary, version), binary)

    def test_textInvalidUTF8(self) -> None:
        """
        A text frame that is not valid UTF-8 is a protocol error.
        """
        for payload in (b"4\xff", b"4\xc3", b"4\xed\xa0\x80"):
            self.assertRaises(ProtocolError, decode_frame, payload, False, 4)

    def test_unknownVersion(self) -> None:
        """
        Decoding a binary frame in a version other than 3 or 4 is a
        programming error: C{ValueError}.
        """
        self.assertRaises(ValueError, decode_frame, b"x", True, 2)


class V4PayloadTests(SynchronousTestCase):
    """
    Tests for v4 long-polling payloads.
    """

    def test_encodeNode(self) -> None:
        """
        Packets are joined with the record separator and binary messages are
        C{b} and base64, byte for byte as Node writes them, as UTF-8 text.
        """
        self.assertEqual(encode_payload(MIXED, 4), (MIXED_V4, TEXT_CONTENT_TYPE))
        self.assertEqual(encode_payload(AWKWARD, 4), (AWKWARD_V4, TEXT_CONTENT_TYPE))

    def test_encodeIgnoresB64(self) -> None:
        """
        The C{b64} flag does not change a v4 payload.
        """
        self.assertEqual(
            encode_payload(MIXED, 4, b64=True), (MIXED_V4, TEXT_CONTENT_TYPE)
        )

    def test_encodeSingle(self) -> None:
        """
        A single packet has no separator.
        """
        self.assertEqual(encode_payload([Packet(PacketType.NOOP)], 4)[0], b"6")

    def test_encodeEmptyBinary(self) -> None:
        """
        An empty binary message is just C{b} (Node).
        """
        self.assertEqual(encode_payload([Packet(MESSAGE, b"")], 4)[0], b"b")

    def test_decodeNode(self) -> None:
        """
        Node's payloads decode back to their packets.
        """
        self.assertEqual(decode_payload(MIXED_V4, 4), MIXED)
        self.assertEqual(decode_payload(AWKWARD_V4, 4), AWKWARD)

    def test_decodeEmptyBinary(self) -> None:
        """
        C{b} alone is an empty binary message.
        """
        self.assertEqual(decode_payload(b"b", 4), [Packet(MESSAGE, b"")])

    def test_decodeEmpty(self) -> None:
        """
        An empty body is a protocol error.
        """
        self.assertRaises(ProtocolError, decode_payload, b"", 4)

    def test_decodeEmptyPacket(self) -> None:
        """
        An empty packet between, before or after separators is a protocol
        error.
        """
        for body in (b"\x1e", b"4a\x1e", b"\x1e4a", b"4a\x1e\x1e4b"):
            self.assertRaises(ProtocolError, decode_payload, body, 4)

    def test_decodeUnknownType(self) -> None:
        """
        A packet that starts with anything but a digit 0-6 or C{b} is a
        protocol error, and the whole payload is rejected.
        """
        for body in (b"7", b"4a\x1ex", b"B4AA", b"4a\x1e:"):
            self.assertRaises(ProtocolError, decode_payload, body, 4)

    def test_decodeInvalidUTF8(self) -> None:
        """
        A body that is not valid UTF-8 is a protocol error.
        """
        self.assertRaises(ProtocolError, decode_payload, b"4\xff", 4)

    def test_decodeBadBase64(self) -> None:
        """
        A C{b} packet that is not padded standard base64 is a protocol error.
        """
        for body in (
            b"bAQI",
            b"bA",
            b"bAQ=I",
            b"bAQI==",
            b"b4AQI=",
            b"bAQ-_",
            b"bAQ I=",
            b"b\xc3\xa9\xc3\xa9==",
        ):
            self.assertRaises(ProtocolError, decode_payload, body, 4)


class V3TextPayloadTests(SynchronousTestCase):
    """
    Tests for the v3 length-prefixed text payload.
    """

    def test_encodeNode(self) -> None:
        """
        With C{b64} the payload is text even with binary messages, which are
        C{b4} and base64, byte for byte as Node writes it.
        """
        self.assertEqual(
            encode_payload(MIXED, 3, b64=True), (MIXED_V3_TEXT, TEXT_CONTENT_TYPE)
        )
        self.assertEqual(
            encode_payload(AWKWARD, 3, b64=True), (AWKWARD_V3_TEXT, TEXT_CONTENT_TYPE)
        )

    def test_encodeProtocolExample(self) -> None:
        """
        Lengths count UTF-16 code units, not bytes: C{6:4hello2:4\u20ac}.
        """
        self.assertEqual(
            encode_payload([Packet(MESSAGE, "hello"), Packet(MESSAGE, "\u20ac")], 3),
            ("6:4hello2:4\u20ac".encode(), TEXT_CONTENT_TYPE),
        )

    def test_encodeAstral(self) -> None:
        """
        A character outside the Basic Multilingual Plane counts as two units,
        as in JavaScript's C{String.length}.
        """
        self.assertEqual(
            encode_payload([Packet(MESSAGE, "\U0001f600")], 3)[0],
            "3:4\U0001f600".encode(),
        )

    def test_encodeTextOnlyWithoutB64(self) -> None:
        """
        Without binary messages the payload is text even for a client that
        takes binary.
        """
        packets = [Packet(PacketType.OPEN, '{"sid":"x"}'), Packet(MESSAGE, "40")]
        self.assertEqual(
            encode_payload(packets, 3),
            (b'12:0{"sid":"x"}3:440', TEXT_CONTENT_TYPE),
        )

    def test_encodeEmpty(self) -> None:
        """
        No packets encode as C{0:}, as Node writes it.
        """
        self.assertEqual(encode_payload([], 3), (b"0:", TEXT_CONTENT_TYPE))
        self.assertEqual(encode_payload([], 3, b64=True), (b"0:", TEXT_CONTENT_TYPE))

    def test_decodeNode(self) -> None:
        """
        Node's payloads decode back to their packets.
        """
        self.assertEqual(decode_payload(MIXED_V3_TEXT, 3), MIXED)
        self.assertEqual(decode_payload(AWKWARD_V3_TEXT, 3), AWKWARD)

    def test_decodeUTF16Lengths(self) -> None:
        """
        Lengths are read as UTF-16 code units, with and without characters
        outside the Basic Multilingual Plane in the body.
        """
        self.assertEqual(
            decode_payload("2:4\u20ac3:4\U0001f6001:3".encode(), 3),
            [
                Packet(MESSAGE, "\u20ac"),
                Packet(MESSAGE, "\U0001f600"),
                Packet(PacketType.PONG),
            ],
        )
        self.assertEqual(
            decode_payload("6:2probe2:4\u00e9".encode(), 3),
            [Packet(PacketType.PING, "probe"), Packet(MESSAGE, "\u00e9")],
        )

    def test_decodeLeadingZeros(self) -> None:
        """
        A length with leading zeros is still a decimal length.
        """
        self.assertEqual(decode_payload(b"02:4a", 3), [Packet(MESSAGE, "a")])

    def test_decodeEmptyEntries(self) -> None:
        """
        Zero-length entries carry no packet and are skipped, as Node does.
        """
        self.assertEqual(decode_payload(b"0:", 3), [])
        self.assertEqual(decode_payload(b"0:1:20:", 3), [Packet(PacketType.PING)])

    def test_decodeBase64(self) -> None:
        """
        A C{b4} packet is a binary message in base64.
        """
        self.assertEqual(
            decode_payload(b"6:b4AQI=2:b4", 3),
            [Packet(MESSAGE, b"\x01\x02"), Packet(MESSAGE, b"")],
        )

    def test_decodeBase64NotMessage(self) -> None:
        """
        A base64 packet of a type other than message is a protocol error.
        """
        for body in (b"6:b2AQI=", b"1:b", b"6:bxAQI="):
            self.assertRaises(ProtocolError, decode_payload, body, 3)

    def test_decodeBadBase64(self) -> None:
        """
        A C{b4} packet that is not padded standard base64 is a protocol error.
        """
        for body in (b"5:b4AQI", b"6:b4A-_=", b"5:b4\xc3\xa9==", b"3:b4A"):
            self.assertRaises(ProtocolError, decode_payload, body, 3)

    def test_decodeBadLength(self) -> None:
        """
        A length that is missing, not made of ASCII digits, or absurdly long
        is a protocol error.
        """
        for body in (
            b":4a",
            b"a:4a",
            b"+2:4a",
            b"-2:4a",
            b" 2:4a",
            b"2 :4a",
            b"0x2:4a",
            b"2.0:4a",
            "\u0662:4a".encode(),
            "\u00b2:4a".encode(),
            b"00000000002:4a",
            b"99999999999999999999999:4a",
        ):
            self.assertRaises(ProtocolError, decode_payload, body, 3)

    def test_decodeMissingColon(self) -> None:
        """
        A length not followed by C{:} is a protocol error, also after a valid
        packet.
        """
        for body in (b"2", b"24a", b"2:4a3", "2:4\U0001f6003".encode()):
            self.assertRaises(ProtocolError, decode_payload, body, 3)

    def test_decodeTruncated(self) -> None:
        """
        A length longer than the rest of the body is a protocol error.
        """
        for body in (b"3:4a", b"2:4a9:4", "4:4\U0001f600".encode()):
            self.assertRaises(ProtocolError, decode_payload, body, 3)

    def test_decodeSplitSurrogatePair(self) -> None:
        """
        A length that ends inside a surrogate pair is a protocol error.
        """
        for body in ("2:4\U0001f600", "2:4\U0001f6001:2"):
            self.assertRaises(ProtocolError, decode_payload, body.encode(), 3)

    def test_decodeUnknownType(self) -> None:
        """
        A packet with an unknown type digit is a protocol error.
        """
        for body in (b"1:7", b"2:4a2:xa", b"1:b"):
            self.assertRaises(ProtocolError, decode_payload, body, 3)

    def test_decodeInvalidUTF8(self) -> None:
        """
        A body that is not valid UTF-8 is a protocol error.
        """
        for body in (b"2:4\xff", b"2:4\xed\xa0\x80"):
            self.assertRaises(ProtocolError, decode_payload, body, 3)

    def test_decodeEmpty(self) -> None:
        """
        An empty body is a protocol error.
        """
        self.assertRaises(ProtocolError, decode_payload, b"", 3)


class V3BinaryPayloadTests(SynchronousTestCase):
    """
    Tests for the v3 binary (XHR2) payload.
    """

    def test_encodeNode(self) -> None:
        """
        For a client that takes binary, a payload with a binary message is in
        the binary format, byte for byte as Node writes it: string lengths
        count UTF-8 bytes, binary lengths include the type byte.
        """
        self.assertEqual(
            encode_payload(MIXED, 3), (MIXED_V3_BINARY, BINARY_CONTENT_TYPE)
        )
        self.assertEqual(
            encode_payload(AWKWARD, 3), (AWKWARD_V3_BINARY, BINARY_CONTENT_TYPE)
        )

    def test_encodeMultiDigitLength(self) -> None:
        """
        Each decimal digit of a length is one byte with that digit's value.
        """
        body, _ = encode_payload([Packet(MESSAGE, b"x" * 1204)], 3)
        self.assertEqual(body[:7], b"\x01\x01\x02\x00\x05\xff\x04")
        self.assertEqual(len(body), 6 + 1205)

    def test_decodeNode(self) -> None:
        """
        Node's payloads decode back to their packets.
        """
        self.assertEqual(decode_payload(MIXED_V3_BINARY, 3), MIXED)
        self.assertEqual(decode_payload(AWKWARD_V3_BINARY, 3), AWKWARD)

    def test_decodeStringsOnly(self) -> None:
        """
        A binary-format body may hold only string packets.
        """
        self.assertEqual(
            decode_payload(b"\x00\x01\xff2\x00\x06\xff2probe", 3),
            [Packet(PacketType.PING), Packet(PacketType.PING, "probe")],
        )

    def test_decodeBase64String(self) -> None:
        """
        A string packet in C{b4} base64 form is a binary message, as Node reads
        it.
        """
        self.assertEqual(
            decode_payload(b"\x00\x06\xffb4AQI=", 3), [Packet(MESSAGE, b"\x01\x02")]
        )

    def test_decodeBadFlag(self) -> None:
        """
        A packet flag other than 0 or 1 is a protocol error.
        """
        self.assertRaises(
            ProtocolError, decode_payload, b"\x00\x01\xff2\x02\x01\xff2", 3
        )

    def test_decodeBadLength(self) -> None:
        """
        A length that is empty, has a byte above 9, or has no 0xFF terminator
        within a sane number of digits is a protocol error.
        """
        for body in (
            b"\x00\xff",
            b"\x00\x0a\xff4aaaaaaaaa",
            b"\x00\x01",
            b"\x00\x01\x024a",
            b"\x01" + b"\x00" * 11 + b"\xff\x04",
            b"\x01" + b"\x09" * 20 + b"\xff\x04",
        ):
            self.assertRaises(ProtocolError, decode_payload, body, 3)

    def test_decodeTruncated(self) -> None:
        """
        A length longer than the rest of the body is a protocol error.
        """
        for body in (b"\x00\x03\xff4a", b"\x01\x03\xff\x04\x01", b"\x00\x01\xff2\x00"):
            self.assertRaises(ProtocolError, decode_payload, body, 3)

    def test_decodeEmptyPacket(self) -> None:
        """
        A zero-length string or binary packet is a protocol error.
        """
        for body in (
            b"\x00\x00\xff",
            b"\x01\x00\xff",
            b"\x01\x00\xff\x00\x01\xff2",
            b"\x01\x00\xff\x04\x01\xff\x04",
        ):
            self.assertRaises(ProtocolError, decode_payload, body, 3)

    def test_decodeBinaryNotMessage(self) -> None:
        """
        A binary packet whose type byte is not 4 is a protocol error.
        """
        for body in (b"\x01\x02\xff\x02a", b"\x01\x02\xff4a"):
            self.assertRaises(ProtocolError, decode_payload, body, 3)

    def test_decodeBadString(self) -> None:
        """
        A string packet that is not valid UTF-8 or has an unknown type is a
        protocol error.
        """
        for body in (b"\x00\x02\xff4\xff", b"\x00\x02\xff9a", b"\x00\x01\xffb"):
            self.assertRaises(ProtocolError, decode_payload, body, 3)


class JSONPTests(SynchronousTestCase):
    """
    Tests for L{encode_jsonp}.
    """

    def test_encodeNode(self) -> None:
        """
        The answer calls C{___eio[index]} with the v3 text payload as a
        JavaScript string literal, byte for byte as Node writes it: quotes,
        backslashes and control characters escaped, U+2028 and U+2029 escaped,
        other characters raw UTF-8.
        """
        self.assertEqual(
            encode_jsonp(MIXED, "12"), (MIXED_JSONP, JAVASCRIPT_CONTENT_TYPE)
        )
        self.assertEqual(
            encode_jsonp(AWKWARD, "x7;9"), (AWKWARD_JSONP, JAVASCRIPT_CONTENT_TYPE)
        )

    def test_indexDigitsOnly(self) -> None:
        """
        Only the ASCII digits of the index are kept, so it cannot inject
        script.
        """
        body, _ = encode_jsonp([Packet(PacketType.NOOP)], '1"]);alert(2);//\u0663')
        self.assertEqual(body, b'___eio[12]("1:6");')

    def test_empty(self) -> None:
        """
        No packets and no index give C{___eio[]("0:");} (Node).
        """
        self.assertEqual(
            encode_jsonp([], ""), (b'___eio[]("0:");', JAVASCRIPT_CONTENT_TYPE)
        )

    def test_binaryAsBase64(self) -> None:
        """
        Binary messages are always in C{b4} base64 form.
        """
        self.assertEqual(
            encode_jsonp([Packet(MESSAGE, b"")], "0")[0], b'___eio[0]("2:b4");'
        )


class JSONPBodyTests(SynchronousTestCase):
    """
    Tests for L{decode_jsonp_body}.
    """

    def test_form(self) -> None:
        """
        The payload is the form-decoded C{d} field: C{+} is a space and
        percent escapes are bytes, UTF-8 included.
        """
        self.assertEqual(
            decode_jsonp_body(b"d=7%3A4a+b%C3%A9"), "7:4a b\u00e9".encode()
        )

    def test_otherFields(self) -> None:
        """
        Other fields are ignored, and the field name may be escaped.
        """
        self.assertEqual(decode_jsonp_body(b"x=1&%64=3%3A4a&y"), b"3:4a")

    def test_newlinesNode(self) -> None:
        """
        Backslash-n becomes a newline and backslash-backslash-n becomes
        backslash-n, the same as Node for these bodies.
        """
        self.assertEqual(
            decode_jsonp_body(b"d=16%3A42%5B%22a%5C%5Cnb%5Cnc%22%5D"),
            b'16:42["a\\nb\nc"]',
        )
        self.assertEqual(decode_jsonp_body(b"d=9%3A4a%5C%5C%5Cnb%5Cn"), b"9:4a\\\\nb\n")

    def test_roundTripClient(self) -> None:
        """
        A payload escaped and form-encoded by the client's rules comes back
        unchanged and decodes.
        """
        packets = [Packet(MESSAGE, '2["a\\nb","c\nd"]'), Packet(PacketType.PING)]
        payload = encode_payload(packets, 3, b64=True)[0].decode()
        body = jsonp_client_body(payload)
        self.assertEqual(decode_payload(decode_jsonp_body(body), 3), packets)

    def test_backslashNewlineLossy(self) -> None:
        """
        A backslash followed by a real newline cannot survive the client's
        escaping: it arrives as backslash-n, as in Node.
        """
        body = jsonp_client_body("3:4\\\n")
        self.assertEqual(decode_jsonp_body(body), b"3:4\\n")

    def test_emptyD(self) -> None:
        """
        An empty or valueless C{d} gives an empty payload, which
        L{decode_payload} rejects.
        """
        for body in (b"d=", b"d"):
            self.assertEqual(decode_jsonp_body(body), b"")
            self.assertRaises(ProtocolError, decode_payload, decode_jsonp_body(body), 3)

    def test_missingD(self) -> None:
        """
        A body without a C{d} field is a protocol error.
        """
        for body in (b"", b"e=1:6", b"dd=1:6", b"D=1:6"):
            self.assertRaises(ProtocolError, decode_jsonp_body, body)

    def test_duplicateD(self) -> None:
        """
        A body with more than one C{d} field is a protocol error.
        """
        self.assertRaises(ProtocolError, decode_jsonp_body, b"d=1:6&d=1:6")


class VersionTests(SynchronousTestCase):
    """
    Versions other than 3 and 4 are programming errors.
    """

    def test_payloads(self) -> None:
        """
        L{encode_payload} and L{decode_payload} raise C{ValueError} for an
        unknown version.
        """
        self.assertRaises(ValueError, encode_payload, [Packet(PacketType.NOOP)], 5)
        self.assertRaises(ValueError, decode_payload, b"1:6", 2)


class RoundTripProperties(SynchronousTestCase):
    """
    Every encoder's output decodes back to the packets it encoded.
    """

    @FUZZ
    @given(any_packets, st.sampled_from([3, 4]))
    def test_frames(self, packet: Packet, version: int) -> None:
        """
        Frames round-trip in both versions.
        """
        payload, is_binary = encode_frame(packet, version)
        self.assertEqual(is_binary, isinstance(packet.data, bytes))
        self.assertEqual(decode_frame(payload, is_binary, version), packet)

    @FUZZ
    @given(st.lists(v4_packets, min_size=1))
    def test_v4Payload(self, packets: list[Packet]) -> None:
        """
        v4 payloads round-trip (for data without the record separator).
        """
        body, content_type = encode_payload(packets, 4)
        self.assertEqual(content_type, TEXT_CONTENT_TYPE)
        self.assertEqual(decode_payload(body, 4), packets)

    @FUZZ
    @given(st.lists(any_packets))
    def test_v3Text(self, packets: list[Packet]) -> None:
        """
        v3 text payloads with binary in base64 round-trip.
        """
        body, content_type = encode_payload(packets, 3, b64=True)
        self.assertEqual(content_type, TEXT_CONTENT_TYPE)
        self.assertEqual(decode_payload(body, 3), packets)

    @FUZZ
    @given(st.lists(any_packets))
    def test_v3Default(self, packets: list[Packet]) -> None:
        """
        v3 payloads for a client that takes binary round-trip, and are binary
        exactly when there is a binary message.
        """
        body, content_type = encode_payload(packets, 3)
        has_binary = any(isinstance(p.data, bytes) for p in packets)
        self.assertEqual(content_type == BINARY_CONTENT_TYPE, has_binary)
        self.assertEqual(decode_payload(body, 3), packets)

    @FUZZ
    @given(st.lists(any_packets), binary_messages, st.data())
    def test_v3Binary(
        self, packets: list[Packet], binary: Packet, data: st.DataObject
    ) -> None:
        """
        v3 binary-format payloads round-trip.
        """
        packets.insert(data.draw(st.integers(0, len(packets))), binary)
        body, content_type = encode_payload(packets, 3)
        self.assertEqual(content_type, BINARY_CONTENT_TYPE)
        self.assertEqual(decode_payload(body, 3), packets)

    @FUZZ
    @given(st.lists(any_packets), st.text())
    def test_jsonp(self, packets: list[Packet], index: str) -> None:
        """
        A JSONP answer is a call whose string argument, read as JSON, is the
        v3 text payload of the packets; it has no raw U+2028 or U+2029.
        """
        body, _ = encode_jsonp(packets, index)
        self.assertNotIn("\u2028".encode(), body)
        self.assertNotIn("\u2029".encode(), body)
        digits, payload = unwrap_jsonp(body)
        self.assertEqual(digits, "".join(c for c in index if c in "0123456789"))
        self.assertEqual(decode_payload(payload, 3), packets)

    @FUZZ
    @given(st.lists(any_packets, min_size=1))
    def test_jsonpPost(self, packets: list[Packet]) -> None:
        """
        Packets sent by a JSONP client (escaped and form-encoded) decode back,
        unless their payload has a backslash before a newline, which the
        client's escaping loses.
        """
        payload = encode_payload(packets, 3, b64=True)[0].decode()
        assume("\\\n" not in payload)
        body = jsonp_client_body(payload)
        self.assertEqual(decode_payload(decode_jsonp_body(body), 3), packets)


def mutations(encoded: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Valid encodings with a few bytes replaced, inserted, or cut off."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        body = bytearray(draw(encoded))
        for _ in range(draw(st.integers(1, 3))):
            where = draw(st.integers(0, len(body)))
            action = draw(st.sampled_from(["replace", "insert", "truncate"]))
            byte = draw(
                st.sampled_from([0, 1, 4, 9, 0x1E, 0x30, 0x34, 0x3A, 0x62, 0xF0, 0xFF])
            )
            if action == "insert" or where == len(body):
                body.insert(where, byte)
            elif action == "replace":
                body[where] = byte
            else:
                del body[where:]
        return bytes(body)

    return mutate()


def assertDecodesOrProtocolError(
    test: SynchronousTestCase, decode: Callable[..., object], *args: object
) -> None:
    """Call C{decode}; anything but success or L{ProtocolError} fails."""
    try:
        result = decode(*args)
    except ProtocolError:
        return
    test.assertIsNotNone(result)


v3_bodies = st.one_of(
    st.lists(any_packets).map(lambda ps: encode_payload(ps, 3)[0]),
    st.lists(any_packets).map(lambda ps: encode_payload(ps, 3, b64=True)[0]),
)
v4_bodies = st.lists(v4_packets, min_size=1).map(lambda ps: encode_payload(ps, 4)[0])


class FuzzProperties(SynchronousTestCase):
    """
    Decoders fed arbitrary bytes return packets or raise L{ProtocolError},
    never anything else.
    """

    @FUZZ
    @given(st.one_of(st.binary(), mutations(v4_bodies)))
    def test_v4Payload(self, body: bytes) -> None:
        """
        L{decode_payload} in v4 raises only L{ProtocolError}.
        """
        assertDecodesOrProtocolError(self, decode_payload, body, 4)

    @FUZZ
    @given(st.one_of(st.binary(), mutations(v3_bodies)))
    def test_v3Payload(self, body: bytes) -> None:
        """
        L{decode_payload} in v3 raises only L{ProtocolError}, in both formats.
        """
        assertDecodesOrProtocolError(self, decode_payload, body, 3)

    @FUZZ
    @given(st.binary(), st.booleans(), st.sampled_from([3, 4]))
    def test_frame(self, payload: bytes, is_binary: bool, version: int) -> None:
        """
        L{decode_frame} raises only L{ProtocolError}.
        """
        assertDecodesOrProtocolError(self, decode_frame, payload, is_binary, version)

    @FUZZ
    @given(
        st.one_of(
            st.binary(),
            st.lists(
                st.sampled_from(
                    [b"d", b"=", b"&", b"%", b"5C", b"n", b"+", b"\\", b"\xff", b"x"]
                )
            ).map(b"".join),
        )
    )
    def test_jsonpBody(self, body: bytes) -> None:
        """
        L{decode_jsonp_body}, and L{decode_payload} on what it returns, raise
        only L{ProtocolError}.
        """
        try:
            payload = decode_jsonp_body(body)
        except ProtocolError:
            return
        assertDecodesOrProtocolError(self, decode_payload, payload, 3)
