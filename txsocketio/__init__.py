"""txsocketio: a Socket.IO and Engine.IO server for Twisted."""

__version__ = "0.1.0"
