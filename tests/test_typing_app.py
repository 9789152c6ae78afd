"""The typed example application (tests/typing_app/app.py) also runs: the
examples mypy checks do what the documentation says."""

from __future__ import annotations

import importlib

from twisted.internet.task import Clock
from twisted.trial import unittest

from tests.typing_app import app
from txsocketio import AckTimeout, SocketDisconnected, SocketIOResource
from txsocketio.testing import TestClient


class TypedAppTests(unittest.SynchronousTestCase):
    """The application mypy --strict checks, driven with the TestClient."""

    def setUp(self) -> None:
        self.sio = app.make_server(Clock())

    def test_chat(self) -> None:
        """The class-based namespace: a say reaches the others in the lobby and is acknowledged."""
        self.assertEqual(app.chat_session(), [("said", ["alice", "hi"])])

    def test_acks(self) -> None:
        """Acknowledgements from a plain value, a Deferred and a coroutine."""
        client = TestClient(self.sio)
        [socket] = self.sio.of("/").sockets.values()
        self.assertEqual(client.pop_received(), [("welcome", [socket.id])])
        for event, args, expected in [("echo", (1, "2"), [1, "2"]), ("deferred", (41,), [42]),
                                      ("lookup", ("key",), ["KEY"])]:
            self.assertEqual(self.successResultOf(client.emit_with_ack(event, *args)), expected)

    def test_broadcasts(self) -> None:
        """The broadcasting examples run: rooms, exclusions, flags."""
        client = TestClient(self.sio)
        client.emit("join", "room1")
        [socket] = self.sio.of("/").sockets.values()
        client.pop_received()
        waits = app.broadcasts(self.sio, socket)
        received = [event for event, _ in client.pop_received()]
        self.assertEqual(received, ["news", "news", "tick", "tick", "message", "ready?", "ready?"])
        self.assertEqual(self.successResultOf(waits[2]), [socket])
        self.assertFalse(client.is_connected())  # disconnect_sockets: room3, joined through sockets_join
        for wait in waits:
            wait.addErrback(lambda f: f.trap(SocketDisconnected, AckTimeout))

    def test_middleware(self) -> None:
        """The /admin middleware refuses a client without the token and admits one with it."""
        refused = TestClient(self.sio, namespace="/admin", auth={})
        self.assertFalse(refused.is_connected("/admin"))
        admitted = TestClient(self.sio, namespace="/admin", auth={"token": app.SECRET})
        self.assertTrue(admitted.is_connected("/admin"))
        self.assertEqual(admitted.pop_received("/admin"), [("hello", ["/admin"])])

    def test_site_root(self) -> None:
        """The embedding example mounts the server's resource at socket.io."""
        root = app.site_root(self.sio)
        self.assertIsInstance(root.children[b"socket.io"], SocketIOResource)


class PublicNamesTests(unittest.SynchronousTestCase):
    """txsocketio's public names, as type checkers and the lazy import see them."""

    def test_all_is_the_lazy_exports(self) -> None:
        """``__all__`` (a literal, for type checkers) lists exactly the names the lazy ``__getattr__`` serves."""
        import txsocketio

        self.assertEqual(txsocketio.__all__, list(txsocketio._EXPORTS))
        for name in txsocketio.__all__:
            defining = importlib.import_module(txsocketio._EXPORTS[name])
            self.assertIs(getattr(txsocketio, name), getattr(defining, name))
