"""Emitting from other threads (guide/threads.md)."""
from txsocketio import SocketIOServer


def announce(sio: SocketIOServer, room: str, text: str) -> int:
    """Runs in a thread (a WSGI view, a deferToThread worker), never in the reactor's."""
    target = sio.threadsafe.to(room)
    target.emit("announcement", text)            # returns at once; the reactor thread sends it
    sockets = target.fetch_sockets().result(10)  # a concurrent.futures.Future
    return len(sockets)
