# -*- test-case-name: tests.test_socketio_packet -*-
"""
The Socket.IO packet codec, without I/O.

A Socket.IO packet travels as one Engine.IO text message, followed by one
Engine.IO binary message per binary attachment::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]

The namespace is left out when it is C{/}.  Every C{bytes}, C{bytearray} or
C{memoryview} inside the arguments of an event or an ack is replaced by
C{{"_placeholder":true,"num":i}} (depth first, in order) and sent as the i-th
attachment; the packet then goes out as BINARY_EVENT or BINARY_ACK.  The text
encoding is the same for Socket.IO v5 (Engine.IO 4) and v4 (Engine.IO 3).

L{encode} turns a L{Packet} into the Engine.IO messages to send; it writes
JSON exactly as JavaScript's C{JSON.stringify} does, so that a broadcast can be
encoded once and handed to any client.  L{Decoder} is fed the Engine.IO
messages of one connection, in order, and gives back complete packets with
the attachments put back in place.  On input that breaks the protocol it
raises L{txsocketio.errors.ProtocolError} and nothing else; the connection
should then be closed.

The reference for every parsing detail is Node's C{socket.io-parser} (4.2,
used by the socket.io 4.8 server for all its clients).  The decoder never
accepts what Node refuses; it is stricter where Node lets nonsense through:
an EVENT, ACK or CONNECT_ERROR without payload, an event name that is a
number, a blank before the JSON (Node reads it as ack id 0), an ack id beyond
2**53 - 1, a placeholder repeated or an attachment left unreferenced, and
nesting deeper than C{max_json_depth} (L{PayloadTooDeep}).  A CONNECT's query
string is split off the namespace (Node leaves that to the server, for v4
clients only).

JSON goes through orjson (C) when it is installed, and through exact paths
written here where orjson would differ from C{JSON.stringify} or from
C{json.loads} (see the comments above L{encode} and L{Decoder}, and
docs/development/json-codec.md).  Nothing here recurses with the depth of the
data: no input or server data can reach Python's recursion limit.
"""

from __future__ import annotations

import enum
import itertools
import json
import json.decoder
import re
import uuid
from json.encoder import encode_basestring as _encode_basestring
from types import ModuleType
from typing import Any, Callable, Final, Union

import attrs

from txsocketio.errors import ProtocolError

#: CPython's string scanner (the C one when available); typeshed does not declare it.
_scanstring: Callable[[str, int], tuple[str, int]] = getattr(json.decoder, "scanstring")

_orjson: ModuleType | None
try:
    import orjson as _orjson
except ImportError:  # the exact path alone: slower, same results
    _orjson = None

__all__ = [
    "PacketType",
    "Packet",
    "encode",
    "stringify",
    "check_payload",
    "js_number",
    "Decoder",
    "PayloadTooDeep",
    "DEFAULT_MAX_JSON_DEPTH",
    "RESERVED_EVENTS",
    "MAX_ACK_ID",
]


class PacketType(enum.IntEnum):
    """
    The Socket.IO packet types; the value is the digit that starts a packet.
    """

    #: Join a namespace (client), or the server's acceptance.
    CONNECT = 0
    #: Leave a namespace.
    DISCONNECT = 1
    #: An event: C{[name, *args]}.
    EVENT = 2
    #: The answer to an event that asked for one: C{[*args]}.
    ACK = 3
    #: The server refuses a CONNECT (called ERROR in Socket.IO v4).
    CONNECT_ERROR = 4
    #: An event with binary attachments (wire only; decoded as EVENT).
    BINARY_EVENT = 5
    #: An ack with binary attachments (wire only; decoded as ACK).
    BINARY_ACK = 6


#: Event names the Node parser refuses to decode, because they mean
#: something to the Socket.IO libraries themselves.
RESERVED_EVENTS: Final = frozenset(
    {
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    }
)

#: The largest ack id accepted (JavaScript's C{Number.MAX_SAFE_INTEGER}):
#: beyond it a JavaScript peer cannot represent the id exactly.
MAX_ACK_ID: Final = 2**53 - 1


@attrs.frozen(slots=True)
class Packet:
    """
    One Socket.IO packet.

    @ivar type: the packet type.  Build events and acks as L{PacketType.EVENT}
        and L{PacketType.ACK} even when they carry binary data: L{encode}
        switches to the binary types by itself, and L{Decoder} hands binary
        packets back with the plain types.
    @ivar namespace: the namespace, C{"/"} by default.
    @ivar data: the payload.  EVENT: a list C{[name, *args]}; ACK: the list of
        arguments; CONNECT: a dict (auth or C{{"sid": ...}}) or C{None};
        CONNECT_ERROR: a dict C{{"message": ..., "data"?: ...}} or (Socket.IO
        v4) a string; DISCONNECT: C{None}.  Binary values are C{bytes} in
        place, never placeholders.
    @ivar id: the ack id, or C{None}.
    @ivar query: for a CONNECT only, the query string that a Socket.IO v4
        client (Engine.IO 3) puts after the namespace (C{0/nsp?token=x,});
        C{None} when there is none.  It is the raw string, not URL-decoded.
    """

    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: Union[int, None] = None
    query: Union[str, None] = None


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------
#
# Two paths write the same text.  The fast one is orjson (C), when it is
# installed; it writes what JSON.stringify writes except for the layout of
# some floats, which a cheap post-pass fixes (_fix_floats).  orjson refuses
# everything else where it would differ (lone surrogates, ints beyond 64
# bits, non-str keys, float subclasses, dataclasses, datetimes, more than
# 254 levels of nesting, cycles): the exact path (_write_exact) then writes
# the packet, one value at a time, with an explicit stack instead of
# recursion, so no data is too deep for it.  Both paths take binary values
# out into attachments in the same depth-first order, write enum members as
# their value and UUIDs as their string, and read a dict subclass's stored
# items.

_BINARY_TYPES: Final = (bytes, bytearray, memoryview)

# orjson serialises dataclasses and datetimes natively; json (and so the
# exact path) does not: hand them to the default hook, which refuses them.
_ORJSON_OPTIONS: Final = (
    (_orjson.OPT_PASSTHROUGH_DATACLASS | _orjson.OPT_PASSTHROUGH_DATETIME)
    if _orjson is not None
    else 0
)

# Python's repr, orjson and JavaScript agree on the shortest digits of a
# double, and on the layout too for the plain "123.456" form.  They differ
# only when the text has ".0" (1.0 is 1 in JavaScript) or an exponent
# ("1e-7", "1e+16"): look for those, cheaply, before tokenising.  The checks
# may hit inside strings too; the tokeniser then finds nothing to do.
_FLOAT_HINTS: Final = (".0", "e+", "e-")
# A float token that needs rewriting (group 1), with the "[", "," or ":"
# before it; used on text without backslashes, where counting quotes tells
# whether a match is inside a string.
_FLOAT_TOKEN: Final = re.compile(
    r"[\[,:](-?[0-9]+(?:\.[0-9]+)?e[-+][0-9]+|-?[0-9]+\.0)(?=[\],}])"
)
# A JSON string (skipped), or a float token that needs rewriting (group 1):
# the slower, general tokeniser.
_STRING_OR_FLOAT: Final = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"'
    r"|(-?[0-9]+(?:\.[0-9]+)?e[-+][0-9]+|-?[0-9]+\.0(?![0-9]))"
)
# Surrogate code points: a pair that is one character in JavaScript's UTF-16,
# or a lone one, which JSON.stringify escapes.
_SURROGATES: Final = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")


def js_number(token: str) -> str:
    """
    Rewrite a finite float as Python's repr or orjson wrote it into what
    JavaScript's C{Number.prototype.toString} writes for the same double
    (ECMA-262 Number::toString).

    All choose the same shortest round-tripping digits; they differ in
    layout: C{1.0} is C{1}, C{1e+16} is C{10000000000000000}, C{1e-05} is
    C{0.00001}, C{1e-07} is C{1e-7}.
    """
    negative = token[0] == "-"
    if negative:
        token = token[1:]
    mantissa, _, exponent = token.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    # The value is 0.<digits> * 10**point.
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return "0"  # 0.0 and -0.0 alike
    k = len(digits)
    if k <= point <= 21:
        text = digits + "0" * (point - k)
    elif 0 < point <= 21:
        text = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        e = point - 1
        head = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = head + ("e+" if e >= 0 else "e-") + str(abs(e))
    return "-" + text if negative else text


def _js_float(value: float) -> str:
    """
    A float as C{JSON.stringify} writes it: NaN and the infinities are
    C{null}.
    """
    if value != value or value in (_INFINITY, -_INFINITY):
        return "null"
    return js_number(float.__repr__(value))


_INFINITY: Final = float("inf")


def _replace_float(match: re.Match[str]) -> str:
    token = match.group(1)
    return match.group(0) if token is None else js_number(token)


def _replace_surrogates(match: re.Match[str]) -> str:
    found = match.group(0)
    if len(found) == 2:
        return found.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    return "\\u%04x" % ord(found)


def _fix_floats(text: str) -> str:
    """
    Rewrite the floats in JSON text from Python's or orjson's notation to
    JavaScript's.
    """
    for hint in _FLOAT_HINTS:
        if hint in text:
            break
    else:
        return text
    if "\\" in text:
        # Escaped quotes would fool the quote counting below.
        return _STRING_OR_FLOAT.sub(_replace_float, text)
    pieces = []
    done = counted = quotes = 0
    for match in _FLOAT_TOKEN.finditer(text):
        start = match.start(1)
        quotes += text.count('"', counted, start)
        counted = start
        if quotes & 1:
            continue  # inside a string
        pieces.append(text[done:start])
        pieces.append(js_number(match.group(1)))
        done = match.end()
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _js_string(value: str) -> str:
    """
    A string as C{JSON.stringify} writes it: compact escapes, non-ASCII as
    is, lone surrogates escaped.
    """
    text = _encode_basestring(value)
    if not text.isascii() and _SURROGATES.search(text) is not None:
        text = _SURROGATES.sub(_replace_surrogates, text)
    return text


class _BadValue(Exception):
    """
    Raised inside L{_write_exact} and turned into a TypeError or ValueError
    that says where the value was.
    """

    def __init__(self, error: type[Exception], problem: str, path: list[object]) -> None:
        super().__init__(problem)
        self.error = error
        self.problem = problem
        self.path = path


def _key_text(key: object, path: list[object]) -> str:
    """
    A dict key as JavaScript would write it once it became a property name:
    C{String(key)}.
    """
    if isinstance(key, str):
        return _js_string(key)
    if key is True:
        return '"true"'
    if key is False:
        return '"false"'
    if key is None:
        return '"null"'
    if isinstance(key, int):
        return '"' + int.__repr__(key) + '"'
    if isinstance(key, float):
        if key != key:
            return '"NaN"'
        if key in (_INFINITY, -_INFINITY):
            return '"Infinity"' if key > 0 else '"-Infinity"'
        return '"' + js_number(float.__repr__(key)) + '"'
    raise _BadValue(
        TypeError,
        "dict key is not str, int, float, bool or None: " + type(key).__name__,
        path + [key],
    )


def _write_exact(data: Any, buffers: list[bytes] | None) -> str:
    """
    The exact encoder: C{data} as C{JSON.stringify} writes it, binary values
    replaced by placeholders (their bytes appended to C{buffers}).

    It walks the data with an explicit stack, so it cannot exhaust Python's
    recursion however deep the data is, and it reports the first value it
    cannot write with L{_BadValue} and the path to it.

    @param buffers: where attachments go, or C{None} when binary data is not
        allowed (CONNECT and CONNECT_ERROR payloads).
    """
    out: list[str] = []
    write = out.append
    # One frame per open container: [items iterator, closing text, is a
    # dict, id of the container, items written so far].
    stack: list[list[Any]] = []
    path: list[object] = []  # the key or index being written, per frame
    active: set[int] = set()  # containers being written, to spot cycles
    value = data
    while True:
        # Write `value`, or open it when it is a container.
        while True:
            if isinstance(value, str):
                write(_js_string(value))
            elif value is None:
                write("null")
            elif value is True:
                write("true")
            elif value is False:
                write("false")
            elif isinstance(value, int):
                write(int.__repr__(value))
            elif isinstance(value, float):
                write(_js_float(value))
            elif isinstance(value, (list, tuple, dict)):
                marker = id(value)
                if marker in active:
                    raise _BadValue(ValueError, "circular reference", list(path))
                active.add(marker)
                if isinstance(value, dict):
                    write("{")
                    stack.append([iter(dict.items(value)), "}", True, marker, 0])
                else:
                    write("[")
                    stack.append([iter(enumerate(value)), "]", False, marker, 0])
                path.append(None)
            elif isinstance(value, _BINARY_TYPES):
                if buffers is None:
                    raise _BadValue(
                        TypeError,
                        "binary data is only allowed in events and acks, found "
                        + type(value).__name__,
                        list(path),
                    )
                buffers.append(bytes(value))
                write('{"_placeholder":true,"num":%d}' % (len(buffers) - 1,))
            elif isinstance(value, enum.Enum):
                value = value.value
                continue
            elif isinstance(value, uuid.UUID):
                write('"' + str(value) + '"')
            else:
                raise _BadValue(
                    TypeError,
                    "is not JSON-serialisable: " + type(value).__name__,
                    list(path),
                )
            break
        # Move on to the next value of the innermost open container.
        while stack:
            frame = stack[-1]
            item: Any = next(frame[0], _DONE)
            if item is _DONE:
                write(frame[1])
                active.discard(frame[3])
                stack.pop()
                path.pop()
                continue
            key, value = item
            path[-1] = key
            if frame[4]:
                write(",")
            frame[4] += 1
            if frame[2]:
                write(_key_text(key, path[:-1]) + ":")
            break
        else:
            return "".join(out)


_DONE: Final = object()


def _where(packet: Packet, path: list[object]) -> tuple[str, list[object]]:
    """
    Describe where, in C{packet}'s payload, the value at C{path} (outermost
    key first) is: "argument 2 of event 'x'", and the rest of the path.
    """
    ptype = packet.type
    if ptype in (PacketType.EVENT, PacketType.BINARY_EVENT) and path:
        return f"argument {path[0]} of event {packet.data[0]!r}", path[1:]
    if ptype in (PacketType.ACK, PacketType.BINARY_ACK) and path:
        index = path[0]
        assert isinstance(index, int)
        return f"argument {index + 1} of ack {packet.id}", path[1:]
    return f"payload of {PacketType(ptype).name} packet", path


def _exact_payload(packet: Packet, buffers: list[bytes] | None) -> str:
    """
    The JSON of C{packet.data} by the exact path; explain what cannot be
    encoded.
    """
    try:
        return _write_exact(packet.data, buffers)
    except _BadValue as e:
        where, rest = _where(packet, e.path)
        problem = e.problem
        if problem.startswith("is not"):
            message = f"{where} {problem}"
        else:
            message = f"{where}: {problem}"
        if rest:
            message += " at " + "".join(f"[{step!r}]" for step in rest)
        raise e.error(message) from None


def _fast_payload(data: Any, buffers: list[bytes] | None) -> str | None:
    """
    The JSON of C{data} by orjson, or C{None} where orjson refuses it (the
    exact path then decides).
    """
    assert _orjson is not None

    def attach(value: Any) -> Any:
        if buffers is not None and isinstance(value, _BINARY_TYPES):
            buffers.append(bytes(value))
            return {"_placeholder": True, "num": len(buffers) - 1}
        raise TypeError

    try:
        raw = _orjson.dumps(data, default=attach, option=_ORJSON_OPTIONS)
    except _orjson.JSONEncodeError:
        if buffers:
            buffers.clear()
        return None
    return _fix_floats(raw.decode("utf-8"))


def stringify(data: Any) -> str:
    """
    C{data} as JSON text, exactly as C{JSON.stringify} writes it, by the
    same two paths as packet payloads (binary values are refused here: only
    L{encode} turns them into attachments).  For other JSON wire formats
    that must match Node byte for byte (the Redis adapter's).

    @raise TypeError: a value cannot be written; the message gives its path.
    @raise ValueError: C{data} holds a reference cycle.
    """
    if _orjson is not None:
        fast = _fast_payload(data, None)
        if fast is not None:
            return fast
    try:
        return _write_exact(data, None)
    except _BadValue as e:
        where = "".join(f"[{step!r}]" for step in e.path)
        raise e.error(e.problem + (" at " + where if where else "")) from None


_TYPE_DIGITS: Final = {kind: str(int(kind)) for kind in PacketType}

# The members the hot paths compare with, as module constants: before Python
# 3.12 reading a member through its class goes through EnumType's __getattr__
# hook (~70 ns; a global, ~7 ns), and each packet in and out reads dozens.
_CONNECT: Final = PacketType.CONNECT
_DISCONNECT: Final = PacketType.DISCONNECT
_EVENT: Final = PacketType.EVENT
_ACK: Final = PacketType.ACK
_CONNECT_ERROR: Final = PacketType.CONNECT_ERROR
_BINARY_EVENT: Final = PacketType.BINARY_EVENT
_BINARY_ACK: Final = PacketType.BINARY_ACK


def _describe(data: Any) -> str:
    """
    Name the type of C{data} for an error message (and of its first item,
    for a sequence).
    """
    if isinstance(data, (list, tuple)):
        if not data:
            return f"an empty {type(data).__name__}"
        return f"a {type(data).__name__} starting with {type(data[0]).__name__}"
    return type(data).__name__


def _check(packet: Packet) -> PacketType:
    """
    Refuse a packet that cannot be encoded (a caller's mistake); return its
    type, with the binary types folded into EVENT and ACK.
    """
    ptype = packet.type
    if ptype not in _TYPE_DIGITS:
        raise ValueError(f"not a Socket.IO packet type: {ptype!r}")
    if ptype == _BINARY_EVENT:
        ptype = _EVENT
    elif ptype == _BINARY_ACK:
        ptype = _ACK
    data = packet.data
    # Messages name types, not values: data may be large.
    if ptype == _EVENT:
        if not (isinstance(data, (list, tuple)) and data and isinstance(data[0], str)):
            raise ValueError(
                "EVENT data must be a list [name, *args] whose name is a str, not "
                + _describe(data)
            )
    elif ptype == _ACK:
        if not isinstance(data, (list, tuple)):
            raise ValueError("ACK data must be a list of arguments, not " + _describe(data))
        if packet.id is None:
            raise ValueError("ACK needs the id of the event it answers")
    elif ptype == _CONNECT:
        if not (data is None or isinstance(data, dict)):
            raise ValueError("CONNECT data must be a dict or None, not " + _describe(data))
    elif ptype == _CONNECT_ERROR:
        if not isinstance(data, (dict, str)):
            raise ValueError(
                "CONNECT_ERROR data must be a dict or a str, not " + _describe(data)
            )
    elif data is not None:
        raise ValueError("DISCONNECT carries no data, not " + _describe(data))

    namespace = packet.namespace
    if namespace != "/" and (
        not isinstance(namespace, str)
        or not namespace.startswith("/")
        or "," in namespace
        or (ptype == _CONNECT and "?" in namespace)
    ):
        raise ValueError(
            "namespace must start with '/' and hold no ',' (nor '?' in a CONNECT): "
            + repr(namespace)
        )
    query = packet.query
    if query is not None:
        if ptype != _CONNECT:
            raise ValueError("only a CONNECT packet carries a query string")
        if not isinstance(query, str) or "," in query:
            raise ValueError(
                f"query must be a str without ',' (URL-encode it): {query!r}"
            )
    ack = packet.id
    if ack is not None and (
        isinstance(ack, bool) or not isinstance(ack, int) or not 0 <= ack <= MAX_ACK_ID
    ):
        raise ValueError(f"ack id must be an int from 0 to {MAX_ACK_ID}: {ack!r}")
    return ptype


def encode(packet: Packet) -> list[Union[str, bytes]]:
    """
    The Engine.IO messages that carry C{packet}: first the text (header and
    JSON), then each binary attachment.

    An EVENT or ACK whose data holds C{bytes}, C{bytearray} or C{memoryview}
    values anywhere is sent as BINARY_EVENT or BINARY_ACK with placeholders.
    The JSON is what C{JSON.stringify} would write: compact, non-ASCII as is,
    floats in JavaScript's notation (C{1.0} is C{1}), NaN and infinities as
    C{null}, tuples as arrays, enum members as their value, UUIDs as their
    string.  Dict keys that are not strings are written as JavaScript's
    C{String(key)} would (C{1.0} as C{"1"}, C{None} as C{"null"}).  Any depth
    of nesting is fine.

    @return: a list with one element when there is no binary data.
    @raise TypeError: a value in the payload cannot be encoded; the message
        says which argument and what type.
    @raise ValueError: the packet breaks the rules for its type, or its data
        holds a reference cycle.
    """
    ptype = _check(packet)
    data = packet.data
    buffers: list[bytes] = []
    if data is None:
        payload = ""
    else:
        binary_ok = ptype == _EVENT or ptype == _ACK
        attachments = buffers if binary_ok else None
        fast = None if _orjson is None else _fast_payload(data, attachments)
        payload = _exact_payload(packet, attachments) if fast is None else fast

    if buffers:
        digit = "5" if ptype == _EVENT else "6"
        header = f"{digit}{len(buffers)}-"
    else:
        header = _TYPE_DIGITS[ptype]
    namespace = packet.namespace
    query = packet.query
    if query is not None:
        header += f"{namespace}?{query},"
    elif namespace != "/":
        header += namespace + ","
    if packet.id is not None:
        header += str(packet.id)
    messages: list[Union[str, bytes]] = [header + payload]
    messages.extend(buffers)
    return messages


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------
#
# The depth of a payload is measured on its text, before anything parses it
# (_text_depth), so that no parser ever sees more nesting than
# max_json_depth.  Then the fast path is orjson, except where it would read
# the text differently from json: integers beyond 64 bits (orjson turns them
# into floats; any run of 19 digits sends the payload to the exact path).
# Where orjson refuses the text (bad JSON, but also lone surrogate escapes or
# 1e400, which json reads), the exact path decides: json's C parser for
# shallow payloads, and for deeper ones _parse_iterative, which reads the
# same JSON with an explicit stack.

#: The default of L{Decoder}'s C{max_json_depth}.
DEFAULT_MAX_JSON_DEPTH: Final = 128

# The deepest payload given to json's recursive C parser.  Its recursion
# counts against Python's limit (1000 frames), so it stays small; deeper
# payloads go to the iterative parser.
_RECURSIVE_PARSE_DEPTH: Final = 32

_TYPES_BY_DIGIT: Final = {str(int(kind)): kind for kind in PacketType}
_DIGITS: Final = re.compile(r"[0-9]*")
_MAX_ACK_ID_DIGITS: Final = len(str(MAX_ACK_ID))
# An integer orjson might not read as json does (beyond 64 bits) has at
# least 19 digits: with every digit made "#", look for 19 in a row (on the
# UTF-8 bytes, which orjson reads anyway, this is much faster than a regular
# expression).
_DIGITS_TO_HASH: Final = bytes.maketrans(b"0123456789", b"#" * 10)
_LONG_DIGITS: Final = b"#" * 19
# A JSON string as any parser reads it up to its first error: from a quote
# to the next unescaped quote (DOTALL: a backslash escapes any character).
_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS: Final = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}


def _excerpt(text: str, limit: int = 40) -> str:
    """
    C{text} as a repr, shortened for an error message: it came from the peer
    and may be huge.
    """
    if len(text) > limit:
        return repr(text[:limit]) + "..."
    return repr(text)


def _text_depth(payload: str) -> int:
    """
    How deep arrays and objects nest in the JSON text C{payload}, brackets
    inside strings not counted; without parsing, and in time linear in the
    length of the text.

    For valid JSON this is the depth of the value.  For invalid JSON it is
    at least the depth any parser reaches before it finds the error, since
    parsers read strings as this does up to that point.
    """
    brackets = _NOT_BRACKETS.sub("", _STRING.sub("", payload))
    if not brackets:
        return 0
    return max(itertools.accumulate(map(_BRACKET_STEP.__getitem__, brackets)))


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"JSON payload holds {name}, which is not JSON")


_loads: Final[Callable[[str], Any]] = json.JSONDecoder(
    parse_constant=_reject_constant
).decode

# A JSON token after optional blanks: group 1 a punctuation mark, group 2 a
# string's opening quote, groups 3-5 a number, group 6 a literal.  Numbers
# follow json's C scanner: ASCII digits, and "1." or "-" are not numbers.
_TOKEN: Final = re.compile(
    r'[ \t\n\r]*(?:([\[\]{},:])|(")|(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?'
    r"|(true|false|null|NaN|Infinity|-Infinity))"
)
_BLANKS: Final = re.compile(r"[ \t\n\r]*")
_LITERALS: Final = {"true": True, "false": False, "null": None}


def _parse_iterative(text: str) -> Any:
    """
    Read JSON as C{json.loads} does (with NaN and Infinity refused), with an
    explicit stack instead of recursion.  Slower than C; only used for deep
    payloads that orjson did not take.

    @raise ProtocolError: the text is not JSON.
    @raise ValueError: an integer too long for Python's int parser.
    """
    match_token = _TOKEN.match
    position = 0
    # Open containers: the list or dict, and for a dict the key being set.
    stack: list[list[Any]] = []
    # What the grammar allows next: "value", "value or ]", "key or }",
    # "key", ":", ", or ]", ", or }".
    expect = "value"
    result: Any = None
    while True:
        match = match_token(text, position)
        if match is None:
            raise ProtocolError(f"bad JSON payload at character {position}")
        position = match.end()
        mark = match.group(1)
        if expect == ":":
            if mark != ":":
                raise ProtocolError(f"bad JSON payload: ':' expected at {position}")
            expect = "value"
            continue
        if expect in (", or ]", ", or }"):
            if mark == ",":
                expect = "value" if expect == ", or ]" else "key"
                continue
            if mark != expect[-1]:
                raise ProtocolError(f"bad JSON payload: {expect} expected at {position}")
            done = stack.pop()[0]
        elif expect in ("key", "key or }"):
            if mark == "}" and expect == "key or }":
                done = stack.pop()[0]
            elif match.group(2) is not None:
                try:
                    key, position = _scanstring(text, position)
                except ValueError as e:
                    raise ProtocolError(f"bad JSON payload: {e}") from None
                stack[-1][1] = key
                expect = ":"
                continue
            else:
                raise ProtocolError(f"bad JSON payload: key expected at {position}")
        else:  # a value, or "]" right after "["
            if mark == "]" and expect == "value or ]":
                done = stack.pop()[0]
            elif mark == "[":
                stack.append([[], None])
                expect = "value or ]"
                continue
            elif mark == "{":
                stack.append([{}, None])
                expect = "key or }"
                continue
            elif mark is not None:
                raise ProtocolError(f"bad JSON payload: unexpected {mark!r} at {position}")
            elif match.group(2) is not None:
                try:
                    done, position = _scanstring(text, position)
                except ValueError as e:
                    raise ProtocolError(f"bad JSON payload: {e}") from None
            elif match.group(3) is not None:
                integer, fraction, exponent = match.group(3, 4, 5)
                if fraction is None and exponent is None:
                    done = int(integer)
                else:
                    done = float(match.group(3) + (fraction or "") + (exponent or ""))
            else:
                literal = match.group(6)
                if literal not in _LITERALS:
                    _reject_constant(literal)
                done = _LITERALS[literal]
        # `done` is a complete value: put it in its container, or finish.
        if not stack:
            result = done
            break
        top = stack[-1]
        container = top[0]
        if type(container) is list:
            container.append(done)
            expect = ", or ]"
        else:
            container[top[1]] = done
            expect = ", or }"
    if _BLANKS.match(text, position).end() != len(text):  # type: ignore[union-attr]  # x* always matches
        raise ProtocolError(f"bad JSON payload: extra data at {position}")
    return result


def _parse_exact(payload: str, depth: int) -> Any:
    """
    Read JSON as C{json.loads} does, without recursing deeper than
    L{_RECURSIVE_PARSE_DEPTH}.
    """
    try:
        if depth <= _RECURSIVE_PARSE_DEPTH:
            return _loads(payload)
        return _parse_iterative(payload)
    except ValueError as e:  # json's errors, and int's digit limit
        raise ProtocolError(f"bad JSON payload: {e}") from None


def _parse(payload: str, depth: int) -> Any:
    """
    Read the JSON payload C{payload}, which nests C{depth} deep at most: by
    orjson where it reads the text as json does, else by the exact path.
    """
    if _orjson is not None:
        try:
            raw = payload.encode("utf-8")
        except UnicodeEncodeError:
            pass  # lone surrogates, which json reads: the exact path
        else:
            if _LONG_DIGITS not in raw.translate(_DIGITS_TO_HASH):
                try:
                    return _orjson.loads(raw)
                except _orjson.JSONDecodeError:
                    pass  # perhaps valid for json: the exact path decides
    return _parse_exact(payload, depth)

#: Where a placeholder sits: (container, key or index, attachment number).
_Slot = tuple[Any, Any, int]


def _placeholders(data: Any) -> list[_Slot]:
    """
    Every placeholder in C{data} (a list or dict fresh from JSON), depth
    first (Node's rule: a dict whose C{_placeholder} is C{true}); with an
    explicit stack, so any depth is fine.
    """
    slots: list[_Slot] = []
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        items = node.items() if type(node) is dict else enumerate(node)
        for key, value in items:
            kind = type(value)
            if kind is dict:
                if value.get("_placeholder") is True:
                    num = value.get("num")
                    if type(num) is not int:
                        raise ProtocolError(
                            "placeholder whose num is not an integer but "
                            + type(num).__name__
                        )
                    slots.append((node, key, num))
                else:
                    stack.append(value)
            elif kind is list:
                stack.append(value)
    return slots


class PayloadTooDeep(ProtocolError):
    """
    A packet's JSON payload nests deeper than the decoder's
    C{max_json_depth}.  The connection is broken like for any
    L{ProtocolError}; the attributes let the server say why (a CONNECT
    refused with a CONNECT_ERROR naming the limit, a disconnect reason).

    @ivar limit: the decoder's C{max_json_depth}.
    @ivar packet_type: the type of the packet refused.
    @ivar namespace: its namespace.
    """

    def __init__(self, limit: int, packet_type: PacketType, namespace: str) -> None:
        super().__init__(
            f"JSON payload nests deeper than {limit} levels (max_json_depth)"
        )
        self.limit = limit
        self.packet_type = packet_type
        self.namespace = namespace


def check_payload(ptype: PacketType, data: Any, present: bool) -> None:
    """
    Raise L{ProtocolError} unless C{data} is a valid payload for a packet of
    type C{ptype} from a client (C{present}: the packet carried a payload at
    all).  The rules of Node's socket.io-parser C{isPayloadValid}, shared by
    every parser (JSON here, MessagePack in L{txsocketio.socketio.msgpack_parser}).
    """
    kind = type(data)
    if ptype == _EVENT or ptype == _BINARY_EVENT:
        if not (kind is list and data and type(data[0]) is str):
            raise ProtocolError(
                "EVENT payload must be a non-empty array starting with the event name"
            )
        if data[0] in RESERVED_EVENTS:
            raise ProtocolError(f"reserved event name {data[0]!r}")
    elif ptype == _ACK or ptype == _BINARY_ACK:
        if kind is not list:
            raise ProtocolError("ACK payload must be an array")
    elif ptype == _CONNECT:
        if present and kind is not dict:
            raise ProtocolError("CONNECT payload must be an object")
    elif ptype == _CONNECT_ERROR:
        if kind is not dict and kind is not str:
            raise ProtocolError("CONNECT_ERROR payload must be an object or a string")
    elif present:
        raise ProtocolError("DISCONNECT carries no payload")


@attrs.define(slots=True)
class _Awaited:
    """
    A binary packet whose attachments are still coming.
    """

    packet: Packet
    slots: list[_Slot]
    count: int
    buffers: list[bytes] = attrs.Factory(list)


class Decoder:
    """
    Incremental decoder for one connection: feed each Engine.IO message, in
    order, to L{feed}.

    After a L{ProtocolError} the connection is broken and should be closed;
    the decoder's state is then not meaningful.
    """

    __slots__ = ("_max_attachments", "_max_json_depth", "_awaited")

    def __init__(
        self,
        *,
        max_attachments: int = 10,
        max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
    ) -> None:
        """
        @param max_attachments: the most binary attachments one packet may
            announce (Node's C{maxAttachments}, 10 by default).
        @param max_json_depth: the deepest nesting of arrays and objects
            allowed in a payload, the payload's own array or object counting
            as 1: C{["echo", [[1]]]} is 3 deep.  Deeper payloads raise
            L{PayloadTooDeep} before they are parsed; any limit is safe, since
            nothing here recurses with the depth.
        """
        if max_attachments < 0:
            raise ValueError("max_attachments must not be negative")
        if max_json_depth < 1:
            raise ValueError("max_json_depth must be at least 1")
        self._max_attachments = max_attachments
        self._max_json_depth = max_json_depth
        self._awaited: _Awaited | None = None

    @property
    def awaiting_attachments(self) -> bool:
        """
        Whether a binary packet has been read and its attachments are awaited.
        """
        return self._awaited is not None

    def feed(self, message: Union[str, bytes, bytearray, memoryview]) -> Packet | None:
        """
        Take the next Engine.IO message.

        @param message: a text message (C{str}) or a binary one (C{bytes},
            C{bytearray} or C{memoryview}).
        @return: the packet this message completes, or C{None} while binary
            attachments are still awaited.  BINARY_EVENT and BINARY_ACK come
            back as EVENT and ACK, with the attachments in place of the
            placeholders.
        @raise ProtocolError: the message breaks the protocol.
        """
        if isinstance(message, str):
            if self._awaited is not None:
                raise ProtocolError(
                    f"text message while {self._awaited.count - len(self._awaited.buffers)}"
                    " binary attachment(s) were awaited"
                )
            return self._decode_text(message)
        if isinstance(message, _BINARY_TYPES):
            awaited = self._awaited
            if awaited is None:
                raise ProtocolError("binary message when no attachment was awaited")
            awaited.buffers.append(bytes(message))
            if len(awaited.buffers) < awaited.count:
                return None
            self._awaited = None
            buffers = awaited.buffers
            for container, key, num in awaited.slots:
                container[key] = buffers[num]
            return awaited.packet
        raise TypeError(
            f"an Engine.IO message is str or bytes, not {type(message).__name__}"
        )

    def _decode_text(self, text: str) -> Packet | None:
        """
        Decode a text message; keep a binary packet aside until its
        attachments arrive.
        """
        ptype = _TYPES_BY_DIGIT.get(text[:1])
        if ptype is None:
            raise ProtocolError(f"unknown Socket.IO packet type {text[:1]!r}")
        position = 1
        attachments = 0
        binary = ptype == _BINARY_EVENT or ptype == _BINARY_ACK
        if binary:
            dash = text.find("-", 1)
            if dash < 0:
                raise ProtocolError("binary packet without '<attachments>-'")
            count = text[1:dash]
            if not (count.isascii() and count.isdigit()):
                raise ProtocolError(f"bad attachment count {_excerpt(count)}")
            count = count.lstrip("0")
            if len(count) > 6 or int(count or "0") > self._max_attachments:
                raise ProtocolError(
                    f"more than {self._max_attachments} binary attachments announced"
                )
            attachments = int(count or "0")
            if attachments < 1:
                raise ProtocolError("binary packet announcing no attachment")
            position = dash + 1

        namespace = "/"
        query = None
        if text.startswith("/", position):
            comma = text.find(",", position)
            if comma < 0:  # "40/admin": the namespace runs to the end
                namespace = text[position:]
                position = len(text)
            else:
                namespace = text[position:comma]
                position = comma + 1
            if ptype == _CONNECT:
                namespace, mark, rest = namespace.partition("?")
                if mark:
                    query = rest

        ack = None
        end = _DIGITS.match(text, position).end()  # type: ignore[union-attr]  # x* always matches
        if end > position:
            if end - position > _MAX_ACK_ID_DIGITS:
                raise ProtocolError(f"ack id of {end - position} digits")
            ack = int(text[position:end])
            if ack > MAX_ACK_ID:
                raise ProtocolError(f"ack id too large: {ack}")
            position = end

        data = None
        slots: list[_Slot] | None = None
        present = position < len(text)
        if present:
            if text[position] in " \t\r\n":
                # Node would read the blank as an ack id; nobody sends it.
                raise ProtocolError("blank before the JSON payload")
            payload = text[position:]
            # Counting brackets is cheap and bounds the depth from above;
            # measure only when it might be too deep.
            depth = payload.count("[") + payload.count("{")
            if depth > self._max_json_depth:
                depth = _text_depth(payload)
                if depth > self._max_json_depth:
                    raise PayloadTooDeep(self._max_json_depth, ptype, namespace)
            data = _parse(payload, depth)
            if binary and type(data) in (list, dict):
                slots = _placeholders(data)
        check_payload(ptype, data, present)

        if not binary:
            return Packet(ptype, namespace, data, ack, query)

        assert slots is not None
        seen = set()
        for _, _, num in slots:
            if not 0 <= num < attachments:
                raise ProtocolError(f"placeholder {num} but {attachments} attachment(s)")
            if num in seen:
                raise ProtocolError(f"placeholder {num} appears twice")
            seen.add(num)
        if len(seen) != attachments:
            raise ProtocolError(
                f"{attachments} attachment(s) announced, {len(seen)} placeholder(s) found"
            )
        plain = _EVENT if ptype == _BINARY_EVENT else _ACK
        packet = Packet(plain, namespace, data, ack, query)
        self._awaited = _Awaited(packet, slots, attachments)
        return None
