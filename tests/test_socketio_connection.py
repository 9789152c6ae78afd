"""Tests for L{txsocketio.socketio.connection}: the pure Socket.IO connection.

No reactor, no clock, no Engine.IO: messages go in as the strings and bytes
Engine.IO would deliver, the time is a plain number, and the packets the
machine answers with are compared as values.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txsocketio.errors import ProtocolError
from txsocketio.socketio.connection import (
    AckReceived,
    ConnectIgnored,
    ConnectRequested,
    ConnectTimedOut,
    Connection,
    EventReceived,
    NamespaceLeft,
    NamespaceState,
    ProtocolViolated,
    rules_for,
)
from txsocketio.socketio.packet import Packet, PacketType, encode


def v5(now: float = 0.0, timeout: float = 45.0) -> Connection:
    """A Socket.IO v5 connection (Engine.IO 4) started at C{now}."""
    conn = Connection(4, "eio-sid", connect_timeout=timeout, new_id=lambda: "fresh-id")
    conn.start(now)
    return conn


def v4(now: float = 0.0) -> tuple[Connection, list[object]]:
    """A Socket.IO v4 connection (Engine.IO 3) and the events of its start."""
    conn = Connection(3, "eio-sid", connect_timeout=45.0)
    return conn, conn.start(now)


def joined(conn: Connection, nsp: str = "/") -> Connection:
    """C{conn} with C{nsp} connected."""
    if not conn.is_connecting(nsp):
        conn.receive("0" if nsp == "/" else f"0{nsp},")
    conn.accept(nsp, conn.socket_id(nsp))
    return conn


class ConnectTests(SynchronousTestCase):
    """CONNECT packets, per namespace and per version."""

    def test_v5_connect_with_auth(self) -> None:
        """A v5 CONNECT raises ConnectRequested with the payload as auth; nothing is joined yet."""
        conn = v5()
        self.assertEqual(conn.receive('0{"token":"x"}'), [ConnectRequested("/", {"token": "x"}, None)])
        self.assertTrue(conn.is_connecting("/"))
        self.assertEqual(conn.connected_namespaces(), [])

    def test_v5_accept_replies_with_sid(self) -> None:
        """accept() moves the namespace to CONNECTED and returns 40{"sid":...}."""
        conn = v5()
        conn.receive("0/chat,")
        reply = conn.accept("/chat", "s1")
        self.assertEqual(reply, Packet(PacketType.CONNECT, "/chat", {"sid": "s1"}))
        self.assertEqual(encode(reply), ['0/chat,{"sid":"s1"}'])
        self.assertEqual(conn.namespaces, {"/chat": NamespaceState.CONNECTED})

    def test_v5_query_is_part_of_the_name(self) -> None:
        """v5 has no query in CONNECT: as Node, "/nsp?x=1" is the whole name."""
        conn = v5()
        self.assertEqual(conn.receive("0/nsp?x=1,"), [ConnectRequested("/nsp?x=1", {}, None)])

    def test_v5_non_object_auth(self) -> None:
        """A CONNECT payload that is not an object is a protocol violation."""
        conn = v5()
        [event] = conn.receive('0"str"')
        self.assertIsInstance(event, ProtocolViolated)
        self.assertTrue(conn.closed)

    def test_v4_joins_root_at_once(self) -> None:
        """v4 (EIO 3): start() asks for / without a CONNECT; the reply has no payload."""
        conn, events = v4()
        self.assertEqual(events, [ConnectRequested("/", {}, None)])
        self.assertEqual(encode(conn.accept("/", conn.socket_id("/"))), ["0"])

    def test_v4_auth_from_query(self) -> None:
        """v4 sends its auth as the namespace's query string."""
        conn, _ = v4()
        self.assertEqual(conn.receive("0/nsp?token=x&a=,"),
                         [ConnectRequested("/nsp", {"token": "x", "a": ""}, "token=x&a=")])

    def test_socket_ids(self) -> None:
        """v4: the Engine.IO sid in /, <nsp>#<sid> elsewhere; v5: a new id each time."""
        conn, _ = v4()
        self.assertEqual((conn.socket_id("/"), conn.socket_id("/a")), ("eio-sid", "/a#eio-sid"))
        ids = iter(["one", "two"])
        conn = Connection(4, "eio-sid", connect_timeout=1, new_id=lambda: next(ids))
        self.assertEqual((conn.socket_id("/"), conn.socket_id("/")), ("one", "two"))

    def test_default_ids_are_random(self) -> None:
        """Without new_id, v5 ids are 20 URL-safe characters, never the same."""
        conn = Connection(4, "eio-sid", connect_timeout=1)
        a, b = conn.socket_id("/"), conn.socket_id("/")
        self.assertEqual(len(a), 20)
        self.assertNotEqual(a, b)

    def test_second_connect_ignored(self) -> None:
        """A CONNECT to a namespace connecting or connected is ignored."""
        conn = v5()
        conn.receive("0")
        self.assertEqual(conn.receive("0"), [ConnectIgnored("/")])
        conn.accept("/", "s")
        self.assertEqual(conn.receive("0"), [ConnectIgnored("/")])

    def test_refusals(self) -> None:
        """refuse() forgets the namespace and returns the version's CONNECT_ERROR."""
        conn = v5()
        conn.receive("0/a,")
        self.assertEqual(encode(conn.refuse("/a", "no", {"why": 1})),
                         ['4/a,{"message":"no","data":{"why":1}}'])
        self.assertEqual(conn.namespaces, {})
        conn.receive("0/a,")
        self.assertEqual(encode(conn.refuse("/a", "no")), ['4/a,{"message":"no"}'])

    def test_v4_refusal_is_data_or_message(self) -> None:
        """v4: Node's err.data || err.message (JS truthiness; only an object or string)."""
        rules = rules_for(3)
        self.assertEqual(rules.connect_error("/", "m", {"a": 1}).data, {"a": 1})
        self.assertEqual(rules.connect_error("/", "m", {}).data, {})
        self.assertEqual(rules.connect_error("/", "m", 0).data, "m")
        self.assertEqual(rules.connect_error("/", "m", "").data, "m")
        self.assertEqual(rules.connect_error("/", "m", [1]).data, "m")
        self.assertEqual(rules.connect_error("/", "m", None).data, "m")

    def test_invalid_namespace(self) -> None:
        """An unknown namespace: exactly {"message":"Invalid namespace"}; the connection stays open."""
        conn = v5()
        conn.receive("0/nope,")
        self.assertEqual(encode(conn.reject_namespace("/nope")), ['4/nope,{"message":"Invalid namespace"}'])
        self.assertFalse(conn.closed)
        self.assertEqual(conn.receive("0/nope,"), [ConnectRequested("/nope", {}, None)])

    def test_abandon(self) -> None:
        """abandon() forgets a connecting namespace, but not a connected one."""
        conn = v5()
        conn.receive("0")
        conn.abandon("/")
        self.assertEqual(conn.namespaces, {})
        joined(conn)
        conn.abandon("/")
        self.assertEqual(conn.connected_namespaces(), ["/"])

    def test_accept_needs_connecting(self) -> None:
        """Accepting a namespace nobody asked for is the caller's error (ValueError)."""
        self.assertRaises(ValueError, v5().accept, "/", "s")

    def test_unknown_version(self) -> None:
        """No Socket.IO runs on Engine.IO v2."""
        self.assertRaises(ValueError, Connection, 2, "s", connect_timeout=1)


class TrafficTests(SynchronousTestCase):
    """Events, acks and disconnects on joined namespaces."""

    def test_event(self) -> None:
        """An EVENT on a joined namespace is raised with its arguments and ack id."""
        conn = joined(v5(), "/chat")
        self.assertEqual(conn.receive('2/chat,7["say","hi",1]'), [EventReceived("/chat", "say", ["hi", 1], 7)])
        self.assertEqual(conn.receive('2/chat,["say"]'), [EventReceived("/chat", "say", [], None)])

    def test_binary_event(self) -> None:
        """A BINARY_EVENT is raised once its attachments are in."""
        conn = joined(v5())
        self.assertEqual(conn.receive('51-["up",{"_placeholder":true,"num":0}]'), [])
        self.assertTrue(conn.decoder.awaiting_attachments)
        self.assertEqual(conn.receive(b"\x01\x02"), [EventReceived("/", "up", [b"\x01\x02"], None)])

    def test_ack_received(self) -> None:
        """An ACK from the client is raised with its id and arguments."""
        conn = joined(v5())
        self.assertEqual(conn.receive('33[1,"a"]'), [AckReceived("/", 3, [1, "a"])])

    def test_answering_an_ack(self) -> None:
        """ack() builds the ACK while the namespace is connected, None after."""
        conn = joined(v5(), "/a")
        self.assertEqual(encode(conn.ack("/a", 4, ["ok"])), ['3/a,4["ok"]'])
        conn.leave("/a")
        self.assertIsNone(conn.ack("/a", 4, ["ok"]))

    def test_client_disconnect(self) -> None:
        """DISCONNECT leaves that namespace only; the others and the connection stay."""
        conn = joined(joined(v5()), "/b")
        self.assertEqual(conn.receive("1/b,"), [NamespaceLeft("/b")])
        self.assertEqual(conn.connected_namespaces(), ["/"])
        self.assertFalse(conn.closed)

    def test_server_disconnect(self) -> None:
        """disconnect() returns the DISCONNECT packet and forgets the namespace."""
        conn = joined(v5(), "/b")
        self.assertEqual(encode(conn.disconnect("/b")), ["1/b,"])
        self.assertEqual(conn.namespaces, {})


class ViolationTests(SynchronousTestCase):
    """What closes the connection with "parse error"."""

    def assertViolation(self, conn: Connection, message: str | bytes) -> None:
        events = conn.receive(message)
        self.assertEqual(len(events), 1)
        self.assertIsInstance(events[0], ProtocolViolated)
        self.assertTrue(conn.closed)
        self.assertEqual(conn.receive("0"), [])

    def test_not_joined(self) -> None:
        """An event for a namespace the client has not joined (or is still joining)."""
        self.assertViolation(v5(), '2["x"]')
        conn = v5()
        conn.receive("0")
        self.assertViolation(conn, '2["x"]')

    def test_malformed(self) -> None:
        """Undecodable messages: unknown type, EVENT payload not an array, bad ack id."""
        for bad in ["9", "abc", '2{}', '2abc["x"]']:
            self.assertViolation(joined(v5()), bad)

    def test_too_deep_says_why(self) -> None:
        """A payload nested deeper than max_depth closes the connection with a
        CONNECT_ERROR for its namespace naming the limit."""
        conn = joined(Connection(4, "eio-sid", connect_timeout=45.0, max_depth=3, new_id=lambda: "i"))
        [event] = conn.receive('2["echo",[[["deep"]]]]')
        self.assertIsInstance(event, ProtocolViolated)
        self.assertIn("max_json_depth", event.problem)
        self.assertEqual(event.refusal, Packet(PacketType.CONNECT_ERROR, "/", {
            "message": "JSON payload nests deeper than 3 levels (max_json_depth)"}))
        self.assertTrue(conn.closed)

    def test_within_depth(self) -> None:
        """A payload exactly at the limit is an ordinary event; other violations carry no refusal."""
        conn = joined(Connection(4, "eio-sid", connect_timeout=45.0, max_depth=3, new_id=lambda: "i"))
        [event] = conn.receive('2["echo",[["ok"]]]')
        self.assertIsInstance(event, EventReceived)
        [violation] = conn.receive("9")
        self.assertIsNone(violation.refusal)

    def test_client_may_not_send_connect_error(self) -> None:
        """CONNECT_ERROR is for servers to send."""
        self.assertViolation(joined(v5()), '4{"message":"x"}')


class TimeoutTests(SynchronousTestCase):
    """The connect timeout: time in, deadline out."""

    def test_deadline(self) -> None:
        """start(now) sets the deadline now + connect_timeout; before it nothing happens."""
        conn = v5(now=100.0, timeout=5.0)
        self.assertEqual(conn.next_deadline(), 105.0)
        self.assertEqual(conn.handle_timer(104.9), [])
        self.assertEqual(conn.handle_timer(105.0), [ConnectTimedOut()])
        self.assertIsNone(conn.next_deadline())

    def test_connecting_does_not_count(self) -> None:
        """A namespace still connecting does not stop the timeout (as Node)."""
        conn = v5(timeout=5.0)
        conn.receive("0")
        self.assertEqual(conn.handle_timer(5.0), [ConnectTimedOut()])

    def test_accept_clears_it(self) -> None:
        """The first accepted namespace clears the deadline."""
        conn = joined(v5(timeout=5.0))
        self.assertIsNone(conn.next_deadline())
        self.assertEqual(conn.handle_timer(50.0), [])

    def test_closed_has_no_deadline(self) -> None:
        """A closed connection asks for no timer."""
        conn = v5()
        conn.close()
        self.assertIsNone(conn.next_deadline())
        self.assertEqual(conn.handle_timer(1000.0), [])


_messages = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=20),
    st.sampled_from(["0", "0/a,", '2["e",1]', '2/a,1["x"]', "1", "3[1]", '51-["b",{"_placeholder":true,"num":0}]',
                     "1/a,", "3", "4", "5", "6", '2["connect"]', '0{"k":1}']),
)


class PropertyTests(SynchronousTestCase):
    """Whatever a client sends, the machine answers with its own events only."""

    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from([3, 4]), st.lists(_messages, max_size=12))
    def test_arbitrary_input(self, eio: int, messages: list[str | bytes]) -> None:
        """Arbitrary messages never raise (a ProtocolError becomes ProtocolViolated),
        events only name namespaces the client asked for, and after a violation
        the connection is closed and silent."""
        conn = Connection(eio, "sid", connect_timeout=1)
        asked: set[str] = set()
        for event in conn.start(0.0):
            asked.add(event.namespace)
        for message in messages:
            try:
                events = conn.receive(message)
            except ProtocolError:  # pragma: no cover - the property
                self.fail("ProtocolError escaped")
            for event in events:
                if isinstance(event, ConnectRequested):
                    asked.add(event.namespace)
                    conn.accept(event.namespace, conn.socket_id(event.namespace))
                elif isinstance(event, (EventReceived, AckReceived, NamespaceLeft)):
                    self.assertIn(event.namespace, asked)
                elif isinstance(event, ProtocolViolated):
                    self.assertTrue(conn.closed)
            if conn.closed:
                self.assertEqual(conn.receive('2["x"]'), [])
                self.assertIsNone(conn.next_deadline())
