# -*- test-case-name: tests.test_adapters_streams_wire -*-
"""The wire format of ``@socket.io/redis-streams-adapter`` 0.3, without I/O.

The Node package (0.3.1, on ``socket.io-adapter`` 2.5's ``ClusterAdapter``)
puts cluster messages in one Redis stream (or ``streamCount`` of them) and
the short-lived ones on pub/sub; this module encodes and decodes all of them
exactly as it does, builds the Redis commands it sends and reads their
replies, so that a txsocketio server can join a cluster of Node servers.
The MessagePack and JSON dialects are :mod:`txsocketio.adapters.redis_wire`'s
(``pack``/``unpack``, ``dump_json``/``load_json``): ``@msgpack/msgpack``
writes the values a server sends as ``notepack.io`` does.  The full
description, with the Node sources it follows, is
``docs/development/recovery-and-streams.md``.

Cluster messages (:class:`ClusterMessage`, :class:`MessageType`)
    ``{uid, nsp, type, data?}``; ``uid`` is the sending adapter's random id
    (16 hex digits), ``data`` a map whose shape depends on ``type``.

Stream entries (:func:`encode_entry` / :func:`decode_entry`)
    the fields ``uid``, ``nsp``, ``type`` (decimal string) and, when there
    is data, ``data``: ``JSON.stringify(data)``, or the base64 of its
    MessagePack when the type may carry binary and the data holds some.
    A reader tells them apart by the first character (``{`` is JSON).
    Added with ``XADD <stream> MAXLEN ~ <maxLen> * ...``
    (:func:`xadd_command`); the entry id is the offset that live broadcasts
    carry as their last argument when recovery is on.

Pub/sub messages (:func:`encode_pubsub` / :func:`decode_pubsub`)
    what would be lost in a replay goes over pub/sub instead of the stream
    (:func:`is_ephemeral`: broadcasts with acks, SERVER_SIDE_EMIT,
    FETCH_SOCKETS), on ``<prefix>#<nsp>#``; responses go to the requester's
    ``<prefix>#<nsp>#<uid>#``.  The payload is the MessagePack of the whole
    message ``{type, data, uid, nsp}``.  The number of servers is
    ``PUBSUB NUMSUB <prefix>#<nsp>#`` (0.3 has no heartbeats).

Sessions (:func:`encode_session` / :func:`decode_session`)
    ``SET sio:session:<pid> <base64 of MessagePack {sid, pid, rooms, data}>
    PX <window in ms>``; restored with ``MULTI GET DEL EXEC`` plus an
    ``XRANGE`` from the client's offset (:func:`missed_packets`).

Every decoder raises :class:`txsocketio.errors.ProtocolError`, and only
that, on malformed input.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import secrets
from typing import Any, Final, Iterable, Mapping, Sequence

import attrs

from txsocketio.adapters.base import BroadcastOptions
from txsocketio.adapters.redis_wire import (
    dump_json,
    load_json,
    options_from_wire,
    options_to_wire,
    pack,
    packet_from_wire,
    packet_to_wire,
    unpack,
)
from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import Packet
from txsocketio.socketio.recovery import should_include

__all__ = [
    "DEFAULT_STREAM_NAME",
    "DEFAULT_CHANNEL_PREFIX",
    "DEFAULT_MAX_LEN",
    "DEFAULT_READ_COUNT",
    "DEFAULT_BLOCK_MS",
    "DEFAULT_SESSION_KEY_PREFIX",
    "EMITTER_UID",
    "MessageType",
    "MAY_CONTAIN_BINARY",
    "ClusterMessage",
    "Operation",
    "StreamEntry",
    "SessionRecord",
    "new_uid",
    "has_binary",
    "is_ephemeral",
    "encode_entry",
    "decode_entry",
    "encode_pubsub",
    "decode_pubsub",
    "read_operation",
    "broadcast_message",
    "sockets_join_message",
    "sockets_leave_message",
    "disconnect_sockets_message",
    "fetch_sockets_message",
    "fetch_sockets_response",
    "server_side_emit_message",
    "server_side_emit_response",
    "broadcast_client_count",
    "broadcast_ack",
    "public_channel",
    "private_channel",
    "stream_name",
    "js_hash_code",
    "session_key",
    "encode_session",
    "decode_session",
    "is_offset",
    "next_offset",
    "xadd_command",
    "xread_command",
    "xrange_command",
    "set_session_command",
    "parse_entries",
    "parse_xread_reply",
    "missed_packets",
]

#: The Node adapter's defaults (``createAdapter`` options).
DEFAULT_STREAM_NAME: Final = "socket.io"
DEFAULT_CHANNEL_PREFIX: Final = "socket.io"
DEFAULT_MAX_LEN: Final = 10_000
DEFAULT_READ_COUNT: Final = 100
DEFAULT_BLOCK_MS: Final = 5_000
DEFAULT_SESSION_KEY_PREFIX: Final = "sio:session:"
#: The uid of messages sent by an emitter (no server answers to it).
EMITTER_UID: Final = "emitter"


class MessageType(enum.IntEnum):
    """``MessageType`` of socket.io-adapter 2.5's cluster adapter."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


#: The types whose data is MessagePack (base64) in a stream entry when it holds binary.
MAY_CONTAIN_BINARY: Final = frozenset({
    MessageType.BROADCAST, MessageType.FETCH_SOCKETS_RESPONSE, MessageType.SERVER_SIDE_EMIT,
    MessageType.SERVER_SIDE_EMIT_RESPONSE, MessageType.BROADCAST_ACK,
})

_BINARY: Final = (bytes, bytearray, memoryview)


@attrs.frozen
class ClusterMessage:
    """One message between the servers of a cluster.  ``type`` stays an
    ``int`` (an unknown type is no error: the receiver ignores it)."""

    uid: str | None
    nsp: str
    type: int
    data: dict[str, Any] | None = None


def new_uid() -> str:
    """A random adapter uid or request id, as socket.io-adapter's
    ``randomId()`` (8 random bytes in hex)."""
    return secrets.token_hex(8)


def has_binary(value: Any, _depth: int = 0) -> bool:
    """Whether ``value`` holds bytes anywhere (the adapter's ``hasBinary``)."""
    if isinstance(value, _BINARY):
        return True
    if _depth > 500:
        return False
    if isinstance(value, (list, tuple)):
        return any(has_binary(item, _depth + 1) for item in value)
    if isinstance(value, Mapping):
        return any(has_binary(item, _depth + 1) for item in value.values())
    return False


def is_ephemeral(message: ClusterMessage) -> bool:
    """Whether the Node adapter sends ``message`` over pub/sub rather than
    the stream: a broadcast with acks, a server-side emit, a fetch request."""
    if message.type == MessageType.BROADCAST:
        return message.data is not None and "requestId" in message.data
    return message.type in (MessageType.SERVER_SIDE_EMIT, MessageType.FETCH_SOCKETS)


# --------------------------------------------------------------------------
# Stream entries and pub/sub payloads
# --------------------------------------------------------------------------


def encode_entry(message: ClusterMessage, *, only_plaintext: bool = False) -> list[tuple[str, str]]:
    """The field/value pairs of the stream entry, in Node's order.  Raises
    ``TypeError``/``ValueError`` for what cannot be sent."""
    fields = [("uid", message.uid or ""), ("nsp", message.nsp), ("type", str(int(message.type)))]
    if message.data:
        if not only_plaintext and message.type in MAY_CONTAIN_BINARY and has_binary(message.data):
            fields.append(("data", base64.b64encode(pack(message.data)).decode("ascii")))
        else:
            fields.append(("data", dump_json(message.data).decode("utf-8", "surrogatepass")))
    return fields


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")  # as the Node client's string reply
    raise ProtocolError(f"{what} is a string")


def _fields(raw: Mapping[Any, Any] | Sequence[Any]) -> dict[str, str]:
    """Field/value pairs (a map, or Redis's flat ``[f1, v1, f2, v2...]``) as
    strings; a repeated field keeps its last value, as the Node clients do."""
    if isinstance(raw, Mapping):
        pairs: Iterable[tuple[Any, Any]] = raw.items()
    elif isinstance(raw, (list, tuple)):
        if len(raw) % 2:
            raise ProtocolError("a stream entry has an odd number of field/value items")
        pairs = zip(raw[0::2], raw[1::2])
    else:
        raise ProtocolError("a stream entry's fields are a list")
    return {_text(k, "a field name"): _text(v, "a field value") for k, v in pairs}


_PARSE_INT: Final = re.compile(r"\s*([+-]?\d+)")


def _parse_int(text: str) -> int:
    """JavaScript's ``parseInt(text, 10)`` (leading digits), ProtocolError for NaN."""
    match = _PARSE_INT.match(text)
    if match is None:
        raise ProtocolError(f"message type {text[:20]!r} is not a number")
    return int(match.group(1))


def _decode_data(text: str) -> dict[str, Any]:
    if text.startswith("{"):
        data = load_json(text.encode("utf-8", "surrogatepass"))
    else:
        # Buffer.from(text, "base64"): both alphabets, padding optional,
        # other characters skipped.
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text.replace("-", "+").replace("_", "/"))
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            raw = base64.b64decode(cleaned)
        except (binascii.Error, ValueError) as e:
            raise ProtocolError(f"malformed base64 data: {e}") from None
        data = unpack(raw, dates="iso")
    if not isinstance(data, dict):
        raise ProtocolError("a cluster message's data is a map")
    return data


def decode_entry(fields: Mapping[Any, Any] | Sequence[Any]) -> ClusterMessage:
    """A stream entry's fields as a message (ProtocolError when malformed;
    an entry without ``nsp`` is one too, Node skips it)."""
    f = _fields(fields)
    nsp = f.get("nsp")
    if not nsp:
        raise ProtocolError("a stream entry without nsp")
    if "type" not in f:
        raise ProtocolError("a stream entry without type")
    data = _decode_data(f["data"]) if f.get("data") else None
    return ClusterMessage(f.get("uid"), nsp, _parse_int(f["type"]), data)


def encode_pubsub(message: ClusterMessage) -> bytes:
    """The pub/sub payload: MessagePack of ``{type, data, uid, nsp}``."""
    body: dict[str, Any] = {"type": int(message.type)}
    if message.data is not None:
        body["data"] = message.data
    if message.uid is not None:
        body["uid"] = message.uid
    body["nsp"] = message.nsp
    return pack(body)


def decode_pubsub(payload: bytes | bytearray | memoryview) -> ClusterMessage:
    body = unpack(payload, dates="iso")
    if not isinstance(body, dict):
        raise ProtocolError("a pub/sub message is a map")
    kind, uid, nsp, data = body.get("type"), body.get("uid"), body.get("nsp"), body.get("data")
    if isinstance(kind, bool) or not isinstance(kind, int):
        raise ProtocolError(f"a message of type {kind!r}")
    if uid is not None and not isinstance(uid, str):
        raise ProtocolError("a message's uid is a string")
    if not isinstance(nsp, str):
        raise ProtocolError("a message's nsp is a string")
    if data is not None and not isinstance(data, dict):
        raise ProtocolError("a cluster message's data is a map")
    return ClusterMessage(uid, nsp, kind, data)


# --------------------------------------------------------------------------
# Building messages
# --------------------------------------------------------------------------


def broadcast_message(uid: str, nsp: str, packet: Packet, opts: BroadcastOptions,
                      request_id: str | None = None) -> ClusterMessage:
    """BROADCAST ``{packet, opts}``; with ``request_id`` (acks wanted)
    ``{packet, requestId, opts}``, which travels over pub/sub.  The packet
    data is the event without any offset (each receiver appends its own)."""
    wire_packet = packet_to_wire(packet)
    if packet.id is not None:
        wire_packet["id"] = packet.id
    if request_id is None:
        return ClusterMessage(uid, nsp, MessageType.BROADCAST, {"packet": wire_packet, "opts": options_to_wire(opts)})
    return ClusterMessage(uid, nsp, MessageType.BROADCAST,
                          {"packet": wire_packet, "requestId": request_id, "opts": options_to_wire(opts)})


def sockets_join_message(uid: str, nsp: str, opts: BroadcastOptions, rooms: Iterable[str]) -> ClusterMessage:
    return ClusterMessage(uid, nsp, MessageType.SOCKETS_JOIN, {"opts": options_to_wire(opts), "rooms": list(rooms)})


def sockets_leave_message(uid: str, nsp: str, opts: BroadcastOptions, rooms: Iterable[str]) -> ClusterMessage:
    return ClusterMessage(uid, nsp, MessageType.SOCKETS_LEAVE, {"opts": options_to_wire(opts), "rooms": list(rooms)})


def disconnect_sockets_message(uid: str, nsp: str, opts: BroadcastOptions, close: bool) -> ClusterMessage:
    return ClusterMessage(uid, nsp, MessageType.DISCONNECT_SOCKETS,
                          {"opts": options_to_wire(opts), "close": bool(close)})


def fetch_sockets_message(uid: str, nsp: str, opts: BroadcastOptions, request_id: str) -> ClusterMessage:
    return ClusterMessage(uid, nsp, MessageType.FETCH_SOCKETS,
                          {"opts": options_to_wire(opts), "requestId": request_id})


def fetch_sockets_response(uid: str, nsp: str, request_id: str,
                           sockets: Sequence[Mapping[str, Any]]) -> ClusterMessage:
    """``sockets``: ``{id, handshake, rooms, data}`` per local socket."""
    return ClusterMessage(uid, nsp, MessageType.FETCH_SOCKETS_RESPONSE,
                          {"requestId": request_id, "sockets": [dict(s) for s in sockets]})


def server_side_emit_message(uid: str, nsp: str, data: Sequence[Any],
                             request_id: str | None = None) -> ClusterMessage:
    """``data`` is ``[event, *args]``; with ``request_id`` the others answer."""
    if request_id is None:
        return ClusterMessage(uid, nsp, MessageType.SERVER_SIDE_EMIT, {"packet": list(data)})
    return ClusterMessage(uid, nsp, MessageType.SERVER_SIDE_EMIT, {"requestId": request_id, "packet": list(data)})


def server_side_emit_response(uid: str, nsp: str, request_id: str, arg: Any) -> ClusterMessage:
    return ClusterMessage(uid, nsp, MessageType.SERVER_SIDE_EMIT_RESPONSE, {"requestId": request_id, "packet": arg})


def broadcast_client_count(uid: str, nsp: str, request_id: str, count: int) -> ClusterMessage:
    return ClusterMessage(uid, nsp, MessageType.BROADCAST_CLIENT_COUNT,
                          {"requestId": request_id, "clientCount": count})


def broadcast_ack(uid: str, nsp: str, request_id: str, arg: Any) -> ClusterMessage:
    return ClusterMessage(uid, nsp, MessageType.BROADCAST_ACK, {"requestId": request_id, "packet": arg})


# --------------------------------------------------------------------------
# Reading messages
# --------------------------------------------------------------------------


@attrs.frozen
class Operation:
    """A received message, checked and typed.  Fields a type does not use
    keep their defaults; an unknown type comes back with only ``type``."""

    type: int
    uid: str | None
    nsp: str
    packet: Packet | None = None
    #: The broadcast packet's ack id (Node stores ``socket.emit`` with an
    #: ack in the stream too); ``None`` when it has none.
    ack_id: int | None = None
    opts: BroadcastOptions | None = None
    rooms: tuple[str, ...] = ()
    close: bool = False
    request_id: str | None = None
    data: tuple[Any, ...] = ()
    sockets: tuple[Any, ...] = ()
    client_count: int | None = None
    arg: Any = None


def _request_id(data: Mapping[str, Any], required: bool) -> str | None:
    value = data.get("requestId")
    if value is None:
        if required:
            raise ProtocolError("a message without requestId")
        return None
    if not isinstance(value, str):
        raise ProtocolError("requestId is a string")
    return value


def _rooms(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise ProtocolError("rooms is a list of strings")
    return tuple(value)


def read_operation(message: ClusterMessage) -> Operation:
    """What ``message`` asks for (ProtocolError when its data does not fit its type)."""
    kind, data = message.type, message.data or {}
    base: dict[str, Any] = {"type": kind, "uid": message.uid, "nsp": message.nsp}
    if kind == MessageType.BROADCAST:
        raw = data.get("packet")
        packet = attrs.evolve(packet_from_wire(raw), namespace=message.nsp)
        ack_id = raw.get("id") if isinstance(raw, dict) else None
        if ack_id is not None and (isinstance(ack_id, bool) or not isinstance(ack_id, int)):
            raise ProtocolError("a broadcast packet's id is an integer")
        return Operation(**base, packet=packet, ack_id=ack_id, opts=options_from_wire(data.get("opts")),
                         request_id=_request_id(data, False))
    if kind in (MessageType.SOCKETS_JOIN, MessageType.SOCKETS_LEAVE):
        return Operation(**base, opts=options_from_wire(data.get("opts")), rooms=_rooms(data.get("rooms")))
    if kind == MessageType.DISCONNECT_SOCKETS:
        return Operation(**base, opts=options_from_wire(data.get("opts")), close=bool(data.get("close")))
    if kind == MessageType.FETCH_SOCKETS:
        return Operation(**base, opts=options_from_wire(data.get("opts")), request_id=_request_id(data, True))
    if kind == MessageType.FETCH_SOCKETS_RESPONSE:
        sockets = data.get("sockets")
        if not isinstance(sockets, list):
            raise ProtocolError("sockets is a list")
        return Operation(**base, request_id=_request_id(data, True), sockets=tuple(sockets))
    if kind == MessageType.SERVER_SIDE_EMIT:
        emitted = data.get("packet")
        if not isinstance(emitted, list) or not emitted or not isinstance(emitted[0], str):
            raise ProtocolError("a server-side emit carries [event, ...args]")
        return Operation(**base, request_id=_request_id(data, False), data=tuple(emitted))
    if kind in (MessageType.SERVER_SIDE_EMIT_RESPONSE, MessageType.BROADCAST_ACK):
        return Operation(**base, request_id=_request_id(data, True), arg=data.get("packet"))
    if kind == MessageType.BROADCAST_CLIENT_COUNT:
        count = data.get("clientCount")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ProtocolError("clientCount is a non-negative integer")
        return Operation(**base, request_id=_request_id(data, True), client_count=count)
    return Operation(**base)


# --------------------------------------------------------------------------
# Names: channels, streams, keys
# --------------------------------------------------------------------------


def public_channel(prefix: str, nsp: str) -> str:
    """``<prefix>#<nsp>#``: ephemeral requests; NUMSUB counts the servers."""
    return f"{prefix}#{nsp}#"


def private_channel(prefix: str, nsp: str, uid: str) -> str:
    """``<prefix>#<nsp>#<uid>#``: the responses to one adapter's requests."""
    return f"{prefix}#{nsp}#{uid}#"


def js_hash_code(text: str) -> int:
    """The adapter's ``hashCode``: ``hash * 31 + charCode`` over UTF-16
    code units, kept to a signed 32-bit integer."""
    h = 0
    units = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(units), 2):
        h = (h * 31 + (units[i] | units[i + 1] << 8)) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def stream_name(base: str, nsp: str, stream_count: int = 1) -> str:
    """The stream of namespace ``nsp``: ``base``, or ``base-<i>`` with
    ``streamCount > 1``, ``i`` being JavaScript's ``hashCode(nsp) % count``
    (negative for a negative hash, as in Node: ``socket.io--1``)."""
    if stream_count < 1:
        raise ValueError("stream_count is at least 1")
    if stream_count == 1:
        return base
    h = js_hash_code(nsp)
    rest = abs(h) % stream_count
    return f"{base}-{-rest if h < 0 else rest}"


def session_key(prefix: str, pid: str) -> str:
    return prefix + pid


# --------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------


@attrs.frozen
class SessionRecord:
    """A persisted session as the Node adapter stores it."""

    sid: str
    pid: str
    rooms: tuple[str, ...]
    data: Any


def encode_session(sid: str, pid: str, rooms: Iterable[str], data: Any) -> str:
    """base64 of the MessagePack of ``{sid, pid, rooms, data}``."""
    return base64.b64encode(pack({"sid": sid, "pid": pid, "rooms": list(rooms), "data": data})).decode("ascii")


def decode_session(raw: str | bytes) -> SessionRecord:
    text = _text(raw, "a session")
    try:
        body = unpack(base64.b64decode(text.encode("ascii", "replace"), validate=True))
    except (binascii.Error, ValueError) as e:
        raise ProtocolError(f"malformed session: {e}") from None
    if not isinstance(body, dict):
        raise ProtocolError("a session is a map")
    sid, pid = body.get("sid"), body.get("pid")
    if not isinstance(sid, str) or not isinstance(pid, str):
        raise ProtocolError("a session has string sid and pid")
    return SessionRecord(sid, pid, _rooms(body.get("rooms", [])), body.get("data"))


# --------------------------------------------------------------------------
# Offsets, commands, replies
# --------------------------------------------------------------------------

_OFFSET: Final = re.compile(r"[0-9]+-[0-9]+\Z")


def is_offset(text: Any) -> bool:
    """Whether a client's offset is a stream id (``^[0-9]+-[0-9]+$``);
    anything else is not restored."""
    return isinstance(text, str) and _OFFSET.match(text) is not None and text.isascii()


def next_offset(offset: str) -> str:
    """The smallest id after ``offset`` (an exclusive XRANGE start that
    works before Redis 6.2)."""
    if not is_offset(offset):
        raise ValueError(f"{offset!r} is not a stream id")
    ms, seq = offset.split("-")
    return f"{ms}-{int(seq) + 1}"


def xadd_command(stream: str, fields: Sequence[tuple[str, str]], max_len: int = DEFAULT_MAX_LEN) -> list[str]:
    """``XADD <stream> MAXLEN ~ <maxLen> * f1 v1 ...`` (reply: the entry id)."""
    args = ["XADD", stream, "MAXLEN", "~", str(max_len), "*"]
    for name, value in fields:
        args += [name, value]
    return args


def xread_command(stream: str, offset: str, count: int = DEFAULT_READ_COUNT,
                  block_ms: int = DEFAULT_BLOCK_MS) -> list[str]:
    """``XREAD BLOCK <ms> COUNT <n> STREAMS <stream> <offset>``; ``$`` is
    "only what comes next" (where Node starts)."""
    return ["XREAD", "BLOCK", str(block_ms), "COUNT", str(count), "STREAMS", stream, offset]


def xrange_command(stream: str, start: str, end: str = "+") -> list[str]:
    return ["XRANGE", stream, start, end]


def set_session_command(prefix: str, pid: str, encoded: str, window_ms: int) -> list[str]:
    """``SET <prefix><pid> <session> PX <window in ms>`` (0.3.1 passes
    ``maxDisconnectionDuration``, milliseconds, as PX)."""
    return ["SET", session_key(prefix, pid), encoded, "PX", str(int(window_ms))]


@attrs.frozen
class StreamEntry:
    id: str
    fields: dict[str, str]


def parse_entries(reply: Any) -> list[StreamEntry]:
    """An XRANGE reply (``[[id, [f, v, ...]], ...]``)."""
    if not isinstance(reply, (list, tuple)):
        raise ProtocolError("a list of stream entries was expected")
    out = []
    for item in reply:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ProtocolError("a stream entry is [id, fields]")
        entry_id = _text(item[0], "an entry id")
        if not is_offset(entry_id):
            raise ProtocolError(f"{entry_id[:40]!r} is not a stream id")
        out.append(StreamEntry(entry_id, _fields(item[1]) if item[1] is not None else {}))
    return out


def parse_xread_reply(reply: Any, stream: str | None = None) -> list[StreamEntry]:
    """An XREAD reply (``None`` on timeout, else ``[[stream, entries], ...]``)."""
    if reply is None:
        return []
    if not isinstance(reply, (list, tuple)):
        raise ProtocolError("an XREAD reply is a list")
    out = []
    for item in reply:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ProtocolError("an XREAD reply item is [stream, entries]")
        if stream is not None and _text(item[0], "a stream name") != stream:
            continue
        out += parse_entries(item[1])
    return out


def missed_packets(entries: Iterable[StreamEntry], nsp: str, rooms: Iterable[str], *,
                   replay_all: bool = False) -> list[Packet]:
    """The broadcasts among ``entries`` (read after the client's offset)
    that a session in ``rooms`` of namespace ``nsp`` missed, each with its
    entry id appended as offset, in stream order.

    Node's ``restoreSession`` keeps every BROADCAST entry of the namespace
    whose audience includes the session; it would also replay a volatile
    broadcast and a ``socket.emit`` with an ack (both travel in the stream).
    By default neither is replayed, as Node's in-memory adapter does not;
    ``replay_all`` replays them as Node's streams adapter does (as plain
    events, without the ack id), which the cluster adapter uses so that a
    mixed cluster behaves the same whichever server recovers a client.  An
    entry that does not decode is skipped.
    """
    rooms = frozenset(rooms)
    out = []
    for entry in entries:
        if entry.fields.get("nsp") != nsp or entry.fields.get("type") != str(int(MessageType.BROADCAST)):
            continue
        try:
            op = read_operation(decode_entry(entry.fields))
        except ProtocolError:
            continue
        assert op.packet is not None and op.opts is not None
        if op.request_id is not None:
            continue
        if not replay_all and (op.ack_id is not None or op.opts.flags.get("volatile") is not None):
            continue
        if should_include(rooms, op.opts.rooms, op.opts.except_):
            out.append(attrs.evolve(op.packet, data=[*op.packet.data, entry.id]))
    return out
