# -*- test-case-name: tests.test_socketio_broadcast -*-
"""Broadcasting: ``sio.to(room).except_(other).volatile.emit(...)`` and friends.

One chainable :class:`BroadcastOperator` serves every front door: a
namespace, the server, a socket (``socket.to(...)``, ``socket.volatile``),
the parent of dynamic namespaces, the thread-safe facade and the Redis
emitter.  The operator holds an immutable selection
(:class:`~txsocketio.adapters.base.BroadcastOptions`: rooms, exclusions,
typed flags) and an *executor*, the object that carries the selection out.
The front doors differ only in their executor:

=====================================  =====================================================
:class:`NamespaceExecutor`             a namespace's adapter (local, or the Redis cluster)
:class:`FanOutExecutor`                every child of a dynamic namespace
``socket.SocketExecutor``              the socket itself, or its namespace minus the socket
``threadsafe.ThreadExecutor``          hops into the reactor thread, results as Futures
``emitter.EmitterExecutor``            publishes on Redis from a process that is not a server
=====================================  =====================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from twisted.internet.defer import Deferred, DeferredList, FirstError, gatherResults

from txsocketio.adapters.base import BroadcastOptions, room_names
from txsocketio.errors import AckTimeout
from txsocketio.socketio.events import check_event_name
from txsocketio.socketio.packet import Packet, PacketType

if TYPE_CHECKING:
    from txsocketio.socketio.server import ParentNamespace, ServerNamespace

__all__ = ["BroadcastOperator", "Executor", "FrontDoors", "Broadcasting", "NamespaceExecutor", "FanOutExecutor",
           "ServerOperator", "ServerExecutor", "ServerBroadcasting", "NEEDS_TIMEOUT"]

NEEDS_TIMEOUT = ("a broadcast with acknowledgements needs a timeout: "
                 "use .timeout(seconds).emit_with_ack(...)")

# What an executor's actions return; an operator (and a front door) returns the same.
EmitT = TypeVar("EmitT", covariant=True)    #: emit() and send()
AckT = TypeVar("AckT", covariant=True)      #: emit_with_ack()
FetchT = TypeVar("FetchT", covariant=True)  #: fetch_sockets()
DoneT = TypeVar("DoneT", covariant=True)    #: sockets_join(), sockets_leave(), disconnect_sockets()


class Executor(Protocol[EmitT, AckT, FetchT, DoneT]):
    """What carries out a selection; each method gets the selection first.

    Its type parameters are what its actions return (a server's: ``None``
    for emits and Deferreds for the rest; the thread-safe facade's: Futures),
    and an operator's methods return the same."""

    def emit(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> EmitT: ...

    def emit_with_ack(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> AckT: ...

    def fetch_sockets(self, opts: BroadcastOptions) -> FetchT: ...

    def sockets_join(self, opts: BroadcastOptions, rooms: frozenset[str]) -> DoneT: ...

    def sockets_leave(self, opts: BroadcastOptions, rooms: frozenset[str]) -> DoneT: ...

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> DoneT: ...


class BroadcastOperator(Generic[EmitT, AckT, FetchT, DoneT]):
    """A selection of sockets and what to do with them; every chaining call
    returns a new operator (the first is unchanged)."""

    __slots__ = ("executor", "options")

    def __init__(self, executor: Executor[EmitT, AckT, FetchT, DoneT],
                 options: BroadcastOptions = BroadcastOptions()) -> None:
        self.executor = executor
        self.options = options

    def __repr__(self) -> str:
        o = self.options
        return (f"<BroadcastOperator {self.executor!r} to={sorted(o.rooms)} except={sorted(o.except_)} "
                f"flags={dict(o.flags)}>")

    def _with(self, options: BroadcastOptions) -> "BroadcastOperator[EmitT, AckT, FetchT, DoneT]":
        return type(self)(self.executor, options)

    # -- selection ------------------------------------------------------------------

    def to(self, *rooms: Any) -> "BroadcastOperator[EmitT, AckT, FetchT, DoneT]":
        """Add rooms (names, or lists of names) to the selection (a socket in
        several is reached once)."""
        return self._with(self.options.to(rooms))

    in_ = to

    def except_(self, *rooms: Any) -> "BroadcastOperator[EmitT, AckT, FetchT, DoneT]":
        """Leave out the sockets in these rooms (socket ids are rooms too)."""
        return self._with(self.options.excluding(rooms))

    @property
    def volatile(self) -> "BroadcastOperator[EmitT, AckT, FetchT, DoneT]":
        """Drop the message for clients that cannot take it right now."""
        return self._with(self.options.with_flags(volatile=True))

    @property
    def local(self) -> "BroadcastOperator[EmitT, AckT, FetchT, DoneT]":
        """Only this process's clients, even with a cluster adapter."""
        return self._with(self.options.with_flags(local=True))

    def compress(self, flag: bool) -> "BroadcastOperator[EmitT, AckT, FetchT, DoneT]":
        """``False``: no permessage-deflate for these messages."""
        return self._with(self.options.with_flags(compress=bool(flag)))

    def timeout(self, seconds: float) -> "BroadcastOperator[EmitT, AckT, FetchT, DoneT]":
        """How long :meth:`emit_with_ack` waits for the clients' answers."""
        return self._with(self.options.with_flags(timeout=seconds))

    # -- actions ----------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> EmitT:
        """Send an event to every selected socket.

        The packet is encoded once and the same messages go to every
        recipient.  Raises ``ValueError`` for a reserved name and ``TypeError``
        (naming the argument) when an argument cannot be serialised, before
        anything is sent.
        """
        check_event_name(event)
        return self.executor.emit(self.options, event, args)

    def send(self, *args: Any) -> EmitT:
        """Emit a ``message`` event."""
        return self.emit("message", *args)

    def emit_with_ack(self, event: str, *args: Any) -> AckT:
        """Emit and collect one answer per client (its first ack argument).

        Needs :meth:`timeout`.  Fires with the list of answers once every
        selected client (on every server) has answered; on timeout fails with
        :class:`~txsocketio.errors.AckTimeout` whose ``responses`` holds the
        answers that did arrive and ``expected`` how many clients were asked.
        A client that disconnects without answering counts as not answering.
        """
        check_event_name(event)
        return self.executor.emit_with_ack(self.options, event, args)

    def fetch_sockets(self) -> FetchT:
        """The selected sockets (remote ones too, with a cluster adapter)."""
        return self.executor.fetch_sockets(self.options)

    def sockets_join(self, *rooms: Any) -> DoneT:
        """Make the selected sockets join ``rooms``."""
        return self.executor.sockets_join(self.options, room_names(rooms))

    def sockets_leave(self, *rooms: Any) -> DoneT:
        """Make the selected sockets leave ``rooms``."""
        return self.executor.sockets_leave(self.options, room_names(rooms))

    def disconnect_sockets(self, close: bool = False) -> DoneT:
        """Disconnect the selected sockets (``close`` ends their whole connection)."""
        return self.executor.disconnect_sockets(self.options, close)


#: What a server's executors do: emits return nothing, the rest Deferreds
#: (fetch_sockets: of local ``Socket``s, and ``RemoteSocket``s with a cluster adapter).
ServerExecutor = Executor[None, Deferred[list[Any]], Deferred[list[Any]], Deferred[None]]
#: The operator of a server, its namespaces and its sockets.
ServerOperator = BroadcastOperator[None, Deferred[list[Any]], Deferred[list[Any]], Deferred[None]]


class FrontDoors(Generic[EmitT, AckT, FetchT, DoneT]):
    """The front doors of the operator for a class that has one
    (``_operator()`` starts a selection of everyone): the part of the API
    that needs no answer from the clients (all the Redis emitter offers)."""

    def _operator(self) -> BroadcastOperator[EmitT, AckT, FetchT, DoneT]:
        raise NotImplementedError

    def to(self, *rooms: Any) -> BroadcastOperator[EmitT, AckT, FetchT, DoneT]:
        """The sockets in ``rooms`` (chain ``except_``, ``volatile``…, then ``emit``)."""
        return self._operator().to(*rooms)

    def in_(self, *rooms: Any) -> BroadcastOperator[EmitT, AckT, FetchT, DoneT]:
        return self._operator().to(*rooms)

    def except_(self, *rooms: Any) -> BroadcastOperator[EmitT, AckT, FetchT, DoneT]:
        return self._operator().except_(*rooms)

    @property
    def volatile(self) -> BroadcastOperator[EmitT, AckT, FetchT, DoneT]:
        return self._operator().volatile

    def compress(self, flag: bool) -> BroadcastOperator[EmitT, AckT, FetchT, DoneT]:
        return self._operator().compress(flag)

    def emit(self, event: str, *args: Any) -> EmitT:
        """Send an event to everyone (see :meth:`BroadcastOperator.emit`)."""
        return self._operator().emit(event, *args)

    def send(self, *args: Any) -> EmitT:
        return self._operator().send(*args)

    def sockets_join(self, *rooms: Any) -> DoneT:
        """Make every socket join ``rooms``."""
        return self._operator().sockets_join(*rooms)

    def sockets_leave(self, *rooms: Any) -> DoneT:
        return self._operator().sockets_leave(*rooms)

    def disconnect_sockets(self, close: bool = False) -> DoneT:
        return self._operator().disconnect_sockets(close)


class Broadcasting(FrontDoors[EmitT, AckT, FetchT, DoneT]):
    """Every front door of the operator (namespaces, the server, the thread-safe facade)."""

    @property
    def local(self) -> BroadcastOperator[EmitT, AckT, FetchT, DoneT]:
        return self._operator().local

    def timeout(self, seconds: float) -> BroadcastOperator[EmitT, AckT, FetchT, DoneT]:
        return self._operator().timeout(seconds)

    def emit_with_ack(self, event: str, *args: Any) -> AckT:
        """Broadcast with acknowledgements; needs :meth:`timeout` first
        (``x.timeout(5).emit_with_ack(...)``), see :meth:`BroadcastOperator.emit_with_ack`."""
        return self._operator().emit_with_ack(event, *args)

    def fetch_sockets(self) -> FetchT:
        return self._operator().fetch_sockets()


#: The front doors of a server and its namespaces.
ServerBroadcasting = Broadcasting[None, Deferred[list[Any]], Deferred[list[Any]], Deferred[None]]


class NamespaceExecutor:
    """Carries a selection out on one namespace, through its adapter."""

    __slots__ = ("nsp",)

    def __init__(self, nsp: "ServerNamespace") -> None:
        self.nsp = nsp

    def __repr__(self) -> str:
        return f"<on {self.nsp.name}>"

    def emit(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> None:
        nsp = self.nsp
        nsp.adapter.broadcast(Packet(PacketType.EVENT, nsp.name, [event, *args]), opts)

    def emit_with_ack(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> "Deferred[list[Any]]":
        seconds = opts.flags.timeout
        if seconds is None:
            raise ValueError(NEEDS_TIMEOUT)
        nsp = self.nsp
        ack_id = nsp.next_ack_id()
        packet = Packet(PacketType.EVENT, nsp.name, [event, *args], id=ack_id)
        collection = _AckCollection(nsp, ack_id, seconds)
        try:
            nsp.adapter.broadcast_with_ack(packet, opts, collection.client_count, collection.ack)
        except BaseException:
            collection.abandon()
            raise
        if opts.flags.local:
            collection.set_server_count(1)
        else:
            nsp.adapter.server_count().addCallbacks(collection.set_server_count, collection.fail)
        return collection.done

    def fetch_sockets(self, opts: BroadcastOptions) -> "Deferred[list[Any]]":
        return self.nsp.adapter.fetch_sockets(opts)

    def sockets_join(self, opts: BroadcastOptions, rooms: frozenset[str]) -> "Deferred[None]":
        return self.nsp.adapter.add_sockets(opts, rooms)

    def sockets_leave(self, opts: BroadcastOptions, rooms: frozenset[str]) -> "Deferred[None]":
        return self.nsp.adapter.del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> "Deferred[None]":
        return self.nsp.adapter.disconnect_sockets(opts, close)


class FanOutExecutor:
    """Carries a selection out on every child of a dynamic namespace (the
    children existing when the action is called)."""

    __slots__ = ("parent",)

    def __init__(self, parent: "ParentNamespace") -> None:
        self.parent = parent

    def __repr__(self) -> str:
        return f"<on every child of {self.parent.name}>"

    def _children(self) -> list[ServerExecutor]:
        return [child.executor for child in list(self.parent.children.values())]

    def _validate(self, event: str, args: tuple[Any, ...]) -> None:
        # Without children nothing is encoded: raise the TypeError all the same.
        self.parent.prepare(Packet(PacketType.EVENT, "/", [event, *args]))

    def emit(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> None:
        children = self._children()
        if not children:
            self._validate(event, args)
        for child in children:
            child.emit(opts, event, args)

    def emit_with_ack(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> "Deferred[list[Any]]":
        """Every child's answers in one list; on timeout, one
        :class:`~txsocketio.errors.AckTimeout` with every answer that arrived."""
        if opts.flags.timeout is None:
            raise ValueError(NEEDS_TIMEOUT)
        children = self._children()
        if not children:
            self._validate(event, args)
        waits = [child.emit_with_ack(opts, event, args) for child in children]
        return DeferredList(waits, consumeErrors=True).addCallback(_merge_answers)

    def _gather(self, name: str, *args: Any) -> "Deferred[list[Any]]":
        d = gatherResults([getattr(child, name)(*args) for child in self._children()], consumeErrors=True)
        return d.addErrback(lambda f: f.value.subFailure if isinstance(f.value, FirstError) else f)

    def fetch_sockets(self, opts: BroadcastOptions) -> "Deferred[list[Any]]":
        return self._gather("fetch_sockets", opts).addCallback(lambda results: [s for r in results for s in r])

    def sockets_join(self, opts: BroadcastOptions, rooms: frozenset[str]) -> "Deferred[None]":
        return self._gather("sockets_join", opts, rooms).addCallback(lambda _: None)

    def sockets_leave(self, opts: BroadcastOptions, rooms: frozenset[str]) -> "Deferred[None]":
        return self._gather("sockets_leave", opts, rooms).addCallback(lambda _: None)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> "Deferred[None]":
        return self._gather("disconnect_sockets", opts, close).addCallback(lambda _: None)


def _merge_answers(results: list[tuple[bool, Any]]) -> list[Any]:
    responses: list[Any] = []
    expected = 0
    timed_out = False
    for ok, value in results:
        if ok:
            responses.extend(value)
            expected += len(value)
        elif value.check(AckTimeout):
            timed_out = True
            responses.extend(value.value.responses)
            expected += value.value.expected or 0
        else:
            value.raiseException()
    if timed_out:
        raise AckTimeout("operation has timed out", responses, expected)
    return responses


class _AckCollection:
    """The answers to one broadcast with acknowledgements.

    Complete when every server has said how many clients it asked and that
    many answers have arrived (Node's rule); the timer ends it otherwise.
    """

    __slots__ = ("nsp", "ack_id", "done", "responses", "expected", "servers", "server_count", "timer")

    def __init__(self, nsp: "ServerNamespace", ack_id: int, seconds: float) -> None:
        self.nsp = nsp
        self.ack_id = ack_id
        self.done: Deferred[list[Any]] = Deferred(lambda _: self._stop())
        self.responses: list[Any] = []
        self.expected = 0
        self.servers = 0
        self.server_count: int | None = None
        self.timer = nsp.reactor.callLater(seconds, self._timed_out)

    def client_count(self, count: int) -> None:
        self.expected += count
        self.servers += 1
        self._check()

    def ack(self, response: Any) -> None:
        if not self.done.called:
            self.responses.append(response)
            self._check()

    def set_server_count(self, count: int) -> None:
        self.server_count = count
        self._check()

    def _check(self) -> None:
        if (not self.done.called and self.server_count is not None and self.servers >= self.server_count
                and len(self.responses) >= self.expected):
            # Every client answered, so no socket still holds the ack id.
            self._stop(forget=False)
            self.done.callback(list(self.responses))

    def _stop(self, forget: bool = True) -> None:
        if self.timer.active():
            self.timer.cancel()
        if forget:
            self.nsp.forget_ack(self.ack_id)

    def _timed_out(self) -> None:
        if not self.done.called:
            self.nsp.server.observer.ack_timed_out()
            self.nsp.forget_ack(self.ack_id)
            self.done.errback(AckTimeout("operation has timed out", list(self.responses), self.expected))

    def fail(self, failure: Any) -> None:
        if not self.done.called:
            self._stop()
            self.done.errback(failure)

    def abandon(self) -> None:
        """The broadcast could not be sent (the caller gets the exception)."""
        self._stop()
