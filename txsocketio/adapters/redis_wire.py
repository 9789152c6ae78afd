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
    ``notepack.io`` 3.x writes and reads it, with the C code of the
    ``msgpack`` library doing the work: ``bytes`` is ``bin`` (a JS
    Buffer), an integral float is written as an integer (JavaScript has one
    number type), a :class:`~datetime.datetime` is the timestamp extension
    (type -1, a JS ``Date``), ``None`` is ``nil``.  Decoding mirrors notepack:
    ``fixext1`` type 0 is ``undefined`` (``None`` in an array or at the top;
    a map entry whose value is undefined is dropped, as ``JSON.stringify``
    and notepack drop it), ext type 0 is an ArrayBuffer (``bytes``), the
    legacy ``fixext8`` type 0 date is read too, an unknown extension is
    ``[type, bytes]``, invalid UTF-8 in strings is replaced (Node's
    ``Buffer.toString``), map keys that are numbers, booleans or null become
    their JavaScript string.  Type -1 is msgpack's timestamp, strictly: a
    type -1 extension that is no valid timestamp is malformed input.  :func:`dump_json` / :func:`load_json` are
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
import threading
from typing import Any, Final, Iterable, Mapping, Sequence

import attrs
import msgpack

from txsocketio.adapters.base import BroadcastOptions
from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import Packet, PacketType, js_number, stringify

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
# MessagePack, as notepack.io writes and reads it (on top of msgpack)
# --------------------------------------------------------------------------

_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_BINARY: Final = (bytes, bytearray, memoryview)
#: How deeply :func:`pack` lets a value nest (msgpack's own limit is 511).
_PACK_MAX_DEPTH: Final = 500
#: What msgpack writes, with ``use_bin_type``, exactly as notepack writes the
#: JavaScript value (a float may be integral, a dict key may be no string).
_PACKED_AS_IS: Final = frozenset({str, int, bool, bytes, bytearray, type(None)})
#: What msgpack decodes exactly as notepack does (a ``str`` from ``raw=False``
#: with ``unicode_errors="replace"``, as Node's ``Buffer.toString``).
_UNPACKED_AS_IS: Final = frozenset({str, int, float, bool, bytes, type(None)})
_DATE_MODES: Final = ("datetime", "iso")
_PACK_DATE_MODES: Final = ("timestamp", "legacy")


class _Undefined:
    """JavaScript's ``undefined`` while decoding (never returned)."""

    __slots__ = ()


_UNDEFINED: Final = _Undefined()


class _Packers(threading.local):
    """One :class:`msgpack.Packer` per thread (a Packer is not thread-safe)."""

    def __init__(self) -> None:
        self.packer: Any = msgpack.Packer(use_bin_type=True, default=_refuse)


def _refuse(value: Any) -> Any:
    """The Packer's ``default``: the pre-pass lets only packable values
    through, so only an int out of the 64-bit range ends up here."""
    if isinstance(value, int):
        raise ValueError(f"integer {value} is out of the MessagePack (64-bit) range")
    raise TypeError(f"{type(value).__name__} cannot be written as MessagePack")


_packers: Final = _Packers()


def pack(value: Any, *, dates: str = "timestamp") -> bytes:
    """``value`` as notepack.io's ``encode`` writes the same JavaScript value.

    ``None``, ``bool``, ``int`` (64-bit range), ``float``, ``str``,
    ``bytes``/``bytearray``/``memoryview``, ``list``/``tuple``, ``dict`` (keys
    ``str``, or numbers, booleans and ``None`` written as JavaScript would
    name them) and ``datetime`` (naive means UTC).  Anything else raises
    ``TypeError``; a cycle, nesting deeper than 500, an integer out of range
    or a string that is not valid Unicode raises ``ValueError``.

    msgpack (``use_bin_type``) does the writing.  What it would write
    differently from notepack is turned first into what it writes as notepack
    does: an integral float into an int (JavaScript has one number type:
    notepack writes ``1.0`` and ``-0.0`` as integers), a non-string key into
    its JavaScript name (two keys with one name become one entry, the last
    value winning, as in a JavaScript object), keys that are array indices
    (``"0"``, ``"17"``) first and in ascending order (JavaScript's property
    order), a ``datetime`` into a :class:`msgpack.Timestamp` (notepack 3's
    32-, 64- or 96-bit timestamp; with ``dates="legacy"`` notepack 2's
    ``fixext 8`` type 0 of int64 milliseconds, which ``socket.io-msgpack-parser``
    3.x writes), a subclass into its base type.  A first pass that allocates
    nothing finds out whether there is anything to turn; usually there is not.
    """
    if dates not in _PACK_DATE_MODES:
        raise ValueError("dates is 'timestamp' or 'legacy'")
    if type(value) not in _PACKED_AS_IS and not _packs_as_is(value, 0):
        try:
            value = _for_msgpack(value, 0, dates == "legacy")
        except RecursionError:
            raise ValueError("value nests too deeply for MessagePack") from None
    packed: bytes = _packers.packer.pack(value)
    return packed


def _packs_as_is(value: Any, depth: int) -> bool:
    """Whether msgpack writes ``value`` exactly as notepack does: plain
    lists, tuples and dicts with string keys (none starting with a digit:
    it may be an array index), of ``_PACKED_AS_IS`` values."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or "0" <= key[:1] <= "9":
                return False
            kind = type(item)
            if kind in _PACKED_AS_IS:
                continue
            if (kind is dict or kind is list or kind is tuple) and depth < _PACK_MAX_DEPTH \
                    and _packs_as_is(item, depth + 1):
                continue
            return False
        return True
    if kind is list or kind is tuple:
        for item in value:
            kind = type(item)
            if kind in _PACKED_AS_IS:
                continue
            if (kind is dict or kind is list or kind is tuple) and depth < _PACK_MAX_DEPTH \
                    and _packs_as_is(item, depth + 1):
                continue
            return False
        return True
    return False


def _for_msgpack(value: Any, depth: int, legacy_dates: bool) -> Any:
    """``value`` (not of a ``_PACKED_AS_IS`` type) as msgpack must see it to
    write notepack's bytes (see :func:`pack`): built of exact built-in types
    and Timestamps only, so that msgpack calls no Python code."""
    kind = type(value)
    if kind is float:
        if value.is_integer() and -(2**63) <= value < 2**64:  # finite: is_integer() is False for inf and nan
            return int(value)
        return value if value == value else math.nan  # JavaScript has one NaN (no sign, no payload)
    if kind is list or kind is tuple or kind is dict:
        if depth >= _PACK_MAX_DEPTH:
            raise ValueError("value nests too deeply for MessagePack (or is circular)")
        if kind is dict:
            out: dict[str, Any] = {}
            indices = False
            for key, item in value.items():
                if type(key) is not str:
                    key = _js_key(key)
                if not indices and "0" <= key[:1] <= "9":
                    indices = _ARRAY_INDEX.fullmatch(key) is not None
                out[key] = item if type(item) in _PACKED_AS_IS else _for_msgpack(item, depth + 1, legacy_dates)
            return _js_property_order(out) if indices else out
        items = []
        for item in value:
            items.append(item if type(item) in _PACKED_AS_IS else _for_msgpack(item, depth + 1, legacy_dates))
        return items
    if isinstance(value, datetime.datetime):
        if legacy_dates:
            seconds, nanos = _timestamp_parts(value)
            ms = seconds * 1000 + nanos // 1_000_000
            return msgpack.ExtType(0, ms.to_bytes(8, "big", signed=True))
        return msgpack.Timestamp(*_timestamp_parts(value))
    # Subclasses (an IntEnum, a str Enum, an OrderedDict...) become their base type.
    if isinstance(value, float):
        return _for_msgpack(float.__float__(value), depth, legacy_dates)
    if isinstance(value, (list, tuple)):
        return _for_msgpack(list(value), depth, legacy_dates)
    if isinstance(value, dict):
        return _for_msgpack(dict(value.items()), depth, legacy_dates)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, _BINARY):
        return bytes(value)
    raise TypeError(f"{type(value).__name__} cannot be written as MessagePack")


#: A property name that is an array index (ECMA-262: a canonical uint32 below 2**32 - 1).
_ARRAY_INDEX: Final = re.compile(r"0|[1-9][0-9]{0,9}")


def _js_property_order(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with its keys in JavaScript's order: array indices ascending, then the others as inserted."""
    indices = sorted((int(key) for key in obj if _ARRAY_INDEX.fullmatch(key) and int(key) < 2**32 - 1))
    if not indices:
        return obj
    out = {str(i): obj[str(i)] for i in indices}
    for key, item in obj.items():
        if key not in out:
            out[key] = item
    return out


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
        return js_number(repr(key))
    raise TypeError(f"a dict key must be str, int, float, bool or None, not {type(key).__name__}")


def _timestamp_parts(value: datetime.datetime) -> tuple[int, int]:
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    micros = (value - _EPOCH) // datetime.timedelta(microseconds=1)
    seconds, rest = divmod(micros, 1_000_000)
    return seconds, rest * 1000


# The bytes that may start a container (which nests), an ext or a bin value.
_CONTAINER_BYTES: Final = frozenset([*range(0x80, 0xA0), *range(0xDC, 0xE0)])
_EXT_BYTES: Final = frozenset([*range(0xC7, 0xCA), *range(0xD4, 0xD9)])
_BIN_BYTES: Final = frozenset(range(0xC4, 0xC7))
#: ``data.translate(_TAGS, _UNTAGGED)``: 0 per container byte, 1 per ext byte, 2 per bin byte.
_TAGS: Final = bytes(1 if b in _EXT_BYTES else 2 if b in _BIN_BYTES else 0 for b in range(256))
_UNTAGGED: Final = bytes(sorted(set(range(256)) - _CONTAINER_BYTES - _EXT_BYTES - _BIN_BYTES))
_MALFORMED: Final = (ValueError, TypeError, OverflowError, msgpack.UnpackException, RecursionError)


def unpack(data: bytes | bytearray | memoryview, *, dates: str = "datetime",
           max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Decode one MessagePack value as notepack.io's ``decode`` does.

    ``dates`` says what a timestamp (a JS ``Date``) becomes: ``"datetime"``
    (a UTC-aware :class:`~datetime.datetime`; a date Python cannot represent
    is a ProtocolError) or ``"iso"`` (the string ``Date.toJSON`` gives, which
    is what a Node server would send its clients; ``None`` for an invalid
    date).  Raises :class:`~txsocketio.errors.ProtocolError`, and only that,
    on malformed input, trailing bytes or nesting deeper than ``max_depth``
    (msgpack refuses more than 1024 levels whatever ``max_depth`` says; a
    map value that a later duplicate key replaces is dropped unchecked).

    msgpack's C decoder (``raw=False``, invalid UTF-8 replaced, its size
    limits derived from ``len(data)``, an ``ext_hook`` for notepack's
    extensions of type 0 and any other type but -1) does the work.  A
    timestamp (type -1) goes through msgpack's own reader, which refuses what
    the specification forbids (another size than 4, 8 or 12 bytes, more than
    999999999 nanoseconds) where notepack would make something up.  A
    scan of the bytes says whether the result may need more: when a bin or
    ext value may be present (a bin value can be a map key, an extension
    means undefined, dates or ``[type, bytes]``) or enough container headers
    to break ``max_depth``.  Then a pass that allocates nothing checks the
    containers, and only if it finds something to change does another pass
    change it; a map key that is no string makes msgpack read the maps as
    pairs, so that the keys are named in order, duplicates included.
    """
    if dates not in _DATE_MODES:
        raise ValueError("dates is 'datetime' or 'iso'")
    if type(data) is not bytes:
        data = bytes(data)
    tags = data.translate(_TAGS, _UNTAGGED)
    ext = b"\x01" in tags
    ext_hook = _ExtHook(data, dates) if ext else msgpack.ExtType
    try:
        try:
            value = msgpack.unpackb(data, raw=False, unicode_errors="replace", strict_map_key=True,
                                    ext_hook=ext_hook)
            check = ext or len(tags) > max_depth or b"\x02" in tags  # a bin value may be a map key
        except ValueError:
            # A map key that is no string (or malformed input): read the
            # pairs as they come, duplicates included, and name the keys.
            if ext:
                ext_hook = _ExtHook(data, dates)
            value = msgpack.unpackb(data, raw=False, unicode_errors="replace", strict_map_key=False,
                                    object_pairs_hook=_Pairs, ext_hook=ext_hook)
            check = True
        if check and type(value) not in _UNPACKED_AS_IS and not _unpacked_as_is(value, max_depth, 0):
            value = _finish(value, dates, max_depth, 0)
    except _MALFORMED as e:
        raise ProtocolError(f"malformed MessagePack value: {str(e) or type(e).__name__}") from None
    return None if value is _UNDEFINED else value


class _Pairs(list[tuple[Any, Any]]):
    """A map's ``(key, value)`` pairs as msgpack's ``object_pairs_hook`` gets them."""

    __slots__ = ()


def _unpacked_as_is(value: Any, max_depth: int, depth: int) -> bool:
    """Whether msgpack decoded ``value`` exactly as notepack does and within
    ``max_depth``: plain lists and dicts with string keys, of
    ``_UNPACKED_AS_IS`` values (nothing from an extension)."""
    if depth >= max_depth:
        return False
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            kind = type(item)
            if kind in _UNPACKED_AS_IS:
                continue
            if (kind is list or kind is dict) and _unpacked_as_is(item, max_depth, depth + 1):
                continue
            return False
        return True
    if kind is list:
        for item in value:
            kind = type(item)
            if kind in _UNPACKED_AS_IS:
                continue
            if (kind is list or kind is dict) and _unpacked_as_is(item, max_depth, depth + 1):
                continue
            return False
        return True
    return False


def _finish(value: Any, dates: str, max_depth: int, depth: int) -> Any:
    """A value msgpack decoded (not of an ``_UNPACKED_AS_IS`` type) as
    notepack decodes it: ``max_depth`` enforced, an undefined array element
    ``None`` and an undefined map entry dropped, map keys named as JavaScript
    names them, timestamps dates, an unknown extension ``[type, bytes]``."""
    kind = type(value)
    if kind is list or kind is dict or kind is _Pairs:
        if depth >= max_depth:
            raise ProtocolError(f"MessagePack value nests deeper than {max_depth}")
        if kind is list:
            for i, item in enumerate(value):
                if type(item) not in _UNPACKED_AS_IS:
                    item = _finish(item, dates, max_depth, depth + 1)
                    value[i] = None if item is _UNDEFINED else item
            return value
        out: dict[str, Any] = {}
        for key, item in (value.items() if kind is dict else value):
            if type(key) is not str:
                key = _map_key(key if type(key) in _UNPACKED_AS_IS else _finish(key, dates, max_depth, depth + 1))
            if type(item) not in _UNPACKED_AS_IS:
                item = _finish(item, dates, max_depth, depth + 1)
                if item is _UNDEFINED:
                    out.pop(key, None)  # JS keeps the key holding undefined; JSON and notepack drop it
                    continue
            out[key] = item
        return out
    if kind is msgpack.Timestamp:
        return _date(value.seconds, value.nanoseconds, dates)
    if kind is tuple:
        return list(value)  # an unknown extension (from _ExtHook)
    return value  # undefined, or a legacy date from _ExtHook


def _map_key(key: Any) -> str:
    """A decoded map key as the JavaScript property name notepack gives it."""
    if isinstance(key, str):
        return key
    if key is _UNDEFINED:
        return "undefined"
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")  # String(buffer)
    if isinstance(key, (bool, int, float)) or key is None:
        return _js_key(key)
    raise ProtocolError(f"a MessagePack map key that is a {type(key).__name__}")


_FIXEXT_OF_SIZE: Final = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
#: Where the type byte of an ext value is, from its first byte.
_EXT_TYPE_AT: Final = {0xC7: 2, 0xC8: 3, 0xC9: 5, 0xD4: 1, 0xD5: 1, 0xD6: 1, 0xD7: 1, 0xD8: 1}


class _ExtHook:
    """msgpack's ``ext_hook`` for one :func:`unpack` call.

    msgpack passes ``(type, payload)`` but not the format byte, and notepack
    reads type 0 by format: ``fixext 1`` is ``undefined``, ``fixext 8`` the
    legacy date (int64 milliseconds), ``fixext 2/4/16`` ``[0, bytes]`` and
    ``ext 8/16/32`` an ArrayBuffer (``bytes``).  The payload size tells them
    apart but for the sizes of a fixext; then the bytes around say which
    format can occur, and only if both can does a scan of the structure
    (:func:`_ext0_formats`) say which one this is.  Another type is
    ``[type, bytes]`` (a tuple until :func:`_finish` makes it a list: a
    tuple can be a map key, and then is refused as notepack's array is).
    """

    __slots__ = ("data", "dates", "seen", "formats")

    def __init__(self, data: bytes, dates: str) -> None:
        self.data = data
        self.dates = dates
        self.seen = 0
        self.formats: list[int] | None = None

    def __call__(self, code: int, payload: bytes) -> Any:
        if code != 0:
            return (code, payload)
        index = self.seen
        self.seen += 1
        fmt = self.format(len(payload), index)
        if fmt == 0xD4:
            return _UNDEFINED
        if fmt == 0xD7:
            return _date_ms(int.from_bytes(payload, "big", signed=True), self.dates)
        if fmt in (0xD5, 0xD6, 0xD8):
            return (0, payload)
        return payload

    def format(self, size: int, index: int) -> int:
        fixext = _FIXEXT_OF_SIZE.get(size)
        if fixext is None:
            return 0xC7
        data = self.data
        n = size.to_bytes(4, "big")
        if not (b"\xc7" + n[3:] + b"\x00" in data or b"\xc8" + n[2:] + b"\x00" in data
                or b"\xc9" + n + b"\x00" in data):
            return fixext
        if bytes((fixext, 0)) not in data:
            return 0xC7
        if self.formats is None:
            self.formats = _ext0_formats(data)
        if index >= len(self.formats):
            raise ProtocolError("malformed MessagePack value")
        return self.formats[index]


def _ext0_formats(data: bytes) -> list[int]:
    """The first byte of every ext value of type 0 in ``data``, in stream
    order: msgpack walks the structure, the bytes at its offsets say the formats."""
    unpacker = msgpack.Unpacker(max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    formats = []
    pending = 1
    while pending:
        pending -= 1
        offset = unpacker.tell()
        if offset >= len(data):
            raise ProtocolError("truncated MessagePack value")
        first = data[offset]
        if 0x80 <= first <= 0x8F or first in (0xDE, 0xDF):
            pending += 2 * unpacker.read_map_header()
        elif 0x90 <= first <= 0x9F or first in (0xDC, 0xDD):
            pending += unpacker.read_array_header()
        else:
            at = _EXT_TYPE_AT.get(first)
            if at is not None and data[offset + at:offset + at + 1] == b"\x00":
                formats.append(first)
            unpacker.skip()
    return formats


def _date_ms(ms: float, dates: str) -> Any:
    """A JavaScript ``new Date(ms)`` as ``dates`` asks."""
    ms = math.trunc(ms) if math.isfinite(ms) else ms
    if not (isinstance(ms, int) and abs(ms) <= 8.64e15):
        if dates == "iso":
            return None  # Invalid Date; toJSON gives null
        raise ProtocolError("a MessagePack timestamp outside JavaScript's Date range")
    if dates == "iso":
        return iso_date(ms)
    try:
        return _EPOCH + datetime.timedelta(milliseconds=ms)
    except OverflowError:
        raise ProtocolError("a MessagePack timestamp outside Python's datetime range") from None


def _date(seconds: int, nanos: int, dates: str) -> Any:
    """A timestamp extension as ``dates`` asks."""
    if dates == "iso":
        return _date_ms(seconds * 1e3 + nanos / 1e6, dates)
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
        return stringify(_jsonable(value, set())).encode("utf-8", "surrogatepass")
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
