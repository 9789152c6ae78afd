"""Tests for L{txsocketio.subscriptions} on the fake Redis hub: the
subscriptions of a socket end with it, whichever way it leaves.

Forwarding itself, against a real redis-server, is in
C{tests/interop/test_redis_subscriptions.py}.
"""

from __future__ import annotations

from typing import Any

from txsocketio import ConnectionRefused, Namespace
from txsocketio.subscriptions import Subscriptions

from tests.redis_fake import FakeRedisHub
from tests.socketio_support import ServerTestCase


class SubscriptionLifetimeTests(ServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.hub = FakeRedisHub(self.clock)
        self.connection = self.hub.connect("a")
        self.subs = Subscriptions.of(self.sio, connection=self.connection)

    def subscribed(self) -> list[tuple[str, str]]:
        return sorted((s.kind, s.name) for s in self.connection.subscriptions)

    def test_disconnect_unsubscribes(self) -> None:
        """A client that disconnects is unsubscribed from its channels and
        patterns; the socket holds no work afterwards."""
        client = self.client()
        socket = self.socket_of(client)
        self.successResultOf(self.subs.subscribe(socket, "news"))
        self.successResultOf(self.subs.psubscribe(socket, "prices.*"))
        self.assertEqual(self.subscribed(), [("channel", "news"), ("pattern", "prices.*")])
        self.assertEqual(len(socket.tasks), 1)
        client.close()
        self.assertEqual(self.subscribed(), [])
        self.assertEqual(self.subs.sockets(), set())
        self.assertNoLeaks()

    def test_refused_after_subscribing(self) -> None:
        """A client its connect handler subscribes and then refuses leaves no
        subscription behind (it never gets a "disconnect" event)."""
        class Picky(Namespace):
            def on_connect(self) -> None:
                self.subscribe("news")
                raise ConnectionRefused("no")

        self.sio.register("/picky", Picky)
        client = self.client()
        client.connect("/picky")
        self.assertEqual(client.connect_errors, {"/picky": {"message": "no"}})
        self.assertEqual(self.subscribed(), [])
        self.assertEqual(self.subs.sockets(), set())

    def test_unsubscribing_releases_the_socket(self) -> None:
        """Unsubscribing from everything by hand drops the socket's hold; a new
        subscription afterwards is tied to the socket again."""
        client = self.client()
        socket = self.socket_of(client)
        self.subs.subscribe(socket, "news")
        self.subs.unsubscribe(socket)
        self.assertEqual(len(socket.tasks), 0)
        self.assertEqual(self.subscribed(), [])
        self.subs.subscribe(socket, "news")
        self.assertEqual(len(socket.tasks), 1)
        client.close()
        self.assertEqual(self.subscribed(), [])

    def test_forwarding_still_works(self) -> None:
        """A message published on the channel reaches the subscribed client as an event."""
        client = self.client()
        self.subs.subscribe(self.socket_of(client), "news", event="n")
        self.hub.connect("pub").publish("news", b'{"a": 1}')
        self.hub.flush()
        received: list[Any] = client.pop_received()
        self.assertEqual(received, [("n", [{"a": 1}])])
