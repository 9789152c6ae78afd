# -*- test-case-name: tests.test_metrics -*-
"""Prometheus metrics of a txsocketio server.

    metrics = PrometheusMetrics()            # needs pip install txsocketio[metrics]
    root.putChild(b"metrics", metrics.resource())

The server layers report what happens through the observer seam of
:mod:`txsocketio.observer` (``client_opened``, ``socket_connected``,
``event_received`` …).  By default a server holds its null observer: with
metrics off no counter exists and ``prometheus_client`` is not imported.
:class:`PrometheusMetrics` is an observer on ``prometheus_client`` counters
and gauges; ``sio.metrics_resource()`` registers one and returns its scrape
resource.

Each :class:`PrometheusMetrics` has its own ``CollectorRegistry`` unless one
is given: two servers in one process then never clash ("Duplicated
timeseries"), and each endpoint shows its own server.  Pass
``registry=prometheus_client.REGISTRY`` to put the metrics in the process-wide
registry instead (one server per process), beside whatever else the
application exports there.

Label values come from closed sets (transports, protocol versions, Node's
disconnect reasons, refusal kinds, Engine.IO error codes, Redis request
types); anything else is counted as ``other``, so a label can never grow
without bound.  Namespaces are the exception: they are the application's
(see :meth:`PrometheusMetrics.namespace_removed` for dynamic ones).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Sequence

from twisted.web.resource import Resource

from txsocketio.logs import Logger
from txsocketio.observer import NULL_OBSERVER, NullObserver, ServerObserver

if TYPE_CHECKING:
    from twisted.web.server import Request

__all__ = [
    "ServerObserver", "NullObserver", "NULL_OBSERVER", "PrometheusMetrics", "MetricsResource",
    "metrics_resource", "TRANSPORTS", "PROTOCOLS", "DISCONNECT_REASONS", "REFUSAL_REASONS",
    "HANDSHAKE_ERRORS", "REDIS_REQUEST_TYPES", "OTHER",
]

log = Logger(namespace="txsocketio.metrics")

OTHER: Final = "other"
#: Engine.IO transports.
TRANSPORTS: Final = ("polling", "websocket")
#: Engine.IO protocol versions served (v3: clients 1.x/2.x, v4: 3.x/4.x).
PROTOCOLS: Final = (3, 4)
#: Node's disconnect reasons (socket.io 4.8 ``DisconnectReason``).
DISCONNECT_REASONS: Final = (
    "transport error", "transport close", "forced close", "ping timeout", "parse error",
    "server shutting down", "forced server close", "client namespace disconnect",
    "server namespace disconnect",
)
#: Why a namespace CONNECT was refused: no such namespace; a middleware or
#: connect handler raised ConnectionRefused; one raised anything else
#: (the client sees "Internal server error").
REFUSAL_REASONS: Final = ("invalid_namespace", "refused", "error")
#: Engine.IO handshake/request error codes and their messages.
HANDSHAKE_ERRORS: Final = {
    0: "Transport unknown", 1: "Session ID unknown", 2: "Bad handshake method", 3: "Bad request",
    4: "Forbidden", 5: "Unsupported protocol version",
}
#: The Redis adapter's request types: the names of Node's ``RequestType``
#: (``txsocketio.adapters.redis_wire.RequestType``; a test keeps them equal,
#: spelled out here so that the server layers can import this module without
#: the adapters).
REDIS_REQUEST_TYPES: Final = (
    "SOCKETS", "ALL_ROOMS", "REMOTE_JOIN", "REMOTE_LEAVE", "REMOTE_DISCONNECT", "REMOTE_FETCH",
    "SERVER_SIDE_EMIT", "BROADCAST", "BROADCAST_CLIENT_COUNT", "BROADCAST_ACK",
)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:  # pragma: no cover - depends on the installation
        raise RuntimeError("metrics need prometheus_client: pip install 'txsocketio[metrics]'") from None
    return prometheus_client


class PrometheusMetrics(NullObserver):
    """A server observer (:mod:`txsocketio.observer`) on ``prometheus_client`` metrics.

    ``registry``: where to register (default: a new ``CollectorRegistry`` of
    its own, which also gets the process, platform and GC collectors that
    ``prometheus_client``'s default registry has, unless ``process_metrics``
    is false).  ``prefix`` starts every metric name.
    """

    def __init__(self, registry: Any = None, *, prefix: str = "", process_metrics: bool = True) -> None:
        prom = _prometheus()
        if registry is None:
            registry = prom.CollectorRegistry()
            if process_metrics:
                prom.ProcessCollector(registry=registry)
                prom.PlatformCollector(registry=registry)
                prom.GCCollector(registry=registry)
        self.registry = registry
        Counter, Gauge = prom.Counter, prom.Gauge

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return Counter(prefix + name, doc, labels, registry=registry)

        # Engine.IO
        self.clients = Gauge(prefix + "engineio_clients", "Engine.IO sessions open, by current transport "
                             "and protocol version", ("transport", "protocol"), registry=registry)
        self.handshake_errors = counter("engineio_handshake_errors", "Handshakes and requests refused, by "
                                        "Engine.IO error code", ("code", "message"))
        self.upgrades = counter("engineio_upgrades", "Sessions upgraded from polling to WebSocket")
        # Socket.IO
        self.sockets = Gauge(prefix + "socketio_sockets", "Sockets connected, by namespace", ("namespace",),
                             registry=registry)
        self.connects = counter("socketio_connects", "Namespace connections accepted", ("namespace",))
        self.refusals = counter("socketio_connect_refusals", "Namespace connections refused, by reason",
                                ("reason",))
        self.disconnects = counter("socketio_disconnects", "Socket disconnections, by reason", ("reason",))
        self.events_received = counter("socketio_events_received", "Events received from clients")
        self.events_sent = counter("socketio_events_sent", "Events sent to clients (each broadcast "
                                   "recipient counts)")
        self.bytes_received = counter("socketio_received_bytes", "Encoded size of the events received")
        self.bytes_sent = counter("socketio_sent_bytes", "Encoded size of the events sent (per recipient)")
        self.broadcasts = counter("socketio_broadcasts", "Broadcast emits")
        self.deliveries = counter("socketio_broadcast_deliveries", "Events delivered to local sockets by "
                                  "broadcasts")
        self.acks_sent = counter("socketio_acks_sent", "Acknowledgements sent to clients")
        self.acks_received = counter("socketio_acks_received", "Acknowledgements received from clients")
        self.ack_timeouts = counter("socketio_ack_timeouts", "Acknowledgements the server waited for in vain")
        # Redis adapter
        self.redis_publishes = counter("socketio_redis_publishes", "Redis PUBLISH commands that succeeded")
        self.redis_publish_failures = counter("socketio_redis_publish_failures", "Redis PUBLISH commands "
                                              "that failed")
        self.redis_reconnects = counter("socketio_redis_reconnects", "Redis connections re-established")
        self.redis_requests = counter("socketio_redis_requests", "Cluster requests sent, by type", ("type",))
        self.redis_request_timeouts = counter("socketio_redis_request_timeouts", "Cluster requests that "
                                              "timed out, by type", ("type",))
        self._cache_children()

    def _cache_children(self) -> None:
        # Every series of a closed label set exists from the start (at 0), and
        # the children are looked up once here, not per call.
        self._clients = {(t, v): self.clients.labels(t, str(v)) for t in TRANSPORTS for v in PROTOCOLS}
        self._handshake_errors = {c: self.handshake_errors.labels(str(c), m) for c, m in HANDSHAKE_ERRORS.items()}
        self._handshake_error_other = self.handshake_errors.labels(OTHER, OTHER)
        self._refusals = {r: self.refusals.labels(r) for r in (*REFUSAL_REASONS, OTHER)}
        self._disconnects = {r: self.disconnects.labels(r) for r in (*DISCONNECT_REASONS, OTHER)}
        self._requests = {t: self.redis_requests.labels(t) for t in (*REDIS_REQUEST_TYPES, OTHER)}
        self._request_timeouts = {t: self.redis_request_timeouts.labels(t) for t in (*REDIS_REQUEST_TYPES, OTHER)}
        self._inc_upgrades = self.upgrades.inc
        self._inc_events_received = self.events_received.inc
        self._inc_bytes_received = self.bytes_received.inc
        self._inc_events_sent = self.events_sent.inc
        self._inc_bytes_sent = self.bytes_sent.inc

    def _client(self, transport: str, protocol: int) -> Any:
        child = self._clients.get((transport, protocol))
        if child is None:
            log.warn("metrics: unknown transport/protocol {transport!r}/{protocol!r}", transport=transport,
                     protocol=protocol)
        return child

    # Engine.IO
    def client_opened(self, transport: str, protocol: int) -> None:
        child = self._client(transport, protocol)
        if child is not None:
            child.inc()

    def client_upgraded(self, sid: str, protocol: int) -> None:
        self._inc_upgrades()
        polling, websocket = self._client("polling", protocol), self._client("websocket", protocol)
        if polling is not None and websocket is not None:
            polling.dec()
            websocket.inc()

    def client_closed(self, transport: str, protocol: int, reason: str) -> None:
        child = self._client(transport, protocol)
        if child is not None:
            child.dec()

    def handshake_error(self, code: int) -> None:
        self._handshake_errors.get(code, self._handshake_error_other).inc()

    # Socket.IO
    def socket_connected(self, socket: Any) -> None:
        namespace = socket.namespace
        self.sockets.labels(namespace).inc()
        self.connects.labels(namespace).inc()

    def socket_refused(self, reason: str) -> None:
        self._refusals.get(reason, self._refusals[OTHER]).inc()

    def socket_disconnected(self, socket: Any, reason: str) -> None:
        self.sockets.labels(socket.namespace).dec()
        self._disconnects.get(reason, self._disconnects[OTHER]).inc()

    def namespace_removed(self, namespace: str) -> None:
        for metric in (self.sockets, self.connects):
            try:
                metric.remove(namespace)
            except KeyError:
                pass

    def event_received(self, socket: Any, event: str, args: Sequence[Any], nbytes: int) -> None:
        self._inc_events_received()
        self._inc_bytes_received(nbytes)

    def event_sent(self, socket: Any, event: str, args: Sequence[Any], nbytes: int) -> None:
        # Once per recipient, broadcasts included.
        self._inc_events_sent()
        self._inc_bytes_sent(nbytes)

    def broadcast(self, recipients: int, nbytes: int) -> None:
        self.broadcasts.inc()
        if recipients > 0:
            self.deliveries.inc(recipients)

    def ack_sent(self) -> None:
        self.acks_sent.inc()

    def ack_received(self) -> None:
        self.acks_received.inc()

    def ack_timed_out(self) -> None:
        self.ack_timeouts.inc()

    # Redis adapter
    def redis_published(self) -> None:
        self.redis_publishes.inc()

    def redis_publish_failed(self) -> None:
        self.redis_publish_failures.inc()

    def redis_reconnected(self) -> None:
        self.redis_reconnects.inc()

    def redis_request(self, request_type: str) -> None:
        self._requests.get(request_type, self._requests[OTHER]).inc()

    def redis_request_timed_out(self, request_type: str) -> None:
        self._request_timeouts.get(request_type, self._request_timeouts[OTHER]).inc()

    def resource(self) -> "MetricsResource":
        """A ``twisted.web`` resource serving this registry."""
        return MetricsResource(self.registry)


class MetricsResource(Resource):
    """The Prometheus scrape endpoint of a registry, rendered on the reactor
    thread.

    Same answer as ``prometheus_client``'s own WSGI/Twisted exposition (text
    format 0.0.4, or OpenMetrics when the scraper asks for it in ``Accept``;
    ``name[]`` query parameters restrict the output; gzip when accepted), built
    from its public ``choose_encoder``.  ``prometheus_client.twisted``'s
    ``MetricsResource`` is not used: importing it installs the global reactor,
    and it renders in the reactor's thread pool, both against this project's
    rules (and the render takes well under a millisecond).
    """

    isLeaf = True

    def __init__(self, registry: Any) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: "Request") -> bytes:  # noqa: N802 - twisted.web's name
        import gzip

        from prometheus_client.exposition import choose_encoder

        from txsocketio.staticfiles import accepts_gzip

        encoder, content_type = choose_encoder((request.getHeader(b"accept") or b"").decode("latin-1"))
        registry = self.registry
        # Twisted types ``Request.args`` as None (its class default); it is the query's map.
        args: dict[bytes, list[bytes]] = request.args or {}
        names = args.get(b"name[]")
        if names:
            registry = registry.restricted_registry([n.decode("utf-8", "replace") for n in names])
        body = encoder(registry)
        request.setHeader(b"Content-Type", content_type.encode("ascii"))
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"Vary", b"Accept, Accept-Encoding")
        if accepts_gzip(request.getHeader(b"accept-encoding")):
            body = gzip.compress(body)
            request.setHeader(b"Content-Encoding", b"gzip")
        return body

    render_HEAD = render_GET  # noqa: N815 - twisted.web's name


def metrics_resource(registry: Any) -> MetricsResource:
    """The scrape endpoint of ``registry`` (a ``CollectorRegistry``, e.g.
    ``PrometheusMetrics(...).registry`` or ``prometheus_client.REGISTRY``)."""
    return MetricsResource(registry)
