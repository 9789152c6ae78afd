# -*- test-case-name: tests.test_socketio_threadsafe -*-
"""Emitting from other threads: ``sio.threadsafe``.

Everything in txsocketio runs in the reactor thread.  Code that runs in
another thread — a Django or Flask view served by ``twisted.web.wsgi``, a
``deferToThread`` worker — reaches the server through ``sio.threadsafe``,
which has the broadcasting API of the server and hops into the reactor
thread with ``reactor.callFromThread``::

    # in a Django view (a WSGI thread)
    sio.threadsafe.to("room-42").emit("price", {"eur": 12})          # returns at once
    sio.threadsafe.of("/admin").emit("audit", "login", user.pk)
    answers = sio.threadsafe.timeout(5).emit_with_ack("ping").result(6)
    count = sio.threadsafe.call(lambda: len(sio.of("/").sockets))    # blocks, 30 s at most

The rules:

* :meth:`ThreadSafeServer.emit` validates in the calling thread (an argument
  that cannot be serialised raises ``TypeError`` there, a reserved name
  ``ValueError``), schedules the emit and returns ``None`` without waiting.
  Emits from one thread reach the clients in the order they were made.  Do
  not change the arguments after the call: they are encoded again, later, in
  the reactor thread.
* Methods that produce a result (``emit_with_ack``, ``fetch_sockets``,
  ``sockets_join``…, ``call_async``) return a
  :class:`concurrent.futures.Future`; wait with ``future.result(timeout)``.
* :meth:`ThreadSafeServer.call` runs any function in the reactor thread and
  blocks until its result (a Deferred or a coroutine is waited for) — never
  call it from the reactor thread itself, which would wait for ever.
* Sockets returned by ``fetch_sockets`` are :class:`ThreadSafeSocket`
  snapshots: their attributes were read in the reactor thread, their methods
  hop back into it.

If the reactor is not running, nothing happens until it runs: a Future then
times out in ``result(timeout)``.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Callable, Mapping

import attrs
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python import threadable
from twisted.python.failure import Failure

from txsocketio._invoke import invoke
from txsocketio.socketio.packet import Packet, PacketType, encode
from txsocketio.socketio.socket import check_event_name

if TYPE_CHECKING:
    from txsocketio.socketio.server import SocketIOServer
    from txsocketio.socketio.socket import SocketHandshake

__all__ = ["ThreadSafeServer", "ThreadSafeSocket"]

log = Logger(namespace="txsocketio.socketio")


def _settle(future: "Future[Any]", fn: Callable[..., Any], args: tuple[Any, ...],
            kwargs: Mapping[str, Any]) -> None:
    """In the reactor thread: run ``fn`` and pass its outcome to ``future``."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = invoke(lambda: fn(*args, **kwargs))
    except BaseException as e:
        future.set_exception(e)
        return
    if isinstance(result, Deferred):
        def ok(value: Any) -> None:
            future.set_result(value)

        def failed(failure: Failure) -> None:
            future.set_exception(failure.value)

        result.addCallbacks(ok, failed)
    else:
        future.set_result(result)


def _normalise(namespace: str) -> str:
    return namespace if namespace.startswith("/") else "/" + namespace


class ThreadSafeServer:
    """``sio.threadsafe``: a selection (namespace, rooms, exclusions, flags)
    like :class:`~txsocketio.socketio.broadcast.BroadcastOperator`, usable from
    any thread.  Chaining methods return new selections; see the module
    docstring for how results come back.

    ``call_timeout`` is how long :meth:`call` waits (seconds).
    """

    __slots__ = ("_sio", "_namespace", "_rooms", "_except", "_flags", "call_timeout")

    def __init__(self, sio: "SocketIOServer", namespace: str = "/", rooms: tuple[Any, ...] = (),
                 except_: tuple[Any, ...] = (), flags: Mapping[str, Any] | None = None,
                 call_timeout: float = 30.0) -> None:
        self._sio = sio
        self._namespace = _normalise(namespace)
        self._rooms = rooms
        self._except = except_
        self._flags = dict(flags or {})
        self.call_timeout = call_timeout

    def _with(self, **changes: Any) -> "ThreadSafeServer":
        return ThreadSafeServer(
            self._sio,
            changes.get("namespace", self._namespace),
            changes.get("rooms", self._rooms),
            changes.get("except_", self._except),
            changes.get("flags", self._flags),
            self.call_timeout,
        )

    # -- selection (no thread hop) -------------------------------------------------

    def of(self, namespace: str) -> "ThreadSafeServer":
        """The same API on another namespace (a name; dynamic children by name too)."""
        if not isinstance(namespace, str):
            raise TypeError("sio.threadsafe.of() takes a namespace name (a str)")
        return self._with(namespace=_normalise(namespace), rooms=(), except_=(), flags={})

    def to(self, *rooms: Any) -> "ThreadSafeServer":
        return self._with(rooms=self._rooms + rooms)

    in_ = to

    def except_(self, *rooms: Any) -> "ThreadSafeServer":
        return self._with(except_=self._except + rooms)

    @property
    def volatile(self) -> "ThreadSafeServer":
        return self._with(flags={**self._flags, "volatile": True})

    @property
    def local(self) -> "ThreadSafeServer":
        return self._with(flags={**self._flags, "local": True})

    def compress(self, flag: bool) -> "ThreadSafeServer":
        return self._with(flags={**self._flags, "compress": bool(flag)})

    def timeout(self, seconds: float) -> "ThreadSafeServer":
        """How long :meth:`emit_with_ack` waits for the clients (in the reactor)."""
        return self._with(flags={**self._flags, "timeout": seconds})

    def _operator(self) -> Any:
        """In the reactor thread: the real broadcast operator."""
        op = self._sio.of(self._namespace)._operator()
        if self._rooms:
            op = op.to(*self._rooms)
        if self._except:
            op = op.except_(*self._except)
        flags = self._flags
        if flags.get("volatile"):
            op = op.volatile
        if flags.get("local"):
            op = op.local
        if "compress" in flags:
            op = op.compress(flags["compress"])
        if flags.get("timeout") is not None:
            op = op.timeout(flags["timeout"])
        return op

    # -- hopping into the reactor ----------------------------------------------------

    def call_async(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "Future[Any]":
        """Run ``fn(*args, **kwargs)`` in the reactor thread; the Future gets its
        result (a Deferred's or coroutine's result once it fires) or exception."""
        future: Future[Any] = Future()
        self._sio.reactor.callFromThread(_settle, future, fn, args, kwargs)
        return future

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in the reactor thread and wait (at most
        ``call_timeout`` seconds, else ``TimeoutError``) for its result; its
        exception is raised here.  Not from the reactor thread."""
        if threadable.isInIOThread():
            raise RuntimeError("sio.threadsafe.call() cannot be used from the reactor thread "
                               "(it would wait for itself): call the function directly")
        return self.call_async(fn, *args, **kwargs).result(self.call_timeout)

    # -- the broadcasting API ------------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        """Emit to the selection; returns at once (see the module docstring)."""
        check_event_name(event)
        encode(Packet(PacketType.EVENT, self._namespace, [event, *args]))  # TypeError now, here
        self._sio.reactor.callFromThread(self._emit_now, event, args)

    def _emit_now(self, event: str, args: tuple[Any, ...]) -> None:
        try:
            self._operator().emit(event, *args)
        except Exception:
            log.failure("emit of {event!r} from another thread failed", event=event)

    def send(self, *args: Any) -> None:
        self.emit("message", *args)

    def emit_with_ack(self, event: str, *args: Any) -> "Future[list[Any]]":
        """Broadcast with acknowledgements (needs :meth:`timeout`); the Future
        gets the list of answers, or :class:`~txsocketio.errors.AckTimeout`."""
        check_event_name(event)
        if self._flags.get("timeout") is None:
            raise ValueError("a broadcast with acknowledgements needs a timeout: "
                             "use sio.threadsafe.timeout(seconds).emit_with_ack(...)")
        encode(Packet(PacketType.EVENT, self._namespace, [event, *args]))
        return self.call_async(lambda: self._operator().emit_with_ack(event, *args))

    def fetch_sockets(self) -> "Future[list[ThreadSafeSocket]]":
        """The selected sockets, as :class:`ThreadSafeSocket` snapshots."""
        def fetch() -> Deferred[list[ThreadSafeSocket]]:
            return self._operator().fetch_sockets().addCallback(
                lambda sockets: [ThreadSafeSocket.of(self._sio, s) for s in sockets])

        return self.call_async(fetch)

    def sockets_join(self, *rooms: Any) -> "Future[None]":
        return self.call_async(lambda: self._operator().sockets_join(*rooms))

    def sockets_leave(self, *rooms: Any) -> "Future[None]":
        return self.call_async(lambda: self._operator().sockets_leave(*rooms))

    def disconnect_sockets(self, close: bool = False) -> "Future[None]":
        return self.call_async(lambda: self._operator().disconnect_sockets(close))


@attrs.frozen
class ThreadSafeSocket:
    """A socket seen from another thread: its state when it was fetched, and
    methods that act on it in the reactor thread (nothing happens if it has
    gone meanwhile)."""

    id: str
    namespace: str
    rooms: frozenset[str]
    handshake: "SocketHandshake"
    data: Mapping[str, Any]
    _sio: "SocketIOServer" = attrs.field(repr=False, alias="sio")

    @classmethod
    def of(cls, sio: "SocketIOServer", socket: Any) -> "ThreadSafeSocket":
        return cls(id=socket.id, namespace=socket.nsp.name, rooms=frozenset(socket.rooms),
                   handshake=socket.handshake, data=dict(socket.data), sio=sio)

    def _target(self) -> ThreadSafeServer:
        return self._sio.threadsafe.of(self.namespace).to(self.id)

    def emit(self, event: str, *args: Any) -> None:
        """Emit to this client only; returns at once."""
        self._target().emit(event, *args)

    def join(self, *rooms: str) -> "Future[None]":
        return self._target().sockets_join(*rooms)

    def leave(self, *rooms: str) -> "Future[None]":
        return self._target().sockets_leave(*rooms)

    def disconnect(self, close: bool = False) -> "Future[None]":
        return self._target().disconnect_sockets(close)
