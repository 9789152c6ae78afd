"""Tests for L{txsocketio.adapters.redis}: the cluster logic on a fake Redis hub.

Several servers, each with its own Redis adapter, share one in-memory pub/sub
hub (L{tests.redis_fake}) and one C{task.Clock}: broadcasts, rooms, acks,
fetch_sockets, remote joins and server-side emits go through the real wire
format without a Redis server and without sleeps.  The same scenarios against a
real redis-server (and Node) are in C{tests/interop/test_redis_*.py}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txsocketio import AckTimeout, ClusterTimeout, SocketIOServer
from txsocketio.adapters import redis_wire as wire
from txsocketio.adapters.memory import MemoryAdapter
from txsocketio.adapters.redis import RedisAdapter, RemoteSocket
from txsocketio.testing import TestClient

from tests.redis_fake import FakeRedisHub


class ClusterTestCase(SynchronousTestCase):
    """Two servers (A and B) on one fake hub, with a client each."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.hub = FakeRedisHub(self.clock)
        self.a = self.server("a")
        self.b = self.server("b")
        self.ca = TestClient(self.a)
        self.cb = TestClient(self.b)
        self.sa = self.socket(self.a)
        self.sb = self.socket(self.b)

    def server(self, name: str) -> SocketIOServer:
        connection = self.hub.connect(name)

        def factory(nsp: Any) -> Any:
            if not nsp.name.startswith("/"):
                return MemoryAdapter(nsp)
            return RedisAdapter(nsp, connection, request_timeout=2.0)

        return SocketIOServer(reactor=self.clock, adapter=factory)

    def socket(self, sio: SocketIOServer, nsp: str = "/") -> Any:
        [socket] = sio.of(nsp).sockets.values()
        return socket

    def events(self, client: TestClient) -> list[tuple[str, list[Any]]]:
        return client.pop_received()


class BroadcastTests(ClusterTestCase):
    def test_emit_reaches_every_server(self) -> None:
        """sio.emit on A reaches A's client at once and B's client once the hub delivers."""
        self.a.emit("news", 1, b"\x00")
        self.assertEqual(self.events(self.ca), [("news", [1, b"\x00"])])
        self.assertEqual(self.events(self.cb), [])
        self.hub.flush()
        self.assertEqual(self.events(self.cb), [("news", [1, b"\x00"])])
        self.assertEqual(self.events(self.ca), [], "A ignores its own message")

    def test_rooms_and_exclusions(self) -> None:
        """Rooms and except_ select on the other server too (socket ids are rooms)."""
        self.sb.join("red")
        self.a.to("red").emit("r")
        self.a.except_(self.sb.id).emit("e")
        self.hub.flush()
        self.assertEqual(self.events(self.cb), [("r", [])])
        self.assertEqual(self.events(self.ca), [("e", [])])

    def test_one_room_has_its_own_channel(self) -> None:
        """A broadcast to exactly one room is published on that room's channel."""
        connection = self.hub.connections[0]
        self.a.to("red").emit("x")
        self.assertEqual(connection.published[-1][0], "socket.io#/#red#")
        self.a.to("red", "blue").emit("x")
        self.assertEqual(connection.published[-1][0], "socket.io#/#")

    def test_flags_travel(self) -> None:
        """volatile and compress(False) ride on the wire as Node's flags."""
        self.a.volatile.compress(False).emit("v")
        message = wire.decode_broadcast(self.hub.connections[0].published[-1][1])
        self.assertEqual(dict(message.opts.flags), {"volatile": True, "compress": False})

    def test_local_is_not_published(self) -> None:
        """.local reaches this server's clients only; nothing is published."""
        self.a.local.emit("l")
        self.hub.flush()
        self.assertEqual(self.hub.connections[0].published, [])
        self.assertEqual((self.events(self.ca), self.events(self.cb)), ([("l", [])], []))

    def test_socket_broadcast(self) -> None:
        """socket.broadcast on A reaches B's client, not the sender."""
        self.sa.broadcast.emit("b")
        self.hub.flush()
        self.assertEqual((self.events(self.ca), self.events(self.cb)), ([], [("b", [])]))

    def test_namespaces_are_apart(self) -> None:
        """A broadcast of /chat never reaches /."""
        self.a.of("/chat")
        self.b.of("/chat")
        self.a.of("/chat").emit("c")
        self.hub.flush()
        self.assertEqual(self.events(self.cb), [])


class AckTests(ClusterTestCase):
    def test_emit_with_ack_collects_every_server(self) -> None:
        """Each server reports its client count, then each client's first ack argument."""
        self.ca.on("q", lambda *a: "from-a")
        self.cb.on("q", lambda *a: "from-b")
        d = self.a.timeout(5).emit_with_ack("q")
        self.hub.flush()
        self.assertEqual(sorted(self.successResultOf(d)), ["from-a", "from-b"])

    def test_timeout_keeps_what_came(self) -> None:
        """A client that does not answer: AckTimeout with the answers that arrived."""
        self.ca.on("q", lambda *a: "from-a")
        d = self.a.timeout(5).emit_with_ack("q")
        self.hub.flush()
        self.assertNoResult(d)
        self.clock.advance(5)
        failure = self.failureResultOf(d, AckTimeout)
        self.assertEqual((failure.value.responses, failure.value.expected), (["from-a"], 2))


class RequestTests(ClusterTestCase):
    def test_fetch_sockets(self) -> None:
        """fetch_sockets: the local Socket plus a RemoteSocket snapshot from B."""
        self.sb.join("red")
        self.sb.data["nick"] = "bob"
        d = self.a.fetch_sockets()
        self.hub.flush()
        sockets = self.successResultOf(d)
        self.assertIn(self.sa, sockets)
        [remote] = [s for s in sockets if isinstance(s, RemoteSocket)]
        self.assertEqual((remote.id, remote.rooms, remote.data), (self.sb.id, {self.sb.id, "red"}, {"nick": "bob"}))

    def test_remote_socket_emit(self) -> None:
        """A RemoteSocket's emit reaches its client through the cluster."""
        d = self.a.fetch_sockets()
        self.hub.flush()
        [remote] = [s for s in self.successResultOf(d) if isinstance(s, RemoteSocket)]
        remote.emit("hi")
        self.hub.flush()
        self.assertEqual(self.events(self.cb), [("hi", [])])

    def test_sockets_join_everywhere(self) -> None:
        """sockets_join applies here at once and on B when the request arrives."""
        self.successResultOf(self.a.sockets_join("all"))
        self.assertIn("all", self.sa.rooms)
        self.hub.flush()
        self.assertIn("all", self.sb.rooms)

    def test_disconnect_sockets(self) -> None:
        """disconnect_sockets reaches B's socket too."""
        self.a.to(self.sb.id).disconnect_sockets()
        self.hub.flush()
        self.assertFalse(self.cb.is_connected())
        self.assertTrue(self.ca.is_connected())

    def test_all_rooms_and_server_count(self) -> None:
        """all_rooms merges both servers' rooms; server_count is NUMSUB of the request channel."""
        self.sb.join("only-b")
        self.assertEqual(self.successResultOf(self.a.of("/").server_count()), 2)
        d = self.a.of("/").all_rooms()
        self.hub.flush()
        self.assertEqual(self.successResultOf(d), {self.sa.id, self.sb.id, "only-b"})

    def test_server_side_emit(self) -> None:
        """server_side_emit with want_ack: one answer per other server."""
        self.b.on_server_side("reload", lambda what: f"reloaded {what}")
        d = self.a.server_side_emit("reload", "config", want_ack=True)
        self.hub.flush()
        self.assertEqual(self.successResultOf(d), ["reloaded config"])

    def test_silent_server_times_out(self) -> None:
        """A server that never answers: ClusterTimeout with this server's part, after request_timeout."""
        self.hub.connect("c").subscribe("socket.io-request#/#", lambda channel, payload: None)
        d = self.a.fetch_sockets()
        self.hub.flush()
        self.assertNoResult(d)
        self.clock.advance(2.0)
        failure = self.failureResultOf(d, ClusterTimeout)
        self.assertEqual((failure.value.responded, failure.value.expected), (1, 2))

    def test_redis_down_keeps_local_service(self) -> None:
        """With Redis down a broadcast still reaches this server's clients."""
        self.hub.down = True
        self.a.emit("x")
        self.assertEqual(self.events(self.ca), [("x", [])])


class CloseTests(ClusterTestCase):
    def test_close_unsubscribes(self) -> None:
        """After shutdown A's adapter listens no more; B's broadcasts do not reach it."""
        self.a.shutdown()
        self.clock.advance(10)
        self.assertEqual(self.hub.connections[0].subscriptions, [])
        self.b.emit("late")
        self.hub.flush()
        self.assertEqual(self.events(self.cb), [("late", [])])

    def test_adapter_composes_local_rooms(self) -> None:
        """The Redis adapter keeps its rooms in the MemoryAdapter it holds."""
        adapter = self.a.of("/").adapter
        self.assertIsInstance(adapter.local, MemoryAdapter)
        self.sa.join("red")
        self.assertEqual(adapter.local.rooms["red"], {self.sa.id})
        self.assertEqual(adapter.socket_rooms(self.sa.id), {self.sa.id, "red"})


class ReconnectReportTests(SynchronousTestCase):
    """The adapter factory reports its connection's reconnects to the server's observer."""

    def test_redis_reconnected_once_per_server(self) -> None:
        """When the shared RedisConnection is back after an outage, the
        server's observer hears redis_reconnected once, however many
        namespaces use the connection; nothing once the adapters closed."""
        from twisted.internet.testing import MemoryReactorClock

        from txsocketio.adapters.redis import redis_adapter
        from txsocketio.observer import NullObserver
        from txsocketio.redisconn import RedisConnection

        from tests.test_redisconn import _FakeProtocol

        class Spy(NullObserver):
            count = 0

            def redis_reconnected(self) -> None:
                Spy.count += 1

        reactor = MemoryReactorClock()
        conn = RedisConnection("unix:///nowhere/redis.sock", reactor=reactor)
        sio = SocketIOServer(reactor=reactor, adapter=redis_adapter(conn))
        sio.add_observer(Spy())
        sio.of("/chat")

        def cycle() -> None:
            sub, pub = _FakeProtocol(), _FakeProtocol()
            conn.subscriber_ready(sub)  # type: ignore[arg-type]
            conn.publisher_ready(pub)  # type: ignore[arg-type]
            conn.publisher_lost(pub)  # type: ignore[arg-type]
            conn.subscriber_lost(sub)  # type: ignore[arg-type]

        cycle()
        self.assertEqual(Spy.count, 0)  # the first connection is no reconnect
        cycle()
        self.assertEqual(Spy.count, 1)
        for nsp in sio.all_namespaces():
            nsp.close_adapter()
        cycle()
        self.assertEqual(Spy.count, 1)
        conn.close()
        reactor.advance(0)
