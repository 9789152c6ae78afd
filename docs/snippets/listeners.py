"""Per-socket listeners and middleware (guide/events.md)."""
from twisted.logger import Logger

from txsocketio import SocketIOServer

log = Logger(namespace="myapp")


def make_server(reactor=None) -> SocketIOServer:
    sio = SocketIOServer(reactor=reactor)

    @sio.on("connect")
    def connect(socket, auth):
        socket.data["seen"] = []

        @socket.on("note")                  # this socket only
        def note(text):
            socket.data["seen"].append(text)
            return len(socket.data["seen"])

        @socket.on_any                      # every incoming event, before its handler
        def log_all(event, *args):
            log.debug("{sid} sent {event} {args}", sid=socket.id, event=event, args=args)

        @socket.use                         # per-packet middleware: raise to drop the event
        def only_short(event, args):
            if len(str(args)) > 1000:
                raise ValueError("too long")

        @socket.on("error")                 # what the middleware raised
        def dropped(error):
            socket.emit("refused", str(error))

    return sio
