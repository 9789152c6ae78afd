"""A minimal chat: one Python file and the page it serves.

    python app.py [PORT]        # http://127.0.0.1:8000/ by default
"""
import sys
from pathlib import Path

from twisted.web.resource import Resource
from twisted.web.static import File

from txsocketio import SocketIOResource, SocketIOServer


def make_server(reactor=None) -> SocketIOServer:
    sio = SocketIOServer(reactor=reactor)   # the global reactor unless a test passes a Clock

    @sio.on("connect")
    def connect(socket, auth):              # auth: what the page passed to io({auth})
        socket.data["nick"] = str(auth.get("nick") or "guest")[:20]
        socket.broadcast.emit("joined", socket.data["nick"])   # everyone else

    @sio.on("say")
    def say(socket, text):
        sio.emit("said", socket.data["nick"], str(text)[:500])  # everyone, the sender too
        return "ok"                                              # the acknowledgement

    @sio.on("disconnect")
    def disconnect(socket, reason):
        sio.emit("left", socket.data["nick"])

    return sio


def make_root(sio: SocketIOServer) -> Resource:
    root = Resource()
    root.putChild(b"", File(str(Path(__file__).with_name("index.html"))))  # GET /
    root.putChild(b"socket.io", SocketIOResource(sio))  # also /socket.io/socket.io.min.js
    return root


if __name__ == "__main__":
    from twisted.internet import reactor

    from txsocketio.eager import server_endpoint
    from txsocketio.http import SocketIOSite   # twisted.web's Site, with HTTP limits

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    root = make_root(make_server())
    site = SocketIOSite(root)
    site.serve_directly("/socket.io/", root.children[b"socket.io"])  # long-polling without twisted.web's parsing
    server_endpoint(reactor, f"tcp:{port}:interface=127.0.0.1").listen(site)  # serverFromString, faster writes
    print(f"minimal chat on http://127.0.0.1:{port}/", flush=True)
    reactor.run()
