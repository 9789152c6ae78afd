# -*- test-case-name: tests.test_engineio_websocket -*-
"""The Autobahn internals txsocketio depends on, kept in one place.

Autobahn does the WebSocket framing.  Its public API misses a few things we
need, so this module uses its internals, and says why next to each:

* its handshake timers run on txaio's *global* reactor: :func:`use_reactor`
  puts them on the reactor the server was given (so tests can drive them);
* its ``sendMessage`` formats a debug log line per frame and applies the
  *incoming* size limit to outgoing messages: :class:`FramingProtocol` writes
  prepared frames itself;
* its ``onMessageEnd`` fires txaio observers per message (a Deferred each);
* it does not cancel its closing-handshake timer when the connection goes
  first;
* per connection it copies ~40 options from the factory onto the protocol
  instance and ``pformat``\s them all for a debug line (about a sixth of the
  CPU of a connect): :func:`configured_protocol` puts the options on a class
  instead, so nothing is copied or formatted;
* Twisted's ``transport.write`` only buffers until the reactor regains
  control: on a connection that does not send at once itself
  (:mod:`txsocketio.eager`), :meth:`FramingProtocol.push` writes the first
  frames of a turn through the connection's ``doWrite``;
* its ``dataReceived`` formats debug-log arguments (``hltype``/``hlval``) on
  every read, even with debug off: :class:`FramingProtocol` skips that line;
* it runs every frame through its general machinery (a ``FrameHeader``, a
  masker object, the begin/data/end callbacks, a UTF-8 validator object, the
  message lists), which is most of its cost for the small messages Socket.IO
  sends: :meth:`FramingProtocol.take_frames` reads unfragmented, masked
  frames itself (complete text frames under 64 KiB; binary frames of any
  length within the limits, also when they arrive in pieces) and leaves every
  other byte (control frames, fragments, anything odd or over a limit, what
  follows a close) to Autobahn, untouched;
* its NVX masker object is built per frame and copies the payload into a
  fresh zeroed buffer and out again, after a join of the pieces:
  :func:`_unmask_pieces` calls the same native code (autobahn's cffi module
  ``_nvx_xormasker``, where autobahn itself uses it) on one buffer the pieces
  are copied into, and falls back to autobahn's masker otherwise.

Everything else in :mod:`txsocketio.engineio.websocket` uses public API.
"""

from __future__ import annotations

import struct
from types import FunctionType
from typing import Any, Sequence, TypeVar, cast

import attrs
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.protocol import PreparedMessage
from autobahn.websocket.xormasker import create_xor_masker
from twisted.internet.error import AlreadyCalled, AlreadyCancelled
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from txsocketio.eager import TurnBudget

__all__ = ["FramingProtocol", "configured_protocol", "frame_pieces", "use_reactor"]


class _ReactorTimer:
    """txaio's ``IBatchedTimer`` on a given reactor."""

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def call_later(self, delay: float, func: Any, *args: Any, **kwargs: Any) -> Any:
        return self._reactor.callLater(delay, func, *args, **kwargs)


def use_reactor(factory: WebSocketServerFactory, reactor: Any) -> None:
    """Time the factory's opening and closing handshakes on ``reactor``."""
    # Autobahn has no public way to give a factory its clock: it reads this
    # attribute (txaio's batched timer) for the handshake timeouts.  Without
    # it they would run on the global reactor, not the one passed in.
    factory._batched_timer = _ReactorTimer(reactor)


_P = TypeVar("_P", bound=WebSocketServerProtocol)


def configured_protocol(factory: WebSocketServerFactory, base: type[_P], **extra: Any) -> type[_P]:
    """A subclass of ``base`` carrying ``factory``'s options as class attributes.

    Autobahn's ``_connectionMade`` copies each name of ``CONFIG_ATTRS`` the
    instance lacks from the factory, then ``pformat``\s the whole list for a
    debug line; options already on the class are what it documents as set on
    the protocol.  With ``CONFIG_ATTRS`` empty it copies and formats nothing,
    and every instance reads the same values through its class (less memory
    per connection).  ``extra``: more class attributes.  Call it after the
    last ``setProtocolOptions``.
    """
    options = {name: getattr(factory, name) for name in base.CONFIG_ATTRS}
    for name, value in options.items():
        if isinstance(value, FunctionType):  # a callback option: not a method
            options[name] = staticmethod(value)
    namespace = {**options, **extra, "CONFIG_ATTRS": (), "__module__": base.__module__,
                 "__doc__": base.__doc__}
    return cast("type[_P]", type(base.__name__, (base,), namespace))


@attrs.define
class _PartialFrame:
    """A plain binary frame being read: its mask, payload length, header
    length, the payload's pieces so far and the bytes still missing."""

    mask: bytes
    length: int
    header: int
    pieces: list[bytes | memoryview]
    missing: int


def _plain_header(data: bytes, at: int) -> tuple[int, int] | None:
    """Where the payload of the frame at ``data[at]`` begins (an index into
    ``data``), and its length, if the frame is one
    :meth:`FramingProtocol.take_frames` reads: FIN, no RSV bits, text or
    binary, masked, the length in minimal encoding (64-bit lengths for binary
    frames only).  None for anything else, and for a header not complete in
    ``data``."""
    first, second = data[at], data[at + 1]
    if (first != 0x81 and first != 0x82) or second < 0x80:
        return None  # fragmented, control, RSV, another opcode, unmasked
    length = second & 0x7F
    if length < 126:
        return at + 6, length
    if length == 126 and len(data) - at >= 8:
        length = (data[at + 2] << 8) | data[at + 3]
        return None if length < 126 else (at + 8, length)  # not minimal: Autobahn fails it
    if length == 127 and len(data) - at >= 14 and first == 0x82:
        length = int.from_bytes(data[at + 2:at + 10], "big")
        if length < 0x10000 or length >= 1 << 63:
            return None  # not minimal, or the top bit set: Autobahn fails it
        return at + 14, length
    return None  # its header not here yet, or a long text frame: Autobahn's


def _count_frame(stats: Any, wire: int, length: int) -> None:
    """Autobahn's traffic counts for one frame that is one message."""
    stats.incomingOctetsWireLevel += wire
    stats.incomingOctetsWebSocketLevel += length
    stats.incomingOctetsAppLevel += length
    stats.incomingWebSocketFrames += 1
    stats.incomingWebSocketMessages += 1


def _native_xor() -> tuple[Any, Any] | None:
    """Autobahn's native XOR masker, its cffi ``(ffi, lib)``, where Autobahn uses it."""
    try:
        from autobahn.websocket import USES_NVX
    except ImportError:  # Autobahn before 25 (the one for Python 3.10) has no NVX masker
        return None
    if not USES_NVX:
        return None
    try:
        from _nvx_xormasker import ffi, lib  # type: ignore[import-not-found]  # autobahn.nvx's cffi module
    except ImportError:  # pragma: no cover - USES_NVX says it is built
        return None
    return ffi, lib


#: NVX's masker as cffi ``(ffi, lib)``, None without it
_NVX = _native_xor()
#: a cffi buffer not zeroed first (every byte is written before it is read)
_new_buffer = None if _NVX is None else _NVX[0].new_allocator(should_clear_after_alloc=False)
#: from this length on, a payload in one piece is unmasked natively too
_NATIVE_FROM = 512


def _unmask_native(mask: bytes, pieces: Sequence[bytes | memoryview], length: int) -> bytes:
    """Unmask a payload of ``length`` bytes that comes in ``pieces``, by NVX.

    Autobahn's masker object is built per frame and copies its input into a
    new (zeroed) buffer and out again, after a join of the pieces: here the
    pieces are copied once into one buffer, unmasked in place, and copied out.
    """
    assert _NVX is not None and _new_buffer is not None
    ffi, lib = _NVX
    buffer = _new_buffer("uint8_t[]", length)
    at = 0
    for piece in pieces:
        n = len(piece)
        if at + n > length:
            raise ValueError("the pieces are longer than the payload")
        ffi.memmove(buffer + at, piece, n)
        at += n
    if at != length:  # the buffer is not zeroed: never hand out what was not written
        raise ValueError("the pieces are shorter than the payload")
    masker = lib.nvx_xormask_new(mask)
    if masker == ffi.NULL:
        raise MemoryError
    try:
        lib.nvx_xormask_process(masker, buffer, length)
    finally:
        lib.nvx_xormask_free(masker)
    return ffi.buffer(buffer, length)[:]


def _unmask_joined(mask: bytes, pieces: Sequence[bytes | memoryview], length: int) -> bytes:
    """:func:`_unmask_native` by Autobahn's masker, for where NVX is not used."""
    return create_xor_masker(mask, length).process(b"".join(pieces))


#: unmask a payload from its pieces (NVX in place where Autobahn uses it)
_unmask_pieces = _unmask_joined if _NVX is None else _unmask_native


def _unmask(data: bytes, start: int, length: int) -> bytes:
    """The payload of the frame complete in ``data`` whose payload starts at
    ``data[start]`` (its 4-byte mask just before it), unmasked."""
    if length >= _NATIVE_FROM and _NVX is not None:
        return _unmask_native(data[start - 4:start], (memoryview(data)[start:start + length],), length)
    if not length:
        return b""
    mask = data[start - 4:start] * ((length >> 2) + 1)
    return (int.from_bytes(data[start:start + length], "big") ^ int.from_bytes(mask[:length], "big")).to_bytes(
        length, "big")


def frame_pieces(payload: bytes, is_binary: bool) -> list[bytes]:
    """One unfragmented, unmasked, uncompressed server frame (RFC 6455 5.2),
    the bytes of autobahn's ``PreparedMessage`` without building the object:
    one piece, or for a large payload its header and the payload itself (not
    copied; :meth:`FramingProtocol.write_frames` hands both to one ``sendmsg``)."""
    first = 0x82 if is_binary else 0x81
    n = len(payload)
    if n < 126:
        return [bytes((first, n)) + payload]
    header = _pack_short(first, 126, n) if n < 0x10000 else _pack_long(first, 127, n)
    if n < _SEPARATE_PAYLOAD:
        return [header + payload]
    return [header, payload]


#: from this size on a payload is not copied behind its frame header
_SEPARATE_PAYLOAD = 4096
_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack


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

    #: the server's :class:`~txsocketio.eager.TurnBudget`; None: writes wait for the reactor
    push_budget: "TurnBudget | None" = None

    def push(self) -> None:
        """Hand what this connection has buffered to the kernel now.

        Twisted's ``transport.write`` only buffers; the bytes leave when the
        reactor next polls, i.e. after the whole handler (a broadcast loop to
        thousands of sockets) has run.  Within the budget of the reactor turn
        this calls the connection's ``doWrite`` (``IWriteDescriptor``) at
        once, as the reactor would; beyond it, writes stay batched.  A
        connection that ``sends_at_once`` (:class:`txsocketio.eager.EagerServer`)
        needs no push.
        """
        transport = self.transport
        budget = self.push_budget
        do_write = getattr(transport, "doWrite", None)
        if (budget is None or do_write is None or getattr(transport, "disconnecting", True)
                or getattr(transport, "sends_at_once", False) or not budget.take()):
            return
        do_write()

    @property
    def frames_are_plain(self) -> bool:
        """Frames are written as built (no compression, nothing queued in autobahn)."""
        return self._perMessageCompress is None and not self.send_queue

    def write_frames(self, frames: list[bytes]) -> bool:
        """Write complete frames (:func:`frame_pieces`) together, if the socket is open."""
        if self.state != self.STATE_OPEN:
            return False
        assert self.transport is not None  # the connection is open
        if len(frames) == 1:
            self.transport.write(frames[0])
        else:
            self.transport.writeSequence(frames)
        return True

    def send_frame(self, payload: bytes, is_binary: bool) -> bool:
        """Send one message if the socket is open; False (and nothing sent) if not.

        Between the peer's close frame and the loss of the connection the
        session may still hold this socket; a send then is dropped instead of
        raising autobahn's ``Disconnected`` into the caller.
        """
        if self.state != self.STATE_OPEN:
            return False
        if self._perMessageCompress is None:
            pieces = frame_pieces(payload, is_binary)
            if self.send_queue:
                self.sendData(b"".join(pieces))
                return True
            return self.write_frames(pieces)
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

    #: a plain binary frame whose payload is arriving in pieces (see :meth:`take_frames`)
    partial_frame: "_PartialFrame | None" = None

    def dataReceived(self, data: bytes) -> None:
        # As autobahn's, without the debug line whose arguments it builds
        # (``hltype``/``hlval``) on every read even when debug is off.
        if self.partial_frame is not None:
            data = self._continue_frame(data)
            if not data:
                return
        if (self.state == self.STATE_OPEN and not self.data and self.current_frame is None
                and not self.inside_message and self._perMessageCompress is None and self.applyMask
                and not (self.logOctets or self.logFrames or self.trackedTimings)):
            data = self.take_frames(data)
            if not data:
                return
        self._dataReceived(data)

    def take_frames(self, data: bytes) -> bytes:
        """Deliver the plain data frames at the start of ``data``; return the rest.

        A plain frame: FIN, no RSV bits, text or binary, masked, its length
        in minimal encoding and within the size limits; a text frame under
        64 KiB, complete in ``data`` and valid UTF-8.  A binary frame whose
        header is here but not all of its payload (a 64 KiB attachment
        arrives in two reads) is kept in :attr:`partial_frame` until it is
        complete.  They are what Autobahn would deliver, with the same
        traffic counts; the first byte of anything else is left for
        Autobahn, which applies every rule.  ``data`` is read in place (by
        offset), not cut after each frame.
        """
        stats = self.trafficStats
        # Options autobahn sets on the protocol (here: on its class) at connect.
        message_limit: int = self.maxMessagePayloadSize
        frame_limit: int = self.maxFramePayloadSize  # type: ignore[attr-defined]
        validate_text: bool = self.utf8validateIncoming  # type: ignore[attr-defined]
        at, size = 0, len(data)
        while size - at >= 6 and self.state == self.STATE_OPEN:
            header = _plain_header(data, at)
            if header is None:
                break
            start, length = header
            first = data[at]
            end = start + length
            if 0 < message_limit < length or 0 < frame_limit < length:
                break
            if size < end:
                if first == 0x82:
                    self._begin_frame(data, at, start, length)
                    return b""
                break
            binary = first == 0x82
            payload = _unmask(data, start, length)
            if not binary and validate_text:
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:
                    break  # Autobahn fails the connection (1007)
            _count_frame(stats, end - at, length)
            at = end
            self._onMessage(payload, binary)
        return data[at:] if at else data

    def _begin_frame(self, data: bytes, at: int, start: int, length: int) -> None:
        """Keep the start of a plain binary frame until the rest arrives."""
        self.partial_frame = _PartialFrame(data[start - 4:start], length, start - at,
                                           [memoryview(data)[start:]], length - (len(data) - start))

    def _continue_frame(self, data: bytes) -> bytes:
        """More of :attr:`partial_frame`; deliver it once complete, return what follows."""
        frame = self.partial_frame
        assert frame is not None
        if len(data) < frame.missing:
            frame.pieces.append(data)
            frame.missing -= len(data)
            return b""
        frame.pieces.append(memoryview(data)[:frame.missing])
        rest = data[frame.missing:]
        self.partial_frame = None
        length = frame.length
        _count_frame(self.trafficStats, frame.header + length, length)
        # As Autobahn: a frame begun before a closing handshake is still delivered.
        self._onMessage(_unmask_pieces(frame.mask, frame.pieces, length), True)
        return rest

    def onMessageEnd(self) -> None:
        # As autobahn's, without firing its "message" observers through txaio.
        if not self.failedByMe:
            self._onMessage(b"".join(self.message_data), self.message_is_binary)
        self.message_data = None  # type: ignore[assignment]  # autobahn's own idle value

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.partial_frame = None
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
