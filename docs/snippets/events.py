"""Events and acknowledgements (guide/events.md)."""
from twisted.internet import task
from twisted.logger import Logger

from txsocketio import AckTimeout, SocketDisconnected, SocketIOServer

log = Logger(namespace="myapp")


def make_server(reactor=None) -> SocketIOServer:
    sio = SocketIOServer(reactor=reactor)
    stock = {"apples": 3}

    @sio.on("connect")                      # the namespace "/" unless namespace= says otherwise
    def connect(socket, auth):              # auth: {} when the client sent none
        socket.emit("welcome", socket.id)   # reaches the client after its CONNECT reply

    @sio.on("echo")
    def echo(socket, *args):
        return args                         # the ack: None -> no argument, a tuple -> its items, else [value]

    @sio.on("stock")
    async def count(socket, item):          # Deferreds and coroutines work the same way
        await task.deferLater(sio.reactor, 0.5, lambda: None)   # e.g. a database query
        return stock.get(item, 0)

    @sio.on("ask-client")
    def ask(socket):
        d = socket.timeout(5).emit_with_ack("question", 42)   # fires with the client's ack arguments
        d.addCallback(lambda answer: socket.emit("you-said", *answer))
        d.addErrback(lambda failure: failure.trap(AckTimeout, SocketDisconnected))

    @sio.on("*")                            # events no other handler takes
    def anything(socket, event, *args):
        return f"nobody handles {event!r}"

    @sio.on("disconnect")
    def disconnect(socket, reason):         # "transport close", "ping timeout", ...
        log.info("{sid} left: {reason}", sid=socket.id, reason=reason)

    return sio
