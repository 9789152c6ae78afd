# -*- test-case-name: tests.test_adapters_streams_reader -*-
"""The reading side of the Redis Streams adapter: one blocking ``XREAD`` loop.

A :class:`StreamReader` reads one stream on a connection of its own (a
blocking ``XREAD`` holds its connection for up to ``block_ms``, so it must
not share the publisher's) and hands every entry, in stream order, to a
callback.  It remembers the id of the last entry it handed over and always
reads *after* that id, so when Redis goes away and comes back (the
connection reconnects by itself) it resumes where it stopped: every entry
still in the stream is delivered once, none twice.  An outage longer than
what ``MAXLEN ~`` keeps loses the trimmed entries; nothing can bring them back.

Unlike Node's adapter, which starts from ``$`` until the first entry
arrives, the reader first pins ``$`` to a concrete id (``XREVRANGE ... COUNT
1``), so an outage before the first entry loses nothing either.

The connection is anything with ``execute(*args, timeout=...) ->
Deferred`` (:meth:`txsocketio.redisconn.RedisConnection.execute`); the clock
is passed in.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from txsocketio.adapters import streams_wire as sw
from txsocketio.errors import ProtocolError
from txsocketio.logs import Logger

__all__ = ["CommandRunner", "StreamReader"]

log = Logger(namespace="txsocketio.redis.streams")


class CommandRunner(Protocol):
    """What the reader needs of a Redis connection."""

    def execute(self, *args: Any, timeout: float | None = None) -> "Deferred[Any]": ...


class StreamReader:
    """Reads ``stream`` with ``XREAD BLOCK`` and calls ``on_entry(entry)``
    for each :class:`~txsocketio.adapters.streams_wire.StreamEntry`.

    ``start_id``: ``"$"`` (only what comes after the start, pinned to a
    concrete id first) or an entry id to resume after.  ``count`` and
    ``block_ms`` are XREAD's ``COUNT`` and ``BLOCK``; ``reply_margin``
    seconds are added to ``block_ms`` for the command's own timeout.  After
    a failed command the reader waits ``retry_delay`` seconds, doubling up
    to ``max_retry_delay``, and tries again; a success resets the delay.
    An exception raised by ``on_entry`` is logged and the entry counts as
    delivered.
    """

    def __init__(self, connection: CommandRunner, stream: str, on_entry: Callable[[sw.StreamEntry], Any],
                 clock: IReactorTime, *, start_id: str = "$", count: int = sw.DEFAULT_READ_COUNT,
                 block_ms: int = sw.DEFAULT_BLOCK_MS, reply_margin: float = 5.0,
                 retry_delay: float = 0.1, max_retry_delay: float = 5.0) -> None:
        if start_id != "$" and not sw.is_offset(start_id):
            raise ValueError(f"start_id is '$' or a stream id, not {start_id!r}")
        self.connection = connection
        self.stream = stream
        self.on_entry = on_entry
        self.clock = clock
        self.count = count
        self.block_ms = block_ms
        self.reply_margin = reply_margin
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        #: The id of the last entry handed over ("$" until it is known).
        self.last_id = start_id
        self._delay = retry_delay
        self._running = False
        self._inflight: Deferred[Any] | None = None
        self._retry: IDelayedCall | None = None

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Start reading (no-op when already started)."""
        if self._running:
            return
        self._running = True
        self._next()

    def stop(self) -> None:
        """Stop reading: the command in flight is cancelled (its reply, if
        one comes, is ignored) and no retry is left scheduled.  ``start()``
        resumes after :attr:`last_id`."""
        self._running = False
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            inflight.cancel()

    # -- the loop --------------------------------------------------------------------

    def _next(self) -> None:
        self._retry = None
        if not self._running:
            return
        if self.last_id == "$":
            d = self.connection.execute("XREVRANGE", self.stream, "+", "-", "COUNT", "1")
            d.addCallback(self._pinned)
        else:
            args = sw.xread_command(self.stream, self.last_id, self.count, self.block_ms)
            d = self.connection.execute(*args, timeout=self.block_ms / 1000 + self.reply_margin)
            d.addCallback(self._read)
        self._inflight = d
        d.addCallbacks(self._succeeded, self._failed, errbackArgs=(d,), callbackArgs=(d,))

    def _pinned(self, reply: Any) -> None:
        entries = sw.parse_entries(reply)
        self.last_id = entries[-1].id if entries else "0-0"

    def _read(self, reply: Any) -> None:
        for entry in sw.parse_xread_reply(reply, self.stream):
            if not self._running:
                return  # stopped by on_entry: the rest is read again after a start()
            if _id_key(entry.id) <= _id_key(self.last_id):
                continue  # never hand an entry over twice
            self.last_id = entry.id
            try:
                self.on_entry(entry)
            except Exception:
                log.failure("a stream entry handler failed on {id}", id=entry.id)

    def _succeeded(self, _: Any, d: Deferred[Any]) -> None:
        if self._inflight is d:
            self._inflight = None
        self._delay = self.retry_delay
        if self._running:
            # A turn of the reactor between commands: a connection that
            # answers synchronously cannot make this recurse.
            self._retry = self.clock.callLater(0, self._next)

    def _failed(self, failure: Failure, d: Deferred[Any]) -> None:
        if self._inflight is d:
            self._inflight = None
        if failure.check(CancelledError) and not self._running:
            return
        if failure.check(ProtocolError):
            log.error("unreadable reply while reading {stream}: {error}", stream=self.stream, error=failure.value)
        else:
            log.info("reading {stream} failed ({error}); retrying in {delay} s", stream=self.stream,
                     error=failure.value, delay=self._delay)
        if self._running:
            self._retry = self.clock.callLater(self._delay, self._next)
            self._delay = min(self._delay * 2, self.max_retry_delay)


def _id_key(entry_id: str) -> tuple[int, int]:
    if entry_id == "$":
        return (-1, -1)
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)
