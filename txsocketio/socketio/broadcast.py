# -*- test-case-name: tests.test_socketio_server -*-
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
        """Send an event to every selected socket (the packet is encoded once)."""
        check_event_name(event)
        packet = Packet(PacketType.EVENT, self.nsp.name, [event, *args])
        self.nsp.prepare(packet)  # raise a TypeError now for unserialisable arguments
        self.nsp.adapter.broadcast(packet, self._options())

    def send(self, *args: Any) -> None:
        self.emit("message", *args)

    def emit_with_ack(self, event: str, *args: Any) -> "Deferred[list[Any]]":
        """Emit and collect one answer per client (its first ack argument).

        Needs :meth:`timeout`.  Fires with the list of answers once every
        selected client (on every server) has answered; on timeout fails with
        :class:`~txsocketio.errors.AckTimeout` whose ``responses`` holds the
        answers that did arrive.
        """
        check_event_name(event)
        seconds = self.flags.get("timeout")
        if seconds is None:
            raise ValueError("a broadcast with acknowledgements needs a timeout: "
                             "use .timeout(seconds).emit_with_ack(...)")
        packet = Packet(PacketType.EVENT, self.nsp.name, [event, *args])
        self.nsp.prepare(packet)
        reactor = self.nsp.server.reactor
        d: Deferred[list[Any]] = Deferred()
        responses: list[Any] = []
        # Complete when every server has said how many clients it asked and
        # that many answers have arrived (Node's rule).
        state: dict[str, Any] = {"expected": 0, "servers": 0, "server_count": None, "done": False}

        def finish_ok() -> None:
            if not state["done"]:
                state["done"] = True
                if timer.active():
                    timer.cancel()
                d.callback(list(responses))

        def check() -> None:
            if (state["server_count"] is not None and state["servers"] >= state["server_count"]
                    and len(responses) >= state["expected"]):
                finish_ok()

        def on_server_count(count: int) -> None:
            state["server_count"] = count
            check()

        def on_count(count: int) -> None:
            state["expected"] += count
            state["servers"] += 1
            check()

        def on_ack(response: Any) -> None:
            if state["done"]:
                return
            responses.append(response)
            check()

        def on_timeout() -> None:
            if not state["done"]:
                state["done"] = True
                d.errback(AckTimeout("operation has timed out", list(responses), state["expected"]))

        timer = reactor.callLater(seconds, on_timeout)
        self.nsp.adapter.broadcast_with_ack(packet, self._options(), on_count, on_ack)
        if self.flags.get("local"):
            on_server_count(1)
        else:
            self.nsp.adapter.server_count().addCallback(on_server_count)
        return d

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
