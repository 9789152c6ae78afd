# -*- test-case-name: tests.test_engineio_packet -*-
"""
The Engine.IO packet and payload codec, free of I/O.

Everything here is a pure function from values to bytes and back; nothing
touches a socket, a clock or the reactor.  The session and transport code call
these functions and own everything else.

Wire formats handled:

- WebSocket frames (:func:`encode_frame`, :func:`decode_frame`): one packet per
  frame.  A text frame is ``<type digit><data>``.  A binary frame is a binary
  message: the raw bytes in v4, a ``0x04`` type byte and the bytes in v3.
- HTTP long-polling bodies (:func:`encode_payload`, :func:`decode_payload`):

  - v4: packets joined with the record separator ``\\x1e``; a binary message
    is ``b`` followed by the base64 of its bytes.
  - v3 text: ``<length>:<packet>`` repeated, the length counted in UTF-16
    code units (JavaScript's ``String.length``); a binary message is
    ``b4`` followed by base64.
  - v3 binary (XHR2 clients): per packet a flag byte (0 string, 1 binary),
    the decimal digits of the length as byte values 0-9, ``0xFF``, then the
    packet bytes.

- v3 JSONP polling (:func:`encode_jsonp`, :func:`decode_jsonp_body`).

Decoders raise :class:`txsocketio.errors.ProtocolError`, and nothing else, on
any malformed input.  Encoders trust their input: a :class:`Packet` whose
``data`` is ``bytes`` is a binary message.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from typing import Iterator, Sequence
from urllib.parse import unquote_to_bytes

import attrs

from txsocketio.errors import ProtocolError

__all__ = [
    "BINARY_CONTENT_TYPE",
    "JAVASCRIPT_CONTENT_TYPE",
    "RECORD_SEPARATOR",
    "TEXT_CONTENT_TYPE",
    "Packet",
    "PacketType",
    "decode_frame",
    "decode_jsonp_body",
    "decode_payload",
    "encode_frame",
    "encode_jsonp",
    "encode_payload",
    "encode_text_packet",
]


class PacketType(enum.IntEnum):
    """The Engine.IO packet types; the value is the digit on the wire."""

    #: First packet from the server: the handshake JSON.
    OPEN = 0
    #: Either side ends the session.
    CLOSE = 1
    #: Heartbeat request (from the server in v4, from the client in v3).
    PING = 2
    #: Heartbeat answer.
    PONG = 3
    #: Application data: text (``str``) or binary (``bytes``).
    MESSAGE = 4
    #: The client switches the session to the WebSocket it probed.
    UPGRADE = 5
    #: Does nothing; used to release a pending long-polling request.
    NOOP = 6


@attrs.frozen(slots=True)
class Packet:
    """One Engine.IO packet.

    ``data`` is a ``str`` for every packet type; only a ``MESSAGE`` may
    instead carry ``bytes``, which makes it a binary message.  The
    constructor does not check this, to stay cheap on the hot path.
    """

    type: PacketType
    data: str | bytes = ""


#: Separates packets in a v4 long-polling payload.
RECORD_SEPARATOR = "\x1e"
#: Content type of text long-polling bodies (v4, and v3 without binary).
TEXT_CONTENT_TYPE = "text/plain; charset=UTF-8"
#: Content type of v3 binary (XHR2) long-polling bodies.
BINARY_CONTENT_TYPE = "application/octet-stream"
#: Content type of v3 JSONP long-polling answers.
JAVASCRIPT_CONTENT_TYPE = "text/javascript; charset=UTF-8"

# Indexed by PacketType: the digit that starts a text packet.
_TYPE_DIGITS = "0123456"
_TYPE_BY_DIGIT = {str(t.value): t for t in PacketType}

# v3 binary payloads write the decimal digits of a length as byte values 0-9.
_ASCII_TO_DIGIT_BYTES = bytes.maketrans(b"0123456789", bytes(range(10)))
# And back; any other byte becomes "x", which str.isdigit() then rejects.
_DIGIT_BYTES_TO_ASCII = bytes((0x30 + b) if b < 10 else 0x78 for b in range(256))
# No length in a body can be longer than this many digits (10 GB).
_MAX_LENGTH_DIGITS = 10

# In valid UTF-8 these lead bytes, and only they, start a character outside
# the Basic Multilingual Plane (two UTF-16 code units).
_ASTRAL_LEAD_BYTE = re.compile(rb"[\xf0-\xf4]")
_NON_DIGITS = re.compile(r"[^0-9]")
_ESCAPED_NEWLINE = re.compile(rb"(\\)?\\n")


def encode_text_packet(packet: Packet) -> str:
    """Return ``<type digit><data>`` for a packet whose data is text.

    This is the text form shared by WebSocket text frames and all polling
    payloads.  A binary message has no text form and raises ``TypeError``.
    """
    return _TYPE_DIGITS[packet.type] + packet.data  # type: ignore[operator]


def encode_frame(packet: Packet, version: int, *, b64: bool = False) -> tuple[bytes, bool]:
    """Encode one packet as a WebSocket message.

    Returns the frame payload and whether it goes in a binary frame, the two
    arguments autobahn's ``sendMessage`` takes.  A text packet is the UTF-8 of
    ``<type digit><data>``.  A binary message is its raw bytes in v4, and the
    type byte ``0x04`` followed by the bytes in v3; for a client that asked
    for base64 (``b64=1``, engine.io-client's ``forceBase64``) it is a text
    frame instead: ``b`` and the base64 (v4), ``b4`` and the base64 (v3).
    """
    data = packet.data
    if isinstance(data, str):
        return (_TYPE_DIGITS[packet.type] + data).encode(), False
    if version == 4:
        if b64:
            return ("b" + _b64encode(data)).encode(), False
        return data, True
    if version == 3:
        if b64:
            return ("b4" + _b64encode(data)).encode(), False
        return b"\x04" + data, True
    raise _unknown_version(version)


def decode_frame(payload: bytes, is_binary: bool, version: int) -> Packet:
    """Decode one WebSocket message into a packet.

    A binary frame is a binary message: all of it in v4; in v3 its first byte
    is the packet type, which must be 4 (message).  A text frame must be UTF-8
    and start with a packet type digit, or be a base64 binary message as
    Node's parser reads it (``b…`` in v4, ``b4…`` in v3).

    @raise ProtocolError: if the frame is not a valid packet.
    """
    if not is_binary:
        text = _decode_utf8(payload)
        if text[:1] == "b":
            if version == 4:
                return Packet(PacketType.MESSAGE, _b64decode(text[1:]))
            if version == 3:
                return _decode_v3_packet(text)
            raise _unknown_version(version)
        return _decode_text_packet(text)
    if version == 4:
        return Packet(PacketType.MESSAGE, payload)
    if version == 3:
        if payload[:1] != b"\x04":
            raise ProtocolError(
                "a binary Engine.IO v3 frame must start with the message type "
                f"byte 4, not {payload[:1]!r}"
            )
        return Packet(PacketType.MESSAGE, payload[1:])
    raise _unknown_version(version)


def encode_payload(
    packets: Sequence[Packet], version: int, *, b64: bool = False
) -> tuple[bytes, str]:
    """Encode packets as the body of a long-polling GET response.

    Returns the body and its ``Content-Type``.  In v4 the body is always text.
    In v3 it is text when there is no binary message or when the client asked
    for base64 (``b64=1`` in its query, passed here as ``b64=True``); otherwise
    it is the binary (XHR2) format.

    An empty v3 text payload is ``0:``, as the Node server writes it.  Data in
    v4 must not contain the record separator (JSON never has it raw).
    """
    if version == 4:
        return _encode_v4_payload(packets).encode(), TEXT_CONTENT_TYPE
    if version == 3:
        if not b64:
            for packet in packets:
                if not isinstance(packet.data, str):
                    return _encode_v3_binary_payload(packets), BINARY_CONTENT_TYPE
        return _encode_v3_text_payload(packets).encode(), TEXT_CONTENT_TYPE
    raise _unknown_version(version)


def encode_jsonp(packets: Sequence[Packet], index: str) -> tuple[bytes, str]:
    """Encode packets as the answer to a v3 JSONP long-polling GET.

    The body is the JavaScript ``___eio[<index>]("<payload>");``, where the
    payload is the v3 text payload (binary messages in base64) written as
    ``JSON.stringify`` writes a string, with U+2028 and U+2029 escaped since
    JavaScript, unlike JSON, does not allow them raw in a string literal.
    Only the digits of ``index`` (the client's ``j`` query argument) are kept.
    Returns the body and its ``Content-Type``.
    """
    literal = json.dumps(
        _encode_v3_text_payload(packets), ensure_ascii=False, separators=(",", ":")
    )
    literal = literal.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    index = _NON_DIGITS.sub("", index)
    return f"___eio[{index}]({literal});".encode(), JAVASCRIPT_CONTENT_TYPE


def decode_payload(body: bytes, version: int) -> list[Packet]:
    """Decode the body of a long-polling POST into its packets.

    v4 bodies are UTF-8 text, packets separated by ``\\x1e``.  A v3 body is in
    the binary (XHR2) format if it starts with byte 0 or 1, and in the
    length-prefixed text format otherwise.

    @raise ProtocolError: if the body is empty or not a valid payload; no
        packet is returned from an invalid body.
    """
    if not body:
        raise ProtocolError("empty Engine.IO payload")
    if version == 4:
        return _decode_v4_payload(body)
    if version == 3:
        if body[0] <= 1:
            return _decode_v3_binary_payload(body)
        return _decode_v3_text_payload(body)
    raise _unknown_version(version)


def decode_jsonp_body(body: bytes) -> bytes:
    """Extract the v3 payload from the form-encoded body of a JSONP POST.

    The body is ``application/x-www-form-urlencoded`` with the payload in the
    field ``d``.  The JSONP client escapes newlines (a form submission could
    turn them into CRLF): it sends a newline as backslash-``n`` and a
    backslash-``n`` in the data as backslash-backslash-``n``.  This undoes
    that exactly as the Node server does, and returns the payload for
    ``decode_payload(..., 3)``, which validates it.

    @raise ProtocolError: if there is no ``d`` field, or more than one.
    """
    payload = None
    for field in body.split(b"&"):
        name, _, value = field.partition(b"=")
        if _form_unquote(name) == b"d":
            if payload is not None:
                raise ProtocolError("a JSONP POST body has more than one d field")
            payload = _form_unquote(value)
    if payload is None:
        raise ProtocolError("a JSONP POST body has no d field")
    # Same two passes as Node's engine.io JSONP transport; order matters.
    payload = _ESCAPED_NEWLINE.sub(_unescape_newline, payload)
    return payload.replace(b"\\\\n", b"\\n")


# Encoding helpers.


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _utf16_length(text: str) -> int:
    """The length of ``text`` in UTF-16 code units, as JavaScript counts it."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) >> 1


def _encode_v4_payload(packets: Sequence[Packet]) -> str:
    parts = []
    for packet in packets:
        data = packet.data
        if isinstance(data, str):
            parts.append(_TYPE_DIGITS[packet.type] + data)
        else:
            parts.append("b" + _b64encode(data))
    return RECORD_SEPARATOR.join(parts)


def _encode_v3_text_payload(packets: Sequence[Packet]) -> str:
    if not packets:
        return "0:"
    # Headers and data go in separately so the data is copied only once.
    parts = []
    for packet in packets:
        data = packet.data
        if isinstance(data, str):
            parts.append(f"{_utf16_length(data) + 1}:{_TYPE_DIGITS[packet.type]}")
            parts.append(data)
        else:
            encoded = _b64encode(data)
            parts.append(f"{len(encoded) + 2}:b4")
            parts.append(encoded)
    return "".join(parts)


def _binary_length(length: int) -> bytes:
    return str(length).encode("ascii").translate(_ASCII_TO_DIGIT_BYTES)


def _encode_v3_binary_payload(packets: Sequence[Packet]) -> bytes:
    parts: list[bytes] = []
    for packet in packets:
        data = packet.data
        if isinstance(data, str):
            encoded = data.encode()
            # The header ends with the type digit, which the length counts.
            parts.append(
                b"\x00%b\xff%c" % (_binary_length(len(encoded) + 1), 0x30 + packet.type)
            )
            parts.append(encoded)
        else:
            parts.append(b"\x01%b\xff\x04" % _binary_length(len(data) + 1))
            parts.append(data)
    return b"".join(parts)


def _unknown_version(version: int) -> ValueError:
    return ValueError(f"Engine.IO version must be 3 or 4, not {version!r}")


# Decoding helpers.  Each raises ProtocolError on bad input.


def _decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"Engine.IO data is not valid UTF-8: {e}") from None


def _b64decode(text: str) -> bytes:
    # validate=True alone still takes a stray "=" after a full quantum
    # ("AQID="); with whole quanta only padded standard base64 is left.
    if len(text) & 3 == 0:
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:  # binascii.Error, or non-ASCII characters
            pass
    raise ProtocolError("invalid base64 in an Engine.IO binary message")


def _decode_text_packet(text: str) -> Packet:
    packet_type = _TYPE_BY_DIGIT.get(text[:1])
    if packet_type is None:
        raise ProtocolError(f"unknown Engine.IO packet type {text[:1]!r}")
    return Packet(packet_type, text[1:])


def _decode_v3_packet(text: str) -> Packet:
    """Decode a v3 polling packet: text, or ``b4`` and base64."""
    if text[:1] == "b":
        if text[1:2] != "4":
            raise ProtocolError(
                f"a base64 Engine.IO packet must be a message, not {text[1:2]!r}"
            )
        return Packet(PacketType.MESSAGE, _b64decode(text[2:]))
    return _decode_text_packet(text)


def _decode_v4_payload(body: bytes) -> list[Packet]:
    packets = []
    for text in _decode_utf8(body).split(RECORD_SEPARATOR):
        if text[:1] == "b":
            packets.append(Packet(PacketType.MESSAGE, _b64decode(text[1:])))
        else:
            packets.append(_decode_text_packet(text))
    return packets


def _parse_length(digits: bytes) -> int:
    if not (0 < len(digits) <= _MAX_LENGTH_DIGITS and digits.isdigit()):
        raise ProtocolError(f"invalid Engine.IO payload length {digits[:20]!r}")
    return int(digits)


def _decode_v3_text_payload(body: bytes) -> list[Packet]:
    text = _decode_utf8(body)
    if body.isascii() or _ASTRAL_LEAD_BYTE.search(body) is None:
        # One code point is one UTF-16 unit: lengths index the str directly.
        entries = _split_v3_text(text)
    else:
        entries = _split_v3_utf16(text.encode("utf-16-le"))
    # Empty entries ("0:") carry no packet; Node skips them too.
    return [_decode_v3_packet(entry) for entry in entries if entry]


def _split_v3_text(text: str) -> Iterator[str]:
    end = len(text)
    position = 0
    while position < end:
        colon = text.find(":", position, position + _MAX_LENGTH_DIGITS + 1)
        if colon < 0:
            raise ProtocolError("missing ':' after an Engine.IO payload length")
        start = colon + 1
        stop = start + _parse_length(text[position:colon].encode("ascii", "replace"))
        if stop > end:
            raise ProtocolError("Engine.IO payload is shorter than its lengths say")
        yield text[start:stop]
        position = stop


def _split_v3_utf16(units: bytes) -> Iterator[str]:
    """Like _split_v3_text, over UTF-16-LE bytes (two per code unit)."""
    end = len(units)
    position = 0
    while position < end:
        colon = units.find(b":\x00", position, position + 2 * _MAX_LENGTH_DIGITS + 2)
        # At an odd offset the match straddles two units: no real ':' came
        # first, so the length is not made of digits.
        if colon < 0 or colon & 1:
            raise ProtocolError("missing ':' after an Engine.IO payload length")
        digits = units[position:colon].decode("utf-16-le").encode("ascii", "replace")
        start = colon + 2
        stop = start + 2 * _parse_length(digits)
        if stop > end:
            raise ProtocolError("Engine.IO payload is shorter than its lengths say")
        try:
            yield units[start:stop].decode("utf-16-le")
        except UnicodeDecodeError:
            raise ProtocolError(
                "an Engine.IO payload length splits a surrogate pair"
            ) from None
        position = stop


def _decode_v3_binary_payload(body: bytes) -> list[Packet]:
    packets = []
    end = len(body)
    position = 0
    while position < end:
        is_binary = body[position]
        if is_binary > 1:
            raise ProtocolError(
                f"invalid Engine.IO binary payload packet flag {is_binary}"
            )
        terminator = body.find(b"\xff", position + 1, position + _MAX_LENGTH_DIGITS + 2)
        if terminator < 0:
            raise ProtocolError("missing 0xFF after an Engine.IO payload length")
        start = terminator + 1
        length = _parse_length(
            body[position + 1 : terminator].translate(_DIGIT_BYTES_TO_ASCII)
        )
        stop = start + length
        if stop > end:
            raise ProtocolError("Engine.IO payload is shorter than its lengths say")
        if is_binary:
            if length == 0 or body[start] != 4:
                raise ProtocolError(
                    "a binary Engine.IO v3 packet must start with the message "
                    f"type byte 4, not {body[start:stop][:1]!r}"
                )
            packets.append(Packet(PacketType.MESSAGE, body[start + 1 : stop]))
        else:
            packets.append(_decode_v3_packet(_decode_utf8(body[start:stop])))
        position = stop
    return packets


def _form_unquote(value: bytes) -> bytes:
    return unquote_to_bytes(value.replace(b"+", b" "))


def _unescape_newline(match: re.Match[bytes]) -> bytes:
    # "\\n" stays for the second pass; a lone "\n" is a newline.
    return match.group(0) if match.group(1) else b"\n"
