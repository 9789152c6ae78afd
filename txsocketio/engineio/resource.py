# -*- test-case-name: tests.test_engineio_glue -*-
"""The ``twisted.web`` resource of an Engine.IO endpoint: long-polling GET and
POST, the WebSocket upgrade, CORS and the protocol's HTTP error answers."""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING, Any, Sequence

from twisted.internet.defer import maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from txsocketio.engineio.handshake import Handshake
from txsocketio.engineio.packet import (
    Packet,
    decode_jsonp_body,
    decode_payload,
    encode_jsonp,
    encode_payload,
)
from txsocketio.engineio.websocket import NewSession, Refuse, Upgrade, make_factory, take_over
from txsocketio.errors import ProtocolError

if TYPE_CHECKING:
    from twisted.web.server import Request

    from txsocketio.engineio.server import EngineIOServer, EngineIOSocket

__all__ = ["EngineIOResource", "write_payload"]

log = Logger(namespace="txsocketio.engineio")

# Node's error codes and messages.
UNKNOWN_TRANSPORT = (0, "Transport unknown")
UNKNOWN_SID = (1, "Session ID unknown")
BAD_HANDSHAKE_METHOD = (2, "Bad handshake method")
BAD_REQUEST = (3, "Bad request")
FORBIDDEN = (4, "Forbidden")
UNSUPPORTED_PROTOCOL_VERSION = (5, "Unsupported protocol version")


def _arg(request: "Request", name: bytes) -> str | None:
    values = request.args.get(name) if request.args else None
    if not values:
        return None
    return values[0].decode("utf-8", "replace")


def _header(request: "Request", name: bytes) -> str | None:
    value = request.getHeader(name)
    return None if value is None else value.decode("latin-1")


class EngineIOResource(Resource):
    """Serves one :class:`~txsocketio.engineio.server.EngineIOServer`.

    Mount it where clients look for it (``root.putChild(b"engine.io", r)``);
    both ``/engine.io/?…`` and ``/engine.io?…`` reach it.
    """

    isLeaf = True

    def __init__(self, server: "EngineIOServer") -> None:
        super().__init__()
        self._eio = server
        self._ws_factory = make_factory(server)

    def render(self, request: "Request") -> Any:
        server = self._eio
        origin = _header(request, b"origin")
        if not server.cors.allows(origin, _header(request, b"host"), bool(request.isSecure())):
            log.info("refused request from origin {origin!r} (not in cors_allowed_origins)", origin=origin)
            return self._error(request, FORBIDDEN, status=403, cors=False)
        method = request.method
        if method == b"OPTIONS":
            for name, value in server.cors.headers(
                origin, preflight=True,
                preflight_headers=request.getHeader(b"access-control-request-headers"),
            ):
                request.setHeader(name, value)
            request.setResponseCode(204)
            return b""
        transport = _arg(request, b"transport")
        if transport not in server.transports:
            return self._error(request, UNKNOWN_TRANSPORT)
        eio = _arg(request, b"EIO")
        if eio == "4":
            version = 4
        elif eio == "3" and server.allow_eio3:
            version = 3
        else:
            if eio == "3":
                log.info("refused an Engine.IO v3 client (socket.io-client 2.x): allow_eio3 is off")
            return self._error(request, UNSUPPORTED_PROTOCOL_VERSION)
        is_upgrade = (_header(request, b"upgrade") or "").lower() == "websocket"
        sid = _arg(request, b"sid")
        if sid is not None:
            socket = server.sockets.get(sid)
            if socket is None:
                return self._error(request, UNKNOWN_SID)
            if socket.protocol != version:
                return self._error(request, BAD_REQUEST)
            if transport == "websocket":
                if method != b"GET" or not is_upgrade:
                    return self._error(request, BAD_REQUEST)
                if socket.session.can_upgrade():
                    return self._take_over(request, Upgrade(socket))
                return self._take_over(request, Refuse())
            if socket.transport != "polling":
                return self._error(request, BAD_REQUEST)
            if method == b"GET":
                return self._poll(request, socket)
            if method == b"POST":
                return self._post(request, socket)
            return self._error(request, BAD_REQUEST)
        if method != b"GET":
            return self._error(request, BAD_HANDSHAKE_METHOD)
        if transport == "websocket" and not is_upgrade:
            return self._error(request, BAD_REQUEST)
        if server.allow_request is None:
            return self._handshake(request, version, transport)
        d = maybeDeferred(server.allow_request, request)
        d.addCallbacks(self._allowed, self._allow_failed, callbackArgs=(request, version, transport),
                       errbackArgs=(request,))
        d.addErrback(lambda f: log.failure("handshake failed", f))
        return NOT_DONE_YET

    # -- handshake --------------------------------------------------------------

    def _allowed(self, verdict: Any, request: "Request", version: int, transport: str) -> None:
        if request.finished or getattr(request, "_disconnected", False):
            return
        if verdict is None or verdict is True:
            result = self._handshake(request, version, transport)
        else:
            code, message = FORBIDDEN
            if isinstance(verdict, str):
                message = verdict
            elif (isinstance(verdict, tuple) and len(verdict) == 2 and isinstance(verdict[0], int)
                  and isinstance(verdict[1], str)):
                code, message = verdict
            log.info("allow_request refused a handshake: {message}", message=message)
            result = self._error(request, (code, message), status=403)
        if result is not NOT_DONE_YET:
            _finish(request, result)

    def _allow_failed(self, failure: Failure, request: "Request") -> None:
        log.failure("allow_request raised; refusing the handshake", failure)
        if not request.finished and not getattr(request, "_disconnected", False):
            _finish(request, self._error(request, FORBIDDEN, status=403))

    def _handshake(self, request: "Request", version: int, transport: str) -> Any:
        server = self._eio
        handshake = Handshake.from_request(request, now=server.reactor.seconds())
        if transport == "websocket":
            return self._take_over(request, NewSession(version, handshake))
        socket = server.open_session(version, "polling", handshake, b64=_arg(request, b"b64") is not None)
        self._set_cookie(request, socket.sid)
        return self._poll(request, socket)

    def _set_cookie(self, request: "Request", sid: str) -> None:
        header = self._eio.cookie_header(sid)
        if header:
            request.setHeader(b"Set-Cookie", header.encode("latin-1"))

    def _take_over(self, request: "Request", plan: NewSession | Upgrade | Refuse) -> Any:
        result = take_over(self._ws_factory, self._eio, request, plan)
        if result is None:
            return self._error(request, BAD_REQUEST)
        return result

    # -- long-polling -----------------------------------------------------------

    def _poll(self, request: "Request", socket: "EngineIOSocket") -> Any:
        if socket._poll is not None:
            # Two GETs at once: the first is told to close, the second refused.
            log.info("session {sid}: overlapping long-poll; closing", sid=socket.sid)
            socket._transport_lost("transport error")
            return self._error(request, BAD_REQUEST)
        jsonp = _arg(request, b"j") if socket.protocol == 3 else None
        self._cors(request)
        socket._poll = request
        socket._poll_jsonp = jsonp
        socket.session.poll_started(socket._now())
        request.notifyFinish().addErrback(lambda _: socket._poll_lost(request))
        socket._flush()
        socket._after()
        return NOT_DONE_YET

    def _post(self, request: "Request", socket: "EngineIOSocket") -> Any:
        server = self._eio
        content = request.content
        content.seek(0, 2)
        size = content.tell()
        if size > server.max_http_buffer_size:
            log.info("session {sid}: POST of {size} bytes exceeds max_http_buffer_size; closing",
                     sid=socket.sid, size=size)
            socket._transport_lost("transport error")
            # As Node: a bare 413 (no error code fits; code 1 means "Session ID unknown").
            self._cors(request)
            request.setResponseCode(413)
            return b""
        content.seek(0)
        body = content.read()
        try:
            if socket.protocol == 3 and _arg(request, b"j") is not None:
                body = decode_jsonp_body(body)
            packets = decode_payload(body, socket.protocol)
        except ProtocolError as e:
            log.info("session {sid}: undecodable POST ({error}); closing", sid=socket.sid, error=e)
            socket._dispatch(socket.session.protocol_violation())
            socket._after()
            return self._error(request, BAD_REQUEST)
        socket._receive(packets)
        self._cors(request)
        request.setHeader(b"Content-Type", b"text/html")
        return b"ok"

    # -- responses ---------------------------------------------------------------

    def _cors(self, request: "Request") -> None:
        for name, value in self._eio.cors.headers(_header(request, b"origin")):
            request.setHeader(name, value)

    def _error(self, request: "Request", error: tuple[int, str], status: int = 400,
               cors: bool = True) -> bytes:
        code, message = error
        if code != FORBIDDEN[0] or status != 403:
            log.info("{status} {message} for {method} {uri}", status=status, message=message,
                     method=request.method.decode("latin-1"), uri=request.uri.decode("latin-1"))
        if cors:
            self._cors(request)
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()


def _content_encoding(accept_encoding: bytes | None) -> bytes | None:
    """gzip or deflate if the client's Accept-Encoding takes it (q > 0), else None."""
    if not accept_encoding:
        return None
    weights: dict[bytes, float] = {}
    for item in accept_encoding.lower().split(b","):
        name, _, params = item.partition(b";")
        q = 1.0
        for param in params.split(b";"):
            key, _, value = param.partition(b"=")
            if key.strip() == b"q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[name.strip()] = q
    for encoding in (b"gzip", b"deflate"):
        if weights.get(encoding, weights.get(b"*", 0.0)) > 0:
            return encoding
    return None


def _finish(request: "Request", body: bytes) -> None:
    """Answer a request after render() returned: with a length, not chunked."""
    request.setHeader(b"Content-Length", str(len(body)).encode("ascii"))
    request.write(body)
    request.finish()


def write_payload(server: "EngineIOServer", request: "Request", packets: Sequence[Packet],
                  version: int, *, b64: bool = False, jsonp: str | None = None) -> None:
    """Answer a long-poll GET with these packets."""
    if request.finished or getattr(request, "_disconnected", False):
        return
    if jsonp is not None:
        body, content_type = encode_jsonp(packets, jsonp)
    else:
        body, content_type = encode_payload(packets, version, b64=b64)
    request.setHeader(b"Content-Type", content_type.encode("ascii"))
    if server.http_compression and len(body) >= server.compression_threshold:
        encoding = _content_encoding(request.getHeader(b"accept-encoding"))
        if encoding == b"gzip":
            c = zlib.compressobj(6, zlib.DEFLATED, 31)
            body = c.compress(body) + c.flush()
        elif encoding == b"deflate":
            body = zlib.compress(body)
        if encoding is not None:
            request.setHeader(b"Content-Encoding", encoding)
        request.setHeader(b"Vary", b"Accept-Encoding")
    _finish(request, body)
