# -*- test-case-name: tests.test_engineio_resource -*-
"""The ``twisted.web`` resource of an Engine.IO endpoint: long-polling GET and
POST, the WebSocket upgrade, CORS and the protocol's HTTP error answers.

It only translates HTTP into calls on the server and its sockets: the rules
live in :mod:`txsocketio.engineio.session`, the transports in
:mod:`~txsocketio.engineio.polling` and :mod:`~txsocketio.engineio.websocket`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import maybeDeferred
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from txsocketio.engineio.handshake import Handshake
from txsocketio.engineio.hooks import apply_headers
from txsocketio.engineio.polling import (
    PollingTransport,
    finish,
    handle_get,
    handle_post,
    request_gone,
)
from txsocketio.engineio.websocket import NewSession, Refuse, Upgrade, make_factory, take_over
from txsocketio.logs import remote_address
from txsocketio.logs import Logger

if TYPE_CHECKING:
    from twisted.web.server import Request

    from txsocketio.engineio.server import EngineIOServer
    from txsocketio.engineio.socket import EngineIOSocket

__all__ = ["EngineIOResource"]

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

    def serves_directly(self, request: Any) -> bool:
        """Whether ``request`` may be answered on the direct path of a
        :class:`~txsocketio.http.SocketIOSite`, when no hook wants to see a
        twisted.web ``Request``: a long-polling request of an open session,
        or a WebSocket request (a new session's only when no ``allow_request``
        is set, which is given the ``Request`` too)."""
        server = self._eio
        if server.hooks.observes_requests:
            return False
        args = request.args
        transport = args.get(b"transport")
        if transport == [b"polling"]:
            return b"sid" in args
        return transport == [b"websocket"] and (b"sid" in args or server.allow_request is None)

    def render(self, request: "Request") -> Any:
        server = self._eio
        origin = _header(request, b"origin")
        if not server.cors.allows(origin, _header(request, b"host"), bool(request.isSecure())):
            log.info("refused request from origin {origin!r} (not in cors_allowed_origins)", origin=origin,
                     remote=remote_address(request.getClientAddress()))
            return self._error(request, FORBIDDEN, status=403, cors=False,
                               context={"name": "CORS", "origin": origin})
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
            return self._error(request, UNKNOWN_TRANSPORT, context={"transport": transport})
        eio = _arg(request, b"EIO")
        if eio == "4":
            version = 4
        elif eio == "3" and server.allow_eio3:
            version = 3
        else:
            if eio == "3":
                server.refuse_eio3()
            return self._error(request, UNSUPPORTED_PROTOCOL_VERSION, context={"protocol": eio})
        is_upgrade = (_header(request, b"upgrade") or "").lower() == "websocket"
        sid = _arg(request, b"sid")
        if sid is not None:
            socket = server.sockets.get(sid)
            if socket is None:
                return self._error(request, UNKNOWN_SID, context={"sid": sid})
            return self._existing(request, socket, version, transport, is_upgrade)
        if method != b"GET":
            return self._error(request, BAD_HANDSHAKE_METHOD,
                               context={"method": method.decode("latin-1")})
        if transport == "websocket" and not is_upgrade:
            return self._error(request, BAD_REQUEST, context={"name": "TRANSPORT_HANDSHAKE_ERROR"})
        if server.allow_request is None:
            return self._handshake(request, version, transport)
        d = maybeDeferred(server.allow_request, request)
        d.addCallbacks(self._allowed, self._allow_failed, callbackArgs=(request, version, transport),
                       errbackArgs=(request,))
        d.addErrback(lambda f: log.failure("handshake failed", f))
        return NOT_DONE_YET

    def _existing(self, request: "Request", socket: "EngineIOSocket", version: int,
                  transport: str, is_upgrade: bool) -> Any:
        """A request on an open session."""
        method = request.method
        if socket.protocol != version:
            return self._error(request, BAD_REQUEST, context={
                "name": "PROTOCOL_MISMATCH", "protocol": version, "previousProtocol": socket.protocol})
        if transport == "websocket":
            if method != b"GET" or not is_upgrade:
                return self._error(request, BAD_REQUEST, context={
                    "name": "TRANSPORT_MISMATCH", "transport": transport, "previousTransport": socket.transport})
            headers = self._hook_headers(request, initial=False)
            if socket.session.can_upgrade():
                return self._take_over(request, Upgrade(socket, headers))
            return self._take_over(request, Refuse(headers))
        carrier = socket.carrier
        if not isinstance(carrier, PollingTransport):
            return self._error(request, BAD_REQUEST, context={
                "name": "TRANSPORT_MISMATCH", "transport": transport, "previousTransport": socket.transport})
        if method == b"GET":
            return self._poll(request, socket, carrier)
        if method == b"POST":
            return self._post(request, socket, carrier)
        return self._error(request, BAD_REQUEST, context={"name": "BAD_METHOD",
                                                          "method": method.decode("latin-1")})

    # -- handshake --------------------------------------------------------------

    def _allowed(self, verdict: Any, request: "Request", version: int, transport: str) -> None:
        if request_gone(request):
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
            log.info("allow_request refused a handshake: {message}", message=message,
                     remote=remote_address(request.getClientAddress()))
            result = self._error(request, (code, message), status=403, context={"message": message})
        if result is not NOT_DONE_YET:
            finish(request, result)

    def _allow_failed(self, failure: Failure, request: "Request") -> None:
        log.failure("allow_request raised; refusing the handshake", failure)
        if not request_gone(request):
            finish(request, self._error(request, FORBIDDEN, status=403,
                                        context={"name": "ALLOW_REQUEST_FAILURE"}))

    def _handshake(self, request: "Request", version: int, transport: str) -> Any:
        server = self._eio
        handshake = Handshake.from_request(request, now=server.reactor.seconds())
        # engine.io-client's forceBase64 asks with b64=1 in the query.
        b64 = _arg(request, b"b64") is not None
        if transport == "websocket":
            headers = self._hook_headers(request, initial=True)
            return self._take_over(request, NewSession(version, handshake, b64, headers))
        carriers: list[PollingTransport] = []

        def carry(socket: "EngineIOSocket") -> PollingTransport:
            carriers.append(PollingTransport(socket, http_compression=server.http_compression,
                                             compression_threshold=server.compression_threshold))
            return carriers[0]

        socket = server.open_session(version, "polling", handshake, carry, b64=b64)
        self._set_cookie(request, socket.sid)
        return self._poll(request, socket, carriers[0], initial=True)

    def _set_cookie(self, request: "Request", sid: str) -> None:
        header = self._eio.cookie_header(sid)
        if header:
            request.setHeader(b"Set-Cookie", header.encode("latin-1"))

    def _take_over(self, request: "Request", plan: NewSession | Upgrade | Refuse) -> Any:
        return take_over(self._ws_factory, self._eio, request, plan)

    # -- long-polling -----------------------------------------------------------

    def _poll(self, request: "Request", socket: "EngineIOSocket", carrier: PollingTransport,
              initial: bool = False) -> Any:
        jsonp = _arg(request, b"j") if socket.protocol == 3 else None
        self._cors(request)
        if self._eio.hooks.adds_headers:
            apply_headers(request, self._hook_headers(request, initial=initial))
        result = handle_get(request, socket, carrier, jsonp)
        if result is None:
            return self._error(request, BAD_REQUEST, context={"name": "OVERLAPPING_POLL"})
        return result

    def _post(self, request: "Request", socket: "EngineIOSocket", carrier: PollingTransport) -> Any:
        jsonp = socket.protocol == 3 and _arg(request, b"j") is not None
        status = handle_post(request, socket, carrier, jsonp)
        if status == 400:
            return self._error(request, BAD_REQUEST, context={"name": "PARSE_ERROR"})
        self._cors(request)
        if self._eio.hooks.adds_headers:
            apply_headers(request, self._hook_headers(request, initial=False))
        if status == 413:
            # As Node: a bare 413 (no error code fits; code 1 means "Session ID unknown").
            request.setResponseCode(413)
            return b""
        request.setHeader(b"Content-Type", b"text/html")
        return b"ok"

    # -- responses ---------------------------------------------------------------

    def _hook_headers(self, request: "Request", *, initial: bool) -> dict[str, str]:
        hooks = self._eio.hooks
        return hooks.headers(request, initial=initial) if hooks.adds_headers else {}

    def _cors(self, request: "Request") -> None:
        for name, value in self._eio.cors.headers(_header(request, b"origin")):
            request.setHeader(name, value)

    def _error(self, request: "Request", error: tuple[int, str], status: int = 400,
               cors: bool = True, context: dict[str, Any] | None = None) -> bytes:
        """Answer with an Engine.IO error; the connection-error hooks are told."""
        code, message = error
        if code != FORBIDDEN[0] or status != 403:
            log.info("{status} {message} for {method} {uri}", status=status, message=message,
                     method=request.method.decode("latin-1"), uri=request.uri.decode("latin-1"),
                     remote=remote_address(request.getClientAddress()), **({"sid": context["sid"]} if context and "sid" in context else {}))
        self._eio.hooks.connection_error(request, code, message, context or {})
        if cors:
            self._cors(request)
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()
