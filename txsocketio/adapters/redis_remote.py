# -*- test-case-name: tests.test_adapters_redis -*-
"""What the Redis adapter keeps about the other servers: their sockets
(:class:`RemoteSocket`, as ``fetch_sockets()`` returns them) and the requests
waiting for their answers (:class:`PendingRequest`, :class:`AckRequest`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from twisted.internet.defer import Deferred

from txsocketio.adapters import redis_wire as wire
from txsocketio.adapters.base import BroadcastOptions, Recipient
from txsocketio.errors import ClusterTimeout, ProtocolError, SocketDisconnected
from txsocketio.logs import Logger
from txsocketio.socketio.broadcast import BroadcastOperator, ServerOperator
from txsocketio.socketio.events import check_event_name
from txsocketio.socketio.socket import SocketHandshake

if TYPE_CHECKING:
    from txsocketio.socketio.namespaces import ServerNamespace

__all__ = ["RemoteSocket", "PendingRequest", "AckRequest", "REQUEST_NAMES", "describe"]

log = Logger(namespace="txsocketio.redis")

RequestType = wire.RequestType

# --------------------------------------------------------------------------
# Remote sockets
# --------------------------------------------------------------------------


def _handshake(raw: Mapping[str, Any]) -> SocketHandshake:
    def mapping(name: str) -> dict[str, Any]:
        value = raw.get(name)
        return dict(value) if isinstance(value, dict) else {}

    issued = raw.get("issued")
    return SocketHandshake(
        headers=mapping("headers"), query=mapping("query"), address=str(raw.get("address") or ""),
        time=str(raw.get("time") or ""),
        issued=int(issued) if isinstance(issued, (int, float)) and not isinstance(issued, bool) else 0,
        url=str(raw.get("url") or ""), secure=bool(raw.get("secure")), xdomain=bool(raw.get("xdomain")),
        auth=mapping("auth"), environ={},
    )


def describe(socket: Recipient) -> dict[str, Any]:
    """A local socket as a REMOTE_FETCH response carries it (Node's shape)."""
    h = socket.handshake
    return {
        "id": socket.id,
        "handshake": {"headers": dict(h.headers), "time": h.time, "address": h.address, "xdomain": h.xdomain,
                      "secure": h.secure, "issued": h.issued, "url": h.url, "query": dict(h.query),
                      "auth": dict(h.auth) if h.auth is not None else {}},
        "rooms": sorted(socket.rooms),
        "data": socket.data,
    }


class RemoteSocket:
    """A socket connected to another server, as ``fetch_sockets()`` returns it.

    ``id``, ``handshake`` (a :class:`~txsocketio.socketio.socket.SocketHandshake`
    without ``environ``), ``rooms`` and ``data`` are a snapshot taken when the
    other server answered.  The actions go through the cluster, as Node's
    ``RemoteSocket`` does (a broadcast or request aimed at the room named after
    the socket's id), so they work whichever server holds the socket.
    """

    __slots__ = ("nsp", "id", "handshake", "rooms", "data")

    def __init__(self, nsp: "ServerNamespace", details: wire.RemoteSocketDetails) -> None:
        self.nsp = nsp
        self.id = details.id
        self.handshake = _handshake(details.handshake)
        self.rooms: set[str] = set(details.rooms)
        self.data = details.data

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.id} on {self.nsp.name}>"

    @property
    def namespace(self) -> str:
        return self.nsp.name

    def _operator(self) -> ServerOperator:
        return BroadcastOperator(self.nsp.executor, BroadcastOptions(rooms=frozenset([self.id])))

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to this socket, wherever it is connected."""
        self._operator().emit(event, *args)

    def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> "Deferred[list[Any]]":
        """Emit and fire with ``[answer]``: the client's first ack argument (only
        the first one crosses servers, as with Node).  Fails with
        :class:`~txsocketio.errors.AckTimeout` after ``timeout`` seconds
        (default: the adapter's ``request_timeout``), with
        :class:`~txsocketio.errors.SocketDisconnected` when no server has it
        any more."""
        check_event_name(event)
        if timeout is None:
            timeout = getattr(self.nsp.adapter, "request_timeout", 5.0)
        d = self._operator().timeout(timeout).emit_with_ack(event, *args)

        def first(responses: list[Any]) -> list[Any]:
            if not responses:
                raise SocketDisconnected(f"socket {self.id} is no longer connected to any server")
            return responses[:1]

        return d.addCallback(first)

    def join(self, *rooms: str) -> "Deferred[None]":
        return self._operator().sockets_join(*rooms)

    def leave(self, *rooms: str) -> "Deferred[None]":
        return self._operator().sockets_leave(*rooms)

    def disconnect(self, close: bool = False) -> "Deferred[None]":
        return self._operator().disconnect_sockets(close)


# --------------------------------------------------------------------------
# Pending requests
# --------------------------------------------------------------------------

REQUEST_NAMES: dict[int, str] = {RequestType.REMOTE_FETCH: "fetchSockets", RequestType.ALL_ROOMS: "allRooms",
          RequestType.SERVER_SIDE_EMIT: "serverSideEmit"}


class PendingRequest:
    """A request waiting for the other servers' answers."""

    __slots__ = ("nsp", "forget", "kind", "request_id", "expected", "responded", "results", "done", "timer",
                 "timeout")

    def __init__(self, nsp: "ServerNamespace", forget: Callable[[str], Any], kind: int, request_id: str,
                 expected: int, results: Any, timeout: float) -> None:
        self.nsp = nsp
        self.forget = forget
        self.kind = kind
        self.request_id = request_id
        self.expected = expected
        self.responded = 0
        self.results = results
        self.timeout = timeout
        self.done: Deferred[Any] = Deferred(lambda _: self._forget())
        self.timer = nsp.reactor.callLater(timeout, self._timed_out)

    def _forget(self) -> None:
        self.forget(self.request_id)
        if self.timer.active():
            self.timer.cancel()

    def receive(self, response: wire.Response) -> None:
        self.responded += 1
        if self.kind == RequestType.REMOTE_FETCH:
            if response.sockets is not None:
                try:
                    details = response.remote_sockets()
                except ProtocolError as e:
                    log.warn("ignoring a malformed fetchSockets answer: {error}", error=e)
                else:
                    self.results.extend(RemoteSocket(self.nsp, d) for d in details)
        elif self.kind == RequestType.ALL_ROOMS:
            if response.rooms is not None:
                self.results.update(response.rooms)
        else:
            self.results.append(response.data)
        if self.responded >= self.expected:
            self._forget()
            self.done.callback(self.results)

    def _timed_out(self) -> None:
        self.forget(self.request_id)
        name = REQUEST_NAMES.get(self.kind, str(self.kind))
        self.done.errback(ClusterTimeout(
            f"timeout reached while waiting for {name} response: {self.responded} of {self.expected} "
            f"other server(s) answered within {self.timeout} s", self.results, self.responded, self.expected))

    def abort(self, message: str) -> None:
        self._forget()
        if not self.done.called:
            self.done.errback(ClusterTimeout(message, self.results, self.responded, self.expected))


class AckRequest:
    """A broadcast with acknowledgements sent to the other servers."""

    __slots__ = ("client_count", "ack", "timer")

    def __init__(self, client_count: Callable[[int], None], ack: Callable[[Any], None], timer: Any) -> None:
        self.client_count = client_count
        self.ack = ack
        self.timer = timer
