"""The observer seam: the null observer by default, registered observers in
a group, what the Socket.IO layer reports, and the Prometheus metrics of a
scripted run scraped through sio.metrics_resource()."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from tests.test_metrics import samples, scrape
from txsocketio import SocketIOServer
from txsocketio.errors import ConnectionRefused
from txsocketio.observer import NULL_OBSERVER, OBSERVER_METHODS, NullObserver, ObserverGroup
from txsocketio.testing import TestClient


class Recorder(NullObserver):
    """Records every call as (hook, arguments), sockets by id."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __getattribute__(self, name: str) -> Any:
        if name in OBSERVER_METHODS:
            def record(*args: Any) -> None:
                self.calls.append((name, *(getattr(a, "id", a) for a in args)))
            return record
        return super().__getattribute__(name)

    def pop(self, *only: str) -> list[tuple[Any, ...]]:
        calls, self.calls = self.calls, []
        return [c for c in calls if not only or c[0] in only]


class SeamTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.sio = SocketIOServer(reactor=self.clock)

    def test_null_by_default(self) -> None:
        """A server nobody observes holds the null observer; adding and
        removing observers switches between it and a group."""
        self.assertIs(self.sio.observer, NULL_OBSERVER)
        r = Recorder()
        self.sio.add_observer(r)
        self.assertIsInstance(self.sio.observer, ObserverGroup)
        self.sio.remove_observer(r)
        self.sio.remove_observer(r)
        self.assertIs(self.sio.observer, NULL_OBSERVER)

    def test_group_survives_a_failing_observer(self) -> None:
        """An observer that raises is logged; the next one is still called."""
        class Broken(NullObserver):
            def ack_sent(self) -> None:
                raise RuntimeError("boom")

        logged: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        r = Recorder()
        group = ObserverGroup([Broken(), r])
        group.ack_sent()
        self.assertEqual(r.pop(), [("ack_sent",)])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_nothing_measured_when_off(self) -> None:
        """With no observer the per-message hooks compute nothing: an echo
        runs with the size function made to fail."""
        import txsocketio.socketio.client as client_module
        import txsocketio.socketio.socket as socket_module

        def fail(_: Any) -> int:
            raise AssertionError("measured a message with nobody observing")

        self.patch(client_module, "message_size", fail)
        self.patch(socket_module, "message_size", fail)
        self.sio.on("echo", lambda socket, *args: socket.emit("echo", *args))
        c = TestClient(self.sio)
        c.emit("echo", "x")
        self.sio.emit("all", 1)
        self.assertEqual(c.pop_received(), [("echo", ["x"]), ("all", [1])])

    def test_what_the_socketio_layer_reports(self) -> None:
        """One client's story, as the hooks report it, in order."""
        r = Recorder()
        self.sio.add_observer(r)
        self.sio.of("/x").use(lambda socket: (_ for _ in ()).throw(ConnectionRefused("no")))
        self.sio.on("ping", lambda socket, n: n + 1)
        c = TestClient(self.sio)
        sid, eio = c.sids["/"], c.connection.sid
        c.connect("/x")
        c.connect("/nope")
        socket = self.sio.of("/").sockets[sid]
        socket.join("r")
        c.emit_with_ack("ping", 1)
        socket.leave("r")
        socket.join("r")
        c.close()
        hooks = [call for call in r.pop() if call[0] not in ("message_received", "message_sent")]
        self.assertEqual(hooks[:2], [("client_opened", c.connection.transport, 4), ("socket_connected", sid)])
        self.assertEqual(hooks[2:4], [("socket_refused", "refused"), ("socket_refused", "invalid_namespace")])
        self.assertEqual(hooks[4][:4], ("room_joined", sid, "r"))
        self.assertEqual(hooks[5][:4], ("event_received", sid, "ping", [1]))
        self.assertEqual(hooks[6:], [
            ("ack_sent",), ("room_left", sid, "r"), ("room_joined", sid, "r"),
            ("socket_disconnected", sid, "transport close"), ("client_closed", c.connection.transport, 4, "transport close")])
        self.assertEqual(eio, c.connection.sid)


class MetricsRunTests(SynchronousTestCase):
    def test_scripted_run(self) -> None:
        """Clients connect, emit, get acks and broadcasts, are refused and
        leave; the scrape of sio.metrics_resource() shows those numbers."""
        sio = SocketIOServer(reactor=Clock())
        resource = sio.metrics_resource()
        self.assertIs(type(sio.metrics_resource()), type(resource))
        sio.on("echo", lambda socket, *args: list(args))
        sio.of("/chat")
        a, b = TestClient(sio), TestClient(sio)
        c = TestClient(sio, namespace="/chat")
        a.emit_with_ack("echo", "hello")
        b.emit("echo", "x")
        sio.emit("news", "12345")
        TestClient(sio, namespace="/missing")
        b.close()

        def value(name: str, **labels: str) -> float:
            return samples(scrape(resource)[1])[(name, tuple(sorted(labels.items())))]

        # TestClient's transport: counted when it is a real one
        transport = a.connection.transport
        gauges = {k: v for k, v in samples(scrape(resource)[1]).items() if k[0] == "engineio_clients"}
        self.assertEqual(sum(gauges.values()), 3 if transport in ("polling", "websocket") else 0)
        self.assertEqual(value("socketio_sockets", namespace="/"), 1)
        self.assertEqual(value("socketio_sockets", namespace="/chat"), 1)
        self.assertEqual(value("socketio_connects_total", namespace="/"), 2)
        self.assertEqual(value("socketio_connect_refusals_total", reason="invalid_namespace"), 1)
        self.assertEqual(value("socketio_disconnects_total", reason="transport close"), 1)
        self.assertEqual(value("socketio_events_received_total"), 2)
        # Engine.IO message data: the Socket.IO packet without Engine.IO's type
        self.assertEqual(a.raw_sent[-1], '20["echo","hello"]')
        self.assertEqual(value("socketio_received_bytes_total"), len('20["echo","hello"]') + len('2["echo","x"]'))
        # 'news' to a and b (the broadcast), nothing else is an event
        self.assertEqual(value("socketio_events_sent_total"), 2)
        self.assertEqual(value("socketio_sent_bytes_total"), 2 * len('2["news","12345"]'))
        self.assertEqual(value("socketio_broadcasts_total"), 1)
        self.assertEqual(value("socketio_broadcast_deliveries_total"), 2)
        self.assertEqual(value("socketio_acks_sent_total"), 1)
        self.assertEqual(c.sids.keys(), {"/chat"})
