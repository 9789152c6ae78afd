# -*- test-case-name: tests.test_engineio_hooks -*-
"""The Engine.IO hooks of a server, as Node's ``io.engine`` events.

Node's engine.io emits ``initial_headers``, ``headers`` and
``connection_error``; here they are callables registered on the
:class:`~txsocketio.engineio.server.EngineIOServer` (``sio.engine``)::

    def add_headers(headers, request):
        headers["X-Served-By"] = "node-7"

    sio.engine.on_headers(add_headers)          # every polling response and every 101
    sio.engine.on_initial_headers(fn)           # the handshake response only (200 or 101)
    sio.engine.on_connection_error(lambda e: log.info("{e}", e=e))

A headers hook gets a ``dict`` (name -> value, both ``str``) to add to or
change, and the ``twisted.web`` request; what it returns is ignored.  A
connection-error hook gets one :class:`ConnectionErrorEvent` (code, message,
context, request).  A hook that raises is logged and the others still run:
a hook never changes the protocol's answer.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import attrs

from txsocketio.logs import Logger

__all__ = ["EngineHooks", "ConnectionErrorEvent", "apply_headers", "HeadersHook", "ConnectionErrorHook"]

log = Logger(namespace="txsocketio.engineio")

#: ``fn(headers, request)``: add to or change ``headers`` (a dict of str).
HeadersHook = Callable[[dict, Any], Any]


@attrs.frozen
class ConnectionErrorEvent:
    """A handshake or request refused with an Engine.IO error (Node's
    ``connection_error`` event): ``code`` 0-5, its ``message``, a ``context``
    saying why (Node's keys: ``transport``, ``sid``, ``method``, ``protocol``,
    ``name``…), and the ``twisted.web`` ``request``."""

    code: int
    message: str
    context: Mapping[str, Any]
    request: Any = attrs.field(repr=False)


#: ``fn(error)`` with a :class:`ConnectionErrorEvent`.
ConnectionErrorHook = Callable[[ConnectionErrorEvent], Any]


class EngineHooks:
    """The hooks of one server (kept across ``sio.configure()``)."""

    def __init__(self) -> None:
        self._initial: list[HeadersHook] = []
        self._headers: list[HeadersHook] = []
        self._errors: list[ConnectionErrorHook] = []
        self._codes: list[Callable[[int], Any]] = []

    @property
    def adds_headers(self) -> bool:
        """True when a headers hook is registered (else responses are left alone)."""
        return bool(self._initial or self._headers)

    @property
    def observes_requests(self) -> bool:
        """True when a hook is registered that is given the request."""
        return bool(self._initial or self._headers or self._errors)

    def count_errors(self, fn: Callable[[int], Any]) -> None:
        """Call ``fn(code)`` for every refusal: for counters that need no request
        (they leave :attr:`observes_requests` false)."""
        self._codes.append(fn)

    def on_initial_headers(self, fn: HeadersHook) -> HeadersHook:
        """Call ``fn(headers, request)`` for the handshake response of every
        new session: the polling 200, or the 101 of a WebSocket-only session.
        Returns ``fn`` (usable as a decorator)."""
        self._initial.append(fn)
        return fn

    def on_headers(self, fn: HeadersHook) -> HeadersHook:
        """Call ``fn(headers, request)`` for every polling response (GET and
        POST, the handshake included) and every WebSocket 101, after the
        initial-headers hooks.  Returns ``fn``."""
        self._headers.append(fn)
        return fn

    def on_connection_error(self, fn: ConnectionErrorHook) -> ConnectionErrorHook:
        """Call ``fn(error)`` for every handshake or request answered with an
        Engine.IO error code.  Returns ``fn``."""
        self._errors.append(fn)
        return fn

    def headers(self, request: Any, *, initial: bool) -> dict[str, str]:
        """The headers the hooks add to this response (``initial``: it opens a session)."""
        headers: dict[str, str] = {}
        hooks = [*self._initial, *self._headers] if initial else self._headers
        for fn in hooks:
            try:
                fn(headers, request)
            except Exception:
                log.failure("headers hook {hook!r} failed", hook=fn)
        return headers

    def connection_error(self, request: Any, code: int, message: str,
                         context: Mapping[str, Any]) -> None:
        """Tell the connection-error hooks about a refusal."""
        for count in self._codes:
            count(code)
        if not self._errors:
            return
        error = ConnectionErrorEvent(code, message, context, request)
        for fn in self._errors:
            try:
                fn(error)
            except Exception:
                log.failure("connection_error hook {hook!r} failed", hook=fn)


def apply_headers(request: Any, headers: Mapping[str, str]) -> None:
    """Set ``headers`` on a ``twisted.web`` response."""
    for name, value in headers.items():
        request.setHeader(name.encode("latin-1"), str(value).encode("latin-1"))
