"""A trial test of the class-based namespace of guide/namespaces.md (guide/testing.md).

Run from docs/snippets/: python -m twisted.trial test_chat
"""
from twisted.internet.task import Clock
from twisted.trial import unittest

from namespaces import make_server
from txsocketio.testing import TestClient


class ChatTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.sio = make_server(reactor=self.clock)

    def join(self, nick):
        return TestClient(self.sio, namespace="/chat", auth={"nick": nick})

    def test_say(self):
        """A message reaches the others in the lobby, and the sender gets its ack."""
        alice, bob = self.join("alice"), self.join("bob")
        ack = alice.emit_with_ack("say", "hi", namespace="/chat")
        self.assertEqual(self.successResultOf(ack), ["delivered"])
        self.assertEqual(bob.pop_received("/chat"), [("said", ["alice", "hi"])])
        self.assertEqual(alice.pop_received("/chat"), [])

    def test_nick_required(self):
        """Without a nick the namespace refuses the client."""
        client = TestClient(self.sio, namespace="/chat")
        self.assertFalse(client.is_connected("/chat"))
        self.assertEqual(client.connect_errors["/chat"], {"message": "nick required"})

    def test_connect_timeout(self):
        """A connection that joins no namespace is closed after connect_timeout (45 s)."""
        idle = TestClient(self.sio, connect=False)
        self.clock.advance(45)
        self.assertIsNotNone(idle.closed_reason)

    def test_server_asks_the_client(self):
        """The client answers the server's emit_with_ack with on()."""
        alice = self.join("alice")
        alice.on("question", lambda n: n * 2, namespace="/chat")
        socket = self.sio.of("/chat").sockets[alice.sids["/chat"]]
        self.assertEqual(self.successResultOf(socket.emit_with_ack("question", 21)), [42])
