"""Tests for L{txsocketio.socketio.namespaces}: the lifecycle of dynamic
children (C{cleanup_empty_child_namespaces}, Node's C{cleanupEmptyChildNamespaces})
and the room events of a namespace (C{on_room_event}, Node's adapter events).

Everything in memory on a L{Clock}; the Redis adapter runs on the fake hub of
L{tests.redis_fake}.  The same cleanup against a real redis-server is in
C{tests/interop/test_namespace_cleanup_redis.py}.
"""

from __future__ import annotations

import gc
import re
import weakref
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from txsocketio import ConnectionRefused, Namespace, SocketIOServer
from txsocketio.adapters.memory import MemoryAdapter
from txsocketio.adapters.redis import RedisAdapter
from txsocketio.testing import TestClient

from tests.redis_fake import FakeRedisHub
from tests.socketio_support import ServerTestCase


def connected_client(sio: SocketIOServer, namespace: str) -> Any:
    """A v5 test client connected to C{/} and C{namespace}."""
    client = TestClient(sio)
    client.connect(namespace)
    return client


class RecordingAdapter(MemoryAdapter):
    """The memory adapter, remembering every instance and whether it was closed."""

    made: list["RecordingAdapter"]

    def __init__(self, nsp: Any) -> None:
        super().__init__(nsp)
        self.closed = 0
        type(self).made.append(self)

    def close(self) -> None:
        self.closed += 1


def recording_adapter() -> type[RecordingAdapter]:
    return type("Recording", (RecordingAdapter,), {"made": []})


class CleanupTests(ServerTestCase):
    """C{cleanup_empty_child_namespaces=True}: the last socket to leave a dynamic
    child removes it, as Node's parent namespace does."""

    def setUp(self) -> None:
        super().setUp()
        self.adapter = recording_adapter()
        self.sio = SocketIOServer(reactor=self.clock, cleanup_empty_child_namespaces=True, adapter=self.adapter)
        self.parent = self.sio.of(re.compile(r"/room-\d+"))

    def adapters_of(self, name: str) -> list[RecordingAdapter]:
        return [a for a in self.adapter.made if a.nsp.name == name]

    def test_default_is_off(self) -> None:
        """Without the option (Node's default), emptied children stay."""
        sio = SocketIOServer(reactor=self.clock)
        self.assertFalse(sio.config.cleanup_empty_child_namespaces)
        parent = sio.of(re.compile(r"/room-\d+"))
        for i in range(3):
            client = connected_client(sio, f"/room-{i}")
            client.close()
        self.assertEqual(sorted(parent.children), ["/room-0", "/room-1", "/room-2"])

    def test_200_cycles_leave_no_child(self) -> None:
        """200 connect/close cycles on distinct children leave no child, every
        child's adapter closed once, only C{/} registered, nothing in the clock."""
        for i in range(200):
            client = self.client()
            client.connect(f"/room-{i}")
            self.assertIn(f"/room-{i}", self.parent.children)
            client.close()
        self.assertEqual(self.parent.children, {})
        self.assertEqual(set(self.sio.namespaces), {"/"})
        children = [a for a in self.adapter.made if a.nsp.name.startswith("/room-")]
        self.assertEqual(len(children), 200)
        self.assertEqual({a.closed for a in children}, {1})
        self.assertNoLeaks()

    def test_namespace_disconnect_removes_too(self) -> None:
        """Leaving the child (C{41/room-1,}) while the connection stays removes it too."""
        client = self.client()
        client.connect("/room-1")
        client.disconnect("/room-1")
        self.assertEqual(self.parent.children, {})
        self.assertTrue(client.is_connected("/"))

    def test_last_socket_removes(self) -> None:
        """A child with two sockets stays when the first leaves and goes with the second."""
        one, two = self.client(), self.client()
        one.connect("/room-1")
        two.connect("/room-1")
        child = self.sio.of("/room-1")
        one.close()
        self.assertIs(self.parent.children.get("/room-1"), child)
        self.assertEqual(self.adapters_of("/room-1")[0].closed, 0)
        two.close()
        self.assertEqual(self.parent.children, {})
        self.assertEqual(self.adapters_of("/room-1")[0].closed, 1)

    def test_removed_once(self) -> None:
        """A departure reported twice does not close the adapter twice."""
        client = self.client()
        client.connect("/room-1")
        child = self.sio.of("/room-1")
        socket = self.socket_of(client, "/room-1")
        client.close()
        child.socket_left(socket)
        self.assertEqual([a.closed for a in self.adapters_of("/room-1")], [1])

    def test_removed_before_the_disconnect_handlers(self) -> None:
        """As in Node, the child is gone (adapter closed) when the C{disconnect}
        handlers run; C{disconnecting} handlers still see it."""
        seen: list[tuple[str, bool, int]] = []
        for event in ("disconnecting", "disconnect"):
            self.parent.on(event, lambda socket, reason, event=event: seen.append(
                (event, socket.namespace in self.sio.namespaces, self.adapters_of(socket.namespace)[0].closed)))
        client = self.client()
        client.connect("/room-7")
        client.close()
        self.assertEqual(seen, [("disconnecting", True, 0), ("disconnect", False, 1)])

    def test_fresh_child_for_a_later_client(self) -> None:
        """A client arriving after the cleanup gets a new child with a new adapter,
        served by the parent's handlers, middlewares and class."""
        class Room(Namespace):
            def on_where(self) -> list[Any]:
                return [self.namespace, self.data.get("mark")]

        self.sio.register(self.parent.matcher, Room)
        self.parent.use(lambda socket: socket.data.update(mark="m"))
        first = self.client()
        first.connect("/room-1")
        old = self.sio.of("/room-1")
        first.close()
        second = self.client()
        second.connect("/room-1")
        new = self.parent.children["/room-1"]
        self.assertIsNot(new, old)
        self.assertIs(self.sio.namespaces["/room-1"], new)
        self.assertEqual(len(self.adapters_of("/room-1")), 2)
        d = second.emit_with_ack("where", namespace="/room-1")
        self.assertEqual(self.successResultOf(d), [["/room-1", "m"]])

    def test_removed_child_is_garbage(self) -> None:
        """Nothing keeps a removed child alive: its handlers, its class-based
        state and its adapter go with it."""
        class Room(Namespace):
            def on_connect(self) -> None:
                self.join("lobby")

        self.parent.register(Room)
        self.parent.on("ping", lambda socket: "pong")
        client = self.client()
        client.connect("/room-1")
        self.sio.of("/room-1").on("own", lambda socket: None)
        ref = weakref.ref(self.sio.of("/room-1"))
        client.close()
        del client
        self.adapter.made.clear()
        self.logged.clear()  # log events name the sockets
        gc.collect()
        self.assertIsNone(ref())

    def test_refused_first_client_removes_the_child(self) -> None:
        """A child made for a client its middleware refuses is removed at once (Node)."""
        self.parent.use(lambda socket: (_ for _ in ()).throw(ConnectionRefused("no")))
        client = self.client()
        client.connect("/room-3")
        self.assertEqual(client.connect_errors, {"/room-3": {"message": "no"}})
        self.assertEqual(self.parent.children, {})
        self.assertEqual(self.adapters_of("/room-3")[0].closed, 1)

    def test_connecting_socket_keeps_the_child(self) -> None:
        """Safer than Node: a child is not removed while a socket still runs its
        middlewares; the child goes when that socket leaves in turn."""
        gates: list[Deferred[None]] = []
        self.parent.use(lambda socket: gates.pop(0) if gates else None)
        one = self.client()
        one.connect("/room-1")
        gates.append(Deferred())
        gate = gates[0]
        two = self.client()
        two.connect("/room-1")
        one.close()
        child = self.parent.children["/room-1"]
        self.assertEqual(self.adapters_of("/room-1")[0].closed, 0)
        gate.callback(None)
        self.assertTrue(two.is_connected("/room-1"))
        self.assertIn(self.sid_for(two, "/room-1"), child.sockets)
        two.close()
        self.assertEqual(self.parent.children, {})
        self.assertEqual(child.connecting, {})

    def test_client_gone_while_connecting(self) -> None:
        """A connection that closes while its middleware runs removes the child it made."""
        gate: Deferred[None] = Deferred()
        self.parent.use(lambda socket: gate)
        client = self.client()
        client.connect("/room-2")
        self.assertIn("/room-2", self.parent.children)
        client.close()
        gate.callback(None)
        self.assertEqual(self.parent.children, {})
        self.assertNoLeaks()

    def test_static_namespaces_and_parents_stay(self) -> None:
        """Only dynamic children are removed: named namespaces, C{/} and the parent stay."""
        self.sio.of("/static")
        client = self.client()
        client.connect("/static")
        client.close()
        self.assertIn("/static", self.sio.namespaces)
        self.assertIn("/", self.sio.namespaces)
        self.assertIn(self.parent, self.sio.all_namespaces())
        self.assertEqual([a.closed for a in self.adapters_of("/static")], [0])

    def test_of_after_cleanup_makes_a_child(self) -> None:
        """C{sio.of(name)} for a name a regex parent matches makes a child of it
        (as Node does), not a namespace of its own that would hide the parent."""
        self.parent.on("who", lambda socket: "parent")
        client = self.client()
        client.connect("/room-1")
        client.close()
        nsp = self.sio.of("/room-1")
        self.assertIs(nsp.parent, self.parent)
        self.assertIs(self.parent.children["/room-1"], nsp)
        again = self.client()
        again.connect("/room-1")
        self.assertEqual(self.successResultOf(again.emit_with_ack("who", namespace="/room-1")), ["parent"])

    def test_parent_broadcast_after_cleanup(self) -> None:
        """Broadcasting on the parent reaches the children that are left, not the removed ones."""
        stay, go = self.client(), self.client()
        stay.connect("/room-1")
        go.connect("/room-2")
        go.close()
        self.parent.emit("hello")
        self.assertEqual(stay.pop_received("/room-1"), [("hello", [])])
        self.assertEqual(list(self.parent.children), ["/room-1"])

    def test_configure_turns_it_on(self) -> None:
        """The option can be set with configure(); children emptied from then on go."""
        sio = SocketIOServer(reactor=self.clock)
        parent = sio.of(re.compile(r"/r\d"))
        sio.configure(cleanup_empty_child_namespaces=True)
        client = connected_client(sio, "/r1")
        client.close()
        self.assertEqual(parent.children, {})

    def test_invalid_value(self) -> None:
        """The option takes a bool."""
        self.assertRaises(ValueError, SocketIOServer, reactor=self.clock, cleanup_empty_child_namespaces="yes")

    def test_shutdown(self) -> None:
        """Shutting down removes the children as their sockets go; it completes and leaves nothing."""
        for i in range(3):
            self.client().connect(f"/room-{i}")
        self.successResultOf(self.sio.shutdown())
        self.assertEqual(self.parent.children, {})
        self.assertEqual({a.closed for a in self.adapter.made}, {1})
        self.assertEqual(self.clock.getDelayedCalls(), [])


    def test_shutdown_waits_for_a_child_closing(self) -> None:
        """shutdown() waits for the adapter close of a child removed while it
        disconnects the clients."""
        closing: list[Deferred[None]] = []

        class Slow(MemoryAdapter):
            def close(self) -> Deferred[None] | None:
                if self.nsp.name.startswith("/room-"):
                    closing.append(Deferred())
                    return closing[-1]
                return None

        sio = SocketIOServer(reactor=self.clock, cleanup_empty_child_namespaces=True, adapter=Slow)
        sio.of(re.compile(r"/room-\d+"))
        connected_client(sio, "/room-1")
        d = sio.shutdown()
        self.assertEqual(len(closing), 1)
        self.assertEqual(sio.namespaces.keys(), {"/"})
        self.assertNoResult(d)
        closing[0].callback(None)
        self.successResultOf(d)
        self.assertEqual(sio.closing_adapters, [])


class RedisCleanupTests(ServerTestCase):
    """With the Redis adapter (on the fake hub) a removed child unsubscribes its channels."""

    def setUp(self) -> None:
        super().setUp()
        self.hub = FakeRedisHub(self.clock)
        self.connection = self.hub.connect("a")

        def factory(nsp: Any) -> Any:
            if not nsp.name.startswith("/"):
                return MemoryAdapter(nsp)
            return RedisAdapter(nsp, self.connection)

        self.sio = SocketIOServer(reactor=self.clock, adapter=factory, cleanup_empty_child_namespaces=True)
        self.parent = self.sio.of(re.compile(r"/org-\d+"))

    def subscribed(self) -> list[tuple[str, str]]:
        return sorted((s.kind, s.name) for s in self.connection.subscriptions)

    def test_50_children_leave_only_the_base_subscriptions(self) -> None:
        """After 50 children came and went, the connection holds the subscriptions
        of C{/} only (1 pattern, 3 channels), as before the first child."""
        before = self.subscribed()
        self.assertEqual([kind for kind, _ in before].count("pattern"), 1)
        self.assertEqual([kind for kind, _ in before].count("channel"), 3)
        clients = []
        for i in range(50):
            client = self.client()
            client.connect(f"/org-{i}")
            clients.append(client)
        self.assertEqual(len(self.subscribed()), 4 * 51)
        for client in clients:
            client.close()
        self.assertEqual(self.subscribed(), before)
        self.assertEqual(self.parent.children, {})

    def test_a_fresh_child_subscribes_again(self) -> None:
        """A client for a removed child's name gets a child that subscribes anew and
        receives the broadcasts of another server."""
        client = self.client()
        client.connect("/org-1")
        client.close()
        other = self.hub.connect("b")
        peer = SocketIOServer(reactor=self.clock, adapter=lambda nsp: RedisAdapter(nsp, other)
                              if nsp.name.startswith("/") else MemoryAdapter(nsp))
        again = self.client()
        again.connect("/org-1")
        self.assertIn(("pattern", "socket.io#/org-1#*"), self.subscribed())
        peer.of("/org-1").emit("hi")
        self.hub.flush()
        self.assertEqual(again.pop_received("/org-1"), [("hi", [])])


class RoomEventTestsMixin:
    """Node's adapter events through C{nsp.on_room_event}, in Node's order."""

    clock: Clock
    sio: SocketIOServer

    def make_server(self) -> SocketIOServer:
        raise NotImplementedError

    def record(self, nsp: Any) -> list[tuple[Any, ...]]:
        events: list[tuple[Any, ...]] = []
        for name in ("create-room", "delete-room", "join-room", "leave-room"):
            nsp.on_room_event(name, lambda *args, name=name: events.append((name, *args)))
        return events

    def test_connect_join_leave_disconnect(self) -> None:
        """A socket's own room: create-room then join-room on connect; join and
        leave of a room; leave-room then delete-room for each room on disconnect,
        in the order the socket joined them."""
        sio = self.make_server()
        events = self.record(sio.of("/"))
        client = self.client_of(sio)
        sid = client.sids["/"]
        socket = client.server_client.sockets["/"]
        socket.join("a", "b")
        socket.join("a")
        socket.leave("b")
        socket.leave("b")
        socket.join("b")
        client.close()
        self.assertEqual(events, [
            ("create-room", sid), ("join-room", sid, sid),
            ("create-room", "a"), ("join-room", "a", sid),
            ("create-room", "b"), ("join-room", "b", sid),
            ("leave-room", "b", sid), ("delete-room", "b"),
            ("create-room", "b"), ("join-room", "b", sid),
            ("leave-room", sid, sid), ("delete-room", sid),
            ("leave-room", "a", sid), ("delete-room", "a"),
            ("leave-room", "b", sid), ("delete-room", "b"),
        ])

    def test_shared_room(self) -> None:
        """create-room fires for the first member only, delete-room after the last."""
        sio = self.make_server()
        one, two = self.client_of(sio), self.client_of(sio)
        events = self.record(sio.of("/"))
        s1, s2 = (c.server_client.sockets["/"] for c in (one, two))
        s1.join("r")
        s2.join("r")
        s1.leave("r")
        s2.leave("r")
        self.assertEqual(events, [("create-room", "r"), ("join-room", "r", s1.id), ("join-room", "r", s2.id),
                                  ("leave-room", "r", s1.id), ("leave-room", "r", s2.id),
                                  ("delete-room", "r")])

    def test_listener_errors_are_logged(self) -> None:
        """A listener that raises, or fails later, is logged; the join happens and
        the other listeners run."""
        sio = self.make_server()
        nsp = sio.of("/")
        later: Deferred[None] = Deferred()
        nsp.on_room_event("join-room", lambda room, sid: 1 / 0)
        nsp.on_room_event("join-room", lambda room, sid: later)
        events = self.record(nsp)
        client = self.client_of(sio)
        socket = client.server_client.sockets["/"]
        socket.join("x")
        later.errback(KeyError("late"))
        self.assertIn("x", socket.rooms)
        self.assertIn(("join-room", "x", socket.id), events)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 2)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.assertTrue(client.is_connected())

    def test_remote_join_fires_locally(self) -> None:
        """sockets_join/sockets_leave (here on this server) fire the events of the sockets they move."""
        sio = self.make_server()
        client = self.client_of(sio)
        events = self.record(sio.of("/"))
        sid = client.sids["/"]
        self.successResultOf(sio.sockets_join("team"))
        self.successResultOf(sio.in_("team").sockets_leave("team"))
        self.assertEqual(events, [("create-room", "team"), ("join-room", "team", sid),
                                  ("leave-room", "team", sid), ("delete-room", "team")])

    def test_off(self) -> None:
        """off_room_event removes one listener, or all of an event."""
        sio = self.make_server()
        nsp = sio.of("/")
        seen: list[str] = []
        fn = nsp.on_room_event("create-room", seen.append)
        nsp.on_room_event("create-room", lambda room: seen.append("other"))
        nsp.off_room_event("create-room", fn)
        self.client_of(sio)
        self.assertEqual(seen, ["other"])
        nsp.off_room_event("create-room")
        self.assertEqual(nsp.room_listeners("create-room"), [])

    def test_unknown_event(self) -> None:
        """Names other than Node's four are refused."""
        sio = self.make_server()
        self.assertRaises(ValueError, sio.of("/").on_room_event, "join", print)

    def test_listeners_survive_a_new_adapter(self) -> None:
        """Listeners belong to the namespace: configure(adapter=...) keeps them."""
        sio = self.make_server()
        events = self.record(sio.of("/"))
        sio.configure(adapter=MemoryAdapter)
        client = self.client_of(sio)
        self.assertEqual(events[0], ("create-room", client.sids["/"]))

    def test_dynamic_parent_hears_every_child(self) -> None:
        """A listener on a dynamic parent hears each child, which it gets first;
        a child's own listeners get Node's arguments."""
        sio = self.make_server()
        parent = sio.of(re.compile(r"/p\d"))
        heard: list[tuple[Any, ...]] = []
        parent.on_room_event("join-room", lambda nsp, room, sid: heard.append((nsp.name, room)))
        client = self.client_of(sio)
        client.connect("/p1")
        own: list[tuple[Any, ...]] = []
        sio.of("/p1").on_room_event("join-room", lambda room, sid: own.append((room, sid)))
        socket = client.server_client.sockets["/p1"]
        socket.join("x")
        client.connect("/p2")
        self.assertEqual(heard, [("/p1", socket.id), ("/p1", "x"), ("/p2", client.sids["/p2"])])
        self.assertEqual(own, [("x", socket.id)])

    def client_of(self, sio: SocketIOServer) -> Any:
        return TestClient(sio)


class MemoryRoomEventTests(RoomEventTestsMixin, ServerTestCase):
    def make_server(self) -> SocketIOServer:
        return SocketIOServer(reactor=self.clock)


class RedisRoomEventTests(RoomEventTestsMixin, ServerTestCase):
    """The same with the Redis adapter (its rooms are its local memory adapter's)."""

    def make_server(self) -> SocketIOServer:
        hub = FakeRedisHub(self.clock)
        connection = hub.connect("a")
        return SocketIOServer(reactor=self.clock, adapter=lambda nsp: RedisAdapter(nsp, connection)
                              if nsp.name.startswith("/") else MemoryAdapter(nsp))

    def test_join_requested_by_another_server(self) -> None:
        """A socket moved by another server's sockets_join fires join-room here."""
        hub = FakeRedisHub(self.clock)

        def server(name: str) -> SocketIOServer:
            connection = hub.connect(name)
            return SocketIOServer(reactor=self.clock, adapter=lambda nsp: RedisAdapter(nsp, connection)
                                  if nsp.name.startswith("/") else MemoryAdapter(nsp))

        a, b = server("a"), server("b")
        client = self.client_of(b)
        events = self.record(b.of("/"))
        self.successResultOf(a.sockets_join("team"))
        hub.flush()
        self.assertEqual(events, [("create-room", "team"), ("join-room", "team", client.sids["/"])])
