"""The Redis adapter in in-process clusters: several SocketIOServer instances in
this process, each with its own Redis connection, against a real redis-server;
clients are txsocketio.testing.TestClient."""

from __future__ import annotations

import uuid
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial import unittest

from tests.support import RedisServer, free_port, poll_until, sleep
from txsocketio import SocketIOServer
from txsocketio.adapters import redis_wire as wire
from txsocketio.adapters.base import BroadcastOptions
from txsocketio.adapters.redis import RedisAdapter, RemoteSocket, redis_adapter
from txsocketio.errors import AckTimeout, ClusterTimeout, RedisUnavailable
from txsocketio.redisconn import RedisConnection
from txsocketio.socketio.packet import Packet, PacketType
from txsocketio.socketio.socket import Socket
from txsocketio.testing import TestClient


def new_key() -> str:
    return "t" + uuid.uuid4().hex[:10]


def make_server(url: str, key: str, name: str, request_timeout: float = 2.0) -> SocketIOServer:
    """A server whose handlers let the clients join and leave rooms."""
    sio = SocketIOServer(adapter=redis_adapter(url, key=key, request_timeout=request_timeout))
    sio.name = name  # type: ignore[attr-defined]

    @sio.on("connect")
    def connect(socket: Socket, auth: Any) -> None:
        socket.data["name"] = (auth or {}).get("name")
        socket.data["server"] = name

    @sio.on("join")
    def join(socket: Socket, room: str) -> str:
        socket.join(room)
        return "joined"

    @sio.on("shout")
    def shout(socket: Socket, text: str) -> None:
        socket.broadcast.emit("shouted", text)

    return sio


class ClusterTestCase(unittest.TestCase):
    timeout = 40

    async def start_redis(self) -> RedisServer:
        redis = RedisServer()
        self.addCleanup(redis.stop)
        await redis.start()
        self.redis = redis
        return redis

    async def cluster(self, count: int, *, request_timeout: float = 2.0,
                      namespaces: tuple[str, ...] = ("/",)) -> list[SocketIOServer]:
        redis = getattr(self, "redis", None) or await self.start_redis()
        self.key = new_key()
        servers = []
        for i in range(count):
            sio = make_server(redis.url, self.key, f"s{i}", request_timeout)
            for name in namespaces:
                sio.of(name)
            self.addCleanup(sio.shutdown)
            servers.append(sio)
        for sio in servers:
            await ready(sio)
        return servers

    def client(self, sio: SocketIOServer, name: str, namespace: str = "/") -> TestClient:
        client = TestClient(sio, namespace=namespace, auth={"name": name})
        self.assertTrue(client.is_connected(namespace), client.connect_errors)
        return client


async def ready(sio: SocketIOServer) -> None:
    for nsp in sio.namespaces.values():
        if isinstance(nsp.adapter, RedisAdapter):
            await nsp.adapter.wait_ready()


async def server_count_becomes(sio: SocketIOServer, count: int) -> None:
    """Redis sees another connection's UNSUBSCRIBE or close a moment later."""
    for _ in range(100):
        if await sio.of("/").server_count() == count:
            return
        await sleep(0.02)
    raise AssertionError(f"server_count stayed at {await sio.of('/').server_count()}, not {count}")


def events(client: TestClient, namespace: str = "/") -> list[tuple[str, list[Any]]]:
    return client.pop_received(namespace)


class _Logged:
    def __init__(self, test: unittest.TestCase) -> None:
        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        test.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def texts(self) -> list[str]:
        return [formatEvent(e) for e in self.events if e.get("log_namespace") == "txsocketio.redis"]


class BroadcastTests(ClusterTestCase):
    async def test_everyone(self) -> None:
        """sio.emit on one server reaches the clients of every server once,
        binary included."""
        servers = await self.cluster(3)
        clients = [self.client(sio, f"c{i}") for i, sio in enumerate(servers)]
        servers[0].emit("hello", "world", b"\x00\xff", {"n": 1.5})
        await poll_until(lambda: all(c._received for c in clients[1:]), 5)
        await sleep(0.1)
        for client in clients:
            self.assertEqual(events(client), [("hello", ["world", b"\x00\xff", {"n": 1.5}])])

    async def test_rooms_except_and_broadcast(self) -> None:
        """to(one room) (published on the room's channel), to(several),
        except_, and socket.broadcast (the sender left out) across servers."""
        s0, s1 = await self.cluster(2)
        a, b, c = self.client(s0, "a"), self.client(s1, "b"), self.client(s1, "c")
        await a.emit_with_ack("join", "red")
        await b.emit_with_ack("join", "red")
        await c.emit_with_ack("join", "blue")
        s0.to("red").emit("one")
        s0.to("red", "blue").emit("two")
        s0.except_("red").emit("three")
        a.emit("shout", "hi")
        await poll_until(lambda: len(b._received) >= 3 and len(c._received) >= 3, 5)
        await sleep(0.1)
        self.assertEqual(events(a), [("one", []), ("two", [])])
        self.assertEqual(events(b), [("one", []), ("two", []), ("shouted", ["hi"])])
        self.assertEqual(events(c), [("two", []), ("three", []), ("shouted", ["hi"])])

    async def test_local(self) -> None:
        """.local broadcasts stay on this server."""
        s0, s1 = await self.cluster(2)
        a, b = self.client(s0, "a"), self.client(s1, "b")
        s0.local.emit("mine")
        s0.emit("all")
        await poll_until(lambda: b._received, 5)
        await sleep(0.1)
        self.assertEqual(events(a), [("mine", []), ("all", [])])
        self.assertEqual(events(b), [("all", [])])

    async def test_namespaces(self) -> None:
        """Each namespace has its own channels; a dynamic namespace's children
        each get a Redis adapter."""
        s0, s1 = await self.cluster(2, namespaces=("/", "/chat"))
        for sio in (s0, s1):
            sio.of(lambda name, auth: name.startswith("/org-"))
        a, b = self.client(s0, "a", "/chat"), self.client(s1, "b", "/chat")
        main = self.client(s1, "m")
        d0, d1 = self.client(s0, "d0", "/org-1"), self.client(s1, "d1", "/org-1")
        await ready(s0)
        await ready(s1)
        s0.of("/chat").emit("chat")
        s0.of("/org-1").emit("org")
        await poll_until(lambda: b._received and d1._received, 5)
        await sleep(0.1)
        self.assertEqual([events(a, "/chat"), events(b, "/chat")], [[("chat", [])]] * 2)
        self.assertEqual([events(d0, "/org-1"), events(d1, "/org-1")], [[("org", [])]] * 2)
        self.assertEqual(events(main), [])

    async def test_unserialisable(self) -> None:
        """An argument that cannot be sent raises TypeError before anything is published."""
        s0, s1 = await self.cluster(2)
        b = self.client(s1, "b")
        self.assertRaises(TypeError, s0.emit, "bad", object())
        s0.emit("good")
        await poll_until(lambda: b._received, 5)
        self.assertEqual(events(b), [("good", [])])


class AckTests(ClusterTestCase):
    async def test_broadcast_with_acks(self) -> None:
        """timeout().emit_with_ack collects one answer per client of every server."""
        servers = await self.cluster(3)
        for i, sio in enumerate(servers):
            for j in range(2):
                client = self.client(sio, f"c{i}{j}")
                client.on("question", lambda n, who=f"c{i}{j}": [who, n, b"\x01"])
        answers = await servers[1].timeout(3).emit_with_ack("question", 42)
        self.assertEqual(sorted(a[0] for a in answers), ["c00", "c01", "c10", "c11", "c20", "c21"])
        self.assertTrue(all(a[1:] == [42, b"\x01"] for a in answers))

    async def test_partial_acks(self) -> None:
        """A client that never answers: AckTimeout with the answers that came."""
        s0, s1 = await self.cluster(2)
        self.client(s0, "a").on("q", lambda: "a")
        self.client(s1, "b").on("q", lambda: "b")
        self.client(s1, "silent")
        with self.assertRaises(AckTimeout) as caught:
            await s0.timeout(0.5).emit_with_ack("q")
        self.assertEqual(sorted(caught.exception.responses), ["a", "b"])
        self.assertEqual(caught.exception.expected, 3)


class FetchTests(ClusterTestCase):
    async def test_fetch_sockets(self) -> None:
        """fetch_sockets gives local Sockets and RemoteSockets (id, handshake, rooms, data)."""
        s0, s1, s2 = await self.cluster(3)
        a, b, c = self.client(s0, "a"), self.client(s1, "b"), self.client(s2, "c")
        await b.emit_with_ack("join", "red")
        sockets = await s0.fetch_sockets()
        by_name = {s.data["name"]: s for s in sockets}
        self.assertEqual(set(by_name), {"a", "b", "c"})
        self.assertIsInstance(by_name["a"], Socket)
        remote = by_name["b"]
        self.assertIsInstance(remote, RemoteSocket)
        self.assertEqual(remote.id, b.sids["/"])
        self.assertEqual(remote.rooms, {b.sids["/"], "red"})
        self.assertEqual(remote.data, {"name": "b", "server": "s1"})
        self.assertEqual(remote.handshake.auth, {"name": "b"})
        self.assertEqual(remote.handshake.address, "127.0.0.1")
        red = await s2.to("red").fetch_sockets()
        self.assertEqual([s.id for s in red], [b.sids["/"]])
        self.assertEqual(len(await s0.local.fetch_sockets()), 1)
        self.assertEqual(len(await s0.except_("red").fetch_sockets()), 2)

    async def test_remote_socket_actions(self) -> None:
        """A RemoteSocket's emit, emit_with_ack, join, leave and disconnect reach
        the socket on its own server."""
        s0, s1 = await self.cluster(2)
        self.client(s0, "a")
        b = self.client(s1, "b")
        b.on("ping", lambda x: x * 2)
        [remote] = [s for s in await s0.fetch_sockets() if isinstance(s, RemoteSocket)]
        remote.emit("direct", 1)
        await poll_until(lambda: b._received, 5)
        self.assertEqual(events(b), [("direct", [1])])
        self.assertEqual(await remote.emit_with_ack("ping", 21, timeout=2), [42])
        local_b = s1.of("/").sockets[b.sids["/"]]
        await remote.join("green")
        await poll_until(lambda: "green" in local_b.rooms, 5)
        await remote.leave("green")
        await poll_until(lambda: "green" not in local_b.rooms, 5)
        await remote.disconnect()
        await poll_until(lambda: not b.is_connected(), 5)

    async def test_join_leave_disconnect(self) -> None:
        """sockets_join / sockets_leave / disconnect_sockets act on every server."""
        s0, s1 = await self.cluster(2)
        a, b = self.client(s0, "a"), self.client(s1, "b")
        sa, sb = s0.of("/").sockets[a.sids["/"]], s1.of("/").sockets[b.sids["/"]]
        await s0.sockets_join("all")
        self.assertIn("all", sa.rooms)  # at once here
        await poll_until(lambda: "all" in sb.rooms, 5)
        await s1.sockets_leave("all")
        self.assertNotIn("all", sb.rooms)
        await poll_until(lambda: "all" not in sa.rooms, 5)
        await s1.except_(b.sids["/"]).disconnect_sockets()
        await poll_until(lambda: not a.is_connected(), 5)
        self.assertTrue(b.is_connected())
        await s0.disconnect_sockets(close=True)
        await poll_until(lambda: b.connection.closed, 5)

    async def test_all_rooms_and_server_count(self) -> None:
        s0, s1, s2 = await self.cluster(3)
        a, b = self.client(s0, "a"), self.client(s2, "b")
        await a.emit_with_ack("join", "x")
        await b.emit_with_ack("join", "y")
        rooms = await s1.of("/").all_rooms()
        self.assertEqual(rooms, {"x", "y", a.sids["/"], b.sids["/"]})
        self.assertEqual(await s1.of("/").server_count(), 3)


class ServerSideEmitTests(ClusterTestCase):
    async def test_without_ack(self) -> None:
        """server_side_emit calls on_server_side handlers of the other servers, not its own."""
        servers = await self.cluster(3)
        seen: list[tuple[str, Any]] = []
        for sio in servers:
            sio.on_server_side("reload", lambda what, n=sio.name: seen.append((n, what)))
        self.assertEqual(await servers[0].server_side_emit("reload", "config"), [])
        await poll_until(lambda: len(seen) == 2, 5)
        await sleep(0.1)
        self.assertEqual(sorted(seen), [("s1", "config"), ("s2", "config")])

    async def test_with_ack(self) -> None:
        """With want_ack: one answer per other server (plain, Deferred or coroutine handlers)."""
        s0, s1, s2 = await self.cluster(3)

        async def slow(x: int) -> str:
            await sleep(0.05)
            return f"s2:{x}"

        s1.on_server_side("ask", lambda x: f"s1:{x}")
        s2.of("/").on_server_side("ask", slow)
        answers = await s0.server_side_emit("ask", 7, want_ack=True)
        self.assertEqual(sorted(answers), ["s1:7", "s2:7"])

    async def test_alone(self) -> None:
        """A lone server gets no answers, at once."""
        [s0] = await self.cluster(1)
        self.assertEqual(await s0.server_side_emit("ask", want_ack=True), [])
        self.assertRaises(TypeError, s0.server_side_emit, "ask", object())


class TimeoutTests(ClusterTestCase):
    async def silent_node(self, key: str, nsp: str = "/") -> RedisConnection:
        """A 'server' that subscribes to the request channel (so it counts)
        but never answers."""
        conn = RedisConnection(self.redis.url)
        self.addCleanup(conn.close)
        conn.subscribe(wire.Channels(key, nsp).request, lambda *a: None)
        await conn.wait_subscribed()
        return conn

    async def test_fetch_partial(self) -> None:
        """fetch_sockets times out with ClusterTimeout holding the local and the
        answered remote sockets, and who answered."""
        s0, s1 = await self.cluster(2, request_timeout=0.5)
        await self.silent_node(self.key)
        self.client(s0, "a")
        self.client(s1, "b")
        with self.assertRaises(ClusterTimeout) as caught:
            await s0.fetch_sockets()
        e = caught.exception
        self.assertEqual(sorted(s.data["name"] for s in e.results), ["a", "b"])
        self.assertEqual((e.responded, e.expected), (1, 2))
        self.assertIn("fetchSockets", str(e))

    async def test_server_side_emit_and_all_rooms_partial(self) -> None:
        s0, s1 = await self.cluster(2, request_timeout=0.5)
        await self.silent_node(self.key)
        s1.on_server_side("ask", lambda: "s1")
        with self.assertRaises(ClusterTimeout) as caught:
            await s0.server_side_emit("ask", want_ack=True, timeout=0.3)
        self.assertEqual((caught.exception.results, caught.exception.responded, caught.exception.expected),
                         (["s1"], 1, 2))
        a = self.client(s1, "a")
        with self.assertRaises(ClusterTimeout) as caught:
            await s0.of("/").all_rooms()
        self.assertEqual(caught.exception.results, {a.sids["/"]})

    async def test_stopped_server(self) -> None:
        """A server whose adapter stopped listening (closed) no longer counts."""
        s0, s1 = await self.cluster(2, request_timeout=0.5)
        await s1.of("/").adapter.close()
        await server_count_becomes(s0, 1)
        self.assertEqual(len(await s0.fetch_sockets()), 0)


class FaultTests(ClusterTestCase):
    async def test_redis_restart(self) -> None:
        """Redis killed and restarted: the servers subscribe again, broadcasts and
        requests work, and every message is delivered exactly once."""
        s0, s1 = await self.cluster(2)
        a, b = self.client(s0, "a"), self.client(s1, "b")
        await self.redis.kill()
        s0.emit("during")  # delivered locally; the publish waits, then is sent or given up
        await self.redis.restart()
        for sio in (s0, s1):
            await poll_until(lambda sio=sio: sio.of("/").adapter.connection.connected, 10)
            await ready(sio)
        events(a)
        events(b)
        for i in range(5):
            s0.emit("after", i)
        await poll_until(lambda: len(b._received) >= 5, 5)
        await sleep(0.2)
        self.assertEqual(events(a), [("after", [i]) for i in range(5)])
        self.assertEqual([e for e in events(b) if e[0] == "after"], [("after", [i]) for i in range(5)])
        self.assertEqual(len(await s1.fetch_sockets()), 2)

    async def test_unreachable_at_start(self) -> None:
        """Redis down at start: local service continues (broadcasts reach local
        clients), one warning is logged, cluster requests fail with
        ClusterTimeout holding the local part; when Redis comes up the servers join."""
        logged = _Logged(self)
        port = free_port()
        url = f"redis://127.0.0.1:{port}"
        key = new_key()
        s0, s1 = make_server(url, key, "s0", 0.3), make_server(url, key, "s1", 0.3)
        for sio in (s0, s1):
            self.addCleanup(sio.shutdown)
        a, b = self.client(s0, "a"), self.client(s1, "b")
        s0.emit("local")
        self.assertEqual(events(a), [("local", [])])
        with self.assertRaises(ClusterTimeout) as caught:
            await s0.fetch_sockets()
        self.assertEqual([s.data["name"] for s in caught.exception.results], ["a"])
        self.assertIsNone(caught.exception.expected)
        with self.assertRaises(RedisUnavailable):
            await s0.of("/").server_count()
        self.assertTrue(any("unreachable" in t for t in logged.texts()), logged.texts())
        redis = RedisServer(port)
        self.addCleanup(redis.stop)
        await redis.start()
        await ready(s0)
        await ready(s1)
        s0.emit("cluster")
        await poll_until(lambda: b._received, 5)
        self.assertEqual(events(b), [("cluster", [])])

    async def test_shutdown_unsubscribes(self) -> None:
        """sio.shutdown() closes the adapters: the server leaves the request
        channel and its connection is closed."""
        s0, s1 = await self.cluster(2)
        conn = s1.of("/").adapter.connection
        await s1.shutdown()
        self.assertTrue(conn.closed)
        await server_count_becomes(s0, 1)

    async def test_malformed_messages(self) -> None:
        """Garbage on the channels is ignored with a warning."""
        logged = _Logged(self)
        [s0] = await self.cluster(1)
        a = self.client(s0, "a")
        conn = s0.of("/").adapter.connection
        channels = wire.Channels(self.key, "/")
        for channel in (channels.broadcast, channels.request, channels.response):
            await conn.publish(channel, b"\xc1garbage")
        await poll_until(lambda: len([t for t in logged.texts() if "malformed" in t]) == 3, 5)
        self.assertTrue(a.is_connected())


class WireCompatibilityTests(ClusterTestCase):
    async def test_emitter_messages(self) -> None:
        """Messages shaped as @socket.io/redis-emitter sends them (uid "emitter",
        requests without uid) are obeyed."""
        [s0] = await self.cluster(1)
        a = self.client(s0, "a")
        seen: list[Any] = []
        s0.on_server_side("hello", lambda *args: seen.append(args))
        conn = RedisConnection(self.redis.url)
        self.addCleanup(conn.close)
        channels = wire.Channels(self.key, "/")
        packet = Packet(PacketType.EVENT, "/", ["from-emitter", b"\x01"])
        await conn.publish(channels.broadcast,
                           wire.encode_broadcast(wire.EMITTER_UID, packet, BroadcastOptions(), emitter=True))
        await conn.publish(channels.request, wire.remote_join_request(None, BroadcastOptions(), ["joined"]))
        await conn.publish(channels.request, wire.server_side_emit_request(wire.EMITTER_UID, ["hello", 1]))
        await poll_until(lambda: a._received and seen, 5)
        self.assertEqual(events(a), [("from-emitter", [b"\x01"])])
        await poll_until(lambda: "joined" in s0.of("/").sockets[a.sids["/"]].rooms, 5)
        self.assertEqual(seen, [(1,)])

    async def test_specific_response_channel(self) -> None:
        """publish_on_specific_response_channel: answers go to the requester's own channel."""
        redis = await self.start_redis()
        key = new_key()
        servers = []
        for i in range(2):
            sio = SocketIOServer(adapter=redis_adapter(redis.url, key=key,
                                                       publish_on_specific_response_channel=True))
            self.addCleanup(sio.shutdown)
            servers.append(sio)
        watcher = RedisConnection(redis.url)
        self.addCleanup(watcher.close)
        shared: list[bytes] = []
        watcher.subscribe(wire.Channels(key, "/").response, lambda ch, p: shared.append(p))
        await watcher.wait_subscribed()
        for sio in servers:
            await ready(sio)
        TestClient(servers[1])
        sockets = await servers[0].fetch_sockets()
        self.assertEqual(len(sockets), 1)
        self.assertEqual(shared, [])

    async def test_one_factory_per_server(self) -> None:
        """A redis_adapter(url) given to a second server is refused: both would
        count as one server."""
        redis = await self.start_redis()
        factory = redis_adapter(redis.url, key=new_key())
        first = SocketIOServer(adapter=factory)
        self.addCleanup(first.shutdown)
        self.assertRaises(ValueError, SocketIOServer, adapter=factory)

    async def test_request_ids_are_not_confused(self) -> None:
        """Answers to one server's request are ignored by the others."""
        s0, s1, s2 = await self.cluster(3)
        self.client(s2, "c")
        results = await Deferred.fromCoroutine(_both(s0, s1))
        self.assertEqual([len(r) for r in results], [1, 1])


async def _both(s0: SocketIOServer, s1: SocketIOServer) -> list[list[Any]]:
    from twisted.internet.defer import gatherResults

    return await gatherResults([s0.fetch_sockets(), s1.fetch_sockets()])
