# -*- test-case-name: tests.test_redis_wire -*-
"""The Redis wire format of the Node packages, without I/O.

``@socket.io/redis-adapter`` 8.x (classic pub/sub) and
``@socket.io/redis-emitter`` 5.x exchange three kinds of messages over Redis;
this module encodes and decodes all of them exactly as those packages do, so
txsocketio processes, Node servers and emitters can share one cluster.  It
imports nothing from ``twisted.internet`` (a test checks it); the I/O lives in
:mod:`txsocketio.redisconn` and :mod:`txsocketio.adapters.redis`.

Values
    :func:`pack` / :func:`unpack` speak MessagePack as the JavaScript
    ``notepack.io`` 3.x writes and reads it: ``bytes`` is ``bin`` (a JS
    Buffer), an integral float is written as an integer (JavaScript has one
    number type), a :class:`~datetime.datetime` is the timestamp extension
    (type -1, a JS ``Date``), ``None`` is ``nil``.  Decoding mirrors notepack:
    ``fixext1`` type 0 is ``undefined`` (``None`` in an array or at the top;
    a map entry whose value is undefined is dropped, as ``JSON.stringify``
    and notepack drop it), ext type 0 is an ArrayBuffer (``bytes``), the
    legacy ``fixext8`` type 0 date is read too, an unknown extension is
    ``[type, bytes]``, invalid UTF-8 in strings is replaced (Node's
    ``Buffer.toString``), map keys that are numbers, booleans or null become
    their JavaScript string.  :func:`dump_json` / :func:`load_json` are
    ``JSON.stringify`` / ``JSON.parse`` (a ``bytes`` value becomes
    ``{"type": "Buffer", "data": [...]}`` as a Buffer's ``toJSON`` does).
    Every decoder raises :class:`txsocketio.errors.ProtocolError` and nothing
    else on malformed input.

Channels (:class:`Channels`)
    broadcasts ``<key>#<nsp>#`` or ``<key>#<nsp>#<room>#`` (exactly one
    room), requests ``<key>-request#<nsp>#``, responses
    ``<key>-response#<nsp>#`` and ``<key>-response#<nsp>#<uid>#``.

Broadcasts (:func:`encode_broadcast`, :func:`decode_broadcast`)
    MessagePack of ``[uid, packet, opts]``; ``packet`` is ``{"type": 2,
    "data": [event, *args], "nsp": nsp}`` with binary inline, ``opts`` is
    ``{"rooms": [...], "except": [...], "flags": {...}}``.  The ``timeout``
    flag travels in milliseconds (Node's unit); :class:`BroadcastOptions`
    keeps seconds, the conversions here do the arithmetic.

Requests and responses (:class:`RequestType`, the ``*_request`` and
``*_response`` builders, :func:`decode_request`, :func:`decode_response`)
    JSON, except the BROADCAST request (7) and the BROADCAST_ACK response
    (9), which are MessagePack because they may carry binary.  A receiver
    tells them apart by the first byte (``{`` is JSON).  Where this module and
    ``/work/shared/REDIS-WIRE.md`` could differ, the Node code (8.3.0) was
    followed; notably a SERVER_SIDE_EMIT answer always goes to the shared
    response channel (even with ``publishOnSpecificResponseChannel``), the
    receiver of a BROADCAST request drops the flags (``volatile`` and
    ``compress`` do not travel to the other servers' clients), and the nodes
    themselves never send type 0 (SOCKETS) any more, they only answer it.
"""

from __future__ import annotations

import datetime
import enum
import json
import math
import re
import secrets
import string
import struct
from typing import Any, Final, Iterable, Mapping, Sequence

import attrs

from txsocketio.adapters.base import BroadcastOptions
from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import Packet, PacketType, _js_number, _stringify

__all__ = [
    "DEFAULT_KEY",
    "EMITTER_UID",
    "RequestType",
    "new_uid",
    "pack",
    "unpack",
    "dump_json",
    "load_json",
    "iso_date",
    "Channels",
    "BroadcastMessage",
    "encode_broadcast",
    "decode_broadcast",
    "packet_to_wire",
    "packet_from_wire",
    "options_to_wire",
    "options_from_wire",
    "flags_to_wire",
    "flags_from_wire",
    "RemoteSocketDetails",
    "Request",
    "Response",
    "sockets_request",
    "all_rooms_request",
    "remote_join_request",
    "remote_leave_request",
    "remote_disconnect_request",
    "fetch_sockets_request",
    "server_side_emit_request",
    "broadcast_request",
    "sockets_response",
    "all_rooms_response",
    "fetch_sockets_response",
    "server_side_emit_response",
    "client_count_response",
    "broadcast_ack_response",
    "decode_request",
    "decode_response",
]

#: The channel prefix of the Node packages (their ``key`` option).
DEFAULT_KEY: Final = "socket.io"
#: The uid the Node emitter puts in its broadcasts and server-side emits.
EMITTER_UID: Final = "emitter"
#: How deeply a decoded value may nest (arrays and maps).
DEFAULT_MAX_DEPTH: Final = 100


class RequestType(enum.IntEnum):
    """The ``type`` of a request or response (``RequestType`` in the adapter)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


_UID_CHARS: Final = string.ascii_uppercase + string.ascii_lowercase + string.digits


def new_uid(length: int = 6) -> str:
    """A random id like Node's ``uid2(6)``: adapter uids and request ids."""
    return "".join(secrets.choice(_UID_CHARS) for _ in range(length))


# --------------------------------------------------------------------------
# MessagePack, as notepack.io writes and reads it
# --------------------------------------------------------------------------

_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_TS32_MAX: Final = 2**32 - 1
_TS64_MAX: Final = 2**34 - 1
_BINARY: Final = (bytes, bytearray, memoryview)


class _Undefined:
    """JavaScript's ``undefined`` while decoding (never returned)."""

    __slots__ = ()


_UNDEFINED: Final = _Undefined()


def pack(value: Any) -> bytes:
    """``value`` as notepack.io's ``encode`` writes the same JavaScript value.

    ``None``, ``bool``, ``int`` (64-bit range), ``float``, ``str``,
    ``bytes``/``bytearray``/``memoryview``, ``list``/``tuple``, ``dict`` (keys
    ``str``, or numbers, booleans and ``None`` written as JavaScript would
    name them) and ``datetime`` (naive means UTC).  Anything else raises
    ``TypeError``; a cycle, an integer out of range or a string that is not
    valid Unicode raises ``ValueError``.
    """
    out = bytearray()
    try:
        _pack(out, value, set())
    except RecursionError:
        raise ValueError("value nests too deeply for MessagePack") from None
    return bytes(out)


def _pack_length(out: bytearray, length: int, fix: int | None, fix_limit: int,
                 b8: int | None, b16: int, b32: int, what: str) -> None:
    if fix is not None and length < fix_limit:
        out.append(fix | length)
    elif b8 is not None and length < 0x100:
        out += bytes((b8, length))
    elif length < 0x10000:
        out.append(b16)
        out += struct.pack(">H", length)
    elif length < 0x100000000:
        out.append(b32)
        out += struct.pack(">I", length)
    else:
        raise ValueError(f"{what} too large for MessagePack")


def _pack_int(out: bytearray, value: int) -> None:
    if value >= 0:
        if value < 0x80:
            out.append(value)
        elif value < 0x100:
            out += bytes((0xCC, value))
        elif value < 0x10000:
            out.append(0xCD)
            out += struct.pack(">H", value)
        elif value < 0x100000000:
            out.append(0xCE)
            out += struct.pack(">I", value)
        elif value < 2**64:
            out.append(0xCF)
            out += struct.pack(">Q", value)
        else:
            raise ValueError(f"integer {value} is out of the MessagePack (64-bit) range")
    elif value >= -0x20:
        out.append(value & 0xFF)
    elif value >= -0x80:
        out.append(0xD0)
        out += struct.pack(">b", value)
    elif value >= -0x8000:
        out.append(0xD1)
        out += struct.pack(">h", value)
    elif value >= -0x80000000:
        out.append(0xD2)
        out += struct.pack(">i", value)
    elif value >= -(2**63):
        out.append(0xD3)
        out += struct.pack(">q", value)
    else:
        raise ValueError(f"integer {value} is out of the MessagePack (64-bit) range")


def _pack_str(out: bytearray, value: str) -> None:
    data = value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError
    _pack_length(out, len(data), 0xA0, 0x20, 0xD9, 0xDA, 0xDB, "string")
    out += data


def _js_key(key: Any) -> str:
    """A dict key as JavaScript names the property."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if key is True:
        return "true"
    if key is False:
        return "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        if math.isnan(key):
            return "NaN"
        if math.isinf(key):
            return "Infinity" if key > 0 else "-Infinity"
        return _js_number(repr(key))
    raise TypeError(f"a dict key must be str, int, float, bool or None, not {type(key).__name__}")


def _timestamp_parts(value: datetime.datetime) -> tuple[int, int]:
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    micros = (value - _EPOCH) // datetime.timedelta(microseconds=1)
    seconds, rest = divmod(micros, 1_000_000)
    return seconds, rest * 1000


def _pack(out: bytearray, value: Any, active: set[int]) -> None:
    if value is None:
        out.append(0xC0)
    elif value is True:
        out.append(0xC3)
    elif value is False:
        out.append(0xC2)
    elif isinstance(value, int):
        _pack_int(out, int(value))
    elif isinstance(value, float):
        # notepack: an integral, finite number is an integer (-0 is 0).
        if math.isfinite(value) and value.is_integer() and -(2**63) <= value < 2**64:
            _pack_int(out, int(value))
        else:
            out.append(0xCB)
            out += struct.pack(">d", value)
    elif isinstance(value, str):
        _pack_str(out, value)
    elif isinstance(value, _BINARY):
        data = bytes(value)
        _pack_length(out, len(data), None, 0, 0xC4, 0xC5, 0xC6, "binary value")
        out += data
    elif isinstance(value, (list, tuple, dict)):
        marker = id(value)
        if marker in active:
            raise ValueError("circular reference")
        active.add(marker)
        try:
            if isinstance(value, dict):
                _pack_length(out, len(value), 0x80, 0x10, None, 0xDE, 0xDF, "dict")
                for key, item in value.items():
                    _pack_str(out, _js_key(key))
                    _pack(out, item, active)
            else:
                _pack_length(out, len(value), 0x90, 0x10, None, 0xDC, 0xDD, "list")
                for item in value:
                    _pack(out, item, active)
        finally:
            active.discard(marker)
    elif isinstance(value, datetime.datetime):
        seconds, nanos = _timestamp_parts(value)
        if 0 <= seconds <= _TS64_MAX:
            if nanos == 0 and seconds <= _TS32_MAX:
                out += b"\xd6\xff" + struct.pack(">I", seconds)
            else:
                out += b"\xd7\xff" + struct.pack(">Q", (nanos << 34) | seconds)
        else:
            out += b"\xc7\x0c\xff" + struct.pack(">Iq", nanos, seconds)
    else:
        raise TypeError(f"{type(value).__name__} cannot be sent over Redis (MessagePack)")


def unpack(data: bytes | bytearray | memoryview, *, dates: str = "datetime",
           max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Decode one MessagePack value as notepack.io's ``decode`` does.

    ``dates`` says what a timestamp (a JS ``Date``) becomes: ``"datetime"``
    (a UTC-aware :class:`~datetime.datetime`; a date Python cannot represent
    is a ProtocolError) or ``"iso"`` (the string ``Date.toJSON`` gives, which
    is what a Node server would send its clients; ``None`` for an invalid
    date).  Raises :class:`~txsocketio.errors.ProtocolError`, and only that,
    on malformed input, trailing bytes or nesting deeper than ``max_depth``.
    """
    if dates not in ("datetime", "iso"):
        raise ValueError("dates is 'datetime' or 'iso'")
    reader = _Reader(bytes(data), dates, max_depth)
    value = reader.value(0)
    if reader.pos != len(reader.data):
        raise ProtocolError(f"{len(reader.data) - reader.pos} trailing byte(s) after the MessagePack value")
    return None if value is _UNDEFINED else value


_S_B_U8 = struct.Struct(">B")
_S_B = struct.Struct(">b")
_S_H = struct.Struct(">H")
_S_h = struct.Struct(">h")
_S_I = struct.Struct(">I")
_S_i = struct.Struct(">i")
_S_Q = struct.Struct(">Q")
_S_q = struct.Struct(">q")
_S_f = struct.Struct(">f")
_S_d = struct.Struct(">d")


class _Reader:
    __slots__ = ("data", "pos", "dates", "max_depth")

    def __init__(self, data: bytes, dates: str, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.dates = dates
        self.max_depth = max_depth

    def take(self, n: int) -> bytes:
        start = self.pos
        end = start + n
        if end > len(self.data):
            raise ProtocolError("truncated MessagePack value")
        self.pos = end
        return self.data[start:end]

    def unpack(self, st: struct.Struct) -> Any:
        start = self.pos
        end = start + st.size
        if end > len(self.data):
            raise ProtocolError("truncated MessagePack value")
        self.pos = end
        return st.unpack_from(self.data, start)[0]

    def count(self, n: int) -> int:
        # Each element takes at least one byte: refuse absurd lengths early.
        if n > len(self.data) - self.pos:
            raise ProtocolError("truncated MessagePack value")
        return n

    def value(self, depth: int) -> Any:
        if self.pos >= len(self.data):
            raise ProtocolError("truncated MessagePack value")
        prefix = self.data[self.pos]
        self.pos += 1
        if prefix < 0x80:
            return prefix
        if prefix < 0x90:
            return self.map(prefix & 0x0F, depth)
        if prefix < 0xA0:
            return self.array(prefix & 0x0F, depth)
        if prefix < 0xC0:
            return self.string(prefix & 0x1F)
        if prefix > 0xDF:
            return prefix - 0x100
        if prefix == 0xC0:
            return None
        if prefix == 0xC2:
            return False
        if prefix == 0xC3:
            return True
        if prefix == 0xC4:
            return self.take(self.unpack(_S_B_U8))
        if prefix == 0xC5:
            return self.take(self.unpack(_S_H))
        if prefix == 0xC6:
            return self.take(self.unpack(_S_I))
        if prefix in (0xC7, 0xC8, 0xC9):
            length = self.unpack((_S_B_U8, _S_H, _S_I)[prefix - 0xC7])
            ext_type = self.unpack(_S_B)
            if ext_type == 0:
                return self.take(length)  # notepack's ArrayBuffer
            if ext_type == -1 and prefix == 0xC7:
                if length != 12:
                    raise ProtocolError("a timestamp 96 extension has 12 bytes")
                nanos = self.unpack(_S_I)
                seconds = self.unpack(_S_q)
                return self.date(seconds, nanos)
            return [ext_type, self.take(length)]
        if prefix == 0xCA:
            return self.unpack(_S_f)
        if prefix == 0xCB:
            return self.unpack(_S_d)
        if prefix == 0xCC:
            return self.unpack(_S_B_U8)
        if prefix == 0xCD:
            return self.unpack(_S_H)
        if prefix == 0xCE:
            return self.unpack(_S_I)
        if prefix == 0xCF:
            return self.unpack(_S_Q)
        if prefix == 0xD0:
            return self.unpack(_S_B)
        if prefix == 0xD1:
            return self.unpack(_S_h)
        if prefix == 0xD2:
            return self.unpack(_S_i)
        if prefix == 0xD3:
            return self.unpack(_S_q)
        if prefix == 0xD4:
            ext_type = self.unpack(_S_B)
            if ext_type == 0:
                self.take(1)
                return _UNDEFINED
            return [ext_type, self.take(1)]
        if prefix == 0xD5:
            return [self.unpack(_S_B), self.take(2)]
        if prefix == 0xD6:
            ext_type = self.unpack(_S_B)
            if ext_type == -1:
                return self.date(self.unpack(_S_I), 0)
            return [ext_type, self.take(4)]
        if prefix == 0xD7:
            ext_type = self.unpack(_S_B)
            if ext_type == 0:
                return self.date_ms(self.unpack(_S_q))  # notepack's legacy Date
            if ext_type == -1:
                both = self.unpack(_S_Q)
                return self.date(both & _TS64_MAX, both >> 34)
            return [ext_type, self.take(8)]
        if prefix == 0xD8:
            return [self.unpack(_S_B), self.take(16)]
        if prefix == 0xD9:
            return self.string(self.unpack(_S_B_U8))
        if prefix == 0xDA:
            return self.string(self.unpack(_S_H))
        if prefix == 0xDB:
            return self.string(self.unpack(_S_I))
        if prefix == 0xDC:
            return self.array(self.unpack(_S_H), depth)
        if prefix == 0xDD:
            return self.array(self.unpack(_S_I), depth)
        if prefix == 0xDE:
            return self.map(self.unpack(_S_H), depth)
        if prefix == 0xDF:
            return self.map(self.unpack(_S_I), depth)
        raise ProtocolError(f"0x{prefix:02x} is not a MessagePack type")

    def string(self, length: int) -> str:
        return self.take(length).decode("utf-8", "replace")

    def array(self, length: int, depth: int) -> list[Any]:
        if depth >= self.max_depth:
            raise ProtocolError(f"MessagePack value nests deeper than {self.max_depth}")
        items = []
        for _ in range(self.count(length)):
            item = self.value(depth + 1)
            items.append(None if item is _UNDEFINED else item)
        return items

    def map(self, length: int, depth: int) -> dict[str, Any]:
        if depth >= self.max_depth:
            raise ProtocolError(f"MessagePack value nests deeper than {self.max_depth}")
        out: dict[str, Any] = {}
        for _ in range(self.count(length)):
            key = self.key(self.value(depth + 1))
            item = self.value(depth + 1)
            if item is _UNDEFINED:
                out.pop(key, None)  # JS keeps the key holding undefined; JSON and notepack drop it
            else:
                out[key] = item
        return out

    def key(self, key: Any) -> str:
        if isinstance(key, str):
            return key
        if key is _UNDEFINED:
            return "undefined"
        if isinstance(key, bytes):
            return key.decode("utf-8", "replace")  # String(buffer)
        if isinstance(key, (bool, int, float)) or key is None:
            return _js_key(key)
        raise ProtocolError(f"a MessagePack map key that is a {type(key).__name__}")

    def date_ms(self, ms: float) -> Any:
        ms = math.trunc(ms) if math.isfinite(ms) else ms
        if not (isinstance(ms, int) and abs(ms) <= 8.64e15):
            if self.dates == "iso":
                return None  # Invalid Date; toJSON gives null
            raise ProtocolError("a MessagePack timestamp outside JavaScript's Date range")
        if self.dates == "iso":
            return iso_date(ms)
        try:
            return _EPOCH + datetime.timedelta(milliseconds=ms)
        except OverflowError:
            raise ProtocolError("a MessagePack timestamp outside Python's datetime range") from None

    def date(self, seconds: int, nanos: int) -> Any:
        if self.dates == "iso":
            return self.date_ms(seconds * 1e3 + nanos / 1e6)
        if abs(seconds) > 8.64e12:
            raise ProtocolError("a MessagePack timestamp outside JavaScript's Date range")
        try:
            return _EPOCH + datetime.timedelta(seconds=seconds, microseconds=nanos // 1000)
        except OverflowError:
            raise ProtocolError("a MessagePack timestamp outside Python's datetime range") from None



def _civil_from_days(days: int) -> tuple[int, int, int]:
    # Howard Hinnant's algorithm: days since 1970-01-01 -> proleptic Gregorian date.
    days += 719468
    era = days // 146097  # floor division: the C version adjusts negatives by hand
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return (year + 1 if month <= 2 else year), month, day


def iso_date(ms: int) -> str:
    """JavaScript's ``new Date(ms).toISOString()`` (years beyond 0–9999 as ±YYYYYY)."""
    days, rest = divmod(ms, 86_400_000)
    year, month, day = _civil_from_days(days)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    if 0 <= year <= 9999:
        y = f"{year:04d}"
    else:
        y = ("+" if year > 0 else "-") + f"{abs(year):06d}"
    return f"{y}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


# --------------------------------------------------------------------------
# JSON, as JSON.stringify and JSON.parse
# --------------------------------------------------------------------------


def _jsonable(value: Any, active: set[int]) -> Any:
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, _BINARY):
        return {"type": "Buffer", "data": list(bytes(value))}
    if isinstance(value, datetime.datetime):
        seconds, nanos = _timestamp_parts(value)
        return iso_date(seconds * 1000 + nanos // 1_000_000)
    if isinstance(value, (list, tuple)):
        marker = id(value)
        if marker in active:
            raise ValueError("circular reference")
        active.add(marker)
        try:
            return [_jsonable(v, active) for v in value]
        finally:
            active.discard(marker)
    if isinstance(value, Mapping):
        marker = id(value)
        if marker in active:
            raise ValueError("circular reference")
        active.add(marker)
        try:
            return {_js_key(k): _jsonable(v, active) for k, v in value.items()}
        finally:
            active.discard(marker)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def dump_json(value: Any) -> bytes:
    """``JSON.stringify(value)`` as UTF-8 (binary as a Buffer's ``toJSON``,
    a datetime as a Date's).  Raises ``TypeError``/``ValueError`` for what
    JSON cannot hold."""
    try:
        return _stringify(_jsonable(value, set())).encode("utf-8", "surrogatepass")
    except RecursionError:
        raise ValueError("value nests too deeply for JSON") from None


def _no_constants(name: str) -> Any:
    raise ProtocolError(f"{name} is not JSON")


def load_json(data: bytes | bytearray | memoryview) -> Any:
    """``JSON.parse(buffer.toString())``; ProtocolError on anything else."""
    try:
        return json.loads(bytes(data).decode("utf-8", "replace"), parse_constant=_no_constants)
    except (ValueError, RecursionError) as e:
        raise ProtocolError(f"malformed JSON: {e}") from None


def _decode_any(payload: bytes | bytearray | memoryview) -> Any:
    """A request or response: JSON when the first byte is ``{``, else MessagePack."""
    payload = bytes(payload)
    if payload[:1] == b"{":
        return load_json(payload)
    return unpack(payload, dates="iso")


# --------------------------------------------------------------------------
# Channels
# --------------------------------------------------------------------------

_GLOB_SPECIAL: Final = re.compile(r"([\\*?\[\]])")


@attrs.frozen
class Channels:
    """The Redis channels of one namespace under one key prefix.

    ``Channels("socket.io", "/chat").broadcast == "socket.io#/chat#"``.
    """

    key: str
    nsp: str

    @property
    def broadcast(self) -> str:
        """Broadcasts to the whole namespace (and the prefix of room channels)."""
        return f"{self.key}#{self.nsp}#"

    def room(self, room: str) -> str:
        """Broadcasts that target exactly ``room``."""
        return f"{self.key}#{self.nsp}#{room}#"

    @property
    def broadcast_pattern(self) -> str:
        """The ``PSUBSCRIBE`` pattern covering every broadcast channel (glob
        characters of the key and namespace escaped)."""
        return _GLOB_SPECIAL.sub(r"\\\1", self.broadcast) + "*"

    @property
    def request(self) -> str:
        return f"{self.key}-request#{self.nsp}#"

    @property
    def response(self) -> str:
        return f"{self.key}-response#{self.nsp}#"

    def specific_response(self, uid: str) -> str:
        """The response channel of one server (``publishOnSpecificResponseChannel``)."""
        return f"{self.key}-response#{self.nsp}#{uid}#"

    def for_broadcast(self, opts: BroadcastOptions) -> str:
        """Where a broadcast is published: the room's channel when it targets
        exactly one room, else the namespace's."""
        if len(opts.rooms) == 1:
            (room,) = opts.rooms
            return self.room(room)
        return self.broadcast

    def room_of(self, channel: str) -> str | None:
        """The room a broadcast channel names (``""`` for the whole
        namespace), or ``None`` when ``channel`` is not a broadcast channel of
        this namespace."""
        prefix = self.broadcast
        if not channel.startswith(prefix):
            return None
        return channel[len(prefix):-1]


# --------------------------------------------------------------------------
# Packets and options
# --------------------------------------------------------------------------


def packet_to_wire(packet: Packet) -> dict[str, Any]:
    """``{"type": 2, "data": [...], "nsp": ...}`` as socket.io builds it (no ack id)."""
    return {"type": int(PacketType.EVENT if packet.type is PacketType.BINARY_EVENT else packet.type),
            "data": packet.data, "nsp": packet.namespace}


def packet_from_wire(obj: Any) -> Packet:
    """The EVENT packet of a broadcast (``nsp`` defaults to ``/``; a BINARY_EVENT is an EVENT)."""
    if not isinstance(obj, dict):
        raise ProtocolError("a broadcast packet is a map")
    kind = obj.get("type")
    if isinstance(kind, bool) or kind not in (PacketType.EVENT, PacketType.BINARY_EVENT):
        raise ProtocolError(f"a broadcast packet of type {kind!r} (only events are broadcast)")
    data = obj.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise ProtocolError("a broadcast packet's data is [event, ...args]")
    nsp = obj.get("nsp", "/")
    if nsp is None:
        nsp = "/"
    if not isinstance(nsp, str):
        raise ProtocolError("a broadcast packet's nsp is a string")
    return Packet(PacketType.EVENT, nsp, data)


def flags_to_wire(flags: Mapping[str, Any]) -> dict[str, Any]:
    """Broadcast flags for Node: ``timeout`` in milliseconds."""
    out = dict(flags)
    timeout = out.get("timeout")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        ms = timeout * 1000
        out["timeout"] = int(ms) if float(ms).is_integer() else ms
    return out


def flags_from_wire(flags: Any) -> dict[str, Any]:
    """Flags from Node: ``timeout`` back to seconds."""
    if flags is None:
        return {}
    if not isinstance(flags, dict):
        raise ProtocolError("broadcast flags are a map")
    out = dict(flags)
    timeout = out.get("timeout")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        out["timeout"] = timeout / 1000
    return out


def _room_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProtocolError(f"{what} is a list of rooms")
    rooms = []
    for room in value:
        if isinstance(room, str):
            rooms.append(room)
        elif isinstance(room, (int, float)) and not isinstance(room, bool):
            rooms.append(_js_key(room))  # Node lets numbers be rooms
        else:
            raise ProtocolError(f"a room in {what} is a {type(room).__name__}")
    return rooms


def options_to_wire(opts: BroadcastOptions, *, flags: bool = True, emitter: bool = False) -> dict[str, Any]:
    """``{"rooms": [...], "except": [...], "flags": {...}}`` (without flags
    for the REMOTE_* requests; in the emitter's key order with ``emitter``)."""
    rooms = sorted(opts.rooms)
    except_ = sorted(opts.except_)
    if not flags:
        return {"rooms": rooms, "except": except_}
    if emitter:
        return {"rooms": rooms, "flags": flags_to_wire(opts.flags), "except": except_}
    return {"rooms": rooms, "except": except_, "flags": flags_to_wire(opts.flags)}


def options_from_wire(obj: Any) -> BroadcastOptions:
    if obj is None:
        return BroadcastOptions()
    if not isinstance(obj, dict):
        raise ProtocolError("broadcast options are a map")
    return BroadcastOptions(
        frozenset(_room_list(obj.get("rooms"), "opts.rooms")),
        frozenset(_room_list(obj.get("except"), "opts.except")),
        flags_from_wire(obj.get("flags")),
    )


# --------------------------------------------------------------------------
# Broadcasts
# --------------------------------------------------------------------------


@attrs.frozen
class BroadcastMessage:
    """A decoded broadcast: who sent it, the packet, who receives it."""

    uid: str
    packet: Packet
    opts: BroadcastOptions


def encode_broadcast(uid: str, packet: Packet, opts: BroadcastOptions, *, emitter: bool = False) -> bytes:
    """The MessagePack of ``[uid, packet, opts]``.  Raises ``TypeError`` or
    ``ValueError`` when an argument cannot be sent."""
    return pack([uid, packet_to_wire(packet), options_to_wire(opts, emitter=emitter)])


def decode_broadcast(payload: bytes | bytearray | memoryview) -> BroadcastMessage:
    """A broadcast message; a JS ``Date`` in the arguments becomes the ISO
    string a Node server would send its clients."""
    value = unpack(payload, dates="iso")
    if not isinstance(value, list) or len(value) < 3:
        raise ProtocolError("a broadcast message is [uid, packet, opts]")
    uid, packet, opts = value[0], value[1], value[2]
    if not isinstance(uid, str):
        raise ProtocolError("a broadcast message's uid is a string")
    return BroadcastMessage(uid, packet_from_wire(packet), options_from_wire(opts))


# --------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------


def _with_uid(uid: str | None, body: dict[str, Any]) -> dict[str, Any]:
    return body if uid is None else {"uid": uid, **body}


def sockets_request(request_id: str, rooms: Iterable[str]) -> bytes:
    """Type 0 (legacy ``allSockets``; 8.x nodes only answer it)."""
    return dump_json({"type": RequestType.SOCKETS.value, "requestId": request_id, "rooms": list(rooms)})


def all_rooms_request(uid: str, request_id: str) -> bytes:
    return dump_json({"uid": uid, "requestId": request_id, "type": RequestType.ALL_ROOMS.value})


def remote_join_request(uid: str | None, opts: BroadcastOptions, rooms: Iterable[str]) -> bytes:
    """``socketsJoin``; the emitter sends it without ``uid``."""
    return dump_json(_with_uid(uid, {"type": RequestType.REMOTE_JOIN.value,
                                     "opts": options_to_wire(opts, flags=False), "rooms": list(rooms)}))


def remote_leave_request(uid: str | None, opts: BroadcastOptions, rooms: Iterable[str]) -> bytes:
    return dump_json(_with_uid(uid, {"type": RequestType.REMOTE_LEAVE.value,
                                     "opts": options_to_wire(opts, flags=False), "rooms": list(rooms)}))


def remote_disconnect_request(uid: str | None, opts: BroadcastOptions, close: bool) -> bytes:
    return dump_json(_with_uid(uid, {"type": RequestType.REMOTE_DISCONNECT.value,
                                     "opts": options_to_wire(opts, flags=False), "close": bool(close)}))


def fetch_sockets_request(uid: str, request_id: str, opts: BroadcastOptions) -> bytes:
    return dump_json({"uid": uid, "requestId": request_id, "type": RequestType.REMOTE_FETCH.value,
                      "opts": options_to_wire(opts, flags=False)})


def server_side_emit_request(uid: str, data: Sequence[Any], request_id: str | None = None) -> bytes:
    """``serverSideEmit``: ``data`` is ``[event, *args]``; with ``request_id``
    the other servers answer (the emitter uses uid ``"emitter"``, no ack)."""
    if request_id is None:
        return dump_json({"uid": uid, "type": RequestType.SERVER_SIDE_EMIT.value, "data": list(data)})
    return dump_json({"uid": uid, "requestId": request_id, "type": RequestType.SERVER_SIDE_EMIT.value,
                      "data": list(data)})


def broadcast_request(uid: str, request_id: str, packet: Packet, opts: BroadcastOptions) -> bytes:
    """A broadcast with acknowledgements (MessagePack: it may carry binary)."""
    return pack({"uid": uid, "requestId": request_id, "type": RequestType.BROADCAST.value,
                 "packet": packet_to_wire(packet), "opts": options_to_wire(opts)})


# --------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------


def sockets_response(request_id: str, sids: Iterable[str]) -> bytes:
    return dump_json({"requestId": request_id, "sockets": list(sids)})


def all_rooms_response(request_id: str, rooms: Iterable[str]) -> bytes:
    return dump_json({"requestId": request_id, "rooms": list(rooms)})


def fetch_sockets_response(request_id: str, sockets: Sequence[Mapping[str, Any]]) -> bytes:
    """``sockets``: ``{"id", "handshake", "rooms", "data"}`` per socket."""
    return dump_json({"requestId": request_id, "sockets": list(sockets)})


def server_side_emit_response(request_id: str, data: Any) -> bytes:
    """One server's answer: the first argument its listener acknowledged with."""
    return dump_json({"type": RequestType.SERVER_SIDE_EMIT.value, "requestId": request_id, "data": data})


def client_count_response(request_id: str, count: int) -> bytes:
    return dump_json({"type": RequestType.BROADCAST_CLIENT_COUNT.value, "requestId": request_id,
                      "clientCount": count})


def broadcast_ack_response(request_id: str, arg: Any) -> bytes:
    """One client's acknowledgement of a broadcast (MessagePack: may carry binary)."""
    return pack({"type": RequestType.BROADCAST_ACK.value, "requestId": request_id, "packet": arg})


# --------------------------------------------------------------------------
# Decoding requests and responses
# --------------------------------------------------------------------------


@attrs.frozen
class RemoteSocketDetails:
    """A socket of another server, as a REMOTE_FETCH response describes it."""

    id: str
    handshake: dict[str, Any]
    rooms: frozenset[str]
    data: Any


@attrs.frozen
class Request:
    """A decoded request.  Fields not used by ``type`` are left at their
    defaults; ``opts`` is ``None`` for the legacy single-socket forms of types
    2–4 (``sid``/``room``), which 8.x nodes still answer."""

    type: int
    uid: str | None = None
    request_id: str | None = None
    opts: BroadcastOptions | None = None
    rooms: tuple[str, ...] = ()
    close: bool = False
    data: tuple[Any, ...] = ()
    packet: Packet | None = None
    sid: str | None = None
    room: str | None = None


def _opt_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _js_key(value)
    raise ProtocolError(f"{name} is a string")


def decode_request(payload: bytes | bytearray | memoryview) -> Request:
    """A message of the request channel (JSON, or MessagePack for type 7)."""
    body = _decode_any(payload)
    if not isinstance(body, dict):
        raise ProtocolError("a request is a map")
    kind = body.get("type")
    if isinstance(kind, bool) or not isinstance(kind, int):
        raise ProtocolError(f"a request of type {kind!r}")
    uid = _opt_str(body, "uid")
    request_id = _opt_str(body, "requestId")
    if kind in (RequestType.SOCKETS, RequestType.ALL_ROOMS, RequestType.REMOTE_FETCH, RequestType.BROADCAST):
        if request_id is None:
            raise ProtocolError(f"a request of type {kind} without requestId")
    if kind == RequestType.SOCKETS:
        return Request(kind, uid, request_id, rooms=tuple(_room_list(body.get("rooms"), "rooms")))
    if kind == RequestType.ALL_ROOMS:
        return Request(kind, uid, request_id)
    if kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE, RequestType.REMOTE_DISCONNECT):
        close = body.get("close", False)
        close = bool(close) if close is None or isinstance(close, (bool, int)) else True
        if body.get("opts") is not None:
            return Request(kind, uid, request_id, opts=options_from_wire(body["opts"]),
                           rooms=tuple(_room_list(body.get("rooms"), "rooms")), close=close)
        room = _opt_str(body, "room")
        return Request(kind, uid, request_id, sid=_opt_str(body, "sid"), room=room, close=close)
    if kind == RequestType.REMOTE_FETCH:
        return Request(kind, uid, request_id, opts=options_from_wire(body.get("opts")))
    if kind == RequestType.SERVER_SIDE_EMIT:
        data = body.get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise ProtocolError("a server-side emit carries [event, ...args]")
        return Request(kind, uid, request_id, data=tuple(data))
    if kind == RequestType.BROADCAST:
        return Request(kind, uid, request_id, opts=options_from_wire(body.get("opts")),
                       packet=packet_from_wire(body.get("packet")))
    return Request(kind, uid, request_id)  # unknown types: the receiver ignores them


@attrs.frozen
class Response:
    """A decoded response.  ``type`` is set by types 6, 8 and 9 only (the
    others are matched to their request by ``request_id``)."""

    request_id: str
    type: int | None = None
    sockets: tuple[Any, ...] | None = None
    rooms: tuple[str, ...] | None = None
    data: Any = None
    client_count: int | None = None
    packet: Any = None

    def remote_sockets(self) -> list[RemoteSocketDetails]:
        """The sockets of a REMOTE_FETCH response (ProtocolError if malformed)."""
        out = []
        for entry in self.sockets or ():
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                raise ProtocolError("a fetched socket is a map with an id")
            handshake = entry.get("handshake")
            out.append(RemoteSocketDetails(
                entry["id"], handshake if isinstance(handshake, dict) else {},
                frozenset(_room_list(entry.get("rooms"), "rooms")), entry.get("data")))
        return out


def decode_response(payload: bytes | bytearray | memoryview) -> Response:
    """A message of a response channel (JSON, or MessagePack for type 9)."""
    body = _decode_any(payload)
    if not isinstance(body, dict):
        raise ProtocolError("a response is a map")
    request_id = _opt_str(body, "requestId")
    if request_id is None:
        raise ProtocolError("a response without requestId")
    kind = body.get("type")
    if kind is not None and (isinstance(kind, bool) or not isinstance(kind, int)):
        raise ProtocolError(f"a response of type {kind!r}")
    sockets = body.get("sockets")
    rooms = body.get("rooms")
    count = body.get("clientCount")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise ProtocolError("clientCount is a non-negative integer")
    return Response(
        request_id, kind,
        sockets=tuple(sockets) if isinstance(sockets, list) else None,
        rooms=tuple(_room_list(rooms, "rooms")) if isinstance(rooms, list) else None,
        data=body.get("data"), client_count=count, packet=body.get("packet"),
    )
