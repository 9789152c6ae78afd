"""``txsocketio.eager.server_endpoint`` on the real reactor (loopback, port 0)."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, protocol, reactor, tcp
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.trial import unittest

from txsocketio import SocketIOServer
from txsocketio.eager import EagerPort, server_endpoint
from txsocketio.service import SocketIOService


class ServerEndpointTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_tcp_port_is_eager_and_delivers_in_order(self) -> None:
        """
        A TCP endpoint's port makes EagerServers; 2 MiB in one write (more
        than the socket takes at once) then 2 MiB in 1 KiB pieces (buffered
        behind it) arrive whole and in order.
        """
        payload = bytes(range(256)) * 4096 * 4
        done: defer.Deferred[bytes] = defer.Deferred()

        class Sender(protocol.Protocol):
            def connectionMade(self) -> None:
                half = len(payload) // 2
                self.transport.write(payload[:half])  # sent at once, in part
                for i in range(half, len(payload), 1024):
                    self.transport.write(payload[i:i + 1024])
                self.transport.loseConnection()

        class Receiver(protocol.Protocol):
            def __init__(self) -> None:
                self.got: list[bytes] = []

            def dataReceived(self, data: bytes) -> None:
                self.got.append(data)

            def connectionLost(self, reason: Any = None) -> None:
                done.callback(b"".join(self.got))

        port = yield server_endpoint(reactor, "tcp:0:interface=127.0.0.1").listen(
            protocol.Factory.forProtocol(Sender))
        self.addCleanup(port.stopListening)
        self.assertIsInstance(port, EagerPort)
        yield TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port).connect(
            protocol.Factory.forProtocol(Receiver))
        got = yield done
        self.assertEqual(len(got), len(payload))
        self.assertEqual(got, payload)

    @defer.inlineCallbacks
    def test_service_listens_eagerly(self) -> None:
        """C{SocketIOService} (and so C{twistd txsocketio}) listens through it."""
        sio = SocketIOServer(reactor=reactor)
        service = SocketIOService(sio, ["tcp:0:interface=127.0.0.1"], reactor=reactor)
        service.startService()
        ports = yield service.listening
        self.assertIsInstance(ports[0], EagerPort)
        self.assertIs(tcp.Port.transport, tcp.Server)  # nothing patched
        yield service.stopService()
