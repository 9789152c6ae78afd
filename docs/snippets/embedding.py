"""Embedding in twisted.web, Klein and beside WSGI (guide/embedding.md)."""
from twisted.web.resource import Resource
from twisted.web.wsgi import WSGIResource

from txsocketio import SocketIOResource, SocketIOServer
from txsocketio.web import WSGIRoot


def twisted_web_root(sio: SocketIOServer) -> Resource:
    root = Resource()
    root.putChild(b"socket.io", SocketIOResource(sio))     # polling and WebSocket on one path
    return root


def wsgi_root(sio: SocketIOServer, reactor, application) -> Resource:
    wsgi = WSGIResource(reactor, reactor.getThreadPool(), application)
    return WSGIRoot(wsgi, {b"socket.io": SocketIOResource(sio)})   # /socket.io/ here, the rest to WSGI


def klein_app(sio: SocketIOServer):
    from klein import Klein

    app = Klein()

    @app.route("/")
    def home(request):
        return "<script src='/socket.io/socket.io.min.js'></script>"

    @app.route("/socket.io/", branch=True)                 # the prefix and everything under it
    def socketio(request):
        return SocketIOResource(sio)

    return app
