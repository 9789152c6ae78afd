"""Rooms and broadcasting (guide/rooms.md)."""
from txsocketio import SocketIOServer


def make_server(reactor=None) -> SocketIOServer:
    sio = SocketIOServer(reactor=reactor)

    @sio.on("join")
    def join(socket, room):
        socket.join(room)
        socket.to(room).emit("joined", socket.id)    # the room, without the sender
        return sorted(socket.rooms)                  # its own id is a room too

    @sio.on("leave")
    def leave(socket, room):
        socket.leave(room)

    @sio.on("shout")
    def shout(socket, text):
        socket.broadcast.emit("shouted", text)       # the namespace, without the sender

    @sio.on("announce")
    def announce(socket, room, text):
        sio.to(room).except_("muted").emit("announcement", text)   # from the server: the sender too

    @sio.on("poll")
    async def poll(socket, room):
        answers = await sio.to(room).timeout(5).emit_with_ack("vote?")   # each client's first ack argument
        return sorted(answers)

    @sio.on("who")
    async def who(socket, room):
        sockets = await sio.in_(room).fetch_sockets()
        return sorted(s.id for s in sockets)

    return sio
