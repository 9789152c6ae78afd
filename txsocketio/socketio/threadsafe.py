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

import concurrent.futures

from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Callable, Mapping

import attrs
from twisted.internet.defer import Deferred
from twisted.python import threadable
from twisted.python.failure import Failure

from txsocketio._invoke import invoke
from txsocketio.adapters.base import BroadcastOptions
from txsocketio.logs import Logger
from txsocketio.socketio.broadcast import BroadcastOperator, Broadcasting
from txsocketio.socketio.packet import Packet, PacketType

if TYPE_CHECKING:
    from txsocketio.socketio.server import SocketIOServer
    from txsocketio.socketio.socket import SocketHandshake

__all__ = ["ThreadSafeServer", "ThreadSafeSocket", "ThreadExecutor"]

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


class ThreadExecutor:
    """Carries a selection out from any thread (see :mod:`txsocketio.socketio.broadcast`):
    validates in the calling thread, then hops into the reactor thread and
    hands the selection to the namespace's own executor there."""

    __slots__ = ("facade", "namespace")

    def __init__(self, facade: "ThreadSafeServer", namespace: str) -> None:
        self.facade = facade
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"<from any thread on {self.namespace}>"

    def _target(self) -> Any:
        """In the reactor thread: the namespace's executor (a dynamic child by name too)."""
        return self.facade.sio.of(self.namespace).executor

    def _validate(self, event: str, args: tuple[Any, ...]) -> None:
        # TypeError now, in the calling thread (the parser is pure and shared).
        self.facade.sio.parser.encode(Packet(PacketType.EVENT, self.namespace, [event, *args]))

    def emit(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> None:
        self._validate(event, args)
        self.facade.sio.reactor.callFromThread(self._emit_now, opts, event, args)

    def _emit_now(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> None:
        try:
            self._target().emit(opts, event, args)
        except Exception:
            log.failure("emit of {event!r} from another thread failed", event=event)

    def emit_with_ack(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> "Future[list[Any]]":
        if opts.flags.timeout is None:
            raise ValueError("a broadcast with acknowledgements needs a timeout: "
                             "use sio.threadsafe.timeout(seconds).emit_with_ack(...)")
        self._validate(event, args)
        return self.facade.call_async(lambda: self._target().emit_with_ack(opts, event, args))

    def fetch_sockets(self, opts: BroadcastOptions) -> "Future[list[ThreadSafeSocket]]":
        """The selected sockets, as :class:`ThreadSafeSocket` snapshots."""
        sio = self.facade.sio

        def fetch() -> Deferred[list[ThreadSafeSocket]]:
            return self._target().fetch_sockets(opts).addCallback(
                lambda sockets: [ThreadSafeSocket.of(sio, s) for s in sockets])

        return self.facade.call_async(fetch)

    def sockets_join(self, opts: BroadcastOptions, rooms: frozenset[str]) -> "Future[None]":
        return self.facade.call_async(lambda: self._target().sockets_join(opts, rooms))

    def sockets_leave(self, opts: BroadcastOptions, rooms: frozenset[str]) -> "Future[None]":
        return self.facade.call_async(lambda: self._target().sockets_leave(opts, rooms))

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> "Future[None]":
        return self.facade.call_async(lambda: self._target().disconnect_sockets(opts, close))


class ThreadSafeServer(Broadcasting[None, "Future[list[Any]]", "Future[list[ThreadSafeSocket]]", "Future[None]"]):
    """``sio.threadsafe``: the broadcasting API of the server, usable from any
    thread (the one :class:`~txsocketio.socketio.broadcast.BroadcastOperator`
    with a :class:`ThreadExecutor`), plus :meth:`of`, :meth:`call` and
    :meth:`call_async`.  See the module docstring for how results come back.

    ``call_timeout`` is how long :meth:`call` waits (seconds).
    """

    def __init__(self, sio: "SocketIOServer", namespace: str = "/", call_timeout: float = 30.0) -> None:
        self.sio = sio
        self.namespace = _normalise(namespace)
        self.call_timeout = call_timeout

    def _operator(self) -> BroadcastOperator[None, "Future[list[Any]]", "Future[list[ThreadSafeSocket]]",
                                             "Future[None]"]:
        return BroadcastOperator(ThreadExecutor(self, self.namespace))

    def of(self, namespace: str) -> "ThreadSafeServer":
        """The same API on another namespace (a name; dynamic children by name too)."""
        if not isinstance(namespace, str):
            raise TypeError("sio.threadsafe.of() takes a namespace name (a str)")
        return ThreadSafeServer(self.sio, namespace, self.call_timeout)

    # -- hopping into the reactor ----------------------------------------------------

    def call_async(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "Future[Any]":
        """Run ``fn(*args, **kwargs)`` in the reactor thread; the Future gets its
        result (a Deferred's or coroutine's result once it fires) or exception."""
        future: Future[Any] = Future()
        self.sio.reactor.callFromThread(_settle, future, fn, args, kwargs)
        return future

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in the reactor thread and wait (at most
        ``call_timeout`` seconds, else ``TimeoutError``) for its result; its
        exception is raised here.  Not from the reactor thread."""
        if threadable.isInIOThread():
            raise RuntimeError("sio.threadsafe.call() cannot be used from the reactor thread "
                               "(it would wait for itself): call the function directly")
        try:
            return self.call_async(fn, *args, **kwargs).result(self.call_timeout)
        except concurrent.futures.TimeoutError as e:
            # The same class as the built-in TimeoutError from Python 3.11 on; on 3.10 it is not.
            raise TimeoutError(f"the reactor thread did not answer within {self.call_timeout} s") from e


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
    sio: "SocketIOServer" = attrs.field(repr=False)

    @classmethod
    def of(cls, sio: "SocketIOServer", socket: Any) -> "ThreadSafeSocket":
        return cls(id=socket.id, namespace=socket.nsp.name, rooms=frozenset(socket.rooms),
                   handshake=socket.handshake, data=dict(socket.data), sio=sio)

    def _target(self) -> Any:
        return self.sio.threadsafe.of(self.namespace).to(self.id)

    def emit(self, event: str, *args: Any) -> None:
        """Emit to this client only; returns at once."""
        self._target().emit(event, *args)

    def join(self, *rooms: str) -> "Future[None]":
        return self._target().sockets_join(*rooms)

    def leave(self, *rooms: str) -> "Future[None]":
        return self._target().sockets_leave(*rooms)

    def disconnect(self, close: bool = False) -> "Future[None]":
        return self._target().disconnect_sockets(close)
