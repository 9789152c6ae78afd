"""sio.threadsafe: emitting and calling into the server from other threads.

The reactor is a L{Clock} whose C{callFromThread} queues the call; the test's
main thread plays the reactor thread and runs the queue, while the callers
run in real worker threads (as WSGI views would).
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python import threadable

from txsocketio import AckTimeout, SocketIOServer
from txsocketio.socketio.threadsafe import ThreadSafeServer, ThreadSafeSocket
from txsocketio.testing import TestClient

from tests.socketio_support import ServerTestCase


class ThreadedClock(Clock):
    """A Clock with a C{callFromThread} that queues, like a reactor's."""

    def __init__(self) -> None:
        super().__init__()
        self.from_threads: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.Queue()

    def callFromThread(self, f: Callable[..., Any], *args: Any) -> None:
        self.from_threads.put((f, args))

    def run_from_threads(self, wait: float = 5.0) -> int:
        """Run the queued calls (waiting up to C{wait} s for the first one)."""
        ran = 0
        try:
            f, args = self.from_threads.get(timeout=wait)
        except queue.Empty:
            return 0
        while True:
            f(*args)
            ran += 1
            try:
                f, args = self.from_threads.get_nowait()
            except queue.Empty:
                return ran


class ThreadSafeTests(ServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.clock = ThreadedClock()
        self.sio = SocketIOServer(reactor=self.clock)
        self.sio.of("/chat")
        self.a = TestClient(self.sio)
        self.b = TestClient(self.sio)
        self.sa = self.a.server_client.sockets["/"]
        self.sa.join("room")

    def in_thread(self, fn: Callable[[], Any]) -> "Future[Any]":
        """Run C{fn} in a new thread; its outcome in a Future."""
        outcome: Future[Any] = Future()

        def run() -> None:
            try:
                outcome.set_result(fn())
            except BaseException as e:
                outcome.set_exception(e)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        return outcome

    def test_same_object(self) -> None:
        """sio.threadsafe is one ThreadSafeServer per server."""
        self.assertIsInstance(self.sio.threadsafe, ThreadSafeServer)
        self.assertIs(self.sio.threadsafe, self.sio.threadsafe)

    def test_emit_returns_at_once(self) -> None:
        """emit() from a thread returns None at once; the event goes out when
        the reactor thread runs the call."""
        done = self.in_thread(lambda: self.sio.threadsafe.to("room").emit("news", {"n": 1}))
        self.assertIsNone(done.result(5))
        self.assertEqual(self.a.pop_received(), [])
        self.assertEqual(self.clock.run_from_threads(), 1)
        self.assertEqual(self.a.pop_received(), [("news", [{"n": 1}])])
        self.assertEqual(self.b.pop_received(), [])

    def test_emit_order(self) -> None:
        """Emits from one thread arrive in order."""
        def several() -> None:
            for i in range(5):
                self.sio.threadsafe.emit("n", i)

        self.in_thread(several).result(5)
        self.clock.run_from_threads()
        self.assertEqual([args[0] for _, args in self.b.pop_received()], list(range(5)))

    def test_emit_errors_in_calling_thread(self) -> None:
        """Unserialisable arguments and reserved names raise in the calling thread."""
        bad = self.in_thread(lambda: self.sio.threadsafe.emit("ev", object()))
        self.assertRaises(TypeError, bad.result, 5)
        reserved = self.in_thread(lambda: self.sio.threadsafe.emit("disconnect"))
        self.assertRaises(ValueError, reserved.result, 5)
        self.assertTrue(self.clock.from_threads.empty())

    def test_selection(self) -> None:
        """of(), except_(), volatile, local and compress() chain as on the server."""
        ts = self.sio.threadsafe
        chat = TestClient(self.sio, namespace="/chat")
        self.b.connection.writable = False

        def emits() -> None:
            ts.of("chat").emit("c")
            ts.except_("room").emit("not-a")
            ts.volatile.emit("v")
            ts.local.compress(False).to("room").emit("l")

        self.in_thread(emits).result(5)
        self.clock.run_from_threads()
        self.assertEqual(chat.pop_received("/chat"), [("c", [])])
        self.assertEqual([e for e, _ in self.a.pop_received()], ["v", "l"])
        self.b.connection.writable = True  # b polls again: what waited arrives, the volatile did not wait
        self.assertEqual([e for e, _ in self.b.pop_received()], ["not-a"])

    def test_emit_with_ack(self) -> None:
        """emit_with_ack returns a Future with the answers (it needs timeout())."""
        self.a.on("q", lambda: "a")
        self.b.on("q", lambda: "b")
        future = self.in_thread(lambda: self.sio.threadsafe.timeout(5).emit_with_ack("q")).result(5)
        self.clock.run_from_threads()
        self.assertEqual(sorted(future.result(5)), ["a", "b"])
        no_timeout = self.in_thread(lambda: self.sio.threadsafe.emit_with_ack("q"))
        self.assertRaises(ValueError, no_timeout.result, 5)

    def test_emit_with_ack_timeout(self) -> None:
        """A broadcast timeout reaches the Future as AckTimeout."""
        future = self.in_thread(lambda: self.sio.threadsafe.timeout(1).emit_with_ack("q")).result(5)
        self.clock.run_from_threads()
        self.assertFalse(future.done())
        self.clock.advance(1)
        error = future.exception(5)
        self.assertIsInstance(error, AckTimeout)
        self.assertEqual(error.expected, 2)

    def test_call_blocks_for_result(self) -> None:
        """call() runs the function in the reactor thread and returns its
        result to the calling thread."""
        threads: list[Any] = []

        def count() -> int:
            threads.append(threading.current_thread())
            return len(self.sio.of("/").sockets)

        result = self.in_thread(lambda: self.sio.threadsafe.call(count))
        self.clock.run_from_threads()
        self.assertEqual(result.result(5), 2)
        self.assertEqual(threads, [threading.current_thread()])

    def test_call_waits_for_deferred(self) -> None:
        """A Deferred (or coroutine) result is waited for; its failure is raised."""
        gate: Deferred[str] = Deferred()
        result = self.in_thread(lambda: self.sio.threadsafe.call(lambda: gate))
        self.clock.run_from_threads()
        self.assertFalse(result.done())
        gate.callback("fired")
        self.assertEqual(result.result(5), "fired")

        async def boom() -> None:
            raise KeyError("k")

        failed = self.in_thread(lambda: self.sio.threadsafe.call(boom))
        self.clock.run_from_threads()
        self.assertRaises(KeyError, failed.result, 5)

    def test_call_arguments_and_exceptions(self) -> None:
        """call() passes positional and keyword arguments; exceptions are raised
        in the calling thread."""
        result = self.in_thread(lambda: self.sio.threadsafe.call(lambda a, b=0: a - b, 10, b=3))
        self.clock.run_from_threads()
        self.assertEqual(result.result(5), 7)
        failed = self.in_thread(lambda: self.sio.threadsafe.call(lambda: 1 / 0))
        self.clock.run_from_threads()
        self.assertRaises(ZeroDivisionError, failed.result, 5)

    def test_call_timeout(self) -> None:
        """When the reactor does not run the call in time, call() raises TimeoutError."""
        ts = ThreadSafeServer(self.sio, call_timeout=0.01)
        result = self.in_thread(lambda: ts.call(lambda: None))
        self.assertRaises(TimeoutError, result.result, 5)

    def test_call_from_reactor_thread_refused(self) -> None:
        """call() from the reactor thread would wait for itself: RuntimeError."""
        self.patch(threadable, "isInIOThread", lambda: True)
        self.assertRaises(RuntimeError, self.sio.threadsafe.call, lambda: None)

    def test_call_async(self) -> None:
        """call_async() returns a Future without waiting; a cancelled Future is not run."""
        ran: list[int] = []
        future = self.sio.threadsafe.call_async(lambda: ran.append(1) or "x")
        cancelled = self.sio.threadsafe.call_async(lambda: ran.append(2))
        cancelled.cancel()
        self.clock.run_from_threads()
        self.assertEqual(future.result(0), "x")
        self.assertEqual(ran, [1])

    def test_fetch_sockets(self) -> None:
        """fetch_sockets gives snapshots (id, namespace, rooms, data, handshake)
        whose methods act in the reactor thread."""
        self.sa.data["user"] = "alice"
        future = self.sio.threadsafe.to("room").fetch_sockets()
        self.clock.run_from_threads()
        [snapshot] = future.result(0)
        self.assertIsInstance(snapshot, ThreadSafeSocket)
        self.assertEqual((snapshot.id, snapshot.namespace, snapshot.rooms, dict(snapshot.data)),
                         (self.sa.id, "/", frozenset([self.sa.id, "room"]), {"user": "alice"}))
        self.assertIs(snapshot.handshake, self.sa.handshake)
        snapshot.emit("hi")
        joined = snapshot.join("extra")
        self.clock.run_from_threads()
        self.assertIsNone(joined.result(0))
        self.assertEqual(self.a.pop_received(), [("hi", [])])
        self.assertIn("extra", self.sa.rooms)
        left = snapshot.leave("extra")
        gone = snapshot.disconnect(close=True)
        self.clock.run_from_threads()
        self.assertIsNone(left.result(0))
        self.assertIsNone(gone.result(0))
        self.assertTrue(self.a.connection.closed)

    def test_sockets_join_leave_disconnect(self) -> None:
        """sockets_join, sockets_leave and disconnect_sockets return Futures."""
        ts = self.sio.threadsafe
        futures = [ts.sockets_join("all"), ts.to("room").sockets_leave("room"),
                   ts.except_("all").disconnect_sockets()]
        self.clock.run_from_threads()
        self.assertEqual([f.result(0) for f in futures], [None, None, None])
        self.assertEqual(self.sio.of("/").adapter.rooms.get("all"), {self.sa.id, self.b.sids["/"]})
        self.assertNotIn("room", self.sio.of("/").adapter.rooms)

    def test_failed_emit_in_reactor_is_logged(self) -> None:
        """An emit that fails in the reactor thread is logged, not lost."""
        self.sio.threadsafe.emit("ev", 1)
        self.patch(self.sio.of("/").adapter, "broadcast", lambda packet, opts: 1 / 0)
        self.clock.run_from_threads()
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
