# -*- test-case-name: tests.test_service -*-
"""``SocketIOService``: a Socket.IO site as a Twisted ``IService``.

Use it in ``.tac`` files and ``MultiService`` trees::

    application = service.Application("chat")
    SocketIOService(sio, ["tcp:8080:interface=127.0.0.1"]).setServiceParent(application)

It listens the way Twisted's own ``strports.service`` does: the ports are
bound in ``privilegedStartService`` (before twistd sheds privileges) and a port
that cannot be bound raises :class:`CannotListen` there and then, so twistd
fails in the foreground with status 1 and leaves no pidfile.  Every TCP, SSL
and UNIX endpoint gets a listen backlog of 511 (Node's) unless its
description sets one.  The site is a :class:`txsocketio.http.SocketIOSite`
whose body limit on the Socket.IO path is the server's
``max_http_buffer_size``.

Stopping it is graceful: it stops listening, then waits for
``sio.shutdown(timeout=shutdown_timeout)`` (every client is told
``"server shutting down"``).  It never stops the reactor or the process: it
may be one service among others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence
from urllib.parse import parse_qs, urlsplit

from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.python.failure import Failure
from twisted.web.resource import IResource, Resource

from txsocketio.eager import server_endpoint
from txsocketio.http import HTTPLimits, RefusedRequest, SocketIOSite
from txsocketio.logs import Logger
from txsocketio.web import SocketIOResource, build_root

if TYPE_CHECKING:
    from txsocketio.socketio.server import SocketIOServer

__all__ = ["SocketIOService", "CannotListen", "with_backlog", "mount", "DEFAULT_BACKLOG"]

log = Logger(namespace="txsocketio.service")

#: The listen backlog of every endpoint that does not set one (Node's).
DEFAULT_BACKLOG = 511
_BACKLOG_TYPES = ("tcp", "tcp6", "ssl", "unix")


class CannotListen(Exception):
    """An endpoint could not be listened on; the message is one line."""


def _split_description(description: str) -> list[str]:
    """Split a strports description on unescaped colons (escapes kept)."""
    parts, current, escaped = [], [], False
    for char in description:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def with_backlog(description: str, backlog: int = DEFAULT_BACKLOG) -> str:
    """``description`` with ``:backlog=N`` added when it is a tcp, tcp6, ssl or
    unix endpoint that does not set its own backlog.

    >>> with_backlog("tcp:8080:interface=127.0.0.1")
    'tcp:8080:interface=127.0.0.1:backlog=511'
    """
    parts = _split_description(description)
    if parts[0].lower() not in _BACKLOG_TYPES or len(parts) < 2:
        return description
    if any(p.split("=", 1)[0].strip() == "backlog" for p in parts[1:] if "=" in p):
        return description
    trailing = len(description) - len(description.rstrip("\\"))
    if trailing % 2:
        return description  # ends inside an escape: invalid, let serverFromString say so
    return f"{description}:backlog={backlog}"


def mount(root: Resource, path: str, resource: Resource) -> None:
    """Put ``resource`` at ``path`` (``/metrics``, ``/admin/ui``) below ``root``,
    making the intermediate resources that do not exist yet."""
    segments = [s.encode("utf-8") for s in path.strip("/").split("/") if s]
    if not segments:
        raise ValueError(f"cannot mount a resource at the root ({path!r})")
    parent = root
    for segment in segments[:-1]:
        child = parent.children.get(segment)
        if child is None:
            child = Resource()
            parent.putChild(segment, child)
        parent = child
    parent.putChild(segments[-1], resource)


class SocketIOService(MultiService):
    """Serve ``sio`` on every endpoint of ``listen`` (strports descriptions).

    ``root`` is the site's root resource; by default one with ``sio`` at
    ``path`` and, optionally, ``static`` files and a ``wsgi`` resource (see
    :func:`txsocketio.web.build_root`); with your own ``root``, ``path`` still
    says where the Socket.IO resource is, for the site's body limit (POST
    bodies there are capped at ``max_http_buffer_size`` and kept in memory).
    ``limits`` are the HTTP limits of the
    site (:class:`txsocketio.http.HTTPLimits`); ``access_log`` and
    ``server_header`` go to :class:`~txsocketio.http.SocketIOSite`.
    ``resources`` maps further URL paths to resources mounted on the root
    (``{"/metrics": sio.metrics_resource()}``).
    """

    def __init__(self, sio: "SocketIOServer", listen: Sequence[str] = ("tcp:8080:interface=127.0.0.1",),
                 *, path: str = "/socket.io/", root: Resource | None = None, static: str | None = None,
                 wsgi: IResource | None = None, shutdown_timeout: float = 5.0, reactor: Any = None,
                 limits: HTTPLimits | None = None, access_log: Any = None,
                 server_header: str | bytes | None = "txsocketio",
                 resources: Mapping[str, Resource] | None = None) -> None:
        super().__init__()
        if reactor is None:
            reactor = sio.reactor
        self.sio = sio
        self.shutdown_timeout = shutdown_timeout
        self.resource = SocketIOResource(sio)
        own_root = root is None
        if root is None:
            root = build_root(self.resource, path, static=static, wsgi=wsgi)
        for where, resource in (resources or {}).items():
            mount(root, where, resource)
        self.site = SocketIOSite(root, reactor=reactor, limits=limits, access_log=access_log,
                                 server_header=server_header)
        self.site.limit_path(path, lambda: sio.engine.max_http_buffer_size, on_refused=self._body_refused)
        if own_root:
            # Polling requests skip twisted.web's parsing (our resource is the one at ``path``).
            self.site.serve_directly(path, self.resource)
        #: the descriptions listened on, backlog included
        self.listen = [with_backlog(d) for d in listen]
        #: (description as given, endpoint) for each of ``listen``
        self.endpoints = [(given, server_endpoint(reactor, description))
                          for given, description in zip(listen, self.listen)]
        self.reactor = reactor
        #: the listening ports
        self.ports: list[Any] = []
        #: fires with the listening ports once every endpoint listens
        self.listening: defer.Deferred[list[Any]] | None = None
        self._pending: list[defer.Deferred[Any]] = []

    # -- listening ----------------------------------------------------------------------

    def privilegedStartService(self) -> None:
        """Bind every endpoint now; raise :class:`CannotListen` if one cannot be."""
        super().privilegedStartService()
        if self.listening is None:
            self._listen()

    def startService(self) -> None:
        super().startService()
        if self.listening is None:
            self._listen()

    def _listen(self) -> None:
        waits: list[defer.Deferred[Any]] = []
        failed: list[tuple[str, Failure]] = []

        def note(failure: Failure, description: str) -> Failure:
            failed.append((description, failure))
            return failure

        for description, endpoint in self.endpoints:
            d = endpoint.listen(self.site)
            d.addCallback(self._listening, description)
            d.addErrback(note, description)
            waits.append(d)
        if failed:
            # Bound synchronously and failed (TCP, UNIX, SSL always do): undo and raise.
            for d in waits:
                d.addErrback(lambda f: None)
                d.cancel()
            for port in self.ports:
                port.stopListening()
            self.ports = []
            description, failure = failed[0]
            raise CannotListen(_describe(description, failure.value))
        self._pending = [d for d in waits if not d.called]
        self.listening = defer.gatherResults(waits, consumeErrors=True)
        self.listening.addErrback(self._cannot_listen_later)

    def _listening(self, port: Any, description: str) -> Any:
        self.ports.append(port)
        log.info("Socket.IO server listening on {where}", where=description)
        return port

    def _cannot_listen_later(self, failure: Failure) -> None:
        """An endpoint that listens asynchronously failed: say so (the others keep serving)."""
        error = failure.value
        if isinstance(error, defer.FirstError):
            error = error.subFailure.value
        if not isinstance(error, defer.CancelledError):
            log.critical("cannot listen: {error}", error=error)

    def _body_refused(self, refused: RefusedRequest) -> list[tuple[bytes, bytes]]:
        """A POST over max_http_buffer_size: close its session (as Node does) and
        answer with the CORS headers a browser needs to see the 413."""
        query = urlsplit(refused.target.decode("latin-1")).query
        sids = parse_qs(query).get("sid") or []
        engine = self.sio.engine
        sid = sids[0] if sids else None
        if sid is not None and sid in engine.sockets:
            log.info("session {sid}: POST body over max_http_buffer_size ({limit} bytes); closing",
                     sid=sid, limit=engine.max_http_buffer_size)
            engine.sockets[sid].close("transport error")
        origins = refused.headers.get(b"Origin") or refused.headers.get(b"origin")
        origin = origins[0].decode("latin-1") if origins else None
        host = (refused.headers.get(b"Host") or [b""])[0].decode("latin-1")
        if origin is None or not engine.cors.allows(origin, host, False):
            return []
        return engine.cors.headers(origin)

    # -- stopping -----------------------------------------------------------------------

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Stop listening, then shut the server down gracefully."""
        for d in self._pending:
            d.cancel()
        self._pending = []
        ports, self.ports = self.ports, []
        yield defer.DeferredList([defer.maybeDeferred(p.stopListening) for p in ports])
        self.listening = None
        yield self.sio.shutdown(timeout=self.shutdown_timeout)
        yield super().stopService()
        log.info("Socket.IO server stopped")


def _describe(description: str, error: BaseException) -> str:
    """One line: why ``description`` cannot be listened on."""
    if isinstance(error, CannotListenError) and error.socketError is not None:
        reason = getattr(error.socketError, "strerror", None) or str(error.socketError)
    else:
        reason = str(error) or type(error).__name__
    return f"{reason}: {description}"
