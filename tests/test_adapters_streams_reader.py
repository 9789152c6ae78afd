"""The blocking XREAD loop (txsocketio.adapters.streams_reader), on a fake
connection driven by task.Clock: order, resume after failures without loss
or duplicates, backoff, stop."""

from __future__ import annotations

from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.trial import unittest

from txsocketio.adapters.streams_reader import StreamReader
from txsocketio.adapters.streams_wire import StreamEntry
from txsocketio.errors import RedisUnavailable


class FakeConnection:
    """Records commands; the test answers each one."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], float | None, Deferred[Any]]] = []

    def execute(self, *args: Any, timeout: float | None = None) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.calls.append((args, timeout, d))
        return d

    @property
    def last(self) -> tuple[Any, ...]:
        return self.calls[-1][0]

    def answer(self, reply: Any) -> None:
        self.calls[-1][2].callback(reply)

    def fail(self, error: Exception) -> None:
        self.calls[-1][2].errback(error)


def entries(*ids: str, stream: bytes = b"s") -> list[Any]:
    return [[stream, [[i.encode(), [b"nsp", b"/", b"n", i.encode()]] for i in ids]]]


class StreamReaderTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = task.Clock()
        self.conn = FakeConnection()
        self.got: list[str] = []
        self.reader = StreamReader(self.conn, "s", lambda e: self.got.append(e.id), self.clock,
                                   block_ms=5000, reply_margin=2, retry_delay=0.1, max_retry_delay=0.4)
        self.addCleanup(self.reader.stop)

    def test_pins_dollar_then_reads(self) -> None:
        """'$' is first pinned to the last entry's id; XREAD then blocks after it, with a timeout of block + margin."""
        self.reader.start()
        self.assertEqual(self.conn.last, ("XREVRANGE", "s", "+", "-", "COUNT", "1"))
        self.conn.answer([[b"7-3", [b"nsp", b"/"]]])
        self.assertEqual(self.reader.last_id, "7-3")
        self.clock.advance(0)
        self.assertEqual(self.conn.last, ("XREAD", "BLOCK", "5000", "COUNT", "100", "STREAMS", "s", "7-3"))
        self.assertEqual(self.conn.calls[-1][1], 7.0)

    def test_empty_stream_pins_to_zero(self) -> None:
        """An empty or missing stream pins to 0-0: everything added later is read."""
        self.reader.start()
        self.conn.answer([])
        self.assertEqual(self.reader.last_id, "0-0")

    def test_delivers_in_order_and_advances(self) -> None:
        """Entries are handed over in order; each XREAD starts after the last one; a timeout (nil) reads again."""
        reader = StreamReader(self.conn, "s", lambda e: self.got.append(e.id), self.clock, start_id="1-0")
        self.addCleanup(reader.stop)
        reader.start()
        self.conn.answer(entries("1-1", "1-2", "2-0"))
        self.assertEqual(self.got, ["1-1", "1-2", "2-0"])
        self.clock.advance(0)
        self.assertEqual(self.conn.last[-1], "2-0")
        self.conn.answer(None)
        self.clock.advance(0)
        self.assertEqual(self.conn.last[-1], "2-0")
        self.assertEqual(len(self.conn.calls), 3)

    def test_entries_have_fields(self) -> None:
        """The callback gets the entry's fields as strings."""
        seen: list[StreamEntry] = []
        reader = StreamReader(self.conn, "s", seen.append, self.clock, start_id="0-0")
        self.addCleanup(reader.stop)
        reader.start()
        self.conn.answer(entries("1-1"))
        self.assertEqual(seen, [StreamEntry("1-1", {"nsp": "/", "n": "1-1"})])

    def test_resume_after_outage_no_loss_no_duplicate(self) -> None:
        """A failed XREAD (Redis gone) is retried after the delay from the
        last id seen; entries already seen in a replayed reply are not handed
        over twice, the new ones are."""
        reader = StreamReader(self.conn, "s", lambda e: self.got.append(e.id), self.clock, start_id="0-0",
                              retry_delay=0.1)
        self.addCleanup(reader.stop)
        reader.start()
        self.conn.answer(entries("1-1", "1-2"))
        self.clock.advance(0)
        self.conn.fail(RedisUnavailable("lost"))
        n = len(self.conn.calls)
        self.clock.advance(0.09)
        self.assertEqual(len(self.conn.calls), n)
        self.clock.advance(0.02)
        self.assertEqual(self.conn.last[-1], "1-2")
        self.conn.answer(entries("1-2", "1-3", "1-4"))  # an overlapping reply must not duplicate
        self.assertEqual(self.got, ["1-1", "1-2", "1-3", "1-4"])

    def test_backoff_doubles_and_resets(self) -> None:
        """Retry delays double up to the maximum and reset after a success."""
        reader = StreamReader(self.conn, "s", self.got.append, self.clock, start_id="0-0",
                              retry_delay=0.1, max_retry_delay=0.4)
        self.addCleanup(reader.stop)
        reader.start()
        delays = []
        for _ in range(4):
            self.conn.fail(RedisUnavailable("down"))
            delays.append(round(self.clock.getDelayedCalls()[0].getTime() - self.clock.seconds(), 6))
            self.clock.advance(delays[-1])
        self.assertEqual(delays, [0.1, 0.2, 0.4, 0.4])
        self.conn.answer(None)
        self.clock.advance(0)
        self.conn.fail(RedisUnavailable("down"))
        self.assertAlmostEqual(self.clock.getDelayedCalls()[0].getTime() - self.clock.seconds(), 0.1)

    def test_malformed_reply_retried(self) -> None:
        """A reply that is no XREAD reply is logged and the read retried from the same id."""
        reader = StreamReader(self.conn, "s", self.got.append, self.clock, start_id="3-0")
        self.addCleanup(reader.stop)
        reader.start()
        self.conn.answer([[b"s", [[b"bogus", []]]]])
        self.assertEqual(len(self.flushLoggedErrors()), 0)
        self.clock.advance(1)
        self.assertEqual(self.conn.last[-1], "3-0")

    def test_handler_error_logged_and_skipped(self) -> None:
        """An exception in the handler is logged; the entry counts as delivered, the next ones still come."""
        def handler(entry: StreamEntry) -> None:
            if entry.id == "1-1":
                raise ValueError("boom")
            self.got.append(entry.id)

        reader = StreamReader(self.conn, "s", handler, self.clock, start_id="0-0")
        self.addCleanup(reader.stop)
        reader.start()
        self.conn.answer(entries("1-1", "1-2"))
        self.assertEqual(self.got, ["1-2"])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(reader.last_id, "1-2")

    def test_stop_cancels_and_start_resumes(self) -> None:
        """stop() cancels the command in flight and leaves no call scheduled; start() resumes after last_id."""
        reader = StreamReader(self.conn, "s", self.got.append, self.clock, start_id="5-0")
        reader.start()
        d = self.conn.calls[-1][2]
        reader.stop()
        self.assertTrue(d.called)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(reader.running)
        reader.start()
        self.addCleanup(reader.stop)
        self.assertEqual(self.conn.last[-1], "5-0")

    def test_stop_during_failure_backoff(self) -> None:
        """Stopping while a retry is scheduled cancels the retry."""
        reader = StreamReader(self.conn, "s", self.got.append, self.clock, start_id="5-0")
        reader.start()
        self.conn.fail(RedisUnavailable("down"))
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        reader.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_bad_start_id(self) -> None:
        """start_id is '$' or a stream id."""
        self.assertRaises(ValueError, StreamReader, self.conn, "s", self.got.append, self.clock, start_id="x")
