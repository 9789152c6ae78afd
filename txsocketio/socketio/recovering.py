# -*- test-case-name: tests.test_socketio_recovering -*-
"""Connection state recovery: the glue between sockets, adapters and the store.

:mod:`txsocketio.socketio.recovery` is the pure state (Node's
``SessionAwareAdapter``); this module wires it in, and only when
``SocketIOServer(connection_state_recovery=...)`` is on:

* :class:`RecoveryOptions` is the validated option record;
* :class:`RecoveringMemoryAdapter` is the in-memory adapter with a
  :class:`~txsocketio.socketio.recovery.RecoveryStore` and one expiry timer
  on the server's reactor (the default adapter when recovery is on, as
  Node's ``SessionAwareAdapter``);
* :class:`RecoveringSocketExecutor` sends a plain ``socket.emit`` through the
  adapter as a broadcast to the socket's own room, so that it is recorded
  (Node's ``Socket.emit`` does the same when recovery is on); sockets of a
  server without recovery keep the direct path and pay nothing;
* :func:`persist_session` and :func:`restore_session` are what the socket
  and the connect flow call.

An adapter takes part by offering ``persist_session(sid, pid, rooms, data)``
and ``restore_session(pid, offset) -> Deferred[RestoredSession | None]``
(:class:`SessionAwareAdapter`); an adapter without them never recovers
anybody (its clients get a fresh session).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Protocol, runtime_checkable

import attrs
from twisted.internet.defer import Deferred, succeed

from txsocketio.adapters.base import BroadcastOptions
from txsocketio.adapters.memory import MemoryAdapter
from txsocketio.logs import Logger
from txsocketio.socketio.packet import Packet, PacketType
from txsocketio.socketio.recovery import (
    DEFAULT_MAX_DISCONNECTION_DURATION,
    DEFAULT_MAX_PACKETS,
    RecoveryStore,
    RestoredSession,
    is_recoverable,
    recovery_credentials,
)

if TYPE_CHECKING:
    from txsocketio.adapters.base import AdapterNamespace
    from txsocketio.socketio.socket import Socket

__all__ = ["RecoveryOptions", "SessionAwareAdapter", "RecoveringMemoryAdapter", "RecoveringSocketExecutor",
           "recovery_options", "persist_session", "restore_session"]

log = Logger(namespace="txsocketio.socketio.recovery")

#: seconds after a deadline the expiry timer fires
_EXPIRY_SLACK = 0.001

_OPTION_NAMES = ("max_disconnection_duration", "skip_middlewares", "max_packets", "max_sessions")


def _window(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"max_disconnection_duration must be a number of seconds >= 0, not {value!r}")
    return float(value)


def _positive(name: str, none_ok: bool) -> Any:
    def check(value: Any) -> Any:
        if value is None and none_ok:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1{' or None' if none_ok else ''}, not {value!r}")
        return value
    return check


def _max_packets(value: Any) -> int:
    return _positive("max_packets", False)(value)


def _max_sessions(value: Any) -> int | None:
    return _positive("max_sessions", True)(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"skip_middlewares must be True or False, not {value!r}")
    return value


@attrs.frozen
class RecoveryOptions:
    """``connection_state_recovery``: the window in seconds (Node's
    ``maxDisconnectionDuration``, 120), whether a recovered client skips the
    connection middlewares (``skipMiddlewares``, True), and the caps of the
    in-memory store: packets (10 000, the oldest go) and sessions (``None``:
    bounded by the window only) per namespace."""

    max_disconnection_duration: float = attrs.field(default=DEFAULT_MAX_DISCONNECTION_DURATION,
                                                    converter=_window)
    skip_middlewares: bool = attrs.field(default=True, converter=_bool)
    max_packets: int = attrs.field(default=DEFAULT_MAX_PACKETS, converter=_max_packets)
    max_sessions: int | None = attrs.field(default=None, converter=_max_sessions)


def recovery_options(value: Any) -> RecoveryOptions | None:
    """The option as given: ``None``/``False`` (off), ``True`` or ``{}`` (Node's
    defaults), a mapping of :class:`RecoveryOptions` names, or the record."""
    if value is None or value is False:
        return None
    if value is True:
        return RecoveryOptions()
    if isinstance(value, RecoveryOptions):
        return value
    if not isinstance(value, Mapping):
        raise TypeError("connection_state_recovery is None, True, a dict or a RecoveryOptions, "
                        f"not {type(value).__name__}")
    unknown = sorted(set(value) - set(_OPTION_NAMES))
    if unknown:
        raise TypeError(f"unknown connection_state_recovery option(s) {', '.join(unknown)}; "
                        f"known: {', '.join(_OPTION_NAMES)}")
    return RecoveryOptions(**value)


@runtime_checkable
class SessionAwareAdapter(Protocol):
    """What an adapter offers to take part in recovery (Node's
    ``persistSession``/``restoreSession``)."""

    def persist_session(self, sid: str, pid: str, rooms: Iterable[str], data: Mapping[str, Any]) -> None: ...

    def restore_session(self, pid: str, offset: str) -> "Deferred[RestoredSession | None]": ...


class RecoveringMemoryAdapter(MemoryAdapter):
    """The in-memory adapter with a recovery store (Node's ``SessionAwareAdapter``).

    Every broadcast goes through :meth:`RecoveryStore.record` (recordable
    packets get their offset appended and are kept); one timer on the
    namespace's reactor drops what the window let expire.
    """

    def __init__(self, nsp: "AdapterNamespace") -> None:
        super().__init__(nsp)
        options = nsp.server.config.connection_state_recovery or RecoveryOptions()
        self.store = RecoveryStore(options.max_disconnection_duration, max_packets=options.max_packets,
                                   max_sessions=options.max_sessions)
        self._timer: Any = None

    def close(self) -> None:
        """Stop the expiry timer."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        store = self.store
        before = store.packet_count
        packet = store.record(packet, opts.rooms, opts.except_, opts.flags, self.nsp.reactor.seconds())
        if before == 0 and self._timer is None:
            self._schedule()
        super().broadcast(packet, opts)

    def persist_session(self, sid: str, pid: str, rooms: Iterable[str], data: Mapping[str, Any]) -> None:
        self.store.persist(sid, pid, rooms, data, self.nsp.reactor.seconds())
        if self._timer is None:
            self._schedule()

    def restore_session(self, pid: str, offset: str) -> "Deferred[RestoredSession | None]":
        return succeed(self.store.restore(pid, offset, self.nsp.reactor.seconds()))

    def _schedule(self) -> None:
        """Arm the one timer at the store's next deadline (none when empty)."""
        deadline = self.store.next_deadline()
        if deadline is None or math.isinf(deadline):
            self._timer = None
            return
        reactor = self.nsp.reactor
        # Expiry is strict (older than the window), so fire a hair after the
        # deadline: firing at it would drop nothing and re-arm at once.
        self._timer = reactor.callLater(max(0.0, deadline - reactor.seconds()) + _EXPIRY_SLACK, self._expire)

    def _expire(self) -> None:
        self._timer = None
        self.store.expire(self.nsp.reactor.seconds())
        self._schedule()


class RecoveringSocketExecutor:
    """A socket's executor when recovery is on: a plain emit to the socket
    itself becomes a broadcast to its own room (recorded, with an offset),
    as Node's ``Socket.emit`` does; everything else is the plain executor's."""

    __slots__ = ("plain",)

    def __init__(self, plain: Any) -> None:
        self.plain = plain

    def __getattr__(self, name: str) -> Any:
        return getattr(self.plain, name)

    def emit(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> None:
        socket = self.plain.socket
        nsp = socket.nsp
        if opts.selects_others or (socket.connecting and nsp.sockets.get(socket.id) is not socket):
            # A broadcast, or an emit from a middleware (not in its room yet:
            # it waits for the CONNECT reply, without an offset).
            self.plain.emit(opts, event, args)
            return
        packet = Packet(PacketType.EVENT, nsp.name, [event, *args])
        nsp.adapter.broadcast(packet, BroadcastOptions(rooms=frozenset([socket.id]), flags=opts.flags))

    def emit_with_ack(self, opts: BroadcastOptions, event: str, args: tuple[Any, ...]) -> Any:
        """Sent straight to the socket (never recorded in memory: the ack could
        not be restored); an adapter that archives such emits (the streams
        adapter, as Node's) gets a copy for its replay."""
        result = self.plain.emit_with_ack(opts, event, args)
        socket = self.plain.socket
        archive = getattr(socket.nsp.adapter, "archive_direct", None)
        if archive is not None and not opts.selects_others:
            # The ack id is the socket's own; a replay drops it, so any id will do.
            packet = Packet(PacketType.EVENT, socket.nsp.name, [event, *args], id=0)
            archive(packet, BroadcastOptions(rooms=frozenset([socket.id]), flags=opts.flags))
        return result


def persist_session(socket: "Socket", reason: str) -> None:
    """Keep ``socket`` for a later recovery when ``reason`` is recoverable
    and its adapter can (Node's ``Socket._onclose``)."""
    adapter = socket.nsp.adapter
    if socket.pid is None or not is_recoverable(reason) or not isinstance(adapter, SessionAwareAdapter):
        return
    try:
        adapter.persist_session(socket.id, socket.pid, socket.rooms, socket.data)
    except Exception:
        log.failure("persisting the session of {socket} failed", socket=socket)


async def restore_session(adapter: Any, auth: Any) -> RestoredSession | None:
    """The session the CONNECT ``auth`` asks back (``pid`` and ``offset``
    strings), or ``None``: no credentials, an adapter that cannot, an unknown
    or expired session, a lost offset, or a failure (logged)."""
    credentials = recovery_credentials(auth)
    if credentials is None or not isinstance(adapter, SessionAwareAdapter):
        return None
    try:
        return await adapter.restore_session(*credentials)
    except Exception:
        log.failure("restoring session {pid} failed; the client gets a new one", pid=credentials[0])
        return None
