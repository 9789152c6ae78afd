"""JSON logs: one JSON object per line from twisted.logger's JSON observer,
with the connection fields and the formatted text; the twistd file choice."""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    LogPublisher,
    Logger,
    eventsFromJSONLogFile,
)
from twisted.python.logfile import LogFile
from twisted.trial import unittest

from txsocketio import logs


class FieldTests(unittest.TestCase):
    def test_field_names(self) -> None:
        """The documented field names."""
        self.assertEqual((logs.SID, logs.NAMESPACE, logs.REMOTE, logs.TEXT),
                         ("sid", "namespace", "remote", "log_text"))

    def test_log_fields(self) -> None:
        """log_fields keeps the known fields only."""
        self.assertEqual(logs.log_fields(), {})
        self.assertEqual(logs.log_fields(sid="s", remote="1.2.3.4:5"), {"sid": "s", "remote": "1.2.3.4:5"})
        self.assertEqual(logs.log_fields(sid="s", namespace="/", remote=None), {"sid": "s", "namespace": "/"})

    def test_remote_address(self) -> None:
        """IPv4 host:port, IPv6 [host]:port, unix:path, None for none."""
        self.assertEqual(logs.remote_address(IPv4Address("TCP", "127.0.0.1", 53122)), "127.0.0.1:53122")
        self.assertEqual(logs.remote_address(IPv6Address("TCP", "::1", 80)), "[::1]:80")
        self.assertEqual(logs.remote_address(UNIXAddress(b"/run/s.sock")), "unix:/run/s.sock")
        self.assertEqual(logs.remote_address(UNIXAddress(None)), "unix:")
        self.assertIsNone(logs.remote_address(None))
        self.assertEqual(logs.remote_address("elsewhere"), "elsewhere")


class JSONObserverTests(unittest.TestCase):
    def setUp(self) -> None:
        self.out = io.StringIO()
        self.publisher = LogPublisher(logs.json_log_observer(self.out))
        self.log = Logger(namespace="txsocketio.test", observer=self.publisher)

    def lines(self) -> list[dict]:
        text = self.out.getvalue()
        self.assertTrue(text.endswith("\n"))
        return [json.loads(line) for line in text.splitlines()]

    def test_one_object_per_line(self) -> None:
        """Each event is one line holding one JSON object, with the
        connection fields as top-level keys, the namespace of the logger,
        the level's name and the formatted text."""
        self.log.info("connected {sid} from {remote}", **logs.log_fields(sid="abc", namespace="/chat",
                                                                          remote="127.0.0.1:5"))
        self.log.warn("second line\nwith a newline")
        first, second = self.lines()
        self.assertEqual((first["sid"], first["namespace"], first["remote"]), ("abc", "/chat", "127.0.0.1:5"))
        self.assertEqual(first["log_namespace"], "txsocketio.test")
        self.assertEqual(first["log_level"]["name"], "info")
        self.assertEqual(first["log_text"], "connected abc from 127.0.0.1:5")
        self.assertIsInstance(first["log_time"], float)
        self.assertEqual(second["log_text"], "second line\nwith a newline")

    def test_failure_has_traceback(self) -> None:
        """A logged failure's text carries the traceback."""
        try:
            1 / 0
        except ZeroDivisionError:
            self.log.failure("handler failed", sid="s1")
        [line] = self.lines()
        self.assertEqual(line["sid"], "s1")
        self.assertIn("handler failed", line["log_text"])
        self.assertIn("ZeroDivisionError", line["log_text"])
        self.assertIn("Traceback", line["log_text"])

    def test_unserialisable_field(self) -> None:
        """A field JSON cannot hold does not break the line (Twisted marks
        it unpersistable); the text still shows it."""
        self.log.info("obj {o}", o=object())
        [line] = self.lines()
        self.assertEqual(line["o"], {"unpersistable": True})
        self.assertIn("<object object at", line["log_text"])

    def test_reads_back(self) -> None:
        """Twisted's own reader loads the events back (newline-delimited)."""
        self.log.info("hello {sid}", sid="x")
        events = list(eventsFromJSONLogFile(io.StringIO(self.out.getvalue()), recordSeparator=""))
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["sid"], "x")
        self.assertEqual(events[0]["log_level"], LogLevel.info)

    def test_other_observers_see_original_event(self) -> None:
        """The text is added to a copy: other observers' events are unchanged."""
        seen: list[dict] = []
        self.publisher.addObserver(seen.append)
        self.log.info("x")
        self.assertNotIn("log_text", seen[0])

    def test_behind_level_filter(self) -> None:
        """Behind --log-level's filter (FilteringLogObserver with a level
        predicate, as tap.py builds it) debug lines are dropped before any
        JSON is built."""
        out = io.StringIO()
        observer = FilteringLogObserver(logs.json_log_observer(out),
                                        [LogLevelFilterPredicate(LogLevel.info)])
        log = Logger(namespace="txsocketio.test", observer=observer)
        log.debug("hidden {sid}", sid="d")
        log.info("shown")
        self.assertEqual([json.loads(line)["log_text"] for line in out.getvalue().splitlines()], ["shown"])


class TwistdFileTests(unittest.TestCase):
    def test_stdout(self) -> None:
        """--logfile - with -n, or -n without --logfile: stdout."""
        self.assertIs(logs.twistd_log_file({"logfile": "-", "nodaemon": True}), sys.stdout)
        self.assertIs(logs.twistd_log_file({"logfile": None, "nodaemon": True}), sys.stdout)
        self.assertTrue(ILogObserver.providedBy(logs.json_observer_for_twistd({"logfile": "-", "nodaemon": True})))

    def test_file(self) -> None:
        """--logfile PATH: a rotating LogFile at PATH, and JSON lines land there."""
        directory = tempfile.mkdtemp()
        path = os.path.join(directory, "server.log")
        f = logs.twistd_log_file({"logfile": path, "nodaemon": False})
        self.assertIsInstance(f, LogFile)
        Logger(namespace="t", observer=logs.json_log_observer(f)).info("to file {sid}", sid="f")
        f.close()
        with open(path) as written:
            [line] = [json.loads(x) for x in written.read().splitlines()]
        self.assertEqual(line["sid"], "f")
        os.remove(path)
        os.rmdir(directory)

    def test_refusals(self) -> None:
        """--syslog and a daemon on stdout are refused with what to do."""
        error = self.assertRaises(ValueError, logs.twistd_log_file, {"syslog": True})
        self.assertIn("--syslog", str(error))
        error = self.assertRaises(ValueError, logs.twistd_log_file, {"logfile": "-", "nodaemon": False})
        self.assertIn("-n", str(error))


class ConnectionFieldsTests(unittest.SynchronousTestCase):
    """txsocketio's own log lines about a connection carry sid, namespace
    and remote where known (in memory, over tests.engineio_support)."""

    def setUp(self) -> None:
        from twisted.logger import globalLogPublisher

        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def lines(self, text: str) -> list[dict]:
        return [e for e in self.events if text in e.get("log_format", "")]

    def test_engineio_error_answer(self) -> None:
        """The log line of an Engine.IO error answer carries the peer's
        address, and the sid it named."""
        from tests.engineio_support import Harness

        h = Harness(self)
        h.get("EIO=4&transport=polling&sid=nope")
        [event] = self.lines("{status} {message}")
        self.assertEqual(event["sid"], "nope")
        self.assertTrue(event["remote"], event)

    def test_engineio_session_line(self) -> None:
        """A line about a session (an overlapping long-poll) carries its sid
        and the remote address of its handshake."""
        from tests.engineio_support import Harness

        h = Harness(self)
        sid, _ = h.handshake()
        remote = h.socket(sid).handshake.remote
        first = h.poll(sid)
        h.poll(sid).result()
        first.result()
        [event] = self.lines("overlapping long-poll")
        self.assertEqual((event["sid"], event["remote"]), (sid, remote))
        self.assertRegex(remote, r"^[\d.]+:\d+$|^\[.*\]:\d+$")

    def test_socketio_namespace_line(self) -> None:
        """A Socket.IO line about a namespace (CONNECT to an unknown one)
        carries sid, namespace and remote."""
        from twisted.internet.testing import MemoryReactorClock

        from tests.engineio_support import Harness
        from txsocketio import SocketIOServer

        sio = SocketIOServer(reactor=MemoryReactorClock())
        h = Harness(self, server=sio.engine)
        sid, _ = h.handshake()
        remote = h.socket(sid).handshake.remote
        h.send(sid, b"40/nope,")
        [event] = self.lines("CONNECT to unknown namespace")
        self.assertEqual((event["sid"], event["namespace"], event["remote"]), (sid, "/nope", remote))
        self.assertIsNotNone(remote)


class DebugSwitchTests(unittest.SynchronousTestCase):
    """``logs.Logger``'s debug events follow ``set_debug_logging``."""

    def setUp(self) -> None:
        self.addCleanup(logs.set_debug_logging, logs.Logger.debug_enabled)
        self.seen: list[dict] = []
        self.log = logs.Logger(namespace="txsocketio.test", observer=self.seen.append)

    def test_on_by_default(self) -> None:
        """A program that does not say otherwise gets every debug event."""
        self.assertTrue(logs.Logger.debug_enabled)
        self.log.debug("shown {x}", x=1)
        self.assertEqual([(e["log_format"], e["log_level"], e["x"]) for e in self.seen],
                         [("shown {x}", LogLevel.debug, 1)])

    def test_off(self) -> None:
        """Turned off, debug events are not made; the other levels are."""
        logs.set_debug_logging(False)
        self.log.debug("hidden")
        self.log.info("info")
        self.log.warn("warn")
        self.assertEqual([e["log_level"] for e in self.seen], [LogLevel.info, LogLevel.warn])
        logs.set_debug_logging(True)
        self.log.debug("again")
        self.assertEqual(self.seen[-1]["log_format"], "again")
