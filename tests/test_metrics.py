"""Prometheus metrics: the observer API, the null observer, the metrics'
values as scraped through the twisted.web resource (in memory)."""

from __future__ import annotations

import gzip
import inspect
from types import SimpleNamespace

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import Site

from txsocketio import metrics as m


def scrape(resource: Resource, path: str = "/metrics", headers: dict[bytes, bytes] | None = None,
           method: str = "GET") -> tuple[int, bytes, Headers]:
    """GET the resource through a real twisted.web Site, in memory."""
    root = Resource()
    root.putChild(b"metrics", resource)
    channel = Site(root, reactor=Clock()).buildProtocol(None)
    transport = StringTransport()
    channel.makeConnection(transport)
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: example.com", b"Connection: close"]
    lines.extend(k + b": " + v for k, v in (headers or {}).items())
    channel.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n")
    channel.connectionLost(Failure(ConnectionDone()))
    head, _, body = transport.value().partition(b"\r\n\r\n")
    status, *rest = head.split(b"\r\n")
    parsed = Headers()
    for line in rest:
        k, _, v = line.partition(b":")
        parsed.addRawHeader(k.strip(), v.strip())
    return int(status.split()[1]), body, parsed


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a text exposition."""
    out = {}
    for family in text_string_to_metric_families(text.decode("utf-8")):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def S(namespace: str) -> SimpleNamespace:
    """A socket as the metrics read it."""
    return SimpleNamespace(namespace=namespace, id="s1")


class ObserverAPITests(unittest.TestCase):
    def hooks(self, cls: type) -> dict[str, inspect.Signature]:
        return {name: inspect.signature(fn) for name, fn in cls.__dict__.items()
                if inspect.isfunction(fn) and not name.startswith("_") and name != "resource"}

    def test_same_methods_everywhere(self) -> None:
        """The metrics' own hooks have the signatures of the observer seam's
        (the others are the null observer's, inherited)."""
        api = self.hooks(m.ServerObserver)
        self.assertGreaterEqual(len(api), 19)
        mine = self.hooks(m.PrometheusMetrics)
        self.assertGreaterEqual(len(mine), 19)
        for name, sig in mine.items():
            self.assertEqual(sig, api[name], name)
        self.assertIsInstance(m.PrometheusMetrics(), m.NullObserver)

    def test_null_observer_does_nothing(self) -> None:
        """Every NullObserver method accepts its arguments and returns None."""
        for name, sig in self.hooks(m.ServerObserver).items():
            args = [1] * (len(sig.parameters) - 1)
            self.assertIsNone(getattr(m.NULL_OBSERVER, name)(*args), name)

    def test_redis_request_types(self) -> None:
        """The request type names are the Redis adapter's RequestType names."""
        from txsocketio.adapters.redis_wire import RequestType

        self.assertEqual(m.REDIS_REQUEST_TYPES, tuple(t.name for t in RequestType))

    def test_light_import(self) -> None:
        """Importing txsocketio.metrics loads neither prometheus_client nor
        the adapters (metrics off costs nothing; no import cycle with the
        server layers)."""
        import subprocess
        import sys

        code = ("import sys, txsocketio.metrics; print(sorted(m for m in sys.modules if m.startswith("
                "('prometheus_client', 'txsocketio.adapters'))))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        self.assertEqual(out.stdout.strip(), "[]")

    def test_null_observer_module_is_light(self) -> None:
        """The null observer holds no state (no per-instance dict to fill)."""
        self.assertEqual(vars(m.NULL_OBSERVER), {})


class PrometheusMetricsTests(unittest.TestCase):
    def setUp(self) -> None:
        self.metrics = m.PrometheusMetrics()
        self.resource = self.metrics.resource()

    def values(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        code, body, headers = scrape(self.resource)
        self.assertEqual(code, 200)
        return samples(body)

    def test_initial_series(self) -> None:
        """Before anything happens, every closed-set series is there at 0:
        clients per transport and protocol, every Engine.IO error code,
        Node's disconnect reasons, refusal kinds, Redis request types."""
        v = self.values()
        for t in ("polling", "websocket"):
            for p in ("3", "4"):
                self.assertEqual(v[("engineio_clients", (("protocol", p), ("transport", t)))], 0)
        self.assertEqual(v[("engineio_handshake_errors_total", (("code", "5"),
                                                                ("message", "Unsupported protocol version")))], 0)
        self.assertEqual(v[("socketio_disconnects_total", (("reason", "ping timeout"),))], 0)
        self.assertEqual(v[("socketio_connect_refusals_total", (("reason", "invalid_namespace"),))], 0)
        self.assertEqual(v[("socketio_redis_requests_total", (("type", "REMOTE_FETCH"),))], 0)
        self.assertIn(("process_cpu_seconds_total", ()), v)

    def test_a_session_story(self) -> None:
        """Three clients, one upgrade, events, a broadcast, acks, refusals,
        errors and Redis traffic: the scrape shows exactly what happened."""
        o = self.metrics
        o.client_opened("polling", 4)
        o.client_opened("polling", 4)
        o.client_opened("websocket", 3)
        o.client_upgraded("sid", 4)
        o.handshake_error(1)
        o.handshake_error(1)
        o.handshake_error(99)
        o.socket_connected(S("/"))
        o.socket_connected(S("/"))
        o.socket_connected(S("/chat"))
        o.socket_refused("invalid_namespace")
        o.socket_refused("something new")
        o.event_received(S("/"), "e", [], 10)
        o.event_received(S("/"), "e", [], 5)
        o.event_sent(S("/"), "e", [], 7)
        for _ in range(3):
            o.event_sent(S("/"), "e", [], 20)
        o.broadcast(3, 20)
        o.broadcast(0, 20)
        o.ack_sent()
        o.ack_received()
        o.ack_timed_out()
        o.ack_timed_out()
        o.socket_disconnected(S("/"), "transport close")
        o.socket_disconnected(S("/chat"), "made up")
        o.client_closed("websocket", 4, "transport close")
        o.redis_published()
        o.redis_publish_failed()
        o.redis_reconnected()
        o.redis_request("REMOTE_FETCH")
        o.redis_request_timed_out("REMOTE_FETCH")
        o.redis_request("BOGUS")
        v = self.values()
        expect = {
            ("engineio_clients", (("protocol", "4"), ("transport", "polling"))): 1,
            ("engineio_clients", (("protocol", "4"), ("transport", "websocket"))): 0,
            ("engineio_clients", (("protocol", "3"), ("transport", "websocket"))): 1,
            ("engineio_upgrades_total", ()): 1,
            ("engineio_handshake_errors_total", (("code", "1"), ("message", "Session ID unknown"))): 2,
            ("engineio_handshake_errors_total", (("code", "other"), ("message", "other"))): 1,
            ("socketio_sockets", (("namespace", "/"),)): 1,
            ("socketio_sockets", (("namespace", "/chat"),)): 0,
            ("socketio_connects_total", (("namespace", "/"),)): 2,
            ("socketio_connects_total", (("namespace", "/chat"),)): 1,
            ("socketio_connect_refusals_total", (("reason", "invalid_namespace"),)): 1,
            ("socketio_connect_refusals_total", (("reason", "other"),)): 1,
            ("socketio_disconnects_total", (("reason", "transport close"),)): 1,
            ("socketio_disconnects_total", (("reason", "other"),)): 1,
            ("socketio_events_received_total", ()): 2,
            ("socketio_received_bytes_total", ()): 15,
            ("socketio_events_sent_total", ()): 4,
            ("socketio_sent_bytes_total", ()): 67,
            ("socketio_broadcasts_total", ()): 2,
            ("socketio_broadcast_deliveries_total", ()): 3,
            ("socketio_acks_sent_total", ()): 1,
            ("socketio_acks_received_total", ()): 1,
            ("socketio_ack_timeouts_total", ()): 2,
            ("socketio_redis_publishes_total", ()): 1,
            ("socketio_redis_publish_failures_total", ()): 1,
            ("socketio_redis_reconnects_total", ()): 1,
            ("socketio_redis_requests_total", (("type", "REMOTE_FETCH"),)): 1,
            ("socketio_redis_requests_total", (("type", "other"),)): 1,
            ("socketio_redis_request_timeouts_total", (("type", "REMOTE_FETCH"),)): 1,
        }
        for key, value in expect.items():
            self.assertEqual(v[key], value, key)

    def test_unknown_transport_ignored(self) -> None:
        """An unknown transport or protocol changes no gauge (and is logged)."""
        self.metrics.client_opened("carrier-pigeon", 4)
        self.metrics.client_closed("websocket", 9, "transport close")
        v = self.values()
        self.assertEqual(sum(val for (name, _), val in v.items() if name == "engineio_clients"), 0)
        self.assertNotIn("carrier-pigeon", str(v))

    def test_namespace_removed(self) -> None:
        """A removed namespace's series disappear; removing an unknown one is fine."""
        self.metrics.socket_connected(S("/dyn-1"))
        self.metrics.socket_disconnected(S("/dyn-1"), "transport close")
        self.metrics.namespace_removed("/dyn-1")
        self.metrics.namespace_removed("/never")
        self.assertNotIn("/dyn-1", str(self.values()))

    def test_two_servers_one_process(self) -> None:
        """Two PrometheusMetrics in one process each have their own registry
        and numbers (no duplicated-timeseries error)."""
        other = m.PrometheusMetrics()
        other.socket_connected(S("/"))
        self.assertEqual(samples(scrape(other.resource())[1])[("socketio_sockets", (("namespace", "/"),))], 1)
        self.assertNotIn(("socketio_sockets", (("namespace", "/"),)), self.values())

    def test_given_registry_and_prefix(self) -> None:
        """A given registry gets only our metrics (no process collectors),
        prefixed when asked; the global REGISTRY is untouched."""
        registry = CollectorRegistry()
        mine = m.PrometheusMetrics(registry, prefix="app_")
        mine.ack_sent()
        v = samples(scrape(m.metrics_resource(registry))[1])
        self.assertEqual(v[("app_socketio_acks_sent_total", ())], 1)
        self.assertFalse(any(name.startswith("process_") for name, _ in v))
        self.assertIsNone(REGISTRY.get_sample_value("socketio_acks_sent_total"))


class ResourceTests(unittest.TestCase):
    def setUp(self) -> None:
        self.metrics = m.PrometheusMetrics(CollectorRegistry())
        self.metrics.event_received(S("/"), "e", [], 3)

    def test_text_format(self) -> None:
        """The default answer is Prometheus text 0.0.4, not cached."""
        code, body, headers = scrape(self.metrics.resource())
        self.assertEqual(code, 200)
        [ctype] = headers.getRawHeaders(b"content-type")
        self.assertTrue(ctype.startswith(b"text/plain; version=0.0.4"), ctype)
        self.assertEqual(headers.getRawHeaders(b"cache-control"), [b"no-store"])
        self.assertIn(b"socketio_events_received_total 1.0\n", body)

    def test_openmetrics(self) -> None:
        """A scraper asking for OpenMetrics gets it (with its # EOF)."""
        code, body, headers = scrape(self.metrics.resource(),
                                     headers={b"Accept": b"application/openmetrics-text; version=1.0.0"})
        self.assertEqual(code, 200)
        self.assertTrue(headers.getRawHeaders(b"content-type")[0].startswith(b"application/openmetrics-text"))
        self.assertTrue(body.endswith(b"# EOF\n"))

    def test_name_filter(self) -> None:
        """name[] restricts the output to those metrics."""
        _, body, _ = scrape(self.metrics.resource(),
                            "/metrics?name[]=socketio_events_received_total".replace("[]", "%5B%5D"))
        names = {name for name, _ in samples(body)}
        self.assertEqual(names, {"socketio_events_received_total"})

    def test_gzip(self) -> None:
        """With Accept-Encoding: gzip the body is gzipped."""
        _, body, headers = scrape(self.metrics.resource(), headers={b"Accept-Encoding": b"gzip"})
        self.assertEqual(headers.getRawHeaders(b"content-encoding"), [b"gzip"])
        self.assertIn(b"socketio_events_received_total 1.0", gzip.decompress(body))

    def test_post_refused(self) -> None:
        """Only GET and HEAD are answered."""
        self.assertEqual(scrape(self.metrics.resource(), method="POST")[0], 405)
