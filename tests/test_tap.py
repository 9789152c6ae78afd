"""``twistd txsocketio``: option parsing, usage errors, the service it makes
and its logging set-up (fast tier; the real twistd process and installs are in
tests/interop/test_tap.py)."""

from __future__ import annotations

import gc
import io
import os
import sys
import tempfile
from typing import Any

from twisted.application.service import Application, Service
from twisted.logger import ILogObserver, LogLevel
from twisted.python import usage
from twisted.scripts.twistd import ServerOptions
from twisted.trial import unittest

from txsocketio import SocketIOServer
from txsocketio.http import SocketIOSite
from txsocketio.service import SocketIOService
from txsocketio.logs import Logger, set_debug_logging
from txsocketio.tap import Options, TwistdService, level_filter, makeService

APP_MODULE = '''
from txsocketio import SocketIOServer
sio = SocketIOServer()
@sio.on("echo")
def echo(socket, *args):
    return args
def factory():
    return SocketIOServer(ping_interval=7)
def broken_factory():
    raise RuntimeError("boom")
not_a_server = 42
'''


class _KeepDebugLogging:
    """makeService sets txsocketio's debug logging from --log-level: put it back."""

    def setUp(self) -> None:
        self.addCleanup(set_debug_logging, Logger.debug_enabled)  # type: ignore[attr-defined]
        super().setUp()  # type: ignore[misc]


class _AppDirMixin:
    def make_app_dir(self) -> str:
        d = tempfile.mkdtemp()
        name = f"tapapp_{abs(hash(d)) % 10**8}"
        with open(os.path.join(d, name + ".py"), "w") as f:
            f.write(APP_MODULE)
        cwd = os.getcwd()
        os.chdir(d)
        self.addCleanup(os.chdir, cwd)  # type: ignore[attr-defined]
        self.addCleanup(sys.modules.pop, name, None)  # type: ignore[attr-defined]
        return name


class OptionsTests(_KeepDebugLogging, _AppDirMixin, unittest.TestCase):
    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_defaults_serve_the_demo_on_localhost_8080(self) -> None:
        """No options: the chat demo app, one listener on 127.0.0.1:8080, path /socket.io/."""
        options = self.parse()
        self.assertEqual(options["listen"], ["tcp:8080:interface=127.0.0.1"])
        self.assertEqual(options["path"], "/socket.io/")
        self.assertIsInstance(options["sio"], SocketIOServer)

    def test_listen_is_repeatable(self) -> None:
        """--listen and -l may be given several times."""
        options = self.parse("--listen", "tcp:0:interface=127.0.0.1", "-l", "unix:/tmp/x.sock")
        self.assertEqual(options["listen"], ["tcp:0:interface=127.0.0.1", "unix:/tmp/x.sock"])

    def test_bad_values_are_usage_errors(self) -> None:
        """Every malformed value is a UsageError with a one-line explanation."""
        for argv, words in [
            (["--listen", "tcp:abc"], "not a valid endpoint"),
            (["--ping-interval", "x"], "number of seconds"),
            (["--ping-timeout", "-1"], "positive"),
            (["--connect-timeout", "0"], "positive"),
            (["--max-http-buffer-size", "1.5"], "whole number"),
            (["--transports", "carrier-pigeon"], "polling, websocket"),
            (["--path", "/"], "--path"),
            (["--static", "/no/such/dir"], "not a directory"),
        ]:
            e = self.assertRaises(usage.UsageError, self.parse, *argv)
            self.assertIn(words, str(e), argv)
            self.assertNotIn("\n", str(e))

    def test_app_errors(self) -> None:
        """--app mistakes say what is wrong: missing module, attribute, type, a failing factory."""
        name = self.make_app_dir()
        for spec, words in [
            ("no_such_module_xyz:sio", "no module named 'no_such_module_xyz'"),
            (f"{name}:nope", "has no attribute 'nope'"),
            (f"{name}:not_a_server", "is a int, not a SocketIOServer"),
            (f"{name}:broken_factory", "RuntimeError: boom"),
            (name, "MODULE:ATTR"),
        ]:
            e = self.assertRaises(usage.UsageError, self.parse, "--app", spec)
            self.assertIn(words, str(e), spec)

    def test_app_object_or_factory(self) -> None:
        """--app takes a SocketIOServer, or a callable returning one, from the current directory."""
        name = self.make_app_dir()
        options = self.parse("--app", f"{name}:sio")
        self.assertIs(options["sio"], sys.modules[name].sio)
        options = self.parse("--app", f"{name}:factory")
        self.assertEqual(options["sio"].engine.config.ping_interval, 7)

    def test_wsgi_must_be_callable(self) -> None:
        """--wsgi must name a callable."""
        name = self.make_app_dir()
        e = self.assertRaises(usage.UsageError, self.parse, "--app", f"{name}:sio", "--wsgi",
                              f"{name}:not_a_server")
        self.assertIn("not a WSGI application", str(e))

    def test_command_line_overrides_the_app(self) -> None:
        """Times, sizes, transports, EIO3 and CORS given on the command line win."""
        name = self.make_app_dir()
        options = self.parse("--app", f"{name}:factory", "--ping-interval", "1.5", "--ping-timeout", "0.5",
                             "--connect-timeout", "3", "--max-http-buffer-size", "1000",
                             "--transports", "websocket", "--allow-eio3", "--cors-origin", "http://a.example",
                             "--cors-origin", "http://b.example", "--listen", "tcp:0:interface=127.0.0.1")
        service = makeService(options)
        sio = options["sio"]
        engine = sio.engine
        self.assertEqual((engine.config.ping_interval, engine.config.ping_timeout), (1.5, 0.5))
        self.assertEqual(sio.connect_timeout, 3)
        self.assertEqual(engine.max_http_buffer_size, 1000)
        self.assertEqual(engine.transports, ("websocket",))
        self.assertTrue(engine.allow_eio3)
        self.assertTrue(engine.cors.allows("http://b.example", "x", False))
        self.assertFalse(engine.cors.allows("http://c.example", "x", False))
        self.assertIsInstance(service, TwistdService)
        self.assertIsInstance(service.socketio, SocketIOService)

    def test_parser_option(self) -> None:
        """--parser msgpack gives the app the MessagePack parser, --max-json-depth its limit;
        unknown names and non-positive depths are usage errors."""
        from txsocketio.socketio.msgpack_parser import MsgpackParser

        name = self.make_app_dir()
        options = self.parse("--app", f"{name}:factory", "--parser", "msgpack", "--max-json-depth", "300",
                             "--listen", "tcp:0:interface=127.0.0.1")
        makeService(options)
        self.assertEqual(options["sio"].config.max_json_depth, 300)
        self.assertRaises(usage.UsageError, self.parse, "--max-json-depth", "0")
        self.assertIsInstance(options["sio"].parser, MsgpackParser)
        self.assertFalse(options["sio"].config.cleanup_empty_child_namespaces)
        e = self.assertRaises(usage.UsageError, self.parse, "--parser", "yaml")
        self.assertIn("json or msgpack", str(e))

    def test_recovery_options(self) -> None:
        """--recovery-window turns connection state recovery on (with
        --recovery-skip-middlewares, recovered clients skip the middlewares);
        the flag alone, or a window that is not positive, is a usage error."""
        name = self.make_app_dir()
        options = self.parse("--app", f"{name}:factory", "--recovery-window", "30", "--recovery-skip-middlewares",
                             "--listen", "tcp:0:interface=127.0.0.1")
        makeService(options)
        recovery = options["sio"].config.connection_state_recovery
        self.assertEqual((recovery.max_disconnection_duration, recovery.skip_middlewares), (30.0, True))
        options = self.parse("--app", f"{name}:factory", "--listen", "tcp:0:interface=127.0.0.1")
        makeService(options)
        self.assertIsNone(options["sio"].config.connection_state_recovery)
        e = self.assertRaises(usage.UsageError, self.parse, "--recovery-skip-middlewares")
        self.assertIn("needs --recovery-window", str(e))
        self.assertRaises(usage.UsageError, self.parse, "--recovery-window", "0")

    def test_redis_streams_options(self) -> Any:
        """--redis-streams URL (with --redis-stream-name, --redis-max-len) gives
        the app the streams adapter; with --redis, without a URL, or a bad URL:
        usage errors."""
        from txsocketio.adapters.streams import RedisStreamsAdapterFactory

        name = self.make_app_dir()
        options = self.parse("--app", f"{name}:factory", "--redis-streams", "redis://127.0.0.1:1",
                             "--redis-stream-name", "chat", "--redis-max-len", "500",
                             "--listen", "tcp:0:interface=127.0.0.1")
        makeService(options)
        sio = options["sio"]
        factory = sio.config.adapter
        self.assertIsInstance(factory, RedisStreamsAdapterFactory)
        self.assertEqual((factory.options.stream_name, factory.options.max_len), ("chat", 500))
        for argv, words in [(["--redis-streams", "redis://a", "--redis", "redis://b"], "choose one"),
                            (["--redis-max-len", "5"], "need --redis-streams"),
                            (["--redis-streams", "http://x"], "--redis-streams")]:
            e = self.assertRaises(usage.UsageError, self.parse, *argv)
            self.assertIn(words, str(e), argv)
        from twisted.internet.defer import gatherResults

        return gatherResults([nsp.adapter.close() for nsp in sio.all_namespaces()])

    def test_cleanup_empty_child_namespaces_flag(self) -> None:
        """--cleanup-empty-child-namespaces turns Node's cleanupEmptyChildNamespaces on."""
        name = self.make_app_dir()
        options = self.parse("--app", f"{name}:factory", "--cleanup-empty-child-namespaces",
                             "--listen", "tcp:0:interface=127.0.0.1")
        makeService(options)
        self.assertTrue(options["sio"].config.cleanup_empty_child_namespaces)

    def test_listen_a_bare_port_says_what_to_write(self) -> None:
        """--listen 8080 is refused with the description to write instead."""
        e = self.assertRaises(usage.UsageError, self.parse, "--listen", "8080")
        self.assertIn("write tcp:8080", str(e))

    def test_new_options_validated(self) -> None:
        """--log-level, --headers-timeout, --max-header-size, --max-request-line
        take sensible values only."""
        for argv, words in [
            (["--log-level", "loud"], "--log-level takes one of debug, info, warn, error, critical"),
            (["--headers-timeout", "0"], "positive"),
            (["--max-header-size", "x"], "whole number of bytes"),
            (["--max-request-line", "-5"], "positive"),
        ]:
            e = self.assertRaises(usage.UsageError, self.parse, *argv)
            self.assertIn(words, str(e), argv)

    def test_limits_and_logs_reach_the_service(self) -> None:
        """The HTTP limits, the access log and the backlog reach the site and ports."""
        path = os.path.join(tempfile.mkdtemp(), "access.log")
        options = self.parse("--headers-timeout", "2.5", "--max-header-size", "4096", "--max-request-line",
                             "1024", "--access-log", path, "--max-http-buffer-size", "5000",
                             "--listen", "tcp:0:interface=127.0.0.1")
        service = makeService(options).socketio
        site = service.site
        self.assertIsInstance(site, SocketIOSite)
        self.assertEqual((site.limits.headers_timeout, site.limits.max_header_size, site.limits.max_request_line),
                         (2.5, 4096, 1024))
        self.assertEqual(site.access_log, path)
        self.assertEqual(site.body_limit_for(b"/socket.io/?EIO=4")[0], 5000)
        self.assertEqual(service.listen, ["tcp:0:interface=127.0.0.1:backlog=511"])

    def test_defaults(self) -> None:
        """By default: log level info, no access log, a 30 s head deadline, 16 KiB
        of headers, 8 KiB request line."""
        options = self.parse("--listen", "tcp:0:interface=127.0.0.1")
        self.assertEqual(options["log-level"], "info")
        site = makeService(options).socketio.site
        self.assertIsNone(site.access_log)
        self.assertEqual((site.limits.headers_timeout, site.limits.max_header_size, site.limits.max_request_line),
                         (30.0, 16384, 8192))


class UsageErrorTests(unittest.TestCase):
    def run_twistd_options(self, *argv: str) -> BaseException:
        config = ServerOptions()
        with self.assertRaises(SystemExit) as caught:
            config.parseOptions(["txsocketio", *argv])
        return caught.exception

    def test_under_twistd_one_line_and_a_pointer(self) -> None:
        """Under twistd a usage error is one line and "see: twistd txsocketio
        --help", instead of twistd's whole help text."""
        e = self.run_twistd_options("--listen", "8080")
        self.assertEqual(str(e).splitlines(), [
            "twistd txsocketio: --listen takes an endpoint: write tcp:8080 "
            "(or tcp:8080:interface=127.0.0.1 for this machine only)",
            "see: twistd txsocketio --help",
        ])

    def test_help_is_still_the_whole_help(self) -> None:
        """--help prints the full option list and exits 0."""
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        e = self.run_twistd_options("--help")
        self.assertIn(e.code, (0, None))
        self.assertIn("--access-log", out.getvalue())
        self.assertIn("--log-level", out.getvalue())

    def test_standalone_options_raise_usage_error(self) -> None:
        """Used on its own (tests, other tools), Options raises UsageError as usual."""
        self.assertRaises(usage.UsageError, Options().parseOptions, ["--listen", "8080"])


class LoggingTests(_KeepDebugLogging, unittest.TestCase):
    def test_level_filter_drops_lower_levels(self) -> None:
        """level_filter passes events at or above the level only."""
        seen: list[dict[str, Any]] = []
        observer = level_filter(seen.append, "warn")
        for level in (LogLevel.debug, LogLevel.info, LogLevel.warn, LogLevel.error):
            observer({"log_level": level, "log_namespace": "txsocketio.x", "log_format": "x"})
        self.assertEqual([e["log_level"] for e in seen], [LogLevel.warn, LogLevel.error])

    def test_twistd_service_filters_twistd_log(self) -> None:
        """Under twistd, the service gives the application a filtering log
        observer in front of the one twistd would have made (here: --logfile)."""
        logfile = os.path.join(tempfile.mkdtemp(), "t.log")
        config = ServerOptions()
        config.parseOptions(["--logfile", logfile, "txsocketio", "--listen", "tcp:0:interface=127.0.0.1"])
        application = Application("txsocketio")
        makeService(config.subOptions).setServiceParent(application)
        observer = application.getComponent(ILogObserver)
        self.assertIsNotNone(observer)
        observer({"log_level": LogLevel.debug, "log_namespace": "t", "log_format": "hidden debug",
                  "log_time": 0})
        observer({"log_level": LogLevel.info, "log_namespace": "t", "log_format": "shown info", "log_time": 0})
        with open(logfile) as f:
            text = f.read()
        self.assertIn("shown info", text)
        self.assertNotIn("hidden debug", text)

    def test_debug_level_lets_debug_through(self) -> None:
        """--log-level debug passes debug events."""
        logfile = os.path.join(tempfile.mkdtemp(), "t.log")
        config = ServerOptions()
        config.parseOptions(["--logfile", logfile, "txsocketio", "--log-level", "debug",
                             "--listen", "tcp:0:interface=127.0.0.1"])
        application = Application("txsocketio")
        makeService(config.subOptions).setServiceParent(application)
        application.getComponent(ILogObserver)({"log_level": LogLevel.debug, "log_namespace": "t",
                                                "log_format": "now shown", "log_time": 0})
        with open(logfile) as f:
            self.assertIn("now shown", f.read())
        self.assertTrue(Logger.debug_enabled)

    def test_debug_events_not_made_below_debug(self) -> None:
        """Below --log-level debug, txsocketio's debug events are not even made
        (set_debug_logging); at debug they are."""
        config = ServerOptions()
        config.parseOptions(["txsocketio", "--listen", "tcp:0:interface=127.0.0.1"])
        makeService(config.subOptions)
        self.assertFalse(Logger.debug_enabled)
        seen: list[dict] = []
        log = Logger(observer=seen.append)
        log.debug("dropped")
        log.info("kept")
        self.assertEqual([e["log_format"] for e in seen], ["kept"])

    def test_not_under_twist(self) -> None:
        """Under `twist` (python -m twisted), which filters with its own
        --log-level, nothing is installed (and no twistd.log is created)."""
        from twisted.application.twist._options import TwistOptions

        cwd = os.getcwd()
        os.chdir(tempfile.mkdtemp())
        self.addCleanup(os.chdir, cwd)
        config = TwistOptions()
        config.parseOptions(["txsocketio", "--listen", "tcp:0:interface=127.0.0.1"])
        application = Application("txsocketio")
        makeService(config.subOptions).setServiceParent(application)
        self.assertIsNone(application.getComponent(ILogObserver, None))
        self.assertEqual(os.listdir("."), [])

    def test_library_installs_nothing(self) -> None:
        """Without twistd (no parent options) nothing is installed anywhere: the
        service only logs through Logger."""
        options = Options()
        options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1"])
        application = Application("x")
        makeService(options).setServiceParent(application)
        self.assertIsNone(application.getComponent(ILogObserver, None))




class FreezeTests(unittest.TestCase):
    def test_startup_objects_frozen_when_started(self) -> None:
        """Once started, the objects made before are out of the collector's
        passes (gc.freeze); nothing is frozen before that."""
        self.addCleanup(gc.unfreeze)
        gc.unfreeze()
        service = TwistdService(Service())
        self.assertEqual(gc.get_freeze_count(), 0)
        service.startService()
        self.addCleanup(service.stopService)
        self.assertGreater(gc.get_freeze_count(), 0)


class ObservabilityOptionsTests(_KeepDebugLogging, unittest.TestCase):
    """--metrics, --admin-ui and friends, --admin-serve-ui, --log-format."""

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1", *argv])
        self.addCleanup(options["sio"].shutdown)
        return options

    def child(self, service: Any, name: bytes) -> Any:
        return service.socketio.site.resource.children.get(name)

    def test_admin_ui_needs_an_explicit_auth(self) -> None:
        """--admin-ui alone refuses to start, with a one-line error under twistd."""
        e = self.assertRaises(usage.UsageError, Options().parseOptions, ["--admin-ui"])
        self.assertIn("--admin-ui needs --admin-auth USER:BCRYPT_HASH", str(e))
        with self.assertRaises(SystemExit) as caught:
            ServerOptions().parseOptions(["txsocketio", "--admin-ui"])
        self.assertEqual(len(str(caught.exception).splitlines()), 2)
        self.assertIn("--admin-auth none", str(caught.exception))

    def test_admin_option_errors(self) -> None:
        """Admin options without --admin-ui, a password that is not a bcrypt
        hash, an unknown mode: usage errors saying what to write."""
        for argv, words in [
            (["--admin-auth", "none"], "--admin-auth needs --admin-ui"),
            (["--admin-read-only"], "--admin-read-only needs --admin-ui"),
            (["--admin-ui", "--admin-auth", "admin:secret"], "bcrypt hash"),
            (["--admin-ui", "--admin-auth", "nocolon"], "USER:BCRYPT_HASH or none"),
            (["--admin-ui", "--admin-auth", "none", "--admin-mode", "loud"], "development or production"),
            (["--metrics", "metrics"], "absolute URL path"),
            (["--metrics", "/socket.io/"], "already the path of --path"),
            (["--metrics", "/m", "--admin-serve-ui", "/m/"], "already the path of --metrics"),
            (["--log-format", "xml"], "text or json"),
        ]:
            e = self.assertRaises(usage.UsageError, Options().parseOptions, argv)
            self.assertIn(words, str(e), argv)

    def test_admin_ui_instruments_the_app(self) -> None:
        """--admin-ui with a hash, read-only, production: the app's server has
        the admin namespace and an observer reporting to it."""
        from tests.test_admin_auth import NODE_HASH

        options = self.parse("--admin-ui", "--admin-auth", f"admin:{NODE_HASH}", "--admin-read-only",
                             "--admin-mode", "production")
        makeService(options)
        sio = options["sio"]
        self.assertIn("/admin", sio.namespaces)
        [admin] = sio.observer.observers
        self.assertEqual((admin.mode, admin.read_only, admin.authenticator.credentials.username),
                         ("production", True, "admin"))

    def test_metrics_and_admin_page_mounted(self) -> None:
        """--metrics /metrics mounts the scrape endpoint, --admin-serve-ui the
        UI's page; the metrics count this app's server."""
        from twisted.web.test.requesthelper import DummyRequest

        from txsocketio.admin.ui import AdminUIResource
        from txsocketio.metrics import MetricsResource

        options = self.parse("--metrics", "/metrics", "--admin-serve-ui", "/tools/admin/")
        service = makeService(options)
        metrics = self.child(service, b"metrics")
        self.assertIsInstance(metrics, MetricsResource)
        self.assertIsInstance(self.child(service, b"tools").children[b"admin"], AdminUIResource)
        body = metrics.render_GET(DummyRequest([b""]))
        self.assertIn(b"socketio_connects_total", body)
        from txsocketio.metrics import PrometheusMetrics

        [observer] = options["sio"].observer.observers
        self.assertIsInstance(observer, PrometheusMetrics)

    def test_nothing_by_default(self) -> None:
        """Without these options the server has no observer and no extra child."""
        options = self.parse()
        service = makeService(options)
        self.assertIsNone(self.child(service, b"metrics"))
        from txsocketio.observer import NULL_OBSERVER

        self.assertIs(options["sio"].observer, NULL_OBSERVER)

    def test_log_format_json(self) -> None:
        """--log-format json under twistd: JSON lines (with log_text) in the
        log file, behind the level filter; with --syslog it refuses."""
        import json

        logfile = os.path.join(tempfile.mkdtemp(), "t.log")
        config = ServerOptions()
        config.parseOptions(["--logfile", logfile, "txsocketio", "--log-format", "json",
                             "--listen", "tcp:0:interface=127.0.0.1"])
        self.addCleanup(config.subOptions["sio"].shutdown)
        application = Application("txsocketio")
        makeService(config.subOptions).setServiceParent(application)
        observer = application.getComponent(ILogObserver)
        observer({"log_level": LogLevel.debug, "log_namespace": "t", "log_format": "hidden", "log_time": 0})
        observer({"log_level": LogLevel.info, "log_namespace": "t", "log_format": "hello {sid}", "sid": "abc",
                  "log_time": 0})
        with open(logfile) as f:
            lines = [json.loads(line) for line in f.read().splitlines()]
        self.assertEqual([(e["log_text"], e["sid"]) for e in lines], [("hello abc", "abc")])
        with self.assertRaises(SystemExit) as caught:
            ServerOptions().parseOptions(["--syslog", "txsocketio", "--log-format", "json"])
        self.assertIn("not to syslog", str(caught.exception))
