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


class RedisUnavailable(Exception):
    """Redis could not be reached (or did not answer) in time.

    Raised by :class:`txsocketio.redisconn.RedisConnection` for a command
    that waited longer than its timeout for a usable connection or for the
    reply, or that was pending when the connection was closed.  The local
    server keeps working meanwhile; the connection keeps retrying.
    """


class ClusterTimeout(Exception):
    """A request to the other servers of a cluster did not complete in time.

    Node's adapter drops what arrived; this keeps it:

    ``results``
        what did arrive, already merged the way the operation returns it (for
        ``fetch_sockets`` the local sockets plus the remote ones that came,
        for ``all_rooms`` a set, for ``server_side_emit`` the list of answers);
    ``responded``
        how many of the *other* servers answered;
    ``expected``
        how many other servers were asked (``None`` when Redis itself did not
        answer, so the number of servers is unknown).
    """

    def __init__(self, message: str, results: object = None, responded: int = 0,
                 expected: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.results = results
        self.responded = responded
        self.expected = expected
