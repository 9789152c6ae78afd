# -*- test-case-name: tests.test_engineio_packet -*-
"""Exceptions shared by the whole package."""


class ProtocolError(Exception):
    """The peer sent something that breaks the Engine.IO or Socket.IO protocol.

    The decoders raise this, and only this, on malformed input; any other
    exception escaping a decoder is a bug in txsocketio.
    """
