"""The Socket.IO server in memory: the connect flow and its wire bytes,
namespaces (static, class-based, dynamic), connection middlewares, protocol
errors, disconnect reasons, the connect timeout, close/shutdown and
configure().

Clients are L{txsocketio.testing.TestClient}s speaking Socket.IO v5
(C{protocol=4}, socket.io-client 3.x/4.x) or v4 (C{protocol=3}, 2.x); time
is a L{Clock}.
"""

from __future__ import annotations

import json
import re
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from txsocketio import AckTimeout, ConnectionRefused, Namespace, SocketDisconnected, SocketIOServer
from txsocketio.adapters.memory import MemoryAdapter
from txsocketio.engineio.handshake import Handshake
from txsocketio.testing import TestClient

from tests.socketio_support import SOCKET_ID, ServerTestCase, connect_reply


def _handshake() -> Handshake:
    from types import MappingProxyType

    return Handshake(headers=MappingProxyType({}), query=MappingProxyType({}), address="10.0.0.1",
                     url="/socket.io/?EIO=4&transport=polling", secure=False, issued=0,
                     time="", xdomain=False, environ=MappingProxyType({}))


# -- the connect flow on the wire --------------------------------------------------------


class ConnectWireV4Tests(ServerTestCase):
    """CONNECT replies and refusals as a socket.io-client 3.x/4.x sees them."""

    def test_main_namespace_reply(self) -> None:
        """C{40} is answered with exactly C{40{"sid":"<id>"}}; the id is a new
        20-character URL-safe id, not the Engine.IO sid."""
        client = self.client()
        [reply] = self.wire(client)
        sid = client.sids["/"]
        self.assertEqual(reply, '40{"sid":"%s"}' % sid)
        self.assertRegex(sid, SOCKET_ID)
        self.assertNotEqual(sid, client.connection.sid)
        self.assertEqual(self.wire_sent(client), ["40"])

    def test_custom_namespace_reply(self) -> None:
        """C{40/chat,} is answered with C{40/chat,{"sid":"<id>"}}."""
        self.sio.of("/chat")
        client = self.client("/chat")
        [reply] = self.wire(client)
        self.assertEqual(reply, '40/chat,{"sid":"%s"}' % client.sids["/chat"])
        self.assertRegex(client.sids["/chat"], SOCKET_ID)
        self.assertNotIn("/", client.sids, "v5 clients are not put in / without asking")

    def test_namespace_without_trailing_comma(self) -> None:
        """C{40/chat} (no comma, as some clients write it) joins /chat."""
        self.sio.of("/chat")
        client = self.client(connect=False)
        self.send_frame(client, "40/chat")
        self.assertEqual(connect_reply(self.wire(client)[-1])[0], "/chat,")
        self.assertTrue(client.is_connected("/chat"))

    def test_every_socket_id_differs(self) -> None:
        """Two namespaces of one connection, and two connections, get different ids."""
        self.sio.of("/chat")
        one = self.client()
        one.connect("/chat")
        two = self.client()
        ids = {one.sids["/"], one.sids["/chat"], two.sids["/"]}
        self.assertEqual(len(ids), 3)

    def test_invalid_namespace(self) -> None:
        """An unknown namespace gets exactly C{44/nope,{"message":"Invalid namespace"}}
        and the connection stays usable."""
        client = self.client()
        client.connect("/nope")
        self.assertEqual(self.wire(client)[-1], '44/nope,{"message":"Invalid namespace"}')
        self.assertEqual(client.connect_errors, {"/nope": {"message": "Invalid namespace"}})
        self.assertFalse(client.connection.closed)
        self.sio.on("ping", lambda socket: "pong")
        self.assertEqual(self.successResultOf(client.emit_with_ack("ping")), ["pong"])

    def test_query_in_connect_is_part_of_the_name(self) -> None:
        """v5 has no query in CONNECT: C{40/chat?x=1,} asks for the namespace
        "/chat?x=1", which is unknown (as in Node), even though /chat exists."""
        self.sio.of("/chat")
        client = self.client()
        client.send_raw("0/chat?x=1,")
        self.assertEqual(self.wire(client)[-1], '44/chat?x=1,{"message":"Invalid namespace"}')
        self.assertNotIn("/chat", client.sids)

    def test_refusal_with_message_and_data(self) -> None:
        """ConnectionRefused(message, data) in a connect handler is sent as
        C{44{"message":…,"data":…}}; the connection stays open."""
        @self.sio.on("connect")
        def connect(socket: Any, auth: Any) -> None:
            raise ConnectionRefused("not authorized", {"code": 401, "retry": False})

        client = self.client()
        self.assertEqual(self.wire(client),
                         ['44{"message":"not authorized","data":{"code":401,"retry":false}}'])
        self.assertFalse(client.connection.closed)
        self.assertEqual(self.sio.of("/").sockets, {})

    def test_refusal_without_data(self) -> None:
        """Without data the payload is C{{"message":…}} only."""
        self.sio.of("/chat").use(lambda socket: (_ for _ in ()).throw(ConnectionRefused("go away")))
        client = self.client("/chat")
        self.assertEqual(self.wire(client), ['44/chat,{"message":"go away"}'])

    def test_emits_from_connect_handler_follow_the_reply(self) -> None:
        """Events emitted by the connect handler go out right after the CONNECT reply."""
        @self.sio.on("connect")
        def connect(socket: Any, auth: Any) -> None:
            socket.emit("auth", auth)
            socket.emit("second", 2)

        client = self.client(auth={"token": "x"})
        self.assertEqual(self.wire(client), [
            '40{"sid":"%s"}' % client.sids["/"],
            '42["auth",{"token":"x"}]',
            '42["second",2]',
        ])

    def test_emits_from_async_connect_handler_follow_the_reply(self) -> None:
        """With a connect handler that waits, the reply comes when it finishes,
        still before what it emitted."""
        gate: Deferred[None] = Deferred()

        @self.sio.on("connect")
        async def connect(socket: Any, auth: Any) -> None:
            socket.emit("early")
            await gate
            socket.emit("late")

        client = self.client()
        self.assertEqual(self.wire(client), [])
        self.assertFalse(client.is_connected())
        gate.callback(None)
        self.assertEqual(self.wire(client)[1:], ['42["early"]', '42["late"]'])
        self.assertEqual(connect_reply(self.wire(client)[0])[1], {"sid": client.sids["/"]})

    def test_server_disconnect_wire(self) -> None:
        """socket.disconnect() sends C{41/chat,}; the connection and / stay up."""
        self.sio.of("/chat")
        client = self.client()
        client.connect("/chat")
        self.socket_of(client, "/chat").disconnect()
        self.assertEqual(self.wire(client)[-1], "41/chat,")
        self.assertEqual(client.disconnected, {"/chat": "io server disconnect"})
        self.assertFalse(client.connection.closed)
        self.assertTrue(client.is_connected("/"))

    def test_server_disconnect_close_wire(self) -> None:
        """disconnect(close=True) says goodbye to every namespace (C{41}, C{41/chat,})
        then closes the Engine.IO session."""
        self.sio.of("/chat")
        client = self.client()
        client.connect("/chat")
        del client.raw_received[:]
        self.socket_of(client, "/chat").disconnect(close=True)
        self.assertEqual(sorted(self.wire(client)), ["41", "41/chat,"])
        self.assertTrue(client.connection.closed)
        self.assertEqual(client.connection.close_reason, "forced close")
        self.assertNoLeaks("/", "/chat")

    def test_binary_event_wire(self) -> None:
        """Bytes go out as C{451-[…placeholder…]} followed by the raw attachment."""
        client = self.client()
        del client.raw_received[:]
        self.socket_of(client).emit("file", {"name": "a", "data": b"\x00\x01"})
        self.assertEqual(self.wire(client), [
            '451-["file",{"name":"a","data":{"_placeholder":true,"num":0}}]', b"\x00\x01"])
        self.assertEqual(client.pop_received(), [("file", [{"name": "a", "data": b"\x00\x01"}])])

    def test_ack_wire(self) -> None:
        """C{421["echo",1,"x"]} is answered C{431[1,"x"]}, and in a namespace
        C{42/chat,7[…]} with C{43/chat,7[…]}."""
        self.sio.on("echo", lambda socket, *args: args)
        self.sio.on("echo", lambda socket, *args: args, namespace="/chat")
        client = self.client()
        client.connect("/chat")
        self.send_frame(client, '421["echo",1,"x"]')
        self.assertEqual(self.wire(client)[-1], '431[1,"x"]')
        self.send_frame(client, '42/chat,7["echo",{"a":[true]}]')
        self.assertEqual(self.wire(client)[-1], '43/chat,7[{"a":[true]}]')

    def test_binary_ack_wire(self) -> None:
        """An ack holding bytes is a BINARY_ACK: C{461-12[…]} and the attachment."""
        self.sio.on("blob", lambda socket: b"\xff")
        client = self.client()
        self.send_frame(client, '4212["blob"]')
        self.assertEqual(self.wire(client)[-2:], ['461-12[{"_placeholder":true,"num":0}]', b"\xff"])

    def test_binary_event_from_client(self) -> None:
        """A BINARY_EVENT from the client reaches the handler with bytes in place."""
        got: list[Any] = []
        self.sio.on("up", lambda socket, *args: got.extend(args))
        client = self.client()
        self.send_frame(client, '451-["up",{"_placeholder":true,"num":0},2]')
        self.assertEqual(got, [])
        self.send_frame(client, b"\x01\x02")
        self.assertEqual(got, [b"\x01\x02", 2])


class ConnectWireV3Tests(ServerTestCase):
    """The same for socket.io-client 2.x (Socket.IO v4 over Engine.IO 3)."""

    protocol = 3

    def test_main_namespace_joined_without_asking(self) -> None:
        """The server sends C{40} at once; the socket id in / is the Engine.IO sid."""
        client = self.client()
        self.assertEqual(self.wire(client), ["40"])
        self.assertEqual(self.wire_sent(client), [])
        self.assertEqual(client.sids, {"/": client.connection.sid})
        self.assertEqual(list(self.sio.of("/").sockets), [client.connection.sid])

    def test_custom_namespace(self) -> None:
        """C{40/chat,} is answered C{40/chat,} (no payload); the id is C{/chat#<sid>}."""
        self.sio.of("/chat")
        client = self.client("/chat")
        self.assertEqual(self.wire_sent(client), ["40/chat,"])
        self.assertEqual(self.wire(client), ["40", "40/chat,"])
        self.assertEqual(client.sids["/chat"], "/chat#" + client.connection.sid)
        self.assertIn("/chat#" + client.connection.sid, self.sio.of("/chat").sockets)

    def test_auth_travels_in_the_query(self) -> None:
        """A 2.x client's C{40/chat?token=x,} gives auth C{{"token": "x"}} (as Node)
        and the value is in the handshake's query too."""
        seen: list[Any] = []

        @self.sio.on("connect", namespace="/chat")
        def connect(socket: Any, auth: Any) -> None:
            seen.append((auth, dict(socket.handshake.query)))

        client = self.client("/chat", auth={"token": "x"}, query={"EIO": "3"})
        self.assertEqual(self.wire_sent(client), ["40/chat?token=x,"])
        self.assertEqual(seen, [({"token": "x"}, {"EIO": "3", "transport": "polling", "token": "x"})])

    def test_invalid_namespace(self) -> None:
        """Node sends the object form of "Invalid namespace" to 2.x clients too."""
        client = self.client()
        client.connect("/nope")
        self.assertEqual(self.wire(client)[-1], '44/nope,{"message":"Invalid namespace"}')
        self.assertTrue(client.is_connected("/"))

    def test_refusal_sends_data_or_message(self) -> None:
        """Refusals follow Node's C{err.data || err.message} for 2.x clients."""
        self.sio.of("/a").use(lambda s: (_ for _ in ()).throw(ConnectionRefused("no", {"why": 1})))
        self.sio.of("/b").use(lambda s: (_ for _ in ()).throw(ConnectionRefused("no")))
        client = self.client()
        client.connect("/a")
        client.connect("/b")
        self.assertEqual(self.wire(client)[-2:], ['44/a,{"why":1}', '44/b,"no"'])

    def test_main_namespace_refused(self) -> None:
        """A refusal in / is sent right after the Engine.IO open; the session stays."""
        self.sio.use(lambda s: (_ for _ in ()).throw(ConnectionRefused("closed")))
        client = self.client()
        self.assertEqual(self.wire(client), ['44"closed"'])
        self.assertEqual(client.sids, {})
        self.assertFalse(client.connection.closed)

    def test_connect_handler_emits_follow_the_reply(self) -> None:
        """Events from the connect handler of / come after the unprompted C{40}."""
        self.sio.on("connect", lambda socket: socket.emit("hello", "v4"))
        client = self.client()
        self.assertEqual(self.wire(client), ["40", '42["hello","v4"]'])

    def test_server_disconnect_wire(self) -> None:
        """C{41/chat,} as for v5 clients."""
        self.sio.of("/chat")
        client = self.client("/chat")
        self.socket_of(client, "/chat").disconnect()
        self.assertEqual(self.wire(client)[-1], "41/chat,")
        self.assertTrue(client.is_connected("/"))


# -- connect handlers, middlewares, handshake ---------------------------------------------


class ConnectFlowTestsMixin:
    """The connect flow, for both protocol versions."""

    protocol: int
    sio: SocketIOServer

    def test_auth_is_empty_dict_without_auth(self) -> None:
        """A client that sends no auth gets C{{}} as auth, never None."""
        seen: list[Any] = []
        self.sio.on("connect", lambda socket, auth: seen.append((auth, socket.handshake.auth)))
        self.client()
        self.assertEqual(seen, [({}, {})])

    def test_connect_handler_without_auth_parameter(self) -> None:
        """A connect handler taking only the socket is called without auth."""
        seen: list[Any] = []
        self.sio.on("connect", lambda socket: seen.append(socket.id))
        client = self.client()
        self.assertEqual(seen, [client.sids["/"]])

    def test_connect_handler_returning_deferred(self) -> None:
        """The CONNECT reply waits for a Deferred from the connect handler."""
        gate: Deferred[None] = Deferred()
        self.sio.on("connect", lambda socket: gate)
        client = self.client()
        self.assertFalse(client.is_connected())
        gate.callback(None)
        self.assertTrue(client.is_connected())

    def test_connect_handler_failing_deferred_refuses(self) -> None:
        """A Deferred failing with ConnectionRefused refuses the client."""
        gate: Deferred[None] = Deferred()
        self.sio.on("connect", lambda socket: gate)
        client = self.client()
        gate.errback(ConnectionRefused("later no"))
        self.assertEqual(client.connect_errors["/"], "later no" if self.protocol == 3
                         else {"message": "later no"})
        self.assertEqual(self.sio.of("/").sockets, {})

    def test_connect_handler_crash_refuses_and_logs(self) -> None:
        """Any other exception refuses with "Internal server error" and is logged
        with its traceback; the connection stays."""
        def connect(socket: Any) -> None:
            1 / 0

        self.sio.on("connect", connect)
        client = self.client()
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        expected = "Internal server error" if self.protocol == 3 else {"message": "Internal server error"}
        self.assertEqual(client.connect_errors["/"], expected)
        self.assertFalse(client.connection.closed)

    def test_refused_client_gets_no_disconnect_handler(self) -> None:
        """A refused socket never connected: its disconnect handler is not called
        and it leaves nothing behind (rooms joined in the handler included)."""
        calls: list[str] = []

        @self.sio.on("connect")
        def connect(socket: Any) -> None:
            socket.join("room")
            raise ConnectionRefused("no")

        self.sio.on("disconnect", lambda socket, reason: calls.append(reason))
        client = self.client()
        self.assertEqual(calls, [])
        self.assertEqual(self.sio.of("/").adapter.rooms, {})
        client.close()
        self.assertNoLeaks()

    def test_disconnect_from_connect_handler(self) -> None:
        """socket.disconnect() in the connect handler: CONNECT, then DISCONNECT."""
        reasons: list[str] = []
        self.sio.on("connect", lambda socket: socket.disconnect())
        self.sio.on("disconnect", lambda socket, reason: reasons.append(reason))
        client = self.client()
        self.assertEqual(self.wire(client)[-1], "41")
        self.assertTrue(self.wire(client)[-2].startswith("40"))
        self.assertEqual(reasons, ["server namespace disconnect"])
        self.assertFalse(client.connection.closed)

    def test_middlewares_run_in_order(self) -> None:
        """Namespace middlewares run in registration order, before the connect handler."""
        order: list[str] = []
        self.sio.use(lambda socket: order.append("first"))
        self.sio.use(lambda socket: order.append("second"))
        self.sio.on("connect", lambda socket: order.append("connect"))
        self.client()
        self.assertEqual(order, ["first", "second", "connect"])

    def test_async_middleware(self) -> None:
        """A middleware returning a Deferred (or a coroutine) is waited for before the next."""
        order: list[str] = []
        gate: Deferred[None] = Deferred()

        def first(socket: Any) -> Deferred[None]:
            order.append("first")
            return gate

        async def second(socket: Any) -> None:
            order.append("second")
            socket.data["user"] = await succeed("alice")

        self.sio.use(first)
        self.sio.use(second)
        self.sio.on("connect", lambda socket: order.append(socket.data["user"]))
        client = self.client()
        self.assertEqual(order, ["first"])
        self.assertFalse(client.is_connected())
        gate.callback(None)
        self.assertEqual(order, ["first", "second", "alice"])
        self.assertTrue(client.is_connected())

    def test_async_middleware_refusal_with_data(self) -> None:
        """A coroutine middleware raising ConnectionRefused(message, data) refuses;
        later middlewares and the connect handler do not run."""
        ran: list[str] = []

        async def check(socket: Any) -> None:
            raise ConnectionRefused("bad token", {"token": socket.handshake.auth.get("token")})

        self.sio.use(check)
        self.sio.use(lambda socket: ran.append("later"))
        self.sio.on("connect", lambda socket: ran.append("connect"))
        client = self.client()
        self.assertEqual(ran, [])
        if self.protocol == 4:
            self.assertEqual(client.connect_errors["/"], {"message": "bad token", "data": {"token": None}})
        else:
            self.assertEqual(client.connect_errors["/"], {"token": None})

    def test_middleware_crash_refuses_and_logs(self) -> None:
        """A middleware raising something else refuses with "Internal server error"."""
        self.sio.use(lambda socket: {}["missing"])
        client = self.client()
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.assertIn("/", client.connect_errors)

    def test_middleware_emits_after_reply(self) -> None:
        """What a middleware emits is delivered after the CONNECT reply."""
        self.sio.use(lambda socket: socket.emit("from-middleware"))
        client = self.client()
        self.assertTrue(self.wire(client)[0].startswith("40"))
        self.assertEqual(self.wire(client)[1], '42["from-middleware"]')

    def test_client_gone_during_async_middleware(self) -> None:
        """A client that leaves while a middleware waits is never admitted and
        leaves no trace (rooms joined by the middleware included)."""
        gate: Deferred[None] = Deferred()

        def slow(socket: Any) -> Deferred[None]:
            socket.join("vip")
            return gate

        connected: list[Any] = []
        self.sio.use(slow)
        self.sio.on("connect", connected.append)
        client = self.client()
        client.close()
        gate.callback(None)
        self.assertEqual(connected, [])
        self.assertNoLeaks()

    def test_client_gone_during_async_connect_handler(self) -> None:
        """A client that leaves while the connect handler waits: nothing is sent,
        no disconnect handler runs, nothing is left."""
        gate: Deferred[None] = Deferred()
        disconnects: list[str] = []
        self.sio.on("connect", lambda socket: gate)
        self.sio.on("disconnect", lambda socket, reason: disconnects.append(reason))
        client = self.client()
        sent = list(client.raw_received)
        client.close()
        gate.callback(None)
        self.assertEqual(client.raw_received, sent)
        self.assertEqual(disconnects, [])
        self.assertNoLeaks()

    def test_second_connect_ignored(self) -> None:
        """A second CONNECT to a namespace already joined is ignored."""
        self.sio.of("/chat")
        client = self.client("/chat")
        sid = client.sids["/chat"]
        count = len(client.raw_received)
        client.connect("/chat")
        self.assertEqual(len(client.raw_received), count)
        self.assertEqual(list(self.sio.of("/chat").sockets), [sid])

    def test_handshake(self) -> None:
        """socket.handshake has the request's headers, query, address, time,
        url, secure flag, auth, cookies and a WSGI-style environ."""
        self.sio.of("/chat")
        client = self.client(headers={"User-Agent": "test", "Cookie": "a=1; b=2"},
                             query={"room": "x"}, address="192.0.2.7", auth={"k": "v"})
        client.connect("/chat", auth={"k": "v"})
        handshake = self.socket_of(client, "/chat").handshake
        self.assertEqual(handshake.headers["user-agent"], "test")
        self.assertEqual(handshake.query["room"], "x")
        self.assertEqual(handshake.address, "192.0.2.7")
        self.assertIn("GMT", handshake.time)
        self.assertIsInstance(handshake.issued, int)
        self.assertTrue(handshake.url.startswith("/socket.io/?"))
        self.assertFalse(handshake.secure)
        self.assertEqual(dict(handshake.auth), {"k": "v"})
        self.assertEqual(handshake.cookies, {"a": "1", "b": "2"})
        self.assertEqual(handshake.environ["HTTP_USER_AGENT"], "test")
        self.assertEqual(handshake.environ["REMOTE_ADDR"], "192.0.2.7")
        self.assertEqual(handshake.environ["QUERY_STRING"], f"room=x&EIO={self.protocol}&transport=polling")

    def test_socket_basics(self) -> None:
        """A socket has its id, namespace, an empty data dict, and is in the
        room named by its id."""
        self.sio.of("/chat")
        client = self.client("/chat")
        socket = self.socket_of(client, "/chat")
        self.assertEqual(socket.id, client.sids["/chat"])
        self.assertEqual(socket.namespace, "/chat")
        self.assertEqual(socket.data, {})
        self.assertEqual(socket.rooms, {socket.id})
        self.assertTrue(socket.connected)
        self.assertEqual(socket.transport, "polling")

    def test_namespace_disconnect_keeps_session(self) -> None:
        """A client's DISCONNECT for one namespace ends only that one, with the
        reason "client namespace disconnect"."""
        reasons: list[str] = []
        self.sio.on("disconnect", lambda socket, reason: reasons.append(reason), namespace="/chat")
        self.sio.on("ping", lambda socket: "pong")
        client = self.client()
        client.connect("/chat")
        client.disconnect("/chat")
        self.assertEqual(reasons, ["client namespace disconnect"])
        self.assertFalse(client.connection.closed)
        self.assertEqual(self.sio.of("/chat").sockets, {})
        self.assertEqual(self.successResultOf(client.emit_with_ack("ping")), ["pong"])
        client.connect("/chat")
        self.assertTrue(client.is_connected("/chat"))


class ConnectFlowV4Tests(ConnectFlowTestsMixin, ServerTestCase):
    protocol = 4


class ConnectFlowV3Tests(ConnectFlowTestsMixin, ServerTestCase):
    protocol = 3


# -- class-based namespaces -----------------------------------------------------------


class Chat(Namespace):
    log: list[Any] = []

    def on_connect(self, auth: Any) -> None:
        self.log.append(("connect", self.id, auth))
        self.join("lobby")

    async def on_say(self, text: str) -> str:
        self.socket.to("lobby").emit("said", text)
        return "delivered"

    def on_message_with_ack(self, *args: Any) -> Any:
        return args

    def on_disconnect(self, reason: str) -> None:
        self.log.append(("disconnect", self.id, reason))


class ClassNamespaceTestsMixin:
    protocol: int
    sio: SocketIOServer

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        Chat.log = []
        self.sio.register("/chat", Chat)

    def test_lifecycle(self) -> None:
        """on_connect gets auth, on_disconnect the reason; one instance per connection."""
        one = self.client("/chat", auth={"n": 1})
        two = self.client("/chat")
        s1, s2 = self.socket_of(one, "/chat"), self.socket_of(two, "/chat")
        self.assertIsNot(s1.instance, s2.instance)
        self.assertIsInstance(s1.instance, Chat)
        one.close()
        expected_auth = {"n": "1"} if self.protocol == 3 else {"n": 1}
        self.assertEqual(Chat.log, [("connect", s1.id, expected_auth), ("connect", s2.id, {}),
                                    ("disconnect", s1.id, "transport close")])

    def test_async_event_and_room_broadcast(self) -> None:
        """C{async def on_say} broadcasts to the room but not the sender and acks."""
        one = self.client("/chat")
        two = self.client("/chat")
        ack = self.successResultOf(one.emit_with_ack("say", "hi", namespace="/chat"))
        self.assertEqual(ack, ["delivered"])
        self.assertEqual(two.pop_received("/chat"), [("said", ["hi"])])
        self.assertEqual(one.pop_received("/chat"), [])

    def test_event_names_with_dashes(self) -> None:
        """"message-with-ack" is handled by C{on_message_with_ack}."""
        client = self.client("/chat")
        d = client.emit_with_ack("message-with-ack", 1, "2", {"3": [True]}, namespace="/chat")
        self.assertEqual(self.successResultOf(d), [1, "2", {"3": [True]}])

    def test_refusal_from_on_connect(self) -> None:
        """ConnectionRefused from on_connect refuses the client."""
        class Closed(Namespace):
            def on_connect(self, auth: Any) -> None:
                raise ConnectionRefused("closed", {"until": 9})

        self.sio.register("/closed", Closed)
        client = self.client("/closed")
        self.assertIn("/closed", client.connect_errors)
        self.assertEqual(self.sio.of("/closed").sockets, {})

    def test_function_handlers_beside_class(self) -> None:
        """An event without an C{on_} method falls back to function handlers."""
        self.sio.on("other", lambda socket, x: x * 2, namespace="/chat")
        client = self.client("/chat")
        self.assertEqual(self.successResultOf(client.emit_with_ack("other", 21, namespace="/chat")), [42])


class ClassNamespaceV4Tests(ClassNamespaceTestsMixin, ServerTestCase):
    protocol = 4


class ClassNamespaceV3Tests(ClassNamespaceTestsMixin, ServerTestCase):
    protocol = 3


# -- dynamic namespaces -----------------------------------------------------------


class DynamicNamespaceTestsMixin:
    protocol: int
    sio: SocketIOServer

    def test_regex(self) -> None:
        """A compiled regex admits matching names (full match) and creates a
        child per name; other names are invalid."""
        parent = self.sio.of(re.compile(r"/room-\d+"))
        parent.on("connect", lambda socket: socket.emit("in", socket.namespace))
        client = self.client()
        client.connect("/room-1")
        client.connect("/room-2x")
        self.assertEqual(client.pop_received("/room-1"), [("in", ["/room-1"])])
        self.assertEqual(client.connect_errors, {"/room-2x": {"message": "Invalid namespace"}})
        self.assertEqual(set(parent.children), {"/room-1"})
        self.assertIs(self.sio.of("/room-1"), parent.children["/room-1"])

    def test_callable_bool(self) -> None:
        """A callable gets (name, auth) and answers True or False."""
        seen: list[Any] = []

        def allowed(name: str, auth: Any) -> bool:
            seen.append((name, auth))
            return name.startswith("/ok")

        self.sio.of(allowed)
        client = self.client()
        client.connect("/ok-1", auth={"a": "b"})
        client.connect("/nope")
        self.assertTrue(client.is_connected("/ok-1"))
        self.assertIn("/nope", client.connect_errors)
        auth = {"a": "b"}
        self.assertEqual(seen, [("/ok-1", auth), ("/nope", {})])

    def test_callable_deferred(self) -> None:
        """A callable may answer with a Deferred; the CONNECT waits for it."""
        verdicts: dict[str, Deferred[bool]] = {}

        def check(name: str, auth: Any) -> Deferred[bool]:
            verdicts[name] = Deferred()
            return verdicts[name]

        self.sio.of(check)
        client = self.client()
        client.connect("/later")
        client.connect("/never")
        self.assertFalse(client.is_connected("/later"))
        verdicts["/later"].callback(True)
        verdicts["/never"].callback(False)
        self.assertTrue(client.is_connected("/later"))
        self.assertEqual(client.connect_errors, {"/never": {"message": "Invalid namespace"}})

    def test_async_callable(self) -> None:
        """A coroutine function works as a matcher too."""
        async def check(name: str, auth: Any) -> bool:
            return name == "/yes"

        self.sio.of(check)
        client = self.client()
        client.connect("/yes")
        self.assertTrue(client.is_connected("/yes"))

    def test_matcher_crash_is_logged(self) -> None:
        """A matcher that raises is logged; the namespace is invalid."""
        self.sio.of(lambda name, auth: 1 / 0)
        client = self.client()
        client.connect("/x")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertIn("/x", client.connect_errors)

    def test_star(self) -> None:
        """C{"*"} admits any name; handlers and middlewares of the parent apply."""
        parent = self.sio.of("*")
        parent.use(lambda socket: socket.data.update(seen=True))
        parent.on("where", lambda socket: [socket.namespace, socket.data["seen"]])
        client = self.client()
        client.connect("/anything")
        d = client.emit_with_ack("where", namespace="/anything")
        self.assertEqual(self.successResultOf(d), [["/anything", True]])

    def test_static_wins_over_dynamic(self) -> None:
        """A static namespace is used before any dynamic one."""
        self.sio.of("/fixed").on("who", lambda socket: "static")
        self.sio.of("*").on("who", lambda socket: "dynamic")
        client = self.client()
        client.connect("/fixed")
        client.connect("/other")
        self.assertEqual(self.successResultOf(client.emit_with_ack("who", namespace="/fixed")), ["static"])
        self.assertEqual(self.successResultOf(client.emit_with_ack("who", namespace="/other")), ["dynamic"])

    def test_parent_broadcast_reaches_children(self) -> None:
        """Emitting on the parent reaches every child; C{sio.emit(namespace=parent)} too."""
        parent = self.sio.of(re.compile(r"/t-\w+"))
        one = self.client()
        one.connect("/t-a")
        two = self.client()
        two.connect("/t-b")
        parent.emit("news", 1)
        self.sio.emit("news", 2, namespace=parent.matcher)
        self.assertEqual(one.pop_received("/t-a"), [("news", [1]), ("news", [2])])
        self.assertEqual(two.pop_received("/t-b"), [("news", [1]), ("news", [2])])

    def test_child_registrations_stay_in_the_child(self) -> None:
        """Handlers and middlewares added to one child do not reach its siblings;
        the parent's, even added later, reach every child."""
        parent = self.sio.of(re.compile(r"/c\d"))
        client = self.client()
        client.connect("/c1")
        client.connect("/c2")
        self.sio.of("/c1").on("who", lambda socket: "c1 only")
        self.sio.of("/c1").use(lambda socket: socket.data.update(mark=1))
        parent.on("who", lambda socket: "parent")
        parent.on("late", lambda socket: "late")
        self.assertEqual(self.successResultOf(client.emit_with_ack("who", namespace="/c1")), ["c1 only"])
        self.assertEqual(self.successResultOf(client.emit_with_ack("who", namespace="/c2")), ["parent"])
        self.assertEqual(self.successResultOf(client.emit_with_ack("late", namespace="/c2")), ["late"])
        self.assertEqual(len(self.sio.of("/c1").middlewares), 1)
        self.assertEqual(self.sio.of("/c2").middlewares, [])

    def test_class_on_dynamic_namespace(self) -> None:
        """A Namespace class registered on a dynamic namespace handles every child."""
        class Room(Namespace):
            def on_name(self) -> str:
                return self.namespace

        self.sio.register(re.compile(r"/r\d"), Room)
        client = self.client()
        client.connect("/r1")
        self.assertEqual(self.successResultOf(client.emit_with_ack("name", namespace="/r1")), ["/r1"])


class DynamicNamespaceV4Tests(DynamicNamespaceTestsMixin, ServerTestCase):
    protocol = 4


class DynamicNamespaceV3Tests(DynamicNamespaceTestsMixin, ServerTestCase):
    protocol = 3

    def test_callable_bool(self) -> None:
        """For 2.x clients the auth the matcher sees comes from the query string."""
        seen: list[Any] = []
        self.sio.of(lambda name, auth: seen.append((name, auth)) or True)
        client = self.client()
        client.connect("/ok-1", auth={"a": "b"})
        self.assertTrue(client.is_connected("/ok-1"))
        self.assertEqual(seen, [("/ok-1", {"a": "b"})])


# -- protocol errors ------------------------------------------------------------------


class ProtocolErrorTestsMixin:
    """Input that breaks the protocol closes the connection with one log line;
    handlers see "parse error"; nothing reaches the reactor."""

    protocol: int
    sio: SocketIOServer

    def assertClosedByError(self, message: str | bytes) -> None:
        reasons: list[str] = []
        self.sio.on("disconnect", lambda socket, reason: reasons.append(reason))
        client = self.client()
        client.send_raw(message)
        self.assertTrue(client.connection.closed)
        self.assertEqual(client.connection.close_reason, "parse error")
        self.assertEqual(reasons, ["parse error"])
        lines = [line for line in self.log_lines() if "protocol error" in line]
        self.assertEqual(len(lines), 1, self.log_lines())
        self.assertNoLeaks()

    def test_payload_too_deep_says_why(self) -> None:
        """A payload nested deeper than C{max_json_depth} closes the connection
        like any protocol error, after a CONNECT_ERROR naming the limit (which
        socket.io-client shows as C{connect_error} with that message)."""
        self.sio.configure(max_json_depth=4)
        client = self.client()
        client.send_raw('2["echo",' + "[" * 4 + "]" * 4 + "]")
        self.assertTrue(client.connection.closed)
        self.assertEqual(client.connection.close_reason, "parse error")
        error = [f for f in self.wire(client) if isinstance(f, str) and f.startswith("44")]
        self.assertEqual(len(error), 1, self.wire(client))
        self.assertIn("nests deeper than 4 levels (max_json_depth)", error[0])
        self.assertNoLeaks()

    def test_within_max_json_depth(self) -> None:
        """100 levels are accepted by default (python-socketio's limit; ours is 128)."""
        got: list[object] = []
        self.sio.on("echo", lambda socket, value: got.append(value))
        client = self.client()
        client.send_raw('2["echo",' + "[" * 100 + "]" * 100 + "]")
        self.assertFalse(client.connection.closed)
        self.assertEqual(len(got), 1)

    def test_unknown_packet_type(self) -> None:
        """An unknown packet type (C{abc}, C{9}) closes the connection."""
        self.assertClosedByError("abc")

    def test_unknown_packet_digit(self) -> None:
        """A type digit beyond 6 closes the connection."""
        self.assertClosedByError("9")

    def test_event_payload_not_array(self) -> None:
        """C{2{}}: an EVENT whose payload is not an array."""
        self.assertClosedByError("2{}")

    def test_event_without_name(self) -> None:
        """C{2[]}: an EVENT without an event name."""
        self.assertClosedByError("2[]")

    def test_malformed_ack_id(self) -> None:
        """C{2abc["x"]}: junk where the ack id goes."""
        self.assertClosedByError('2abc["x"]')

    def test_namespace_not_joined(self) -> None:
        """An EVENT for a namespace the client has not joined."""
        self.sio.of("/other")
        self.assertClosedByError('2/other,["x"]')

    def test_reserved_event_from_client(self) -> None:
        """A client may not send reserved event names such as "disconnect"."""
        self.assertClosedByError('2["disconnect"]')

    def test_unexpected_binary(self) -> None:
        """A binary message that no packet announced."""
        self.assertClosedByError(b"\x00")

    def test_connect_error_from_client(self) -> None:
        """A CONNECT_ERROR packet from a client."""
        self.assertClosedByError('4{"message":"x"}')

    def test_ack_for_unknown_id_is_ignored(self) -> None:
        """An ACK with an id the server never used is ignored; the connection stays."""
        client = self.client()
        client.send_raw("3999[1]")
        self.assertFalse(client.connection.closed)
        self.assertTrue(client.is_connected())


class ProtocolErrorV4Tests(ProtocolErrorTestsMixin, ServerTestCase):
    protocol = 4


class ProtocolErrorV3Tests(ProtocolErrorTestsMixin, ServerTestCase):
    protocol = 3


# -- disconnect reasons, timeouts, leaks -------------------------------------------------


class DisconnectTestsMixin:
    protocol: int
    sio: SocketIOServer
    clock: Clock

    def reasons(self, namespace: str = "/") -> list[str]:
        found: list[str] = []
        self.sio.on("disconnect", lambda socket, reason: found.append(reason), namespace=namespace)
        return found

    def test_engine_reasons_reach_handlers(self) -> None:
        """Whatever ended the Engine.IO session is the reason handlers see, in
        every namespace (Node's reasons)."""
        for reason in ("transport close", "transport error", "ping timeout", "forced close"):
            found = self.reasons()
            found_chat = self.reasons("/chat")
            client = self.client()
            client.connect("/chat")
            client.close(reason)
            self.assertEqual((found, found_chat), ([reason], [reason]))
        self.assertNoLeaks("/", "/chat")

    def test_disconnecting_before_disconnect(self) -> None:
        """C{disconnecting} runs first, while the socket is still in its rooms;
        C{disconnect} after it has left them."""
        seen: list[Any] = []
        self.sio.on("connect", lambda socket: socket.join("r"))
        self.sio.on("disconnecting", lambda socket, reason: seen.append(("ing", sorted(socket.rooms))))
        self.sio.on("disconnect", lambda socket, reason: seen.append(("ed", sorted(socket.rooms))))
        client = self.client()
        sid = client.sids["/"]
        client.close()
        self.assertEqual(seen, [("ing", sorted([sid, "r"])), ("ed", [])])

    def test_disconnect_listener_on_socket(self) -> None:
        """C{socket.on("disconnect")} listeners get the reason too."""
        found: list[str] = []
        self.sio.on("connect", lambda socket: socket.on("disconnect", found.append))
        client = self.client()
        client.disconnect()
        self.assertEqual(found, ["client namespace disconnect"])

    def test_disconnect_handler_crash_is_logged(self) -> None:
        """An exception in a disconnect handler (sync or async) is logged only."""
        async def boom(socket: Any, reason: str) -> None:
            raise ValueError(reason)

        self.sio.on("disconnect", boom)
        self.sio.on("disconnecting", lambda socket, reason: 1 / 0)
        client = self.client()
        client.close()
        self.assertEqual(len(self.flushLoggedErrors(ValueError, ZeroDivisionError)), 2)
        self.assertNoLeaks()

    def test_no_leaks_after_many_clients(self) -> None:
        """After clients join rooms and namespaces, emit with acks and leave,
        every table is empty and no timer is left in the clock."""
        self.sio.of("/chat").on("connect", lambda socket: socket.join("a", "b"))
        clients = [self.client() for _ in range(5)]
        for c in clients:
            c.connect("/chat")
            c.connect("/missing")
        socket = self.socket_of(clients[0], "/chat")
        d = socket.timeout(10).emit_with_ack("question")
        broadcast = self.sio.of("/chat").timeout(5).emit_with_ack("poll")
        for i, c in enumerate(clients):
            c.disconnect("/chat") if i % 2 else c.close()
        for c in clients:
            c.close()
        self.failureResultOf(d, SocketDisconnected)
        # As in Node, a broadcast waits for its timeout when clients leave unanswered.
        self.clock.advance(5)
        self.assertEqual(self.failureResultOf(broadcast, AckTimeout).value.expected, 5)
        self.assertNoLeaks("/", "/chat")


class DisconnectV4Tests(DisconnectTestsMixin, ServerTestCase):
    protocol = 4


class DisconnectV3Tests(DisconnectTestsMixin, ServerTestCase):
    protocol = 3


class EngineSessionTests(ServerTestCase):
    """The glue to real Engine.IO sessions (no transport attached)."""

    def open(self, version: int = 4, transport: str = "polling") -> Any:
        self.sio = SocketIOServer(reactor=self.clock, ping_interval=1, ping_timeout=0.5, allow_eio3=True)
        self.reasons: list[str] = []
        self.sio.on("disconnect", lambda socket, reason: self.reasons.append(reason))
        eio = self.sio.engine.open_session(version, transport, _handshake())
        self.assertIs(self.sio.clients[eio.sid], eio.context)
        return eio

    def test_ping_timeout(self) -> None:
        """A client that stops answering pings is disconnected with "ping timeout"."""
        eio = self.open(transport="websocket")
        eio.context.on_message("0")
        self.clock.pump([0.1] * 16)
        self.assertEqual(self.reasons, ["ping timeout"])
        self.assertEqual(self.sio.clients, {})
        self.assertEqual(self.sio.of("/").sockets, {})

    def test_v3_joined_at_once(self) -> None:
        """An Engine.IO 3 session is in / as soon as it opens; its socket id is the sid."""
        eio = self.open(3)
        self.assertEqual(list(self.sio.of("/").sockets), [eio.sid])
        self.assertEqual([p.data for p in eio.session.outbox][1:], ["0"])

    def test_protocol_error_closes_session(self) -> None:
        """A protocol error closes the Engine.IO session ("parse error")."""
        eio = self.open()
        eio.context.on_message("0")
        eio.context.on_message("2{}")
        self.assertEqual(self.reasons, ["parse error"])
        self.assertTrue(eio.closed)


class ConnectTimeoutTests(ServerTestCase):
    """C{connect_timeout} closes a session that never joins a namespace."""

    def test_default_is_45_seconds(self) -> None:
        """A v5 client that sends no CONNECT is closed after 45 s ("forced close")."""
        client = self.client(connect=False)
        self.clock.advance(44.9)
        self.assertFalse(client.connection.closed)
        self.clock.advance(0.1)
        self.assertTrue(client.connection.closed)
        self.assertEqual(client.connection.close_reason, "forced close")
        self.assertTrue(any("connect_timeout" in line for line in self.log_lines()))
        self.assertNoLeaks()

    def test_float_seconds(self) -> None:
        """Fractions of a second work."""
        self.sio = SocketIOServer(reactor=self.clock, connect_timeout=0.25)
        client = self.client(connect=False)
        self.clock.advance(0.25)
        self.assertTrue(client.connection.closed)

    def test_connecting_cancels_the_timer(self) -> None:
        """Joining any namespace in time cancels the timer: nothing is left in the clock."""
        client = self.client()
        self.assertEqual(self.app_calls(), [])
        self.clock.advance(100)
        self.assertFalse(client.connection.closed)

    def test_refused_connect_keeps_the_timer(self) -> None:
        """A refused or invalid CONNECT does not count: the session still closes."""
        self.sio.use(lambda socket: (_ for _ in ()).throw(ConnectionRefused("no")))
        client = self.client()
        client.connect("/nope")
        self.clock.advance(45)
        self.assertTrue(client.connection.closed)

    def test_connect_handler_that_never_finishes(self) -> None:
        """A connect handler that never finishes does not keep the session open."""
        self.sio.on("connect", lambda socket: Deferred())
        client = self.client()
        self.clock.advance(45)
        self.assertTrue(client.connection.closed)
        self.assertNoLeaks()

    def test_v3_clients_join_at_once(self) -> None:
        """2.x clients are in / at once, so the timer is cancelled."""
        client = self.client(protocol=3)
        self.assertEqual(self.app_calls(), [])
        self.clock.advance(100)
        self.assertFalse(client.connection.closed)

    def test_invalid_value(self) -> None:
        """A connect_timeout that is not a positive number is refused."""
        for bad in (0, -1, "45", None):
            self.assertRaises(ValueError, SocketIOServer, reactor=self.clock, connect_timeout=bad)


# -- close, shutdown ------------------------------------------------------------------


class CloseTests(ServerTestCase):
    """sio.close() and sio.shutdown()."""

    def setUp(self) -> None:
        super().setUp()
        self.reasons: list[tuple[str, str]] = []
        for nsp in ("/", "/chat"):
            self.sio.on("disconnect", lambda socket, reason: self.reasons.append((socket.namespace, reason)),
                        namespace=nsp)

    def test_close(self) -> None:
        """close() writes DISCONNECT to every namespace, handlers see "server
        shutting down", and the connections are closed."""
        v4 = self.client()
        v4.connect("/chat")
        v3 = self.client("/chat", protocol=3)
        del v4.raw_received[:], v3.raw_received[:]
        self.sio.close()
        self.assertEqual(sorted(self.wire(v4)), ["41", "41/chat,"])
        self.assertEqual(sorted(self.wire(v3)), ["41", "41/chat,"])
        self.assertEqual(sorted(self.reasons), [("/", "server shutting down")] * 2
                         + [("/chat", "server shutting down")] * 2)
        self.assertTrue(v4.connection.closed and v3.connection.closed)
        self.assertEqual(v4.connection.close_reason, "server shutting down")
        self.assertNoLeaks("/", "/chat")

    def test_shutdown_in_memory(self) -> None:
        """shutdown() with only in-memory clients completes at once."""
        client = self.client()
        d = self.sio.shutdown(timeout=5)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.wire(client)[-1], "41")
        self.assertEqual(self.reasons, [("/", "server shutting down")])
        self.assertNoLeaks()

    def test_connections_after_shutdown_are_closed(self) -> None:
        """A connection opened after shutdown() is closed at once."""
        self.successResultOf(self.sio.shutdown())
        client = self.client()
        self.assertTrue(client.connection.closed)
        self.assertEqual(client.connection.close_reason, "server shutting down")
        self.assertEqual(self.sio.clients, {})

    def test_shutdown_twice(self) -> None:
        """A second shutdown() fires with the first."""
        first = self.sio.shutdown()
        second = self.sio.shutdown()
        self.assertIsNone(self.successResultOf(first))
        self.assertIsNone(self.successResultOf(second))

    def test_shutdown_waits_for_engine_sessions(self) -> None:
        """Polling sessions that cannot be written to right now are given a short
        grace to fetch their goodbye (POLL_GOODBYE_GRACE, 0.5 s, not ping_timeout);
        the Deferred fires once they are gone, and nothing is left in the clock."""
        self.sio = SocketIOServer(reactor=self.clock, ping_timeout=1, ping_interval=5)
        self.sio.on("disconnect", lambda socket, reason: self.reasons.append((socket.namespace, reason)))
        eio = self.sio.engine.open_session(4, "polling", _handshake())
        client = eio.context
        client.on_message("0")
        self.assertEqual(len(self.sio.of("/").sockets), 1)
        d = self.sio.shutdown(timeout=5)
        self.assertNoResult(d)
        self.assertEqual(self.reasons, [("/", "server shutting down")])
        self.assertEqual([(p.type.name, p.data) for p in eio.session.outbox][-2:],
                         [("MESSAGE", "1"), ("CLOSE", "")])  # DISCONNECT, then Engine.IO close
        self.clock.advance(0.4)
        self.assertNoResult(d)
        self.clock.pump([0.05] * 20)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.sio.engine.sockets, {})
        self.assertEqual(self.app_calls(), [])

    def test_shutdown_timeout(self) -> None:
        """When a connection takes longer than the timeout to close, the Deferred
        fires anyway after the timeout (with a log line)."""
        self.sio = SocketIOServer(reactor=self.clock, ping_timeout=60, ping_interval=5)

        class StuckConnection:
            """A transport whose connection never finishes closing."""
            name = "websocket"
            writable = False
            connected = True

            def write(self, items: Any) -> None: ...
            def release(self, packet: Any) -> None: ...
            def close(self) -> None: ...

            def abort(self) -> None:
                self.connected = False

        self.sio.engine.open_session(4, "websocket", _handshake(), lambda socket: StuckConnection())
        d = self.sio.shutdown(timeout=2)
        self.clock.pump([0.05] * 39)
        self.assertNoResult(d)
        self.clock.advance(0.05)
        self.assertIsNone(self.successResultOf(d))
        self.assertTrue(any("timed out" in line for line in self.log_lines()))

    def test_shutdown_closes_adapters(self) -> None:
        """shutdown() closes every namespace's adapter and waits for it."""
        closing: list[Deferred[None]] = []

        class SlowAdapter(MemoryAdapter):
            def close(self) -> Deferred[None]:
                closing.append(Deferred())
                return closing[-1]

        sio = SocketIOServer(reactor=self.clock, adapter=SlowAdapter)
        sio.of("/chat")
        d = sio.shutdown(timeout=10)
        self.assertEqual(len(closing), 2)
        closing[0].callback(None)
        self.assertNoResult(d)
        closing[1].callback(None)
        self.successResultOf(d)
        self.assertEqual(self.app_calls(), [])


# -- configure -----------------------------------------------------------------------


class ConfigureTests(ServerTestCase):
    """SocketIOServer.configure(**options)."""

    def test_engine_options(self) -> None:
        """Engine.IO options change for sessions opened afterwards (advertised in
        integer milliseconds)."""
        self.sio.configure(ping_interval=0.3, ping_timeout=2, max_http_buffer_size=500)
        eio = self.sio.engine.open_session(4, "polling", _handshake())
        payload = json.loads(eio.session.open_payload())
        self.assertEqual((payload["pingInterval"], payload["pingTimeout"], payload["maxPayload"]),
                         (300, 2000, 500))
        eio.close()

    def test_other_engine_options(self) -> None:
        """allow_eio3, transports, CORS and the rest are applied too; options not
        named keep their values."""
        self.sio.configure(ping_interval=3)
        self.sio.configure(allow_eio3=True, transports=["websocket"],
                           cors_allowed_origins=["https://example.com"])
        engine = self.sio.engine
        self.assertTrue(engine.allow_eio3)
        self.assertEqual(engine.transports, ("websocket",))
        self.assertEqual(engine.config.ping_interval, 3.0)
        self.assertTrue(engine.cors.allows("https://example.com", "localhost", False))
        self.assertFalse(engine.cors.allows("https://evil.example", "localhost", False))

    def test_socketio_options(self) -> None:
        """connect_timeout and max_attachments apply to connections opened afterwards."""
        self.sio.configure(connect_timeout=1.5, max_attachments=1)
        client = self.client(connect=False)
        self.clock.advance(1.5)
        self.assertTrue(client.connection.closed)
        client = self.client()
        client.send_raw('52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
        self.assertEqual(client.connection.close_reason, "parse error")

    def test_unknown_option(self) -> None:
        """An unknown name is a TypeError that lists the known ones."""
        e = self.assertRaises(TypeError, self.sio.configure, ping_intervall=3)
        self.assertIn("ping_intervall", str(e))
        self.assertIn("ping_interval", str(e))
        self.assertRaises(TypeError, self.sio.configure, reactor=Clock())

    def test_invalid_values_change_nothing(self) -> None:
        """A bad value raises ValueError and leaves every option as it was."""
        before = self.sio.engine.config
        self.assertRaises(ValueError, self.sio.configure, ping_interval=5, ping_timeout=-1)
        self.assertRaises(ValueError, self.sio.configure, ping_interval=5, connect_timeout=0)
        self.assertRaises(ValueError, self.sio.configure, transports=["carrier-pigeon"])
        self.assertIs(self.sio.engine.config, before)
        self.assertEqual(self.sio.connect_timeout, 45.0)

    def test_after_resource(self) -> None:
        """Once resource() has been called, configure() raises RuntimeError."""
        self.sio.resource()
        e = self.assertRaises(RuntimeError, self.sio.configure, ping_interval=5)
        self.assertIn("before", str(e))

    def test_adapter(self) -> None:
        """The adapter can be replaced while no client is connected; every
        namespace gets a new one and the old ones are closed."""
        closed: list[str] = []

        class Recording(MemoryAdapter):
            def close(self) -> None:
                closed.append(self.nsp.name)

        sio = SocketIOServer(reactor=self.clock, adapter=Recording)
        sio.of("/chat")
        sio.configure(adapter=MemoryAdapter)
        self.assertEqual(sorted(closed), ["/", "/chat"])
        self.assertIs(type(sio.of("/chat").adapter), MemoryAdapter)
        TestClient(sio)
        self.assertRaises(RuntimeError, sio.configure, adapter=Recording)

    def test_existing_sessions_keep_their_settings(self) -> None:
        """Sessions already open keep the settings they were opened with."""
        eio = self.sio.engine.open_session(4, "polling", _handshake())
        self.sio.configure(ping_interval=1)
        self.assertEqual(eio.session.config.ping_interval, 25.0)
        eio.close()


class TestClientTests(ServerTestCase):
    """The public in-memory client's own features."""

    def test_raw_messages(self) -> None:
        """raw_sent and raw_received record the Engine.IO messages both ways."""
        self.sio.on("hi", lambda socket, name: f"hello {name}")
        client = self.client()
        self.successResultOf(client.emit_with_ack("hi", "bob"))
        self.assertEqual(client.raw_sent, ["0", '20["hi","bob"]'])
        self.assertEqual(client.raw_received[1:], ['30["hello bob"]'])

    def test_client_handlers_ack(self) -> None:
        """Client handlers answer server acks, with plain values, Deferreds or coroutines."""
        client = self.client()
        gate: Deferred[str] = Deferred()
        client.on("plain", lambda x: x + 1)
        client.on("later", lambda: gate)

        async def coro(x: int) -> int:
            return x * 10

        client.on("coro", coro)
        socket = self.socket_of(client)
        self.assertEqual(self.successResultOf(socket.emit_with_ack("plain", 1)), [2])
        self.assertEqual(self.successResultOf(socket.emit_with_ack("coro", 2)), [20])
        d = socket.emit_with_ack("later")
        self.assertNoResult(d)
        gate.callback("done")
        self.assertEqual(self.successResultOf(d), ["done"])
