"""``txsocketio.eager``: the first write of a turn sent at once, the rest of
the turn buffered as Twisted does, the per-turn budget, producers, errors
(a fake socket, MemoryReactorClock)."""

from __future__ import annotations

import errno
from typing import Any

from twisted.internet import protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.internet.interfaces import IPullProducer, IPushProducer
from twisted.trial import unittest
from zope.interface import implementer

from txsocketio.eager import READ_SIZE, SENDS_PER_TURN, EagerServer, TurnBudget, server_endpoint


class FakeSocket:
    """A non-blocking socket whose ``send`` takes what :attr:`room` allows."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        #: bytes the next sends may take (None: any)
        self.room: int | None = None
        #: raised by the next send
        self.error: OSError | None = None

    def setblocking(self, flag: bool) -> None:
        pass

    def fileno(self) -> int:
        return 99

    #: bytes waiting to be read, and the sizes recv was asked for
    incoming = b""
    asked: list[int] = []

    def recv(self, size: int) -> bytes:
        self.asked = [*self.asked, size]
        data, self.incoming = self.incoming[:size], self.incoming[size:]
        if not data:
            raise OSError(errno.EAGAIN, "nothing to read")
        return data

    def sendmsg(self, pieces: list[bytes]) -> int:
        self.calls += 1
        return self.send(b"".join(pieces))

    calls = 0

    def send(self, data: Any) -> int:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        data = bytes(data)
        if self.room is not None:
            data = data[:self.room]
            self.room -= len(data)
        self.sent.append(data)
        return len(data)


class Recorder(protocol.Protocol):
    def __init__(self) -> None:
        self.lost: list[Any] = []

    def connectionLost(self, reason: Any = None) -> None:
        self.lost.append(reason)


class Port:
    """What an EagerServer needs of its port."""

    _realPortNumber = 1

    def __init__(self, clock: MemoryReactorClock, per_turn: int = SENDS_PER_TURN) -> None:
        self.budget = TurnBudget(clock, per_turn)


def connection(clock: MemoryReactorClock, port: Port | None = None) -> tuple[EagerServer, FakeSocket]:
    sock = FakeSocket()
    proto = Recorder()
    server = EagerServer(sock, proto, ("127.0.0.1", 4000), port or Port(clock), 1, clock)
    proto.makeConnection(server)
    return server, sock


@implementer(IPullProducer)
class Pull:
    def __init__(self) -> None:
        self.resumed = 0

    def resumeProducing(self) -> None:
        self.resumed += 1

    def stopProducing(self) -> None:
        pass


@implementer(IPushProducer)
class Push:
    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class TurnBudgetTests(unittest.SynchronousTestCase):
    def test_per_turn(self) -> None:
        """
        C{per_turn} writes, then none until the reactor's next turn, which
        also changes C{turn}.
        """
        clock = MemoryReactorClock()
        budget = TurnBudget(clock, 2)
        self.assertEqual([budget.take() for _ in range(3)], [True, True, False])
        self.assertEqual(budget.turn, 0)
        clock.advance(0)
        self.assertEqual(budget.turn, 1)
        self.assertTrue(budget.take())

    def test_turn_kept_without_takes(self) -> None:
        """No C{take}, no timer: an idle server schedules nothing."""
        clock = MemoryReactorClock()
        TurnBudget(clock, 2)
        self.assertEqual(clock.getDelayedCalls(), [])


class EagerServerTests(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()

    def test_first_write_sent_at_once(self) -> None:
        """
        A write to an idle connection reaches the socket within the call;
        the connection is not registered for writing.
        """
        server, sock = connection(self.clock)
        server.write(b"hello")
        self.assertEqual(sock.sent, [b"hello"])
        self.assertNotIn(server, self.clock.getWriters())
        self.assertFalse(server.waiting)

    def test_later_writes_of_a_turn_leave_together(self) -> None:
        """
        The second and third write of a turn are buffered and leave in one
        send when the reactor finds the socket writable; the next turn's
        first write is sent at once again.
        """
        server, sock = connection(self.clock)
        server.write(b"a")
        server.write(b"b")
        server.write(b"c")
        self.assertEqual(sock.sent, [b"a"])
        self.assertIn(server, self.clock.getWriters())
        self.clock.advance(0)
        server.doWrite()
        self.assertEqual(sock.sent, [b"a", b"bc"])
        self.assertNotIn(server, self.clock.getWriters())
        server.write(b"d")
        self.assertEqual(sock.sent, [b"a", b"bc", b"d"])

    def test_behind_buffered_bytes(self) -> None:
        """
        While bytes wait, a new turn's write waits behind them (order kept).
        """
        server, sock = connection(self.clock)
        server.write(b"a")
        server.write(b"b")
        self.clock.advance(0)
        server.write(b"c")
        self.assertEqual(sock.sent, [b"a"])
        server.doWrite()
        self.assertEqual(sock.sent, [b"a", b"bc"])

    def test_partial_send_buffers_the_rest(self) -> None:
        server, sock = connection(self.clock)
        sock.room = 3
        server.write(b"abcdef")
        self.assertEqual(sock.sent, [b"abc"])
        self.assertTrue(server.waiting)
        sock.room = None
        server.doWrite()
        self.assertEqual(sock.sent, [b"abc", b"def"])
        self.assertFalse(server.waiting)

    def test_would_block_buffers(self) -> None:
        server, sock = connection(self.clock)
        sock.error = BlockingIOError(errno.EAGAIN, "again")
        server.write(b"abc")
        self.assertEqual(sock.sent, [])
        server.doWrite()
        self.assertEqual(sock.sent, [b"abc"])

    def test_send_error_loses_the_connection_as_twisted_does(self) -> None:
        """
        A reset peer: the bytes go to Twisted's buffer and its next send
        reports the loss (C{doWrite} returns it; the reactor then calls
        C{connectionLost}).
        """
        server, sock = connection(self.clock)
        sock.error = ConnectionResetError(errno.ECONNRESET, "reset")
        server.write(b"abc")
        self.assertTrue(server.waiting)
        sock.error = ConnectionResetError(errno.ECONNRESET, "reset")
        self.assertIsInstance(server.doWrite(), Exception)

    def test_budget_shared_by_the_port(self) -> None:
        """Beyond the port's budget for the turn, first writes are buffered too."""
        port = Port(self.clock, per_turn=2)
        conns = [connection(self.clock, port) for _ in range(3)]
        for server, _ in conns:
            server.write(b"x")
        self.assertEqual([len(sock.sent) for _, sock in conns], [1, 1, 0])
        self.assertIn(conns[2][0], self.clock.getWriters())

    def test_pull_producer_resumed_once_writable(self) -> None:
        """
        A pull producer registered while nothing is buffered is resumed at
        registration (Twisted) and again once the socket is writable, as it
        would be had the last write been buffered; its writes are buffered.
        """
        server, sock = connection(self.clock)
        server.write(b"101")
        producer = Pull()
        server.registerProducer(producer, False)
        self.assertEqual(producer.resumed, 1)
        self.assertIn(server, self.clock.getWriters())
        server.doWrite()
        self.assertEqual(producer.resumed, 2)
        self.clock.advance(0)
        server.write(b"chunk")
        self.assertEqual(b"".join(sock.sent), b"101")  # (and the empty send of that poll)
        server.doWrite()
        self.assertEqual(b"".join(sock.sent), b"101chunk")

    def test_paused_push_producer_buffers(self) -> None:
        server, sock = connection(self.clock)
        server.registerProducer(Push(), True)
        server.producerPaused = True
        server.write(b"x")
        self.assertEqual(sock.sent, [])
        server.producerPaused = False
        self.clock.advance(0)
        server.doWrite()
        self.assertEqual(sock.sent, [b"x"])

    def test_streaming_producer_sends_at_once(self) -> None:
        server, sock = connection(self.clock)
        server.registerProducer(Push(), True)
        server.write(b"x")
        self.assertEqual(sock.sent, [b"x"])

    def test_closing_connection_buffers(self) -> None:
        """After C{loseConnection} a write takes Twisted's path (and is dropped
        or flushed by it as ever)."""
        server, sock = connection(self.clock)
        server.write(b"a")
        server.loseConnection()
        self.clock.advance(0)
        server.write(b"b")
        self.assertEqual(sock.sent, [b"a"])

    def test_not_bytes_refused_as_twisted_does(self) -> None:
        server, _ = connection(self.clock)
        self.assertRaises(TypeError, server.write, "text")  # type: ignore[arg-type]

    def test_sequence_sent_together(self) -> None:
        """C{writeSequence} on an idle connection: one C{sendmsg} of every piece."""
        server, sock = connection(self.clock)
        server.writeSequence([b"head", b"attachment"])
        self.assertEqual((sock.calls, sock.sent), (1, [b"headattachment"]))
        self.assertNotIn(server, self.clock.getWriters())

    def test_sequence_partly_sent(self) -> None:
        server, sock = connection(self.clock)
        sock.room = 6
        server.writeSequence([b"head", b"attachment"])
        self.assertEqual(sock.sent, [b"headat"])
        sock.room = None
        server.doWrite()
        self.assertEqual(b"".join(sock.sent), b"headattachment")

    def test_sequence_errors_as_write(self) -> None:
        """EAGAIN buffers the pieces; a reset buffers them too and Twisted's next
        send reports the loss."""
        server, sock = connection(self.clock)
        sock.error = BlockingIOError(errno.EAGAIN, "again")
        server.writeSequence([b"a", b"b"])
        server.doWrite()
        self.assertEqual(sock.sent, [b"ab"])
        other, sock = connection(self.clock)
        sock.error = ConnectionResetError(errno.ECONNRESET, "reset")
        other.writeSequence([b"a", b"b"])
        self.assertTrue(other.waiting)
        sock.error = ConnectionResetError(errno.ECONNRESET, "reset")
        self.assertIsInstance(other.doWrite(), Exception)

    def test_sequence_behind_buffered_bytes(self) -> None:
        server, sock = connection(self.clock)
        server.write(b"a")
        server.writeSequence([b"b", b"c"])  # the same turn: buffered
        self.assertEqual((sock.calls, sock.sent), (0, [b"a"]))
        server.doWrite()
        self.assertEqual(sock.sent, [b"a", b"bc"])

    def test_empty_write_sends_nothing(self) -> None:
        server, sock = connection(self.clock)
        server.write(b"")
        self.assertEqual(sock.sent, [])
        self.assertNotIn(server, self.clock.getWriters())


class Collector(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self.reads.append(data)


class ReadSizeTests(unittest.SynchronousTestCase):
    """Reads ask for READ_SIZE bytes: a 64 KiB message with its frame headers in one read."""

    def setUp(self) -> None:
        self.sock = FakeSocket()
        self.proto = Collector()
        self.server = EagerServer(self.sock, self.proto, ("127.0.0.1", 4000), Port(MemoryReactorClock()), 1,
                                  MemoryReactorClock())
        self.proto.makeConnection(self.server)

    def test_a_64k_message_and_its_headers_in_one_read(self) -> None:
        """A 64 KiB payload behind a small frame and its own header: one read, one dataReceived
        (Twisted's 64 KiB reads take two)."""
        message = b"h" * 60 + b"x" * 65536
        self.sock.incoming = message
        self.server.doRead()
        self.assertEqual(self.sock.asked, [READ_SIZE])
        self.assertEqual(self.proto.reads, [message])
        self.assertGreater(READ_SIZE, len(message))

    def test_under_the_mmap_threshold(self) -> None:
        """The read buffer (with the bytes object around it) stays under glibc's
        default 128 KiB threshold for allocations served by mmap."""
        self.assertLess(READ_SIZE + 64, 128 * 1024)

    def test_more_than_a_read(self) -> None:
        """What does not fit waits for the next read, in order."""
        data = bytes(range(256)) * ((READ_SIZE // 256) + 10)
        self.sock.incoming = data
        self.server.doRead()
        self.server.doRead()
        self.assertEqual([len(r) for r in self.proto.reads], [READ_SIZE, len(data) - READ_SIZE])
        self.assertEqual(b"".join(self.proto.reads), data)


class ServerEndpointTests(unittest.SynchronousTestCase):
    def test_memory_reactor_is_left_alone(self) -> None:
        """A reactor that is not POSIX's gets C{serverFromString}'s endpoint
        (its own C{listenTCP}); the real one is in tests/interop/test_eager.py."""
        clock = MemoryReactorClock()
        d = server_endpoint(clock, "tcp:8080:interface=127.0.0.1").listen(protocol.Factory())
        self.successResultOf(d)
        self.assertEqual(clock.tcpServers[0][:1], (8080,))
