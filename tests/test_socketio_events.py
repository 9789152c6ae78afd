"""Events on one socket: handlers (plain, Deferred, coroutine) and their acks,
emit and emit_with_ack to a client, per-packet middlewares, catch-all
listeners, volatile emits, and what bad input does.

For both client generations: C{protocol=4} (socket.io-client 3.x/4.x) and
C{protocol=3} (2.x).
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, fail, succeed

from txsocketio import AckTimeout, SocketDisconnected, SocketIOServer
from txsocketio._invoke import invoke
from txsocketio.engineio.message import OutgoingMessage
from txsocketio.socketio.socket import RESERVED_EVENTS

from tests.socketio_support import ServerTestCase


class HandlerTestsMixin:
    """Event handlers and the acknowledgements made of their return values."""

    protocol: int
    sio: SocketIOServer

    def ack_of(self, handler: Any, *args: Any) -> list[Any]:
        self.sio.on("ev", handler)
        client = self.client()
        return self.successResultOf(client.emit_with_ack("ev", *args))

    def test_return_none_acks_empty(self) -> None:
        """A handler returning None acknowledges with no arguments."""
        self.assertEqual(self.ack_of(lambda socket: None), [])

    def test_return_tuple_acks_items(self) -> None:
        """A tuple is spread into several ack arguments."""
        self.assertEqual(self.ack_of(lambda socket, *args: args, 1, "2", {"3": [True]}),
                         [1, "2", {"3": [True]}])

    def test_return_value_acks_one(self) -> None:
        """Any other value (a list included) is the single ack argument."""
        self.assertEqual(self.ack_of(lambda socket: [1, 2]), [[1, 2]])
        self.assertEqual(self.ack_of(lambda socket: {"ok": True}), [{"ok": True}])

    def test_deferred_result(self) -> None:
        """A Deferred result is the ack once it fires."""
        gate: Deferred[str] = Deferred()
        self.sio.on("slow", lambda socket: gate)
        client = self.client()
        d = client.emit_with_ack("slow")
        self.assertNoResult(d)
        gate.callback("done")
        self.assertEqual(self.successResultOf(d), ["done"])

    def test_coroutine_result(self) -> None:
        """An C{async def} handler acks with what it returns after awaiting."""
        gate: Deferred[int] = Deferred()

        @self.sio.on("add")
        async def add(socket: Any, a: int, b: int) -> tuple[int, str]:
            extra = await gate
            return a + b + extra, "sum"

        client = self.client()
        d = client.emit_with_ack("add", 1, 2)
        self.assertNoResult(d)
        gate.callback(10)
        self.assertEqual(self.successResultOf(d), [13, "sum"])

    def test_handler_exception_is_logged_and_connection_stays(self) -> None:
        """An exception is logged with its traceback; no ack is sent and the
        connection keeps working."""
        self.sio.on("bad", lambda socket: 1 / 0)
        self.sio.on("good", lambda socket: "fine")
        client = self.client()
        d = client.emit_with_ack("bad")
        [error] = self.flushLoggedErrors(ZeroDivisionError)
        self.assertIsNotNone(error.getTracebackObject())
        self.assertNoResult(d)
        self.assertFalse(client.connection.closed)
        self.assertEqual(self.successResultOf(client.emit_with_ack("good")), ["fine"])

    def test_failing_deferred_is_logged(self) -> None:
        """A handler whose Deferred fails is logged the same way."""
        self.sio.on("bad", lambda socket: fail(KeyError("k")))
        client = self.client()
        d = client.emit_with_ack("bad")
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.assertNoResult(d)
        self.assertTrue(client.is_connected())

    def test_failing_coroutine_without_ack_is_logged(self) -> None:
        """A failing coroutine of an event without ack is logged too."""
        async def bad(socket: Any) -> None:
            raise RuntimeError("inside")

        self.sio.on("bad", bad)
        client = self.client()
        client.emit("bad")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertTrue(client.is_connected())

    def test_unserialisable_ack_is_logged(self) -> None:
        """A result that cannot be serialised is logged; the connection stays."""
        self.sio.on("bad", lambda socket: object())
        client = self.client()
        d = client.emit_with_ack("bad")
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)
        self.assertNoResult(d)
        self.assertTrue(client.is_connected())

    def test_event_without_handler(self) -> None:
        """An event nobody handles is dropped; an ack it asked for is not sent."""
        client = self.client()
        d = client.emit_with_ack("nobody")
        self.assertNoResult(d)
        self.assertTrue(client.is_connected())

    def test_catch_all_handler(self) -> None:
        """The C{"*"} handler gets C{(socket, event, *args)} for events without
        their own handler, and its return value acks."""
        self.sio.on("*", lambda socket, event, *args: [event, *args])
        self.sio.on("own", lambda socket: "own")
        client = self.client()
        self.assertEqual(self.successResultOf(client.emit_with_ack("x", 1)), [["x", 1]])
        self.assertEqual(self.successResultOf(client.emit_with_ack("own")), ["own"])

    def test_socket_listeners(self) -> None:
        """C{socket.on(event)} listeners get the arguments; without a namespace
        handler the first listener's result is the ack."""
        got: list[Any] = []

        def connect(socket: Any) -> None:
            socket.on("local", lambda *args: got.append(args) or "first")
            socket.on("local", lambda *args: "second")

        self.sio.on("connect", connect)
        client = self.client()
        self.assertEqual(self.successResultOf(client.emit_with_ack("local", 1, 2)), ["first"])
        self.assertEqual(got, [(1, 2)])

    def test_binary_arguments(self) -> None:
        """Bytes travel both ways, nested anywhere."""
        self.sio.on("swap", lambda socket, d: {"out": d["in"][::-1], "n": [b"\x00"]})
        client = self.client()
        d = client.emit_with_ack("swap", {"in": b"abc"})
        self.assertEqual(self.successResultOf(d), [{"out": b"cba", "n": [b"\x00"]}])

    def test_sync_handlers_allocate_no_deferred(self) -> None:
        """A synchronous handler's event and ack create no Deferred on the server."""
        created: list[Any] = []
        original = Deferred.__init__

        def counting(self: Any, *args: Any, **kwargs: Any) -> None:
            # Only txsocketio's own (twisted.web makes one per long-poll GET).
            if sys._getframe(1).f_globals.get("__name__", "").startswith("txsocketio"):
                created.append(self)
            original(self, *args, **kwargs)

        self.sio.on("echo", lambda socket, *args: args)
        client = self.client()
        self.patch(Deferred, "__init__", counting)
        client.send_raw('2["echo",1]')
        client.send_raw('27["echo",1]')
        self.assertEqual(client.raw_received[-1], "37[1]")
        self.assertEqual(created, [])

    def test_invoke_passes_plain_values(self) -> None:
        """invoke() returns plain values as they are and wraps coroutines once."""
        self.assertEqual(invoke(lambda: 3), 3)

        async def coro() -> int:
            return 4

        d = invoke(coro)
        self.assertIsInstance(d, Deferred)
        self.assertEqual(self.successResultOf(d), 4)
        already = succeed(5)
        self.assertIs(invoke(lambda: already), already)


class HandlerV4Tests(HandlerTestsMixin, ServerTestCase):
    protocol = 4


class HandlerV3Tests(HandlerTestsMixin, ServerTestCase):
    protocol = 3


class EmitTestsMixin:
    """socket.emit and socket.emit_with_ack."""

    protocol: int
    sio: SocketIOServer

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.c = self.client()
        self.socket = self.socket_of(self.c)

    def test_emit(self) -> None:
        """emit() sends the event with its arguments."""
        self.socket.emit("hello", "world", 1, None, {"a": [1.5, True]})
        self.assertEqual(self.c.pop_received(), [("hello", ["world", 1, None, {"a": [1.5, True]}])])
        self.assertEqual(self.c.raw_received[-1], '2["hello","world",1,null,{"a":[1.5,true]}]')

    def test_send(self) -> None:
        """send() emits a "message" event."""
        self.socket.send("hi")
        self.assertEqual(self.c.pop_received(), [("message", ["hi"])])

    def test_emit_with_ack(self) -> None:
        """emit_with_ack() fires with the client's ack arguments."""
        self.c.on("add", lambda a, b: (a + b, "ok"))
        d = self.socket.emit_with_ack("add", 2, 3)
        self.assertEqual(self.successResultOf(d), [5, "ok"])
        self.assertEqual(self.socket.pending_acks, 0)

    def test_emit_with_ack_timeout(self) -> None:
        """With a timeout and no answer the Deferred fails with AckTimeout; a
        late ack is then ignored."""
        d = self.socket.emit_with_ack("q", timeout=2.5)
        ack_id = int(self.c.raw_received[-1][1:].split("[")[0])
        self.clock.advance(2.4)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.failureResultOf(d, AckTimeout)
        self.c.send_raw(f"3{ack_id}[1]")
        self.assertTrue(self.c.is_connected())
        self.assertEqual(self.app_calls(), [])

    def test_timeout_view(self) -> None:
        """socket.timeout(s).emit_with_ack(...) is the same as timeout=s."""
        d = self.socket.timeout(1).emit_with_ack("q")
        self.clock.advance(1)
        self.failureResultOf(d, AckTimeout)

    def test_ack_cancels_timer(self) -> None:
        """An ack in time cancels the timer: nothing is left in the clock."""
        self.c.on("q", lambda: "a")
        d = self.socket.emit_with_ack("q", timeout=5)
        self.assertEqual(self.successResultOf(d), ["a"])
        self.assertEqual(self.app_calls(), [])

    def test_client_answers_later(self) -> None:
        """A client that answers later (its handler returns a Deferred) is waited for."""
        gate: Deferred[str] = Deferred()
        self.c.on("q", lambda: gate)
        d = self.socket.emit_with_ack("q")
        self.assertNoResult(d)
        gate.callback("later")
        self.assertEqual(self.successResultOf(d), ["later"])

    def test_disconnect_before_ack(self) -> None:
        """If the client leaves first, the Deferred fails with SocketDisconnected
        and the timer is cancelled."""
        d = self.socket.emit_with_ack("q", timeout=10)
        self.c.close()
        self.failureResultOf(d, SocketDisconnected)
        self.assertEqual(self.app_calls(), [])

    def test_namespace_disconnect_before_ack(self) -> None:
        """Leaving only the namespace fails pending acks the same way."""
        d = self.socket.emit_with_ack("q")
        self.socket.disconnect()
        self.failureResultOf(d, SocketDisconnected)

    def test_emit_with_ack_on_disconnected_socket(self) -> None:
        """emit_with_ack on a socket that is gone fails at once."""
        self.c.close()
        self.failureResultOf(self.socket.emit_with_ack("q"), SocketDisconnected)

    def test_cancel(self) -> None:
        """Cancelling the Deferred forgets the ack and its timer."""
        d = self.socket.emit_with_ack("q", timeout=10)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.socket.pending_acks, 0)
        self.assertEqual(self.app_calls(), [])

    def test_emit_after_disconnect_is_dropped(self) -> None:
        """emit() on a disconnected socket sends nothing and does not fail."""
        self.socket.disconnect()
        count = len(self.c.raw_received)
        self.socket.emit("late")
        self.assertEqual(len(self.c.raw_received), count)

    def test_unserialisable_argument(self) -> None:
        """A TypeError names the argument, at emit time; nothing is sent and no
        ack is left registered."""
        count = len(self.c.raw_received)
        e = self.assertRaises(TypeError, self.socket.emit, "ev", 1, {"when": object()})
        self.assertIn("argument 2 of event 'ev'", str(e))
        self.assertIn("object", str(e))
        e = self.assertRaises(TypeError, self.socket.emit_with_ack, "ev", {1, 2}, timeout=5)
        self.assertIn("argument 1 of event 'ev'", str(e))
        self.assertEqual(len(self.c.raw_received), count)
        self.assertEqual(self.socket.pending_acks, 0)
        self.assertEqual(self.app_calls(), [])

    def test_reserved_event_names(self) -> None:
        """Reserved names cannot be emitted (ValueError), nor non-str names (TypeError)."""
        for name in RESERVED_EVENTS:
            self.assertRaises(ValueError, self.socket.emit, name)
            self.assertRaises(ValueError, self.socket.emit_with_ack, name)
            self.assertRaises(ValueError, self.socket.broadcast.emit, name)
            self.assertRaises(ValueError, self.sio.emit, name)
        self.assertEqual(sorted(RESERVED_EVENTS), sorted(["connect", "connect_error", "disconnect",
                                                          "disconnecting", "newListener", "removeListener"]))
        self.assertRaises(TypeError, self.socket.emit, 42)

    def test_volatile(self) -> None:
        """A volatile emit is dropped (never queued) when the transport cannot
        write now, and sent when it can."""
        self.c.connection.writable = False
        self.socket.volatile.emit("tick", 1)
        self.assertEqual(self.c.pop_received(), [])
        self.c.connection.writable = True
        self.socket.volatile.emit("tick", 2)
        self.assertEqual(self.c.pop_received(), [("tick", [2])])

    def test_non_volatile_ignores_writable(self) -> None:
        """Ordinary emits go to the transport (which queues) whatever its state."""
        self.c.connection.writable = False
        self.socket.emit("tick")
        self.assertEqual(self.c.pop_received(), [])  # it waits in the session...
        self.c.connection.writable = True
        self.assertEqual(self.c.pop_received(), [("tick", [])])  # ...not dropped

    def test_compress_flag(self) -> None:
        """compress(flag) returns a view that emits as usual."""
        self.socket.compress(False).emit("a")
        self.socket.compress(True).volatile.timeout(3).emit("b")
        self.assertEqual([e for e, _ in self.c.pop_received()], ["a", "b"])

    def test_rooms(self) -> None:
        """join/leave change socket.rooms; the socket's own room stays."""
        self.socket.join("a", "b")
        self.assertEqual(self.socket.rooms, {self.socket.id, "a", "b"})
        self.socket.leave("a", "missing")
        self.assertEqual(self.socket.rooms, {self.socket.id, "b"})

    def test_join_after_disconnect_is_ignored(self) -> None:
        """A handler that joins a room after its socket left leaves nothing behind."""
        self.c.close()
        self.socket.join("late")
        self.assertNoLeaks()


class EmitV4Tests(EmitTestsMixin, ServerTestCase):
    protocol = 4


class EmitV3Tests(EmitTestsMixin, ServerTestCase):
    protocol = 3


class MiddlewareTestsMixin:
    """Per-packet middlewares: socket.use(middleware)."""

    protocol: int
    sio: SocketIOServer

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.handled: list[Any] = []
        self.sio.on("ev", lambda socket, *args: self.handled.append(args) or "ok")

    def test_order_and_arguments(self) -> None:
        """Middlewares run in order with (event, args) and may change args in place."""
        order: list[Any] = []

        def connect(socket: Any) -> None:
            socket.use(lambda event, args: order.append(("one", event, list(args))))
            socket.use(lambda event, args: args.append("added"))

        self.sio.on("connect", connect)
        client = self.client()
        self.assertEqual(self.successResultOf(client.emit_with_ack("ev", 1)), ["ok"])
        self.assertEqual(order, [("one", "ev", [1])])
        self.assertEqual(self.handled, [(1, "added")])

    def test_async_middleware(self) -> None:
        """A middleware may wait (Deferred or coroutine) before the event goes on."""
        gate: Deferred[None] = Deferred()

        async def wait(event: str, args: list[Any]) -> None:
            await gate

        self.sio.on("connect", lambda socket: socket.use(wait))
        client = self.client()
        d = client.emit_with_ack("ev")
        self.assertEqual(self.handled, [])
        gate.callback(None)
        self.assertEqual(self.successResultOf(d), ["ok"])

    def test_refusal_drops_event(self) -> None:
        """A middleware that raises drops the event (no handler, no ack) and
        the socket's "error" listeners get the exception."""
        errors: list[Any] = []

        def connect(socket: Any) -> None:
            socket.use(lambda event, args: (_ for _ in ()).throw(PermissionError(event)))
            socket.on("error", errors.append)

        self.sio.on("connect", connect)
        client = self.client()
        d = client.emit_with_ack("ev")
        self.assertNoResult(d)
        self.assertEqual(self.handled, [])
        [error] = errors
        self.assertIsInstance(error, PermissionError)
        self.assertTrue(client.is_connected())

    def test_async_refusal(self) -> None:
        """A failing Deferred from a middleware drops the event too."""
        self.sio.on("connect", lambda socket: socket.use(lambda e, a: fail(PermissionError())))
        client = self.client()
        client.emit("ev")
        self.assertEqual(self.handled, [])


class MiddlewareV4Tests(MiddlewareTestsMixin, ServerTestCase):
    protocol = 4


class MiddlewareV3Tests(MiddlewareTestsMixin, ServerTestCase):
    protocol = 3


class CatchAllTestsMixin:
    """on_any and on_any_outgoing."""

    protocol: int
    sio: SocketIOServer

    def test_on_any(self) -> None:
        """on_any listeners see every incoming event, before the handler, and
        can be removed."""
        seen: list[Any] = []
        self.sio.on("ev", lambda socket, *args: seen.append("handler"))

        def connect(socket: Any) -> None:
            socket.on_any(lambda event, *args: seen.append((event, args)))

        self.sio.on("connect", connect)
        client = self.client()
        client.emit("ev", 1)
        client.emit("unhandled")
        self.assertEqual(seen, [("ev", (1,)), "handler", ("unhandled", ())])
        self.socket_of(client).off_any()
        client.emit("ev", 2)
        self.assertEqual(seen[-1], "handler")

    def test_on_any_outgoing(self) -> None:
        """on_any_outgoing listeners see every event sent to the client: emits,
        broadcasts, and those emitted while connecting."""
        seen: list[Any] = []

        def connect(socket: Any) -> None:
            socket.on_any_outgoing(lambda event, *args: seen.append((event, args)))
            socket.emit("welcome")

        self.sio.on("connect", connect)
        client = self.client()
        socket = self.socket_of(client)
        socket.emit("direct", 1)
        self.sio.emit("everyone", 2)
        socket.emit_with_ack("asking")
        self.assertEqual(seen, [("welcome", ()), ("direct", (1,)), ("everyone", (2,)), ("asking", ())])
        socket.off_any_outgoing()
        socket.emit("quiet")
        self.assertEqual(len(seen), 4)

    def test_catch_all_failures_are_logged(self) -> None:
        """A failing catch-all listener (sync or async) is logged; the event
        still reaches its handler."""
        handled: list[Any] = []

        async def bad_async(event: str, *args: Any) -> None:
            raise ValueError(event)

        def connect(socket: Any) -> None:
            socket.on_any(lambda event, *args: 1 / 0)
            socket.on_any(bad_async)
            socket.on_any_outgoing(lambda event, *args: 1 / 0)

        self.sio.on("connect", connect)
        self.sio.on("ev", lambda socket: handled.append(1))
        client = self.client()
        client.emit("ev")
        self.socket_of(client).emit("out")
        self.assertEqual(handled, [1])
        self.assertEqual(client.pop_received(), [("out", [])])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError, ValueError)), 3)


class CatchAllV4Tests(CatchAllTestsMixin, ServerTestCase):
    protocol = 4


class CatchAllV3Tests(CatchAllTestsMixin, ServerTestCase):
    protocol = 3


class CompressFlagTests(ServerTestCase):
    """C{compress(False)} reaches the encoded messages (and so Autobahn's
    C{doNotCompress}), for one socket and for broadcasts."""

    def capture(self, client: Any) -> list[Any]:
        seen: list[Any] = []
        original = client.connection.send_many

        def send_many(messages: Any) -> None:
            seen.extend(messages)
            original(messages)

        client.connection.send_many = send_many
        return seen

    def test_socket_compress_false(self) -> None:
        """C{socket.compress(False).emit} sends messages marked not to compress;
        a plain emit leaves compression on."""
        sockets: list[Any] = []
        self.sio.on("connect", lambda socket: sockets.append(socket))
        client = self.client()
        seen = self.capture(client)
        sockets[0].compress(False).emit("a", b"\x01")
        sockets[0].emit("b")
        # A plain (str/bytes) message is compressed wherever it was negotiated.
        self.assertEqual([getattr(m, "compress", True) for m in seen], [False, False, True])
        self.assertNotIsInstance(seen[2], OutgoingMessage)  # one recipient: nothing framed for reuse
        self.assertEqual([e for e, _ in client.pop_received()], ["a", "b"])

    def test_broadcast_compress_false(self) -> None:
        """C{sio.compress(False).emit} marks the broadcast's messages too."""
        client = self.client()
        seen = self.capture(client)
        self.sio.compress(False).emit("news", 1)
        self.sio.emit("news", 2)
        self.assertEqual([m.compress for m in seen], [False, True])
