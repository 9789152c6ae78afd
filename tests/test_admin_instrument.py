"""sio.instrument(): the Admin UI's namespace on a server, in memory (the
server's clock is a task.Clock whose thread pool runs when told to)."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.test_admin_auth import NODE_HASH, FakeReactor
from txsocketio import SocketIOServer
from txsocketio.admin import protocol as p
from txsocketio.admin.auth import AdminCredentials
from txsocketio.admin.instrument import AdminInstrumentation
from txsocketio.testing import TestClient

LOGIN = {"username": "admin", "password": "s3cret €"}


def names(events: list[tuple[str, list[Any]]]) -> list[str]:
    return [e for e, _ in events]


class InstrumentTestCase(SynchronousTestCase):
    mode = "development"
    read_only = False
    auth: Any = AdminCredentials("admin", NODE_HASH)

    def setUp(self) -> None:
        self.reactor = FakeReactor()
        self.reactor.advance(1_795_696_029)
        self.sio = SocketIOServer(reactor=self.reactor)
        self.chat = self.sio.of("/chat")
        self.admin: AdminInstrumentation = self.sio.instrument(self.auth, mode=self.mode,
                                                               read_only=self.read_only, server_id="test")
        self.addCleanup(self.admin.stop)

    def login(self, auth: Any = LOGIN) -> TestClient:
        """An admin UI's connection, its password check run."""
        ui = TestClient(self.sio, namespace="/admin", auth=auth)
        while self.reactor.work:
            self.reactor.work.pop(0)()
        return ui


class LoginTests(InstrumentTestCase):
    def test_wrong_password_refused(self) -> None:
        """A wrong password, an unknown user, no auth or a made-up session id
        get the CONNECT_ERROR the UI reads as "invalid credentials"."""
        for auth in ({"username": "admin", "password": "nope"}, {"username": "root", "password": "s3cret €"},
                     None, {"sessionId": "made-up"}):
            ui = self.login(auth)
            self.assertEqual(ui.connect_errors, {"/admin": {"message": p.INVALID_CREDENTIALS}}, auth)
            self.assertNotIn("/admin", ui.sids)
        self.assertEqual(self.sio.of("/admin").sockets, {})

    def test_login_session_config_all_sockets(self) -> None:
        """A good login gets session, config, then all_sockets listing every
        socket of every namespace (the admin socket itself too); the session
        id logs in again without a password check."""
        user = TestClient(self.sio, namespace="/chat")
        ui = self.login()
        received = ui.pop_received("/admin")
        self.assertEqual(names(received)[:3], [p.SESSION, p.CONFIG, p.ALL_SOCKETS])
        session_id = received[0][1][0]
        self.assertEqual(received[1][1], [{"supportedFeatures": p.supported_features(read_only=False,
                                                                                       mode="development")}])
        listed = {(s["nsp"], s["id"]) for s in received[2][1][0]}
        self.assertEqual(listed, {("/chat", user.sids["/chat"]), ("/admin", ui.sids["/admin"])})
        chat = next(s for s in received[2][1][0] if s["nsp"] == "/chat")
        self.assertEqual(chat["rooms"], [user.sids["/chat"]])
        self.assertEqual(chat["clientId"], user.connection.sid[:12])
        again = self.login({"sessionId": session_id})
        self.assertIn("/admin", again.sids)

    def test_auth_required(self) -> None:
        """auth=None is refused (no authentication must be chosen with False)."""
        with self.assertRaises(TypeError):
            SocketIOServer(reactor=self.reactor).instrument(None)
        with self.assertRaises(ValueError):
            SocketIOServer(reactor=self.reactor).instrument(False, mode="staging")

    def test_no_auth(self) -> None:
        """auth=False lets any UI in, without a session event."""
        sio = SocketIOServer(reactor=self.reactor)
        admin = sio.instrument(False)
        self.addCleanup(admin.stop)
        ui = TestClient(sio, namespace="/admin")
        self.assertEqual(names(ui.pop_received("/admin"))[:2], [p.CONFIG, p.ALL_SOCKETS])


class EventTests(InstrumentTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.ui = self.login()
        self.ui.pop_received("/admin")

    def test_socket_connected_rooms_disconnected(self) -> None:
        """A /chat client joining r1 in its connect handler: room_joined for
        its own room and r1, socket_connected; a leave: room_left; its
        disconnection: socket_disconnected, then room_left for each room."""
        @self.chat.on("connect")
        def connect(socket: Any) -> None:
            socket.join("r1")

        user = TestClient(self.sio, namespace="/chat")
        sid = user.sids["/chat"]
        got = self.ui.pop_received("/admin")
        self.assertEqual([(e, a[:3]) for e, a in got], [
            (p.ROOM_JOINED, ["/chat", sid, sid]), (p.ROOM_JOINED, ["/chat", "r1", sid]),
            (p.SOCKET_CONNECTED, [got[2][1][0], got[2][1][1]])])
        self.assertEqual(got[2][1][0]["rooms"], [sid, "r1"])
        self.assertEqual(got[2][1][1], p.js_date(self.reactor.seconds()))
        socket = self.sio.of("/chat").sockets[sid]
        socket.join("r2")
        socket.join("r2")
        socket.leave("r1")
        socket.leave("never")
        self.assertEqual([(e, a[:3]) for e, a in self.ui.pop_received("/admin")], [
            (p.ROOM_JOINED, ["/chat", "r2", sid]), (p.ROOM_LEFT, ["/chat", "r1", sid])])
        user.close()
        self.assertEqual([(e, a[:3]) for e, a in self.ui.pop_received("/admin")], [
            (p.SOCKET_DISCONNECTED, ["/chat", sid, "transport close"]),
            (p.ROOM_LEFT, ["/chat", sid, sid]), (p.ROOM_LEFT, ["/chat", "r2", sid])])

    def test_events_in_and_out(self) -> None:
        """An event from a client and one sent to it (and each recipient of a
        broadcast) are reported; the admin namespace's own are not."""
        self.chat.on("hello", lambda socket, *args: socket.emit("back", 1))
        user = TestClient(self.sio, namespace="/chat")
        sid = user.sids["/chat"]
        self.ui.pop_received("/admin")
        user.emit("hello", "x", {"y": 2}, namespace="/chat")
        self.chat.emit("all", True)
        got = self.ui.pop_received("/admin")
        self.assertEqual([(e, a[:3]) for e, a in got], [
            (p.EVENT_RECEIVED, ["/chat", sid, ["hello", "x", {"y": 2}]]),
            (p.EVENT_SENT, ["/chat", sid, ["back", 1]]),
            (p.EVENT_SENT, ["/chat", sid, ["all", True]])])

    def test_disconnect_command(self) -> None:
        """_disconnect(nsp, false, id) disconnects that socket: its client sees
        the DISCONNECT (io server disconnect), the UI socket_disconnected with
        "server namespace disconnect"."""
        user = TestClient(self.sio, namespace="/chat")
        sid = user.sids["/chat"]
        self.ui.pop_received("/admin")
        self.ui.emit("_disconnect", "/chat", False, sid, namespace="/admin")
        self.assertEqual(user.disconnected, {"/chat": "io server disconnect"})
        got = self.ui.pop_received("/admin")
        self.assertEqual(got[0], (p.SOCKET_DISCONNECTED, ["/chat", sid, "server namespace disconnect",
                                                          p.js_date(self.reactor.seconds())]))

    def test_join_leave_emit_commands(self) -> None:
        """join / leave / emit commands act on the namespace (or the filter
        room); an unknown namespace is ignored, not created."""
        a = TestClient(self.sio, namespace="/chat")
        b = TestClient(self.sio, namespace="/chat")
        sa, sb = a.sids["/chat"], b.sids["/chat"]
        self.ui.emit("join", "/chat", "team", sa, namespace="/admin")
        self.assertEqual(self.chat.sockets[sa].rooms, {sa, "team"})
        self.assertEqual(self.chat.sockets[sb].rooms, {sb})
        self.ui.emit("emit", "/chat", "team", "news", 1, namespace="/admin")
        self.assertEqual(a.pop_received("/chat"), [("news", [1])])
        self.assertEqual(b.pop_received("/chat"), [])
        self.ui.emit("leave", "/chat", "team", namespace="/admin")
        self.assertEqual(self.chat.sockets[sa].rooms, {sa})
        self.ui.emit("join", "/nowhere", "team", namespace="/admin")
        self.ui.emit("emit", "/chat", None, "connect", namespace="/admin")
        self.assertNotIn("/nowhere", self.sio.namespaces)
        self.assertEqual(a.pop_received("/chat"), [])


class ReadOnlyTests(InstrumentTestCase):
    read_only = True

    def test_commands_refused(self) -> None:
        """A read-only instrumentation says so in config and ignores commands."""
        user = TestClient(self.sio, namespace="/chat")
        ui = self.login()
        config = ui.pop_received("/admin")[1]
        self.assertEqual(config, (p.CONFIG, [{"supportedFeatures": ["AGGREGATED_EVENTS", "ALL_EVENTS"]}]))
        ui.emit("_disconnect", "/chat", True, user.sids["/chat"], namespace="/admin")
        ui.emit("emit", "/chat", None, "x", namespace="/admin")
        self.assertTrue(user.is_connected("/chat"))
        self.assertEqual(user.pop_received("/chat"), [])


class ProductionTests(InstrumentTestCase):
    mode = "production"

    def test_only_stats(self) -> None:
        """Production mode: config and server_stats only; no per-socket events."""
        ui = self.login()
        self.assertEqual(names(ui.pop_received("/admin")), [p.SESSION, p.CONFIG])
        TestClient(self.sio, namespace="/chat").emit("x", namespace="/chat")
        self.assertEqual(ui.pop_received("/admin"), [])
        self.reactor.advance(p.SERVER_STATS_INTERVAL)
        self.assertEqual(names(ui.pop_received("/admin")), [p.SERVER_STATS])


class StatsTests(InstrumentTestCase):
    def test_every_two_seconds(self) -> None:
        """server_stats goes out every 2 s on the server's clock with this
        server's figures and the aggregated events since the last one; the
        timer stops with the server."""
        ui = self.login()
        user = TestClient(self.sio, namespace="/chat")
        user.emit("hi", "é", namespace="/chat")
        user.close()
        ui.pop_received("/admin")
        self.reactor.advance(1.9)
        self.assertEqual(ui.pop_received("/admin"), [])
        self.reactor.advance(0.1)
        [(event, [stats])] = ui.pop_received("/admin")
        self.assertEqual(event, p.SERVER_STATS)
        self.assertEqual((stats["serverId"], stats["clientsCount"], stats["pollingClientsCount"]), ("test", 1, int(ui.connection.transport == "polling")))
        self.assertEqual(stats["uptime"], 2.0)
        self.assertEqual(stats["namespaces"], [{"name": "/", "socketsCount": 0},
                                               {"name": "/chat", "socketsCount": 0},
                                               {"name": "/admin", "socketsCount": 1}])
        counts = {(e["type"], e.get("subType")): e["count"] for e in stats["aggregatedEvents"]}
        self.assertEqual(counts[(p.RAW_CONNECTION, None)], 2)
        self.assertEqual(counts[(p.RAW_DISCONNECTION, "transport close")], 1)
        # the CONNECTs of the UI and the user, and the user's event
        sent = ui.raw_sent + user.raw_sent
        self.assertEqual(counts[(p.PACKETS_IN, None)], 3)
        self.assertEqual(len(sent), 3)
        self.assertEqual(counts[(p.BYTES_IN, None)], sum(len(m.encode()) for m in sent))
        self.assertEqual(counts[(p.PACKETS_OUT, None)], len(ui.raw_received) + len(user.raw_received) - 1)
        # the next one counts only the previous server_stats message
        previous = ui.raw_received[-1]
        self.reactor.advance(2)
        [(event, [stats])] = ui.pop_received("/admin")
        self.assertEqual([(e["type"], e["count"]) for e in stats["aggregatedEvents"]],
                         [(p.PACKETS_OUT, 1), (p.BYTES_OUT, len(previous.encode()))])
        self.sio.shutdown()
        self.reactor.advance(30)
        self.assertEqual(ui.pop_received("/admin"), [])


class ClusterTests(SynchronousTestCase):
    """Two instrumented servers on one fake Redis hub: the UI on one sees both."""

    def setUp(self) -> None:
        from tests.redis_fake import FakeRedisHub
        from txsocketio.adapters.memory import MemoryAdapter
        from txsocketio.adapters.redis import RedisAdapter

        self.reactor = FakeReactor()
        self.hub = FakeRedisHub(self.reactor)

        def server(name: str) -> tuple[SocketIOServer, AdminInstrumentation]:
            connection = self.hub.connect(name)

            def factory(nsp: Any) -> Any:
                if not nsp.name.startswith("/"):
                    return MemoryAdapter(nsp)
                return RedisAdapter(nsp, connection, request_timeout=2.0)

            sio = SocketIOServer(reactor=self.reactor, adapter=factory)
            sio.of("/chat")
            admin = sio.instrument(False, server_id=name)
            self.addCleanup(admin.stop)
            return sio, admin

        (self.a, _), (self.b, _) = server("a"), server("b")
        self.hub.flush()

    def test_stats_and_sockets_of_every_server(self) -> None:
        """all_sockets lists the other server's sockets (with their Engine.IO
        id and transport, carried in socket.data), and every server's
        server_stats reaches the UI; so do the other server's socket events."""
        user = TestClient(self.b, namespace="/chat", auth={"room": "x"})
        ui = TestClient(self.a, namespace="/admin")
        for _ in range(5):
            self.hub.flush()
        received = ui.pop_received("/admin")
        [sockets] = [args[0] for event, args in received if event == p.ALL_SOCKETS]
        chat = [s for s in sockets if s["nsp"] == "/chat"]
        self.assertEqual([(s["id"], s["clientId"], s["transport"]) for s in chat],
                         [(user.sids["/chat"], user.connection.sid[:12], user.connection.transport)])
        self.assertNotIn("_admin", chat[0]["data"])
        other = TestClient(self.b, namespace="/chat")
        self.reactor.advance(p.SERVER_STATS_INTERVAL)
        self.hub.flush()
        received = ui.pop_received("/admin")
        stats = [args[0]["serverId"] for event, args in received if event == p.SERVER_STATS]
        self.assertEqual(sorted(stats), ["a", "b"])
        connected = [args[0]["id"] for event, args in received if event == p.SOCKET_CONNECTED]
        self.assertEqual(connected, [other.sids["/chat"]])
