# -*- test-case-name: tests.test_engineio_server -*-
"""One client's Engine.IO session, as the application and the transports see it.

An :class:`EngineIOSocket` joins three things: the pure
:class:`~txsocketio.engineio.session.Session` (every protocol rule), one
:class:`~txsocketio.engineio.transport.Transport` (polling or WebSocket; the
socket never asks which) plus, during an upgrade, the probe WebSocket, and
the one timer the session asks for.  Transports report what the network did
through the public methods under "transport side"; after every call the
socket drains the session's events to the application and writes what can
be written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from twisted.internet.interfaces import IDelayedCall

from txsocketio.engineio.handshake import Handshake
from txsocketio.engineio.message import OutgoingMessage
from txsocketio.engineio.packet import Packet, PacketType
from txsocketio.engineio.session import (
    MessageReceived,
    Session,
    SessionClosed,
    SessionState,
    UpgradeExpired,
)
from txsocketio.engineio.transport import Outgoing, Transport
from txsocketio.errors import ProtocolError
from txsocketio.logs import Logger

if TYPE_CHECKING:
    from txsocketio.engineio.server import EngineIOServer

__all__ = ["EngineIOSocket"]

log = Logger(namespace="txsocketio.engineio")

# The members each message's way compares with, as module constants:
# before Python 3.12 reading a member through its class goes through
# EnumType's __getattr__ hook (~70 ns; a global, ~7 ns).
_MESSAGE = PacketType.MESSAGE
_OPEN = SessionState.OPEN


class EngineIOSocket:
    """One client's Engine.IO session (see the module docstring)."""

    def __init__(self, server: "EngineIOServer", session: Session, handshake: Handshake,
                 *, b64: bool = False) -> None:
        self.server = server
        self.session = session
        self.handshake = handshake
        self.b64 = b64
        #: free for the layer above (Socket.IO keeps its client state here)
        self.context: Any = None
        self._transport: Transport | None = None
        self._probe: Transport | None = None
        self._closing: list[Transport] = []
        self._timer: IDelayedCall | None = None
        self._grace: IDelayedCall | None = None
        self._deadline: float | None = None
        self._torn_down = False
        #: broadcast messages waiting in the session's outbox (which holds
        #: their packets), by packet identity: when they are written, each
        #: recipient gets the one shared frame instead of its own copy
        self._queued_messages: dict[int, OutgoingMessage] = {}

    # -- the application's side -------------------------------------------------

    @property
    def sid(self) -> str:
        return self.session.sid

    @property
    def protocol(self) -> int:
        """Engine.IO protocol version: 4, or 3 for ``allow_eio3`` clients."""
        return self.session.version

    @property
    def transport(self) -> str:
        return self.session.transport

    @property
    def carrier(self) -> Transport | None:
        """The transport carrying the session now (None once it is over)."""
        return self._transport

    @property
    def closed(self) -> bool:
        return self.session.state is not SessionState.OPEN

    @property
    def writable(self) -> bool:
        """True when a message sent now goes out at once (volatile emits are
        dropped otherwise: no GET pending, or a WebSocket whose reader lags)."""
        transport = self._transport
        return (self.session.state is SessionState.OPEN and transport is not None
                and transport.writable)

    def send(self, data: "str | bytes | OutgoingMessage") -> None:
        """Send one message (text or binary) to the client."""
        self.send_many([data])

    def send_many(self, messages: Sequence["str | bytes | OutgoingMessage"]) -> None:
        """Send several messages; on polling they go out in one response."""
        session = self.session
        if session.state is not _OPEN:
            return
        items = [m if isinstance(m, OutgoingMessage) else Packet(_MESSAGE, m)
                 for m in messages]
        transport = self._transport
        if transport is not None and transport.writable:
            self._write(transport, self._take_outbox() + items if session.outbox else items)
            if session.outbox:
                self._step()  # some went back to the session: the drain deadline may be armed
            return
        now = self._now()
        queued = self._queued_messages
        for item in items:
            if isinstance(item, OutgoingMessage):
                queued[id(item.packet)] = item  # the item keeps the packet (and its id) alive
                session.send(item.packet, now)
            else:
                session.send(item, now)
        self._step()

    def close(self, reason: str = "forced close", *, linger: float | None = None) -> None:
        """End the session; the client is told with a CLOSE packet.

        ``linger``: how long to wait for a chance to write it (the next GET
        of a polling client), ``ping_timeout`` by default.
        """
        self.session.close(reason, self._now(), linger=linger)
        self._step()

    # -- the transports' side ----------------------------------------------------

    def attach(self, transport: Transport) -> None:
        """``transport`` carries this session from now on."""
        self._transport = transport
        self._step()

    def flush(self) -> None:
        """Write whatever is queued, if the transport can take it now (a
        transport that becomes writable calls this)."""
        self._step()

    def _write_queued(self) -> None:
        session = self.session
        transport = self._transport
        if not session.outbox or transport is None or not transport.writable:
            return
        if self._write(transport, self._take_outbox()) and session.state is SessionState.CLOSING:
            session.closed_after_flush()

    def _write(self, transport: Transport, items: list[Outgoing]) -> bool:
        """Hand ``items`` to the transport; what it does not take goes back,
        first in line, to the session.  True if everything was written."""
        while True:
            written = transport.write(items)
            if written >= len(items):
                return True
            items = items[written:]
            # Writing may have drained Twisted's buffer at once (the push to
            # the kernel), resuming us inside write(): then go on, as no
            # further resume will come.
            if not written or not transport.writable:
                break
        rest = items
        queued = self._queued_messages
        packets = []
        for item in rest:
            if isinstance(item, OutgoingMessage):
                queued[id(item.packet)] = item
                packets.append(item.packet)
            else:
                packets.append(item)
        self.session.requeue(packets, self._now())
        return False

    def _take_outbox(self) -> list[Outgoing]:
        """The session's outbox, each queued broadcast message in place of its packet.

        A 100 kB tick queued for 20 paused readers is then written as one
        frame shared by 20 transports, not framed again 20 times.
        """
        packets = self.session.take_outbox()
        queued, self._queued_messages = self._queued_messages, {}
        if not queued:
            return list(packets)
        out: list[Outgoing] = []
        for packet in packets:
            message = queued.get(id(packet))
            out.append(message if message is not None and message.packet is packet else packet)
        return out

    def receive(self, transport: Transport, packets: Iterable[Packet]) -> None:
        """Packets arrived on ``transport`` (the session's, or the upgrade probe)."""
        if transport is self._probe:
            for packet in packets:
                self._probe_packet(transport, packet)
            return
        if transport is not self._transport:
            return
        session = self.session
        now = self._now()
        only_messages = True
        for packet in packets:
            if packet.type is not _MESSAGE:
                only_messages = False
            try:
                session.receive(packet, now)
            except ProtocolError as e:
                log.info("session {sid}: {error}; closing", sid=self.sid, error=e,
                         remote=self.handshake.remote)
                session.protocol_violation()
            # Each message reaches the application before the next is read:
            # a handler may close the session in the middle of a payload.
            self._dispatch()
            if session.state is not _OPEN:
                break
        # A MESSAGE only queues an event (dispatched above); what the
        # application did meanwhile (send, close) has stepped already.
        if not only_messages or session.state is not _OPEN:
            self._step()

    def bad_input(self, transport: Transport, error: Exception) -> None:
        """``transport`` got something undecodable: ``"parse error"`` (on the
        probe socket, the upgrade is abandoned instead)."""
        if transport is self._probe:
            self._drop_probe(f"bad upgrade ({error})")
        elif transport is self._transport:
            log.info("session {sid}: undecodable input ({error}); closing", sid=self.sid, error=error,
                     remote=self.handshake.remote)
            self.session.protocol_violation()
        self._step()

    def lost(self, transport: Transport, *, failed_by_server: bool = False) -> None:
        """``transport``'s connection went away; ``failed_by_server``: the
        framing layer cut it because of the client (``"transport error"``)."""
        if transport in self._closing:
            self._closing.remove(transport)
            self._maybe_gone()
        if transport is self._transport:
            self.session.connection_lost(failed_by_server)
        elif transport is self._probe:
            self._probe = None
            self.session.upgrade_failed()
        self._step()

    def poll_started(self) -> bool:
        """A long-poll GET arrived; False if one was already pending (the
        session then closes and the new GET gets a 400).  Once the GET is
        held, call :meth:`flush` (it writes what waits and re-arms the timer)."""
        ok = self.session.poll_started(self._now())
        if not ok:
            self._step()
        return ok

    def poll_ended(self) -> None:
        """The pending long-poll has been answered."""
        self.session.poll_ended(self._now())

    def post_received(self, size: int) -> bool:
        """A POST of ``size`` bytes arrived; False if too large (closed)."""
        ok = self.session.post_received(size)
        if not ok:
            self._step()  # closed; a POST within the limit changes nothing
        return ok

    def probe_opened(self, transport: Transport) -> bool:
        """A WebSocket arrived to upgrade this session; False: refuse it."""
        if not self.session.can_upgrade():
            return False
        self._probe = transport
        self.session.upgrade_started(self._now())
        self._arm_timer()
        return True

    # -- internals -----------------------------------------------------------------

    def _now(self) -> float:
        return self.server.reactor.seconds()

    def _probe_packet(self, transport: Transport, packet: Packet) -> None:
        session = self.session
        try:
            answer = session.receive_on_probe(packet, self._now())
        except ProtocolError as e:
            self._drop_probe(f"bad upgrade ({e})")
        else:
            if answer is not None:
                transport.write([answer])
            elif session.transport == "websocket" and self._probe is transport:
                old, self._transport, self._probe = self._transport, transport, None
                if old is not None:
                    old.release(Packet(PacketType.NOOP))
                    old.close()
                log.debug("session {sid} upgraded to websocket", sid=self.sid,
                          remote=self.handshake.remote)
                self.server.deliver_upgrade(self)
        self._step()

    def _drop_probe(self, why: str) -> None:
        probe, self._probe = self._probe, None
        self.session.upgrade_failed()
        if probe is not None:
            log.info("session {sid}: {why}; dropping the probe socket", sid=self.sid, why=why,
                     remote=self.handshake.remote)
            self._close_transport(probe)

    def _step(self) -> None:
        """After any call: write, tell the application, tidy up, re-arm the timer."""
        # Flush first: writing a CLOSING session's CLOSE packet finishes it.
        self._write_queued()
        self._dispatch()
        session = self.session
        if session.state is SessionState.CLOSED:
            self._teardown()
            return
        release = session.poll_release
        if release is not None and self._transport is not None:
            self._transport.release(release)
        self._arm_timer()

    def _dispatch(self) -> None:
        server = self.server
        session = self.session
        while (event := session.next_event()) is not None:
            if isinstance(event, MessageReceived):
                server.deliver_message(self, event.data)
            elif isinstance(event, SessionClosed):
                log.debug("session {sid} closed: {reason}", sid=self.sid, reason=event.reason,
                          remote=self.handshake.remote)
                server.deliver_disconnect(self, event.reason)
            elif isinstance(event, UpgradeExpired):
                self._drop_probe("upgrade timed out")

    def _teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        self.server.session_closed(self)
        for call in (self._timer, self._grace):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._grace = None
        self._queued_messages = {}
        release = self.session.poll_release
        for transport in (self._transport, self._probe):
            if transport is not None:
                if release is not None:
                    transport.release(release)
                self._close_transport(transport)
        self._transport = self._probe = None
        self._maybe_gone()

    def _close_transport(self, transport: Transport) -> None:
        transport.close()
        if transport.connected and transport not in self._closing:
            self._closing.append(transport)

    def _maybe_gone(self) -> None:
        if not self._closing and self.session.state is SessionState.CLOSED:
            self.server.session_gone(self)

    def abort(self) -> None:
        """End the session and drop every connection it still has, whatever
        is buffered (a shutdown ran out of time)."""
        self.session.transport_lost("transport close")
        self._step()
        for transport in list(self._closing):
            transport.abort()
        self._closing.clear()
        self._maybe_gone()

    # -- the one timer ----------------------------------------------------------------

    def _arm_timer(self) -> None:
        if self._grace is not None:
            return  # _on_timer runs in a moment and re-arms
        deadline = self.session.next_deadline()
        timer = self._timer
        if deadline == self._deadline and timer is not None and timer.active():
            return
        self._deadline = deadline
        if timer is not None and timer.active():
            if deadline is None:
                timer.cancel()
                self._timer = None
            else:
                timer.reset(max(0.0, deadline - self._now()))
            return
        if deadline is not None:
            self._timer = self.server.reactor.callLater(max(0.0, deadline - self._now()),
                                                      self._on_deadline)

    def _on_deadline(self) -> None:
        # Look at the network once more before acting: after a long busy turn
        # of the reactor the awaited pong may already sit in the socket, and
        # timers run before I/O is read.  A zero-delay call runs after the
        # next poll for I/O.
        self._timer = None
        self._grace = self.server.reactor.callLater(0, self._on_timer)

    def _on_timer(self) -> None:
        self._grace = None
        self._timer = None
        self._deadline = None
        self.session.handle_timer(self._now())
        self._step()
