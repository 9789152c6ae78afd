"""txsocketio: a Socket.IO and Engine.IO server for Twisted.

The public API::

    from txsocketio import SocketIOServer, Namespace, ConnectionRefused

Names are imported on first use, so that the pure protocol modules
(``txsocketio.engineio.packet``, ``txsocketio.engineio.session``,
``txsocketio.socketio.packet``) can be imported without Twisted's reactor
machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from txsocketio._version import __version__ as __version__

_EXPORTS = {
    "SocketIOServer": "txsocketio.socketio.server",
    "ServerNamespace": "txsocketio.socketio.namespaces",
    "Namespace": "txsocketio.socketio.namespace",
    "Socket": "txsocketio.socketio.socket",
    "BroadcastOperator": "txsocketio.socketio.broadcast",
    "SocketIOResource": "txsocketio.web",
    "SocketIOService": "txsocketio.service",
    "EngineIOServer": "txsocketio.engineio.server",
    "EngineIOSocket": "txsocketio.engineio.server",
    "ConnectionRefused": "txsocketio.errors",
    "AckTimeout": "txsocketio.errors",
    "SocketDisconnected": "txsocketio.errors",
    "ProtocolError": "txsocketio.errors",
    "ClusterTimeout": "txsocketio.errors",
    "RedisUnavailable": "txsocketio.errors",
    "redis_adapter": "txsocketio.adapters.redis",
    "Emitter": "txsocketio.emitter",
    "BlockingEmitter": "txsocketio.emitter",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from txsocketio.engineio.server import EngineIOServer, EngineIOSocket
    from txsocketio.adapters.redis import redis_adapter
    from txsocketio.emitter import BlockingEmitter, Emitter
    from txsocketio.errors import (AckTimeout, ClusterTimeout, ConnectionRefused, ProtocolError,
                                   RedisUnavailable, SocketDisconnected)
    from txsocketio.service import SocketIOService
    from txsocketio.socketio.broadcast import BroadcastOperator
    from txsocketio.socketio.namespace import Namespace
    from txsocketio.socketio.namespaces import ServerNamespace
    from txsocketio.socketio.server import SocketIOServer
    from txsocketio.socketio.socket import Socket
    from txsocketio.web import SocketIOResource


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'txsocketio' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
