# -*- test-case-name: tests.test_adapters_streams,tests.interop.test_streams_recovery -*-
"""The Redis Streams adapter, wire-compatible with ``@socket.io/redis-streams-adapter`` 0.3.

::

    from txsocketio import SocketIOServer
    from txsocketio.adapters.streams import redis_streams_adapter

    sio = SocketIOServer(adapter=redis_streams_adapter("redis://127.0.0.1:6379/0"),
                         connection_state_recovery={"max_disconnection_duration": 120})

What differs from the pub/sub adapter (:mod:`txsocketio.adapters.redis`):
broadcasts, ``sockets_join``/``sockets_leave`` and ``disconnect_sockets`` go
into a Redis stream (``XADD ... MAXLEN ~``) that every server reads with a
blocking ``XREAD`` (:class:`~txsocketio.adapters.streams_reader.StreamReader`),
resuming after the last entry it saw: a server cut off from Redis gets what
was published meanwhile, once, as long as ``MAXLEN`` kept it.  Requests and
answers (broadcasts with acks, ``fetch_sockets``, ``server_side_emit``) use
pub/sub, as Node's adapter does; ``server_count`` is ``PUBSUB NUMSUB``.

Connection state recovery across the cluster: a socket that went away is
stored in Redis (``SET sio:session:<pid> ... PX``), and any server (txsocketio
or Node) restores it from there and replays the broadcasts it missed from the
stream, the offsets being the stream's entry ids.  As Node's 0.3.1 does, the
replay includes volatile broadcasts and ``socket.emit``s with an ack (as
plain events), so a mixed cluster behaves the same whichever server recovers
a client; the in-memory adapter replays neither (see the guide).

The wire format is :mod:`txsocketio.adapters.streams_wire`; the connections
are two :class:`~txsocketio.redisconn.RedisConnection` per server (one for
commands and pub/sub, one for the blocking reads).  Needs Redis >= 6.2
(``GETDEL``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import attrs
from twisted.internet.defer import Deferred, DeferredList, gatherResults, succeed
from twisted.python.failure import Failure

from txsocketio._invoke import invoke
from txsocketio.adapters import redis_wire
from txsocketio.adapters import streams_wire as sw
from txsocketio.adapters.base import Adapter, BroadcastOptions, Recipient
from txsocketio.adapters.memory import LocalRooms, MemoryAdapter
from txsocketio.adapters.redis_remote import RemoteSocket, describe
from txsocketio.adapters.streams_reader import StreamReader
from txsocketio.errors import ClusterTimeout, ProtocolError
from txsocketio.logs import Logger
from txsocketio.redisconn import RedisAddress, RedisConnection, Subscription
from txsocketio.socketio.events import check_event_name
from txsocketio.socketio.packet import Packet, PacketType
from txsocketio.socketio.recovery import RestoredSession

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from txsocketio.socketio.namespaces import ServerNamespace

__all__ = ["StreamsOptions", "RedisStreamsAdapter", "RedisStreamsAdapterFactory", "redis_streams_adapter"]

log = Logger(namespace="txsocketio.redis.streams")

#: How many XRANGE pages (of RESTORE_PAGE entries) a restore reads at most, as Node.
RESTORE_PAGES = 100
RESTORE_PAGE = 100


def _positive_int(name: str) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, not {value!r}")
        return value
    return check


def _max_len(value: Any) -> int:
    return _positive_int("max_len")(value)


def _read_count(value: Any) -> int:
    return _positive_int("read_count")(value)


def _block_ms(value: Any) -> int:
    return _positive_int("block_ms")(value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"stream names and prefixes are non-empty strings, not {value!r}")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"request_timeout is a positive number of seconds, not {value!r}")
    return float(value)


@attrs.frozen
class StreamsOptions:
    """Node's options (same defaults): ``stream_name``, ``channel_prefix``,
    ``max_len`` (``XADD MAXLEN ~``), ``read_count`` / ``block_ms`` (``XREAD``),
    ``session_key_prefix``, ``only_plaintext``; and ``request_timeout``
    (seconds to wait for Redis and for the other servers)."""

    stream_name: str = attrs.field(default=sw.DEFAULT_STREAM_NAME, converter=_name)
    channel_prefix: str = attrs.field(default=sw.DEFAULT_CHANNEL_PREFIX, converter=_name)
    max_len: int = attrs.field(default=sw.DEFAULT_MAX_LEN, converter=_max_len)
    read_count: int = attrs.field(default=sw.DEFAULT_READ_COUNT, converter=_read_count)
    block_ms: int = attrs.field(default=sw.DEFAULT_BLOCK_MS, converter=_block_ms)
    session_key_prefix: str = attrs.field(default=sw.DEFAULT_SESSION_KEY_PREFIX, converter=_name)
    only_plaintext: bool = False
    request_timeout: float = attrs.field(default=5.0, converter=_seconds)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class _Pending:
    """A request waiting for ``expected`` answers of the other servers."""

    def __init__(self, name: str, expected: int, results: Any, merge: Callable[[Any, Any], None],
                 timer_for: Callable[["_Pending"], Any]) -> None:
        self.name = name
        self.expected = expected
        self.responded = 0
        self.results = results
        self.merge = merge
        self.done: Deferred[Any] = Deferred()
        self.timer = timer_for(self)

    def receive(self, answer: Any) -> bool:
        """Count one answer; True once all are in."""
        self.merge(self.results, answer)
        self.responded += 1
        if self.responded >= self.expected and not self.done.called:
            if self.timer.active():
                self.timer.cancel()
            self.done.callback(self.results)
            return True
        return False

    def abort(self, why: str) -> None:
        if self.timer.active():
            self.timer.cancel()
        if not self.done.called:
            self.done.errback(ClusterTimeout(f"{self.name}: {why}", self.results, self.responded, self.expected))


class RedisStreamsAdapter(LocalRooms):
    """The adapter of one namespace on the Redis Streams cluster (see the
    module docstring).  Rooms and local delivery are those of the
    :class:`MemoryAdapter` it holds (:attr:`local`)."""

    def __init__(self, nsp: "ServerNamespace", connection: RedisConnection, options: StreamsOptions,
                 *, on_close: Callable[["RedisStreamsAdapter"], Any] | None = None) -> None:
        self.nsp = nsp
        self.local = MemoryAdapter(nsp)
        self.connection = connection
        self.options = options
        self.uid = sw.new_uid()
        self.stream = sw.stream_name(options.stream_name, nsp.name)
        self.public_channel = sw.public_channel(options.channel_prefix, nsp.name)
        self.reactor: "IReactorTime" = nsp.reactor
        self._subscriptions: list[Subscription] = []
        self._requests: dict[str, _Pending] = {}
        self._ack_requests: dict[str, tuple[Callable[[int], None], Callable[[Any], None], Any]] = {}
        self._on_close = on_close
        self._closed = False
        self._writes: set[Deferred[Any]] = set()

    def __repr__(self) -> str:
        return f"<RedisStreamsAdapter {self.nsp.name} uid={self.uid} stream={self.stream}>"

    @property
    def recovering(self) -> bool:
        return self.nsp.server.config.connection_state_recovery is not None

    # -- lifecycle -------------------------------------------------------------------

    def init(self) -> "Deferred[None]":
        """Subscribe to the public and the private channel; fires once Redis confirmed them."""
        if not self._subscriptions and not self._closed:
            private = sw.private_channel(self.options.channel_prefix, self.nsp.name, self.uid)
            self._subscriptions = [self.connection.subscribe(self.public_channel, self.on_pubsub),
                                   self.connection.subscribe(private, self.on_pubsub)]
        return gatherResults([s.ready() for s in self._subscriptions]).addCallback(lambda _: None)

    def wait_ready(self) -> "Deferred[None]":
        """Fires once this adapter's subscriptions are confirmed by Redis."""
        return self.init()

    def close(self) -> "Deferred[None]":
        """Unsubscribe, fail pending requests, leave the stream reader."""
        if self._closed:
            return succeed(None)
        self._closed = True
        for sub in self._subscriptions:
            self.connection.unsubscribe(sub)
        self._subscriptions = []
        for _, _, timer in self._ack_requests.values():
            if timer.active():
                timer.cancel()
        self._ack_requests.clear()
        for pending in list(self._requests.values()):
            pending.abort(f"the adapter of {self.nsp.name} was closed")
        self._requests.clear()
        on_close = self._on_close
        if on_close is None:
            return succeed(None)
        return DeferredList(list(self._writes)).addCallback(lambda _: on_close(self)).addCallback(lambda _: None)

    # -- rooms (this process's) ------------------------------------------------------------

    # Rooms: this process's, in ``self.local`` (see LocalRooms).

    # -- publishing --------------------------------------------------------------------------

    def _xadd(self, message: sw.ClusterMessage) -> "Deferred[Any]":
        fields = sw.encode_entry(message, only_plaintext=self.options.only_plaintext)
        command = sw.xadd_command(self.stream, fields, self.options.max_len)
        return self.connection.execute(*command, timeout=self.options.request_timeout)

    def _publish(self, channel: str, message: sw.ClusterMessage, what: str) -> "Deferred[Any]":
        d = self.connection.publish(channel, sw.encode_pubsub(message), timeout=self.options.request_timeout)
        return d.addErrback(lambda f: log.warn("{what} on {nsp} could not be published: {error}", what=what,
                                               nsp=self.nsp.name, error=f.getErrorMessage()))

    def _respond(self, requester: str | None, message: sw.ClusterMessage) -> None:
        if requester:
            channel = sw.private_channel(self.options.channel_prefix, self.nsp.name, requester)
            self._publish(channel, message, "an answer to another server")

    def _with_offset(self, packet: Packet, opts: BroadcastOptions, offset: str) -> Packet:
        """Node's ``addOffsetIfNecessary``: the entry id as last argument of an
        event without ack id, not volatile, when recovery is on."""
        if (self.recovering and packet.type in (PacketType.EVENT, PacketType.BINARY_EVENT)
                and packet.id is None and not opts.flags.volatile):
            return attrs.evolve(packet, data=[*packet.data, offset])
        return packet

    # -- broadcasting ---------------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Into the stream (unless ``local``), then to the local sockets with
        the entry id as offset once Redis answered; if Redis cannot take it
        within ``request_timeout`` the local sockets still get it (without
        offset), and a warning is logged (Node drops it)."""
        self.nsp.prepare(packet, opts.flags.compressed)  # TypeError before anything is sent
        if opts.flags.local:
            self.local.broadcast(packet, opts)
            return
        d = self._xadd(sw.broadcast_message(self.uid, self.nsp.name, packet, opts))

        def added(entry_id: Any) -> None:
            self.local.broadcast(self._with_offset(packet, opts, _text(entry_id)), opts)

        def failed(f: Failure) -> None:
            log.warn("a broadcast on {nsp} reached only this server (XADD failed: {error})", nsp=self.nsp.name,
                     error=f.getErrorMessage())
            self.local.broadcast(packet, opts)

        d.addCallbacks(added, failed).addErrback(
            lambda f: log.failure("delivering a broadcast on {nsp} failed", f, nsp=self.nsp.name))

    def archive_direct(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Put into the stream a packet sent straight to its socket (a
        ``socket.emit`` with an ack, with recovery on), as Node's adapter
        does, so that any server that recovers the client replays it."""
        self._xadd(sw.broadcast_message(self.uid, self.nsp.name, packet, opts)).addErrback(
            lambda f: log.warn("an emit on {nsp} was not stored in the stream: {error}", nsp=self.nsp.name,
                               error=f.getErrorMessage()))

    def broadcast_with_ack(self, packet: Packet, opts: BroadcastOptions, client_count: Callable[[int], None],
                           ack: Callable[[Any], None]) -> None:
        if packet.id is None:
            packet = attrs.evolve(packet, id=self.nsp.next_ack_id())
        self.local.broadcast_with_ack(packet, opts, client_count, ack)  # TypeError before anything is sent
        if opts.flags.local:
            return
        request_id = sw.new_uid()
        seconds = opts.flags.timeout or self.options.request_timeout
        timer = self.reactor.callLater(seconds, self._ack_requests.pop, request_id, None)
        self._ack_requests[request_id] = (client_count, ack, timer)
        self._publish(self.public_channel, sw.broadcast_message(self.uid, self.nsp.name, packet, opts, request_id),
                      "a broadcast with acknowledgements")

    # -- cluster-wide operations ------------------------------------------------------------------

    def server_count(self) -> "Deferred[int]":
        return self.connection.numsub(self.public_channel, timeout=self.options.request_timeout)

    def _ask(self, name: str, build: Callable[[str], sw.ClusterMessage], results: Any,
             merge: Callable[[Any, Any], None], timeout: float | None = None) -> "Deferred[Any]":
        """Publish a request to the other servers; fire with ``results``
        merged with their answers (ClusterTimeout with what came, after ``timeout``)."""
        seconds = self.options.request_timeout if timeout is None else timeout

        def counted(servers: int) -> Any:
            if servers - 1 <= 0:
                return results
            request_id = sw.new_uid()

            def timer_for(pending: _Pending) -> Any:
                return self.reactor.callLater(seconds, self._expire_request, request_id)

            pending = _Pending(name, servers - 1, results, merge, timer_for)
            self._requests[request_id] = pending
            self._publish(self.public_channel, build(request_id), name)
            return pending.done

        def unavailable(f: Failure) -> Failure:
            return Failure(ClusterTimeout(f"{name}: cannot count the servers ({f.getErrorMessage()})",
                                          results, 0, None))

        return self.server_count().addCallbacks(counted, unavailable)

    def _expire_request(self, request_id: str) -> None:
        pending = self._requests.pop(request_id, None)
        if pending is not None:
            pending.abort(f"{pending.responded} of {pending.expected} other server(s) answered in time")

    def fetch_sockets(self, opts: BroadcastOptions) -> "Deferred[list[Any]]":
        local: list[Any] = list(self.local.local_sockets(opts))
        if opts.flags.local:
            return succeed(local)

        def merge(results: list[Any], sockets: Any) -> None:
            for s in sockets:
                try:
                    details = redis_wire.RemoteSocketDetails(s["id"], dict(s.get("handshake") or {}),
                                                             frozenset(s.get("rooms") or ()), s.get("data"))
                except (KeyError, TypeError, AttributeError):
                    log.warn("ignoring a malformed socket in a fetch_sockets answer")
                    continue
                results.append(RemoteSocket(self.nsp, details))

        return self._ask("fetch_sockets", lambda rid: sw.fetch_sockets_message(self.uid, self.nsp.name, opts, rid),
                         local, merge)

    def all_rooms(self) -> "Deferred[set[str]]":
        """Every room of the cluster: the rooms of every socket (Node's
        cluster adapter has no message for this; FETCH_SOCKETS carries the rooms)."""
        return self.fetch_sockets(BroadcastOptions()).addCallback(
            lambda sockets: set(self.rooms) | {room for s in sockets for room in s.rooms})

    def _cluster_change(self, opts: BroadcastOptions, message: sw.ClusterMessage, what: str) -> "Deferred[None]":
        if opts.flags.local:
            return succeed(None)
        return self._xadd(message).addCallbacks(
            lambda _: None, lambda f: log.warn("{what} on {nsp} reached only this server: {error}", what=what,
                                               nsp=self.nsp.name, error=f.getErrorMessage()))

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> "Deferred[None]":
        rooms = list(rooms)
        self.local.add_sockets(opts, rooms)
        return self._cluster_change(opts, sw.sockets_join_message(self.uid, self.nsp.name, opts, rooms),
                                    "sockets_join")

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> "Deferred[None]":
        rooms = list(rooms)
        self.local.del_sockets(opts, rooms)
        return self._cluster_change(opts, sw.sockets_leave_message(self.uid, self.nsp.name, opts, rooms),
                                    "sockets_leave")

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> "Deferred[None]":
        self.local.disconnect_sockets(opts, close)
        return self._cluster_change(opts, sw.disconnect_sockets_message(self.uid, self.nsp.name, opts, close),
                                    "disconnect_sockets")

    def server_side_emit(self, event: str, args: list[Any], *, timeout: float | None = None,
                         want_ack: bool = False) -> "Deferred[list[Any]]":
        check_event_name(event)
        data = [event, *args]
        sw.encode_pubsub(sw.server_side_emit_message(self.uid, self.nsp.name, data))  # TypeError now
        if not want_ack:
            message = sw.server_side_emit_message(self.uid, self.nsp.name, data)
            return self._publish(self.public_channel, message, "server_side_emit").addCallback(lambda _: [])
        return self._ask("server_side_emit",
                         lambda rid: sw.server_side_emit_message(self.uid, self.nsp.name, data, rid),
                         [], lambda results, arg: results.append(arg), timeout)

    # -- sessions (connection state recovery across the cluster) ----------------------------------

    def persist_session(self, sid: str, pid: str, rooms: Iterable[str], data: Mapping[str, Any]) -> None:
        """``SET <prefix><pid> <session> PX <window>``, fire and forget (a failure is logged)."""
        recovery = self.nsp.server.config.connection_state_recovery
        window_ms = int((recovery.max_disconnection_duration if recovery is not None else 120) * 1000)
        try:
            encoded = sw.encode_session(sid, pid, rooms, dict(data))
        except (TypeError, ValueError):
            log.warn("socket {sid}: its data cannot be stored in Redis; it will not be recovered", sid=sid)
            return
        command = sw.set_session_command(self.options.session_key_prefix, pid, encoded, max(1, window_ms))
        d = self.connection.execute(*command, timeout=self.options.request_timeout)
        d.addErrback(lambda f: log.warn("storing the session of {sid} failed: {error}", sid=sid,
                                        error=f.getErrorMessage()))
        # close() waits for these: a shutdown persists every session before the connection goes.
        self._writes.add(d)

        def written(result: Any) -> Any:
            self._writes.discard(d)
            return result

        d.addBoth(written)

    def restore_session(self, pid: str, offset: str) -> "Deferred[RestoredSession | None]":
        return Deferred.fromCoroutine(self._restore(pid, offset))

    async def _restore(self, pid: str, offset: str) -> RestoredSession | None:
        """Node's ``restoreSession``: the session (consumed), the entry at the
        offset (else the client's offset was trimmed: no recovery), then the
        entries after it, filtered for the session's audience."""
        if not sw.is_offset(offset):
            return None
        timeout = self.options.request_timeout
        key = sw.session_key(self.options.session_key_prefix, pid)
        raw, here = await gatherResults([
            self.connection.execute("GETDEL", key, timeout=timeout),
            self.connection.execute(*sw.xrange_command(self.stream, offset, offset), timeout=timeout)])
        if raw is None or not sw.parse_entries(here):
            return None
        session = sw.decode_session(raw)
        entries: list[sw.StreamEntry] = []
        start = sw.next_offset(offset)
        for _ in range(RESTORE_PAGES):
            page = sw.parse_entries(await self.connection.execute(
                *sw.xrange_command(self.stream, start), "COUNT", str(RESTORE_PAGE), timeout=timeout))
            if not page:
                break
            entries += page
            start = sw.next_offset(page[-1].id)
        missed = sw.missed_packets(entries, self.nsp.name, session.rooms, replay_all=True)
        data = session.data if isinstance(session.data, dict) else {}
        return RestoredSession(session.sid, session.pid, frozenset(session.rooms), data, tuple(missed))

    # -- receiving ----------------------------------------------------------------------------------

    def on_entry(self, entry: sw.StreamEntry) -> None:
        """One stream entry for this namespace (from the factory's reader)."""
        if self._closed:
            return
        try:
            op = sw.read_operation(sw.decode_entry(entry.fields))
        except ProtocolError as e:
            log.warn("ignoring a malformed stream entry {id}: {error}", id=entry.id, error=e)
            return
        if op.uid == self.uid or op.nsp != self.nsp.name:
            return
        assert op.opts is not None or op.type not in (sw.MessageType.BROADCAST, sw.MessageType.SOCKETS_JOIN,
                                                       sw.MessageType.SOCKETS_LEAVE,
                                                       sw.MessageType.DISCONNECT_SOCKETS)
        if op.type == sw.MessageType.BROADCAST and op.request_id is None:
            assert op.packet is not None and op.opts is not None
            packet = op.packet if op.ack_id is None else attrs.evolve(op.packet, id=op.ack_id)
            self._safely(self.local.broadcast, self._with_offset(packet, op.opts, entry.id), op.opts)
        elif op.type == sw.MessageType.SOCKETS_JOIN:
            self._safely(self.local.add_sockets, op.opts, op.rooms)
        elif op.type == sw.MessageType.SOCKETS_LEAVE:
            self._safely(self.local.del_sockets, op.opts, op.rooms)
        elif op.type == sw.MessageType.DISCONNECT_SOCKETS:
            self._safely(self.local.disconnect_sockets, op.opts, op.close)

    def _safely(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.failure("applying a message from another server on {nsp} failed", nsp=self.nsp.name)

    def on_pubsub(self, channel: str, payload: bytes) -> None:
        """A message on the public or the private channel."""
        if self._closed:
            return
        try:
            message = sw.decode_pubsub(payload)
            op = sw.read_operation(message)
        except ProtocolError as e:
            log.warn("ignoring a malformed message on {channel}: {error}", channel=channel, error=e)
            return
        if op.uid == self.uid or op.nsp != self.nsp.name:
            return
        self._safely(self._handle, op)

    def _handle(self, op: sw.Operation) -> None:
        kind, rid = op.type, op.request_id
        if kind == sw.MessageType.BROADCAST and rid is not None:
            self._broadcast_for(op)
        elif kind == sw.MessageType.FETCH_SOCKETS and op.opts is not None and rid is not None:
            sockets = [describe(s) for s in self.local_sockets(op.opts)]
            for s in sockets:
                if not _packable(s["data"]):
                    s["data"] = None
            self._respond(op.uid, sw.fetch_sockets_response(self.uid, self.nsp.name, rid, sockets))
        elif kind == sw.MessageType.SERVER_SIDE_EMIT:
            self._server_side_event(op)
        elif kind == sw.MessageType.BROADCAST_CLIENT_COUNT or kind == sw.MessageType.BROADCAST_ACK:
            entry = self._ack_requests.get(rid or "")
            if entry is not None:
                if kind == sw.MessageType.BROADCAST_CLIENT_COUNT:
                    entry[0](op.client_count or 0)
                else:
                    entry[1](op.arg)
        elif kind in (sw.MessageType.FETCH_SOCKETS_RESPONSE, sw.MessageType.SERVER_SIDE_EMIT_RESPONSE):
            pending = self._requests.get(rid or "")
            if pending is not None:
                answer = op.sockets if kind == sw.MessageType.FETCH_SOCKETS_RESPONSE else op.arg
                if pending.receive(answer):
                    self._requests.pop(rid or "", None)

    def _broadcast_for(self, op: sw.Operation) -> None:
        assert op.packet is not None and op.opts is not None and op.request_id is not None
        rid, requester = op.request_id, op.uid
        packet = attrs.evolve(op.packet, id=None)
        opts = BroadcastOptions(op.opts.rooms, op.opts.except_)
        self.local.broadcast_with_ack(
            packet, opts,
            lambda n: self._respond(requester, sw.broadcast_client_count(self.uid, self.nsp.name, rid, n)),
            lambda arg: self._respond(requester, sw.broadcast_ack(self.uid, self.nsp.name, rid, arg)))

    def _server_side_event(self, op: sw.Operation) -> None:
        event, args = op.data[0], list(op.data[1:])
        handler = self.nsp.server_side_handlers.get(event)
        if handler is None:
            log.debug("no server-side handler for {event!r} on {nsp}", event=event, nsp=self.nsp.name)
            return
        result = invoke(handler, *args)
        rid, requester = op.request_id, op.uid

        def answer(value: Any) -> None:
            if rid is not None:
                self._respond(requester, sw.server_side_emit_response(self.uid, self.nsp.name, rid, value))

        if isinstance(result, Deferred):
            result.addCallback(answer).addErrback(
                lambda f: log.failure("server-side handler for {event!r} failed", f, event=event))
        else:
            answer(result)


def _packable(value: Any) -> bool:
    try:
        redis_wire.pack(value)
    except (TypeError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------
# The factory
# --------------------------------------------------------------------------


class _Feed:
    """One stream read for the namespaces that use it."""

    def __init__(self) -> None:
        self.adapters: dict[str, RedisStreamsAdapter] = {}
        self.reader: StreamReader | None = None

    def dispatch(self, entry: sw.StreamEntry) -> None:
        adapter = self.adapters.get(entry.fields.get("nsp", ""))
        if adapter is not None:
            adapter.on_entry(entry)


class RedisStreamsAdapterFactory:
    """What :func:`redis_streams_adapter` returns: ``factory(nsp) -> RedisStreamsAdapter``.

    Opens two connections when the first namespace needs them (commands and
    pub/sub; the blocking reads) and closes them when the last adapter
    closes.  One reader per stream serves every namespace on it.  Use one
    factory per :class:`~txsocketio.SocketIOServer`.
    """

    def __init__(self, address: RedisAddress, options: StreamsOptions, *,
                 connect: Callable[[Any], Any] | None = None) -> None:
        self.address = address
        self.options = options
        #: ``connect(reactor)`` -> a connection (tests pass an in-memory one)
        self.connect = connect or (lambda reactor: RedisConnection(address, reactor,
                                                                   command_timeout=options.request_timeout))
        self._connection: RedisConnection | None = None
        self._reader_connection: RedisConnection | None = None
        self._feeds: dict[str, _Feed] = {}
        self._users: set[RedisStreamsAdapter] = set()

    def __repr__(self) -> str:
        return f"<redis_streams_adapter {self.address} stream={self.options.stream_name!r}>"

    def __call__(self, nsp: "ServerNamespace") -> Adapter:
        if not nsp.name.startswith("/"):
            return MemoryAdapter(nsp)  # a dynamic parent only fans out to its children
        if self._connection is None or self._reader_connection is None:
            self._connection = self.connect(nsp.reactor)
            self._reader_connection = self.connect(nsp.reactor)
        adapter = RedisStreamsAdapter(nsp, self._connection, self.options, on_close=self._release)
        self._users.add(adapter)
        feed = self._feeds.setdefault(adapter.stream, _Feed())
        feed.adapters[nsp.name] = adapter
        if feed.reader is None:
            feed.reader = StreamReader(self._reader_connection, adapter.stream, feed.dispatch, nsp.reactor,
                                       count=self.options.read_count, block_ms=self.options.block_ms)
            feed.reader.start()
        return adapter

    def _release(self, adapter: RedisStreamsAdapter) -> "Deferred[Any]":
        self._users.discard(adapter)
        feed = self._feeds.get(adapter.stream)
        if feed is not None and feed.adapters.get(adapter.nsp.name) is adapter:
            del feed.adapters[adapter.nsp.name]
            if not feed.adapters:
                if feed.reader is not None:
                    feed.reader.stop()
                del self._feeds[adapter.stream]
        if self._users or self._connection is None:
            return succeed(None)
        connections = [self._connection, self._reader_connection]
        self._connection = self._reader_connection = None
        return gatherResults([c.close() for c in connections if c is not None]).addCallback(lambda _: None)


def redis_streams_adapter(url: str | RedisAddress, **options: Any) -> RedisStreamsAdapterFactory:
    """The adapter factory for ``SocketIOServer(adapter=...)``: ``url`` as for
    :func:`txsocketio.adapters.redis.redis_adapter`, ``options`` those of
    :class:`StreamsOptions` (``stream_name``, ``max_len``...).  Raises
    ``ValueError`` for a bad URL or value, ``TypeError`` for an unknown option."""
    address = url if isinstance(url, RedisAddress) else RedisAddress.parse(url)
    return RedisStreamsAdapterFactory(address, StreamsOptions(**options))
