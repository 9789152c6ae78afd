# -*- test-case-name: tests.test_adapters_memory,tests.test_redis_wire -*-
"""The adapter contract: where a namespace keeps its rooms and how it broadcasts.

An adapter belongs to one namespace.  :class:`Adapter` is what the server
calls; :class:`AdapterNamespace` and :class:`Recipient` are what an adapter
may use of its namespace and of the sockets it delivers to, and nothing
else.  The in-memory adapter (:mod:`txsocketio.adapters.memory`) is the
default; the Redis adapter (:mod:`txsocketio.adapters.redis`) extends every
operation across processes without changing these signatures: anything that
may involve other servers returns a Deferred.

:class:`BroadcastOptions` is the one selection record of the package (Node's
``BroadcastOptions``): rooms, exclusions and typed :class:`Flags`.  The
broadcast operator builds it, adapters read it, the Redis wire format
carries it.  This module is pure (it imports nothing from Twisted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence

import attrs

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IReactorTime

    from txsocketio.engineio.server import OutgoingMessage
    from txsocketio.socketio.packet import Packet
    from txsocketio.socketio.socket import SocketHandshake

__all__ = ["Flags", "BroadcastOptions", "room_names", "Recipient", "AdapterNamespace", "Adapter",
           "CREATE_ROOM", "DELETE_ROOM", "JOIN_ROOM", "LEAVE_ROOM", "ROOM_EVENTS"]

_FLAG_NAMES = ("volatile", "compress", "local", "timeout")

#: Node's adapter events, which an adapter reports with ``nsp.room_event(...)``
CREATE_ROOM = "create-room"
DELETE_ROOM = "delete-room"
JOIN_ROOM = "join-room"
LEAVE_ROOM = "leave-room"
ROOM_EVENTS = (CREATE_ROOM, DELETE_ROOM, JOIN_ROOM, LEAVE_ROOM)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


@attrs.frozen(eq=False)
class Flags(Mapping[str, Any]):
    """The typed flags of a broadcast.

    ``volatile``: drop the message for clients that cannot take it right now.
    ``compress``: ``False`` keeps it uncompressed on permessage-deflate
    WebSockets (``None``: not said, which compresses).  ``local``: only this
    process's clients.  ``timeout``: seconds an ``emit_with_ack`` waits.

    It also reads as the map of the flags that are set (``{"volatile": True}``),
    the shape Node's adapters put on the wire; :meth:`of` reads such a map
    back, leniently (unknown flags are dropped, as no receiver acts on them).
    """

    volatile: bool = False
    compress: bool | None = None
    local: bool = False
    timeout: float | None = None

    @classmethod
    def of(cls, value: "Flags | Mapping[str, Any] | None") -> "Flags":
        """``value`` as Flags: a Flags, or a map of flags (the wire's form)."""
        if isinstance(value, Flags):
            return value
        if not value:
            return _NO_FLAGS
        compress = value.get("compress")
        return cls(volatile=bool(value.get("volatile")),
                   compress=None if compress is None else compress is not False,
                   local=bool(value.get("local")),
                   timeout=_number(value.get("timeout")))

    @property
    def compressed(self) -> bool:
        """Whether the messages may be compressed (unless ``compress(False)``)."""
        return self.compress is not False

    def _set(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.volatile:
            out["volatile"] = True
        if self.compress is not None:
            out["compress"] = self.compress
        if self.local:
            out["local"] = True
        if self.timeout is not None:
            out["timeout"] = self.timeout
        return out

    def __getitem__(self, name: str) -> Any:
        return self._set()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._set())

    def __len__(self) -> int:
        return len(self._set())

    def __hash__(self) -> int:
        return hash(tuple(self._set().items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._set() == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"Flags({self._set()!r})"


_NO_FLAGS = Flags()


def _frozen_names(names: Iterable[str]) -> frozenset[str]:
    # A named converter: mypy's attrs plugin types it (``converter=frozenset`` is generic).
    return frozenset(names)


def _flags(value: "Flags | Mapping[str, Any] | None") -> Flags:
    # A named converter: mypy's attrs plugin does not read a classmethod.
    return Flags.of(value)


def room_names(rooms: Iterable[Any]) -> frozenset[str]:
    """Rooms as ``to()`` takes them: names, or lists/tuples/sets of names."""
    out: set[str] = set()
    for room in rooms:
        if isinstance(room, (list, tuple, set, frozenset)):
            out.update(str(r) for r in room)
        else:
            out.add(str(room))
    return frozenset(out)


@attrs.frozen
class BroadcastOptions:
    """Who receives a broadcast, and how: ``rooms`` (empty = everyone) minus
    the sockets in ``except_``, with ``flags``.  Immutable; the chaining
    methods return new records."""

    rooms: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen_names)
    except_: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen_names)
    flags: Flags = attrs.field(default=_NO_FLAGS, converter=_flags)

    def to(self, rooms: Iterable[Any]) -> "BroadcastOptions":
        return attrs.evolve(self, rooms=self.rooms | room_names(rooms))

    def excluding(self, rooms: Iterable[Any]) -> "BroadcastOptions":
        return attrs.evolve(self, except_=self.except_ | room_names(rooms))

    def with_flags(self, **changes: Any) -> "BroadcastOptions":
        return attrs.evolve(self, flags=attrs.evolve(self.flags, **changes))

    @property
    def selects_others(self) -> bool:
        """True when rooms or exclusions were given (a socket's view then broadcasts)."""
        return bool(self.rooms or self.except_)


class Recipient(Protocol):
    """What an adapter may do with a local socket (:class:`txsocketio.Socket` is one)."""

    id: str
    handshake: "SocketHandshake"
    data: Any

    @property
    def rooms(self) -> set[str]: ...

    def deliver(self, messages: Sequence["OutgoingMessage"], packet: "Packet", volatile: bool = False) -> None:
        """Write already-encoded messages (the same list for every recipient)."""

    def expect_ack(self, ack_id: int, callback: Callable[[Any], None]) -> None:
        """Call ``callback`` with the client's first ack argument for ``ack_id``."""

    def join(self, *rooms: str) -> None: ...

    def leave(self, *rooms: str) -> None: ...

    def disconnect(self, close: bool = False) -> None: ...


class AdapterNamespace(Protocol):
    """What an adapter may use of its namespace (a ``ServerNamespace``)."""

    @property
    def name(self) -> str: ...

    @property
    def reactor(self) -> "IReactorTime": ...

    @property
    def server(self) -> Any: ...

    @property
    def server_side_handlers(self) -> Mapping[str, Callable[..., Any]]: ...

    @property
    def sockets(self) -> Mapping[str, Recipient]: ...

    def prepare(self, packet: "Packet", compress: bool = True) -> list["OutgoingMessage"]:
        """Encode once; raises ``TypeError`` naming an argument that cannot be sent."""

    def next_ack_id(self) -> int: ...

    def room_event(self, event: str, room: str, sid: str | None = None) -> None:
        """Report one change of the local rooms, in Node's order: when ``sid``
        joins a room, ``create-room`` (room) if the room is new, then
        ``join-room`` (room, sid) if ``sid`` was not in it; when it leaves,
        ``leave-room`` (room, sid), then ``delete-room`` (room) if it was the
        last.  The namespace calls its listeners and logs their errors, so
        this never raises."""


class Adapter(Protocol):
    """The contract of an adapter (``SocketIOServer(adapter=factory)``, where
    ``factory(nsp) -> Adapter``).

    Rooms of local sockets: :meth:`add_all`, :meth:`delete`, :meth:`del_all`,
    :meth:`socket_rooms`; each change is reported with
    :meth:`AdapterNamespace.room_event`.  Broadcasting: encode the packet once with
    ``nsp.prepare(packet, opts.flags.compressed)`` *before* delivering to
    anybody (so an argument that cannot be serialised raises to the caller
    and nothing is sent), then hand the same messages to every selected
    recipient with :meth:`Recipient.deliver`.  Everything that may involve
    other servers returns a Deferred.
    """

    def init(self) -> Any:
        """Called once when the namespace is created; may return a Deferred."""

    def close(self) -> Any:
        """Called when the server shuts down, when ``configure(adapter=...)``
        replaces the adapter, and when an emptied dynamic child is removed
        (``cleanup_empty_child_namespaces``); may return a Deferred."""

    def add_all(self, sid: str, rooms: Iterable[str]) -> None: ...

    def delete(self, sid: str, room: str) -> None: ...

    def del_all(self, sid: str) -> None: ...

    def socket_rooms(self, sid: str) -> set[str]: ...

    def broadcast(self, packet: "Packet", opts: BroadcastOptions) -> None: ...

    def broadcast_with_ack(self, packet: "Packet", opts: BroadcastOptions,
                           client_count: Callable[[int], None], ack: Callable[[Any], None]) -> None:
        """As :meth:`broadcast`, with ``packet.id`` as the ack id: call
        ``client_count(n)`` once per server with the number of clients asked,
        and ``ack(response)`` for each client's first ack argument."""

    def fetch_sockets(self, opts: BroadcastOptions) -> "Deferred[list[Any]]": ...

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> "Deferred[None]": ...

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> "Deferred[None]": ...

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> "Deferred[None]": ...

    def all_rooms(self) -> "Deferred[set[str]]": ...

    def server_count(self) -> "Deferred[int]": ...

    def server_side_emit(self, event: str, args: list[Any], *, timeout: float | None = None,
                         want_ack: bool = False) -> "Deferred[list[Any]]": ...
