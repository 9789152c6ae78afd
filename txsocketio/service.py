# -*- test-case-name: tests.test_tap -*-
"""``SocketIOService``: a Socket.IO site as a Twisted ``IService``.

Use it in ``.tac`` files and ``MultiService`` trees::

    application = service.Application("chat")
    SocketIOService(sio, ["tcp:8080:interface=127.0.0.1"]).setServiceParent(application)

Stopping it is graceful: it stops accepting connections, disconnects every
client with Node's ``"server shutting down"`` reason, lets the goodbyes reach
the clients, and closes within ``shutdown_timeout`` seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Site

from txsocketio.web import SocketIOResource, build_root

if TYPE_CHECKING:
    from txsocketio.socketio.server import SocketIOServer

__all__ = ["SocketIOService"]


def _exit_failure() -> None:
    import os

    os._exit(1)

log = Logger(namespace="txsocketio.service")


class SocketIOService(MultiService):
    """Serve ``sio`` on every endpoint of ``listen`` (strports descriptions).

    ``root`` is the site's root resource; by default one with ``sio`` at
    ``path`` and, optionally, ``static`` files and a ``wsgi`` resource (see
    :func:`txsocketio.web.build_root`).
    """

    def __init__(self, sio: "SocketIOServer", listen: Sequence[str] = ("tcp:8080:interface=127.0.0.1",),
                 *, path: str = "/socket.io/", root: Resource | None = None, static: str | None = None,
                 wsgi: Resource | None = None, shutdown_timeout: float = 5.0, reactor: Any = None) -> None:
        super().__init__()
        if reactor is None:
            reactor = sio.reactor
        self.sio = sio
        self.shutdown_timeout = shutdown_timeout
        self.resource = SocketIOResource(sio)
        if root is None:
            root = build_root(self.resource, path, static=static, wsgi=wsgi)
        self.site = Site(root)
        self.endpoints = [(description, serverFromString(reactor, description)) for description in listen]
        self.listen = list(listen)
        self.reactor = reactor
        self.ports: list[Any] = []
        #: fires with the listening ports once every endpoint listens
        self.listening: defer.Deferred[list[Any]] | None = None

    def startService(self) -> None:
        super().startService()
        waits = [endpoint.listen(self.site).addCallback(self._listening, description)
                 for description, endpoint in self.endpoints]
        self.listening = defer.gatherResults(waits, consumeErrors=True)
        self.listening.addErrback(self._cannot_listen)

    def _listening(self, port: Any, description: str) -> Any:
        self.ports.append(port)
        log.info("Socket.IO server listening on {where}", where=description)
        return port

    def _cannot_listen(self, failure: Any) -> None:
        """A port in use or a bad address: one clear line, then stop with status 1."""
        error = failure.value
        if isinstance(error, defer.FirstError):
            error = error.subFailure.value
        log.critical("cannot start: {error}", error=error)
        reactor = self.reactor

        def stop() -> None:
            reactor.addSystemEventTrigger("after", "shutdown", _exit_failure)
            reactor.stop()

        if getattr(reactor, "running", False):
            stop()
        else:
            reactor.callWhenRunning(stop)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        # 1. stop accepting; 2. say goodbye to every client; 3. done.
        ports, self.ports = self.ports, []
        yield defer.DeferredList([defer.maybeDeferred(p.stopListening) for p in ports])
        shutdown = getattr(self.sio, "shutdown", None)
        if shutdown is not None:
            yield shutdown(timeout=self.shutdown_timeout)
        else:
            self.sio.close("server shutting down")
        Service.stopService(self)
        log.info("Socket.IO server stopped")
