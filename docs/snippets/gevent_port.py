"""gevent-socketio's chat namespace, ported (getting-started/coming-from.md)."""
from txsocketio import ConnectionRefused, Namespace, SocketIOServer


class Chat(Namespace):
    def on_connect(self, auth):                   # recv_connect
        if "nick" not in auth:
            raise ConnectionRefused("nick required")
        self.data["nick"] = auth["nick"]          # self.session
        self.join("lobby")                        # RoomsMixin.join
        self.every(30, self.emit, "tick")         # self.spawn(a loop): stopped when the client leaves

    def on_say(self, text):                       # on_<event>
        self.to("lobby").emit("said", self.data["nick"], text)  # emit_to_room
        return "delivered"                        # the client's ack callback gets it

    def on_nick(self, nick):
        self.socket.nsp.emit("renamed", self.data["nick"], nick)   # broadcast_event (self too)
        self.data["nick"] = nick


def make_server(reactor=None) -> SocketIOServer:
    sio = SocketIOServer(reactor=reactor)
    sio.register("/chat", Chat)
    return sio
