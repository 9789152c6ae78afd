# -*- test-case-name: tests.test_engineio_server -*-
"""The Engine.IO server: options, the sessions table, handing sessions to the
application, and shutdown.

Each session is an :class:`~txsocketio.engineio.socket.EngineIOSocket`; HTTP
dispatch lives in :mod:`txsocketio.engineio.resource`, the transports in
:mod:`~txsocketio.engineio.polling` and :mod:`~txsocketio.engineio.websocket`;
the protocol rules themselves are in the pure
:mod:`txsocketio.engineio.session` and :mod:`txsocketio.engineio.packet`.
See ``docs/development/architecture-engineio.md``.
"""

from __future__ import annotations

import secrets
from typing import Any, Callable, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from txsocketio.engineio.cors import AllowedOrigins, CorsPolicy
from txsocketio.engineio.handshake import Handshake
from txsocketio.engineio.hooks import ConnectionErrorHook, EngineHooks, HeadersHook
from txsocketio.engineio.message import OutgoingMessage
from txsocketio.engineio.session import Session, SessionConfig
from txsocketio.engineio.socket import EngineIOSocket
from txsocketio.engineio.transport import Transport
from txsocketio.logs import Logger

__all__ = ["EngineIOServer", "EngineIOSocket", "OutgoingMessage", "TRANSPORTS"]

TRANSPORTS = ("polling", "websocket")

log = Logger(namespace="txsocketio.engineio")


def _new_sid() -> str:
    # 128 random bits, URL-safe, 22 characters.
    return secrets.token_urlsafe(16)


class EngineIOServer:
    """Engine.IO sessions over long-polling and WebSocket.

    Times are in seconds (floats allowed); the handshake advertises them in
    integer milliseconds.  Callbacks: ``on_connect(socket)``,
    ``on_message(socket, data)`` (``str`` or ``bytes``),
    ``on_disconnect(socket, reason)``, ``on_upgrade(socket)`` (the session
    has just moved to WebSocket).  ``on_hooks``: the
    :class:`~txsocketio.engineio.hooks.EngineHooks` to use (a server that
    replaces its Engine.IO server keeps its hooks that way); see
    :meth:`on_headers`, :meth:`on_initial_headers`, :meth:`on_connection_error`.  Mount :meth:`resource` in a
    ``twisted.web`` tree.

    ``max_buffered_bytes`` (10 MB) caps what one client may have queued and
    not yet read: past it the client must catch up within
    ``buffer_drain_timeout`` seconds (5), and may never fall ten times as far
    behind; otherwise it is disconnected (``"transport error"``).
    """

    #: seconds a polling client without a pending GET has, in a shutdown, to fetch its goodbye
    POLL_GOODBYE_GRACE = 0.5

    def __init__(
        self,
        reactor: IReactorTime,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        upgrade_timeout: float = 10.0,
        max_http_buffer_size: int = 1_000_000,
        max_buffered_bytes: int = 10_000_000,
        buffer_drain_timeout: float = 5.0,
        transports: Sequence[str] = TRANSPORTS,
        allow_upgrades: bool = True,
        allow_eio3: bool = False,
        cookie: bool | str | dict[str, Any] | None = None,
        cors_allowed_origins: AllowedOrigins = None,
        cors_credentials: bool = False,
        allow_request: Callable[[Any], Any] | None = None,
        http_compression: bool = True,
        compression_threshold: int = 1024,
        per_message_deflate: bool = False,
        on_connect: Callable[[EngineIOSocket], Any] | None = None,
        on_message: Callable[[EngineIOSocket, str | bytes], Any] | None = None,
        on_disconnect: Callable[[EngineIOSocket, str], Any] | None = None,
        on_upgrade: Callable[[EngineIOSocket], Any] | None = None,
        on_hooks: EngineHooks | None = None,
    ) -> None:
        self.reactor: Any = reactor
        transports = tuple(transports)
        unknown = [t for t in transports if t not in TRANSPORTS]
        if unknown or not transports:
            raise ValueError(f"transports must be a non-empty subset of {TRANSPORTS}, not {transports!r}")
        self.config = _session_config(ping_interval, ping_timeout, upgrade_timeout, max_http_buffer_size,
                                      max_buffered_bytes, buffer_drain_timeout)
        self.transports = transports
        self.allow_upgrades = allow_upgrades
        self.allow_eio3 = allow_eio3
        self.cookie = _cookie_settings(cookie)
        self.cors = CorsPolicy(cors_allowed_origins, cors_credentials)
        self.allow_request = allow_request
        self.http_compression = http_compression
        self.compression_threshold = compression_threshold
        self.per_message_deflate = per_message_deflate
        self.on_connect = on_connect
        self.on_message = on_message
        self.on_disconnect = on_disconnect
        self.on_upgrade = on_upgrade
        #: the Engine.IO hooks (headers, connection errors): txsocketio.engineio.hooks
        self.hooks = on_hooks if on_hooks is not None else EngineHooks()
        #: sid -> socket, for every session not yet closed
        self.sockets: dict[str, EngineIOSocket] = {}
        # Closed sessions whose WebSocket is still saying goodbye.
        self._closing: set[EngineIOSocket] = set()
        self._idle_waiters: list[Deferred[None]] = []
        self._eio3_warned = False

    @property
    def max_http_buffer_size(self) -> int:
        return self.config.max_payload

    @property
    def max_buffered_bytes(self) -> int:
        return self.config.max_buffered_bytes

    def resource(self) -> Any:
        """A ``twisted.web`` resource serving this server (polling and WebSocket)."""
        from txsocketio.engineio.resource import EngineIOResource

        return EngineIOResource(self)

    def prepare(self, data: str | bytes) -> OutgoingMessage:
        """Encode a message once for sending to many sockets."""
        return OutgoingMessage(data)

    def close_all(self, reason: str = "server shutting down", *, linger: float | None = None) -> None:
        """Close every session (each client is sent a CLOSE packet)."""
        for socket in list(self.sockets.values()):
            socket.close(reason, linger=linger)

    def shutdown(self, timeout: float = 10.0, reason: str = "server shutting down") -> "Deferred[None]":
        """Say goodbye to every client; fires (never fails) when every session is gone.

        Queued packets and the CLOSE packet are written; WebSocket clients
        then get a close frame (1000) and the connection ends when they answer
        it; a pending long-poll is answered at once.  A polling client with no
        GET pending gets up to :attr:`POLL_GOODBYE_GRACE` seconds to fetch its
        goodbye.  Whatever is still open after ``timeout`` seconds is dropped.
        """
        self.close_all(reason, linger=min(timeout, self.POLL_GOODBYE_GRACE))
        done: Deferred[None] = Deferred()
        if not self.sockets and not self._closing:
            done.callback(None)
            return done
        self._idle_waiters.append(done)
        timer = self.reactor.callLater(timeout, self._shutdown_timed_out)
        done.addBoth(lambda r: (timer.cancel() if timer.active() else None, r)[1])
        return done

    def _shutdown_timed_out(self) -> None:
        left = len(self.sockets) + len(self._closing)
        log.warn("shutdown timed out: dropping {n} Engine.IO session(s)", n=left)
        for socket in [*self.sockets.values(), *self._closing]:
            socket.abort()
        self._fire_idle()

    # -- hooks (Node's io.engine events) --------------------------------------------

    def on_initial_headers(self, fn: HeadersHook) -> HeadersHook:
        """``fn(headers, request)`` adds headers to each handshake response
        (the polling 200, the 101 of a WebSocket-only session)."""
        return self.hooks.on_initial_headers(fn)

    def on_headers(self, fn: HeadersHook) -> HeadersHook:
        """``fn(headers, request)`` adds headers to every polling response and
        every WebSocket 101."""
        return self.hooks.on_headers(fn)

    def on_connection_error(self, fn: ConnectionErrorHook) -> ConnectionErrorHook:
        """``fn(error)`` is told of every request refused with an Engine.IO
        error code (a :class:`~txsocketio.engineio.hooks.ConnectionErrorEvent`)."""
        return self.hooks.on_connection_error(fn)

    # -- used by the transports and sockets ----------------------------------------

    def upgrades_for(self, transport: str) -> list[str]:
        if transport == "polling" and self.allow_upgrades and "websocket" in self.transports:
            return ["websocket"]
        return []

    def open_session(self, version: int, transport: str, handshake: Handshake,
                     carrier: Callable[[EngineIOSocket], Transport] | None = None, *,
                     b64: bool = False) -> EngineIOSocket:
        """Create a session carried by ``carrier(socket)``; its OPEN packet is
        written as soon as the transport can take it.  Without a carrier the
        packets wait in the session (tests of the layers above use that)."""
        sid = _new_sid()
        while sid in self.sockets:  # pragma: no cover - 128 random bits
            sid = _new_sid()
        session = Session(sid, version, transport, self.config, self.reactor.seconds(),
                          upgrades=self.upgrades_for(transport))
        socket = EngineIOSocket(self, session, handshake, b64=b64)
        self.sockets[sid] = socket
        log.debug("session {sid} opened over {transport} (EIO={version})",
                  sid=sid, transport=transport, version=version, remote=handshake.remote)
        if self.on_connect is not None:
            try:
                self.on_connect(socket)
            except Exception:
                log.failure("on_connect callback failed for session {sid}", sid=sid,
                            remote=handshake.remote)
        if carrier is not None:
            socket.attach(carrier(socket))
        else:
            socket.flush()  # arms the session's timer
        return socket

    def refuse_eio3(self) -> None:
        """An Engine.IO 3 client was refused: say so once per server, at warning level."""
        if not self._eio3_warned:
            self._eio3_warned = True
            log.warn("a socket.io-client 2.x (Engine.IO 3) client tried to connect and was refused: "
                     "start the server with --allow-eio3 (or allow_eio3=True) to admit it")

    def deliver_message(self, socket: EngineIOSocket, data: str | bytes) -> None:
        """Hand a client's message to the application."""
        if self.on_message is not None:
            try:
                self.on_message(socket, data)
            except Exception:
                log.failure("on_message callback failed for session {sid}", sid=socket.sid,
                            remote=socket.handshake.remote)

    def deliver_upgrade(self, socket: EngineIOSocket) -> None:
        """Tell the application a session has just moved to WebSocket."""
        if self.on_upgrade is not None:
            try:
                self.on_upgrade(socket)
            except Exception:
                log.failure("on_upgrade callback failed for session {sid}", sid=socket.sid,
                            remote=socket.handshake.remote)

    def deliver_disconnect(self, socket: EngineIOSocket, reason: str) -> None:
        """Tell the application a session ended."""
        if self.on_disconnect is not None:
            try:
                self.on_disconnect(socket, reason)
            except Exception:
                log.failure("on_disconnect callback failed for session {sid}", sid=socket.sid,
                            remote=socket.handshake.remote)

    def session_closed(self, socket: EngineIOSocket) -> None:
        """``socket``'s session is over: its sid is unknown from now on."""
        if self.sockets.get(socket.sid) is socket:
            del self.sockets[socket.sid]
        self._closing.add(socket)

    def session_gone(self, socket: EngineIOSocket) -> None:
        """``socket`` has no connection left."""
        self._closing.discard(socket)
        if self._idle_waiters and not self.sockets and not self._closing:
            self._fire_idle()

    def _fire_idle(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for d in waiters:
            if not d.called:
                d.callback(None)

    def cookie_header(self, sid: str) -> str | None:
        """The ``Set-Cookie`` value for a new session, or None when cookies are off."""
        c = self.cookie
        if c is None:
            return None
        parts = [f"{c['name']}={sid}"]
        if c.get("path"):
            parts.append(f"Path={c['path']}")
        if c.get("httponly"):
            parts.append("HttpOnly")
        if c.get("secure"):
            parts.append("Secure")
        if c.get("samesite"):
            parts.append(f"SameSite={c['samesite']}")
        return "; ".join(parts)


def _session_config(ping_interval: float, ping_timeout: float, upgrade_timeout: float, max_payload: int,
                    max_buffered_bytes: int, buffer_drain_timeout: float) -> SessionConfig:
    """The sessions' configuration, checked (``ValueError`` names the bad option)."""
    for name, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout),
                        ("upgrade_timeout", upgrade_timeout), ("buffer_drain_timeout", buffer_drain_timeout)):
        if not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    if isinstance(max_buffered_bytes, bool) or not isinstance(max_buffered_bytes, int) or max_buffered_bytes <= 0:
        raise ValueError(f"max_buffered_bytes must be a positive int, not {max_buffered_bytes!r}")
    return SessionConfig(ping_interval=float(ping_interval), ping_timeout=float(ping_timeout),
                         upgrade_timeout=float(upgrade_timeout), max_payload=int(max_payload),
                         max_buffered_bytes=max_buffered_bytes, buffer_drain_timeout=float(buffer_drain_timeout))


def _cookie_settings(cookie: bool | str | dict[str, Any] | None) -> dict[str, Any] | None:
    if not cookie:
        return None
    settings: dict[str, Any] = {"name": "io", "path": "/", "httponly": True, "samesite": "Lax"}
    if isinstance(cookie, str):
        settings["name"] = cookie
    elif isinstance(cookie, dict):
        settings.update(cookie)
    return settings
