"""Trial tests of the minimal chat, in memory (python -m twisted.trial test_app)."""
from twisted.internet.task import Clock
from twisted.trial import unittest

from app import make_server
from txsocketio.testing import TestClient


class ChatTests(unittest.TestCase):
    def setUp(self):
        self.sio = make_server(reactor=Clock())   # no real time, no sockets

    def test_say_reaches_everyone(self):
        """A message goes to every client, the sender too, and is acknowledged."""
        alice = TestClient(self.sio, auth={"nick": "alice"})
        bob = TestClient(self.sio, auth={"nick": "bob"})
        self.assertEqual(alice.pop_received(), [("joined", ["bob"])])

        ack = alice.emit_with_ack("say", "hi")

        self.assertEqual(self.successResultOf(ack), ["ok"])
        self.assertEqual(alice.pop_received(), [("said", ["alice", "hi"])])
        self.assertEqual(bob.pop_received(), [("said", ["alice", "hi"])])

    def test_nick_defaults_to_guest(self):
        """A client that sends no nick is called guest."""
        anon = TestClient(self.sio)
        anon.emit("say", "hello")
        self.assertEqual(anon.pop_received(), [("said", ["guest", "hello"])])

    def test_leaving_is_announced(self):
        """When a client goes, the others are told."""
        alice = TestClient(self.sio, auth={"nick": "alice"})
        bob = TestClient(self.sio, auth={"nick": "bob"})
        alice.pop_received()
        bob.close()
        self.assertEqual(alice.pop_received(), [("left", ["bob"])])
