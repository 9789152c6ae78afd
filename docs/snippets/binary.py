"""Binary arguments (guide/binary.md)."""
import hashlib

from txsocketio import SocketIOServer


def make_server(reactor=None) -> SocketIOServer:
    sio = SocketIOServer(reactor=reactor, max_http_buffer_size=10_000_000)

    @sio.on("upload")
    def upload(socket, name, data):                   # data: bytes (an ArrayBuffer, Blob or Buffer)
        digest = hashlib.sha256(data).hexdigest()
        return {"name": name, "size": len(data), "sha256": digest}

    @sio.on("thumbnail")
    def thumbnail(socket, name):
        return {"name": name, "png": b"\x89PNG\r\n\x1a\n"}   # bytes anywhere, nested too

    return sio
