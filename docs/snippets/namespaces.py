"""Class-based and dynamic namespaces (guide/namespaces.md)."""
import re

from txsocketio import ConnectionRefused, Namespace, SocketIOServer


class Chat(Namespace):
    """One instance per connection; ``on_<event>`` methods."""

    def on_connect(self, auth):                  # self.socket, self.request (the handshake)
        if "nick" not in auth:
            raise ConnectionRefused("nick required")
        self.nick = auth["nick"]
        self.join("lobby")

    async def on_say(self, text):                # values, Deferreds and coroutines all work
        self.to("lobby").emit("said", self.nick, text)   # everyone in the room but this client
        return "delivered"

    def on_user_typing(self):                    # the event "user-typing": non-word characters become _
        self.to("lobby").volatile.emit("typing", self.nick)

    def on_disconnect(self, reason):
        self.to("lobby").emit("left", self.nick)


def make_server(reactor=None) -> SocketIOServer:
    sio = SocketIOServer(reactor=reactor)
    sio.register("/chat", Chat)

    workspaces = sio.of(re.compile(r"^/workspace-\d+$"))   # dynamic: a regular expression,

    @workspaces.on("connect")
    def joined(socket, auth):
        socket.emit("hello", socket.namespace)             # the child namespace's name

    sio.of(lambda name, auth: name.startswith("/team-"))  # or a callable (name, auth) -> bool or Deferred
    return sio
