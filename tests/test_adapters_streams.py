"""RedisStreamsAdapter (txsocketio.adapters.streams) on an in-memory Redis
(tests/streams_fake.py) driven by a task.Clock: two servers of one cluster,
broadcasts through the stream with entry ids as offsets, requests over
pub/sub, recovery across servers, and what happens when Redis refuses."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.task import Clock
from twisted.trial import unittest

from tests.streams_fake import FakeStreamsHub
from txsocketio import SocketIOServer
from txsocketio.adapters import streams_wire as sw
from txsocketio.adapters.streams import RedisStreamsAdapter, RedisStreamsAdapterFactory, StreamsOptions
from txsocketio.redisconn import RedisAddress
from txsocketio.testing import TestClient


def events(client: TestClient) -> list[tuple[str, list[Any]]]:
    return client.pop_received()


class _Cluster(unittest.TestCase):
    recovery: Any = {"max_disconnection_duration": 30}

    def setUp(self) -> None:
        self.clock = Clock()
        self.hub = FakeStreamsHub(self.clock)
        self.a = self.server()
        self.b = self.server()
        self.run_hub()

    def server(self) -> SocketIOServer:
        factory = RedisStreamsAdapterFactory(RedisAddress.parse("redis://fake"), StreamsOptions(block_ms=1000),
                                             connect=lambda reactor: self.hub.connect())
        sio = SocketIOServer(reactor=self.clock, adapter=factory, connection_state_recovery=self.recovery)
        self.addCleanup(lambda: [nsp.adapter.close() for nsp in sio.all_namespaces()])
        self.addCleanup(self.hub.stop_blocking)
        return sio

    def run_hub(self) -> None:
        self.hub.flush()

    def adapter(self, sio: SocketIOServer) -> RedisStreamsAdapter:
        adapter = sio.of("/").adapter
        assert isinstance(adapter, RedisStreamsAdapter)
        return adapter


class BroadcastTests(_Cluster):
    def test_broadcast_reaches_both_servers_with_the_entry_id(self) -> None:
        """A broadcast goes into the stream once; the sender's clients and the
        other server's get it with the same entry id as offset."""
        ca, cb = TestClient(self.a), TestClient(self.b)
        self.a.emit("hi", 1)
        self.run_hub()
        [(_, args_a)] = events(ca)
        [(_, args_b)] = events(cb)
        self.assertEqual(args_a, args_b)
        self.assertEqual(args_a[0], 1)
        self.assertTrue(sw.is_offset(args_a[1]))
        self.assertEqual(sum(1 for c in self.hub.commands if c[0] == "XADD"), 1)

    def test_rooms_and_local(self) -> None:
        """to(room) selects on every server; local() stays here and is not stored."""
        ca, cb = TestClient(self.a), TestClient(self.b)
        self.b.of("/").sockets[cb.sids["/"]].join("red")
        self.a.to("red").emit("red")
        self.a.local.emit("here")
        self.run_hub()
        self.assertEqual([e for e, _ in events(ca)], ["here"])
        self.assertEqual([e for e, _ in events(cb)], ["red"])
        self.assertEqual(sum(1 for c in self.hub.commands if c[0] == "XADD"), 1)

    def test_sockets_join_through_the_stream(self) -> None:
        """sockets_join on one server puts the other server's sockets in the room."""
        ca, cb = TestClient(self.a), TestClient(self.b)
        self.a.sockets_join("all")
        self.run_hub()
        self.assertIn("all", self.b.of("/").sockets[cb.sids["/"]].rooms)
        self.assertIn("all", self.a.of("/").sockets[ca.sids["/"]].rooms)

    def test_redis_refusing_delivers_locally_without_offset(self) -> None:
        """When XADD fails the local clients still get the broadcast (without
        offset, logged); Node drops it."""
        ca, cb = TestClient(self.a), TestClient(self.b)
        self.hub.down = True
        self.a.emit("alone")
        self.run_hub()
        self.hub.down = False
        self.assertEqual(events(ca), [("alone", [])])
        self.assertEqual(events(cb), [])
        self.flushLoggedErrors()


class RequestTests(_Cluster):
    def test_fetch_sockets_server_side_emit_and_count(self) -> None:
        """fetch_sockets sees the other server's socket (a RemoteSocket with its
        data), server_side_emit is answered, server_count is 2."""
        TestClient(self.a)
        cb = TestClient(self.b)
        self.b.of("/").sockets[cb.sids["/"]].data["who"] = "b"
        self.b.on_server_side("ask", lambda x: f"b:{x}")
        count = self.successResultOf(self.a.of("/").server_count())
        self.assertEqual(count, 2)
        d = self.a.fetch_sockets()
        self.run_hub()
        sockets = {s.id: s for s in self.successResultOf(d)}
        self.assertEqual(sockets[cb.sids["/"]].data, {"who": "b"})
        d2 = self.a.server_side_emit("ask", 3, want_ack=True)
        self.run_hub()
        self.assertEqual(self.successResultOf(d2), ["b:3"])

    def test_broadcast_with_acks_collects_both_servers(self) -> None:
        """emit_with_ack across the cluster gets each client's answer."""
        ca, cb = TestClient(self.a), TestClient(self.b)
        ca.on("q", lambda: "from a")
        cb.on("q", lambda: "from b")
        d = self.a.timeout(5).emit_with_ack("q")
        self.run_hub()
        self.clock.advance(5)
        self.run_hub()
        self.assertEqual(sorted(self.successResultOf(d)), ["from a", "from b"])


class RecoveryTests(_Cluster):
    def test_cut_off_from_a_recovered_by_b(self) -> None:
        """The session persisted by A (in Redis) and the packets in the stream
        let B recover the client: same id, rooms, data, the missed packets in
        order (volatile and with-ack emits too, as Node's streams adapter)."""
        ca = TestClient(self.a)
        sid = ca.sids["/"]
        socket = self.a.of("/").sockets[sid]
        socket.join("red")
        socket.data["tag"] = 7
        self.a.emit("first")
        self.run_hub()
        pid = json.loads(ca.raw_received[0][1:])["pid"]
        offset = events(ca)[0][1][-1]
        ca.close("transport close")
        self.a.to("red").emit("m1")
        socket.emit("m2")
        self.a.volatile.emit("vol")
        socket.emit_with_ack("acked").addErrback(lambda _: None)
        self.b.to("blue").emit("not-yours")
        self.run_hub()
        cb = TestClient(self.b, auth={"pid": pid, "offset": offset})
        self.run_hub()
        self.assertEqual(cb.sids["/"], sid)
        restored = self.b.of("/").sockets[sid]
        self.assertTrue(restored.recovered)
        self.assertEqual((restored.rooms, restored.data), ({sid, "red"}, {"tag": 7}))
        self.assertEqual([e for e, _ in events(cb)], ["m1", "m2", "vol", "acked"])
        self.assertEqual(cb.raw_received[-1][0], "0")  # the CONNECT reply comes after them

    def test_session_is_single_use_and_bad_offsets_refused(self) -> None:
        """GETDEL consumes the session; an offset that is not a stream id never restores."""
        ca = TestClient(self.a)
        self.a.emit("first")
        self.run_hub()
        pid = json.loads(ca.raw_received[0][1:])["pid"]
        offset = events(ca)[0][1][-1]
        ca.close("transport close")
        self.run_hub()
        bad = TestClient(self.b, auth={"pid": pid, "offset": "abc"})
        self.run_hub()
        self.assertFalse(self.b.of("/").sockets[bad.sids["/"]].recovered)
        good = TestClient(self.b, auth={"pid": pid, "offset": offset})
        self.run_hub()
        self.assertTrue(self.b.of("/").sockets[good.sids["/"]].recovered)
        good.close("transport close")
        self.run_hub()
        self.assertEqual(len([k for k in self.hub.keys if k.startswith("sio:session:")]), 1)
        again = TestClient(self.a, auth={"pid": pid, "offset": offset})
        self.run_hub()
        self.assertTrue(self.a.of("/").sockets[again.sids["/"]].recovered)
        third = TestClient(self.b, auth={"pid": pid, "offset": offset})
        self.run_hub()
        self.assertFalse(self.b.of("/").sockets[third.sids["/"]].recovered)


class ShutdownTests(_Cluster):
    def test_shutdown_persists_sessions_before_closing(self) -> None:
        """A graceful shutdown ("server shutting down", a recoverable reason)
        stores every connected client's session before the connection closes."""
        clients = [TestClient(self.a) for _ in range(3)]
        self.a.emit("x")
        self.run_hub()
        self.hub.slow_writes = True
        d = self.a.shutdown(1)
        self.run_hub()
        self.clock.advance(1)
        self.run_hub()
        self.successResultOf(d)
        self.assertEqual(len([k for k in self.hub.keys if k.startswith("sio:session:")]), len(clients))
