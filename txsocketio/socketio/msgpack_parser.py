# -*- test-case-name: tests.test_socketio_msgpack_parser -*-
"""
The MessagePack Socket.IO parser of C{socket.io-msgpack-parser} 3.x, without I/O.

Each Socket.IO packet travels as one Engine.IO binary message: the
MessagePack of the map C{{type, data, nsp, id}}, written as the JavaScript
package does with C{notepack.io} 2.x.  Binary data is inline (MessagePack
C{bin}), so there are no attachments and no BINARY_EVENT/BINARY_ACK types on
the wire; C{socket.io-msgpack-parser} speaks Socket.IO v5 (Engine.IO 4) only.

Encoding (L{encode}) writes the bytes Node's socket.io 4.8 server writes for
the same packet, key order included: C{type, data, id, nsp} for an EVENT,
C{id, type, data, nsp} for an ACK, C{type, data, nsp} for CONNECT and
CONNECT_ERROR, C{type, nsp} for DISCONNECT; C{data} and C{id} are left out when
they are C{None} (Node's server writes C{undefined} for C{pid} in its CONNECT
reply and for a CONNECT_ERROR's missing C{data}, and another order for its
"Invalid namespace" error and for broadcasts with acks: decoders ignore both).  Values are written by L{txsocketio.adapters.redis_wire.pack}
(the one notepack dialect in txsocketio) with C{dates="legacy"}: C{bytes} is
C{bin} (a Buffer), an integral float an integer, every NaN JavaScript's one
NaN, a C{datetime} notepack 2's Date (C{fixext 8} type 0, int64
milliseconds), dict keys in JavaScript's property order.

Decoding (L{MsgpackDecoder}) reads what C{notepack.io} 2.x reads
(L{txsocketio.adapters.redis_wire.unpack}: C{undefined} is C{None} in an
array and drops a map entry, an ArrayBuffer is C{bytes}, a Date a UTC
C{datetime}; msgpack's timestamp extension, which notepack 2.x would read as
C{[-1, bytes]}, is a date too) and checks the packet as C{socket.io-msgpack-parser}'s
C{Decoder.checkPacket} does (a map; C{type} an integer 0-4; C{nsp} a string;
C{data} absent or an object for CONNECT, absent for DISCONNECT, a string or an
object for CONNECT_ERROR, an array otherwise; C{id} absent or an integer),
and, like L{txsocketio.socketio.packet.Decoder}, is stricter than Node where
Node lets nonsense through: an EVENT needs a string name that is not a
reserved one, an ack id is an integer from 0 to 2**53 - 1, nesting is bounded.
Keys other than these four (socket.io-client adds C{options}) are ignored.
On bad input it raises L{txsocketio.errors.ProtocolError} and nothing else.
"""

from __future__ import annotations

import math
from typing import Any, Final, Union

from txsocketio.adapters.redis_wire import pack, unpack
from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import DEFAULT_MAX_JSON_DEPTH, MAX_ACK_ID, Packet, PacketType, check_payload

__all__ = ["MsgpackParser", "MsgpackDecoder", "encode", "decode"]

_BINARY_TYPES: Final = (bytes, bytearray, memoryview)
#: The types on the wire: the binary types are folded into EVENT and ACK.
_WIRE_TYPES: Final = {
    PacketType.CONNECT: PacketType.CONNECT,
    PacketType.DISCONNECT: PacketType.DISCONNECT,
    PacketType.EVENT: PacketType.EVENT,
    PacketType.ACK: PacketType.ACK,
    PacketType.CONNECT_ERROR: PacketType.CONNECT_ERROR,
    PacketType.BINARY_EVENT: PacketType.EVENT,
    PacketType.BINARY_ACK: PacketType.ACK,
}
_DECODED_TYPES: Final = {int(kind): kind for kind in PacketType if kind <= PacketType.CONNECT_ERROR}


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------


def _check(packet: Packet) -> PacketType:
    """Refuse a packet that cannot be encoded (the caller's mistake); return its wire type."""
    try:
        ptype = _WIRE_TYPES[packet.type]
    except (KeyError, TypeError):
        raise ValueError(f"not a Socket.IO packet type: {packet.type!r}") from None
    data = packet.data
    if ptype == PacketType.EVENT:
        if not (isinstance(data, (list, tuple)) and data and isinstance(data[0], str)):
            raise ValueError("EVENT data must be a list [name, *args] whose name is a str, not "
                             + type(data).__name__)
    elif ptype == PacketType.ACK:
        if not isinstance(data, (list, tuple)):
            raise ValueError("ACK data must be a list of arguments, not " + type(data).__name__)
        if packet.id is None:
            raise ValueError("ACK needs the id of the event it answers")
    elif ptype == PacketType.CONNECT:
        if not (data is None or isinstance(data, dict)):
            raise ValueError("CONNECT data must be a dict or None, not " + type(data).__name__)
    elif ptype == PacketType.CONNECT_ERROR:
        if not isinstance(data, (dict, str)):
            raise ValueError("CONNECT_ERROR data must be a dict or a str, not " + type(data).__name__)
    elif data is not None:
        raise ValueError("DISCONNECT carries no data, not " + type(data).__name__)
    if not isinstance(packet.namespace, str):
        raise ValueError(f"namespace must be a str: {packet.namespace!r}")
    if packet.query is not None:
        raise ValueError("the msgpack parser speaks Socket.IO v5, which has no CONNECT query string "
                         "(send it as auth)")
    ack = packet.id
    if ack is not None and (isinstance(ack, bool) or not isinstance(ack, int) or not 0 <= ack <= MAX_ACK_ID):
        raise ValueError(f"ack id must be an int from 0 to {MAX_ACK_ID}: {ack!r}")
    return ptype


def _wire(packet: Packet, ptype: PacketType) -> dict[str, Any]:
    """The map Node's socket.io server builds for ``packet``, in its key order."""
    out: dict[str, Any] = {}
    if ptype == PacketType.ACK:
        out["id"] = packet.id
    out["type"] = int(ptype)
    if packet.data is not None:
        out["data"] = packet.data
    if packet.id is not None and ptype != PacketType.ACK:
        out["id"] = packet.id
    out["nsp"] = packet.namespace
    return out


def encode(packet: Packet) -> bytes:
    """
    The one binary Engine.IO message that carries ``packet``.

    @raise TypeError: a value in the payload cannot be written as MessagePack
        (the message says which packet and what type).
    @raise ValueError: the packet breaks the rules for its type, or its data
        holds a cycle, nests deeper than 500, an integer outside the 64-bit
        range or a string that is not valid Unicode (a lone surrogate).
    """
    ptype = _check(packet)
    try:
        return pack(_wire(packet, ptype), dates="legacy")
    except TypeError as e:
        raise TypeError(f"payload of {ptype.name} packet: {e}") from None
    except ValueError as e:  # UnicodeEncodeError too
        raise ValueError(f"payload of {ptype.name} packet: {e}") from None


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------


def _integer(value: Any) -> int | None:
    """``value`` as an int if JavaScript's ``Number.isInteger`` holds for it, else None."""
    kind = type(value)
    if kind is int:
        return value
    if kind is float and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def decode(message: Union[bytes, bytearray, memoryview], *, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Packet:
    """
    The packet in one binary Engine.IO message.

    @param max_depth: the deepest nesting of arrays and maps allowed in the
        payload, counting the payload itself (the packet's own map is not
        counted), as for the JSON parser.
    @raise ProtocolError: the message is not a valid packet.
    """
    value = unpack(message, dates="datetime", max_depth=max_depth + 1)
    if type(value) is not dict:
        raise ProtocolError("a msgpack Socket.IO packet is a map")
    number = _integer(value.get("type"))
    ptype = _DECODED_TYPES.get(number) if number is not None else None
    if ptype is None:
        raise ProtocolError(f"invalid packet type {_short(value.get('type'))}")
    namespace = value.get("nsp")
    if type(namespace) is not str:
        raise ProtocolError("invalid namespace: nsp is not a string")

    present = "data" in value  # an undefined value is no entry (see unpack)
    data = value.get("data")
    check_payload(ptype, data, present)

    ack = None
    if "id" in value:
        ack = _integer(value["id"])
        if ack is None or not 0 <= ack <= MAX_ACK_ID:
            raise ProtocolError(f"invalid packet id {_short(value['id'])}")
    return Packet(ptype, namespace, data, ack)


def _short(value: Any) -> str:
    """A peer's value for an error message: its repr, cut short (it may be huge)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


class MsgpackDecoder:
    """
    The decoder of one connection: every binary Engine.IO message is one
    whole packet, so it keeps no state between messages.
    """

    __slots__ = ("_max_depth",)

    def __init__(self, *, max_attachments: int = 10, max_depth: int | None = None) -> None:
        """
        @param max_attachments: accepted for the parser contract and checked
            as the JSON parser checks it; unused (binary data is inline).
        @param max_depth: the deepest nesting of arrays and maps allowed in a
            payload, counting the payload itself (None: the JSON parser's
            default, L{DEFAULT_MAX_JSON_DEPTH}).
        """
        if max_depth is None:
            max_depth = DEFAULT_MAX_JSON_DEPTH
        if max_attachments < 0:
            raise ValueError("max_attachments must not be negative")
        if max_depth < 1:
            raise ValueError("max_depth must be at least 1")
        self._max_depth = max_depth

    @property
    def awaiting_attachments(self) -> bool:
        """Always False: MessagePack carries binary data inline."""
        return False

    def feed(self, message: Union[str, bytes, bytearray, memoryview]) -> Packet:
        """
        Decode the next Engine.IO message: a binary one holds one packet.

        @raise ProtocolError: a text message (this parser sends and expects
            binary messages only), or a binary one that is no valid packet.
        """
        if isinstance(message, _BINARY_TYPES):
            return decode(message, max_depth=self._max_depth)
        if isinstance(message, str):
            raise ProtocolError("text message: the msgpack parser expects binary messages "
                                "(is the client using socket.io-msgpack-parser?)")
        raise TypeError(f"an Engine.IO message is str or bytes, not {type(message).__name__}")


class MsgpackParser:
    """
    The parser of C{socket.io-msgpack-parser} 3.x, for
    C{SocketIOServer(parser=...)}: stateless, one instance serves any number
    of connections.
    """

    #: The name that selects this parser (C{parser="msgpack"}, C{--parser msgpack}).
    name: Final = "msgpack"

    def encode(self, packet: Packet) -> list[Union[str, bytes]]:
        """The Engine.IO messages that carry ``packet``: always one binary message (see L{encode})."""
        return [encode(packet)]

    def decoder(self, *, max_attachments: int = 10, max_depth: int | None = None) -> MsgpackDecoder:
        """A decoder for one connection (see L{MsgpackDecoder})."""
        return MsgpackDecoder(max_attachments=max_attachments, max_depth=max_depth)
