# -*- test-case-name: tests.test_logs -*-
"""JSON logs (``--log-format json``): one JSON object per line and event.

The writer is ``twisted.logger``'s own :func:`~twisted.logger.jsonFileLogObserver`
(its events read back with :func:`~twisted.logger.eventsFromJSONLogFile`),
one object per line (``recordSeparator=""``: newline-delimited JSON, what log
shippers read), plus one field it lacks: ``log_text``, the formatted message
(with the traceback of a failure), so that a pipeline need not re-implement
Twisted's ``{field}`` formatting.

Log lines about a connection carry these event fields, where known, so that
pipelines can index them (:func:`log_fields` builds them)::

    sid        the Engine.IO session id of the connection
    namespace  the Socket.IO namespace ("/chat") of a line about a namespace socket
    remote     the peer's address: "127.0.0.1:53122", "[::1]:53122", "unix:/path"

:class:`Logger` is the ``twisted.logger.Logger`` txsocketio's modules log
through: its ``debug`` is a no-op while debug logging is off
(:func:`set_debug_logging`; ``twistd txsocketio`` turns it off unless
``--log-level debug``), as txaio does for Autobahn's.  A debug event otherwise
costs its whole dispatch only to be dropped by the level filter, several times
per connection.

The level filter in front of it (``--log-level``) is ``tap.py``'s
``level_filter``; :func:`json_observer_for_twistd` replaces the observer twistd
would have built (same file choice: ``--logfile``, ``-n``), so wiring
``--log-format json`` is one line there.
"""

from __future__ import annotations

import sys
from typing import IO, Any, Final, Mapping

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.logger import ILogObserver, LogEvent, LogLevel, eventAsText, jsonFileLogObserver
from twisted.logger import Logger as _TwistedLogger
from zope.interface import implementer

__all__ = [
    "Logger", "set_debug_logging", "SID", "NAMESPACE", "REMOTE", "TEXT", "LOG_FORMATS", "log_fields", "remote_address", "json_log_observer",
    "twistd_log_path", "twistd_log_file", "json_observer_for_twistd",
]

#: Event field: the Engine.IO session id.
SID: Final = "sid"
#: Event field: the Socket.IO namespace.
NAMESPACE: Final = "namespace"
#: Event field: the peer's address (see :func:`remote_address`).
REMOTE: Final = "remote"
#: Event field added by the JSON observer: the formatted message.
TEXT: Final = "log_text"
#: The values of ``--log-format``.
LOG_FORMATS: Final = ("text", "json")


class Logger(_TwistedLogger):
    """Twisted's ``Logger``, whose debug events are not made while debug
    logging is off (:func:`set_debug_logging`)."""

    #: whether debug events are emitted (for every instance)
    debug_enabled = True

    def debug(self, format: str | None = None, **kwargs: object) -> None:
        if Logger.debug_enabled:
            self.emit(LogLevel.debug, format, **kwargs)


def set_debug_logging(enabled: bool) -> None:
    """Emit txsocketio's debug events (on by default; an entry point that
    filters them out anyway turns them off, which saves their cost)."""
    Logger.debug_enabled = enabled


def log_fields(*, sid: str | None = None, namespace: str | None = None, remote: str | None = None) -> dict[str, str]:
    """The connection fields of a log call, leaving out the unknown ones::

        log.info("refused {sid}", **log_fields(sid=sid, remote=remote))
    """
    fields = {}
    if sid is not None:
        fields[SID] = sid
    if namespace is not None:
        fields[NAMESPACE] = namespace
    if remote is not None:
        fields[REMOTE] = remote
    return fields


def remote_address(address: Any) -> str | None:
    """A Twisted address (``request.getClientAddress()``,
    ``transport.getPeer()``) as the ``remote`` field: ``host:port`` for
    IPv4, ``[host]:port`` for IPv6, ``unix:path`` for a UNIX socket; None
    when there is none."""
    if address is None:
        return None
    if isinstance(address, IPv6Address):
        return f"[{address.host}]:{address.port}"
    if isinstance(address, IPv4Address):
        return f"{address.host}:{address.port}"
    if isinstance(address, UNIXAddress):
        name = address.name
        path = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        return f"unix:{path or ''}"
    return str(address)


@implementer(ILogObserver)
class _WithText:
    """Passes on a copy of each event with :data:`TEXT` added (the original
    event, seen by other observers, is left alone)."""

    def __init__(self, observer: ILogObserver) -> None:
        self.observer = observer

    def __call__(self, event: LogEvent) -> None:
        with_text = dict(event)
        with_text[TEXT] = eventAsText(event, includeTraceback=True, includeTimestamp=False,
                                      includeSystem=False)
        self.observer(with_text)


def json_log_observer(out: IO[Any]) -> ILogObserver:
    """An observer writing each event as one line of JSON to ``out`` (a text
    file; twistd's rotating ``LogFile`` is one)."""
    return _WithText(jsonFileLogObserver(out, recordSeparator=""))


def twistd_log_path(options: Mapping[str, Any]) -> str | None:
    """Where twistd would log, given its options: None for stdout (``--logfile
    -``, or ``-n`` without ``--logfile``), else the ``--logfile`` path
    (default ``twistd.log``).  ValueError for ``--syslog`` (JSON lines go to
    a file or stdout) and for a daemon asked to log to stdout."""
    if options.get("syslog"):
        raise ValueError("--log-format json writes to a file or stdout, not to syslog: drop --syslog")
    name = options.get("logfile") or ""
    nodaemon = bool(options.get("nodaemon"))
    if name == "-":
        if not nodaemon:
            raise ValueError("a daemon cannot log to stdout: use --logfile PATH or -n")
        return None
    if nodaemon and not name:
        return None
    return name or "twistd.log"


def twistd_log_file(options: Mapping[str, Any]) -> IO[Any]:
    """The file of :func:`twistd_log_path`: stdout, or a rotating ``LogFile``
    (1 MB per file, as twistd's)."""
    from twisted.python.logfile import LogFile

    path = twistd_log_path(options)
    return sys.stdout if path is None else LogFile.fromFullPath(path)


def json_observer_for_twistd(options: Mapping[str, Any]) -> ILogObserver:
    """``--log-format json``: the JSON observer on the file twistd would use
    (see :func:`twistd_log_file`)."""
    return json_log_observer(twistd_log_file(options))
