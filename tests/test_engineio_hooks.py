"""In-memory tests of L{txsocketio.engineio.hooks}: Node's C{io.engine} hooks
(C{initial_headers}, C{headers}, C{connection_error}) on polling responses and
on the WebSocket 101, and what a L{SocketIOServer} reports to its observer from
the Engine.IO layer (C{handshake_error}, C{client_upgraded} when the upgrade
completes).  Over the harness of L{tests.engineio_support}."""

from __future__ import annotations

from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from txsocketio import SocketIOServer
from txsocketio.engineio.hooks import ConnectionErrorEvent

from tests.engineio_support import BAD_REQUEST, FORBIDDEN, Harness, open_sid, upgraded
from tests.test_observer import Recorder


def _headers_of(h: Harness) -> list[tuple[str, str, bytes]]:
    """Register recording hooks; returns the list they append (hook, value, uri) to."""
    seen: list[tuple[str, str, bytes]] = []

    def initial(headers: dict[str, str], request: Any) -> None:
        headers["X-Initial"] = "yes"
        seen.append(("initial", dict(headers).get("X-Initial", ""), request.uri))

    def every(headers: dict[str, str], request: Any) -> None:
        headers["X-Every"] = "1"
        seen.append(("every", headers.get("X-Initial", "-"), request.uri))

    h.server.on_initial_headers(initial)
    h.server.on_headers(every)
    return seen


class HeadersPollingTests(SynchronousTestCase):
    """The headers hooks on long-polling responses."""

    def test_handshake_and_later_requests(self):
        """The polling handshake carries the initial headers and the headers
        (the headers hooks see what the initial ones set); later GETs and
        POSTs carry only the headers hooks' headers; the hooks get the request."""
        h = Harness(self)
        seen = _headers_of(h)
        sid, response = h.handshake()
        self.assertEqual((response.header("X-Initial"), response.header("X-Every")), ("yes", "1"))
        self.assertEqual([s[:2] for s in seen], [("initial", "yes"), ("every", "yes")])
        self.assertIn(b"transport=polling", seen[0][2])
        seen.clear()
        post = h.send(sid, b"4hi")
        self.assertEqual((post.code, post.header("X-Initial"), post.header("X-Every")), (200, None, "1"))
        h.socket(sid).send("x")
        get = h.poll(sid).result()
        self.assertEqual((get.text(), get.header("X-Initial"), get.header("X-Every")), ("4x", None, "1"))
        self.assertEqual([s[:2] for s in seen], [("every", "-"), ("every", "-")])
        self.assertTrue(all(sid.encode() in s[2] for s in seen))

    def test_no_hooks_no_headers(self):
        """Without hooks the responses carry none of these headers."""
        h = Harness(self)
        _, response = h.handshake()
        self.assertIsNone(response.header("X-Every"))

    def test_error_answers_get_no_hook_headers(self):
        """An error answer is not a response of a session: no headers hooks."""
        h = Harness(self)
        _headers_of(h)
        response = h.get("EIO=4&transport=nope")
        self.assertIsNone(response.header("X-Every"))

    def test_failing_hook_is_logged(self):
        """A headers hook that raises is logged; the response and the other
        hooks are unaffected."""
        h = Harness(self)
        h.server.on_headers(lambda headers, request: 1 / 0)
        h.server.on_headers(lambda headers, request: headers.update({"X-After": "ok"}))
        _, response = h.handshake()
        self.assertEqual(response.header("X-After"), "ok")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_decorator_form(self):
        """The registration methods return the function (usable as decorators)."""
        h = Harness(self)

        @h.server.on_headers
        def add(headers: dict[str, str], request: Any) -> None:
            headers["X-Dec"] = "d"

        self.assertTrue(callable(add))
        self.assertEqual(h.handshake()[1].header("X-Dec"), "d")


class HeadersWebSocketTests(SynchronousTestCase):
    """The headers hooks on the WebSocket 101."""

    def test_websocket_only_handshake(self):
        """The 101 of a WebSocket-only session carries the initial headers,
        the headers and the session cookie."""
        h = Harness(self, cookie=True)
        seen = _headers_of(h)
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.headers.get("x-initial"), ["yes"])
        self.assertEqual(ws.headers.get("x-every"), ["1"])
        [sid] = h.server.sockets
        self.assertEqual(ws.headers.get("set-cookie"), [f"io={sid}; Path=/; HttpOnly; SameSite=Lax"])
        self.assertEqual([s[:2] for s in seen], [("initial", "yes"), ("every", "yes")])
        self.assertEqual(open_sid(ws.received()[0]), sid)

    def test_upgrade_101(self):
        """The 101 of an upgrade carries the headers hooks' headers, not the
        initial ones (it opens no session)."""
        h = Harness(self)
        sid, _ = h.handshake()
        seen = _headers_of(h)
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.headers.get("x-every"), ["1"])
        self.assertNotIn("x-initial", ws.headers)
        self.assertEqual([s[:2] for s in seen], [("every", "-")])

    def test_refused_duplicate_upgrade_101(self):
        """A duplicate upgrade (101 then closed, as Node) carries the headers too."""
        h = Harness(self)
        sid, _ = upgraded(h)
        _headers_of(h)
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.headers.get("x-every"), ["1"])

    def test_no_hooks_plain_101(self):
        """Without hooks (and cookies) the 101 has only Autobahn's headers."""
        h = Harness(self)
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual(ws.status, 101)
        self.assertNotIn("x-every", ws.headers)
        self.assertNotIn("set-cookie", ws.headers)


class ConnectionErrorTests(SynchronousTestCase):
    """connection_error: every Engine.IO error answer, with Node's context."""

    def setUp(self):
        self.h = Harness(self, cors_allowed_origins=["http://ok.example"],
                         allow_request=lambda request: (request.getHeader(b"x-deny") is None
                                                        or "go away"))
        self.errors: list[ConnectionErrorEvent] = []
        self.h.server.on_connection_error(self.errors.append)

    def error(self) -> tuple[int, str, dict[str, Any]]:
        [e] = self.errors
        self.errors.clear()
        self.assertIsNotNone(e.request.method)
        return e.code, e.message, dict(e.context)

    def test_unknown_transport(self):
        """Code 0, context: the transport asked for."""
        self.h.get("EIO=4&transport=carrier-pigeon")
        self.assertEqual(self.error(), (0, "Transport unknown", {"transport": "carrier-pigeon"}))

    def test_unknown_sid(self):
        """Code 1, context: the sid."""
        self.h.get("EIO=4&transport=polling&sid=nope")
        self.assertEqual(self.error(), (1, "Session ID unknown", {"sid": "nope"}))

    def test_bad_handshake_method(self):
        """Code 2, context: the method."""
        self.h.post("EIO=4&transport=polling", b"4x")
        self.assertEqual(self.error(), (2, "Bad handshake method", {"method": "POST"}))

    def test_bad_requests(self):
        """Code 3 with a named context: a WebSocket handshake without
        Upgrade, polling on an upgraded session, an undecodable POST, an
        overlapping GET."""
        h = self.h
        h.get("EIO=4&transport=websocket")
        self.assertEqual(self.error(), (3, "Bad request", {"name": "TRANSPORT_HANDSHAKE_ERROR"}))
        sid, _ = upgraded(h)
        self.assertEqual(h.poll(sid).result().body, BAD_REQUEST)
        self.assertEqual(self.error(), (3, "Bad request", {
            "name": "TRANSPORT_MISMATCH", "transport": "polling", "previousTransport": "websocket"}))
        sid, _ = h.handshake()
        h.send(sid, b"\xff\xfe not a payload")
        self.assertEqual(self.error(), (3, "Bad request", {"name": "PARSE_ERROR"}))
        sid, _ = h.handshake()
        first = h.poll(sid)
        h.poll(sid).result()
        first.result()
        self.assertEqual(self.error(), (3, "Bad request", {"name": "OVERLAPPING_POLL"}))

    def test_protocol_mismatch(self):
        """Code 3 PROTOCOL_MISMATCH: a v4 session asked for with EIO=3 (allowed)."""
        h = Harness(self, allow_eio3=True)
        errors: list[ConnectionErrorEvent] = []
        h.server.on_connection_error(errors.append)
        sid, _ = h.handshake()
        h.get(f"EIO=3&transport=polling&sid={sid}")
        [e] = errors
        self.assertEqual((e.code, dict(e.context)), (3, {"name": "PROTOCOL_MISMATCH", "protocol": 3,
                                                         "previousProtocol": 4}))

    def test_forbidden(self):
        """Code 4 from allow_request, context: its message; and from CORS."""
        response = self.h.get("EIO=4&transport=polling", headers={"X-Deny": "1"})
        self.assertEqual(response.code, 403)
        self.assertEqual(self.error(), (4, "go away", {"message": "go away"}))
        response = self.h.get("EIO=4&transport=polling", headers={"Origin": "http://evil.example"})
        self.assertEqual((response.code, response.body), (403, FORBIDDEN))
        self.assertEqual(self.error(), (4, "Forbidden", {"name": "CORS", "origin": "http://evil.example"}))

    def test_unsupported_protocol_version(self):
        """Code 5, context: the protocol asked for."""
        self.h.get("EIO=3&transport=polling")
        self.assertEqual(self.error(), (5, "Unsupported protocol version", {"protocol": "3"}))
        self.h.get("transport=polling")
        self.assertEqual(self.error(), (5, "Unsupported protocol version", {"protocol": None}))

    def test_success_is_no_error(self):
        """A handshake, a poll and a post report nothing."""
        sid, _ = self.h.handshake()
        self.h.send(sid, b"4x")
        self.assertEqual(self.errors, [])

    def test_failing_hook_is_logged(self):
        """A connection_error hook that raises is logged; the answer stands."""
        self.h.server.on_connection_error(lambda e: 1 / 0)
        response = self.h.get("EIO=4&transport=polling&sid=nope")
        self.assertEqual(response.code, 400)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)


class ObserverTests(SynchronousTestCase):
    """What a SocketIOServer's observer hears from the Engine.IO layer."""

    def setUp(self):
        self.sio = SocketIOServer(reactor=MemoryReactorClock())
        self.recorder = Recorder()
        self.sio.add_observer(self.recorder)
        self.h = Harness(self, server=self.sio.engine)

    def test_handshake_error(self):
        """Every Engine.IO error answer is reported with its code."""
        self.h.get("EIO=4&transport=nope")
        self.h.get("EIO=4&transport=polling&sid=nope")
        self.h.get("EIO=9&transport=polling")
        self.assertEqual(self.recorder.pop("handshake_error"),
                         [("handshake_error", 0), ("handshake_error", 1), ("handshake_error", 5)])

    def test_client_upgraded_when_it_happens(self):
        """client_upgraded is reported when the client's C{5} arrives, before
        any message; the close then reports the WebSocket transport."""
        sid, ws = upgraded(self.h)
        self.assertEqual(self.recorder.pop("client_opened", "client_upgraded"),
                         [("client_opened", "polling", 4), ("client_upgraded", sid, 4)])
        ws.send_text("1")
        self.assertEqual(self.recorder.pop("client_closed", "client_upgraded"),
                         [("client_closed", "websocket", 4, "transport close")])

    def test_hooks_survive_configure(self):
        """Hooks registered on sio.engine still run after configure()
        replaced the Engine.IO server."""
        seen: list[str] = []
        self.sio.engine.on_headers(lambda headers, request: seen.append("h"))
        self.sio.configure(ping_interval=5)
        h = Harness(self, server=self.sio.engine)
        h.handshake()
        h.get("EIO=4&transport=nope")
        self.assertEqual(seen, ["h"])
        self.assertEqual(self.recorder.pop("handshake_error"), [("handshake_error", 0)])
