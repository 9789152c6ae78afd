"""A mixed cluster: a Node socket.io 4.8 server on @socket.io/redis-adapter 8.x
(tests/node/node_redis_server.js) and a txsocketio server in this process, on
one redis-server and key, with socket.io-client 4.x clients on both
(tests/node/cluster_clients.js)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.server import Site

from tests.support import NODE_DIR, RedisServer, free_port, poll_until, require_node_modules, sleep, spawn
from txsocketio import SocketIOServer, Socket
from txsocketio.adapters.redis import RemoteSocket, redis_adapter
from txsocketio.adapters.streams import redis_streams_adapter

B64_0102 = {"$bin": "AQI="}  # b"\x01\x02"


class JsonLinesProcess(ProcessProtocol):
    """A node child that takes one JSON command per line on stdin and writes one
    JSON line per reply (with the command's id) or event (without)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[dict[str, Any]] = []
        self.stderr = b""
        self._buffer = b""
        self._replies: dict[int, Deferred[dict[str, Any]]] = {}
        self._next = 0
        self._ended: Deferred[None] = Deferred()
        self.exited = False

    def outReceived(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            message = json.loads(line)
            waiting = self._replies.pop(message.get("id", -1), None) if "id" in message else None
            if waiting is not None:
                waiting.callback(message)
            else:
                self.messages.append(message)

    def errReceived(self, data: bytes) -> None:
        self.stderr += data

    def processEnded(self, reason: Any) -> None:
        self.exited = True
        for d in self._replies.values():
            d.errback(RuntimeError(f"{self.name} exited: {self.stderr.decode(errors='replace')[-2000:]}"))
        self._replies.clear()
        self._ended.callback(None)

    async def command(self, op: str, timeout: float = 10, **fields: Any) -> dict[str, Any]:
        assert "id" not in fields, "id is the command's own; name that field otherwise"
        self._next += 1
        d: Deferred[dict[str, Any]] = Deferred()
        self._replies[self._next] = d
        self.transport.write(json.dumps({"id": self._next, "op": op, **fields}).encode() + b"\n")
        d.addTimeout(timeout, reactor)
        reply = await d
        if not reply.get("ok"):
            raise AssertionError(f"{self.name} {op} failed: {reply}")
        return reply

    async def stop(self) -> None:
        if self.exited:
            return
        self._next += 1
        self.transport.write(json.dumps({"id": self._next, "op": "exit"}).encode() + b"\n")
        killer = reactor.callLater(5, self.transport.signalProcess, "KILL")
        await self._ended
        if killer.active():
            killer.cancel()

    def pop(self, type_: str, **match: Any) -> list[dict[str, Any]]:
        """Remove and return the messages of that type matching ``match``."""
        found = [m for m in self.messages if m.get("type") == type_
                 and all(m.get(k) == v for k, v in match.items())]
        self.messages = [m for m in self.messages if m not in found]
        return found

    def events(self, name: str) -> list[tuple[str, list[Any]]]:
        return [(m["event"], m["args"]) for m in self.pop("event", name=name)]


def make_python_server(url: str, key: str, kind: str = "pubsub") -> tuple[SocketIOServer, list[tuple[str, Any]]]:
    """The txsocketio side of the cluster, mirroring node_redis_server.js
    (``kind``: "pubsub", the Redis adapter; "streams", the streams adapter
    with ``key`` as stream name and channel prefix)."""
    if kind == "streams":
        adapter: Any = redis_streams_adapter(url, stream_name=key, channel_prefix=key, request_timeout=2.0)
    else:
        adapter = redis_adapter(url, key=key, request_timeout=2.0)
    sio = SocketIOServer(adapter=adapter)
    server_events: list[tuple[str, Any]] = []

    @sio.on("connect")
    def connect(socket: Socket, auth: Any) -> None:
        socket.data.update(name=(auth or {}).get("name"), server="py")

    @sio.on("join")
    def join(socket: Socket, room: str) -> str:
        socket.join(room)
        return "joined"

    @sio.on("shout")
    def shout(socket: Socket, text: str) -> None:
        socket.broadcast.emit("shouted", text)

    sio.on_server_side("ask", lambda x: f"py:{x}")
    sio.on_server_side("reload", lambda *args: server_events.append(("reload", list(args))))
    return sio, server_events


class MixedClusterTests(unittest.TestCase):
    timeout = 60
    #: the adapter of both servers: "pubsub" or "streams"
    adapter_kind = "pubsub"
    #: how Node's server-side handler sees b"\x01\x02" sent by server_side_emit
    #: (the pub/sub adapter's requests are JSON: a Buffer's toJSON form)
    node_sees_bytes: Any = {"type": "Buffer", "data": [1, 2]}

    async def setUp(self) -> None:
        require_node_modules("socket.io", "@socket.io/redis-adapter", "redis", "sioc4")
        if self.adapter_kind == "streams":
            require_node_modules("@socket.io/redis-streams-adapter")
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        await self.redis.start()
        key = "mixed" + uuid.uuid4().hex[:8]

        self.sio, self.server_events = make_python_server(self.redis.url, key, self.adapter_kind)
        root = Resource()
        root.putChild(b"socket.io", self.sio.resource())
        listening = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        self.addCleanup(self.sio.shutdown)
        self.py_url = f"http://127.0.0.1:{listening.getHost().port}"

        node_port = free_port()
        self.node = JsonLinesProcess("node_redis_server.js")
        spawn(["node", "node_redis_server.js", "--port", str(node_port), "--redis-port", str(self.redis.port),
               "--key", key, "--timeout", "2000", "--adapter", self.adapter_kind], cwd=NODE_DIR, protocol=self.node)
        self.addCleanup(self.node.stop)
        self.node_url = f"http://127.0.0.1:{node_port}"
        await poll_until(lambda: self.node.pop("listening") or self.node.exited, 15,
                         message=lambda: self.node.stderr.decode(errors="replace"))
        self.assertFalse(self.node.exited, self.node.stderr)

        self.clients = JsonLinesProcess("cluster_clients.js")
        spawn(["node", "cluster_clients.js"], cwd=NODE_DIR, protocol=self.clients)
        self.addCleanup(self.clients.stop)

        await self.sio.of("/").adapter.wait_ready()  # type: ignore[attr-defined]
        for _ in range(200):
            if await self.sio.of("/").server_count() == 2:
                break
            await sleep(0.025)
        self.assertEqual(await self.sio.of("/").server_count(), 2)
        self.assertEqual((await self.node.command("serverCount"))["count"], 2)

    async def connect(self, name: str, url: str) -> str:
        reply = await self.clients.command("connect", name=name, url=url, auth={"name": name})
        return reply["sid"]

    async def wait_events(self, name: str, count: int) -> list[tuple[str, list[Any]]]:
        got: list[tuple[str, list[Any]]] = []

        def enough() -> bool:
            got.extend(self.clients.events(name))
            return len(got) >= count

        await poll_until(enough, 5, message=lambda: f"{name} got {got}")
        return got

    async def test_broadcasts(self) -> None:
        """Broadcasts from either server reach the socket.io-client clients of
        both, binary included; one-room broadcasts, socket.broadcast."""
        await self.connect("A", self.py_url)
        b = await self.connect("B", self.node_url)
        self.sio.emit("from-py", b"\x01\x02", {"k": 1.5})
        await self.node.command("emit", event="from-node", args=[B64_0102, 2])
        expected = [("from-py", [B64_0102, {"k": 1.5}]), ("from-node", [B64_0102, 2])]
        self.assertEqual(sorted(await self.wait_events("A", 2)), sorted(expected))
        self.assertEqual(sorted(await self.wait_events("B", 2)), sorted(expected))

        await self.clients.command("emit", name="B", event="join", args=["red"], ack=True)
        await self.clients.command("emit", name="A", event="join", args=["blue"], ack=True)
        self.sio.to("red").emit("red-only")
        await self.node.command("emit", event="blue-only", to=["blue"])
        await self.node.command("emit", event="except-b", **{"except": [b]})
        self.sio.emit("sync")
        got_a = await self.wait_events("A", 3)
        got_b = await self.wait_events("B", 2)
        await sleep(0.1)
        got_a += self.clients.events("A")
        got_b += self.clients.events("B")
        self.assertEqual(sorted(e for e, _ in got_a), ["blue-only", "except-b", "sync"])
        self.assertEqual(sorted(e for e, _ in got_b), ["red-only", "sync"])

        await self.clients.command("emit", name="A", event="shout", args=["from A"])
        await self.clients.command("emit", name="B", event="shout", args=["from B"])
        self.assertEqual(await self.wait_events("B", 1), [("shouted", ["from A"])])
        self.assertEqual(await self.wait_events("A", 1), [("shouted", ["from B"])])

    async def test_fetch_sockets(self) -> None:
        """fetch_sockets from either server sees the sockets of both, with
        data, rooms and auth; RemoteSocket actions reach a Node-held socket and
        Node's RemoteSocket reaches ours."""
        a = await self.connect("A", self.py_url)
        b = await self.connect("B", self.node_url)
        await self.clients.command("emit", name="B", event="join", args=["red"], ack=True)

        sockets = {s.id: s for s in await self.sio.fetch_sockets()}
        self.assertEqual(set(sockets), {a, b})
        self.assertIsInstance(sockets[a], Socket)
        remote = sockets[b]
        self.assertIsInstance(remote, RemoteSocket)
        self.assertEqual((remote.data, remote.rooms, dict(remote.handshake.auth)),
                         ({"name": "B", "server": "node"}, {b, "red"}, {"name": "B"}))
        self.assertEqual([s.id for s in await self.sio.to("red").fetch_sockets()], [b])

        seen = {s["id"]: s for s in (await self.node.command("fetchSockets"))["sockets"]}
        self.assertEqual(seen[a], {"id": a, "rooms": [a], "data": {"name": "A", "server": "py"},
                                   "auth": {"name": "A"}, "local": False})
        self.assertTrue(seen[b]["local"])

        remote.emit("direct", b"\x01\x02")
        self.assertEqual(await self.wait_events("B", 1), [("direct", [B64_0102])])
        self.assertEqual(await remote.emit_with_ack("poke", 5, timeout=2),
                         [{"name": "B", "event": "poke", "args": [5]}])
        self.clients.events("B")
        await remote.join("green")

        async def node_rooms() -> list[str]:
            found = (await self.node.command("fetchSockets", to=[b]))["sockets"]
            return found[0]["rooms"] if found else []

        for _ in range(100):
            if "green" in await node_rooms():
                break
            await sleep(0.02)
        self.assertEqual(await node_rooms(), sorted([b, "green", "red"]))

        self.assertFalse((await self.node.command("remoteEmit", sid=a, event="from-node-remote"))["local"])
        self.assertEqual(await self.wait_events("A", 1), [("from-node-remote", [])])

        await remote.disconnect()
        await poll_until(lambda: self.clients.pop("disconnect", name="B"), 5)

    async def test_server_side_emit(self) -> None:
        """server_side_emit both ways, with and without answers."""
        self.assertEqual(await self.sio.server_side_emit("reload", "conf", b"\x01\x02"), [])
        await poll_until(lambda: self.node.messages, 5)
        self.assertEqual(self.node.pop("server-side"),
                         [{"type": "server-side", "event": "reload", "args": ["conf", self.node_sees_bytes]}])
        self.assertEqual(await self.sio.server_side_emit("ask", 7, want_ack=True), ["node:7"])

        await self.node.command("serverSideEmit", event="reload", args=["x", {"n": 1}])
        await poll_until(lambda: self.server_events, 5)
        self.assertEqual(self.server_events, [("reload", ["x", {"n": 1}])])
        reply = await self.node.command("serverSideEmit", event="ask", args=[8], ack=True)
        self.assertEqual(reply["responses"], ["py:8"])

    async def test_broadcast_with_acks(self) -> None:
        """Broadcasts with acknowledgements from either server collect the
        answers of the clients of both."""
        await self.connect("A", self.py_url)
        await self.connect("B", self.node_url)
        answers = await self.sio.timeout(3).emit_with_ack("question", 1, b"\x01\x02")
        self.assertEqual(sorted(answers, key=lambda r: r["name"]),
                         [{"name": n, "event": "question", "args": [1, B64_0102]} for n in ("A", "B")])
        reply = await self.node.command("emitWithAck", event="question", args=[2, B64_0102], timeout=3000)
        self.assertEqual(sorted(reply["responses"], key=lambda r: r["name"]),
                         [{"name": n, "event": "question", "args": [2, B64_0102]} for n in ("A", "B")])

    async def test_rooms_join_leave_disconnect(self) -> None:
        """sockets_join / all_rooms / disconnect_sockets across both servers."""
        a = await self.connect("A", self.py_url)
        b = await self.connect("B", self.node_url)
        await self.sio.sockets_join("everyone")
        await self.node.command("socketsJoin", rooms=["n-room"], to=[a])
        local_a = self.sio.of("/").sockets[a]
        await poll_until(lambda: "n-room" in local_a.rooms, 5)
        self.assertIn("everyone", local_a.rooms)
        expected = sorted([a, b, "everyone", "n-room"])
        for _ in range(100):
            rooms = (await self.node.command("allRooms"))["rooms"]
            if rooms == expected:
                break
            await sleep(0.02)
        self.assertEqual(rooms, expected)
        self.assertEqual(sorted(await self.sio.of("/").all_rooms()), expected)

        await self.node.command("socketsLeave", rooms=["n-room"])
        await poll_until(lambda: "n-room" not in local_a.rooms, 5)
        await self.node.command("disconnectSockets", to=[a])
        await poll_until(lambda: self.clients.pop("disconnect", name="A"), 5)
        await self.sio.disconnect_sockets()
        await poll_until(lambda: self.clients.pop("disconnect", name="B"), 5)


class MixedStreamsClusterTests(MixedClusterTests):
    """The same cluster on the streams adapters: Node's
    @socket.io/redis-streams-adapter 0.3.1 and txsocketio's RedisStreamsAdapter."""

    adapter_kind = "streams"
    #: the streams adapter's pub/sub messages are MessagePack: a real Buffer
    node_sees_bytes = B64_0102

    async def test_rooms_join_leave_disconnect(self) -> None:
        """sockets_join / sockets_leave / disconnect_sockets both ways, through
        the stream; all_rooms here sees both servers' rooms (Node's streams
        adapter has no allRooms at all)."""
        a = await self.connect("A", self.py_url)
        b = await self.connect("B", self.node_url)
        await self.sio.sockets_join("everyone")
        await self.node.command("socketsJoin", rooms=["n-room"], to=[a])
        local_a = self.sio.of("/").sockets[a]
        await poll_until(lambda: "n-room" in local_a.rooms, 5)
        self.assertIn("everyone", local_a.rooms)

        async def node_rooms() -> list[str]:
            found = (await self.node.command("fetchSockets", to=[b]))["sockets"]
            return found[0]["rooms"] if found else []

        for _ in range(100):
            if "everyone" in await node_rooms():
                break
            await sleep(0.02)
        self.assertEqual(await node_rooms(), sorted([b, "everyone"]))
        self.assertEqual(sorted(await self.sio.of("/").all_rooms()), sorted([a, b, "everyone", "n-room"]))

        await self.node.command("socketsLeave", rooms=["n-room"])
        await poll_until(lambda: "n-room" not in local_a.rooms, 5)
        await self.node.command("disconnectSockets", to=[a])
        await poll_until(lambda: self.clients.pop("disconnect", name="A"), 5)
        await self.sio.disconnect_sockets()
        await poll_until(lambda: self.clients.pop("disconnect", name="B"), 5)
