"""Connection middleware and authentication (guide/middleware.md)."""
from txsocketio import ConnectionRefused, SocketIOServer

TOKENS = {"s3cret": "alice"}              # stands for your user store


def check_token(socket):                  # may be async or return a Deferred too
    user = TOKENS.get(socket.handshake.auth.get("token"))
    if user is None:
        raise ConnectionRefused("not authorized", data={"content": "Please log in"})
    socket.data["user"] = user            # the connect handlers run after every middleware


def make_server(reactor=None) -> SocketIOServer:
    sio = SocketIOServer(reactor=reactor)
    admin = sio.of("/admin")
    admin.use(check_token)                # in order, before the namespace's connect handlers

    @admin.on("connect")
    def connect(socket, auth):
        socket.emit("hello", socket.data["user"])

    return sio
