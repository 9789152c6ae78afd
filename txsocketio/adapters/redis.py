# -*- test-case-name: tests.test_adapters_redis,tests.interop.test_redis_adapter -*-
"""The Redis adapter: one namespace spread over many processes, Node-compatible.

::

    from txsocketio import SocketIOServer
    from txsocketio.adapters.redis import redis_adapter

    sio = SocketIOServer(adapter=redis_adapter("redis://127.0.0.1:6379/0"))

    @sio.on_server_side("reload")          # another server called server_side_emit("reload", ...)
    def reload(what):
        return "done"                      # its answer, when the sender asked for one

Every server of the cluster (txsocketio processes and Node socket.io
servers with ``@socket.io/redis-adapter`` 8.x, classic ``createAdapter``)
subscribes to the same channels; ``@socket.io/redis-emitter`` and
:mod:`txsocketio.emitter` publish into them.  The wire format is
:mod:`txsocketio.adapters.redis_wire`; the connections are a
:class:`~txsocketio.redisconn.RedisConnection` (one per server).

What goes through the cluster (everything else stays local):

* broadcasts (``sio.emit``, ``to(...)``, ``except_(...)``, ``socket.broadcast``),
  published unless ``.local``; the same packet reaches the local clients;
* broadcasts with acknowledgements (``sio.timeout(5).emit_with_ack(...)``):
  every server reports how many clients it asked, then each client's answer;
* ``fetch_sockets()``: the local :class:`~txsocketio.Socket` objects plus a
  :class:`RemoteSocket` for each socket of another server;
* ``sockets_join`` / ``sockets_leave`` / ``disconnect_sockets`` (applied here at
  once, published for the others);
* ``all_rooms()``, ``server_count()`` (``PUBSUB NUMSUB`` of the request
  channel), ``server_side_emit(...)`` with or without answers.

Requests that wait for other servers (``fetch_sockets``, ``all_rooms``,
``server_side_emit(want_ack=True)``) give up after ``request_timeout``
seconds with :class:`~txsocketio.errors.ClusterTimeout`, which keeps what
did arrive (``results``) and says how many of the other servers answered
(``responded`` of ``expected``).

Faults: with Redis unreachable the server keeps serving its own clients (a
warning is logged; broadcasts are delivered locally, the publish gives up
after ``request_timeout``); after Redis restarts the subscriptions are
restored and broadcasts resume.  :meth:`RedisAdapter.close` (called by
``sio.shutdown()``) unsubscribes, and closes the connection when
:func:`redis_adapter` opened it and no other namespace uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.python.failure import Failure

from txsocketio._invoke import invoke
from txsocketio.adapters import redis_wire as wire
from txsocketio.adapters.base import Adapter, BroadcastOptions, Recipient
from txsocketio.adapters.memory import LocalRooms, MemoryAdapter
from txsocketio.adapters.redis_remote import REQUEST_NAMES, AckRequest, PendingRequest, RemoteSocket, describe
from txsocketio.errors import ClusterTimeout, ProtocolError
from txsocketio.logs import Logger
from txsocketio.redisaddress import RedisAddress
from txsocketio.redisconn import RedisConnection, Subscription
from txsocketio.socketio.events import check_event_name
from txsocketio.socketio.packet import Packet

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from txsocketio.socketio.namespaces import ServerNamespace

__all__ = ["RedisAdapter", "RemoteSocket", "redis_adapter"]

log = Logger(namespace="txsocketio.redis")

RequestType = wire.RequestType


# --------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------


class RedisAdapter(LocalRooms):
    """The adapter of one namespace in a Redis cluster (see the module docstring).

    Rooms and local delivery are those of the :class:`MemoryAdapter` it holds
    (:attr:`local`); this class adds the cluster around them.  ``uid`` (6
    random characters, as Node's) tells this adapter's messages apart;
    ``key`` is the channel prefix (Node's ``key`` option); with
    ``publish_on_specific_response_channel`` answers go to the requester's own
    response channel (Node's ``publishOnSpecificResponseChannel``).
    """

    def __init__(self, nsp: "ServerNamespace", connection: RedisConnection, key: str = wire.DEFAULT_KEY,
                 request_timeout: float = 5.0, *, publish_on_specific_response_channel: bool = False,
                 on_close: Callable[["RedisAdapter"], Any] | None = None) -> None:
        self.nsp = nsp
        #: this process's rooms and sockets
        self.local = MemoryAdapter(nsp)
        self.connection = connection
        self.key = key
        self.request_timeout = request_timeout
        self.publish_on_specific_response_channel = publish_on_specific_response_channel
        self.uid = wire.new_uid()
        self.channels = wire.Channels(key, nsp.name)
        self.reactor: "IReactorTime" = nsp.reactor
        self._requests: dict[str, PendingRequest] = {}
        self._ack_requests: dict[str, AckRequest] = {}
        self._subscriptions: list[Subscription] = []
        self._on_close = on_close
        self._closed = False
        self._failed_publishes = 0

    def __repr__(self) -> str:
        return f"<RedisAdapter {self.nsp.name} uid={self.uid} on {self.connection.address}>"

    # -- lifecycle -------------------------------------------------------------------

    def init(self) -> "Deferred[None]":
        """Subscribe to the namespace's channels; fires once Redis confirmed
        them (while Redis is down it waits; it never fails)."""
        if not self._subscriptions and not self._closed:
            conn = self.connection
            c = self.channels
            self._subscriptions = [
                conn.psubscribe(c.broadcast_pattern, self._on_broadcast),
                conn.subscribe(c.request, self._on_request),
                conn.subscribe(c.response, self._on_response),
                conn.subscribe(c.specific_response(self.uid), self._on_response),
            ]
        return self.wait_ready()

    def wait_ready(self) -> "Deferred[None]":
        """Fires once this adapter's subscriptions are confirmed by Redis."""
        return gatherResults([s.ready() for s in self._subscriptions]).addCallback(lambda _: None)

    def close(self) -> "Deferred[None]":
        """Unsubscribe, drop pending requests (they fail with
        :class:`~txsocketio.errors.ClusterTimeout`) and, when the factory opened
        the connection and this was its last user, close it."""
        if self._closed:
            return succeed(None)
        self._closed = True
        for sub in self._subscriptions:
            self.connection.unsubscribe(sub)
        self._subscriptions = []
        acks, self._ack_requests = self._ack_requests, {}
        for request in acks.values():
            if request.timer.active():
                request.timer.cancel()
        for pending in list(self._requests.values()):
            pending.abort(f"the adapter of {self.nsp.name} was closed before the other servers answered")
        if self._on_close is not None:
            result = self._on_close(self)
            if isinstance(result, Deferred):
                return result
        return succeed(None)

    # -- publishing --------------------------------------------------------------------

    def _publish(self, channel: str, payload: bytes, what: str) -> "Deferred[None]":
        """Publish; a failure is logged (this server has done its part) and the
        Deferred fires with None all the same.  One warning per outage: the
        first failure is logged, the next ones counted until a publish works."""
        d = self.connection.publish(channel, payload, timeout=self.request_timeout)
        observer = self.nsp.server.observer

        def sent(_: Any) -> None:
            observer.redis_published()
            if self._failed_publishes:
                log.info("publishing on {nsp} works again; {n} message(s) reached only this server meanwhile",
                         nsp=self.nsp.name, n=self._failed_publishes)
                self._failed_publishes = 0

        def failed(f: Failure) -> None:
            observer.redis_publish_failed()
            if not self._failed_publishes:
                log.warn("{what} on {nsp} reached only this server: {error} (further failures are counted, "
                         "not logged, until Redis is back)", what=what, nsp=self.nsp.name,
                         error=f.getErrorMessage())
            self._failed_publishes += 1

        return d.addCallbacks(sent, failed)

    def _forget_request(self, request_id: str) -> None:
        self._requests.pop(request_id, None)

    def _respond(self, request: wire.Request, payload: bytes) -> None:
        if self.publish_on_specific_response_channel and request.uid:
            channel = self.channels.specific_response(request.uid)
        else:
            channel = self.channels.response
        self._publish(channel, payload, "an answer to another server")

    # -- rooms (this process's: the local adapter's) -------------------------------------

    # Rooms: this process's, in ``self.local`` (see LocalRooms).

    # -- broadcasting ------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        encoded = self.nsp.prepare(packet, opts.flags.compressed)  # TypeError first
        if not opts.flags.local:
            message = wire.encode_broadcast(self.uid, packet, opts)
            self._publish(self.channels.for_broadcast(opts), message, "a broadcast")
        self.local.deliver(encoded, packet, opts)

    def broadcast_with_ack(self, packet: Packet, opts: BroadcastOptions, client_count: Callable[[int], None],
                           ack: Callable[[Any], None]) -> None:
        if opts.flags.local:
            self.local.broadcast_with_ack(packet, opts, client_count, ack)
            return
        request_id = wire.new_uid()
        message = wire.broadcast_request(self.uid, request_id, packet, opts)
        self.local.broadcast_with_ack(packet, opts, client_count, ack)  # TypeError before anything is sent
        seconds = opts.flags.timeout or self.request_timeout
        # As Node: no way to tell when every answer is in, so forget after the timeout.
        timer = self.reactor.callLater(seconds, self._ack_requests.pop, request_id, None)
        self._ack_requests[request_id] = AckRequest(client_count, ack, timer)
        self._request("BROADCAST", message, "a broadcast with acknowledgements")

    # -- cluster-wide operations ------------------------------------------------------------

    def server_count(self) -> "Deferred[int]":
        """``PUBSUB NUMSUB`` of the request channel: the servers of the cluster
        that serve this namespace (fails with RedisUnavailable if Redis does
        not answer within ``request_timeout``)."""
        return self.connection.numsub(self.channels.request, timeout=self.request_timeout)

    def _ask(self, kind: int, build: Callable[[str], bytes], results: Any, timeout: float | None = None,
             ) -> "Deferred[Any]":
        """Ask the other servers; fire with ``results`` merged with their answers."""
        timeout = self.request_timeout if timeout is None else timeout
        name = REQUEST_NAMES[kind]
        observer = self.nsp.server.observer

        def unavailable(f: Failure) -> Failure:
            return Failure(ClusterTimeout(f"{name}: cannot count the servers ({f.getErrorMessage()}); "
                                          "only this server's part is in the results", results, 0, None))

        def counted(servers: int) -> Any:
            others = servers - 1
            if others <= 0:
                return results
            request_id = wire.new_uid()
            pending = PendingRequest(self.nsp, self._forget_request, kind, request_id, others, results, timeout)
            self._requests[request_id] = pending
            observer.redis_request(RequestType(kind).name)
            pending.done.addErrback(self._count_timeout, observer, RequestType(kind).name)
            d = self.connection.publish(self.channels.request, build(request_id), timeout=timeout)
            d.addErrback(lambda f: pending.abort(f"{name}: the request could not be published "
                                                 f"({f.getErrorMessage()})"))
            return pending.done

        return self.server_count().addCallbacks(counted, unavailable)

    def _count_timeout(self, failure: Failure, observer: Any, request_type: str) -> Failure:
        if failure.check(ClusterTimeout) and not self._closed:
            observer.redis_request_timed_out(request_type)
        return failure

    def _request(self, request_type: str, payload: bytes, what: str) -> "Deferred[None]":
        """Publish a request that no answer is awaited for."""
        self.nsp.server.observer.redis_request(request_type)
        return self._publish(self.channels.request, payload, what)

    def fetch_sockets(self, opts: BroadcastOptions) -> "Deferred[list[Any]]":
        local: list[Any] = list(self.local.local_sockets(opts))
        if opts.flags.local:
            return succeed(local)
        return self._ask(RequestType.REMOTE_FETCH,
                         lambda rid: wire.fetch_sockets_request(self.uid, rid, opts), local)

    def all_rooms(self) -> "Deferred[set[str]]":
        return self._ask(RequestType.ALL_ROOMS, lambda rid: wire.all_rooms_request(self.uid, rid),
                         set(self.rooms))

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> "Deferred[None]":
        rooms = list(rooms)
        self.local.add_sockets(opts, rooms)
        if opts.flags.local:
            return succeed(None)
        return self._request("REMOTE_JOIN", wire.remote_join_request(self.uid, opts, rooms), "sockets_join")

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> "Deferred[None]":
        rooms = list(rooms)
        self.local.del_sockets(opts, rooms)
        if opts.flags.local:
            return succeed(None)
        return self._request("REMOTE_LEAVE", wire.remote_leave_request(self.uid, opts, rooms), "sockets_leave")

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> "Deferred[None]":
        self.local.disconnect_sockets(opts, close)
        if opts.flags.local:
            return succeed(None)
        return self._request("REMOTE_DISCONNECT", wire.remote_disconnect_request(self.uid, opts, close),
                             "disconnect_sockets")

    def server_side_emit(self, event: str, args: list[Any], *, timeout: float | None = None,
                         want_ack: bool = False) -> "Deferred[list[Any]]":
        check_event_name(event)
        data = [event, *args]
        wire.dump_json(data)  # TypeError now, not after the servers were counted
        if not want_ack:
            payload = wire.server_side_emit_request(self.uid, data)
            return self._request("SERVER_SIDE_EMIT", payload, "server_side_emit").addCallback(lambda _: [])
        return self._ask(RequestType.SERVER_SIDE_EMIT,
                         lambda rid: wire.server_side_emit_request(self.uid, data, rid), [], timeout)

    # -- receiving -------------------------------------------------------------------------

    def _on_broadcast(self, pattern: str, channel: str, payload: bytes) -> None:
        if self._closed:
            return
        room = self.channels.room_of(channel)
        if room is None or (room and room not in self.rooms):
            return  # another namespace's, or a room with nobody here (Node skips those too)
        try:
            message = wire.decode_broadcast(payload)
        except ProtocolError as e:
            log.warn("ignoring a malformed broadcast on {channel}: {error}", channel=channel, error=e)
            return
        if message.uid == self.uid or message.packet.namespace != self.nsp.name:
            return
        try:
            self.local.broadcast(message.packet, message.opts)
        except (TypeError, ValueError):
            log.failure("cannot deliver a broadcast from another server on {nsp}", nsp=self.nsp.name)

    def _on_request(self, channel: str, payload: bytes) -> None:
        if self._closed:
            return
        try:
            request = wire.decode_request(payload)
        except ProtocolError as e:
            log.warn("ignoring a malformed request on {channel}: {error}", channel=channel, error=e)
            return
        try:
            self._handle_request(request)
        except Exception:
            log.failure("handling a request of type {type} on {nsp} failed", type=request.type,
                        nsp=self.nsp.name)

    def _mine(self, request: wire.Request) -> bool:
        return request.uid == self.uid or (request.request_id is not None and (
            request.request_id in self._requests or request.request_id in self._ack_requests))

    def _handle_request(self, request: wire.Request) -> None:
        kind = request.type
        if self._mine(request):
            return  # our own request: this server did its part already
        rid = request.request_id
        if kind == RequestType.SOCKETS:
            sids = [s.id for s in self.local_sockets(BroadcastOptions(frozenset(request.rooms)))]
            self._respond(request, wire.sockets_response(rid or "", sids))
        elif kind == RequestType.ALL_ROOMS:
            self._respond(request, wire.all_rooms_response(rid or "", list(self.rooms)))
        elif kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE, RequestType.REMOTE_DISCONNECT):
            self._remote_change(request)
        elif kind == RequestType.REMOTE_FETCH:
            assert request.opts is not None and rid is not None
            self._respond(request, self._fetch_response(rid, request.opts))
        elif kind == RequestType.SERVER_SIDE_EMIT:
            self._server_side_event(request)
        elif kind == RequestType.BROADCAST:
            self._broadcast_for(request)
        else:
            log.debug("ignoring a request of unknown type {type}", type=kind)

    def _remote_change(self, request: wire.Request) -> None:
        kind = request.type
        if request.opts is not None:
            opts = BroadcastOptions(request.opts.rooms, request.opts.except_)
            if kind == RequestType.REMOTE_JOIN:
                self.local.add_sockets(opts, request.rooms)
            elif kind == RequestType.REMOTE_LEAVE:
                self.local.del_sockets(opts, request.rooms)
            else:
                self.local.disconnect_sockets(opts, request.close)
            return
        # The single-socket form of older adapters: {sid, room}, answered.
        socket = self.nsp.sockets.get(request.sid or "")
        if socket is None:
            return
        if kind == RequestType.REMOTE_JOIN:
            socket.join(request.room or "")
        elif kind == RequestType.REMOTE_LEAVE:
            socket.leave(request.room or "")
        else:
            socket.disconnect(request.close)
        self._respond(request, wire.dump_json({"requestId": request.request_id}))

    def _fetch_response(self, request_id: str, opts: BroadcastOptions) -> bytes:
        described = [describe(s) for s in self.local_sockets(opts)]
        try:
            return wire.fetch_sockets_response(request_id, described)
        except (TypeError, ValueError):
            for entry in described:
                try:
                    wire.dump_json(entry["data"])
                except (TypeError, ValueError):
                    log.warn("socket {sid}: its data cannot be sent to other servers (not JSON); sending null",
                             sid=entry["id"])
                    entry["data"] = None
            return wire.fetch_sockets_response(request_id, described)

    def _server_side_event(self, request: wire.Request) -> None:
        event, args = request.data[0], list(request.data[1:])
        handler = self.nsp.server_side_handlers.get(event)
        if handler is None:
            log.debug("no server-side handler for {event!r} on {nsp}", event=event, nsp=self.nsp.name)
            return
        rid = request.request_id
        try:
            result = invoke(handler, *args)
        except Exception:
            log.failure("server-side handler for {event!r} on {nsp} failed", event=event, nsp=self.nsp.name)
            return

        def answer(value: Any) -> None:
            if rid is None:
                return
            try:
                payload = wire.server_side_emit_response(rid, value)
            except (TypeError, ValueError):
                log.failure("the answer of the server-side handler for {event!r} is not JSON", event=event)
                return
            # Node answers on the shared response channel, whatever the options.
            self._publish(self.channels.response, payload, "an answer to a server-side emit")

        if isinstance(result, Deferred):
            result.addCallback(answer)
            result.addErrback(lambda f: log.failure("server-side handler for {event!r} on {nsp} failed", f,
                                                    event=event, nsp=self.nsp.name))
        else:
            answer(result)

    def _broadcast_for(self, request: wire.Request) -> None:
        assert request.packet is not None and request.opts is not None and request.request_id is not None
        rid = request.request_id
        packet = Packet(request.packet.type, self.nsp.name, request.packet.data)
        # As Node: the flags stay with the sender.
        opts = BroadcastOptions(request.opts.rooms, request.opts.except_)

        def client_count(count: int) -> None:
            self._respond(request, wire.client_count_response(rid, count))

        def ack(arg: Any) -> None:
            try:
                payload = wire.broadcast_ack_response(rid, arg)
            except (TypeError, ValueError):
                log.failure("cannot forward a client's acknowledgement")
                return
            self._respond(request, payload)

        try:
            self.local.broadcast_with_ack(packet, opts, client_count, ack)
        except (TypeError, ValueError):
            log.failure("cannot deliver a broadcast with acknowledgements from another server on {nsp}",
                        nsp=self.nsp.name)

    def _on_response(self, channel: str, payload: bytes) -> None:
        if self._closed:
            return
        try:
            response = wire.decode_response(payload)
        except ProtocolError as e:
            log.warn("ignoring a malformed response on {channel}: {error}", channel=channel, error=e)
            return
        rid = response.request_id
        ack_request = self._ack_requests.get(rid)
        if ack_request is not None:
            if response.type == RequestType.BROADCAST_CLIENT_COUNT:
                ack_request.client_count(response.client_count or 0)
            elif response.type == RequestType.BROADCAST_ACK:
                ack_request.ack(response.packet)
            return
        pending = self._requests.get(rid)
        if pending is not None:
            pending.receive(response)


# --------------------------------------------------------------------------
# The factory
# --------------------------------------------------------------------------


class RedisAdapterFactory:
    """What :func:`redis_adapter` returns: ``factory(nsp) -> RedisAdapter``.

    With a URL it opens one :class:`~txsocketio.redisconn.RedisConnection`
    when the first namespace needs it and closes it when the last adapter
    closes (a later namespace opens a new one); with a connection it uses
    that one and never closes it.  Use one factory per
    :class:`~txsocketio.SocketIOServer`.
    """

    def __init__(self, url_or_connection: str | RedisAddress | RedisConnection, *, key: str = wire.DEFAULT_KEY,
                 request_timeout: float = 5.0, publish_on_specific_response_channel: bool = False) -> None:
        if isinstance(url_or_connection, RedisConnection):
            self._connection: RedisConnection | None = url_or_connection
            self._address = url_or_connection.address
            self._owned = False
        else:
            self._connection = None
            self._address = (url_or_connection if isinstance(url_or_connection, RedisAddress)
                             else RedisAddress.parse(url_or_connection))
            self._owned = True
        if not isinstance(key, str) or not key:
            raise ValueError("the Redis key prefix is a non-empty str")
        if not (isinstance(request_timeout, (int, float)) and request_timeout > 0):
            raise ValueError(f"request_timeout is a positive number of seconds, not {request_timeout!r}")
        self.key = key
        self.request_timeout = float(request_timeout)
        self.publish_on_specific_response_channel = publish_on_specific_response_channel
        self._users: set[RedisAdapter] = set()

    def __repr__(self) -> str:
        return f"<redis_adapter {self._address} key={self.key!r}>"

    @property
    def connection(self) -> RedisConnection | None:
        """The connection in use (None while no namespace has started)."""
        return self._connection

    def __call__(self, nsp: "ServerNamespace") -> Adapter:
        if not nsp.name.startswith("/"):
            # The parent of dynamic namespaces only fans out to its children,
            # each of which has its own Redis adapter.
            return MemoryAdapter(nsp)
        if self._owned and any(user.nsp.server is not nsp.server for user in self._users):
            raise ValueError("this redis_adapter(...) already serves another SocketIOServer: use one per "
                             "server (the cluster counts servers by their Redis subscriber connections)")
        if self._connection is None:
            self._connection = RedisConnection(self._address, nsp.reactor,
                                               command_timeout=self.request_timeout)
        adapter = RedisAdapter(nsp, self._connection, self.key, self.request_timeout,
                               publish_on_specific_response_channel=self.publish_on_specific_response_channel,
                               on_close=self._release)
        if not self._users:
            self._connection.add_reconnect_listener(self._reconnected)
        self._users.add(adapter)
        return adapter

    def _reconnected(self) -> None:
        # One report per server (the namespaces share the connection).
        for adapter in self._users:
            adapter.nsp.server.observer.redis_reconnected()
            return

    def _release(self, adapter: RedisAdapter) -> "Deferred[None]":
        self._users.discard(adapter)
        if not self._users and self._connection is not None:
            self._connection.remove_reconnect_listener(self._reconnected)
        if self._owned and not self._users and self._connection is not None:
            connection, self._connection = self._connection, None
            return connection.close()
        return succeed(None)


def redis_adapter(url_or_connection: str | RedisAddress | RedisConnection, *, key: str = wire.DEFAULT_KEY,
                  request_timeout: float = 5.0,
                  publish_on_specific_response_channel: bool = False) -> RedisAdapterFactory:
    """The adapter factory for ``SocketIOServer(adapter=...)``.

    ``url_or_connection``: a Redis URL (``redis://``, ``rediss://``,
    ``unix://``; see :mod:`txsocketio.redisconn`) or a
    :class:`~txsocketio.redisconn.RedisConnection` you manage.  ``key``: the
    channel prefix shared with the Node servers and emitters (``socket.io``).
    ``request_timeout``: seconds to wait for the other servers (and for
    Redis).  Raises ``ValueError`` for a bad URL.
    """
    return RedisAdapterFactory(url_or_connection, key=key, request_timeout=request_timeout,
                               publish_on_specific_response_channel=publish_on_specific_response_channel)
