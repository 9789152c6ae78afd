# -*- test-case-name: tests.test_engineio_packet -*-
"""Exceptions shared by the whole package."""


class ProtocolError(Exception):
    """The peer sent something that breaks the Engine.IO or Socket.IO protocol.

    The decoders raise this, and only this, on malformed input; any other
    exception escaping a decoder is a bug in txsocketio.
    """


class ConnectionRefused(Exception):
    """Raise in a connect handler or a namespace middleware to refuse a client.

    The client receives a CONNECT_ERROR packet carrying ``message`` and, when
    given, ``data`` (any JSON-serialisable value), as Node's
    ``next(err)`` with ``err.data`` does.
    """

    def __init__(self, message: str = "Connection refused", data: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def payload(self) -> dict[str, object]:
        out: dict[str, object] = {"message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


class AckTimeout(Exception):
    """An acknowledgement did not arrive in time.

    For a broadcast, ``responses`` holds the acknowledgements that did arrive
    and ``expected`` how many clients were asked.
    """

    def __init__(self, message: str = "operation has timed out", responses: list[object] | None = None,
                 expected: int | None = None) -> None:
        super().__init__(message)
        self.responses = responses if responses is not None else []
        self.expected = expected


class SocketDisconnected(Exception):
    """The socket disconnected before it acknowledged the emit."""
