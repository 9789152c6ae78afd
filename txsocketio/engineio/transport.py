# -*- test-case-name: tests.test_engineio_server -*-
"""The one interface an :class:`~txsocketio.engineio.socket.EngineIOSocket`
sees of its transport, polling or WebSocket.

The socket never asks which transport it has.  It calls these methods; the
transport calls back the socket's public ``receive``, ``lost``, ``flush`` and
``bad_input`` methods when the network says something.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from txsocketio.engineio.message import OutgoingMessage
from txsocketio.engineio.packet import Packet

__all__ = ["Transport", "Outgoing"]

#: what a transport writes: protocol packets, or messages framed once for many
Outgoing = Packet | OutgoingMessage


class Transport(Protocol):
    """A way of carrying one session's packets (see the module docstring)."""

    #: ``"polling"`` or ``"websocket"``
    name: str

    @property
    def writable(self) -> bool:
        """True when :meth:`write` would put packets on the wire now.

        Polling: a GET is pending.  WebSocket: the socket is open and its
        write buffer has room (Twisted has not paused us as its producer).
        """

    @property
    def connected(self) -> bool:
        """True while the underlying connection still has to be closed."""

    def write(self, items: Sequence[Outgoing]) -> int:
        """Write these, in order, while the connection takes them; only called
        while :attr:`writable`.  Returns how many were written: the rest goes
        back to the session, where the outgoing cap counts it (a WebSocket
        stops when Twisted's buffer is full again)."""

    def release(self, packet: Packet) -> None:
        """Answer a pending long-poll with ``packet`` (WebSocket: nothing to do)."""

    def close(self) -> None:
        """The session is done with this transport: say goodbye (a WebSocket
        close frame 1000, or an abort when the reader has stalled)."""

    def abort(self) -> None:
        """Drop the connection now, whatever is still buffered."""
