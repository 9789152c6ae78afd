"""In-memory tests of L{txsocketio.engineio.resource} and L{txsocketio.engineio.polling}:
the handshake, cookies, HTTP errors, allow_request, CORS, long-polling (v4 and v3)
and compression, through treq's in-memory agent (see L{tests.engineio_support})."""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib
from typing import Any

from hypothesis import settings
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers

from tests.engineio_support import (
    BAD_HANDSHAKE_METHOD,
    BAD_REQUEST,
    FORBIDDEN,
    HOST,
    Harness,
    OPEN_RE,
    Response,
    UNKNOWN_SID,
    UNKNOWN_TRANSPORT,
    UNSUPPORTED_VERSION,
    _RawClient,
    error_body,
    open_sid,
)


class HandshakeTests(SynchronousTestCase):
    """Opening a session: the OPEN packet, the sid, the transports on offer."""

    def test_polling_v4_body(self):
        """
        C{GET ?EIO=4&transport=polling} answers 200, C{text/plain;
        charset=UTF-8}, with exactly the OPEN packet (Node's defaults), and
        the application sees the connection.
        """
        h = Harness(self)
        response = h.get("EIO=4&transport=polling")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.header("Content-Type"), "text/plain; charset=UTF-8")
        sid = open_sid(response.text())
        self.assertEqual(
            response.text(),
            '0{"sid":"%s","upgrades":["websocket"],"pingInterval":25000,'
            '"pingTimeout":20000,"maxPayload":1000000}' % sid)
        self.assertEqual(list(h.server.sockets), [sid])
        self.assertEqual(h.events, [("connect", h.socket(sid))])
        self.assertEqual(h.socket(sid).protocol, 4)
        self.assertEqual(h.socket(sid).transport, "polling")

    def test_polling_v3_body(self):
        """
        With allow_eio3, C{EIO=3} gets the same OPEN packet in the v3
        length-prefixed payload format.
        """
        h = Harness(self, allow_eio3=True)
        response = h.get("EIO=3&transport=polling")
        self.assertEqual(response.code, 200)
        text = response.text()
        length, _, packet = text.partition(":")
        sid = open_sid(packet)
        self.assertEqual(
            text,
            '%d:0{"sid":"%s","upgrades":["websocket"],"pingInterval":25000,'
            '"pingTimeout":20000,"maxPayload":1000000}' % (len(packet), sid))
        self.assertEqual(h.socket(sid).protocol, 3)

    def test_trailing_slash_optional(self):
        """Both C{/engine.io/?…} and C{/engine.io?…} reach the endpoint."""
        h = Harness(self)
        response = h.get("EIO=4&transport=polling", path=f"http://{HOST}/engine.io")
        self.assertEqual(response.code, 200)
        open_sid(response.text())

    def test_sid_unguessable(self):
        """
        Session ids are URL-safe, at least 120 bits long (base64url: 6 bits a
        character) and all different.
        """
        h = Harness(self)
        sids = {h.handshake()[0] for _ in range(200)}
        self.assertEqual(len(sids), 200)
        for sid in sids:
            self.assertRegex(sid, r"^[A-Za-z0-9_-]+$")
            self.assertGreaterEqual(len(sid) * 6, 120)
        # Every character position varies: the bits are random, not a counter.
        # (The last character of 128 bits in base64 carries only 2 bits.)
        for position in range(len(next(iter(sids))) - 1):
            self.assertGreater(len({sid[position] for sid in sids}), 10)

    def test_times_in_integer_milliseconds(self):
        """Heartbeat settings of 0.3 s and 0.2 s are advertised as 300 and 200."""
        h = Harness(self, ping_interval=0.3, ping_timeout=0.2, max_http_buffer_size=5000)
        match = OPEN_RE.match(h.get("EIO=4&transport=polling").text())
        self.assertEqual((match.group("interval"), match.group("timeout"), match.group("max")),
                         ("300", "200", "5000"))

    def test_websocket_only(self):
        """
        C{GET ?EIO=4&transport=websocket} with Upgrade answers 101; the first
        text frame is the OPEN packet, with no upgrades on offer.
        """
        h = Harness(self)
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual(ws.status, 101)
        frames = ws.received()
        self.assertEqual(len(frames), 1)
        sid = open_sid(frames[0])
        self.assertEqual(
            frames[0],
            '0{"sid":"%s","upgrades":[],"pingInterval":25000,'
            '"pingTimeout":20000,"maxPayload":1000000}' % sid)
        self.assertEqual(h.socket(sid).transport, "websocket")
        self.assertEqual(h.events, [("connect", h.socket(sid))])

    def test_websocket_base64_client(self):
        """
        A client that asked for base64 (C{b64=1}, engine.io-client's
        C{forceBase64}) gets binary messages as C{b<base64>} text frames, and
        its own C{b<base64>} text frames arrive as binary messages.
        """
        h = Harness(self)
        h.on_message = lambda socket, data: socket.send(data)
        ws = h.websocket("EIO=4&transport=websocket&b64=1")
        [opening] = ws.received()
        ws.send_text("bAQL/")
        self.assertEqual(h.events[-1][2], b"\x01\x02\xff")
        self.assertEqual(ws.received()[-1], "bAQL/")

    def test_websocket_only_v3(self):
        """A v3 WebSocket-only session also starts with the OPEN text frame."""
        h = Harness(self, allow_eio3=True)
        ws = h.websocket("EIO=3&transport=websocket")
        self.assertEqual(ws.status, 101)
        [frame] = ws.received()
        self.assertEqual(h.socket(open_sid(frame)).protocol, 3)

    def test_polling_only_server(self):
        """
        With C{transports=("polling",)} the OPEN packet offers no upgrade and a
        WebSocket request is refused with code 0.
        """
        h = Harness(self, transports=("polling",))
        sid, response = h.handshake()
        self.assertIn('"upgrades":[]', response.text())
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual(ws.status, 400)
        self.assertEqual(ws.body, UNKNOWN_TRANSPORT)
        ws = h.websocket(f"EIO=4&transport=websocket&sid={sid}")
        self.assertEqual(ws.status, 400)
        self.assertEqual(ws.body, UNKNOWN_TRANSPORT)
        self.assertEqual(h.socket(sid).transport, "polling")

    def test_websocket_only_server(self):
        """With C{transports=("websocket",)} polling is refused with code 0."""
        h = Harness(self, transports=("websocket",))
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (400, UNKNOWN_TRANSPORT))
        self.assertEqual(h.websocket("EIO=4&transport=websocket").status, 101)

    def test_allow_upgrades_off(self):
        """With allow_upgrades off, polling sessions offer no upgrade."""
        h = Harness(self, allow_upgrades=False)
        sid, response = h.handshake()
        self.assertIn('"upgrades":[]', response.text())
        self.assertFalse(h.socket(sid).session.can_upgrade())

    def test_handshake_record(self):
        """The socket keeps the opening request: query, headers, address."""
        h = Harness(self)
        sid, _ = h.handshake(extra="&token=abc", headers={"X-Thing": "1"})
        handshake = h.socket(sid).handshake
        self.assertEqual(handshake.query["token"], "abc")
        self.assertEqual(handshake.headers["x-thing"], "1")
        self.assertEqual(handshake.headers["host"], HOST)
        self.assertEqual(handshake.address, "127.0.0.1")
        self.assertFalse(handshake.xdomain)

    def test_handshake_time_from_reactor(self):
        """The handshake's issue time comes from the server's reactor, in milliseconds."""
        h = Harness(self)
        h.clock.advance(1234.5)
        sid, _ = h.handshake()
        self.assertEqual(h.socket(sid).handshake.issued, 1234500)


class CookieTests(SynchronousTestCase):
    """The optional C{io} cookie."""

    def test_off_by_default(self):
        """By default no cookie is set, on polling or WebSocket handshakes."""
        h = Harness(self)
        _, response = h.handshake()
        self.assertIsNone(response.header("Set-Cookie"))
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertNotIn("set-cookie", ws.headers)

    def test_polling_cookie(self):
        """
        With C{cookie=True} the polling handshake sets
        C{io=<sid>; Path=/; HttpOnly; SameSite=Lax}; later polls set none.
        """
        h = Harness(self, cookie=True)
        sid, response = h.handshake()
        self.assertEqual(response.header("Set-Cookie"), f"io={sid}; Path=/; HttpOnly; SameSite=Lax")
        h.send(sid, b"4x")
        self.assertIsNone(h.send(sid, b"4x").header("Set-Cookie"))

    def test_websocket_cookie(self):
        """A WebSocket-only session sets the same cookie on its 101 answer."""
        h = Harness(self, cookie=True)
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual(ws.status, 101)
        sid = open_sid(ws.received()[0])
        self.assertEqual(ws.headers.get("set-cookie"),
                         [f"io={sid}; Path=/; HttpOnly; SameSite=Lax"])

    def test_cookie_name(self):
        """A string names the cookie; a dict overrides the attributes."""
        h = Harness(self, cookie="sess")
        sid, response = h.handshake()
        self.assertEqual(response.header("Set-Cookie"), f"sess={sid}; Path=/; HttpOnly; SameSite=Lax")
        h = Harness(self, cookie={"name": "x", "path": "/app", "httponly": False,
                                  "secure": True, "samesite": "None"})
        sid, response = h.handshake()
        self.assertEqual(response.header("Set-Cookie"), f"x={sid}; Path=/app; Secure; SameSite=None")


class ErrorTests(SynchronousTestCase):
    """Requests the protocol refuses: HTTP 400 with Node's JSON body."""

    def assertError(self, response: Response, body: bytes, code: int = 400) -> None:
        self.assertEqual((response.code, response.body), (code, body))
        self.assertEqual(response.header("Content-Type"), "application/json")

    def test_unknown_transport(self):
        """A missing or unknown transport is code 0, "Transport unknown"."""
        h = Harness(self)
        for query in ("EIO=4", "EIO=4&transport=", "EIO=4&transport=flashsocket",
                      "EIO=4&transport=POLLING"):
            self.assertError(h.get(query), UNKNOWN_TRANSPORT)
        self.assertEqual(h.server.sockets, {})

    def test_bad_version(self):
        """
        A missing, empty, non-numeric or unsupported EIO is code 5,
        "Unsupported protocol version".
        """
        h = Harness(self)
        for query in ("transport=polling", "EIO=&transport=polling", "EIO=four&transport=polling",
                      "EIO=5&transport=polling", "EIO=2&transport=polling", "EIO=04&transport=polling",
                      "EIO=3&transport=polling"):
            self.assertError(h.get(query), UNSUPPORTED_VERSION)
        self.assertEqual(h.server.sockets, {})

    def test_bad_version_with_eio3(self):
        """With allow_eio3 on, a missing or bad EIO is still refused (not taken as v3)."""
        h = Harness(self, allow_eio3=True)
        for query in ("transport=polling", "EIO=&transport=polling", "EIO=x&transport=polling"):
            self.assertError(h.get(query), UNSUPPORTED_VERSION)
        self.assertEqual(h.server.sockets, {})

    def test_bad_version_websocket(self):
        """A WebSocket handshake with a bad EIO is refused with code 5 too."""
        h = Harness(self)
        ws = h.websocket("EIO=3&transport=websocket")
        self.assertEqual((ws.status, ws.body), (400, UNSUPPORTED_VERSION))

    def test_unknown_sid(self):
        """An unknown sid is code 1, "Session ID unknown", for GET, POST and WebSocket."""
        h = Harness(self)
        self.assertError(h.get("EIO=4&transport=polling&sid=nope"), UNKNOWN_SID)
        self.assertError(h.post("EIO=4&transport=polling&sid=nope", b"4x"), UNKNOWN_SID)
        ws = h.websocket("EIO=4&transport=websocket&sid=nope")
        self.assertEqual((ws.status, ws.body), (400, UNKNOWN_SID))

    def test_handshake_method(self):
        """POST, PUT and DELETE without a sid are code 2, "Bad handshake method"."""
        h = Harness(self)
        self.assertError(h.post("EIO=4&transport=polling", b"4x"), BAD_HANDSHAKE_METHOD)
        for method in ("PUT", "DELETE", "PATCH"):
            self.assertError(h.request(method, "EIO=4&transport=polling"), BAD_HANDSHAKE_METHOD)
        self.assertEqual(h.server.sockets, {})

    def test_other_methods_with_sid(self):
        """PUT and DELETE on a session are 400 code 3; the session is unharmed."""
        h = Harness(self)
        sid, _ = h.handshake()
        for method in ("PUT", "DELETE"):
            self.assertError(h.request(method, f"EIO=4&transport=polling&sid={sid}", b"4x"),
                             BAD_REQUEST)
        self.assertEqual(h.send(sid, b"4x").body, b"ok")

    def test_version_mismatch(self):
        """A request on a v4 session that says EIO=3 is a bad request."""
        h = Harness(self, allow_eio3=True)
        sid, _ = h.handshake()
        self.assertError(h.get(f"EIO=3&transport=polling&sid={sid}"), BAD_REQUEST)

    def test_websocket_without_upgrade(self):
        """
        C{transport=websocket} without an Upgrade header is code 3, with or
        without a sid.
        """
        h = Harness(self)
        self.assertError(h.get("EIO=4&transport=websocket"), BAD_REQUEST)
        sid, _ = h.handshake()
        self.assertError(h.get(f"EIO=4&transport=websocket&sid={sid}"), BAD_REQUEST)
        self.assertError(h.post(f"EIO=4&transport=websocket&sid={sid}", b"4x"), BAD_REQUEST)
        self.assertEqual(h.socket(sid).transport, "polling")
        self.assertEqual(list(h.server.sockets), [sid])


class AllowRequestTests(SynchronousTestCase):
    """The C{allow_request} hook: 403 with code 4 on refusal."""

    def test_allowed(self):
        """True or None lets the handshake through; the hook gets the request."""
        for verdict in (True, None):
            seen = []
            h = Harness(self, allow_request=lambda request: seen.append(request) or verdict)
            h.handshake()
            self.assertEqual(len(seen), 1)
            self.assertEqual(seen[0].method, b"GET")

    def test_refused(self):
        """False answers 403 C{{"code":4,"message":"Forbidden"}}; no session."""
        h = Harness(self, allow_request=lambda request: False)
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, FORBIDDEN))
        self.assertEqual(response.header("Content-Type"), "application/json")
        self.assertEqual((h.server.sockets, h.events), ({}, []))

    def test_refused_with_message(self):
        """A string refuses with that message."""
        h = Harness(self, allow_request=lambda request: "no token")
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, error_body(4, "no token")))

    def test_refused_with_code_and_message(self):
        """A (code, message) tuple refuses with that code and message, as Node's hook may."""
        h = Harness(self, allow_request=lambda request: (42, "quota exceeded"))
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, error_body(42, "quota exceeded")))

    def test_deferred(self):
        """
        A Deferred holds the handshake until it fires: True opens the session,
        False answers 403.
        """
        pending: list[Deferred] = []
        h = Harness(self, allow_request=lambda request: pending.append(Deferred()) or pending[-1])
        request = h.start("GET", "EIO=4&transport=polling")
        self.assertFalse(request.done)
        self.assertEqual(h.server.sockets, {})
        pending[0].callback(True)
        self.assertEqual(request.result().code, 200)
        open_sid(request.result().text())
        refused = h.start("GET", "EIO=4&transport=polling")
        pending[1].callback(False)
        self.assertEqual((refused.result().code, refused.result().body), (403, FORBIDDEN))

    def test_coroutine(self):
        """An async hook works like a Deferred."""
        async def allow(request):
            return "go away"
        h = Harness(self, allow_request=allow)
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, error_body(4, "go away")))

    def test_raising(self):
        """A hook that raises (or fails) refuses with 403; the error is logged."""
        def allow(request):
            raise RuntimeError("boom")
        h = Harness(self, allow_request=allow)
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, FORBIDDEN))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        h = Harness(self, allow_request=lambda request: fail(ValueError("late boom")))
        response = h.get("EIO=4&transport=polling")
        self.assertEqual((response.code, response.body), (403, FORBIDDEN))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(h.server.sockets, {})

    def test_client_gone_before_verdict(self):
        """
        If the client leaves while the hook decides, no session is opened
        when it allows.
        """
        pending: list[Deferred] = []
        h = Harness(self, allow_request=lambda request: pending.append(Deferred()) or pending[-1])
        request = h.start("GET", "EIO=4&transport=polling")
        request.abort()
        pending[0].callback(True)
        h.assert_clean()

    def test_websocket(self):
        """The hook guards WebSocket handshakes too: 101 when allowed, 403 when refused."""
        h = Harness(self, allow_request=lambda request: True)
        self.assertEqual(h.websocket("EIO=4&transport=websocket").status, 101)
        h = Harness(self, allow_request=lambda request: "nope")
        ws = h.websocket("EIO=4&transport=websocket")
        self.assertEqual((ws.status, ws.body), (403, error_body(4, "nope")))
        self.assertEqual(h.server.sockets, {})

    def test_websocket_deferred(self):
        """A WebSocket handshake may wait for a Deferred verdict."""
        pending: list[Deferred] = []
        h = Harness(self, allow_request=lambda request: pending.append(Deferred()) or pending[-1])
        # Start the handshake by hand: the 101 only comes after the verdict.
        client = _RawClient()
        server_protocol = h.site.buildProtocol(IPv4Address("TCP", "10.0.0.2", 1))
        sio = iosim.FakeTransport(server_protocol, isServer=True)
        cio = iosim.FakeTransport(client, isServer=False)
        pump = iosim.connect(server_protocol, sio, client, cio, greet=False, clock=h.clock)
        cio.write(b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: example.com\r\n"
                  b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        pump.flush()
        self.assertEqual(client.data, b"")
        pending[0].callback(True)
        pump.flush()
        self.assertTrue(client.data.startswith(b"HTTP/1.1 101 "), client.data)
        self.assertIn(b'0{"sid":', client.data)
        self.assertEqual(len(h.server.sockets), 1)

    def test_not_called_for_existing_sessions(self):
        """The hook runs once, at the handshake, not for the session's later requests."""
        calls = []
        h = Harness(self, allow_request=lambda request: calls.append(request) and False)
        sid, _ = h.handshake()
        h.send(sid, b"4x")
        h.poll(sid)
        self.assertEqual(len(calls), 1)


class CorsTests(SynchronousTestCase):
    """Cross-origin checks and headers."""

    def acao(self, response: Response) -> str | None:
        return response.header("Access-Control-Allow-Origin")

    def test_same_origin_default(self):
        """
        By default a foreign Origin is refused with 403 and no CORS headers;
        the page's own origin and requests without Origin are served.
        """
        h = Harness(self)
        refused = h.get("EIO=4&transport=polling", headers={"Origin": "http://evil.test"})
        self.assertEqual((refused.code, refused.body), (403, FORBIDDEN))
        self.assertIsNone(self.acao(refused))
        self.assertEqual(h.server.sockets, {})
        _, same = h.handshake(headers={"Origin": f"http://{HOST}"})
        self.assertEqual(self.acao(same), f"http://{HOST}")
        _, none = h.handshake()
        self.assertIsNone(self.acao(none))
        other_scheme = h.get("EIO=4&transport=polling", headers={"Origin": f"https://{HOST}"})
        self.assertEqual(other_scheme.code, 403)

    def test_same_origin_websocket(self):
        """The same-origin default refuses a foreign WebSocket handshake too."""
        h = Harness(self)
        ws = h.websocket("EIO=4&transport=websocket", headers={"Origin": "http://evil.test"})
        self.assertEqual((ws.status, ws.body), (403, FORBIDDEN))
        self.assertEqual(h.websocket("EIO=4&transport=websocket",
                                     headers={"Origin": f"http://{HOST}"}).status, 101)

    def test_list(self):
        """
        A list allows exactly its origins, echoed in Access-Control-Allow-Origin
        with C{Vary: Origin}; others get 403.
        """
        h = Harness(self, cors_allowed_origins=["http://a.test", "http://b.test"])
        _, response = h.handshake(headers={"Origin": "http://b.test"})
        self.assertEqual(self.acao(response), "http://b.test")
        self.assertEqual(response.header("Vary"), "Origin")
        self.assertIsNone(response.header("Access-Control-Allow-Credentials"))
        self.assertEqual(h.get("EIO=4&transport=polling",
                               headers={"Origin": "http://c.test"}).code, 403)
        self.assertEqual(h.get("EIO=4&transport=polling",
                               headers={"Origin": f"http://{HOST}"}).code, 403)

    def test_single_string(self):
        """A single string is one allowed origin."""
        h = Harness(self, cors_allowed_origins="http://a.test")
        _, response = h.handshake(headers={"Origin": "http://a.test"})
        self.assertEqual(self.acao(response), "http://a.test")
        self.assertEqual(h.get("EIO=4&transport=polling",
                               headers={"Origin": "http://a.test.evil"}).code, 403)

    def test_any(self):
        """C{"*"} allows every origin with C{Access-Control-Allow-Origin: *}."""
        h = Harness(self, cors_allowed_origins="*")
        _, response = h.handshake(headers={"Origin": "http://anything.test"})
        self.assertEqual(self.acao(response), "*")

    def test_any_with_credentials(self):
        """
        C{"*"} with credentials echoes the origin (browsers refuse C{*} with
        credentials) and adds C{Access-Control-Allow-Credentials: true}.
        """
        h = Harness(self, cors_allowed_origins="*", cors_credentials=True)
        _, response = h.handshake(headers={"Origin": "http://anything.test"})
        self.assertEqual(self.acao(response), "http://anything.test")
        self.assertEqual(response.header("Access-Control-Allow-Credentials"), "true")
        self.assertEqual(response.header("Vary"), "Origin")

    def test_regex(self):
        """A compiled pattern allows origins it matches fully."""
        h = Harness(self, cors_allowed_origins=re.compile(r"https?://[a-z]+\.example\.org"))
        _, response = h.handshake(headers={"Origin": "https://app.example.org"})
        self.assertEqual(self.acao(response), "https://app.example.org")
        self.assertEqual(h.get("EIO=4&transport=polling",
                               headers={"Origin": "https://app.example.org.evil"}).code, 403)

    def test_callable(self):
        """A callable decides per origin."""
        seen = []
        h = Harness(self, cors_allowed_origins=lambda origin: seen.append(origin) or
                    origin.endswith(".good"))
        _, response = h.handshake(headers={"Origin": "http://x.good"})
        self.assertEqual(self.acao(response), "http://x.good")
        self.assertEqual(h.get("EIO=4&transport=polling",
                               headers={"Origin": "http://x.bad"}).code, 403)
        self.assertEqual(seen, ["http://x.good", "http://x.bad"])

    def test_disabled(self):
        """C{[]} turns checks and headers off: every origin is served, no CORS headers."""
        h = Harness(self, cors_allowed_origins=[])
        _, response = h.handshake(headers={"Origin": "http://evil.test"})
        self.assertIsNone(self.acao(response))

    def test_preflight(self):
        """
        OPTIONS answers 204 with the allowed origin, methods, the requested
        headers and a max age.
        """
        h = Harness(self, cors_allowed_origins=["http://a.test"], cors_credentials=True)
        response = h.request("OPTIONS", "EIO=4&transport=polling", headers={
            "Origin": "http://a.test", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-custom"})
        self.assertEqual(response.code, 204)
        self.assertEqual(response.body, b"")
        self.assertEqual(self.acao(response), "http://a.test")
        self.assertEqual(response.header("Access-Control-Allow-Methods"), "GET, POST, OPTIONS")
        self.assertEqual(response.header("Access-Control-Allow-Headers"), "content-type, x-custom")
        self.assertEqual(response.header("Access-Control-Allow-Credentials"), "true")
        self.assertEqual(response.header("Access-Control-Max-Age"), "86400")
        refused = h.request("OPTIONS", "EIO=4&transport=polling", headers={"Origin": "http://b.test"})
        self.assertEqual(refused.code, 403)
        self.assertIsNone(self.acao(refused))

    def test_headers_on_every_answer(self):
        """
        Allowed cross-origin requests get CORS headers on GET, POST and on
        400 error answers alike.
        """
        h = Harness(self, cors_allowed_origins=["http://a.test"])
        origin = {"Origin": "http://a.test"}
        sid, _ = h.handshake(headers=origin)
        self.assertEqual(self.acao(h.send(sid, b"4x", headers=origin)), "http://a.test")
        h.socket(sid).send("y")
        self.assertEqual(self.acao(h.poll(sid, headers=origin).result()), "http://a.test")
        for response in (h.get("EIO=4&transport=bogus", headers=origin),
                         h.get("EIO=9&transport=polling", headers=origin),
                         h.get("EIO=4&transport=polling&sid=nope", headers=origin),
                         h.post("EIO=4&transport=polling", b"x", headers=origin)):
            self.assertEqual(response.code, 400)
            self.assertEqual(self.acao(response), "http://a.test")

    def test_headers_on_403_from_allow_request(self):
        """A 403 from allow_request carries the CORS headers too."""
        h = Harness(self, cors_allowed_origins="*", allow_request=lambda request: False)
        response = h.get("EIO=4&transport=polling", headers={"Origin": "http://a.test"})
        self.assertEqual(response.code, 403)
        self.assertEqual(self.acao(response), "*")

    def test_xdomain(self):
        """The handshake record says whether the request was cross-origin."""
        h = Harness(self, cors_allowed_origins="*")
        sid, _ = h.handshake(headers={"Origin": "http://a.test"})
        self.assertTrue(h.socket(sid).handshake.xdomain)


class PollingTests(SynchronousTestCase):
    """Long-polling v4: GET carries packets to the client, POST from it."""

    def test_post_answer(self):
        """A POST is answered 200, body C{ok}, C{Content-Type: text/html}."""
        h = Harness(self)
        sid, _ = h.handshake()
        response = h.send(sid, b"4hello")
        self.assertEqual((response.code, response.body), (200, b"ok"))
        self.assertEqual(response.header("Content-Type"), "text/html")
        self.assertEqual(h.messages(), ["hello"])

    def test_post_payload(self):
        """
        A v4 POST payload is packets joined with C{\\x1e}; C{b}+base64 is a
        binary message; messages reach the application in order.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        body = "4a\x1e4h\u00e9\u2603\x1eb" + base64.b64encode(b"\x00\x01\xff").decode() + "\x1e4"
        h.send(sid, body.encode("utf-8"), headers={"Content-Type": "text/plain;charset=UTF-8"})
        self.assertEqual(h.messages(), ["a", "h\u00e9\u2603", b"\x00\x01\xff", ""])

    def test_octet_stream_post(self):
        """A POST sent as application/octet-stream is decoded the same way."""
        h = Harness(self)
        sid, _ = h.handshake()
        h.send(sid, b"4x", headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(h.messages(), ["x"])

    def test_get_payload(self):
        """
        A GET returns every queued packet joined with C{\\x1e}, binary as
        C{b}+base64 (no type digit), as C{text/plain; charset=UTF-8}.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        socket = h.socket(sid)
        socket.send("one")
        socket.send(b"\x01\x02")
        socket.send("th\u00e9")
        response = h.poll(sid).result()
        self.assertEqual(response.code, 200)
        self.assertEqual(response.header("Content-Type"), "text/plain; charset=UTF-8")
        self.assertEqual(response.text(), "4one\x1ebAQI=\x1e4th\u00e9")

    def test_long_poll_waits(self):
        """A GET with nothing to send stays pending until a message is sent."""
        h = Harness(self)
        sid, _ = h.handshake()
        request = h.poll(sid)
        self.assertFalse(request.done)
        self.assertTrue(h.socket(sid).writable)
        h.socket(sid).send("late")
        self.assertEqual(request.result().text(), "4late")
        self.assertFalse(h.socket(sid).writable)

    def test_send_many_one_response(self):
        """send_many() queues several messages that leave in one response."""
        h = Harness(self)
        sid, _ = h.handshake()
        request = h.poll(sid)
        h.socket(sid).send_many(["a", b"b", "c"])
        self.assertEqual(request.result().text(), "4a\x1ebYg==\x1e4c")

    def test_echo_from_callback(self):
        """A message sent from on_message goes to the pending GET."""
        h = Harness(self)
        h.on_message = lambda socket, data: socket.send(data)
        sid, _ = h.handshake()
        request = h.poll(sid)
        h.send(sid, b"4ping")
        self.assertEqual(request.result().text(), "4ping")

    def test_undecodable_post(self):
        """
        A POST body that does not decode is answered 400 (code 3) and closes
        the session ("parse error"); later requests get code 1.
        """
        for body in (b"", b"x", b"4ok\x1e9bad", b"b!!!", b"\xff\xfe"):
            h = Harness(self)
            sid, _ = h.handshake()
            response = h.send(sid, body)
            self.assertEqual((response.code, response.body), (400, BAD_REQUEST), body)
            self.assertEqual(h.disconnects(), ["parse error"])
            self.assertEqual(h.messages(), [])
            self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
            h.assert_clean()

    def test_undecodable_post_releases_get(self):
        """A pending GET is answered with CLOSE when a bad POST closes the session."""
        h = Harness(self)
        sid, _ = h.handshake()
        request = h.poll(sid)
        h.send(sid, b"zzz")
        self.assertEqual(request.result().text(), "1")
        h.assert_clean()

    def test_overlapping_get(self):
        """
        A second GET while one is pending: the first is answered C{1}, the
        second 400, and the session is closed.
        """
        h = Harness(self)
        sid, _ = h.handshake()
        first = h.poll(sid)
        second = h.poll(sid).result()
        self.assertEqual((second.code, second.body), (400, BAD_REQUEST))
        self.assertEqual(first.result().text(), "1")
        self.assertEqual(h.disconnects(), ["transport error"])
        self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
        h.assert_clean()

    def test_aborted_get(self):
        """A client that drops its pending GET closes the session ("transport close")."""
        h = Harness(self)
        sid, _ = h.handshake()
        h.poll(sid).abort()
        self.assertEqual(h.disconnects(), ["transport close"])
        self.assertEqual(h.send(sid, b"4x").body, UNKNOWN_SID)
        h.assert_clean()

    def test_client_close_releases_get(self):
        """
        A POST of C{1} while a GET is pending: the GET is answered C{6}, the
        POST C{ok}, and the session is closed ("transport close").
        """
        h = Harness(self)
        sid, _ = h.handshake()
        request = h.poll(sid)
        self.assertEqual(h.send(sid, b"1").body, b"ok")
        self.assertEqual(request.result().text(), "6")
        self.assertEqual(h.disconnects(), ["transport close"])
        self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
        h.assert_clean()

    def test_client_close_after_messages(self):
        """Messages before a C{1} in the same POST are delivered, then the session closes."""
        h = Harness(self)
        sid, _ = h.handshake()
        h.send(sid, b"4a\x1e4b\x1e1\x1e4c")
        self.assertEqual(h.messages(), ["a", "b"])
        self.assertEqual(h.disconnects(), ["transport close"])
        h.assert_clean()

    def test_post_too_large(self):
        """
        A POST larger than max_http_buffer_size is answered 413 (empty body,
        as Node) and closes the session ("transport error"); nothing of it is
        delivered; a pending GET gets C{1}.
        """
        h = Harness(self, max_http_buffer_size=100)
        sid, _ = h.handshake()
        request = h.poll(sid)
        response = h.send(sid, b"4" + b"x" * 100, headers={"Origin": f"http://{HOST}"})
        self.assertEqual((response.code, response.body), (413, b""))
        self.assertEqual(response.header("Access-Control-Allow-Origin"), f"http://{HOST}")
        self.assertEqual(h.disconnects(), ["transport error"])
        self.assertEqual(request.result().text(), "1")
        self.assertEqual(h.messages(), [])
        self.assertEqual(len(h.disconnects()), 1)
        self.assertEqual(h.poll(sid).result().body, UNKNOWN_SID)
        h.assert_clean()

    def test_post_at_limit(self):
        """A POST of exactly max_http_buffer_size bytes is accepted."""
        h = Harness(self, max_http_buffer_size=100)
        sid, _ = h.handshake()
        self.assertEqual(h.send(sid, b"4" + b"x" * 99).body, b"ok")
        self.assertEqual(h.messages(), ["x" * 99])

    def test_on_message_closes_mid_payload(self):
        """
        If on_message closes the socket, the rest of the POST's packets are
        dropped, the POST still answers C{ok}, and the socket is closed once.
        """
        h = Harness(self)
        h.on_message = lambda socket, data: socket.close() if data == "b" else None
        sid, _ = h.handshake()
        request = h.poll(sid)
        self.assertEqual(h.send(sid, b"4a\x1e4b\x1e4c").body, b"ok")
        self.assertEqual(h.messages(), ["a", "b"])
        self.assertEqual(h.disconnects(), ["forced close"])
        self.assertEqual(request.result().text(), "1")
        h.assert_clean()

    def test_on_message_error(self):
        """An exception in on_message is logged; the session goes on."""
        h = Harness(self)
        def boom(socket, data):
            raise ValueError(data)
        h.on_message = boom
        sid, _ = h.handshake()
        self.assertEqual(h.send(sid, b"4a\x1e4b").body, b"ok")
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 2)
        self.assertEqual(h.messages(), ["a", "b"])
        self.assertFalse(h.socket(sid).closed)

    def test_on_connect_sends(self):
        """Messages sent from on_connect follow the OPEN packet in the handshake answer."""
        h = Harness(self)
        h.on_connect = lambda socket: socket.send("welcome")
        response = h.get("EIO=4&transport=polling")
        open_packet, _, rest = response.text().partition("\x1e")
        open_sid(open_packet)
        self.assertEqual(rest, "4welcome")

    def test_on_connect_closes(self):
        """
        A session closed from on_connect answers its handshake with the OPEN
        and CLOSE packets and is gone.
        """
        h = Harness(self)
        h.on_connect = lambda socket: socket.close()
        response = h.get("EIO=4&transport=polling")
        open_packet, _, rest = response.text().partition("\x1e")
        open_sid(open_packet)
        self.assertEqual(rest, "1")
        self.assertEqual(h.disconnects(), ["forced close"])
        h.assert_clean()


class V3PollingTests(SynchronousTestCase):
    """Engine.IO v3 payload formats over long-polling."""

    def setUp(self):
        self.h = Harness(self, allow_eio3=True)

    def test_length_prefixed_get(self):
        """
        v3 GET payloads are C{<len>:<packet>} with lengths in UTF-16 code
        units: C{6:4hello2:4€}, and C{3:4😀} for an astral character.
        """
        h = self.h
        sid, _ = h.handshake(eio=3)
        socket = h.socket(sid)
        socket.send("hello")
        socket.send("\u20ac")
        socket.send("\U0001F600")
        response = h.poll(sid, eio=3).result()
        self.assertEqual(response.header("Content-Type"), "text/plain; charset=UTF-8")
        self.assertEqual(response.text(), "6:4hello2:4\u20ac3:4\U0001F600")

    def test_length_prefixed_post(self):
        """A v3 POST payload is decoded by its UTF-16 lengths."""
        h = self.h
        sid, _ = h.handshake(eio=3)
        self.assertEqual(h.send(sid, "6:4hello2:4\u20ac3:4\U0001F600".encode(), eio=3).body, b"ok")
        self.assertEqual(h.messages(), ["hello", "\u20ac", "\U0001F600"])

    def test_bad_v3_post(self):
        """A v3 POST whose lengths do not match its content closes the session."""
        h = self.h
        sid, _ = h.handshake(eio=3)
        self.assertEqual(h.send(sid, b"9:4hi", eio=3).code, 400)
        self.assertEqual(h.disconnects(), ["parse error"])
        h.assert_clean()

    def test_b64(self):
        """With C{b64=1}, binary messages are C{<len>:b4<base64>} in a text body."""
        h = self.h
        sid, _ = h.handshake(eio=3, extra="&b64=1")
        h.socket(sid).send(b"\x00\x01\xff")
        h.socket(sid).send("t")
        response = h.poll(sid, eio=3, extra="&b64=1").result()
        self.assertEqual(response.header("Content-Type"), "text/plain; charset=UTF-8")
        self.assertEqual(response.text(), "6:b4AAH/2:4t")

    def test_b64_post(self):
        """A v3 client may POST binary as C{b4}+base64."""
        h = self.h
        sid, _ = h.handshake(eio=3, extra="&b64=1")
        h.send(sid, b"6:b4AAH/", eio=3)
        self.assertEqual(h.messages(), [b"\x00\x01\xff"])

    def test_xhr2_binary_body(self):
        """
        Without b64, a payload holding binary is an C{application/octet-stream}
        body: per packet a 0/1 flag, the length's digits as byte values, 0xFF,
        then the packet (text with its type digit, or 4 and the raw bytes).
        """
        h = self.h
        sid, _ = h.handshake(eio=3)
        h.socket(sid).send("hi")
        h.socket(sid).send(b"\x00\x01\xff")
        response = h.poll(sid, eio=3).result()
        self.assertEqual(response.header("Content-Type"), "application/octet-stream")
        self.assertEqual(response.body, b"\x00\x03\xff4hi" + b"\x01\x04\xff\x04\x00\x01\xff")

    def test_text_only_stays_text(self):
        """Without binary messages a v3 XHR2 client still gets a text body."""
        h = self.h
        sid, _ = h.handshake(eio=3)
        h.socket(sid).send("hi")
        response = h.poll(sid, eio=3).result()
        self.assertEqual(response.header("Content-Type"), "text/plain; charset=UTF-8")
        self.assertEqual(response.body, b"3:4hi")

    def test_xhr2_binary_post(self):
        """A v3 binary POST body is decoded."""
        h = self.h
        sid, _ = h.handshake(eio=3)
        h.send(sid, b"\x01\x04\xff\x04\x00\x01\xff\x00\x03\xff4hi", eio=3,
               headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(h.messages(), [b"\x00\x01\xff", "hi"])

    def test_jsonp_handshake_and_get(self):
        """
        With C{j=<n>} the GET answers C{___eio[n]("<payload>");} as JavaScript;
        binary is base64 inside the string.
        """
        h = self.h
        response = h.get("EIO=3&transport=polling&j=4")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.header("Content-Type"), "text/javascript; charset=UTF-8")
        match = re.match(r'^___eio\[4\]\((".*")\);$', response.text())
        self.assertIsNotNone(match, response.text())
        payload = json.loads(match.group(1))
        length, _, packet = payload.partition(":")
        sid = open_sid(packet)
        h.socket(sid).send('say "hi"\n')
        h.socket(sid).send(b"\xff")
        response = h.poll(sid, eio=3, extra="&j=4").result()
        self.assertEqual(response.text(), '___eio[4]("10:4say \\"hi\\"\\n6:b4/w==");')

    def test_jsonp_post(self):
        """
        A JSONP POST comes form-encoded as C{d=<payload>}, with escaped
        newlines restored; it answers C{ok}.
        """
        h = self.h
        response = h.get("EIO=3&transport=polling&j=0")
        sid = open_sid(json.loads(response.text()[len("___eio[0]("):-2]).partition(":")[2])
        body = b"d=" + b"12%3A4line1%5Cnline2"
        response = h.send(sid, body, eio=3, extra="&j=0",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((response.code, response.body), (200, b"ok"))
        self.assertEqual(h.messages(), ["line1\nline2"])

    def test_jsonp_bad_post(self):
        """A JSONP POST without a C{d} field closes the session with 400."""
        h = self.h
        response = h.get("EIO=3&transport=polling&j=0")
        sid = open_sid(json.loads(response.text()[len("___eio[0]("):-2]).partition(":")[2])
        self.assertEqual(h.send(sid, b"x=1", eio=3, extra="&j=0").code, 400)
        self.assertEqual(h.disconnects(), ["parse error"])

    def test_v4_ignores_j_and_b64(self):
        """C{j} and C{b64} mean nothing to a v4 session."""
        h = self.h
        sid, _ = h.handshake(eio=4, extra="&b64=1&j=3")
        h.socket(sid).send(b"\x01")
        self.assertEqual(h.poll(sid, extra="&j=3").result().text(), "bAQ==")


class CompressionTests(SynchronousTestCase):
    """HTTP compression of polling answers."""

    def poll_with(self, size: int, accept: str | None, **options: Any) -> Response:
        h = Harness(self, **options)
        sid, _ = h.handshake()
        h.socket(sid).send("x" * (size - 1))
        headers = {"Accept-Encoding": accept} if accept is not None else {}
        return h.poll(sid, headers=headers).result()

    def test_gzip(self):
        """A body of 1024 bytes or more is gzipped when the client accepts gzip."""
        response = self.poll_with(1024, "gzip, deflate, br")
        self.assertEqual(response.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(response.body), b"4" + b"x" * 1023)
        self.assertEqual(response.length, len(response.body))

    def test_deflate(self):
        """A client accepting only deflate gets deflate."""
        response = self.poll_with(2000, "deflate")
        self.assertEqual(response.header("Content-Encoding"), "deflate")
        self.assertEqual(zlib.decompress(response.body), b"4" + b"x" * 1999)

    def test_below_threshold(self):
        """A body under 1024 bytes is not compressed."""
        response = self.poll_with(1023, "gzip")
        self.assertIsNone(response.header("Content-Encoding"))
        self.assertEqual(response.body, b"4" + b"x" * 1022)

    def test_not_accepted(self):
        """Without Accept-Encoding nothing is compressed."""
        response = self.poll_with(5000, None)
        self.assertIsNone(response.header("Content-Encoding"))
        self.assertEqual(len(response.body), 5000)

    def test_disabled(self):
        """With http_compression off nothing is compressed."""
        response = self.poll_with(5000, "gzip", http_compression=False)
        self.assertIsNone(response.header("Content-Encoding"))

    def test_accept_encoding_weights(self):
        """
        Accept-Encoding is read with its q-values: C{gzip;q=0} is a refusal,
        C{*} stands for gzip, C{identity} asks for nothing; compressible
        answers say C{Vary: Accept-Encoding}.
        """
        for accept, expected in (("gzip;q=0", None), ("gzip;q=0, deflate", "deflate"),
                                 ("GZIP", "gzip"), ("*", "gzip"), ("*;q=0", None),
                                 ("identity", None), ("br", None), ("deflate;q=0.5, gzip;q=0.1", "gzip"),
                                 ("gzip;q=x", None)):
            response = self.poll_with(2000, accept)
            self.assertEqual(response.header("Content-Encoding"), expected, accept)
            self.assertEqual(response.header("Vary"), "Accept-Encoding")

    def test_threshold_option(self):
        """compression_threshold moves the limit."""
        response = self.poll_with(100, "gzip", compression_threshold=100)
        self.assertEqual(response.header("Content-Encoding"), "gzip")


class RefusedEIO3Tests(SynchronousTestCase):
    """A 2.x client when allow_eio3 is off: 400, and one warning per server."""

    def test_warned_once(self):
        """Every EIO=3 request gets the 400; the warning (naming --allow-eio3 and
        allow_eio3=True) is logged once per server, at warning level."""
        from twisted.logger import LogLevel, formatEvent, globalLogPublisher

        logged: list[dict] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        h = Harness(self)
        for _ in range(3):
            self.assertError(h.get("EIO=3&transport=polling"), UNSUPPORTED_VERSION)
        ws = h.websocket("EIO=3&transport=websocket")
        self.assertEqual((ws.status, ws.body), (400, UNSUPPORTED_VERSION))
        warnings = [e for e in logged if e.get("log_level") is LogLevel.warn
                    and e.get("log_namespace") == "txsocketio.engineio"]
        self.assertEqual(len(warnings), 1)
        text = formatEvent(warnings[0])
        for needle in ("2.x", "--allow-eio3", "allow_eio3=True"):
            self.assertIn(needle, text)
        # A second server warns again: once per server, not once per process.
        Harness(self).get("EIO=3&transport=polling")
        self.assertEqual(len([e for e in logged if e.get("log_level") is LogLevel.warn
                              and e.get("log_namespace") == "txsocketio.engineio"]), 2)

    def assertError(self, response, body):
        self.assertEqual((response.code, response.body), (400, body))
