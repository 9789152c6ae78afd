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

#: public name -> the module that defines it (imported on first use)
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

# A literal list, so that type checkers know the public names (the same as _EXPORTS's keys; a test checks).
__all__ = [
    "SocketIOServer", "ServerNamespace", "Namespace", "Socket", "BroadcastOperator", "SocketIOResource",
    "SocketIOService", "EngineIOServer", "EngineIOSocket", "ConnectionRefused", "AckTimeout",
    "SocketDisconnected", "ProtocolError", "ClusterTimeout", "RedisUnavailable", "redis_adapter", "Emitter",
    "BlockingEmitter",
]

if TYPE_CHECKING:
    # What the lazy __getattr__ below returns, spelled for type checkers as explicit re-exports.
    from txsocketio.adapters.redis import redis_adapter as redis_adapter
    from txsocketio.emitter import BlockingEmitter as BlockingEmitter
    from txsocketio.emitter import Emitter as Emitter
    from txsocketio.engineio.server import EngineIOServer as EngineIOServer
    from txsocketio.engineio.server import EngineIOSocket as EngineIOSocket
    from txsocketio.errors import AckTimeout as AckTimeout
    from txsocketio.errors import ClusterTimeout as ClusterTimeout
    from txsocketio.errors import ConnectionRefused as ConnectionRefused
    from txsocketio.errors import ProtocolError as ProtocolError
    from txsocketio.errors import RedisUnavailable as RedisUnavailable
    from txsocketio.errors import SocketDisconnected as SocketDisconnected
    from txsocketio.service import SocketIOService as SocketIOService
    from txsocketio.socketio.broadcast import BroadcastOperator as BroadcastOperator
    from txsocketio.socketio.namespace import Namespace as Namespace
    from txsocketio.socketio.namespaces import ServerNamespace as ServerNamespace
    from txsocketio.socketio.server import SocketIOServer as SocketIOServer
    from txsocketio.socketio.socket import Socket as Socket
    from txsocketio.web import SocketIOResource as SocketIOResource
else:
    # Hidden from type checkers: a module __getattr__ would make every misspelt name Any.
    def __getattr__(name: str) -> Any:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'txsocketio' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
