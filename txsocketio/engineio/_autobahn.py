# -*- test-case-name: tests.test_engineio_websocket -*-
"""The Autobahn internals txsocketio depends on, kept in one place.

Autobahn does the WebSocket framing.  Its public API misses four things we
need, so this module uses its internals, and says why next to each:

* its handshake timers run on txaio's *global* reactor: :func:`use_reactor`
  puts them on the reactor the server was given (so tests can drive them);
* its ``sendMessage`` formats a debug log line per frame and applies the
  *incoming* size limit to outgoing messages: :class:`FramingProtocol` writes
  prepared frames itself;
* its ``onMessageEnd`` fires txaio observers per message (a Deferred each);
* it does not cancel its closing-handshake timer when the connection goes
  first.

Everything else in :mod:`txsocketio.engineio.websocket` uses public API.
"""

from __future__ import annotations

from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.protocol import PreparedMessage
from twisted.internet.error import AlreadyCalled, AlreadyCancelled
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

__all__ = ["FramingProtocol", "use_reactor"]


class _ReactorTimer:
    """txaio's ``IBatchedTimer`` on a given reactor."""

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def call_later(self, delay: float, func: Any, *args: Any, **kwargs: Any) -> Any:
        return self._reactor.callLater(delay, func, *args, **kwargs)


def use_reactor(factory: WebSocketServerFactory, reactor: Any) -> None:
    """Time the factory's opening and closing handshakes on ``reactor``."""
    factory._batched_timer = _ReactorTimer(reactor)


class FramingProtocol(WebSocketServerProtocol):
    """Autobahn's server protocol with the sending and cleanup fixes above."""

    @property
    def can_send(self) -> bool:
        """True while messages can be sent (the closing handshake has not begun)."""
        return self.state == self.STATE_OPEN

    @property
    def failed_by_server(self) -> bool:
        """Autobahn failed the connection because of the peer (1002/1007/1009)."""
        return bool(self.failedByMe)

    def send_frame(self, payload: bytes, is_binary: bool) -> bool:
        """Send one message if the socket is open; False (and nothing sent) if not.

        Between the peer's close frame and the loss of the connection the
        session may still hold this socket; a send then is dropped instead of
        raising autobahn's ``Disconnected`` into the caller.
        """
        if self._perMessageCompress is None:
            return self.send_prepared(PreparedMessage(payload, is_binary, False, False))
        if self.state != self.STATE_OPEN:
            return False
        self._send_compressed(payload, is_binary)
        return True

    def send_prepared(self, message: PreparedMessage) -> bool:
        """Send a message framed once for many sockets; see :meth:`send_frame`."""
        if self.state != self.STATE_OPEN:
            return False
        if self._perMessageCompress is None or message.doNotCompress:
            if self.send_queue:
                self.sendData(message.payloadHybi)
            else:
                assert self.transport is not None  # the connection is open
                self.transport.write(message.payloadHybi)
            return True
        self._send_compressed(message.payload, message.binary)
        return True

    def _send_compressed(self, payload: bytes, is_binary: bool) -> None:
        # ``maxMessagePayloadSize`` is our limit for what the client sends
        # (Node's ``maxHttpBufferSize``); autobahn also applies it to outgoing
        # messages, which Node does not, so it is lifted while sending.
        limit: int = self.maxMessagePayloadSize  # type: ignore[has-type]  # set by autobahn at connect
        self.maxMessagePayloadSize = 0
        try:
            self.sendMessage(payload, is_binary)
        finally:
            self.maxMessagePayloadSize = limit

    def onMessageEnd(self) -> None:
        # As autobahn's, without firing its "message" observers through txaio.
        if not self.failedByMe:
            self._onMessage(b"".join(self.message_data), self.message_is_binary)
        self.message_data = None  # type: ignore[assignment]  # autobahn's own idle value

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        # Autobahn does not cancel its closing-handshake timeout when the
        # connection goes first (it happens when it fails a connection twice,
        # e.g. on invalid UTF-8): do it, so no timer outlives the socket.
        call, self.closeHandshakeTimeoutCall = self.closeHandshakeTimeoutCall, None
        if call is not None:
            try:
                call.cancel()
            except (AlreadyCalled, AlreadyCancelled):
                pass
