"""Clusters with real peers: txsocketio processes, Node socket.io servers, emitters, nginx.

Every test starts its own redis-server on a free port, its servers as
processes (``python -m twisted txsocketio --app tests.apps.cluster_app:make_server
--redis ...``, and ``tests/node/cluster_node_server.js`` for Node's socket.io
on @socket.io/redis-adapter), and one node process driving every
socket.io-client 4.x socket of the test (``tests/node/cluster_clients.js``).
Under ``CI=true`` a missing redis-server, node or nginx fails the test.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import sys
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.trial import unittest

from tests.support import (
    NODE_DIR,
    PROJECT_ROOT,
    LOCALHOST,
    RedisServer,
    ServerProcess,
    free_port,
    poll_until,
    require_node_modules,
    require_tool,
    run_process,
    sleep,
    spawn,
)

CLIENTS_SCRIPT = NODE_DIR / "cluster_clients.js"
NODE_SERVER_SCRIPT = NODE_DIR / "cluster_node_server.js"
NODE_EMITTER_SCRIPT = NODE_DIR / "emitter_node.js"
CLUSTER_APP = "tests.apps.cluster_app:make_server"
EXAMPLE_DIR = PROJECT_ROOT / "examples" / "cluster"


# ---------------------------------------------------------------------------
# Binary values in the driver's JSON


def to_json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bin": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        if list(value) == ["$bin"]:
            return base64.b64decode(value["$bin"])
        return {k: from_json(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------
# The node driver of socket.io-client sockets


class NodeClients(ProcessProtocol):
    """``tests/node/cluster_clients.js``: many socket.io-client 4.x sockets in
    one node process, driven with JSON lines (see the script's header).

    ::

        clients = await NodeClients.start(self)       # stopped at cleanup
        await clients.connect("a", url)
        await clients.call("a", "join", "r1")         # -> the ack's first argument
        await clients.wait_for("a", "news")           # -> [args of each "news" so far]
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._next_id = 0
        self._pending: dict[int, Deferred] = {}
        self.events: list[dict[str, Any]] = []
        self.stderr = bytearray()
        self.ended: Deferred = Deferred()
        self.exit_code: int | None = None

    @classmethod
    async def start(cls, testcase: unittest.TestCase) -> "NodeClients":
        require_node_modules("sioc4")
        clients = cls()
        spawn([require_tool("node"), str(CLIENTS_SCRIPT)], cwd=NODE_DIR, protocol=clients)
        testcase.addCleanup(clients.stop)
        return clients

    # -- the process ------------------------------------------------------------

    def outReceived(self, data: bytes) -> None:
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            if line.strip():
                self._line(json.loads(line))

    def errReceived(self, data: bytes) -> None:
        self.stderr += data

    def processEnded(self, reason: Any) -> None:
        self.exit_code = getattr(reason.value, "exitCode", None)
        pending, self._pending = self._pending, {}
        for d in pending.values():
            d.errback(unittest.FailTest(f"cluster_clients.js exited: {self.stderr.decode(errors='replace')}"))
        self.ended.callback(None)

    def _line(self, message: dict[str, Any]) -> None:
        if "id" in message:
            d = self._pending.pop(message["id"], None)
            if d is not None:
                d.callback(message)
        else:
            self.events.append(message)

    async def stop(self) -> None:
        if self.ended.called:
            return
        self.transport.closeStdin()  # the script closes its sockets and exits
        killer = reactor.callLater(3, self.transport.signalProcess, "KILL")
        await self.ended
        if killer.active():
            killer.cancel()

    # -- commands -----------------------------------------------------------------

    async def command(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one command; its reply, or a test failure when ``ok`` is false."""
        if self.ended.called:
            raise unittest.FailTest(f"cluster_clients.js has exited: {self.stderr.decode(errors='replace')}")
        self._next_id += 1
        d: Deferred = Deferred()
        self._pending[self._next_id] = d
        self.transport.write(json.dumps({"id": self._next_id, "op": op, **fields}).encode() + b"\n")
        reply = await d
        if not reply.get("ok"):
            raise unittest.FailTest(f"{op} {fields}: {reply.get('error')}")
        return reply

    async def connect(self, name: str, url: str, nsp: str = "/", transports: tuple[str, ...] = ("websocket",),
                      auth: dict[str, Any] | None = None, local_address: str | None = None) -> str:
        """Open socket ``name``; its socket id once the namespace is joined."""
        fields: dict[str, Any] = {"name": name, "url": url, "nsp": nsp, "transports": list(transports)}
        if auth is not None:
            fields["auth"] = auth
        if local_address is not None:
            fields["localAddress"] = local_address
        reply = await self.command("connect", **fields)
        return reply["sid"]

    async def call(self, name: str, event: str, *args: Any, timeout: float = 5.0) -> Any:
        """Emit with an ack; the ack's first argument."""
        reply = await self.command("emit", name=name, event=event, args=to_json(list(args)), ack=True,
                                   timeout=int(timeout * 1000))
        return from_json(reply["ack"])[0]

    async def emit(self, name: str, event: str, *args: Any) -> None:
        await self.command("emit", name=name, event=event, args=to_json(list(args)))

    async def disconnect(self, name: str) -> None:
        await self.command("disconnect", name=name)

    # -- what the sockets saw -----------------------------------------------------

    def received(self, name: str, event: str) -> list[list[Any]]:
        """The arguments of every ``event`` socket ``name`` received, in order."""
        return [from_json(e["args"]) for e in self.events
                if e.get("type") == "event" and e["name"] == name and e["event"] == event]

    def disconnects(self, name: str) -> list[str]:
        return [e["reason"] for e in self.events if e.get("type") == "disconnect" and e["name"] == name]

    async def wait_for(self, name: str, event: str, count: int = 1, timeout: float = 5.0) -> list[list[Any]]:
        """Wait until socket ``name`` has received ``count`` ``event``s; all of them."""
        await poll_until(lambda: len(self.received(name, event)) >= count, timeout, interval=0.02,
                         message=lambda: f"{name} got {self.received(name, event)!r} of {event!r}, "
                                         f"wanted {count}; all events: {self.events!r}")
        return self.received(name, event)

    async def wait_for_disconnect(self, name: str, timeout: float = 5.0) -> str:
        await poll_until(lambda: self.disconnects(name), timeout, interval=0.02,
                         message=lambda: f"{name} was not disconnected; events: {self.events!r}")
        return self.disconnects(name)[0]


# ---------------------------------------------------------------------------
# Servers


def txsocketio_server(name: str, redis_url: str, port: int | None = None, key: str | None = None) -> ServerProcess:
    """A txsocketio process with tests/apps/cluster_app.py on the Redis adapter."""
    port = port or free_port()
    argv = [sys.executable, "-m", "twisted", "txsocketio", "--app", CLUSTER_APP,
            "--redis", f"{redis_url}/0", "--listen", f"tcp:{port}:interface={LOCALHOST}"]
    if key is not None:
        argv += ["--redis-key", key]
    return ServerProcess(argv, port, env={"CLUSTER_NODE": name}, name=name)


def node_server(name: str, redis_url: str, port: int | None = None, key: str = "socket.io") -> ServerProcess:
    """A Node socket.io 4.x server on @socket.io/redis-adapter (cluster_node_server.js)."""
    require_node_modules("socket.io", "@socket.io/redis-adapter", "redis")
    port = port or free_port()
    return ServerProcess([require_tool("node"), str(NODE_SERVER_SCRIPT), "--port", str(port),
                          "--redis", redis_url, "--key", key, "--name", name],
                         port, cwd=NODE_DIR, name=name)


def url_of(server: ServerProcess) -> str:
    return f"http://{LOCALHOST}:{server.port}"


class ClusterTestCase(unittest.TestCase):
    """Helpers to start Redis, servers and the client driver."""

    timeout = 90

    async def start_redis(self) -> RedisServer:
        redis = RedisServer()
        self.addCleanup(redis.stop)
        await redis.start()
        return redis

    async def start(self, server: ServerProcess) -> ServerProcess:
        self.addCleanup(server.stop)
        await server.start()
        return server

    async def start_txsocketio(self, redis: RedisServer, *names: str, key: str | None = None) -> list[ServerProcess]:
        servers = [txsocketio_server(name, redis.url, key=key) for name in names]
        for server in servers:
            self.addCleanup(server.stop)
        for server in servers:
            await server.start()
        return servers

    async def clients(self) -> NodeClients:
        return await NodeClients.start(self)

    async def wait_for_servers(self, clients: NodeClients, socket: str, count: int, nsp_hint: str = "") -> None:
        """Wait until the cluster seen from ``socket``'s server counts ``count`` servers
        (the adapters have subscribed)."""
        seen: list[Any] = []

        async def check() -> bool:
            seen.append(await clients.call(socket, "server_count"))
            return seen[-1] == count

        deadline = reactor.seconds() + 10
        while not await check():
            if reactor.seconds() > deadline:
                self.fail(f"server_count stayed {seen[-1]!r}, not {count}")
            await sleep(0.1)


async def sync(clients: NodeClients, sender: str, *receivers: str, nsp_marker: str = "sync") -> None:
    """Everything ``sender``'s server published before now has reached
    ``receivers``: a marker sent to everyone from the same socket arrives
    after it (Redis keeps one publisher's order).  Makes "did not receive" exact."""
    sync.counter += 1  # type: ignore[attr-defined]
    marker = f"{nsp_marker}-{sync.counter}"  # type: ignore[attr-defined]
    await clients.call(sender, "relay", {"event": "marker", "args": [marker], "self": True})
    for name in (sender, *receivers):
        await poll_until(lambda name=name: [marker] in clients.received(name, "marker"), 5, interval=0.02,
                         message=lambda name=name: f"{name} did not get {marker}: {clients.events!r}")


sync.counter = 0  # type: ignore[attr-defined]


class TxsocketioClusterTests(ClusterTestCase):
    """Two and three txsocketio processes sharing one Redis."""

    async def test_two_processes(self) -> None:
        """Broadcasts, rooms, exclusions, namespaces, fetch_sockets, broadcast
        acks, sockets_join/leave, disconnect_sockets and server-side emits
        between clients of two processes (WebSocket and polling clients)."""
        redis = await self.start_redis()
        py1, py2 = await self.start_txsocketio(redis, "py1", "py2")
        clients = await self.clients()
        a = await clients.connect("a", url_of(py1))
        b = await clients.connect("b", url_of(py2))
        c = await clients.connect("c", url_of(py2), transports=("polling",))
        await self.wait_for_servers(clients, "a", 2)
        self.assertEqual((await clients.call("a", "whoami"))["server"], "py1")
        self.assertEqual((await clients.call("c", "whoami"))["server"], "py2")

        # everyone / everyone but the sender
        await clients.call("a", "relay", {"event": "all", "args": [1, "é", {"x": [True, None]}], "self": True})
        for name in "abc":
            self.assertEqual(await clients.wait_for(name, "all"), [[1, "é", {"x": [True, None]}]])
        await clients.call("b", "relay", {"event": "others", "args": [b"\x00\xff"]})
        self.assertEqual(await clients.wait_for("a", "others"), [[b"\x00\xff"]])   # binary crosses too
        self.assertEqual(await clients.wait_for("c", "others"), [[b"\x00\xff"]])
        await sync(clients, "b", "a", "c")
        self.assertEqual(clients.received("b", "others"), [])

        # rooms and exclusions across processes
        await clients.call("a", "join", "r1", "r2")
        await clients.call("c", "join", "r1")
        await clients.call("b", "relay", {"event": "in r1", "to": ["r1"]})
        await clients.wait_for("a", "in r1")
        await clients.wait_for("c", "in r1")
        await clients.call("b", "relay", {"event": "r1 not r2", "to": ["r1"], "except": ["r2"], "self": True})
        await clients.wait_for("c", "r1 not r2")
        await clients.call("a", "relay", {"event": "to c", "to": [c]})   # a socket id is a room
        await clients.wait_for("c", "to c")
        await sync(clients, "b", "a", "c")
        await sync(clients, "a", "b", "c")
        self.assertEqual(clients.received("b", "in r1"), [])
        self.assertEqual(clients.received("a", "r1 not r2"), [])
        self.assertEqual(clients.received("b", "to c"), [])

        # fetch_sockets and all_rooms see the other process
        found = await clients.call("b", "fetch", {"to": ["r1"]})
        self.assertEqual(found, sorted([{"id": a, "rooms": sorted([a, "r1", "r2"])},
                                        {"id": c, "rooms": sorted([c, "r1"])}], key=lambda s: s["id"]))
        self.assertEqual(len(await clients.call("a", "fetch", {})), 3)
        self.assertTrue({"r1", "r2", a, b, c} <= set(await clients.call("a", "all_rooms")))

        # a broadcast with acknowledgements collects every client's answer
        result = await clients.call("a", "ack_all", {"event": "question", "args": [42], "timeout": 3000})
        self.assertTrue(result["ok"], result)
        self.assertEqual(sorted(r["name"] for r in result["responses"]), ["a", "b", "c"])
        self.assertEqual(result["responses"][0]["args"], [42])
        result = await clients.call("b", "ack_all", {"event": "question", "to": ["r2"], "timeout": 3000})
        self.assertEqual([r["name"] for r in result["responses"]], ["a"])

        # sockets_join / sockets_leave on another process's sockets
        await clients.call("b", "sockets_join", {"to": [a], "rooms": ["joined"]})
        await clients.call("b", "relay", {"event": "joined", "to": ["joined"]})
        await clients.wait_for("a", "joined")
        await clients.call("b", "sockets_leave", {"to": ["r1"], "rooms": ["r1"]})
        await clients.call("b", "relay", {"event": "in r1 again", "to": ["r1"], "self": True})
        await sync(clients, "b", "a", "c")
        self.assertEqual(clients.received("a", "in r1 again") + clients.received("c", "in r1 again"), [])

        # server-side emits reach the other process's on_server_side handlers
        await clients.call("a", "server_side_emit", {"event": "hello", "args": ["from py1", 1]})
        await poll_until_call(clients, "b", "server_events", lambda events: events == [["hello", "from py1", 1]])
        self.assertEqual(await clients.call("a", "server_events"), [])   # not to itself

        # disconnect_sockets from the other process
        await clients.call("b", "disconnect_sockets", {"to": [a]})
        self.assertEqual(await clients.wait_for_disconnect("a"), "io server disconnect")
        self.assertEqual(len(await clients.call("b", "fetch", {})), 2)

    async def test_namespaces(self) -> None:
        """A broadcast in /chat reaches /chat clients of the other process, not / ones."""
        redis = await self.start_redis()
        py1, py2 = await self.start_txsocketio(redis, "py1", "py2")
        clients = await self.clients()
        await clients.connect("a", url_of(py1), nsp="/chat")
        await clients.connect("b", url_of(py2), nsp="/chat")
        await clients.connect("root", url_of(py2))
        await self.wait_for_servers(clients, "a", 2)
        await clients.call("a", "relay", {"event": "chat", "args": ["hi"]})
        self.assertEqual(await clients.wait_for("b", "chat"), [["hi"]])
        await sync(clients, "a", "b")
        await clients.call("a", "relay", {"event": "chat2", "args": ["hi"]})
        await clients.call("root", "relay", {"event": "root", "self": True})
        await clients.wait_for("root", "root")
        await clients.wait_for("b", "chat2")
        self.assertEqual(clients.received("root", "chat") + clients.received("b", "root"), [])

    async def test_three_processes(self) -> None:
        """Three processes: a room spanning all three, acks from all three, server_count 3."""
        redis = await self.start_redis()
        servers = await self.start_txsocketio(redis, "py1", "py2", "py3")
        clients = await self.clients()
        for index, server in enumerate(servers):
            await clients.connect(f"c{index}", url_of(server), transports=("websocket",) if index else ("polling",))
            await clients.call(f"c{index}", "join", "everywhere")
        await clients.connect("outside", url_of(servers[1]))
        await self.wait_for_servers(clients, "c0", 3)
        await clients.call("c2", "relay", {"event": "hey", "to": ["everywhere"], "self": True})
        for index in range(3):
            await clients.wait_for(f"c{index}", "hey")
        result = await clients.call("c1", "ack_all", {"event": "q", "to": ["everywhere"], "timeout": 3000})
        self.assertEqual(sorted(r["name"] for r in result["responses"]), ["c0", "c1", "c2"])
        found = await clients.call("c0", "fetch", {"to": ["everywhere"]})
        self.assertEqual(len(found), 3)
        await clients.call("c0", "server_side_emit", {"event": "bye", "args": [3]})
        for name in ("c1", "c2"):
            await poll_until_call(clients, name, "server_events", lambda events: events == [["bye", 3]])
        await sync(clients, "c2", "outside")
        self.assertEqual(clients.received("outside", "hey"), [])


async def poll_until_call(clients: NodeClients, name: str, event: str, predicate: Any, timeout: float = 5.0) -> Any:
    """Call ``event`` on ``name``'s server until its answer satisfies ``predicate``."""
    answers: list[Any] = []
    deadline = reactor.seconds() + timeout
    while True:
        answers.append(await clients.call(name, event))
        if predicate(answers[-1]):
            return answers[-1]
        if reactor.seconds() > deadline:
            raise unittest.FailTest(f"{event} on {name}'s server answered {answers[-1]!r}")
        await sleep(0.05)


class EmitterTests(ClusterTestCase):
    """Emitters (processes that are not servers) reaching clients of the cluster."""

    async def test_node_emitter_reaches_txsocketio_clients(self) -> None:
        """@socket.io/redis-emitter: emit to everyone, a room, except a room, another
        namespace, volatile, binary; socketsJoin/socketsLeave; serverSideEmit;
        disconnectSockets; on two txsocketio processes."""
        require_node_modules("@socket.io/redis-emitter", "redis")
        redis = await self.start_redis()
        py1, py2 = await self.start_txsocketio(redis, "py1", "py2")
        clients = await self.clients()
        a = await clients.connect("a", url_of(py1))
        await clients.connect("b", url_of(py2), transports=("polling",))
        await clients.connect("chat", url_of(py2), nsp="/chat")
        await clients.call("a", "join", "r1")
        await clients.call("b", "join", "r1", "muted")
        await self.wait_for_servers(clients, "a", 2)

        async def node_emit(*ops: dict[str, Any]) -> None:
            result = await run_process([require_tool("node"), str(NODE_EMITTER_SCRIPT), "--redis", redis.url,
                                        json.dumps(ops)], cwd=NODE_DIR)
            self.assertEqual(result.exit_code, 0, result.describe())

        await node_emit(
            {"op": "emit", "event": "all", "args": [1, {"$bin": "AP8="}]},
            {"op": "emit", "to": ["r1"], "except": ["muted"], "event": "r1", "args": []},
            {"op": "emit", "nsp": "/chat", "event": "chat", "args": ["é"]},
            {"op": "emit", "volatile": True, "to": ["r1", "nobody"], "event": "volatile", "args": []},
            {"op": "socketsJoin", "to": [a], "rooms": ["vip"]},
            {"op": "emit", "to": ["vip"], "event": "vip", "args": []},
            {"op": "serverSideEmit", "args": ["hello", "from node", 2]},
        )
        for name in "ab":
            self.assertEqual(await clients.wait_for(name, "all"), [[1, b"\x00\xff"]])
        await clients.wait_for("a", "volatile")   # (b polls: a volatile event may be dropped for it)
        self.assertEqual(await clients.wait_for("a", "r1"), [[]])
        self.assertEqual(await clients.wait_for("chat", "chat"), [["é"]])
        await clients.wait_for("a", "vip")
        for name in "ab":   # both servers got it (the emitter is nobody's peer)
            await poll_until_call(clients, name, "server_events", lambda e: e == [["hello", "from node", 2]])
        await sync(clients, "b", "a")   # ("chat" got "chat", published after "all": exact too)
        self.assertEqual(clients.received("b", "r1") + clients.received("b", "vip") + clients.received("chat", "all"),
                         [])
        await node_emit({"op": "socketsLeave", "rooms": ["r1"]},
                        {"op": "emit", "to": ["r1"], "event": "r1 again", "args": []},
                        {"op": "disconnectSockets", "to": ["muted"], "close": True})
        self.assertEqual(await clients.wait_for_disconnect("b"), "io server disconnect")
        await sync(clients, "a")
        self.assertEqual(clients.received("a", "r1 again"), [])
        self.assertEqual(clients.disconnects("a"), [])

    async def test_our_emitters_reach_node_and_txsocketio(self) -> None:
        """BlockingEmitter (redis-py, in a thread) and Emitter (Twisted) reach
        the clients of a Node socket.io server on @socket.io/redis-adapter and
        of a txsocketio process in the same cluster: broadcasts, rooms,
        exclusions, namespaces, binary, sockets_join, server_side_emit,
        disconnect_sockets."""
        from twisted.internet import threads

        from txsocketio.emitter import BlockingEmitter, Emitter
        from txsocketio.redisconn import RedisConnection

        redis = await self.start_redis()
        node = await self.start(node_server("node1", redis.url))
        (py,) = await self.start_txsocketio(redis, "py1")
        clients = await self.clients()
        n = await clients.connect("n", url_of(node))
        await clients.connect("p", url_of(py), transports=("polling",))
        await clients.connect("nchat", url_of(node), nsp="/chat")
        await clients.connect("pchat", url_of(py), nsp="/chat")
        self.assertEqual((await clients.call("n", "whoami"))["server"], "node1")
        await clients.call("n", "join", "r1")
        await clients.call("p", "join", "r1", "muted")
        await self.wait_for_servers(clients, "n", 2)
        await self.wait_for_servers(clients, "p", 2)

        def blocking() -> list[int]:
            with BlockingEmitter(redis.url) as emitter:
                return [emitter.emit("all", 1, b"\x01\x02"),
                        emitter.to("r1").except_("muted").emit("r1 not muted", {"k": "é"}),
                        emitter.of("/chat").emit("chat", "hi"),
                        emitter.in_(n).sockets_join("vip"),
                        emitter.to("vip").emit("vip")]

        counts = await threads.deferToThread(blocking)
        self.assertTrue(all(count >= 2 for count in counts), counts)   # both servers subscribe
        conn = RedisConnection(redis.url)
        self.addCleanup(conn.close)
        emitter = Emitter(conn)
        await emitter.to("r1").emit("twisted", [1, 2])
        await emitter.server_side_emit("hello", "from python")
        await emitter.of("/chat").server_side_emit("bye")

        for name in "np":
            self.assertEqual(await clients.wait_for(name, "all"), [[1, b"\x01\x02"]])
            self.assertEqual(await clients.wait_for(name, "twisted"), [[[1, 2]]])
        self.assertEqual(await clients.wait_for("n", "r1 not muted"), [[{"k": "é"}]])
        await clients.wait_for("n", "vip")
        for name in ("nchat", "pchat"):
            self.assertEqual(await clients.wait_for(name, "chat"), [["hi"]])
        for name in "np":
            await poll_until_call(clients, name, "server_events", lambda e: e == [["hello", "from python"]])
        await poll_until_call(clients, "nchat", "server_events", lambda e: e == [["bye"]])
        await sync(clients, "p", "n")
        self.assertEqual(clients.received("p", "r1 not muted") + clients.received("p", "vip")
                         + clients.received("n", "chat"), [])

        await emitter.to("muted").disconnect_sockets()
        self.assertEqual(await clients.wait_for_disconnect("p"), "io server disconnect")
        await threads.deferToThread(lambda: BlockingEmitter(redis.url).in_(n).disconnect_sockets(True))
        self.assertEqual(await clients.wait_for_disconnect("n"), "io server disconnect")


class FaultTests(ClusterTestCase):
    async def test_redis_restart(self) -> None:
        """Redis killed and restarted under two processes: broadcasts resume
        (rooms are kept: they live in the processes)."""
        redis = await self.start_redis()
        py1, py2 = await self.start_txsocketio(redis, "py1", "py2")
        clients = await self.clients()
        await clients.connect("a", url_of(py1))
        await clients.connect("b", url_of(py2), transports=("polling",))
        await clients.call("b", "join", "room")
        await self.wait_for_servers(clients, "a", 2)
        await clients.call("a", "relay", {"event": "before", "to": ["room"]})
        await clients.wait_for("b", "before")

        await redis.kill()
        # Meanwhile each process still serves its own clients.
        await clients.call("b", "relay", {"event": "local", "self": True})
        await clients.wait_for("b", "local")
        await redis.start()
        await self.wait_for_servers(clients, "a", 2)
        await self.wait_for_servers(clients, "b", 2)
        # The subscriptions are back once both servers count again; a
        # broadcast published right after the restart may still be lost, so
        # retry until one arrives, then check that later ones all do.
        for attempt in range(50):
            await clients.call("a", "relay", {"event": "after", "args": [attempt], "to": ["room"]})
            try:
                await clients.wait_for("b", "after", timeout=0.2)
                break
            except unittest.FailTest:
                continue
        for n in range(3):
            await clients.call("a", "relay", {"event": "again", "args": [n], "to": ["room"]})
        self.assertEqual(await clients.wait_for("b", "again", 3), [[0], [1], [2]])
        await clients.call("b", "relay", {"event": "back", "self": True})
        await clients.wait_for("a", "back")


# ---------------------------------------------------------------------------
# nginx in front (examples/cluster)


def _load_nginx_conf() -> Any:
    """examples/cluster/nginx_conf.py (examples/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cluster_nginx_conf", EXAMPLE_DIR / "nginx_conf.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


class _Nginx(ServerProcess):
    """nginx with the example's configuration, in the foreground, every file
    it writes in one temporary directory; as root, the whole of it runs as
    ``nobody`` (nothing needs root: the port is high)."""

    def __init__(self, upstreams: list[int], balance: str) -> None:
        nginx = require_tool("nginx") if shutil.which("nginx") else require_tool("/usr/sbin/nginx")
        port = free_port()
        self.prefix = tempfile.mkdtemp(prefix="txsocketio-nginx-")
        conf = _load_nginx_conf().write(self.prefix, f"{LOCALHOST}:{port}",
                                        [f"{LOCALHOST}:{p}" for p in upstreams], balance)
        argv = [nginx, "-p", self.prefix, "-c", str(conf), "-e", os.path.join(self.prefix, "error.log")]
        if os.getuid() == 0:
            # setpriv execs nginx (same pid, so signals reach it) as nobody.
            nobody = pwd.getpwnam("nobody")
            for root, dirs, files in os.walk(self.prefix):
                for name in [*dirs, *files]:
                    os.chown(os.path.join(root, name), nobody.pw_uid, nobody.pw_gid)
            os.chown(self.prefix, nobody.pw_uid, nobody.pw_gid)
            argv = [require_tool("setpriv"), f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                    "--clear-groups", *argv]
        super().__init__(argv, port, name="nginx")

    def error_log(self) -> str:
        try:
            with open(os.path.join(self.prefix, "error.log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self) -> None:
        shutil.rmtree(self.prefix, ignore_errors=True)


class NginxTests(ClusterTestCase):
    """The nginx configuration of examples/cluster in front of two txsocketio processes."""

    async def start_nginx(self, upstreams: list[ServerProcess], balance: str = "sticky") -> _Nginx:
        nginx = _Nginx([s.port for s in upstreams], balance)
        self.addCleanup(nginx.cleanup)
        self.addCleanup(nginx.stop)
        await nginx.start()
        return nginx

    async def test_polling_clients_through_sticky_nginx(self) -> None:
        """Polling-only clients (each from its own loopback address) connect
        through nginx: each stays on one upstream for its whole session (sticky
        on the client address), both upstreams get clients, rooms and
        broadcasts reach the clients of the other upstream, and the upstream
        sees the client's address in X-Forwarded-For."""
        redis = await self.start_redis()
        py1, py2 = await self.start_txsocketio(redis, "py1", "py2")
        nginx = await self.start_nginx([py1, py2])
        url = f"http://{LOCALHOST}:{nginx.port}"
        clients = await self.clients()
        where: dict[str, str] = {}
        for n in range(2, 40):
            name, address = f"c{n}", f"127.0.0.{n}"
            await clients.connect(name, url, transports=("polling",), local_address=address)
            me = await clients.call(name, "whoami")
            self.assertEqual(me["transport"], "polling")
            self.assertEqual(me["forwarded_for"], address)
            self.assertEqual(me["address"], LOCALHOST)   # the proxy's, as in Node
            where[name] = me["server"]
            if len(set(where.values())) == 2 and len(where) >= 4:
                break
        self.assertEqual(set(where.values()), {"py1", "py2"},
                         f"every client address hashed to one upstream: {where}; {nginx.error_log()}")
        on1 = [name for name, server in where.items() if server == "py1"]
        on2 = [name for name, server in where.items() if server == "py2"]
        # Several long-poll round trips per client: all on the same upstream.
        for name in on1 + on2:
            await clients.call(name, "join", "room")
        await self.wait_for_servers(clients, on1[0], 2)
        await clients.call(on1[0], "relay", {"event": "from py1", "to": ["room"], "args": ["x" * 5000]})
        await clients.call(on2[0], "relay", {"event": "from py2", "to": ["room"]})
        for name in on1 + on2:
            if name != on1[0]:
                self.assertEqual(await clients.wait_for(name, "from py1"), [["x" * 5000]])
            if name != on2[0]:
                await clients.wait_for(name, "from py2")
        for name in on1 + on2:
            self.assertEqual((await clients.call(name, "whoami"))["server"], where[name])
        self.assertEqual(clients.disconnects(on1[0]) + clients.disconnects(on2[0]), [])
        self.assertNotIn("[error]", nginx.error_log())

    async def test_websocket_clients_through_round_robin_nginx(self) -> None:
        """WebSocket-only clients need no stickiness: round-robin spreads them
        over both upstreams (the Upgrade passes through) and broadcasts cross."""
        redis = await self.start_redis()
        py1, py2 = await self.start_txsocketio(redis, "py1", "py2")
        nginx = await self.start_nginx([py1, py2], balance="round-robin")
        url = f"http://{LOCALHOST}:{nginx.port}"
        clients = await self.clients()
        servers = {}
        for n in range(4):
            await clients.connect(f"w{n}", url, transports=("websocket",))
            me = await clients.call(f"w{n}", "whoami")
            self.assertEqual(me["transport"], "websocket")
            servers[f"w{n}"] = me["server"]
        self.assertEqual(set(servers.values()), {"py1", "py2"}, servers)
        await self.wait_for_servers(clients, "w0", 2)
        await clients.call("w0", "relay", {"event": "hi"})
        for n in range(1, 4):
            await clients.wait_for(f"w{n}", "hi")


class ExampleTests(ClusterTestCase):
    """examples/cluster: its app on two processes, and run.sh."""

    async def test_example_app(self) -> None:
        """The example's app (say, click, where, the "news" channel) on two
        processes: every page sees what happens on the other process."""
        redis = await self.start_redis()
        servers = []
        for name in ("node1", "node2"):
            port = free_port()
            server = ServerProcess(
                [sys.executable, "-m", "twisted", "txsocketio", "--app", "app:make_server",
                 "--static", str(EXAMPLE_DIR / "static"), "--redis", f"{redis.url}/0",
                 "--listen", f"tcp:{port}:interface={LOCALHOST}"],
                port, cwd=EXAMPLE_DIR, env={"CLUSTER_NODE": name}, name=name)
            servers.append(await self.start(server))
        clients = await self.clients()
        await clients.connect("a", url_of(servers[0]), transports=("polling",))
        await clients.connect("b", url_of(servers[1]))
        self.assertEqual((await clients.wait_for("a", "hello"))[0][0]["server"], "node1")
        where = await poll_until_call(clients, "b", "where", lambda w: w["servers"] == 2 and w["clients"] == 2)
        self.assertEqual(where["server"], "node2")
        self.assertEqual(await clients.call("a", "say", "hi all"), {"server": "node1"})
        for name in "ab":
            said = await clients.wait_for(name, "said")
            self.assertEqual(said[0][0]["text"], "hi all")
        self.assertEqual(await clients.call("a", "click"), 1)
        self.assertEqual(await clients.call("b", "click"), 2)
        await clients.wait_for("a", "clicks", 2)
        self.assertEqual(clients.received("a", "clicks"), [[1], [2]])
        # "news" is forwarded from Redis to every client (one subscription per process)
        from txsocketio.redisconn import RedisConnection

        conn = RedisConnection(redis.url)
        self.addCleanup(conn.close)
        await poll_until_call(clients, "a", "where", lambda w: True)
        for attempt in range(50):
            if await conn.numsub("news") == 2:
                break
            await sleep(0.05)
        self.assertEqual(await conn.publish("news", b'{"headline": "ok"}'), 2)
        for name in "ab":
            self.assertEqual(await clients.wait_for(name, "news"), [[{"headline": "ok"}]])

    async def test_run_script(self) -> None:
        """examples/cluster/run.sh starts redis, two processes and nginx; a
        polling client through nginx works; SIGTERM stops everything."""
        require_tool("redis-server")
        if not shutil.which("nginx"):
            require_tool("/usr/sbin/nginx")
        port, base, redis_port = free_port(), free_port(), free_port()
        env = {"PORT": str(port), "BASE_PORT": str(base), "REDIS_PORT": str(redis_port), "PYTHON": sys.executable,
               "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
        script = ServerProcess(["bash", str(EXAMPLE_DIR / "run.sh"), "1"], port, env=env, name="run.sh")
        self.addCleanup(script.stop)
        await script.start()
        await script.wait_for_output("nginx (sticky) on", timeout=10)
        clients = await self.clients()
        await poll_until_call_connect(clients, "a", f"http://{LOCALHOST}:{port}")
        self.assertEqual((await clients.wait_for("a", "hello"))[0][0]["server"], "node1")
        self.assertEqual(await clients.call("a", "say", "hi"), {"server": "node1"})
        await script.stop(grace=10)
        self.assertFalse(script.running)
        from tests.support import can_connect

        for p in (port, base, redis_port):
            self.assertFalse(await can_connect(LOCALHOST, p), f"port {p} still open after run.sh stopped")


async def poll_until_call_connect(clients: NodeClients, name: str, url: str, timeout: float = 15.0) -> None:
    """Connect once the whole chain answers (nginx may be up before its upstreams)."""
    deadline = reactor.seconds() + timeout
    while True:
        try:
            await clients.connect(name, url, transports=("polling",))
            return
        except unittest.FailTest:
            if reactor.seconds() > deadline:
                raise
            await sleep(0.2)
