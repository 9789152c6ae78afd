# -*- test-case-name: tests.test_socketio_broadcast -*-
"""The adapter interface: where a namespace keeps its rooms and how it broadcasts.

An adapter belongs to one namespace.  The in-memory adapter
(:mod:`txsocketio.adapters.memory`) is the default; the Redis adapter extends
every operation across processes without changing these signatures: anything
that may involve other servers returns a Deferred.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

import attrs

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from txsocketio.socketio.packet import Packet
    from txsocketio.socketio.server import ServerNamespace

__all__ = ["BroadcastOptions", "Adapter"]


@attrs.frozen
class BroadcastOptions:
    """Who receives a broadcast: ``rooms`` (empty = everyone) minus ``except_``."""

    rooms: frozenset[str] = frozenset()
    except_: frozenset[str] = frozenset()
    flags: dict[str, Any] = attrs.field(factory=dict, hash=False)


class Adapter:
    """Base class of adapters; see :class:`txsocketio.adapters.memory.MemoryAdapter`."""

    def __init__(self, nsp: "ServerNamespace") -> None:
        self.nsp = nsp

    def init(self) -> Any:
        """Called once when the namespace is created; may return a Deferred."""

    def close(self) -> Any:
        """Called when the server shuts down; may return a Deferred."""

    # rooms of local sockets
    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        raise NotImplementedError

    def delete(self, sid: str, room: str) -> None:
        raise NotImplementedError

    def del_all(self, sid: str) -> None:
        raise NotImplementedError

    def socket_rooms(self, sid: str) -> set[str]:
        raise NotImplementedError

    # broadcasting
    def broadcast(self, packet: "Packet", opts: BroadcastOptions) -> None:
        """Send ``packet`` to the sockets ``opts`` selects.

        Encode it once (``self.nsp.prepare(packet)``) *before* delivering to
        anybody, so that an argument that cannot be serialised raises its
        ``TypeError`` to the caller and nothing is sent; then hand the same
        encoded messages to every local recipient
        (``socket._write_encoded(encoded, packet, volatile)``).
        """
        raise NotImplementedError

    def broadcast_with_ack(self, packet: "Packet", opts: BroadcastOptions,
                           client_count: Callable[[int], None],
                           ack: Callable[[Any], None]) -> None:
        """As :meth:`broadcast`, with ``packet.id`` (unique in the namespace on
        this server) as the ack id: call ``client_count(n)`` once per server
        with the number of clients asked, and ``ack(response)`` for each
        client's first ack argument."""
        raise NotImplementedError

    # cluster-wide operations
    def fetch_sockets(self, opts: BroadcastOptions) -> "Deferred[list[Any]]":
        raise NotImplementedError

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> "Deferred[None]":
        raise NotImplementedError

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> "Deferred[None]":
        raise NotImplementedError

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> "Deferred[None]":
        raise NotImplementedError

    def all_rooms(self) -> "Deferred[set[str]]":
        raise NotImplementedError

    def server_count(self) -> "Deferred[int]":
        raise NotImplementedError

    def server_side_emit(self, event: str, args: list[Any], *, timeout: float | None = None,
                         want_ack: bool = False) -> "Deferred[list[Any]]":
        raise NotImplementedError
