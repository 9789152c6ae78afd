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
nesting deeper than a limit.  A CONNECT's query string is split off the
namespace (Node leaves that to the server, for v4 clients only).
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any, Callable, Final, Union

import attrs

from txsocketio.errors import ProtocolError

__all__ = [
    "PacketType",
    "Packet",
    "encode",
    "Decoder",
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

_BINARY_TYPES: Final = (bytes, bytearray, memoryview)
_KEY_TYPES: Final = (str, int, float, bool, type(None))

# One encoder, reused: json.dumps() with non-default arguments builds a new
# JSONEncoder on every call.  check_circular stays on, so that a cycle is a
# ValueError rather than a RecursionError.
_dumps: Final[Callable[[Any], str]] = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=True
).encode

# Python's repr and JavaScript agree on the shortest digits of a double, and
# on the layout too for the plain "123.456" form.  They differ only when repr
# writes ".0" (1.0 is 1 in JavaScript), an exponent ("1e-07", "1e+16"), or
# NaN and Infinity (null): look for those, cheaply, before tokenising.  The
# checks may hit inside strings too; the tokeniser then finds nothing to do.
_FLOAT_HINTS: Final = (".0", "e+", "e-", "NaN", "Infinity")
# A float token that needs rewriting (group 1), with the "[", "," or ":"
# before it; used on text without backslashes, where counting quotes tells
# whether a match is inside a string.
_FLOAT_TOKEN: Final = re.compile(
    r"[\[,:](-?[0-9]+(?:\.[0-9]+)?e[-+][0-9]+|-?[0-9]+\.0|NaN|-?Infinity)(?=[\],}])"
)
# A JSON string (skipped), or a float token that needs rewriting (group 1):
# the slower, general tokeniser.
_STRING_OR_FLOAT: Final = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"'
    r"|(-?[0-9]+(?:\.[0-9]+)?e[-+][0-9]+|-?[0-9]+\.0(?![0-9])|NaN|-?Infinity)"
)
# Surrogate code points: a pair that is one character in JavaScript's UTF-16,
# or a lone one, which JSON.stringify escapes.
_SURROGATES: Final = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")


def _js_number(token: str) -> str:
    """
    Rewrite a float as Python's repr wrote it into what JavaScript's
    C{Number.prototype.toString} writes for the same double (ECMA-262
    Number::toString); NaN and the infinities become C{null}, as
    C{JSON.stringify} writes them.

    Both languages choose the same shortest round-tripping digits; they
    differ in layout: C{1.0} is C{1}, C{1e+16} is C{10000000000000000},
    C{1e-05} is C{0.00001}, C{1e-07} is C{1e-7}.
    """
    if token[-1] in "Ny":  # NaN, Infinity, -Infinity
        return "null"
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


def _replace_float(match: re.Match[str]) -> str:
    token = match.group(1)
    return match.group(0) if token is None else _js_number(token)


def _replace_surrogates(match: re.Match[str]) -> str:
    found = match.group(0)
    if len(found) == 2:
        return found.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    return "\\u%04x" % ord(found)


def _fix_floats(text: str) -> str:
    """
    Rewrite the floats in JSON text from Python's notation to JavaScript's.
    """
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
        pieces.append(_js_number(match.group(1)))
        done = match.end()
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _stringify(data: Any) -> str:
    """
    C{json.dumps}, then the few fixes that make it C{JSON.stringify}.
    """
    text = _dumps(data)
    for hint in _FLOAT_HINTS:
        if hint in text:
            text = _fix_floats(text)
            break
    if not text.isascii() and _SURROGATES.search(text) is not None:
        text = _SURROGATES.sub(_replace_surrogates, text)
    return text


class _BadValue(Exception):
    """
    Raised inside L{_deconstruct} and turned into a TypeError or ValueError
    that says where the value was.
    """

    def __init__(self, error: type[Exception], problem: str) -> None:
        super().__init__(problem)
        self.error = error
        self.problem = problem
        self.path: list[object] = []


def _deconstruct(value: Any, buffers: list[bytes] | None, active: set[int]) -> Any:
    """
    Copy C{value} for C{json.dumps}: binary values become placeholders and
    their bytes are appended to C{buffers}; anything JSON cannot hold is
    reported with L{_BadValue}.

    @param buffers: where attachments go, or C{None} when binary data is not
        allowed (CONNECT and CONNECT_ERROR payloads).
    @param active: ids of the containers being copied, to spot cycles.
    """
    if value is None or isinstance(value, (str, int, float)):  # bool is int
        return value
    if isinstance(value, _BINARY_TYPES):
        if buffers is None:
            raise _BadValue(
                TypeError,
                "binary data is only allowed in events and acks, found "
                + type(value).__name__,
            )
        buffers.append(bytes(value))
        return {"_placeholder": True, "num": len(buffers) - 1}
    if isinstance(value, (list, tuple, dict)):
        marker = id(value)
        if marker in active:
            raise _BadValue(ValueError, "circular reference")
        active.add(marker)
        try:
            if isinstance(value, dict):
                copied: dict[Any, Any] = {}
                for key, item in value.items():
                    if not isinstance(key, _KEY_TYPES):
                        failure = _BadValue(
                            TypeError,
                            "dict key is not str, int, float, bool or None: "
                            + type(key).__name__,
                        )
                        failure.path.append(key)
                        raise failure
                    try:
                        copied[key] = _deconstruct(item, buffers, active)
                    except _BadValue as e:
                        e.path.append(key)
                        raise
                return copied
            items = []
            for index, item in enumerate(value):
                try:
                    items.append(_deconstruct(item, buffers, active))
                except _BadValue as e:
                    e.path.append(index)
                    raise
            return items
        finally:
            active.discard(marker)
    raise _BadValue(TypeError, "is not JSON-serialisable: " + type(value).__name__)


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


def _slow_payload(packet: Packet, buffers: list[bytes] | None) -> str:
    """
    The JSON of C{packet.data} when the fast path failed: take binary values
    out, and explain what cannot be encoded.
    """
    try:
        data = _deconstruct(packet.data, buffers, set())
    except _BadValue as e:
        path = e.path[::-1]
        where, rest = _where(packet, path)
        problem = e.problem
        if problem.startswith("is not"):
            message = f"{where} {problem}"
        else:
            message = f"{where}: {problem}"
        if rest:
            message += " at " + "".join(f"[{step!r}]" for step in rest)
        raise e.error(message) from None
    return _stringify(data)


_TYPE_DIGITS: Final = {kind: str(int(kind)) for kind in PacketType}


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
    if ptype == PacketType.BINARY_EVENT:
        ptype = PacketType.EVENT
    elif ptype == PacketType.BINARY_ACK:
        ptype = PacketType.ACK
    data = packet.data
    # Messages name types, not values: data may be large.
    if ptype == PacketType.EVENT:
        if not (isinstance(data, (list, tuple)) and data and isinstance(data[0], str)):
            raise ValueError(
                "EVENT data must be a list [name, *args] whose name is a str, not "
                + _describe(data)
            )
    elif ptype == PacketType.ACK:
        if not isinstance(data, (list, tuple)):
            raise ValueError("ACK data must be a list of arguments, not " + _describe(data))
        if packet.id is None:
            raise ValueError("ACK needs the id of the event it answers")
    elif ptype == PacketType.CONNECT:
        if not (data is None or isinstance(data, dict)):
            raise ValueError("CONNECT data must be a dict or None, not " + _describe(data))
    elif ptype == PacketType.CONNECT_ERROR:
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
        or (ptype == PacketType.CONNECT and "?" in namespace)
    ):
        raise ValueError(
            "namespace must start with '/' and hold no ',' (nor '?' in a CONNECT): "
            + repr(namespace)
        )
    query = packet.query
    if query is not None:
        if ptype != PacketType.CONNECT:
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
    C{null}, tuples as arrays.  Dict keys that are not strings are written as
    C{json} writes them.

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
        try:
            payload = _stringify(data)
        except (TypeError, ValueError):
            # bytes somewhere (json cannot write them), or a real mistake:
            # walk the data to take the bytes out or to say where it is.
            binary_ok = ptype == PacketType.EVENT or ptype == PacketType.ACK
            payload = _slow_payload(packet, buffers if binary_ok else None)

    if buffers:
        digit = "5" if ptype == PacketType.EVENT else "6"
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

_TYPES_BY_DIGIT: Final = {str(int(kind)): kind for kind in PacketType}
_DIGITS: Final = re.compile(r"[0-9]*")
_MAX_ACK_ID_DIGITS: Final = len(str(MAX_ACK_ID))


def _excerpt(text: str, limit: int = 40) -> str:
    """
    C{text} as a repr, shortened for an error message: it came from the peer
    and may be huge.
    """
    if len(text) > limit:
        return repr(text[:limit]) + "..."
    return repr(text)


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"JSON payload holds {name}, which is not JSON")


_loads: Final[Callable[[str], Any]] = json.JSONDecoder(
    parse_constant=_reject_constant
).decode

#: Where a placeholder sits: (container, key or index, attachment number).
_Slot = tuple[Any, Any, int]


def _scan(data: Any, max_depth: int, slots: list[_Slot] | None) -> None:
    """
    Check that C{data} (a list or dict fresh from JSON) nests no deeper than
    C{max_depth} containers, and when C{slots} is given, record every
    placeholder in it (Node's rule: a dict whose C{_placeholder} is C{true}).
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise ProtocolError(f"JSON payload nests deeper than {max_depth}")
        items = node.items() if type(node) is dict else enumerate(node)
        for key, value in items:
            kind = type(value)
            if kind is dict:
                if slots is not None and value.get("_placeholder") is True:
                    num = value.get("num")
                    if type(num) is not int:
                        raise ProtocolError(
                            "placeholder whose num is not an integer but "
                            + type(num).__name__
                        )
                    slots.append((node, key, num))
                else:
                    stack.append((value, depth + 1))
            elif kind is list:
                stack.append((value, depth + 1))


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

    __slots__ = ("_max_attachments", "_max_depth", "_awaited")

    def __init__(self, *, max_attachments: int = 10, max_depth: int = 32) -> None:
        """
        @param max_attachments: the most binary attachments one packet may
            announce (Node's C{maxAttachments}, 10 by default).
        @param max_depth: the deepest nesting of arrays and objects allowed in
            a payload, counting the payload itself.
        """
        if max_attachments < 0:
            raise ValueError("max_attachments must not be negative")
        if max_depth < 1:
            raise ValueError("max_depth must be at least 1")
        self._max_attachments = max_attachments
        self._max_depth = max_depth
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
        binary = ptype == PacketType.BINARY_EVENT or ptype == PacketType.BINARY_ACK
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
            if ptype == PacketType.CONNECT:
                namespace, mark, rest = namespace.partition("?")
                if mark:
                    query = rest

        ack = None
        end = _DIGITS.match(text, position).end()  # type: ignore[union-attr]
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
            try:
                data = _loads(payload)
            except (ValueError, RecursionError) as e:
                raise ProtocolError(f"bad JSON payload: {e}") from None
            # Counting brackets is cheap and bounds the depth from above;
            # only walk when it might be too deep, or to find placeholders.
            if type(data) in (list, dict) and (
                binary or payload.count("[") + payload.count("{") > self._max_depth
            ):
                slots = [] if binary else None
                _scan(data, self._max_depth, slots)
        kind = type(data)

        if ptype == PacketType.EVENT or ptype == PacketType.BINARY_EVENT:
            if not (kind is list and data and type(data[0]) is str):
                raise ProtocolError(
                    "EVENT payload must be a non-empty array starting with the event name"
                )
            if data[0] in RESERVED_EVENTS:
                raise ProtocolError(f"reserved event name {data[0]!r}")
        elif ptype == PacketType.ACK or ptype == PacketType.BINARY_ACK:
            if kind is not list:
                raise ProtocolError("ACK payload must be an array")
        elif ptype == PacketType.CONNECT:
            if present and kind is not dict:
                raise ProtocolError("CONNECT payload must be an object")
        elif ptype == PacketType.CONNECT_ERROR:
            if kind is not dict and kind is not str:
                raise ProtocolError("CONNECT_ERROR payload must be an object or a string")
        elif present:
            raise ProtocolError("DISCONNECT carries no payload")

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
        plain = PacketType.EVENT if ptype == PacketType.BINARY_EVENT else PacketType.ACK
        packet = Packet(plain, namespace, data, ack, query)
        self._awaited = _Awaited(packet, slots, attachments)
        return None
