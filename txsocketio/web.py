# -*- test-case-name: tests.test_socketio_server -*-
"""Embedding txsocketio in a ``twisted.web`` site.

    root = Resource()
    root.putChild(b"socket.io", SocketIOResource(sio))

Long-polling and WebSocket are served on the same path, beside any other
resources of the site (static files, a WSGI application, Klein…).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from txsocketio.engineio.resource import EngineIOResource

if TYPE_CHECKING:
    from txsocketio.socketio.server import SocketIOServer

__all__ = ["SocketIOResource"]


class SocketIOResource(EngineIOResource):
    """The ``twisted.web`` resource of a :class:`~txsocketio.SocketIOServer`."""

    def __init__(self, sio: "SocketIOServer") -> None:
        super().__init__(sio.engine)
        self.sio = sio
