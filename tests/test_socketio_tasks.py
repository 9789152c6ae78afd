"""Tests for L{txsocketio.socketio.tasks}: work tied to a connection
(C{socket.every/later/spawn}, and the same on a class-based L{Namespace}),
cancelled when the socket leaves, on the server's clock, failures logged.

Everything on a L{Clock}; "no leak" means L{ServerTestCase.assertNoLeaks}:
no socket, no room, no client and no delayed call left.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.task import deferLater

from txsocketio import ConnectionRefused, Namespace, SocketIOServer
from txsocketio.socketio.tasks import ConnectionTasks

from tests.socketio_support import ServerTestCase


class EveryTests(ServerTestCase):
    """C{socket.every(seconds, fn, *args)}: a LoopingCall on the server's clock."""

    def setUp(self) -> None:
        super().setUp()
        self.calls: list[Any] = []
        self.client_ = self.client()
        self.socket = self.socket_of(self.client_)

    def test_calls_until_disconnect(self) -> None:
        """The first call comes after C{seconds}, then every C{seconds}; the
        disconnect stops the loop and leaves nothing in the clock."""
        loop = self.socket.every(2, self.calls.append, "tick")
        self.assertIs(loop.clock, self.clock)
        self.clock.advance(1.9)
        self.assertEqual(self.calls, [])
        self.clock.pump([0.1, 2, 2])
        self.assertEqual(self.calls, ["tick"] * 3)
        self.client_.close()
        self.assertFalse(loop.running)
        self.clock.advance(10)
        self.assertEqual(len(self.calls), 3)
        self.assertNoLeaks()

    def test_stop_early(self) -> None:
        """The returned LoopingCall can be stopped; the socket then holds nothing."""
        loop = self.socket.every(1, self.calls.append, 1)
        self.clock.advance(1)
        loop.stop()
        self.clock.advance(5)
        self.assertEqual(self.calls, [1])
        self.assertEqual(len(self.socket.tasks), 0)

    def test_waits_for_deferreds_and_cancels_them(self) -> None:
        """A call returning a Deferred delays the next one; the one running when
        the socket leaves is cancelled (not logged as an error)."""
        pending: list[Deferred[None]] = []
        cancelled: list[Any] = []

        def slow() -> Deferred[None]:
            pending.append(Deferred(cancelled.append))
            return pending[-1]

        self.socket.every(1, slow)
        self.clock.advance(1)
        self.clock.advance(3)
        self.assertEqual(len(pending), 1, "no overlapping calls")
        pending[0].callback(None)
        self.clock.advance(1)
        self.assertEqual(len(pending), 2)
        self.client_.close()
        self.assertEqual(cancelled, [pending[1]])
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertNoLeaks()

    def test_coroutine_function(self) -> None:
        """C{fn} may be a coroutine function; it awaits on the same clock."""
        async def tick() -> None:
            await deferLater(self.clock, 0.5, lambda: None)
            self.calls.append(self.clock.seconds())

        self.socket.every(1, tick)
        self.clock.pump([1, 0.5, 0.5, 0.5])
        self.assertEqual(self.calls, [1.5, 2.5])
        self.clock.advance(0.7)
        self.client_.close()
        self.assertNoLeaks()

    def test_failures_are_logged_and_the_loop_goes_on(self) -> None:
        """A call that raises is logged with the socket id; the next calls still happen."""
        def flaky() -> None:
            self.calls.append(1)
            raise RuntimeError("boom")

        self.socket.every(1, flaky)
        self.clock.pump([1, 1])
        self.assertEqual(self.calls, [1, 1])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)
        self.assertTrue(any("flaky" in line and self.socket.id in line for line in self.log_lines()))

    def test_keyword_arguments(self) -> None:
        """Positional and keyword arguments reach C{fn}."""
        self.socket.every(1, lambda a, b=0: self.calls.append((a, b)), 1, b=2)
        self.clock.advance(1)
        self.assertEqual(self.calls, [(1, 2)])

    def test_bad_interval(self) -> None:
        """The interval is a positive number of seconds."""
        for bad in (0, -1, "1", True):
            self.assertRaises(ValueError, self.socket.every, bad, print)


class LaterTests(ServerTestCase):
    """C{socket.later(seconds, fn, *args)}: a DelayedCall on the server's clock."""

    def setUp(self) -> None:
        super().setUp()
        self.calls: list[Any] = []
        self.client_ = self.client()
        self.socket = self.socket_of(self.client_)

    def test_fires_once(self) -> None:
        """The call happens once, after C{seconds}, and is then forgotten."""
        call = self.socket.later(3, self.calls.append, "x")
        self.clock.advance(3)
        self.assertEqual(self.calls, ["x"])
        self.assertFalse(call.active())
        self.assertEqual(len(self.socket.tasks), 0)

    def test_cancelled_on_disconnect(self) -> None:
        """A call still pending when the socket leaves never happens."""
        call = self.socket.later(3, self.calls.append, "x")
        self.client_.close()
        self.assertFalse(call.active())
        self.clock.advance(5)
        self.assertEqual(self.calls, [])
        self.assertNoLeaks()

    def test_cancel_early(self) -> None:
        """The returned IDelayedCall can be cancelled; many such calls do not pile up."""
        for _ in range(100):
            self.socket.later(1, self.calls.append, 1).cancel()
        self.assertLess(len(self.socket.tasks._calls), 20)
        self.assertEqual(len(self.socket.tasks), 0)
        self.clock.advance(2)
        self.assertEqual(self.calls, [])

    def test_async_result_is_tied_too(self) -> None:
        """What the call returns (a coroutine here) is cancelled when the socket leaves."""
        cancelled: list[bool] = []

        async def work() -> None:
            try:
                await Deferred()
            except CancelledError:
                cancelled.append(True)
                raise

        self.socket.later(1, work)
        self.clock.advance(1)
        self.assertEqual(len(self.socket.tasks), 1)
        self.client_.close()
        self.assertEqual(cancelled, [True])
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertNoLeaks()

    def test_failure_is_logged(self) -> None:
        """A call that raises is logged with the socket id."""
        self.socket.later(1, lambda: 1 / 0)
        self.clock.advance(1)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertTrue(any(self.socket.id in line for line in self.log_lines()))


class SpawnTests(ServerTestCase):
    """C{socket.spawn(work)}: a Deferred, a coroutine or a function, cancelled on disconnect."""

    def setUp(self) -> None:
        super().setUp()
        self.client_ = self.client()
        self.socket = self.socket_of(self.client_)

    def test_coroutine_is_cancelled_at_its_await(self) -> None:
        """A spawned coroutine sees CancelledError at its await when the socket
        leaves; its cleanup runs; nothing is logged; the clock is empty."""
        steps: list[str] = []

        async def feed() -> None:
            try:
                while True:
                    await deferLater(self.clock, 1, lambda: None)
                    steps.append("tick")
            finally:
                steps.append("cleanup")

        d = self.socket.spawn(feed())
        self.clock.pump([1, 1])
        self.client_.close()
        self.assertEqual(steps, ["tick", "tick", "cleanup"])
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertNoLeaks()

    def test_deferred_result(self) -> None:
        """A Deferred that finishes first fires with its result and is forgotten."""
        work: Deferred[str] = Deferred()
        d = self.socket.spawn(work)
        work.callback("done")
        self.assertEqual(self.successResultOf(d), "done")
        self.assertEqual(len(self.socket.tasks), 0)

    def test_deferred_cancelled(self) -> None:
        """A Deferred still running when the socket leaves is cancelled (its canceller runs)."""
        cancelled: list[Any] = []
        d = self.socket.spawn(Deferred(cancelled.append))
        self.client_.close()
        self.assertEqual(len(cancelled), 1)
        self.assertIsNone(self.successResultOf(d))

    def test_function_with_arguments(self) -> None:
        """gevent-socketio's form: C{spawn(fn, *args, **kwargs)} calls C{fn} now."""
        seen: list[Any] = []

        async def job(a: int, b: int = 0) -> int:
            seen.append((a, b))
            await deferLater(self.clock, 1, lambda: None)
            return a + b

        d = self.socket.spawn(job, 1, b=2)
        self.assertEqual(seen, [(1, 2)])
        self.clock.advance(1)
        self.assertEqual(self.successResultOf(d), 3)
        self.assertEqual(self.successResultOf(self.socket.spawn(lambda: "plain")), "plain")

    def test_failure_is_logged_with_the_socket(self) -> None:
        """A failing job is logged with the socket id; its Deferred fires with None."""
        async def job() -> None:
            raise KeyError("lost")

        d = self.socket.spawn(job())
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.assertTrue(any("job" in line and self.socket.id in line for line in self.log_lines()))

    def test_cancel_early(self) -> None:
        """Cancelling the returned Deferred stops the work; the socket forgets it."""
        d = self.socket.spawn(Deferred())
        d.cancel()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(len(self.socket.tasks), 0)

    def test_bad_work(self) -> None:
        """Anything but a Deferred, an awaitable or a callable is a TypeError; arguments
        go with a function only."""
        self.assertRaises(TypeError, self.socket.spawn, 42)
        self.assertRaises(TypeError, self.socket.spawn, Deferred(), 1)


class AfterDisconnectTests(ServerTestCase):
    """Work started once the socket has left is cancelled at once (it would leak)."""

    def test_everything_is_cancelled_at_once(self) -> None:
        """every() returns a loop that never runs, later() a cancelled call, spawn()
        a cancelled Deferred (firing with None)."""
        calls: list[Any] = []
        client = self.client()
        socket = self.socket_of(client)
        client.close()
        loop = socket.every(1, calls.append, 1)
        call = socket.later(1, calls.append, 2)
        cancelled: list[Any] = []
        d = socket.spawn(Deferred(cancelled.append))
        self.clock.advance(5)
        self.assertEqual(calls, [])
        self.assertFalse(loop.running)
        self.assertFalse(call.active())
        self.assertEqual(len(cancelled), 1)
        self.assertIsNone(self.successResultOf(d))
        self.assertNoLeaks()

    def test_work_from_a_disconnect_handler(self) -> None:
        """Work a disconnect handler starts is cancelled (cleanup belongs in the
        handler's own coroutine, which is not)."""
        calls: list[Any] = []
        self.sio.on("disconnect", lambda socket, reason: socket.later(1, calls.append, 1))
        self.client().close()
        self.clock.advance(2)
        self.assertEqual(calls, [])
        self.assertNoLeaks()


class ClassNamespaceTests(ServerTestCase):
    """A class-based namespace starts its work with C{self.every/later/spawn}."""

    def test_gevent_style_namespace(self) -> None:
        """The work started in on_connect and in an event handler runs while the
        client is connected and ends with it; nothing is left afterwards."""
        pushed: list[Any] = []

        class Prices(Namespace):
            def on_connect(self) -> None:
                self.every(5, self.push)
                self.later(1, self.emit, "welcome")

            def on_watch(self, symbol: str) -> None:
                self.spawn(self.watch, symbol)

            def push(self) -> None:
                pushed.append(self.id)
                self.emit("price", 1)

            async def watch(self, symbol: str) -> None:
                while True:
                    await deferLater(self.socket.nsp.reactor, 2, lambda: None)
                    self.emit("quote", symbol)

        self.sio.register("/prices", Prices)
        client = self.client()
        client.connect("/prices")
        client.emit("watch", "ACME", namespace="/prices")
        self.clock.pump([1, 1, 1, 1, 1])
        self.assertEqual(client.pop_received("/prices"),
                         [("welcome", []), ("quote", ["ACME"]), ("quote", ["ACME"]), ("price", [1])])
        client.disconnect("/prices")
        self.clock.advance(20)
        self.assertEqual(client.pop_received("/prices"), [])
        self.assertEqual(len(pushed), 1)
        client.close()
        self.assertNoLeaks("/", "/prices")

    def test_refused_in_on_connect(self) -> None:
        """A connect handler that starts work and then refuses the client leaves nothing running."""
        calls: list[Any] = []

        class Picky(Namespace):
            def on_connect(self) -> None:
                self.every(1, calls.append, 1)
                raise ConnectionRefused("no")

        self.sio.register("/picky", Picky)
        client = self.client()
        client.connect("/picky")
        self.assertEqual(client.connect_errors, {"/picky": {"message": "no"}})
        self.clock.advance(5)
        self.assertEqual(calls, [])
        client.close()
        self.assertNoLeaks("/", "/picky")

    def test_started_in_a_middleware_of_a_closed_connection(self) -> None:
        """Work a middleware starts is cancelled when the connection closes before the CONNECT reply."""
        calls: list[Any] = []
        gate: Deferred[None] = Deferred()

        def middleware(socket: Any) -> Deferred[None]:
            socket.every(1, calls.append, 1)
            return gate

        self.sio.use(middleware)
        client = self.client(connect=False)
        client.connect("/")
        client.close()
        gate.callback(None)
        self.clock.advance(5)
        self.assertEqual(calls, [])
        self.assertNoLeaks()


class ConnectionTasksTests(ServerTestCase):
    """L{ConnectionTasks} on its own: the clock it is given, nothing global."""

    def test_uses_the_given_clock(self) -> None:
        """Loops and calls are scheduled on the given clock only."""
        tasks = ConnectionTasks(self.clock, "owner")
        tasks.every(1, lambda: None)
        tasks.later(1, lambda: None)
        self.assertEqual(len(self.clock.getDelayedCalls()), 2)
        self.assertEqual(len(tasks), 2)
        tasks.cancel_all()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(tasks), 0)

    def test_server_reactor(self) -> None:
        """A socket's work is on its server's reactor."""
        sio = SocketIOServer(reactor=self.clock)
        from txsocketio.testing import TestClient

        client = TestClient(sio)
        socket = client.server_client.sockets["/"]
        self.assertIs(socket.tasks.reactor, self.clock)
        self.assertIsNone(self.successResultOf(socket.spawn(succeed(None))))
