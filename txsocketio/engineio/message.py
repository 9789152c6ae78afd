# -*- test-case-name: tests.test_engineio_server -*-
"""A message encoded once for many recipients."""

from __future__ import annotations

from autobahn.websocket.protocol import PreparedMessage

from txsocketio.engineio.packet import Packet, PacketType, encode_frame

__all__ = ["OutgoingMessage"]


class OutgoingMessage:
    """A message encoded once, to be written to many sessions.

    The WebSocket frame (per protocol version) is built on first use and then
    reused for every recipient, so a broadcast frames its payload once.
    """

    __slots__ = ("data", "packet", "compress", "_frames")

    def __init__(self, data: str | bytes, compress: bool = True) -> None:
        self.data = data
        #: False: never compressed, even where permessage-deflate was negotiated
        self.compress = compress
        self.packet = Packet(PacketType.MESSAGE, data)
        self._frames: dict[tuple[int, bool], PreparedMessage] = {}

    def prepared(self, version: int, b64: bool = False) -> PreparedMessage:
        """The WebSocket frame of this message for one protocol version."""
        key = (version, b64)
        frame = self._frames.get(key)
        if frame is None:
            payload, is_binary = encode_frame(self.packet, version, b64=b64)
            frame = self._frames[key] = PreparedMessage(payload, is_binary, False, not self.compress)
        return frame
