# -*- test-case-name: tests.test_socketio_parser -*-
"""The parser contract: how Socket.IO packets become Engine.IO messages and back.

The server encodes and decodes packets only through a parser object
(``SocketIOServer(parser=...)``), as Node's ``parser`` option does, so that
another wire format (MessagePack, as ``socket.io-msgpack-parser``) plugs in
without touching the server.  A parser is pure and shared by every
connection (and by threads: ``sio.threadsafe`` validates arguments with it),
so it must keep no state outside its decoders.

:class:`Parser`
    ``encode(packet) -> list[str | bytes]``: the Engine.IO messages of one
    packet (always a list; text first, then binary attachments for the JSON
    parser).  Raises ``TypeError`` or ``ValueError`` naming the argument that
    cannot be sent.  ``decoder(max_attachments=..., max_depth=...)``: a new
    :class:`PacketDecoder` for one connection.

:class:`PacketDecoder`
    ``feed(message) -> Packet | None``: one Engine.IO message in; a complete
    packet out, or ``None`` while attachments are still awaited.  Raises
    :class:`~txsocketio.errors.ProtocolError` for anything malformed, and
    nothing else (any other exception is a bug).
    ``awaiting_attachments``: True between a binary packet's header and its
    last attachment.

:data:`JSON_PARSER` is the default: :mod:`txsocketio.socketio.packet`, the
format of the official clients.
"""

from __future__ import annotations

from typing import Protocol, Union

from txsocketio.socketio.packet import Decoder, Packet, encode

__all__ = ["Parser", "PacketDecoder", "JSONParser", "JSON_PARSER"]

Message = Union[str, bytes]


class PacketDecoder(Protocol):
    """The per-connection decoding state (see the module docstring)."""

    @property
    def awaiting_attachments(self) -> bool: ...

    def feed(self, message: Message) -> Packet | None: ...


class Parser(Protocol):
    """A Socket.IO wire format (see the module docstring)."""

    def encode(self, packet: Packet) -> list[Message]: ...

    def decoder(self, *, max_attachments: int, max_depth: int | None = None) -> PacketDecoder: ...


class JSONParser:
    """The default parser: JSON text plus binary attachments (Node's default)."""

    def __repr__(self) -> str:
        return "<JSONParser>"

    #: :func:`txsocketio.socketio.packet.encode` itself (no extra call per packet)
    encode = staticmethod(encode)

    def decoder(self, *, max_attachments: int, max_depth: int | None = None) -> Decoder:
        if max_depth is None:
            return Decoder(max_attachments=max_attachments)
        return Decoder(max_attachments=max_attachments, max_json_depth=max_depth)


#: The parser every server uses unless told otherwise.
JSON_PARSER = JSONParser()
