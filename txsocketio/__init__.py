"""txsocketio: a Socket.IO and Engine.IO server for Twisted.

The public API::

    from txsocketio import SocketIOServer, Namespace, ConnectionRefused
"""

from txsocketio.engineio.server import EngineIOServer, EngineIOSocket
from txsocketio.errors import AckTimeout, ConnectionRefused, ProtocolError, SocketDisconnected
from txsocketio.socketio.broadcast import BroadcastOperator
from txsocketio.socketio.namespace import Namespace
from txsocketio.socketio.server import ServerNamespace, SocketIOServer
from txsocketio.socketio.socket import Socket
from txsocketio.web import SocketIOResource

__version__ = "0.1.0"

__all__ = [
    "SocketIOServer",
    "Namespace",
    "ConnectionRefused",
    "Socket",
    "ServerNamespace",
    "BroadcastOperator",
    "SocketIOResource",
    "EngineIOServer",
    "EngineIOSocket",
    "AckTimeout",
    "SocketDisconnected",
    "ProtocolError",
]
