# -*- test-case-name: tests.test_typing_app,tests.interop.test_typing -*-
"""A small application written from the README's and the guides' examples,
type-checked with ``mypy --strict`` (tests/interop/test_typing.py).

Besides using the public API as a user would, it pins the types the API
promises with ``assert_type``: mypy fails if any of them turns into ``Any``
(or anything else).  It also runs: tests/test_typing_app.py drives it with
the TestClient, so the examples it is made of are behaviour, not just types.
"""

from __future__ import annotations

import re
from concurrent.futures import Future
from typing import Any

from twisted.application import service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from twisted.python.components import Componentized
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from typing_extensions import assert_type

from txsocketio import (
    AckTimeout,
    BroadcastOperator,
    ConnectionRefused,
    Namespace,
    ServerNamespace,
    Socket,
    SocketDisconnected,
    SocketIOResource,
    SocketIOServer,
    SocketIOService,
)
from txsocketio.socketio.threadsafe import ThreadSafeServer, ThreadSafeSocket
from txsocketio.testing import TestClient

#: what a server's broadcast operator is: emits return None, the rest Deferreds
ServerOperator = BroadcastOperator[None, "Deferred[list[Any]]", "Deferred[list[Any]]", "Deferred[None]"]

SECRET = "s3cret"


class Chat(Namespace):
    """The README's class-based namespace: one instance per connection."""

    nick = ""

    def on_connect(self, auth: dict[str, Any]) -> None:
        if "nick" not in auth:
            raise ConnectionRefused("nick required")
        self.nick = str(auth["nick"])
        self.join("lobby")

    async def on_say(self, text: str) -> str:
        self.to("lobby").emit("said", self.nick, text)  # everyone in the room but this client
        return "delivered"

    def on_user_typing(self) -> None:
        self.to("lobby").volatile.emit("typing", self.nick)

    def on_disconnect(self, reason: str) -> None:
        self.to("lobby").emit("left", self.nick)


def check_token(socket: Socket) -> None:
    """Connection middleware of /admin."""
    if socket.handshake.auth.get("token") != SECRET:
        raise ConnectionRefused("not authorized", data={"content": "Please retry later"})


def make_server(reactor: IReactorTime) -> SocketIOServer:
    """The application: handlers, acks, a class-based namespace, middleware."""
    sio = SocketIOServer(reactor=reactor, ping_interval=25, ping_timeout=20)

    @sio.on("connect")
    def connect(socket: Socket, auth: dict[str, Any]) -> None:
        socket.emit("welcome", socket.id)

    @sio.on("echo")
    def echo(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args  # the acknowledgement: a tuple is its items

    @sio.on("deferred")
    def later(socket: Socket, value: int) -> Deferred[int]:
        return succeed(value + 1)

    @sio.on("lookup")
    async def lookup(socket: Socket, key: str) -> str:
        value: str = await succeed(key.upper())
        return value

    @sio.on("join")
    def join(socket: Socket, room: str) -> None:
        socket.join(room)
        socket.to(room).emit("joined", socket.id)

    @sio.on("ask-client")
    def ask(socket: Socket) -> Deferred[None]:
        d = socket.emit_with_ack("question", 42, timeout=5)
        assert_type(d, Deferred[list[Any]])

        def answered(args: list[Any]) -> None:
            socket.emit("you-said", *args)

        def gave_up(f: Failure) -> None:
            f.trap(AckTimeout, SocketDisconnected)

        return d.addCallback(answered).addErrback(gave_up)

    @sio.on("disconnect")
    def gone(socket: Socket, reason: str) -> None:
        socket.data["gone"] = reason

    assert_type(sio.register("/chat", Chat), type[Chat])

    admin = sio.of("/admin")
    assert_type(admin, ServerNamespace)
    admin.use(check_token)

    @admin.on("connect")
    def admin_joined(socket: Socket) -> None:
        socket.emit("hello", socket.namespace)

    workspaces = sio.of(re.compile(r"^/workspace-\d+$"))

    @workspaces.on("connect")
    def workspace_joined(socket: Socket, auth: dict[str, Any]) -> None:
        socket.emit("hello", socket.namespace)

    return sio


def broadcasts(sio: SocketIOServer, socket: Socket) -> list[Deferred[Any]]:
    """The README's rooms and broadcasting, with the types they have; returns
    what is still waiting (acknowledgements, the server-wide operations)."""
    socket.join("room1", "room2")
    socket.leave("room2")
    assert_type(socket.to("room1"), ServerOperator)
    assert_type(socket.to("room1").emit("news", 1), None)
    assert_type(socket.broadcast.emit("news", 1), None)
    assert_type(socket.except_("muted").emit("news", 1), None)
    op = sio.to("room1").except_("room2")
    assert_type(op, ServerOperator)
    assert_type(op.emit("news"), None)
    assert_type(sio.emit("news", 1), None)
    assert_type(sio.of("/chat").to("lobby").emit("news", 1), None)
    assert_type(sio.volatile.emit("tick", 1), None)
    assert_type(sio.local.emit("tick", 1), None)
    assert_type(sio.in_("room1").to(["a", "b"]).compress(False).send("hi"), None)
    everyone = sio.timeout(5).emit_with_ack("ready?")
    assert_type(everyone, Deferred[list[Any]])
    client = socket.timeout(5).emit_with_ack("ready?")
    assert_type(client, Deferred[list[Any]])
    fetched = sio.in_("room1").fetch_sockets()
    assert_type(fetched, Deferred[list[Any]])
    joined = sio.in_("room1").sockets_join("room3")
    assert_type(joined, Deferred[None])
    left = sio.in_("room1").sockets_leave("room1")
    assert_type(left, Deferred[None])
    gone = sio.in_("room3").disconnect_sockets(close=False)
    assert_type(gone, Deferred[None])
    return [everyone, client, fetched, joined, left, gone]


def from_a_thread(sio: SocketIOServer, room: str, text: str) -> Future[list[Any]]:
    """A Django view's part (in a WSGI thread): the thread-safe face of the server."""
    threadsafe = sio.threadsafe
    assert_type(threadsafe, ThreadSafeServer)
    assert_type(threadsafe.to(room).emit("announcement", text), None)
    assert_type(threadsafe.of("/chat").emit("announcement", text), None)
    assert_type(threadsafe.fetch_sockets(), Future[list[ThreadSafeSocket]])
    assert_type(threadsafe.in_(room).sockets_join("readers"), Future[None])
    return threadsafe.timeout(5).emit_with_ack("ready?")


def site_root(sio: SocketIOServer) -> Resource:
    """Embedding in a twisted.web site."""
    resource = sio.resource()
    assert_type(resource, SocketIOResource)
    root = Resource()
    root.putChild(b"socket.io", resource)
    root.putChild(b"other", SocketIOResource(sio))
    return root


def application(sio: SocketIOServer) -> Componentized:
    """What a ``.tac`` file holds."""
    app: Componentized = service.Application("realtime")
    realtime: service.IService = SocketIOService(sio, ["tcp:8080:interface=127.0.0.1"], static="public/")
    realtime.setServiceParent(app)  # through the interface: Twisted's Service leaves it unannotated
    return app


def chat_session() -> list[tuple[str, list[Any]]]:
    """The README's TestClient example: two clients chatting in memory."""
    sio = make_server(Clock())
    alice = TestClient(sio, namespace="/chat", auth={"nick": "alice"})
    bob = TestClient(sio, namespace="/chat", auth={"nick": "bob"})
    ack = alice.emit_with_ack("say", "hi", namespace="/chat")
    assert_type(ack, Deferred[list[Any]])
    answers: list[list[Any]] = []
    ack.addCallback(answers.append)
    assert answers == [["delivered"]], answers
    return bob.pop_received("/chat")
