# -*- test-case-name: tests.test_socketio_broadcast -*-
"""Broadcasting: ``sio.to(room).except_(other).emit(...)`` and friends.

A :class:`BroadcastOperator` is an immutable selection (rooms, exclusions,
flags) over one namespace; every method that chains returns a new one.  The
work is done by the namespace's adapter, so the same calls reach the whole
cluster with the Redis adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from twisted.internet.defer import Deferred

from txsocketio.adapters.base import BroadcastOptions
from txsocketio.errors import AckTimeout
from txsocketio.socketio.packet import Packet, PacketType
from txsocketio.socketio.socket import check_event_name

if TYPE_CHECKING:
    from txsocketio.socketio.server import ServerNamespace

__all__ = ["BroadcastOperator"]


def _names(rooms: Iterable[Any]) -> frozenset[str]:
    out: set[str] = set()
    for room in rooms:
        if isinstance(room, (list, tuple, set, frozenset)):
            out.update(str(r) for r in room)
        else:
            out.add(str(room))
    return frozenset(out)


class BroadcastOperator:
    """A selection of sockets in one namespace, and what to do with them."""

    __slots__ = ("nsp", "rooms", "except_rooms", "flags")

    def __init__(self, nsp: "ServerNamespace", rooms: frozenset[str] = frozenset(),
                 except_: frozenset[str] = frozenset(), flags: dict[str, Any] | None = None) -> None:
        self.nsp = nsp
        self.rooms = rooms
        self.except_rooms = except_
        self.flags = flags or {}

    def _with(self, **changes: Any) -> "BroadcastOperator":
        return BroadcastOperator(
            self.nsp,
            changes.get("rooms", self.rooms),
            changes.get("except_", self.except_rooms),
            changes.get("flags", self.flags),
        )

    def _options(self) -> BroadcastOptions:
        return BroadcastOptions(self.rooms, self.except_rooms, self.flags)

    # -- selection ------------------------------------------------------------------

    def to(self, *rooms: Any) -> "BroadcastOperator":
        """Add rooms to the selection (a socket in several is reached once)."""
        return self._with(rooms=self.rooms | _names(rooms))

    in_ = to

    def except_(self, *rooms: Any) -> "BroadcastOperator":
        """Leave out the sockets in these rooms (socket ids are rooms too)."""
        return self._with(except_=self.except_rooms | _names(rooms))

    @property
    def volatile(self) -> "BroadcastOperator":
        """Drop the message for clients that cannot take it right now."""
        return self._with(flags={**self.flags, "volatile": True})

    @property
    def local(self) -> "BroadcastOperator":
        """Only this process's clients, even with a cluster adapter."""
        return self._with(flags={**self.flags, "local": True})

    def compress(self, flag: bool) -> "BroadcastOperator":
        return self._with(flags={**self.flags, "compress": bool(flag)})

    def timeout(self, seconds: float) -> "BroadcastOperator":
        """How long :meth:`emit_with_ack` waits for the clients' answers."""
        return self._with(flags={**self.flags, "timeout": seconds})

    # -- emitting ---------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to every selected socket.

        The packet is encoded once and the same messages go to every
        recipient.  Raises ``TypeError`` (naming the argument) when an
        argument cannot be serialised, before anything is sent.
        """
        check_event_name(event)
        self.nsp.adapter.broadcast(Packet(PacketType.EVENT, self.nsp.name, [event, *args]),
                                   self._options())

    def send(self, *args: Any) -> None:
        self.emit("message", *args)

    def emit_with_ack(self, event: str, *args: Any) -> "Deferred[list[Any]]":
        """Emit and collect one answer per client (its first ack argument).

        Needs :meth:`timeout`.  Fires with the list of answers once every
        selected client (on every server) has answered; on timeout fails with
        :class:`~txsocketio.errors.AckTimeout` whose ``responses`` holds the
        answers that did arrive and ``expected`` how many clients were asked.
        A client that disconnects without answering counts as not answering.
        """
        check_event_name(event)
        seconds = self.flags.get("timeout")
        if seconds is None:
            raise ValueError("a broadcast with acknowledgements needs a timeout: "
                             "use .timeout(seconds).emit_with_ack(...)")
        nsp = self.nsp
        packet = Packet(PacketType.EVENT, nsp.name, [event, *args], id=nsp.next_ack_id())
        collection = _AckCollection(nsp, packet.id, seconds)
        try:
            nsp.adapter.broadcast_with_ack(packet, self._options(), collection.client_count, collection.ack)
        except BaseException:
            collection.abandon()
            raise
        if self.flags.get("local"):
            collection.set_server_count(1)
        else:
            nsp.adapter.server_count().addCallbacks(collection.set_server_count, collection.fail)
        return collection.done

    # -- acting on the selected sockets -------------------------------------------------

    def fetch_sockets(self) -> "Deferred[list[Any]]":
        """The selected sockets (remote ones too, with a cluster adapter)."""
        return self.nsp.adapter.fetch_sockets(self._options())

    def sockets_join(self, *rooms: Any) -> "Deferred[None]":
        """Make the selected sockets join ``rooms``."""
        return self.nsp.adapter.add_sockets(self._options(), _names(rooms))

    def sockets_leave(self, *rooms: Any) -> "Deferred[None]":
        """Make the selected sockets leave ``rooms``."""
        return self.nsp.adapter.del_sockets(self._options(), _names(rooms))

    def disconnect_sockets(self, close: bool = False) -> "Deferred[None]":
        """Disconnect the selected sockets (``close`` ends their whole connection)."""
        return self.nsp.adapter.disconnect_sockets(self._options(), close)


class _AckCollection:
    """The answers to one broadcast with acknowledgements.

    Complete when every server has said how many clients it asked and that
    many answers have arrived (Node's rule); the timer ends it otherwise.
    """

    __slots__ = ("nsp", "ack_id", "done", "responses", "expected", "servers", "server_count", "timer")

    def __init__(self, nsp: "ServerNamespace", ack_id: int, seconds: float) -> None:
        self.nsp = nsp
        self.ack_id = ack_id
        self.done: Deferred[list[Any]] = Deferred(self._cancelled)
        self.responses: list[Any] = []
        self.expected = 0
        self.servers = 0
        self.server_count: int | None = None
        self.timer = nsp.server.reactor.callLater(seconds, self._timed_out)

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
            self.nsp._forget_ack(self.ack_id)

    def _timed_out(self) -> None:
        if not self.done.called:
            self.nsp._forget_ack(self.ack_id)
            self.done.errback(AckTimeout("operation has timed out", list(self.responses), self.expected))

    def _cancelled(self, _: Deferred[list[Any]]) -> None:
        self._stop()

    def fail(self, failure: Any) -> None:
        if not self.done.called:
            self._stop()
            self.done.errback(failure)

    def abandon(self) -> None:
        """The broadcast could not be sent (the caller gets the exception)."""
        self._stop()
