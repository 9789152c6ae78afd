# -*- test-case-name: tests.test_eager -*-
"""TCP connections that send at once when nothing is waiting.

Twisted's ``transport.write`` only buffers: it registers the socket for
writing (an ``epoll_ctl``), and the bytes leave when the reactor next polls,
which then unregisters it (another ``epoll_ctl``).  A Socket.IO server
answers most reads with one small write, so that is three system calls and
a reactor turn where one ``send`` would do; Node (libuv's ``uv_try_write``)
and asyncio send at once when nothing is buffered.

:class:`EagerServer` is a ``twisted.internet.tcp.Server`` that does the
same, once per connection and reactor turn and for at most
:data:`SENDS_PER_TURN` connections of a port per turn: the first write of a
turn to an idle connection is sent at once, and what follows in the same
turn (a handler's second emit, the rest of a large broadcast loop) is
buffered and leaves in one ``send`` per connection at the next poll, as
before.  A partial send buffers the
rest; ``writeSequence`` sends its pieces with one ``sendmsg``.  Everything
else (a pull or paused producer, TLS, a closing connection) is Twisted's
own path.  Reads ask for :data:`READ_SIZE` bytes instead of Twisted's 64 KiB,
so a 64 KiB message and its frame headers arrive in one read (one reactor
event, one ``recv``) rather than two.

:func:`server_endpoint` is ``serverFromString`` with TCP ports made of such
connections (``tcp:`` and ``tcp6:`` on a POSIX reactor; other endpoints and
reactors are Twisted's own).  :class:`txsocketio.SocketIOService` and
``twistd txsocketio`` listen through it.
"""

from __future__ import annotations

from errno import EAGAIN, EINTR, ENOBUFS, EWOULDBLOCK
from typing import Any, Iterable

from twisted.internet import tcp
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.internet.posixbase import PosixReactorBase

__all__ = ["EagerServer", "EagerPort", "TurnBudget", "server_endpoint", "SENDS_PER_TURN", "READ_SIZE"]

#: writes a port's connections send at once per reactor turn (see :class:`TurnBudget`)
SENDS_PER_TURN = 256

#: bytes one read asks for: a 64 KiB message and its frame headers (a binary
#: attachment in 64 KiB chunks) fit in one read, where Twisted's 64 KiB takes
#: two reads and two reactor events; under glibc's default threshold (128 KiB)
#: for serving an allocation by ``mmap``, which would cost two system calls
#: per read (``recv`` allocates the whole size, then shrinks it to what came)
READ_SIZE = 126 * 1024

_RETRY_LATER = (EAGAIN, EWOULDBLOCK, ENOBUFS, EINTR)
#: pieces one ``sendmsg`` takes from :meth:`EagerServer.writeSequence` (well under IOV_MAX)
_MAX_PIECES = 64


class TurnBudget:
    """How many writes may still leave at once in this turn of the reactor.

    A large fan-out writes to thousands of connections in one turn: the
    first ``per_turn`` go out at once (the first recipients get their bytes
    while the loop runs); the rest are buffered and leave in one ``send``
    per connection at the next poll, the cheapest way to deliver many small
    messages.  :attr:`turn` numbers the turns (it changes once the reactor
    regains control after a :meth:`take`).
    """

    def __init__(self, reactor: Any, per_turn: int) -> None:
        self._reactor = reactor
        self._per_turn = per_turn
        self._left = per_turn
        #: the number of the turn being run
        self.turn = 0

    def take(self) -> bool:
        """True (and one fewer left) while this turn's budget lasts."""
        left = self._left
        if left <= 0:
            return False
        if left == self._per_turn:
            self._reactor.callLater(0, self._next_turn)
        self._left = left - 1
        return True

    def _next_turn(self) -> None:
        self._left = self._per_turn
        self.turn += 1


class EagerServer(tcp.Server):
    """A server connection whose first write of a turn is sent at once."""

    #: writes leave without being pushed (the WebSocket protocol's ``push``)
    sends_at_once = True
    #: registered with the reactor for writing (something is buffered or a close waits)
    waiting = False
    #: the turn of the last write sent at once
    sent_in_turn = -1
    #: bytes asked of the socket per read (Twisted's: 64 KiB; see READ_SIZE)
    bufferSize = READ_SIZE

    def startWriting(self) -> None:
        self.waiting = True
        tcp.Server.startWriting(self)

    def stopWriting(self) -> None:
        self.waiting = False
        tcp.Server.stopWriting(self)

    def write(self, data: bytes) -> None:
        if self.waiting or type(data) is not bytes or not data or not self._may_send_now():
            tcp.Server.write(self, data)  # behind buffered bytes, or Twisted's own case
            return
        self._send_now(self.socket.send, data, [data])

    def writeSequence(self, iovec: Iterable[bytes]) -> None:
        """As :meth:`write`, the pieces sent together with one ``sendmsg``."""
        if not isinstance(iovec, list):
            iovec = list(iovec)
        if (self.waiting or not 1 < len(iovec) <= _MAX_PIECES
                or not all(type(piece) is bytes for piece in iovec) or not self._may_send_now()):
            tcp.Server.writeSequence(self, iovec)
            return
        self._send_now(self.socket.sendmsg, iovec, iovec)

    def _send_now(self, send: Any, argument: Any, pieces: list[bytes]) -> None:
        """``send(argument)``; what the socket does not take goes to Twisted's buffer."""
        try:
            sent = send(argument)
        except OSError as e:
            # EAGAIN and the like: buffer it all.  Anything else: Twisted's
            # path buffers it (or drops it after a half-close) and its next
            # send meets the error and loses the connection as it always does.
            if e.errno not in _RETRY_LATER:
                tcp.Server.writeSequence(self, pieces)
                return
            sent = 0
        total = len(pieces[0]) if len(pieces) == 1 else sum(len(piece) for piece in pieces)
        if sent < total:
            tcp.Server.write(self, (pieces[0] if len(pieces) == 1 else b"".join(pieces))[sent:])

    def _may_send_now(self) -> bool:
        """Nothing stands in the way of a send now, and this turn allows it."""
        producer = self.producer
        if (self.TLS or not self.connected or self.disconnecting
                or (producer is not None and (not self.streamingProducer or self.producerPaused))):
            return False
        budget: TurnBudget = self.server.budget  # type: ignore[attr-defined]  # an EagerPort's
        if self.sent_in_turn == budget.turn or not budget.take():
            return False  # this turn's later writes leave together
        self.sent_in_turn = budget.turn
        return True

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """As Twisted's, and a pull producer is resumed again once writable.

        Twisted resumes a pull producer at registration and whenever its
        buffer empties; with writes sent at once a buffer may never fill, so
        one write-readiness poll stands in for the write that was not buffered.
        """
        tcp.Server.registerProducer(self, producer, streaming)
        if not streaming and self.producer is producer and not self.waiting:
            self.startWriting()


class EagerPort(tcp.Port):
    """A TCP port whose connections are :class:`EagerServer` s."""

    transport = EagerServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the writes its connections may send at once in this turn
        self.budget = TurnBudget(self.reactor, SENDS_PER_TURN)


class _EagerListening:
    """A reactor whose ``listenTCP`` makes an :class:`EagerPort`; the rest is the reactor's."""

    def __init__(self, reactor: PosixReactorBase) -> None:
        self._reactor = reactor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> EagerPort:
        listening = EagerPort(port, factory, backlog, interface, self._reactor)
        listening.startListening()
        return listening


def server_endpoint(reactor: Any, description: str) -> IStreamServerEndpoint:
    """``serverFromString(reactor, description)``, its TCP connections :class:`EagerServer` s."""
    if isinstance(reactor, PosixReactorBase):
        return serverFromString(_EagerListening(reactor), description)
    return serverFromString(reactor, description)
