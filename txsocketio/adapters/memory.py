# -*- test-case-name: tests.test_adapters_memory,tests.test_socketio_namespaces -*-
"""The default adapter: rooms in memory, broadcasts to this process's sockets.

It implements :class:`~txsocketio.adapters.base.Adapter` for one process, and
is the local part the Redis adapter composes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

import attrs
from twisted.internet.defer import Deferred, succeed

from txsocketio.adapters.base import (CREATE_ROOM, DELETE_ROOM, JOIN_ROOM, LEAVE_ROOM, AdapterNamespace,
                                      BroadcastOptions, Recipient)
from txsocketio.observer import NULL_OBSERVER, message_size

if TYPE_CHECKING:
    from txsocketio.socketio.packet import Packet

__all__ = ["MemoryAdapter", "LocalRooms"]


class MemoryAdapter:
    """Rooms and broadcasts within one process.

    A broadcast encodes its packet once (``nsp.prepare``) and hands the same
    encoded messages to every recipient (:meth:`Recipient.deliver`).  Every
    change of the rooms is reported with ``nsp.room_event`` as Node's
    in-memory adapter emits it (``create-room``, ``join-room``,
    ``leave-room``, ``delete-room``).
    """

    def __init__(self, nsp: AdapterNamespace) -> None:
        self.nsp = nsp
        #: room -> the ids of its sockets
        self.rooms: dict[str, set[str]] = {}
        #: socket id -> its rooms, in the order it joined them (a dict used as an ordered set)
        self.sids: dict[str, dict[str, None]] = {}

    def init(self) -> None:
        """Nothing to start."""

    def close(self) -> None:
        """Nothing to stop."""

    # -- rooms (each change reported to the namespace, in Node's order) ------------------

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        mine = self.sids.get(sid)
        if mine is None:
            mine = self.sids[sid] = {}
        report = self.nsp.room_event
        for room in rooms:
            mine[room] = None
            members = self.rooms.get(room)
            if members is None:
                members = self.rooms[room] = set()
                report(CREATE_ROOM, room)
            if sid not in members:
                members.add(sid)
                report(JOIN_ROOM, room, sid)

    def delete(self, sid: str, room: str) -> None:
        mine = self.sids.get(sid)
        if mine is not None:
            mine.pop(room, None)
        self._leave(room, sid)

    def del_all(self, sid: str) -> None:
        mine = self.sids.get(sid)
        if mine is None:
            return
        for room in list(mine):
            self._leave(room, sid)
        self.sids.pop(sid, None)

    def _leave(self, room: str, sid: str) -> None:
        members = self.rooms.get(room)
        if members is None:
            return
        if sid in members:
            members.discard(sid)
            self.nsp.room_event(LEAVE_ROOM, room, sid)
        if not members and self.rooms.get(room) is members:
            del self.rooms[room]
            self.nsp.room_event(DELETE_ROOM, room)

    def socket_rooms(self, sid: str) -> set[str]:
        return set(self.sids.get(sid, ()))

    # -- local recipients ---------------------------------------------------------

    def local_sockets(self, opts: BroadcastOptions) -> list[Recipient]:
        """The sockets of this process that ``opts`` selects, each once (a snapshot)."""
        sockets = self.nsp.sockets
        rooms = opts.rooms
        if not opts.except_:
            # The common cases, without the bookkeeping of the general one.
            if not rooms:
                return list(sockets.values())
            if len(rooms) == 1:
                for room in rooms:
                    members = self.rooms.get(room, ())
                get = sockets.get
                return [s for s in map(get, list(members)) if s is not None]
        excluded: set[str] = set()
        for room in opts.except_:
            excluded.update(self.rooms.get(room, ()))
        if not rooms:
            return [socket for sid, socket in list(sockets.items()) if sid not in excluded]
        selected: list[Recipient] = []
        seen: set[str] = set()
        for room in rooms:
            for sid in list(self.rooms.get(room, ())):
                if sid in seen or sid in excluded:
                    continue
                seen.add(sid)
                socket = sockets.get(sid)
                if socket is not None:
                    selected.append(socket)
        return selected

    # -- broadcasting ---------------------------------------------------------------

    def broadcast(self, packet: "Packet", opts: BroadcastOptions) -> None:
        # once for everybody; TypeError before anything is sent
        self.deliver(self.nsp.prepare(packet, opts.flags.compressed), packet, opts)

    def deliver(self, encoded: list[Any], packet: "Packet", opts: BroadcastOptions) -> None:
        """Hand already-encoded messages to every local socket ``opts`` selects."""
        volatile = opts.flags.volatile
        recipients = self.local_sockets(opts)
        for socket in recipients:
            socket.deliver(encoded, packet, volatile)
        observer = self.nsp.server.observer
        if observer is not NULL_OBSERVER:
            observer.broadcast(len(recipients), sum(map(message_size, encoded)))

    def broadcast_with_ack(self, packet: "Packet", opts: BroadcastOptions,
                           client_count: Callable[[int], None],
                           ack: Callable[[Any], None]) -> None:
        ack_id = packet.id
        if ack_id is None:
            ack_id = self.nsp.next_ack_id()
            packet = attrs.evolve(packet, id=ack_id)
        encoded = self.nsp.prepare(packet, opts.flags.compressed)
        volatile = opts.flags.volatile
        count = 0
        for socket in self.local_sockets(opts):
            count += 1
            socket.expect_ack(ack_id, ack)
            socket.deliver(encoded, packet, volatile)
        observer = self.nsp.server.observer
        if observer is not NULL_OBSERVER:
            observer.broadcast(count, sum(map(message_size, encoded)))
        client_count(count)

    # -- server-wide operations (this process is the whole cluster) -------------------

    def fetch_sockets(self, opts: BroadcastOptions) -> "Deferred[list[Any]]":
        return succeed(list(self.local_sockets(opts)))

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> "Deferred[None]":
        rooms = list(rooms)
        for socket in list(self.local_sockets(opts)):
            socket.join(*rooms)
        return succeed(None)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> "Deferred[None]":
        rooms = list(rooms)
        for socket in list(self.local_sockets(opts)):
            socket.leave(*rooms)
        return succeed(None)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> "Deferred[None]":
        for socket in list(self.local_sockets(opts)):
            socket.disconnect(close)
        return succeed(None)

    def all_rooms(self) -> "Deferred[set[str]]":
        return succeed(set(self.rooms))

    def server_count(self) -> "Deferred[int]":
        return succeed(1)

    def server_side_emit(self, event: str, args: list[Any], *, timeout: float | None = None,
                         want_ack: bool = False) -> "Deferred[list[Any]]":
        # No other servers: nobody to tell, nobody to answer.
        return succeed([])


class LocalRooms:
    """The rooms part of the adapter contract for a cluster adapter: this
    process's rooms live in its ``local`` :class:`MemoryAdapter`, which it
    composes (the Redis pub/sub and streams adapters)."""

    local: MemoryAdapter

    @property
    def rooms(self) -> dict[str, set[str]]:
        """room -> socket ids, of this process."""
        return self.local.rooms

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        self.local.add_all(sid, rooms)

    def delete(self, sid: str, room: str) -> None:
        self.local.delete(sid, room)

    def del_all(self, sid: str) -> None:
        self.local.del_all(sid)

    def socket_rooms(self, sid: str) -> set[str]:
        return self.local.socket_rooms(sid)

    def local_sockets(self, opts: BroadcastOptions) -> list[Recipient]:
        return self.local.local_sockets(opts)
