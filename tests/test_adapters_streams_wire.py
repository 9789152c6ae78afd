"""The wire format of @socket.io/redis-streams-adapter 0.3
(txsocketio.adapters.streams_wire): stream entries, pub/sub payloads,
sessions, names, commands and replies.  The golden strings were produced
with the Node package's own dependencies (@msgpack/msgpack 2.8,
JSON.stringify, its hashCode) in tests/node."""

from __future__ import annotations

import base64
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from txsocketio.adapters import streams_wire as sw
from txsocketio.adapters.base import BroadcastOptions
from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import Packet, PacketType

# Produced by node with @msgpack/msgpack (see the module docstring).
NODE_BINARY_BROADCAST = ("gqZwYWNrZXSDpHR5cGUCpGRhdGGTo2JpbsQDAQIDgqFuyz/4AAAAAAAAoXOiw6mjbnNwpS9jaGF0pG9wdHOD"
                         "pXJvb21zkaJyMaZleGNlcHSQpWZsYWdzgA==")
NODE_JSON_BROADCAST = ('{"packet":{"type":2,"data":["hello",1,"two",{"3":[true]}],"nsp":"/"},'
                       '"opts":{"rooms":[],"except":["sid1"],"flags":{"volatile":true}}}')
NODE_SESSION = "hKNzaWSjYWJjo3BpZKNkZWalcm9vbXOSo2FiY6Vyb29tMaRkYXRhgqNmb2+jYmFyoW4q"
NODE_FETCH_PUBSUB = bytes.fromhex(
    "84a47479706507a46461746182a46f70747383a5726f6f6d7391a161a665786365707490a5666c61677380a9726571756573744964"
    "b030313233343536373839616263646566a3756964b066656463626139383736353433323130a36e7370a12f")


def ev(*data: object, nsp: str = "/") -> Packet:
    return Packet(PacketType.EVENT, nsp, list(data))


class EntryTests(unittest.TestCase):
    def test_binary_broadcast_is_base64_msgpack(self) -> None:
        """A broadcast holding bytes is written as Node writes it: base64 of its MessagePack."""
        msg = sw.broadcast_message("u1", "/chat", ev("bin", b"\x01\x02\x03", {"n": 1.5, "s": "é"}, nsp="/chat"),
                                   BroadcastOptions(frozenset({"r1"})))
        self.assertEqual(sw.encode_entry(msg), [("uid", "u1"), ("nsp", "/chat"), ("type", "3"),
                                                ("data", NODE_BINARY_BROADCAST)])

    def test_plain_broadcast_is_json(self) -> None:
        """A broadcast without bytes is JSON.stringify of its data."""
        msg = sw.broadcast_message("u1", "/", ev("hello", 1, "two", {"3": [True]}),
                                   BroadcastOptions(except_=frozenset({"sid1"}), flags={"volatile": True}))
        self.assertEqual(dict(sw.encode_entry(msg))["data"], NODE_JSON_BROADCAST)

    def test_only_plaintext(self) -> None:
        """With only_plaintext bytes go as JSON (a Buffer's toJSON)."""
        msg = sw.broadcast_message("u", "/", ev("b", b"\x01"), BroadcastOptions())
        data = dict(sw.encode_entry(msg, only_plaintext=True))["data"]
        self.assertIn('{"type":"Buffer","data":[1]}', data)

    def test_join_never_msgpack(self) -> None:
        """SOCKETS_JOIN is not a type that may carry binary: always JSON."""
        msg = sw.sockets_join_message("u", "/", BroadcastOptions(frozenset({"a"})), ["b"])
        self.assertEqual(sw.encode_entry(msg)[3],
                         ("data", '{"opts":{"rooms":["a"],"except":[],"flags":{}},"rooms":["b"]}'))

    def test_no_data_field(self) -> None:
        """A message without data has no data field."""
        self.assertEqual(sw.encode_entry(sw.ClusterMessage("u", "/", sw.MessageType.HEARTBEAT)),
                         [("uid", "u"), ("nsp", "/"), ("type", "2")])

    def test_decode_node_entries(self) -> None:
        """Node's entries decode, from a map or Redis's flat list of bytes."""
        flat = [b"uid", b"u1", b"nsp", b"/chat", b"type", b"3", b"data", NODE_BINARY_BROADCAST.encode()]
        op = sw.read_operation(sw.decode_entry(flat))
        self.assertEqual(op.packet, ev("bin", b"\x01\x02\x03", {"n": 1.5, "s": "é"}, nsp="/chat"))
        self.assertEqual(op.opts, BroadcastOptions(frozenset({"r1"})))
        op = sw.read_operation(sw.decode_entry({"uid": "u", "nsp": "/", "type": "3", "data": NODE_JSON_BROADCAST}))
        self.assertEqual(op.opts, BroadcastOptions(except_=frozenset({"sid1"}), flags={"volatile": True}))
        self.assertIsNone(op.ack_id)

    def test_packet_without_nsp_takes_the_entrys(self) -> None:
        """socket.emit under recovery publishes {type, data[, id]} without nsp: the entry's nsp is used, the id kept."""
        data = '{"packet":{"type":2,"data":["x"],"id":4},"opts":{"rooms":["s"],"except":[],"flags":{}}}'
        op = sw.read_operation(sw.decode_entry({"uid": "u", "nsp": "/chat", "type": "3", "data": data}))
        self.assertEqual((op.packet, op.ack_id), (ev("x", nsp="/chat"), 4))

    def test_parse_int_type(self) -> None:
        """type is read with parseInt: leading digits count; unknown types are kept for the caller to ignore."""
        self.assertEqual(sw.decode_entry({"nsp": "/", "type": " 12abc"}).type, 12)
        self.assertEqual(sw.read_operation(sw.decode_entry({"nsp": "/", "type": "99"})).type, 99)

    def test_malformed_entries(self) -> None:
        """Missing nsp or type, non-numeric type, odd field lists, bad data: ProtocolError."""
        for fields in [{"type": "3"}, {"nsp": "", "type": "3"}, {"nsp": "/"}, {"nsp": "/", "type": "x"},
                       [b"nsp"], 5, {"nsp": "/", "type": "3", "data": "{nope"},
                       {"nsp": "/", "type": "3", "data": "[1]"}, {"nsp": "/", "type": "3", "data": "A"},
                       {"nsp": 1, "type": "3"}]:
            self.assertRaises(ProtocolError, sw.decode_entry, fields)
        for data in ['{"packet":{"type":3,"data":["x"]},"opts":{}}', '{"opts":{"rooms":[]}}',
                     '{"packet":{"type":2,"data":["x"],"id":"7"}}']:
            self.assertRaises(ProtocolError, sw.read_operation,
                              sw.decode_entry({"nsp": "/", "type": "3", "data": data}))
        self.assertRaises(ProtocolError, sw.read_operation, sw.ClusterMessage("u", "/", 4, {"rooms": [1]}))
        self.assertRaises(ProtocolError, sw.read_operation, sw.ClusterMessage("u", "/", 11, {"requestId": "r"}))


class PubSubTests(unittest.TestCase):
    def test_fetch_request_bytes(self) -> None:
        """A FETCH_SOCKETS request is the MessagePack of {type, data, uid, nsp}, byte for byte."""
        msg = sw.fetch_sockets_message("fedcba9876543210", "/", BroadcastOptions(frozenset({"a"})), "0123456789abcdef")
        self.assertEqual(sw.encode_pubsub(msg), NODE_FETCH_PUBSUB)
        back = sw.read_operation(sw.decode_pubsub(NODE_FETCH_PUBSUB))
        self.assertEqual((back.type, back.uid, back.request_id, back.opts),
                         (7, "fedcba9876543210", "0123456789abcdef", BroadcastOptions(frozenset({"a"}))))

    def test_ephemeral(self) -> None:
        """Broadcasts with acks, server-side emits and fetches go over pub/sub; the rest in the stream."""
        opts = BroadcastOptions()
        self.assertTrue(sw.is_ephemeral(sw.broadcast_message("u", "/", ev("a"), opts, "r")))
        self.assertFalse(sw.is_ephemeral(sw.broadcast_message("u", "/", ev("a"), opts)))
        self.assertTrue(sw.is_ephemeral(sw.server_side_emit_message("u", "/", ["a"])))
        self.assertTrue(sw.is_ephemeral(sw.fetch_sockets_message("u", "/", opts, "r")))
        for msg in [sw.sockets_join_message("u", "/", opts, ["a"]), sw.disconnect_sockets_message("u", "/", opts, True),
                    sw.broadcast_ack("u", "/", "r", 1)]:
            self.assertFalse(sw.is_ephemeral(msg))

    def test_responses_round_trip(self) -> None:
        """Every response type survives encode_pubsub/decode_pubsub/read_operation."""
        cases = [
            (sw.fetch_sockets_response("u", "/", "r", [{"id": "s", "handshake": {}, "rooms": ["s"], "data": {}}]),
             "sockets", ({"id": "s", "handshake": {}, "rooms": ["s"], "data": {}},)),
            (sw.server_side_emit_response("u", "/", "r", b"\x00"), "arg", b"\x00"),
            (sw.broadcast_client_count("u", "/", "r", 3), "client_count", 3),
            (sw.broadcast_ack("u", "/", "r", ["a", 1]), "arg", ["a", 1]),
            (sw.server_side_emit_message("u", "/", ["e", 1], "r"), "data", ("e", 1)),
            (sw.disconnect_sockets_message("u", "/", BroadcastOptions(), True), "close", True),
        ]
        for msg, attr, want in cases:
            op = sw.read_operation(sw.decode_pubsub(sw.encode_pubsub(msg)))
            self.assertEqual(getattr(op, attr), want, msg)

    def test_malformed_pubsub(self) -> None:
        """Non-map payloads, bad type/uid/nsp/data: ProtocolError."""
        from txsocketio.adapters.redis_wire import pack
        for body in [[1], {"type": "3", "nsp": "/"}, {"type": 3, "nsp": 1}, {"type": 3, "nsp": "/", "uid": 2},
                     {"type": 3, "nsp": "/", "data": [1]}, {"type": True, "nsp": "/"}]:
            self.assertRaises(ProtocolError, sw.decode_pubsub, pack(body))
        self.assertRaises(ProtocolError, sw.decode_pubsub, b"\xc1")


class NamesTests(unittest.TestCase):
    def test_hash_code_matches_node(self) -> None:
        """hashCode and the stream of a namespace match Node (negative remainders included)."""
        for nsp, h in [("/", 47), ("/chat", 46457863), ("/a-very-long-namespace-name-here", 2094563691),
                       ("/\U0001F600é", 56360279), ("/notifications", -1014064871), ("/zzzzzzzz", -961036753)]:
            self.assertEqual(sw.js_hash_code(nsp), h, nsp)
        self.assertEqual(sw.stream_name("socket.io", "/chat"), "socket.io")
        self.assertEqual(sw.stream_name("socket.io", "/chat", 3), "socket.io-1")
        self.assertEqual(sw.stream_name("socket.io", "/notifications", 3), "socket.io--2")
        self.assertEqual(sw.stream_name("s", "/zzzzzzzz", 3), "s--1")
        self.assertRaises(ValueError, sw.stream_name, "s", "/", 0)

    def test_channels_and_keys(self) -> None:
        """Public and private channels, session keys."""
        self.assertEqual(sw.public_channel("socket.io", "/chat"), "socket.io#/chat#")
        self.assertEqual(sw.private_channel("socket.io", "/", "abc"), "socket.io#/#abc#")
        self.assertEqual(sw.session_key(sw.DEFAULT_SESSION_KEY_PREFIX, "p1"), "sio:session:p1")
        self.assertEqual(len(sw.new_uid()), 16)


class SessionTests(unittest.TestCase):
    def test_node_session(self) -> None:
        """A session is base64 of MessagePack {sid, pid, rooms, data}, byte for byte as Node."""
        self.assertEqual(sw.encode_session("abc", "def", ["abc", "room1"], {"foo": "bar", "n": 42}), NODE_SESSION)
        self.assertEqual(sw.decode_session(NODE_SESSION.encode()),
                         sw.SessionRecord("abc", "def", ("abc", "room1"), {"foo": "bar", "n": 42}))

    def test_bad_sessions(self) -> None:
        """Anything that is not a session record: ProtocolError."""
        from txsocketio.adapters.redis_wire import pack
        for raw in ["!!", "", base64.b64encode(pack([1])).decode(), base64.b64encode(pack({"sid": 1})).decode(),
                    base64.b64encode(pack({"sid": "a", "pid": "b", "rooms": "x"})).decode(), 12]:
            self.assertRaises(ProtocolError, sw.decode_session, raw)  # type: ignore[arg-type]

    def test_set_command(self) -> None:
        """SET with PX in milliseconds, as 0.3.1."""
        self.assertEqual(sw.set_session_command("sio:session:", "p", "xx", 120_000),
                         ["SET", "sio:session:p", "xx", "PX", "120000"])


class CommandReplyTests(unittest.TestCase):
    def test_commands(self) -> None:
        """XADD with MAXLEN ~, the blocking XREAD, XRANGE."""
        self.assertEqual(sw.xadd_command("socket.io", [("uid", "u"), ("nsp", "/")], 10_000),
                         ["XADD", "socket.io", "MAXLEN", "~", "10000", "*", "uid", "u", "nsp", "/"])
        self.assertEqual(sw.xread_command("socket.io", "$"),
                         ["XREAD", "BLOCK", "5000", "COUNT", "100", "STREAMS", "socket.io", "$"])
        self.assertEqual(sw.xrange_command("s", sw.next_offset("17-9")), ["XRANGE", "s", "17-10", "+"])

    def test_offsets(self) -> None:
        """Only ^[0-9]+-[0-9]+$ is an offset."""
        for good in ["0-0", "1700000000000-12"]:
            self.assertTrue(sw.is_offset(good))
        for bad in ["", "1", "1-", "-1", "a-1", "1-1\n", "1-1 ", None, 5, "١-1"]:
            self.assertFalse(sw.is_offset(bad), bad)
        self.assertRaises(ValueError, sw.next_offset, "x")

    def test_replies(self) -> None:
        """XREAD and XRANGE replies parse into entries; nil is no entries."""
        entries = [[b"1-0", [b"uid", b"u", b"nsp", b"/", b"type", b"3"]], [b"1-1", [b"nsp", b"/"]]]
        self.assertEqual(sw.parse_xread_reply(None), [])
        got = sw.parse_xread_reply([[b"socket.io", entries]], "socket.io")
        self.assertEqual(got, [sw.StreamEntry("1-0", {"uid": "u", "nsp": "/", "type": "3"}),
                               sw.StreamEntry("1-1", {"nsp": "/"})])
        self.assertEqual(sw.parse_xread_reply([[b"other", entries]], "socket.io"), [])
        for bad in [5, [[b"s"]], [[b"s", [[b"x-1", []]]]], [[b"s", [[b"1-1"]]]], [[b"s", [[b"1-1", [b"a"]]]]]]:
            self.assertRaises(ProtocolError, sw.parse_xread_reply, bad)


class MissedPacketsTests(unittest.TestCase):
    def entry(self, entry_id: str, msg: sw.ClusterMessage) -> sw.StreamEntry:
        return sw.StreamEntry(entry_id, dict(sw.encode_entry(msg)))

    def test_missed(self) -> None:
        """Broadcasts of the namespace to the session's audience come back in
        order with their entry ids; other namespaces, other rooms, excepted,
        volatile, with-ack and non-broadcast entries do not."""
        B = BroadcastOptions
        entries = [
            self.entry("1-1", sw.broadcast_message("n", "/", ev("all"), B())),
            self.entry("1-2", sw.broadcast_message("n", "/other", ev("other-nsp", nsp="/other"), B())),
            self.entry("1-3", sw.broadcast_message("n", "/", ev("room"), B(frozenset({"r1"})))),
            self.entry("1-4", sw.broadcast_message("n", "/", ev("r2"), B(frozenset({"r2"})))),
            self.entry("1-5", sw.broadcast_message("n", "/", ev("not-me"), B(except_=frozenset({"s1"})))),
            self.entry("1-6", sw.broadcast_message("n", "/", ev("vol"), B(flags={"volatile": True}))),
            self.entry("1-7", sw.broadcast_message("n", "/", Packet(PacketType.EVENT, "/", ["ack"], 3),
                                                   B(frozenset({"s1"})))),
            self.entry("1-8", sw.sockets_join_message("n", "/", B(), ["x"])),
            sw.StreamEntry("1-9", {"nsp": "/", "type": "3", "data": "{broken"}),
            self.entry("2-0", sw.broadcast_message("n", "/", ev("direct", b"\x01"), B(frozenset({"s1"})))),
        ]
        got = sw.missed_packets(entries, "/", {"s1", "r1"})
        self.assertEqual([p.data for p in got], [["all", "1-1"], ["room", "1-3"], ["direct", b"\x01", "2-0"]])


# -- properties -----------------------------------------------------------------------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=15)
values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | texts | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=15)
rooms = st.frozensets(texts, max_size=3)


class PropertyTests(unittest.TestCase):
    @settings(max_examples=200, deadline=None)
    @given(texts, texts.filter(bool), texts, st.lists(values, max_size=4), rooms, rooms,
           st.sampled_from([{}, {"volatile": True}, {"compress": False}]))
    def test_broadcast_entry_round_trip(self, uid, nsp, name, args, to, except_, flags) -> None:
        """A broadcast written as a stream entry reads back as the same packet and options."""
        msg = sw.broadcast_message(uid, nsp, ev(name, *args, nsp=nsp), BroadcastOptions(to, except_, flags))
        fields = [v for pair in sw.encode_entry(msg) for v in (pair[0].encode(), pair[1].encode())]
        op = sw.read_operation(sw.decode_entry(fields))
        self.assertEqual((op.uid, op.nsp, op.packet, op.opts),
                         (uid, nsp, ev(name, *args, nsp=nsp), BroadcastOptions(to, except_, flags)))

    @settings(max_examples=200, deadline=None)
    @given(texts, texts, st.lists(texts, max_size=4), st.dictionaries(texts, values, max_size=4))
    def test_session_round_trip(self, sid, pid, session_rooms, data) -> None:
        """A session record reads back as written."""
        got = sw.decode_session(sw.encode_session(sid, pid, session_rooms, data))
        self.assertEqual(got, sw.SessionRecord(sid, pid, tuple(session_rooms), data))

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.binary(max_size=6) | texts, st.binary(max_size=60) | texts, max_size=5))
    def test_arbitrary_entries(self, fields) -> None:
        """Arbitrary entry fields raise only ProtocolError."""
        try:
            sw.read_operation(sw.decode_entry(fields))
        except ProtocolError:
            pass

    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from(list(range(0, 15))), values | json_values)
    def test_arbitrary_data(self, kind, data) -> None:
        """Arbitrary data of any type, as JSON, base64 or pub/sub MessagePack, raises only ProtocolError."""
        from txsocketio.adapters.redis_wire import dump_json, pack
        payloads = [{"nsp": "/", "type": str(kind), "data": dump_json(data).decode()},
                    {"nsp": "/", "type": str(kind), "data": base64.b64encode(pack(data)).decode()}]
        for fields in payloads:
            try:
                sw.read_operation(sw.decode_entry(fields))
            except ProtocolError:
                pass
        try:
            sw.read_operation(sw.decode_pubsub(pack({"type": kind, "nsp": "/", "data": data})))
        except ProtocolError:
            pass

    @settings(max_examples=200, deadline=None)
    @given(st.sampled_from(list(range(1, 14))),
           st.dictionaries(st.sampled_from(["packet", "opts", "rooms", "except", "flags", "close", "requestId",
                                            "sockets", "clientCount", "type", "data", "nsp", "id"]),
                           values, max_size=5),
           st.dictionaries(st.sampled_from(["type", "data", "nsp", "id", "rooms", "except", "flags"]),
                           values, max_size=4))
    def test_arbitrary_known_keys(self, kind, data, inner) -> None:
        """Data with the known keys holding arbitrary values (and a packet or
        opts map of arbitrary content) raises only ProtocolError."""
        for candidate in (data, {**data, "packet": inner}, {**data, "opts": inner}):
            try:
                sw.read_operation(sw.ClusterMessage("u", "/", kind, candidate))
            except ProtocolError:
                pass

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=80))
    def test_arbitrary_bytes(self, raw) -> None:
        """Arbitrary bytes as pub/sub payload, session or reply raise only ProtocolError."""
        for fn, arg in [(sw.decode_pubsub, raw), (sw.decode_session, raw),
                        (sw.decode_session, base64.b64encode(raw)), (sw.parse_xread_reply, [[b"s", [[raw, [raw]]]]])]:
            try:
                fn(arg)  # type: ignore[operator]
            except ProtocolError:
                pass


class PurityTests(unittest.TestCase):
    def test_no_io_imports(self) -> None:
        """streams_wire imports nothing from twisted.internet, twisted.web or autobahn."""
        code = ("import sys, txsocketio.adapters.streams_wire; print(','.join(sorted(m for m in sys.modules "
                "if m.startswith(('twisted.internet', 'twisted.web', 'autobahn')))))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        self.assertEqual(out.strip(), "")
