"""An in-memory Redis with streams, keys and pub/sub, for fast-tier tests of
the Redis Streams adapter (tests/test_adapters_streams.py).

:class:`FakeStreamsHub` extends the pub/sub hub of :mod:`tests.redis_fake`
with the commands the streams adapter runs through ``execute``: ``XADD``
(``MAXLEN ~`` trims exactly), ``XREAD BLOCK`` (answered when an entry comes,
or with nil after the block time on the test's Clock), ``XRANGE``,
``XREVRANGE``, ``SET ... PX`` and ``GETDEL``.  Entry ids are the Clock's
milliseconds and a sequence number, as Redis makes them.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from tests.redis_fake import FakeRedisConnection, FakeRedisHub
from txsocketio.errors import RedisUnavailable


def _key(entry_id: str) -> tuple[int, int]:
    if entry_id == "-":
        return (0, 0)
    if entry_id == "+":
        return (2**64, 0)
    ms, _, seq = entry_id.partition("-")
    return (int(ms), int(seq or 0))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class FakeStreamsConnection(FakeRedisConnection):
    """A connection that also runs commands (``execute``).  With the hub's
    ``slow_writes``, SET runs on the next clock turn, and ``close()`` fails
    the commands still in flight, as the real connection does."""

    def __init__(self, hub: "FakeStreamsHub", name: str) -> None:
        super().__init__(hub, name)
        self.in_flight: list[Deferred[Any]] = []

    def execute(self, *args: Any, timeout: float | None = None) -> "Deferred[Any]":
        if self.closed or self.hub.down:
            return fail(RedisUnavailable("the fake Redis is down"))
        command = [_text(a) for a in args]
        if command[0] == "SET" and self.hub.slow_writes:  # type: ignore[attr-defined]
            d: Deferred[Any] = Deferred()
            self.in_flight.append(d)

            def run() -> None:
                if d in self.in_flight:
                    self.in_flight.remove(d)
                    self.hub.run(command).chainDeferred(d)  # type: ignore[attr-defined]
            self.hub.clock.callLater(0, run)
            return d
        self.hub.commands.append(command)  # type: ignore[attr-defined]
        return self.hub.run(command)  # type: ignore[attr-defined, no-any-return]

    def close(self) -> "Deferred[None]":
        pending, self.in_flight = self.in_flight, []
        for d in pending:
            d.errback(RedisUnavailable("closed"))
        return super().close()


class FakeStreamsHub(FakeRedisHub):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.streams: dict[str, list[tuple[str, list[str]]]] = {}
        self.keys: dict[str, tuple[str, float | None]] = {}
        self.commands: list[list[str]] = []
        #: True: SET answers on the next clock turn (a write in flight at close)
        self.slow_writes = False
        self._last = (0, 0)
        self._blocked: list[tuple[str, str, int, Deferred[Any], Any]] = []

    def connect(self, name: str = "") -> FakeStreamsConnection:
        connection = FakeStreamsConnection(self, name or str(len(self.connections)))
        self.connections.append(connection)
        return connection

    def run(self, args: list[str]) -> "Deferred[Any]":
        name = args[0].upper()
        handler = getattr(self, "_" + name.lower(), None)
        if handler is None:
            return fail(ValueError(f"the fake Redis does not know {name}"))
        return handler(args[1:])  # type: ignore[no-any-return]

    def _xadd(self, args: list[str]) -> "Deferred[Any]":
        stream, _maxlen, _tilde, max_len, _star, *fields = args
        ms = int(self.clock.seconds() * 1000)
        self._last = (ms, self._last[1] + 1) if ms <= self._last[0] else (ms, 0)
        entry_id = f"{self._last[0]}-{self._last[1]}"
        entries = self.streams.setdefault(stream, [])
        entries.append((entry_id, fields))
        del entries[:max(0, len(entries) - int(max_len))]
        for blocked in list(self._blocked):
            if blocked[0] == stream:
                self._answer_blocked(blocked)
        return succeed(entry_id.encode())

    def _after(self, stream: str, after: str, count: int) -> list[Any]:
        return [[i.encode(), [f.encode() for f in fields]] for i, fields in self.streams.get(stream, [])
                if _key(i) > _key(after)][:count]

    def _answer_blocked(self, blocked: tuple[str, str, int, Deferred[Any], Any]) -> None:
        stream, after, count, d, timer = blocked
        self._blocked.remove(blocked)
        if timer.active():
            timer.cancel()
        self.clock.callLater(0, d.callback, [[stream.encode(), self._after(stream, after, count)]])

    def _xread(self, args: list[str]) -> "Deferred[Any]":
        _block, ms, _count, count, _streams, stream, after = args
        found = self._after(stream, after, int(count))
        if found:
            return succeed([[stream.encode(), found]])
        d: Deferred[Any] = Deferred()

        def timed_out() -> None:
            for blocked in list(self._blocked):
                if blocked[3] is d:
                    self._blocked.remove(blocked)
                    d.callback(None)

        timer = self.clock.callLater(int(ms) / 1000, timed_out)
        self._blocked.append((stream, after, int(count), d, timer))
        return d

    def _xrange(self, args: list[str]) -> "Deferred[Any]":
        stream, start, end, *rest = args
        count = int(rest[1]) if rest else 10**9
        return succeed([[i.encode(), [f.encode() for f in fields]] for i, fields in self.streams.get(stream, [])
                        if _key(start) <= _key(i) <= _key(end)][:count])

    def _xrevrange(self, args: list[str]) -> "Deferred[Any]":
        stream = args[0]
        entries = self.streams.get(stream, [])
        return succeed([[i.encode(), [f.encode() for f in fields]] for i, fields in entries[-1:]])

    def _set(self, args: list[str]) -> "Deferred[Any]":
        key, value, _px, ms = args
        self.keys[key] = (value, self.clock.seconds() + int(ms) / 1000)
        return succeed("OK")

    def _getdel(self, args: list[str]) -> "Deferred[Any]":
        value, expires = self.keys.pop(args[0], (None, None))
        if value is None or (expires is not None and expires < self.clock.seconds()):
            return succeed(None)
        return succeed(value.encode())

    def stop_blocking(self) -> None:
        """Cancel the blocked reads' timers (end of a test)."""
        for _, _, _, _, timer in self._blocked:
            if timer.active():
                timer.cancel()
        self._blocked.clear()
