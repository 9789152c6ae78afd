"""
Tests for L{txsocketio.socketio.packet}, the Socket.IO packet codec.

The fixed encodings below were produced by Node's C{socket.io-parser} 4.2
C{Encoder} for the same packets; the decoding rules follow its C{Decoder}.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import enum
import json
import math
import struct
import unittest
import uuid
from typing import Any, Iterator, Sequence, Union
from unittest import SkipTest

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txsocketio.errors import ProtocolError
from txsocketio.socketio import packet as packet_module
from txsocketio.socketio.packet import (
    DEFAULT_MAX_JSON_DEPTH,
    MAX_ACK_ID,
    RESERVED_EVENTS,
    Decoder,
    Packet,
    PacketType,
    PayloadTooDeep,
    _parse_iterative,
    _text_depth,
    encode,
    stringify,
)

EVENT = PacketType.EVENT
ACK = PacketType.ACK
CONNECT = PacketType.CONNECT
DISCONNECT = PacketType.DISCONNECT
CONNECT_ERROR = PacketType.CONNECT_ERROR


def decodeAll(messages: Sequence[Union[str, bytes]], **limits: int) -> Packet:
    """
    Feed C{messages} to a new L{Decoder}; return the packet the last one
    completes, checking that none of the others completed one.
    """
    decoder = Decoder(**limits)
    for message in messages[:-1]:
        assert decoder.feed(message) is None
    packet = decoder.feed(messages[-1])
    assert packet is not None
    assert not decoder.awaiting_attachments
    return packet


def placeholder(num: int) -> str:
    """
    The JSON text of attachment C{num}'s placeholder.
    """
    return '{"_placeholder":true,"num":%d}' % (num,)


class PurityTests(SynchronousTestCase):
    """
    The codec is sans-IO.
    """

    def test_noTwistedImports(self) -> None:
        """
        The module imports nothing from Twisted: only the standard library,
        attrs and txsocketio.errors.
        """
        import ast

        from txsocketio.socketio import packet

        assert packet.__file__ is not None
        with open(packet.__file__, encoding="utf-8") as source:
            tree = ast.parse(source.read())
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module or "")
        self.assertEqual(
            imported,
            {
                "__future__",
                "enum",
                "itertools",
                "json",
                "json.decoder",
                "json.encoder",
                "re",
                "types",
                "typing",
                "uuid",
                "attrs",
                "orjson",
                "txsocketio.errors",
            },
        )


class EncodeTests(SynchronousTestCase):
    """
    L{encode} writes the text (and binary) messages of each packet type
    exactly as Node's encoder does.
    """

    def assertEncodes(self, packet: Packet, *expected: Union[str, bytes]) -> None:
        """
        C{packet} encodes to the messages C{expected}, and every message has
        the right type.
        """
        messages = encode(packet)
        self.assertEqual(messages, list(expected))
        self.assertIsInstance(messages[0], str)
        for attachment in messages[1:]:
            self.assertIs(type(attachment), bytes)

    def test_event(self) -> None:
        """
        An EVENT is C{2} and its compact JSON array.
        """
        self.assertEncodes(
            Packet(EVENT, data=["message-back", 1, "2", {"3": [True]}]),
            '2["message-back",1,"2",{"3":[true]}]',
        )

    def test_eventNamespaceAndAckId(self) -> None:
        """
        A namespace other than C{/} comes after the type, followed by a comma;
        the ack id comes right before the JSON.
        """
        self.assertEncodes(
            Packet(EVENT, "/admin", ["ev"], 12), '2/admin,12["ev"]'
        )
        self.assertEncodes(Packet(EVENT, "/", ["ev"], 0), '20["ev"]')

    def test_tupleIsArray(self) -> None:
        """
        Tuples are written as arrays, like lists.
        """
        self.assertEncodes(
            Packet(EVENT, data=("ev", (1, 2), [None])), '2["ev",[1,2],[null]]'
        )

    def test_ack(self) -> None:
        """
        An ACK carries its id and the array of arguments, possibly empty.
        """
        self.assertEncodes(Packet(ACK, "/", [], 0), "30[]")
        self.assertEncodes(Packet(ACK, "/chat", ["ok", 2], 7), '3/chat,7["ok",2]')

    def test_connect(self) -> None:
        """
        A CONNECT has no payload, or an object (auth, or the server's sid).
        """
        self.assertEncodes(Packet(CONNECT), "0")
        self.assertEncodes(Packet(CONNECT, "/admin"), "0/admin,")
        self.assertEncodes(Packet(CONNECT, data={"sid": "abc"}), '0{"sid":"abc"}')
        self.assertEncodes(
            Packet(CONNECT, "/admin", {"sid": "abc"}), '0/admin,{"sid":"abc"}'
        )

    def test_connectQuery(self) -> None:
        """
        A CONNECT's query string (Socket.IO v4) is written after the
        namespace, before the comma, even for the main namespace.
        """
        self.assertEncodes(
            Packet(CONNECT, "/nsp", query="token=x&a=b"), "0/nsp?token=x&a=b,"
        )
        self.assertEncodes(Packet(CONNECT, "/", query="t=1"), "0/?t=1,")

    def test_disconnect(self) -> None:
        """
        A DISCONNECT has no payload.
        """
        self.assertEncodes(Packet(DISCONNECT), "1")
        self.assertEncodes(Packet(DISCONNECT, "/admin"), "1/admin,")

    def test_connectError(self) -> None:
        """
        CONNECT_ERROR carries an object (v5) or a string (v4).
        """
        self.assertEncodes(
            Packet(CONNECT_ERROR, "/x", {"message": "Invalid namespace"}),
            '4/x,{"message":"Invalid namespace"}',
        )
        self.assertEncodes(
            Packet(CONNECT_ERROR, data="Not authorized"), '4"Not authorized"'
        )

    def test_binaryEvent(self) -> None:
        """
        Binary values anywhere in an EVENT, depth first, become placeholders
        and follow as attachments; the packet becomes a BINARY_EVENT that
        announces their number.
        """
        self.assertEncodes(
            Packet(
                EVENT,
                "/admin",
                ["ev", b"\x01\x02\x03", {"a": [b"x", {"b": bytearray(b"yz")}]}],
                12,
            ),
            '53-/admin,12["ev",%s,{"a":[%s,{"b":%s}]}]'
            % (placeholder(0), placeholder(1), placeholder(2)),
            b"\x01\x02\x03",
            b"x",
            b"yz",
        )

    def test_binaryEventMainNamespace(self) -> None:
        """
        A binary event in C{/} is C{5<n>-} and the JSON.
        """
        self.assertEncodes(
            Packet(EVENT, data=["ev", b""]),
            '51-["ev",%s]' % (placeholder(0),),
            b"",
        )

    def test_binaryAck(self) -> None:
        """
        An ACK holding binary data becomes a BINARY_ACK; a memoryview is sent
        as its bytes.
        """
        self.assertEncodes(
            Packet(ACK, "/admin", [memoryview(b"\xff"), "ok"], 12),
            '61-/admin,12[%s,"ok"]' % (placeholder(0),),
            b"\xff",
        )

    def test_binaryTypesAccepted(self) -> None:
        """
        A packet built with the binary types encodes as the plain ones do.
        """
        self.assertEncodes(
            Packet(PacketType.BINARY_EVENT, data=["ev", b"a"]),
            '51-["ev",%s]' % (placeholder(0),),
            b"a",
        )
        self.assertEncodes(Packet(PacketType.BINARY_ACK, data=[], id=1), "31[]")

    def test_attachmentsAreSnapshots(self) -> None:
        """
        Attachments are copied: changing a bytearray after encoding does not
        change what is sent.
        """
        buffer = bytearray(b"abc")
        messages = encode(Packet(EVENT, data=["ev", buffer]))
        buffer[0] = 0
        self.assertEqual(messages[1], b"abc")

    def test_unicode(self) -> None:
        """
        Non-ASCII text is written as is, as JSON.stringify does; control
        characters, quotes and backslashes are escaped; U+2028 and DEL are
        not.
        """
        self.assertEncodes(
            Packet(EVENT, data=["ünï€😀", 'é\u2028\x01"\\/\x7f']),
            '2["ünï€😀","é\u2028\\u0001\\"\\\\/\x7f"]',
        )

    def test_surrogates(self) -> None:
        """
        A lone surrogate is escaped as JSON.stringify escapes it, and a pair
        of surrogates is the character it stands for in JavaScript.
        """
        self.assertEncodes(
            Packet(EVENT, data=["lone", "\ud800", "\udc00x", "\ud83d\ude00"]),
            '2["lone","\\ud800","\\udc00x","😀"]',
        )

    def test_namespaceUnicode(self) -> None:
        """
        The namespace is written as is.
        """
        self.assertEncodes(Packet(EVENT, "/ü", ["e"]), '2/ü,["e"]')

    def test_floats(self) -> None:
        """
        Floats are written as JavaScript writes numbers; NaN and the
        infinities are C{null}.
        """
        self.assertEncodes(
            Packet(
                EVENT,
                data=[
                    "f",
                    1.0,
                    1e21,
                    1e-7,
                    -0.0,
                    0.1,
                    1e16,
                    1e20,
                    1e-5,
                    1e-6,
                    123.456,
                    -1.5e-10,
                    float(2**60),
                    5e-324,
                    1.7976931348623157e308,
                    math.nan,
                    math.inf,
                    -math.inf,
                    0.000001234,
                    1.2345e21,
                ],
            ),
            '2["f",1,1e+21,1e-7,0,0.1,10000000000000000,100000000000000000000,'
            "0.00001,0.000001,123.456,-1.5e-10,1152921504606847000,5e-324,"
            "1.7976931348623157e+308,null,null,null,0.000001234,1.2345e+21]",
        )

    def test_floatsInStringsUntouched(self) -> None:
        """
        Text that looks like a Python float inside a string is not rewritten,
        with or without escapes in the JSON.
        """
        self.assertEncodes(
            Packet(EVENT, data=["e", "[1.0]", ",1e+16,", {":NaN": "a,2.0}"}, 2.0]),
            '2["e","[1.0]",",1e+16,",{":NaN":"a,2.0}"},2]',
        )
        self.assertEncodes(
            Packet(EVENT, data=["e", '\\"', ",1.0]", '"', ":Infinity}", 3.0]),
            '2["e","\\\\\\"",",1.0]","\\"",":Infinity}",3]',
        )

    def test_nonStringKeys(self) -> None:
        """
        int, bool and None dict keys are written as strings, as C{json} does.
        """
        self.assertEncodes(
            Packet(EVENT, data=["e", {1: "a", False: "b", None: "c", 2: 1.0}]),
            '2["e",{"1":"a","false":"b","null":"c","2":1}]',
        )

    def test_intEnum(self) -> None:
        """
        int subclasses are written as numbers.
        """
        self.assertEncodes(Packet(EVENT, data=["e", PacketType.ACK]), '2["e",3]')

    def test_fixedVectorsFromNode(self) -> None:
        """
        Number layouts that Node's C{Number.prototype.toString} writes.
        """
        vectors = [
            (1.0, "1"),
            (-1.0, "-1"),
            (0.5, "0.5"),
            (-0.0, "0"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (1e-6, "0.000001"),
            (1e-5, "0.00001"),
            (1e-4, "0.0001"),
            (0.3 - 0.2, "0.09999999999999998"),
            (1e16, "10000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1.5e300, "1.5e+300"),
            (-2.5e-300, "-2.5e-300"),
            (2.0**53, "9007199254740992"),
            (2.0**53 + 2, "9007199254740994"),
            (100.0, "100"),
            (1e15 + 0.5, "1000000000000000.5"),
            (-1.2345e-7, "-1.2345e-7"),
            (4.35, "4.35"),
            (1 / 3, "0.3333333333333333"),
        ]
        for value, text in vectors:
            self.assertEqual(
                encode(Packet(ACK, data=[value], id=1)), [f"31[{text}]"], value
            )

    @given(st.floats(allow_nan=False, allow_infinity=False))
    def test_floatValuePreserved(self, value: float) -> None:
        """
        Every finite float is written in a form that reads back as the same
        double, and never in Python-only notation (C{1.0}, C{1e-07}).
        """
        (text,) = encode(Packet(ACK, data=[value], id=1))
        assert isinstance(text, str)
        number = text[len("31[") : -1]
        self.assertEqual(float(number), value)
        self.assertNotIn(".0e", number)
        self.assertNotIn("e-0", number)
        self.assertNotIn("e+0", number)
        self.assertFalse(number.endswith(".0"), number)

    def test_alwaysList(self) -> None:
        """
        The result is a list even for a single message.
        """
        self.assertEqual(encode(Packet(DISCONNECT)), ["1"])


class EncodeErrorTests(SynchronousTestCase):
    """
    L{encode} refuses packets that cannot be sent, with errors that say what
    and where.
    """

    def test_unserialisableArgument(self) -> None:
        """
        A value JSON cannot hold is a TypeError naming the argument, the
        event and the type.
        """
        error = self.assertRaises(
            TypeError, encode, Packet(EVENT, data=["x", 1, {1, 2}])
        )
        self.assertEqual(
            str(error), "argument 2 of event 'x' is not JSON-serialisable: set"
        )

    def test_unserialisableNested(self) -> None:
        """
        The message of a nested value's TypeError gives its path inside the
        argument.
        """
        error = self.assertRaises(
            TypeError, encode, Packet(EVENT, data=["x", {"a": [1, object()]}])
        )
        self.assertEqual(
            str(error),
            "argument 1 of event 'x' is not JSON-serialisable: object at ['a'][1]",
        )

    def test_unserialisableWithBinary(self) -> None:
        """
        A bad value is reported even when the data also holds bytes.
        """
        error = self.assertRaises(
            TypeError, encode, Packet(EVENT, data=["x", b"a", [1j]])
        )
        self.assertEqual(
            str(error),
            "argument 2 of event 'x' is not JSON-serialisable: complex at [0]",
        )

    def test_unserialisableAckArgument(self) -> None:
        """
        An ack argument is reported by its 1-based position and the ack id.
        """
        error = self.assertRaises(
            TypeError, encode, Packet(ACK, data=["ok", frozenset()], id=5)
        )
        self.assertEqual(
            str(error), "argument 2 of ack 5 is not JSON-serialisable: frozenset"
        )

    def test_badKey(self) -> None:
        """
        A dict key that is not a str, int, float, bool or None is a TypeError.
        """
        error = self.assertRaises(
            TypeError, encode, Packet(EVENT, data=["x", {"a": {(1,): 2}}])
        )
        self.assertEqual(
            str(error),
            "argument 1 of event 'x': dict key is not str, int, float, bool"
            " or None: tuple at ['a'][(1,)]",
        )

    def test_bytesKey(self) -> None:
        """
        bytes are not a dict key.
        """
        self.assertRaises(TypeError, encode, Packet(EVENT, data=["x", {b"k": 1}]))

    def test_binaryOutsideEvents(self) -> None:
        """
        Only events and acks may carry binary data.
        """
        error = self.assertRaises(
            TypeError, encode, Packet(CONNECT, data={"token": b"x"})
        )
        self.assertEqual(
            str(error),
            "payload of CONNECT packet: binary data is only allowed in events"
            " and acks, found bytes at ['token']",
        )
        self.assertRaises(
            TypeError, encode, Packet(CONNECT_ERROR, data={"data": [bytearray()]})
        )

    def test_circular(self) -> None:
        """
        Data that contains itself is a ValueError, with or without binary.
        """
        loop: list[Any] = []
        loop.append(loop)
        self.assertRaises(ValueError, encode, Packet(EVENT, data=["x", loop]))
        self.assertRaises(ValueError, encode, Packet(EVENT, data=["x", b"", loop]))

    def test_sharedNotCircular(self) -> None:
        """
        The same object twice (not a cycle) is fine.
        """
        shared = [b"a"]
        self.assertEqual(
            encode(Packet(EVENT, data=["x", shared, shared])),
            ['52-["x",[%s],[%s]]' % (placeholder(0), placeholder(1)), b"a", b"a"],
        )

    def test_badShapes(self) -> None:
        """
        Data that does not fit the packet type is a ValueError.
        """
        for packet in [
            Packet(EVENT, data=[]),
            Packet(EVENT, data=None),
            Packet(EVENT, data=[1]),
            Packet(EVENT, data="ev"),
            Packet(ACK, data=None, id=1),
            Packet(ACK, data={}, id=1),
            Packet(ACK, data=[]),
            Packet(CONNECT, data=[]),
            Packet(CONNECT, data="x"),
            Packet(CONNECT_ERROR),
            Packet(CONNECT_ERROR, data=[]),
            Packet(DISCONNECT, data={}),
            Packet(7, data=None),  # type: ignore[arg-type]
        ]:
            self.assertRaises(ValueError, encode, packet)

    def test_badNamespace(self) -> None:
        """
        A namespace must start with C{/} and hold no comma (nor C{?} in a
        CONNECT, where it would start the query).
        """
        for packet in [
            Packet(EVENT, "admin", ["e"]),
            Packet(EVENT, "", ["e"]),
            Packet(EVENT, "/a,b", ["e"]),
            Packet(CONNECT, "/a?b"),
        ]:
            self.assertRaises(ValueError, encode, packet)

    def test_badQuery(self) -> None:
        """
        Only a CONNECT carries a query, and it holds no comma.
        """
        self.assertRaises(ValueError, encode, Packet(EVENT, data=["e"], query="a"))
        self.assertRaises(ValueError, encode, Packet(CONNECT, query="a,b"))

    def test_badAckId(self) -> None:
        """
        The ack id is an int from 0 to MAX_ACK_ID; bool is not an id.
        """
        for ack in [-1, MAX_ACK_ID + 1, True, 1.0, "1"]:
            self.assertRaises(
                ValueError, encode, Packet(EVENT, data=["e"], id=ack)  # type: ignore[arg-type]
            )
        self.assertEqual(
            encode(Packet(EVENT, data=["e"], id=MAX_ACK_ID)),
            ['2%d["e"]' % (MAX_ACK_ID,)],
        )


class DecodeTests(SynchronousTestCase):
    """
    L{Decoder.feed} reads what Node sends.
    """

    def test_event(self) -> None:
        """
        An EVENT in the main namespace.
        """
        self.assertEqual(
            decodeAll(['2["message-back",1,"2",{"3":[true]}]']),
            Packet(EVENT, "/", ["message-back", 1, "2", {"3": [True]}]),
        )

    def test_eventNamespaceAckId(self) -> None:
        """
        Namespace and ack id are read off before the JSON.
        """
        self.assertEqual(
            decodeAll(['2/admin,12["ev"]']), Packet(EVENT, "/admin", ["ev"], 12)
        )
        self.assertEqual(decodeAll(['20["ev"]']), Packet(EVENT, "/", ["ev"], 0))

    def test_ackIdLeadingZeros(self) -> None:
        """
        An ack id with leading zeros is read as a number, as Node does.
        """
        self.assertEqual(decodeAll(["3007[]"]), Packet(ACK, "/", [], 7))

    def test_largestAckId(self) -> None:
        """
        MAX_ACK_ID is accepted.
        """
        self.assertEqual(
            decodeAll(['2%d["e"]' % (MAX_ACK_ID,)]).id, MAX_ACK_ID
        )

    def test_emptyNamespaceSeparator(self) -> None:
        """
        C{2/,} is the main namespace written out; C{//} is a namespace too.
        """
        self.assertEqual(decodeAll(['2/,["a"]']), Packet(EVENT, "/", ["a"]))
        self.assertEqual(decodeAll(['2//,["a"]']), Packet(EVENT, "//", ["a"]))

    def test_ack(self) -> None:
        """
        ACK packets, with and without arguments.
        """
        self.assertEqual(decodeAll(["30[]"]), Packet(ACK, "/", [], 0))
        self.assertEqual(
            decodeAll(['3/chat,7["ok",2]']), Packet(ACK, "/chat", ["ok", 2], 7)
        )

    def test_connect(self) -> None:
        """
        CONNECT in all its forms: main namespace, namespace with and without
        the trailing comma, with an auth object.
        """
        self.assertEqual(decodeAll(["0"]), Packet(CONNECT))
        self.assertEqual(decodeAll(["0/admin,"]), Packet(CONNECT, "/admin"))
        self.assertEqual(decodeAll(["0/admin"]), Packet(CONNECT, "/admin"))
        self.assertEqual(
            decodeAll(['0{"token":"x"}']), Packet(CONNECT, "/", {"token": "x"})
        )
        self.assertEqual(
            decodeAll(['0/admin,{"token":"x"}']),
            Packet(CONNECT, "/admin", {"token": "x"}),
        )
        self.assertEqual(decodeAll(["0{}"]), Packet(CONNECT, "/", {}))

    def test_connectQuery(self) -> None:
        """
        The query string of a v4 client's CONNECT is split off the namespace.
        """
        self.assertEqual(
            decodeAll(["0/nsp?token=x,"]), Packet(CONNECT, "/nsp", query="token=x")
        )
        self.assertEqual(
            decodeAll(["0/nsp?token=x&b=%2C"]),
            Packet(CONNECT, "/nsp", query="token=x&b=%2C"),
        )
        self.assertEqual(decodeAll(["0/nsp?,"]), Packet(CONNECT, "/nsp", query=""))
        self.assertEqual(decodeAll(["0/?a=1,"]), Packet(CONNECT, "/", query="a=1"))

    def test_queryOnlyInConnect(self) -> None:
        """
        Other packets keep a C{?} as part of the namespace, as Node does.
        """
        self.assertEqual(
            decodeAll(['2/a?b,["e"]']), Packet(EVENT, "/a?b", ["e"])
        )

    def test_disconnect(self) -> None:
        """
        DISCONNECT, for the main namespace and another one.
        """
        self.assertEqual(decodeAll(["1"]), Packet(DISCONNECT))
        self.assertEqual(decodeAll(["1/admin,"]), Packet(DISCONNECT, "/admin"))
        self.assertEqual(decodeAll(["1/admin"]), Packet(DISCONNECT, "/admin"))

    def test_connectError(self) -> None:
        """
        CONNECT_ERROR with an object or a string.
        """
        self.assertEqual(
            decodeAll(['4/x,{"message":"Invalid namespace"}']),
            Packet(CONNECT_ERROR, "/x", {"message": "Invalid namespace"}),
        )
        self.assertEqual(
            decodeAll(['4"Not authorized"']), Packet(CONNECT_ERROR, "/", "Not authorized")
        )

    def test_trailingWhitespace(self) -> None:
        """
        Whitespace after the JSON is allowed, as JSON.parse allows it.
        """
        self.assertEqual(decodeAll(['2["a"] \n']), Packet(EVENT, "/", ["a"]))

    def test_unicodeEscapes(self) -> None:
        """
        JSON escapes are decoded, including a surrogate pair and a lone
        surrogate.
        """
        self.assertEqual(
            decodeAll(['2["\\ud83d\\ude00","\\ud800","é"]']).data,
            ["😀", "\ud800", "é"],
        )

    def test_hugeExponent(self) -> None:
        """
        A number too large for a double reads as infinity, as in JavaScript.
        """
        self.assertEqual(decodeAll(['2["a",1e400]']).data, ["a", math.inf])

    def test_binaryEvent(self) -> None:
        """
        A BINARY_EVENT waits for its attachments and comes back as an EVENT
        with the bytes in place of the placeholders.
        """
        decoder = Decoder()
        self.assertIsNone(
            decoder.feed(
                '53-/admin,12["ev",%s,{"a":[%s,{"b":%s}]}]'
                % (placeholder(0), placeholder(1), placeholder(2))
            )
        )
        self.assertTrue(decoder.awaiting_attachments)
        self.assertIsNone(decoder.feed(b"\x01\x02\x03"))
        self.assertIsNone(decoder.feed(bytearray(b"x")))
        self.assertTrue(decoder.awaiting_attachments)
        packet = decoder.feed(memoryview(b"yz"))
        self.assertFalse(decoder.awaiting_attachments)
        self.assertEqual(
            packet,
            Packet(
                EVENT,
                "/admin",
                ["ev", b"\x01\x02\x03", {"a": [b"x", {"b": b"yz"}]}],
                12,
            ),
        )
        assert packet is not None
        self.assertIs(type(packet.data[2]["a"][1]["b"]), bytes)

    def test_placeholdersOutOfOrder(self) -> None:
        """
        Attachments go where their number says, whatever the order of the
        placeholders.
        """
        self.assertEqual(
            decodeAll(
                ['52-["a",%s,%s]' % (placeholder(1), placeholder(0)), b"0", b"1"]
            ).data,
            ["a", b"1", b"0"],
        )

    def test_placeholderExtraKeys(self) -> None:
        """
        A placeholder with extra keys is still a placeholder, as in Node.
        """
        self.assertEqual(
            decodeAll(
                ['61-/x,7[{"_placeholder":true,"num":0,"extra":1}]', b"\xff"]
            ),
            Packet(ACK, "/x", [b"\xff"], 7),
        )

    def test_placeholderInPlainEvent(self) -> None:
        """
        In a packet that is not binary, a placeholder-looking object is data.
        """
        self.assertEqual(
            decodeAll(['2["a",%s]' % (placeholder(0),)]).data,
            ["a", {"_placeholder": True, "num": 0}],
        )

    def test_binaryAck(self) -> None:
        """
        A BINARY_ACK comes back as an ACK.
        """
        self.assertEqual(
            decodeAll(['61-/admin,12[%s,"ok"]' % (placeholder(0),), b"\xff"]),
            Packet(ACK, "/admin", [b"\xff", "ok"], 12),
        )

    def test_attachmentCountLeadingZero(self) -> None:
        """
        The attachment count may have leading zeros (Node reads it as a
        number).
        """
        self.assertEqual(
            decodeAll(['501-["a",%s]' % (placeholder(0),), b""]).data, ["a", b""]
        )

    def test_decoderReused(self) -> None:
        """
        One decoder reads packet after packet, binary and not.
        """
        decoder = Decoder()
        self.assertEqual(decoder.feed('2["a"]'), Packet(EVENT, "/", ["a"]))
        self.assertIsNone(decoder.feed('51-["b",%s]' % (placeholder(0),)))
        self.assertEqual(decoder.feed(b"z"), Packet(EVENT, "/", ["b", b"z"]))
        self.assertEqual(decoder.feed("1"), Packet(DISCONNECT))

    def test_notStrOrBytes(self) -> None:
        """
        Feeding something that is not a message is the caller's mistake: a
        TypeError.
        """
        self.assertRaises(TypeError, Decoder().feed, 42)

    def test_badLimits(self) -> None:
        """
        Limits that make no sense are refused.
        """
        self.assertRaises(ValueError, Decoder, max_attachments=-1)
        self.assertRaises(ValueError, Decoder, max_json_depth=0)


class DecodeErrorTests(SynchronousTestCase):
    """
    L{Decoder.feed} raises L{ProtocolError} on anything that breaks the
    protocol.
    """

    def assertRejects(
        self, *messages: Union[str, bytes, bytearray], **limits: int
    ) -> None:
        """
        Feeding C{messages} in order to a new decoder raises ProtocolError at
        the last one.
        """
        decoder = Decoder(**limits)
        for message in messages[:-1]:
            decoder.feed(message)
        self.assertRaises(ProtocolError, decoder.feed, messages[-1])

    def test_unknownType(self) -> None:
        """
        The type must be one of the digits 0 to 6.
        """
        for text in ["", "7", "9[]", "x", "abc", "-1", "٢[\"a\"]", " 2[\"a\"]"]:
            self.assertRejects(text)

    def test_eventPayload(self) -> None:
        """
        An EVENT needs a non-empty array whose first element is a string that
        is not a reserved event name.
        """
        for text in [
            "2",
            "2[]",
            "2{}",
            '2"ev"',
            "2[1]",
            "2[null]",
            '2[["a"]]',
            "2/admin",
            "2/admin,",
            '2/admin12["a"]',
            '2/["a"]',
        ]:
            self.assertRejects(text)
        for name in RESERVED_EVENTS:
            self.assertRejects('2["%s",1]' % (name,))

    def test_ackPayload(self) -> None:
        """
        An ACK needs an array.
        """
        for text in ["3", "312", "3{}", '312"a"', "312null"]:
            self.assertRejects(text)

    def test_connectPayload(self) -> None:
        """
        A CONNECT payload, when present, is an object.
        """
        for text in ["0[]", "0null", '0"x"', "0x", "01[]", "0/a,[]"]:
            self.assertRejects(text)

    def test_connectErrorPayload(self) -> None:
        """
        A CONNECT_ERROR needs an object or a string.
        """
        for text in ["4", "4[]", "41", "4null", "4/a,"]:
            self.assertRejects(text)

    def test_disconnectPayload(self) -> None:
        """
        A DISCONNECT has no payload.
        """
        for text in ["1{}", "1/a,[]", '1"x"', "1null"]:
            self.assertRejects(text)

    def test_garbageBeforeJson(self) -> None:
        """
        Anything but digits between the namespace and the JSON is an error.
        """
        for text in ['2abc["a"]', '2/admin,x["a"]', '21a["a"]', '2-1["a"]']:
            self.assertRejects(text)

    def test_blankBeforeJson(self) -> None:
        """
        A blank before the JSON is refused (Node would misread it as ack id 0).
        """
        for text in ['2 ["a"]', '2\t["a"]', '2\n["a"]', '21 ["a"]']:
            self.assertRejects(text)

    def test_badJson(self) -> None:
        """
        Malformed JSON and trailing garbage are errors.
        """
        for text in [
            '2["a"',
            '2["a"]x',
            '2["a"]]',
            '2["a"][]',
            "2['a']",
            '2["a",01]',
            '2["a",.5]',
            '2["a",+1]',
            '2["a\x01"]',
            '2["a",]',
            '2["a",True]',
            '2["a",undefined]',
            '2["\\x41"]',
        ]:
            self.assertRejects(text)

    def test_nonJsonConstants(self) -> None:
        """
        NaN and Infinity are not JSON, though Python's parser reads them.
        """
        for text in ['2["a",NaN]', '2["a",Infinity]', '2["a",-Infinity]', "0{\"a\":NaN}"]:
            self.assertRejects(text)

    def test_hugeIntLiteral(self) -> None:
        """
        An integer too long for Python's int parser is a ProtocolError, not a
        ValueError.
        """
        self.assertRejects('2["a",%s]' % ("9" * 5000,))

    def test_ackIdTooLarge(self) -> None:
        """
        An ack id beyond MAX_ACK_ID (one JavaScript cannot hold exactly), or
        absurdly long, is refused.
        """
        self.assertRejects('2%d["a"]' % (MAX_ACK_ID + 1,))
        self.assertRejects('2%s["a"]' % ("9" * 5000,))

    def test_tooDeep(self) -> None:
        """
        Nesting deeper than C{max_json_depth} (by default 128, the payload's
        own array counting as 1) is an error; the limit itself is fine.
        """
        self.assertEqual(DEFAULT_MAX_JSON_DEPTH, 128)
        ok = '2["a",' + "[" * 127 + "]" * 127 + "]"
        self.assertEqual(len(decodeAll([ok]).data), 2)
        self.assertRejects('2["a",' + "[" * 128 + "]" * 128 + "]")
        self.assertRejects('2["a",' + '{"k":' * 128 + "1" + "}" * 128 + "]")
        self.assertRejects('2["a",[[1]]]', max_json_depth=2)
        self.assertEqual(decodeAll(['2["a",[1]]'], max_json_depth=2).data, ["a", [1]])

    def test_wideNotDeep(self) -> None:
        """
        Many containers side by side are not deep.
        """
        text = '2["a",' + ",".join(["[{}]"] * 100) + "]"
        self.assertEqual(len(decodeAll([text]).data), 101)

    def test_bracketsInStringsNotDepth(self) -> None:
        """
        Brackets inside strings do not count towards the depth.
        """
        text = '2["a","' + "[" * 100 + '"]'
        self.assertEqual(decodeAll([text]).data, ["a", "[" * 100])

    def test_recursionBomb(self) -> None:
        """
        Nesting deep enough to exhaust Python's recursion is a ProtocolError,
        in plain and binary packets.
        """
        self.assertRejects('2["a",' + "[" * 100000 + "]" * 100000 + "]")
        self.assertRejects("51-[" + "[" * 100000)

    def test_tooDeepBinary(self) -> None:
        """
        The depth limit holds in binary packets too.
        """
        self.assertRejects(
            '51-["a",' + "[" * 2 + placeholder(0) + "]" * 2 + "]", max_json_depth=3
        )
        self.assertEqual(
            decodeAll(
                ['51-["a",' + "[" + placeholder(0) + "]" + "]", b"x"], max_json_depth=3
            ).data,
            ["a", [b"x"]],
        )

    def test_attachmentCountSyntax(self) -> None:
        """
        A binary packet needs a decimal count of at least 1 and a dash.
        """
        for text in [
            "5",
            '5["a"]',
            '51["a"]',
            '5-["a"]',
            '5a-["a"]',
            '5 1-["a"]',
            '5٣-["a"]',
            '50-["a"]',
            '6+1-[]',
            "6-1-[]",
        ]:
            self.assertRejects(text)

    def test_tooManyAttachments(self) -> None:
        """
        A count above C{max_attachments} is refused before anything is
        buffered, however many digits it has.
        """
        self.assertRejects('511-["a"]')
        self.assertRejects("5" + "9" * 5000 + '-["a"]')
        self.assertRejects('51-["a",%s]' % (placeholder(0),), max_attachments=0)
        self.assertRejects(
            '53-["a",%s,%s,%s]' % (placeholder(0), placeholder(1), placeholder(2)),
            max_attachments=2,
        )
        self.assertEqual(
            decodeAll(
                ['52-["a",%s,%s]' % (placeholder(0), placeholder(1)), b"", b""],
                max_attachments=2,
            ).data,
            ["a", b"", b""],
        )

    def test_placeholderOutOfRange(self) -> None:
        """
        A placeholder number must name an announced attachment.
        """
        self.assertRejects('51-["a",%s]' % (placeholder(1),))
        self.assertRejects('51-["a",{"_placeholder":true,"num":-1}]')

    def test_placeholderBadNum(self) -> None:
        """
        A placeholder's num must be an integer.
        """
        for num in ['"0"', "0.0", "true", "null", "[0]"]:
            self.assertRejects('51-["a",{"_placeholder":true,"num":%s}]' % (num,))
        self.assertRejects('51-["a",{"_placeholder":true}]')

    def test_placeholderDuplicated(self) -> None:
        """
        Two placeholders for the same attachment are refused.
        """
        self.assertRejects('52-["a",%s,%s]' % (placeholder(0), placeholder(0)))

    def test_attachmentUnreferenced(self) -> None:
        """
        Every announced attachment must have a placeholder.
        """
        self.assertRejects('52-["a",%s]' % (placeholder(0),))
        self.assertRejects("61-[]")
        self.assertRejects('61-[{"_placeholder":1,"num":0}]')

    def test_binaryPayloadShape(self) -> None:
        """
        Binary packets follow the payload rules of their plain type.
        """
        for text in [
            '51-{"a":%s}' % (placeholder(0),),
            "51-[%s]" % (placeholder(0),),
            "61-",
            '61-"x"',
        ]:
            self.assertRejects(text)

    def test_unexpectedBinary(self) -> None:
        """
        A binary message when no attachment is awaited is an error, also
        right after a binary packet completed.
        """
        self.assertRejects(b"\x00")
        self.assertRejects(bytearray())
        self.assertRejects('51-["a",%s]' % (placeholder(0),), b"x", b"y")

    def test_textWhileAwaiting(self) -> None:
        """
        A text message while attachments are awaited is an error.
        """
        self.assertRejects('51-["a",%s]' % (placeholder(0),), '2["b"]')
        self.assertRejects(
            '52-["a",%s,%s]' % (placeholder(0), placeholder(1)), b"x", "1"
        )


# Hypothesis strategies -------------------------------------------------

_names = st.text().filter(lambda name: name not in RESERVED_EVENTS)
_keys = st.text().filter(lambda key: key != "_placeholder")
_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(),
    st.text(),
    st.binary(max_size=8),
    st.binary(max_size=8).map(bytearray),
    st.binary(max_size=8).map(lambda raw: memoryview(raw)),
)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4)
    | st.tuples(children, children)
    | st.dictionaries(_keys, children, max_size=4),
    max_leaves=12,
)
_jsonValues = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(_keys, children, max_size=4),
    max_leaves=8,
)
_namespaces = st.just("/") | st.text().filter(lambda n: "," not in n).map(
    lambda n: "/" + n
)
_ackIds = st.integers(min_value=0, max_value=MAX_ACK_ID)


@st.composite
def _packets(draw: st.DrawFn) -> Packet:
    """
    Any packet that L{encode} accepts.
    """
    kind = draw(st.sampled_from([EVENT, ACK, CONNECT, DISCONNECT, CONNECT_ERROR]))
    namespace = draw(_namespaces)
    data: Any
    if kind == EVENT:
        data = [draw(_names), *draw(st.lists(_values, max_size=4))]
        return Packet(kind, namespace, data, draw(st.none() | _ackIds))
    if kind == ACK:
        return Packet(kind, namespace, draw(st.lists(_values, max_size=4)), draw(_ackIds))
    if kind == CONNECT:
        namespace = namespace.replace("?", "")
        data = draw(
            st.one_of(st.none(), st.dictionaries(_keys, _jsonValues, max_size=3))
        )
        query = draw(st.none() | st.text().filter(lambda q: "," not in q))
        return Packet(kind, namespace, data, query=query)
    if kind == DISCONNECT:
        return Packet(kind, namespace)
    data = draw(st.one_of(st.text(), st.dictionaries(_keys, _jsonValues, max_size=3)))
    return Packet(kind, namespace, data)


def _normal(value: Any) -> Any:
    """
    What a value looks like after a trip through JSON: numbers compared as
    doubles (NaN and infinities are null), arrays as lists, binary as bytes.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else ("n", number)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("b", bytes(value))
    if isinstance(value, (list, tuple)):
        return [_normal(item) for item in value]
    return {key: _normal(item) for key, item in value.items()}


# Inputs built from the characters that matter to the parser, so that
# random messages get past the first checks.
_wireText = st.text(
    alphabet=st.sampled_from(list('0123456789-/,?[]{}":_abeflnrstuN .\\')),
    max_size=40,
)
_messages = st.lists(
    _wireText
    | st.text(max_size=20)
    | st.binary(max_size=8)
    | st.builds(
        lambda packet, cut: encode(packet)[0][:cut], _packets(), st.integers(0, 60)
    ),
    max_size=6,
)


class PropertyTests(SynchronousTestCase):
    """
    Properties that hold for all packets and all input.
    """

    @settings(max_examples=300)
    @given(_packets())
    def test_roundTrip(self, packet: Packet) -> None:
        """
        Feeding what L{encode} wrote gives back an equal packet (numbers as
        JavaScript would read them, binary values as bytes).
        """
        messages = encode(packet)
        text = messages[0]
        assert isinstance(text, str)
        decoder = Decoder(max_attachments=100)
        for message in messages[:-1]:
            self.assertIsNone(decoder.feed(message))
        decoded = decoder.feed(messages[-1])
        assert decoded is not None
        self.assertEqual(
            (decoded.type, decoded.namespace, decoded.id, decoded.query),
            (packet.type, packet.namespace, packet.id, packet.query),
        )
        self.assertEqual(_normal(decoded.data), _normal(packet.data))
        self.assertEqual(len(messages) > 1, text[0] in "56")

    @settings(max_examples=300)
    @given(_messages)
    def test_onlyProtocolError(self, messages: list[Union[str, bytes]]) -> None:
        """
        Whatever is fed, the decoder returns packets or None, or raises
        ProtocolError, and nothing else.
        """
        decoder = Decoder()
        for message in messages:
            try:
                result = decoder.feed(message)
            except ProtocolError:
                continue
            self.assertIsInstance(result, (Packet, type(None)))

    @given(st.binary(min_size=8, max_size=8))
    def test_anyDouble(self, raw: bytes) -> None:
        """
        Any 64-bit pattern as a float encodes to JSON that reads back as the
        same double (or null for NaN and infinities).
        """
        (value,) = struct.unpack("<d", raw)
        packet = decodeAll(encode(Packet(ACK, data=[value], id=1)))
        self.assertEqual(_normal(packet.data), _normal([value]))


# The depth limit and the recursion-free paths ---------------------------


def nested(depth: int, leaf: str = "1") -> str:
    """
    JSON text of C{depth} arrays nested around C{leaf}.
    """
    return "[" * depth + leaf + "]" * depth


class DepthTests(SynchronousTestCase):
    """
    C{max_json_depth} bounds the nesting of a payload; nothing in the codec
    recurses with the depth of the data, so no input reaches Python's
    recursion limit.
    """

    def test_tooDeepError(self) -> None:
        """
        A payload deeper than the limit raises L{PayloadTooDeep}, a
        L{ProtocolError} that names the limit, the packet type and the
        namespace, and says why in its message.
        """
        decoder = Decoder(max_json_depth=5)
        error = self.assertRaises(
            PayloadTooDeep, decoder.feed, '2/chat,7["a",' + nested(5) + "]"
        )
        self.assertIsInstance(error, ProtocolError)
        self.assertEqual(
            str(error), "JSON payload nests deeper than 5 levels (max_json_depth)"
        )
        self.assertEqual(
            (error.limit, error.packet_type, error.namespace), (5, EVENT, "/chat")
        )
        error = self.assertRaises(
            PayloadTooDeep, Decoder(max_json_depth=2).feed, '0/a,{"t":{"u":{}}}'
        )
        self.assertEqual((error.packet_type, error.namespace), (CONNECT, "/a"))

    def test_hundredLevelArgument(self) -> None:
        """
        An event argument nested 100 levels deep (what python-socketio
        accepts) is accepted by default, as is one of 127 levels.
        """
        for depth in (100, 127):
            data = decodeAll(['2["echo",' + nested(depth) + "]"]).data
            self.assertEqual(data[0], "echo")
            inner = data[1]
            for _ in range(depth - 1):
                inner = inner[0]
            self.assertEqual(inner, [1])

    def test_bombsRefusedQuickly(self) -> None:
        """
        Payloads 100,000 levels deep, of arrays, objects, unclosed brackets,
        in CONNECT, EVENT, ACK and binary packets, raise PayloadTooDeep (not
        RecursionError), with any limit up to the depth itself.
        """
        bombs = [
            '2["a",' + nested(100_000) + "]",
            '2["a",' + '{"k":' * 100_000 + "1" + "}" * 100_000 + "]",
            "3" + "[" * 100_000,
            "0" + '{"a":' * 100_000,
            "51-[" + "[" * 100_000,
            '51-["a",' + "[" * 100_000 + placeholder(0),
        ]
        for limit in (1, 128, 1000, 99_999):
            for bomb in bombs:
                self.assertRaises(
                    PayloadTooDeep, Decoder(max_json_depth=limit).feed, bomb
                )

    def test_deepAcceptedWithHighLimit(self) -> None:
        """
        With a limit high enough, 100,000 levels decode (by the iterative
        parser), plain and with a placeholder (one more level) at the
        bottom; the depth is the limit's only bound.
        """
        decoder = Decoder(max_json_depth=100_002)
        packet = decoder.feed('3["a",' + nested(100_000) + "]")
        assert packet is not None
        inner = packet.data[1]
        for _ in range(100_000 - 1):
            inner = inner[0]
        self.assertEqual(inner, [1])
        binary = '61-["a",' + nested(100_000, placeholder(0)) + "]"
        self.assertIsNone(decoder.feed(binary))
        packet = decoder.feed(b"z")
        assert packet is not None
        inner = packet.data[1]
        for _ in range(100_000):
            inner = inner[0]
        self.assertEqual(inner, b"z")

    def test_stringsDoNotCount(self) -> None:
        """
        Brackets inside strings, escaped quotes included, do not count
        towards the depth.
        """
        text = '2["a","\\"' + "[" * 500 + '",{"k\\"[":["]]]"]}]'
        self.assertEqual(
            decodeAll([text], max_json_depth=3).data,
            ["a", '"' + "[" * 500, {'k"[': ["]]]"]}],
        )

    def test_encodeDeepServerData(self) -> None:
        """
        Server data 100,000 levels deep encodes (by the exact path), binary
        values included, and decodes back with a limit that allows it.
        """
        deep: list[Any] = []
        inner = deep
        for _ in range(99_999):
            inner.append([])
            inner = inner[0]
        inner.append(b"\x00")
        messages = encode(Packet(EVENT, data=["e", deep]))
        self.assertEqual(
            messages, ['51-["e",' + nested(100_000, placeholder(0)) + "]", b"\x00"]
        )
        self.assertEqual(
            encode(Packet(ACK, data=[deep[0][0]], id=1))[0][:8], "61-1[[[["
        )

    def test_encodeDeepCycle(self) -> None:
        """
        A cycle deep inside data is a ValueError, not a RecursionError.
        """
        deep: list[Any] = []
        inner = deep
        for _ in range(10_000):
            inner.append([])
            inner = inner[0]
        inner.append(deep)
        self.assertRaises(ValueError, encode, Packet(EVENT, data=["e", deep]))

    def test_textDepth(self) -> None:
        """
        L{_text_depth} measures valid JSON exactly and never less than a
        parser would reach in invalid JSON.
        """
        cases = {
            "1": 0,
            "[]": 1,
            "[[],[[]],{}]": 3,
            '["]]]", {"a": [1]}]': 3,
            '"[[["': 0,
            '["\\"[["]': 1,
            '"unterminated [[[': 3,
            '["\\\n", "[[["]': 1,
        }
        for text, depth in cases.items():
            self.assertEqual(_text_depth(text), depth, text)

    @settings(max_examples=300)
    @given(st.recursive(
        st.none() | st.text(alphabet='[]{}"\\ab,:'),
        lambda children: st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\a'), children, max_size=3),
        max_leaves=20,
    ))
    def test_textDepthProperty(self, value: Any) -> None:
        """
        For any JSON value, L{_text_depth} of its text is its depth.
        """
        def depth(item: Any) -> int:
            if isinstance(item, list):
                return 1 + max(map(depth, item), default=0)
            if isinstance(item, dict):
                return 1 + max(map(depth, item.values()), default=0)
            return 0

        self.assertEqual(_text_depth(json.dumps(value)), depth(value))


class IterativeParserTests(SynchronousTestCase):
    """
    L{_parse_iterative}, the parser for payloads too deep for json's
    recursive one, reads exactly what C{json.loads} reads.
    """

    def assertSameAsJson(self, text: str) -> None:
        """
        C{text} parses to the same value with both, or both refuse it.
        """
        try:
            expected: Any = ("ok", _normalExact(_loadsStrict(text)))
        except (ValueError, ProtocolError):
            expected = "error"
        try:
            got: Any = ("ok", _normalExact(_parse_iterative(text)))
        except (ValueError, ProtocolError):
            got = "error"
        self.assertEqual(got, expected, repr(text))

    def test_examples(self) -> None:
        """
        Valid and invalid texts at the edges of the grammar.
        """
        for text in [
            "[]", "{}", '{"a":[1,{"b":null}],"a":2}', "[1.5e3,-0,-0.0,1E+2,0.1e-1]",
            '"\\ud800\\u00e9"', " [ 1 , 2 ] ", "[1e400]", "[" + "9" * 200 + "]",
            "true", "[true,false,null]", '{"a":1,}', "[1,]", "[,1]", "[01]",
            "[1.]", "[.5]", "[-]", "[NaN]", "[-Infinity]", "[Infinity]", "",
            " ", "[", "]", "{", '{"a"}', '{"a":}', '{1:2}', '["a\tb"]', "[1]x",
            "[1] ", "[1]\x0c", "[tru]", "[truex]", '["\\x"]', "[1 2]", '{"a":1 "b":2}',
            "[\u0661]", "[+1]", "[0x1]", "nul", "[1]]", "{}}", '{"a":[}]',
        ]:
            self.assertSameAsJson(text)

    def test_hugeInteger(self) -> None:
        """
        An integer beyond Python's digit limit is a ValueError, as in json.
        """
        self.assertRaises(ValueError, _parse_iterative, "[" + "9" * 5000 + "]")

    @settings(max_examples=500)
    @given(_wireText | st.text(max_size=30))
    def test_anyText(self, text: str) -> None:
        """
        On any text, both parsers agree.
        """
        self.assertSameAsJson(text)

    @settings(max_examples=300)
    @given(_jsonValues)
    def test_anyJson(self, value: Any) -> None:
        """
        Any JSON value, compact or spaced, parses the same with both.
        """
        self.assertSameAsJson(json.dumps(value))
        self.assertSameAsJson(json.dumps(value, indent=1))


def _loadsStrict(text: str) -> Any:
    """
    json.loads with NaN and the infinities refused, as the codec reads.
    """
    def refuse(name: str) -> Any:
        raise ValueError(name)

    return json.loads(text, parse_constant=refuse)


def _normalExact(value: Any) -> Any:
    """
    A value with its types made visible (1 and 1.0 and True differ), for
    exact comparisons.
    """
    if isinstance(value, list):
        return ["list", [_normalExact(item) for item in value]]
    if isinstance(value, dict):
        return ["dict", [(key, _normalExact(item)) for key, item in value.items()]]
    if isinstance(value, float) and value != value:
        return ("float", "nan")
    return (type(value).__name__, repr(value))


class FastPathTests(SynchronousTestCase):
    """
    The orjson fast path and the exact path give the same results: the same
    text (and attachments) or the same error when encoding, the same packet
    or a ProtocolError when decoding.
    """

    def setUp(self) -> None:
        if packet_module._orjson is None:
            raise SkipTest("orjson is not installed: only the exact path runs")

    def encodeBoth(self, packet: Packet) -> tuple[Any, Any]:
        """
        What each path makes of C{packet}: its messages, or the error type
        and message.
        """
        results = []
        for fast in (True, False):
            with _exactOnly(not fast):
                try:
                    results.append(encode(packet))
                except (TypeError, ValueError) as e:
                    results.append((type(e), str(e)))
        return results[0], results[1]

    def decodeBoth(self, messages: list[Union[str, bytes]]) -> tuple[Any, Any]:
        """
        What each path makes of C{messages}: the packets, or "error".
        """
        results = []
        for fast in (True, False):
            with _exactOnly(not fast):
                decoder = Decoder(max_attachments=100)
                out: list[Any] = []
                try:
                    for message in messages:
                        packet = decoder.feed(message)
                        if packet is not None:
                            out.append(
                                (packet.type, packet.namespace, packet.id,
                                 _normalExact(packet.data))
                            )
                except ProtocolError:
                    out.append("error")
                results.append(out)
        return results[0], results[1]

    def test_encodeEdges(self) -> None:
        """
        Where orjson would differ from JSON.stringify, the result is still
        the exact one: float layouts, NaN, -0, lone and paired surrogates,
        ints beyond 64 bits, non-str keys, float subclasses, enums, UUIDs,
        dict subclasses, depth beyond orjson's limit, unserialisable types.
        """
        class Level(enum.Enum):
            LOW = 1.0

        class Money(float):
            pass

        deep: list[Any] = []
        inner = deep
        for _ in range(300):
            inner.append([])
            inner = inner[0]
        identifier = uuid.UUID(int=7)
        cases: list[tuple[Any, str]] = [
            ([1.0, 1e21, 1e-7, 1e16, 1e15, -0.0, 1e-5, 5e-324],
             "[1,1e+21,1e-7,10000000000000000,1000000000000000,0,0.00001,5e-324]"),
            ([math.nan, math.inf, -math.inf], "[null,null,null]"),
            (["\ud800", "\ud83d\ude00", "a\udc00b"], '["\\ud800","😀","a\\udc00b"]'),
            ([2**64, -(2**63) - 1, 2**64 - 1], "[18446744073709551616,-9223372036854775809,18446744073709551615]"),
            ([{1: "a", 2.5: "b", False: "c", None: 2, 3.0: "d"}],
             '[{"1":"a","2.5":"b","false":"c","null":2,"3":"d"}]'),
            ([Money(2.0), Level.LOW, identifier],
             '[2,1,"00000000-0000-0000-0000-000000000007"]'),
            ([collections.OrderedDict(a=1.5), collections.defaultdict(int, b=2)],
             '[{"a":1.5},{"b":2}]'),
            ([deep], "[" + "[" * 301 + "]" * 301 + "]"),
        ]
        for data, text in cases:
            fast, exact = self.encodeBoth(Packet(ACK, data=data, id=1))
            self.assertEqual(fast, exact, data)
            self.assertEqual(fast, ["31" + text])
        for data in [[set()], [{(1,): 1}], [datetime.date(2020, 1, 1)], [1j]]:
            fast, exact = self.encodeBoth(Packet(ACK, data=data, id=1))
            self.assertEqual(fast, exact)
            self.assertIsInstance(fast, tuple)

    def test_decodeEdges(self) -> None:
        """
        Where orjson would read the text differently from json (big
        integers, lone surrogate escapes, 1e400), the exact path reads it.
        """
        for text, data in [
            ('2["a",18446744073709551616]', ["a", 2**64]),
            ('2["a",-9223372036854775809]', ["a", -(2**63) - 1]),
            ('2["a","\\ud800"]', ["a", "\ud800"]),
            ('2["a",1e400,-0]', ["a", math.inf, 0]),
            ('2["a",1.5,10000000000000000000.5]', ["a", 1.5, 1e19]),
        ]:
            fast, exact = self.decodeBoth([text])
            self.assertEqual(fast, exact)
            self.assertEqual(decodeAll([text]).data, data)

    @settings(max_examples=300)
    @given(_packets())
    def test_encodeSame(self, packet: Packet) -> None:
        """
        Both paths encode any packet to the same messages.
        """
        fast, exact = self.encodeBoth(packet)
        self.assertEqual(fast, exact)

    @settings(max_examples=300)
    @given(_messages)
    def test_decodeSame(self, messages: list[Union[str, bytes]]) -> None:
        """
        Both paths decode any input to the same packets, or both refuse it.
        """
        fast, exact = self.decodeBoth(messages)
        self.assertEqual(fast, exact)


@contextlib.contextmanager
def _exactOnly(on: bool) -> Iterator[None]:
    """
    Within the block, and when C{on}, the codec runs as if orjson were not
    installed (the exact paths only).
    """
    saved = packet_module._orjson
    if on:
        packet_module._orjson = None
    try:
        yield
    finally:
        packet_module._orjson = saved


class ExactPathTests(SynchronousTestCase):
    """
    Without orjson, the codec's own tests pass on the exact paths alone.
    """

    def test_roundTripWithoutOrjson(self) -> None:
        """
        The encoding vectors and the round-trip property hold with the exact
        paths only.
        """
        with _exactOnly(True):
            suite = [
                EncodeTests(name)
                for name in dir(EncodeTests)
                if name.startswith("test_") and name != "test_floatValuePreserved"
            ]
            self.assertGreater(len(suite), 15)
            for test in suite:
                result = unittest.TestResult()
                test.run(result)
                self.assertEqual(
                    (result.failures, result.errors), ([], []), test.id()
                )


class StringifyTests(SynchronousTestCase):
    """
    L{stringify}, the codec's JSON writer for other wire formats, writes what
    JSON.stringify writes on both paths and refuses what it cannot write.
    """

    def test_sameOnBothPaths(self) -> None:
        """
        Floats, surrogates, non-str keys and deep data come out the same
        with and without orjson.
        """
        deep: list[Any] = []
        inner = deep
        for _ in range(1000):
            inner.append([])
            inner = inner[0]
        for data in [{"a": [1.0, 1e21, -0.0, math.nan]}, ["\ud800"], {1.5: None},
                     [2**70], deep]:
            fast = stringify(data)
            with _exactOnly(True):
                self.assertEqual(stringify(data), fast)
        self.assertEqual(stringify({"a": [1.0, 1e21, -0.0, math.nan]}),
                         '{"a":[1,1e+21,0,null]}')

    def test_refuses(self) -> None:
        """
        Binary values and other objects are a TypeError naming the path; a
        cycle is a ValueError.
        """
        error = self.assertRaises(TypeError, stringify, {"a": [b"x"]})
        self.assertEqual(
            str(error),
            "binary data is only allowed in events and acks, found bytes at ['a'][0]",
        )
        self.assertRaises(TypeError, stringify, [object()])
        loop: list[Any] = []
        loop.append(loop)
        self.assertRaises(ValueError, stringify, loop)
