# -*- test-case-name: tests.test_tap -*-
"""``twistd txsocketio``: options and service construction.

With no ``--app`` it serves the chat demo, so ``twistd -n txsocketio`` alone
gives a working chat on http://127.0.0.1:8080/.

This is the entry point, so it is the one place that configures logging:
``--log-level`` filters what reaches twistd's log (see :class:`TwistdService`)
and ``--access-log`` turns the access log on.
"""

from __future__ import annotations

import gc

import importlib
import os
import sys
from typing import Any, cast

from twisted.application.service import MultiService
from twisted.internet.endpoints import serverFromString
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LegacyLogObserverWrapper,
    LogLevel,
    LogLevelFilterPredicate,
)
from twisted.python import usage

from txsocketio.engineio.server import TRANSPORTS
from txsocketio.logs import LOG_FORMATS, json_observer_for_twistd, set_debug_logging, twistd_log_path

__all__ = ["Options", "makeService", "load_app", "TwistdService", "LOG_LEVELS"]

DEFAULT_LISTEN = "tcp:8080:interface=127.0.0.1"
DEMO_APP = "txsocketio.demo.chat:make_server"
LOG_LEVELS = ("debug", "info", "warn", "error", "critical")


def _parser_name(value: str) -> str:
    if value not in ("json", "msgpack"):
        raise usage.UsageError(f"--parser takes json or msgpack, not {value!r}")
    return value


def _seconds(name: str) -> Any:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise usage.UsageError(f"--{name} takes a number of seconds, not {value!r}")
        if not number > 0:
            raise usage.UsageError(f"--{name} must be positive, not {value!r}")
        return number

    return parse


def _levels(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise usage.UsageError(f"--max-json-depth takes a whole number of levels, not {value!r}")
    if number < 1:
        raise usage.UsageError("--max-json-depth must be at least 1")
    return number


def _bytes(name: str) -> Any:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise usage.UsageError(f"--{name} takes a whole number of bytes, not {value!r}")
        if number <= 0:
            raise usage.UsageError(f"--{name} must be positive")
        return number

    return parse


_positive_int = _bytes("max-http-buffer-size")


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "Run a Socket.IO server. --app names your SocketIOServer (MODULE:ATTR, the current "
        "directory is importable); without it the chat demo is served. Command-line values "
        "override the app's own settings. Times are in seconds."
    )
    optFlags = [
        ["allow-eio3", None, "Also serve Engine.IO v3 / Socket.IO v4 clients (socket.io-client 2.x)."],
        ["cleanup-empty-child-namespaces", None,
         "Remove a dynamic namespace's child when its last client leaves (Node's cleanupEmptyChildNamespaces)."],
        ["recovery-skip-middlewares", None, "With --recovery-window: a recovered client skips the "
         "connection middlewares (Node's skipMiddlewares)."],
        ["admin-ui", None, "Serve the Socket.IO Admin UI's namespace (/admin); needs --admin-auth."],
        ["admin-read-only", None, "The Admin UI can watch but not emit, join, leave or disconnect."],
    ]
    optParameters = [
        ["app", "a", None, "MODULE:ATTR of a SocketIOServer, or of a callable returning one."],
        ["path", None, "/socket.io/", "URL path of the Socket.IO endpoint."],
        ["ping-interval", None, None, "Seconds between server pings (default 25).", _seconds("ping-interval")],
        ["ping-timeout", None, None, "Seconds to wait for a pong (default 20).", _seconds("ping-timeout")],
        ["connect-timeout", None, None, "Seconds a client has to join a namespace (default 45).",
         _seconds("connect-timeout")],
        ["max-http-buffer-size", None, None, "Largest message or POST body in bytes (default 1000000).",
         _positive_int],
        ["max-json-depth", None, None, "Deepest nesting of a packet's payload (default 128); deeper is refused.",
         _levels],
        ["transports", None, None, "Comma-separated transports: polling,websocket (default both)."],
        ["static", None, None, "Directory of files served at / (at /static/ with --wsgi)."],
        ["wsgi", None, None, "MODULE:ATTR of a WSGI application served at / beside the Socket.IO path."],
        ["shutdown-timeout", None, 5.0, "Seconds a graceful shutdown may take.", _seconds("shutdown-timeout")],
        ["log-level", None, "info", f"Least level logged: {', '.join(LOG_LEVELS)}."],
        ["access-log", None, None, "Write an access log in the combined format to this file "
         "(- for the Twisted log). Off by default."],
        ["headers-timeout", None, 30.0, "Seconds a client has to send a request's head (then 408).",
         _seconds("headers-timeout")],
        ["max-header-size", None, 16384, "Largest request header fields in bytes (then 431).",
         _bytes("max-header-size")],
        ["max-request-line", None, 8192, "Longest request line (method, URL, version) in bytes (then 414).",
         _bytes("max-request-line")],
        ["redis", None, None,
         "Scale out over Redis: redis://[[user]:password@]host[:port][/db], rediss://... (TLS) or "
         "unix:///path/to/redis.sock?db=N&password=..., or through Sentinel: "
         "redis+sentinel://host:26379[,host2:26379]/MASTER_NAME[/db]. Every server on the same Redis and key (txsocketio "
         "or Node socket.io with @socket.io/redis-adapter) is one cluster; @socket.io/redis-emitter "
         "and txsocketio.emitter can publish into it. Replaces the app's adapter."],
        ["parser", None, None, "Socket.IO wire format: json (the default) or msgpack "
         "(clients built with socket.io-msgpack-parser).", _parser_name],
        ["redis-key", None, None, "Channel prefix of the cluster, Node's 'key' option (default socket.io)."],
        ["redis-timeout", None, None, "Seconds to wait for the other servers and for Redis (default 5).",
         _seconds("redis-timeout")],
        ["redis-streams", None, None,
         "Scale out over Redis Streams, wire-compatible with Node's @socket.io/redis-streams-adapter 0.3 "
         "(a URL as for --redis; Redis >= 6.2): broadcasts survive Redis outages, and with --recovery-window "
         "clients recover on any server. Replaces the app's adapter; not with --redis."],
        ["redis-stream-name", None, None, "With --redis-streams: the stream's name (default socket.io)."],
        ["redis-max-len", None, None, "With --redis-streams: entries the stream keeps, XADD MAXLEN ~ "
         "(default 10000).", _positive_int],
        ["recovery-window", None, None, "Turn connection state recovery on: seconds a disconnected client "
         "may come back and get its id, rooms, data and missed packets (Node's maxDisconnectionDuration).",
         _seconds("recovery-window")],
        ["metrics", None, None, "URL path of a Prometheus metrics endpoint, e.g. /metrics "
         "(pip install txsocketio[metrics]). Off by default."],
        ["admin-auth", None, None, "With --admin-ui: USER:BCRYPT_HASH (make one with "
         "python -m txsocketio.admin.auth), or none for no authentication."],
        ["admin-mode", None, None, "With --admin-ui: development (every socket, room and event; the "
         "default) or production (server statistics only)."],
        ["admin-serve-ui", None, None, "URL path where the Admin UI's web page is served, e.g. /admin-ui/."],
        ["log-format", None, "text", "text, or json: one JSON object per line and event (under twistd)."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []
        self["cors_origins"] = []

    def opt_listen(self, description: str) -> None:
        """Where to listen, as a strports description (repeatable; default
        tcp:8080:interface=127.0.0.1; also ssl:..., unix:...)."""
        self["listen"].append(description)

    opt_l = opt_listen

    def opt_cors_origin(self, origin: str) -> None:
        """An origin allowed to connect from a browser (repeatable; * for any; default: same origin only)."""
        self["cors_origins"].append(origin)

    def parseOptions(self, options: list[str] | None = None) -> None:
        """Parse; under twistd a mistake is one line and a pointer to --help
        (twistd itself would print the whole help before it)."""
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            if self.parent is None:
                raise
            from twisted.application.app import ServerOptions

            command = "twistd txsocketio" if isinstance(self.parent, ServerOptions) else "twist txsocketio"
            raise SystemExit(f"{command}: {e}\nsee: {command} --help")

    def postOptions(self) -> None:
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]
        from twisted.internet import reactor

        for description in self["listen"]:
            if description.isdigit():
                raise usage.UsageError(f"--listen takes an endpoint: write tcp:{description} "
                                       f"(or tcp:{description}:interface=127.0.0.1 for this machine only)")
            try:
                serverFromString(reactor, description)
            except Exception as e:
                raise usage.UsageError(f"--listen {description!r} is not a valid endpoint: {e}")
        if self["transports"] is not None:
            names = tuple(t.strip() for t in self["transports"].split(",") if t.strip())
            bad = [t for t in names if t not in TRANSPORTS]
            if bad or not names:
                raise usage.UsageError(f"--transports takes a comma-separated list of {', '.join(TRANSPORTS)}")
            self["transports"] = names
        if not self["path"].startswith("/") or not self["path"].strip("/"):
            raise usage.UsageError("--path must be an absolute URL path other than /, e.g. /socket.io/")
        if self["static"] is not None and not os.path.isdir(self["static"]):
            raise usage.UsageError(f"--static {self['static']!r} is not a directory")
        if self["log-level"] not in LOG_LEVELS:
            raise usage.UsageError(f"--log-level takes one of {', '.join(LOG_LEVELS)}, not {self['log-level']!r}")
        if self["redis"] is not None:
            from txsocketio.redisaddress import RedisAddress

            try:
                RedisAddress.parse(self["redis"])
            except ValueError as e:
                raise usage.UsageError(f"--redis: {e}")
        elif self["redis-key"] is not None or self["redis-timeout"] is not None:
            raise usage.UsageError("--redis-key and --redis-timeout need --redis URL")
        self._check_streams()
        if self["recovery-skip-middlewares"] and self["recovery-window"] is None:
            raise usage.UsageError("--recovery-skip-middlewares needs --recovery-window SECONDS")
        if self["redis-key"] is not None and not self["redis-key"]:
            raise usage.UsageError("--redis-key must not be empty")
        self._check_observability()
        # Import the application now, so that a mistake is a one-line usage error.
        self["sio"] = load_app(self["app"] or DEMO_APP)
        self["wsgi_app"] = None
        if self["wsgi"] is not None:
            app = _import(self["wsgi"], "wsgi")
            if not callable(app):
                raise usage.UsageError(f"--wsgi: {self['wsgi']} is not a WSGI application (not callable)")
            self["wsgi_app"] = app


    def _check_streams(self) -> None:
        if self["redis-streams"] is None:
            if self["redis-stream-name"] is not None or self["redis-max-len"] is not None:
                raise usage.UsageError("--redis-stream-name and --redis-max-len need --redis-streams URL")
            return
        if self["redis"] is not None:
            raise usage.UsageError("--redis and --redis-streams are two adapters: choose one")
        from txsocketio.redisconn import RedisAddress

        try:
            RedisAddress.parse(self["redis-streams"])
        except ValueError as e:
            raise usage.UsageError(f"--redis-streams: {e}")
        if self["redis-stream-name"] is not None and not self["redis-stream-name"]:
            raise usage.UsageError("--redis-stream-name must not be empty")

    def _check_observability(self) -> None:
        """--metrics, --admin-*, --log-format."""
        paths = {"--path": self["path"]}
        for option in ("metrics", "admin-serve-ui"):
            where = self[option]
            if where is None:
                continue
            if not where.startswith("/") or not where.strip("/"):
                raise usage.UsageError(f"--{option} takes an absolute URL path other than /, e.g. /{option}")
            for other, taken in paths.items():
                if where.strip("/") == taken.strip("/"):
                    raise usage.UsageError(f"--{option} {where} is already the path of {other}")
            paths[f"--{option}"] = where
        if self["metrics"] is not None:
            _require("prometheus_client", "--metrics", "metrics")
        self["admin_credentials"] = None
        if self["admin-ui"]:
            if self["admin-auth"] is None:
                raise usage.UsageError("--admin-ui needs --admin-auth USER:BCRYPT_HASH (python -m "
                                       "txsocketio.admin.auth makes one) or --admin-auth none")
            from txsocketio.admin.auth import parse_admin_auth

            try:
                self["admin_credentials"] = parse_admin_auth(self["admin-auth"])
            except ValueError as e:
                raise usage.UsageError(f"--admin-auth: {e}")
            if self["admin_credentials"] is not None:
                _require("bcrypt", "--admin-auth USER:HASH", "admin")
            mode = self["admin-mode"] or "development"
            if mode not in ("development", "production"):
                raise usage.UsageError(f"--admin-mode takes development or production, not {mode!r}")
            self["admin-mode"] = mode
        else:
            given = [o for o in ("admin-auth", "admin-mode") if self[o] is not None]
            given += ["admin-read-only"] if self["admin-read-only"] else []
            if given:
                raise usage.UsageError(f"--{given[0]} needs --admin-ui")
        if self["log-format"] not in LOG_FORMATS:
            raise usage.UsageError(f"--log-format takes text or json, not {self['log-format']!r}")
        from twisted.application.app import ServerOptions

        if self["log-format"] == "json" and isinstance(self.parent, ServerOptions):
            try:
                twistd_log_path(self.parent)
            except ValueError as e:
                raise usage.UsageError(str(e))


def _require(module: str, option: str, extra: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError:
        raise usage.UsageError(f"{option} needs {module}: pip install 'txsocketio[{extra}]'")


def _import(spec: str, option: str) -> Any:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise usage.UsageError(f"--{option} takes MODULE:ATTR, not {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise usage.UsageError(f"--{option}: no module named {module_name!r} (looked in {os.getcwd()} and sys.path)")
        raise usage.UsageError(f"--{option}: importing {module_name!r} failed: {e}")
    except Exception as e:
        raise usage.UsageError(f"--{option}: importing {module_name!r} failed: {type(e).__name__}: {e}")
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise usage.UsageError(f"--{option}: module {module_name!r} has no attribute {attr!r}")
    return obj


def load_app(spec: str) -> Any:
    """The SocketIOServer that ``MODULE:ATTR`` names (calling it if it is a factory)."""
    from txsocketio.socketio.server import SocketIOServer

    obj = _import(spec, "app")
    if not isinstance(obj, SocketIOServer) and callable(obj):
        try:
            obj = obj()
        except Exception as e:
            raise usage.UsageError(f"--app: calling {spec} failed: {type(e).__name__}: {e}")
    if not isinstance(obj, SocketIOServer):
        raise usage.UsageError(f"--app: {spec} is a {type(obj).__name__}, not a SocketIOServer "
                               "(or a callable returning one)")
    return obj


class TwistdService(MultiService):
    """The service ``twistd txsocketio`` runs: the :class:`SocketIOService`
    (``self.socketio``) plus the logging set-up of the entry point.

    Given twistd's options (``twistd_options``), it gives twistd's application
    a log observer that drops events below ``log_level`` in front of the
    observer twistd would have made (file, stdout or syslog, per ``--logfile``,
    ``--nodaemon``, ``--syslog``).  twistd's own ``--logger`` takes precedence;
    under ``twist`` (``python -m twisted``) its own ``--log-level`` applies.
    """

    def __init__(self, socketio: Any, log_level: str = "info", twistd_options: Any = None,
                 log_format: str = "text") -> None:
        super().__init__()
        self.socketio = socketio
        self.log_level = log_level
        self.log_format = log_format
        self.twistd_options = twistd_options
        socketio.setServiceParent(self)

    def startService(self) -> None:
        super().startService()
        # What exists now (modules, the application) lives as long as the
        # process.  Frozen, it is left out of the collector's full passes,
        # which a storm of connections sets off: they walk only what the
        # connections made (half of the collector's time in a connect storm).
        gc.freeze()

    def setServiceParent(self, parent: Any) -> None:
        super().setServiceParent(parent)
        from twisted.application.app import ServerOptions

        # Only under twistd: `twist` (python -m twisted) has its own --log-level.
        if not isinstance(self.twistd_options, ServerOptions) or not hasattr(parent, "setComponent"):
            return
        if parent.getComponent(ILogObserver, None) is not None:
            return
        if self.log_format == "json":
            observer = json_observer_for_twistd(self.twistd_options)
        else:
            observer = _twistd_observer(self.twistd_options)
        parent.setComponent(ILogObserver, level_filter(observer, self.log_level))


def level_filter(observer: ILogObserver, level: str) -> ILogObserver:
    """``observer`` behind a filter that drops events below ``level``."""
    return FilteringLogObserver(observer, [LogLevelFilterPredicate(LogLevel.levelWithName(level))])


def _twistd_observer(config: Any) -> ILogObserver:
    """The observer twistd would make from its options (file, stdout, syslog)."""
    from twisted.scripts.twistd import _SomeApplicationRunner

    # Private twistd API, on purpose: it is the one place that knows how twistd
    # turns --logfile/--syslog/--nodaemon into an observer; copying that logic
    # would drift from twistd's.  Only the level filter is wrapped around it.
    observer = _SomeApplicationRunner.loggerFactory(config)._getLogObserver()
    if not ILogObserver.providedBy(observer):
        observer = LegacyLogObserverWrapper(observer)
    return observer


def _set_autobahn_level(level: str) -> None:
    """Autobahn logs through txaio, which skips calls below its level."""
    import txaio

    txaio.use_twisted()
    txaio.set_global_log_level(level)  # type: ignore[attr-defined]  # bound by use_twisted(), not declared


def _recovery_overrides(options: Options) -> dict[str, Any]:
    """The streams adapter (--redis-streams) and connection state recovery (--recovery-window)."""
    overrides: dict[str, Any] = {}
    if options["redis-streams"] is not None:
        from txsocketio.adapters.streams import redis_streams_adapter

        streams: dict[str, Any] = {}
        if options["redis-stream-name"] is not None:
            streams["stream_name"] = options["redis-stream-name"]
        if options["redis-max-len"] is not None:
            streams["max_len"] = options["redis-max-len"]
        overrides["adapter"] = redis_streams_adapter(options["redis-streams"], **streams)
    if options["recovery-window"] is not None:
        overrides["connection_state_recovery"] = {"max_disconnection_duration": options["recovery-window"],
                                                  "skip_middlewares": bool(options["recovery-skip-middlewares"])}
    return overrides


def makeService(options: Options) -> Any:
    from twisted.internet import reactor
    from twisted.internet.interfaces import IReactorThreads
    from twisted.web.wsgi import WSGIResource

    from txsocketio.http import HTTPLimits
    from txsocketio.service import SocketIOService

    demo = options["app"] is None
    sio = options["sio"]
    overrides: dict[str, Any] = {}
    for option, name in (("ping-interval", "ping_interval"), ("ping-timeout", "ping_timeout"),
                         ("connect-timeout", "connect_timeout"),
                         ("max-http-buffer-size", "max_http_buffer_size"), ("transports", "transports"),
                         ("parser", "parser"), ("max-json-depth", "max_json_depth")):
        if options[option] is not None:
            overrides[name] = options[option]
    if options["allow-eio3"]:
        overrides["allow_eio3"] = True
    if options["cleanup-empty-child-namespaces"]:
        overrides["cleanup_empty_child_namespaces"] = True
    if options["cors_origins"]:
        origins = options["cors_origins"]
        overrides["cors_allowed_origins"] = "*" if "*" in origins else list(origins)
    if options["redis"] is not None:
        from txsocketio.adapters.redis import redis_adapter

        overrides["adapter"] = redis_adapter(options["redis"], key=options["redis-key"] or "socket.io",
                                             request_timeout=options["redis-timeout"] or 5.0)
    overrides.update(_recovery_overrides(options))
    if overrides:
        sio.configure(**overrides)
    wsgi = None
    if options["wsgi_app"] is not None:
        wsgi = WSGIResource(reactor, cast(IReactorThreads, reactor).getThreadPool(), options["wsgi_app"])
    static = options["static"]
    if static is None and demo and wsgi is None:
        static = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo", "static")
    limits = HTTPLimits(headers_timeout=options["headers-timeout"], max_header_size=options["max-header-size"],
                        max_request_line=options["max-request-line"])
    resources: dict[str, Any] = {}
    if options["metrics"] is not None:
        resources[options["metrics"]] = sio.metrics_resource()
    if options["admin-ui"]:
        sio.instrument(options["admin_credentials"] or False, mode=options["admin-mode"],
                       read_only=options["admin-read-only"])
    if options["admin-serve-ui"] is not None:
        from txsocketio.admin.ui import AdminUIResource

        resources[options["admin-serve-ui"]] = AdminUIResource()
    socketio = SocketIOService(sio, options["listen"], path=options["path"], static=static, wsgi=wsgi,
                               shutdown_timeout=options["shutdown-timeout"], limits=limits,
                               access_log=options["access-log"], reactor=reactor, resources=resources)
    _set_autobahn_level(options["log-level"])
    set_debug_logging(options["log-level"] == "debug")
    return TwistdService(socketio, options["log-level"], options.parent, options["log-format"])
