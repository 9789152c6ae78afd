# -*- test-case-name: tests.test_admin_protocol -*-
"""The admin namespace protocol of ``@socket.io/admin-ui`` 0.5, pure.

This module builds what the server sends to the Admin UI (event names and
payloads, exactly as Node's ``instrument()`` of ``@socket.io/admin-ui`` 0.5.1
sends them) and reads what the UI sends back (the login in the CONNECT
``auth`` and the ``emit``/``join``/``leave``/``_disconnect`` commands).  It
does no I/O and reads no clock: times are passed in as POSIX seconds, events
come out as :class:`AdminEvent` values for the glue to emit on the admin
namespace.  ``docs/development/admin-protocol.md`` is the spec, with the
sources it was read from.

Theory of operation (what the glue does with it):

* On a CONNECT to the admin namespace: :meth:`AdminLogin.parse` the auth,
  :func:`login_step` decides (the bcrypt check, if needed, is
  :mod:`txsocketio.admin.auth`'s job); a refusal is a CONNECT_ERROR with
  :data:`INVALID_CREDENTIALS`.  Once connected: :func:`session_event` (when a
  session was minted), :func:`config_event`, then, in development mode,
  :func:`all_sockets_event`.
* Every :data:`SERVER_STATS_INTERVAL` seconds (and once at start):
  :func:`server_stats_event`, draining an :class:`AggregatedEvents`.
* In development mode, as things happen on any namespace:
  :func:`socket_connected_event`, :func:`socket_transport_event`,
  :func:`socket_disconnected_event`, :func:`room_joined_event`,
  :func:`room_left_event`, and, for namespaces other than the admin one,
  :func:`event_received_event` / :func:`event_sent_event`.
"""

from __future__ import annotations

import enum
import math
import time as _time
from typing import Any, Final, Mapping, Protocol, Sequence, Union

import attrs

from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import RESERVED_EVENTS

__all__ = [
    "NAMESPACE", "SERVER_STATS_INTERVAL", "INVALID_CREDENTIALS", "MODES", "Feature", "supported_features",
    "AdminEvent", "SESSION", "CONFIG", "SERVER_STATS", "ALL_SOCKETS", "SOCKET_CONNECTED", "SOCKET_UPDATED",
    "SOCKET_DISCONNECTED", "ROOM_JOINED", "ROOM_LEFT", "EVENT_RECEIVED", "EVENT_SENT",
    "EMIT", "JOIN", "LEAVE", "DISCONNECT", "COMMANDS",
    "HandshakeView", "SocketView", "ADMIN_DATA_KEY", "admin_data", "NODE_ADDRESS_HEADERS", "REDACTED_HEADERS",
    "serialize_socket", "serialize_data", "jsonable", "js_date", "default_server_id",
    "session_event", "config_event", "all_sockets_event", "server_stats_event", "socket_connected_event",
    "socket_transport_event", "socket_data_event", "socket_disconnected_event", "room_joined_event",
    "room_left_event", "event_received_event", "event_sent_event",
    "AggregatedEvents", "RAW_CONNECTION", "RAW_DISCONNECTION", "PACKETS_IN", "PACKETS_OUT", "BYTES_IN",
    "BYTES_OUT",
    "InvalidCommand", "EmitCommand", "JoinCommand", "LeaveCommand", "DisconnectCommand", "Command",
    "parse_command",
    "AdminLogin", "LoginStep", "login_step",
]

#: The default admin namespace (Node's ``namespaceName``).
NAMESPACE: Final = "/admin"
#: Seconds between two ``server_stats`` events (Node: ``setInterval(emitStats, 2000)``).
SERVER_STATS_INTERVAL: Final = 2.0
#: The CONNECT_ERROR message of a refused login.  The UI compares it verbatim
#: to reopen its login form: it must be exactly this.
INVALID_CREDENTIALS: Final = "invalid credentials"
#: ``development`` reports every socket, room and event; ``production`` only
#: the aggregated ``server_stats`` (Node's ``mode``).
MODES: Final = ("development", "production")

# -- server -> UI events -------------------------------------------------------------
SESSION: Final = "session"
CONFIG: Final = "config"
SERVER_STATS: Final = "server_stats"
ALL_SOCKETS: Final = "all_sockets"
SOCKET_CONNECTED: Final = "socket_connected"
SOCKET_UPDATED: Final = "socket_updated"
SOCKET_DISCONNECTED: Final = "socket_disconnected"
ROOM_JOINED: Final = "room_joined"
ROOM_LEFT: Final = "room_left"
EVENT_RECEIVED: Final = "event_received"
EVENT_SENT: Final = "event_sent"

# -- UI -> server commands -----------------------------------------------------------
EMIT: Final = "emit"
JOIN: Final = "join"
LEAVE: Final = "leave"
DISCONNECT: Final = "_disconnect"
COMMANDS: Final = frozenset({EMIT, JOIN, LEAVE, DISCONNECT})


class Feature(str, enum.Enum):
    """What the server tells the UI it supports (``config.supportedFeatures``)."""

    #: Emit an event to a namespace, optionally to a room (``emit``).
    EMIT = "EMIT"
    #: Make one socket join / leave a room, disconnect it.
    JOIN = "JOIN"
    LEAVE = "LEAVE"
    DISCONNECT = "DISCONNECT"
    #: The same for every socket of a namespace or room (Socket.IO v4's socketsJoin…).
    MJOIN = "MJOIN"
    MLEAVE = "MLEAVE"
    MDISCONNECT = "MDISCONNECT"
    #: ``server_stats`` carries ``aggregatedEvents`` (the dashboard's charts).
    AGGREGATED_EVENTS = "AGGREGATED_EVENTS"
    #: Sockets, rooms and events are reported one by one (development mode).
    ALL_EVENTS = "ALL_EVENTS"


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`; ValueError saying what to use otherwise."""
    if mode not in MODES:
        raise ValueError(f"the admin mode is 'development' or 'production', not {mode!r}")
    return mode


def supported_features(*, read_only: bool, mode: str) -> list[str]:
    """``config.supportedFeatures``, in Node's order: the seven operations
    unless ``read_only``, then ``AGGREGATED_EVENTS``, then ``ALL_EVENTS`` in
    development mode."""
    check_mode(mode)
    features: list[Feature] = [] if read_only else [
        Feature.EMIT, Feature.JOIN, Feature.LEAVE, Feature.DISCONNECT,
        Feature.MJOIN, Feature.MLEAVE, Feature.MDISCONNECT]
    features.append(Feature.AGGREGATED_EVENTS)
    if mode == "development":
        features.append(Feature.ALL_EVENTS)
    return [f.value for f in features]


@attrs.frozen
class AdminEvent:
    """One event for the admin namespace: ``emit(name, *args)``."""

    name: str
    args: tuple[Any, ...]


# -- values ---------------------------------------------------------------------------


def js_date(now: float) -> str:
    """A POSIX time as a JavaScript ``Date`` serialises to JSON:
    ``2026-11-26T12:47:09.123Z`` (UTC, milliseconds)."""
    millis = int(math.floor(now * 1000))
    seconds, ms = divmod(millis, 1000)
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(seconds)) + f".{ms:03d}Z"


def default_server_id(hostname: str, pid: int, *, clustered: bool) -> str:
    """Node's default ``serverId``: the host name, or ``hostname#pid`` when
    several processes of one host serve the cluster (Node: a cluster worker)."""
    return f"{hostname}#{pid}" if clustered else hostname


#: The deepest nesting :func:`jsonable` follows; deeper values become ``None``.
MAX_DEPTH: Final = 32

_Scalar = Union[str, int, float, bool, None, bytes]


def jsonable(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` that the Socket.IO encoder can always send.

    Dicts (string keys), lists and tuples, strings, numbers, booleans, None
    and bytes (a binary attachment) are kept; non-finite floats become None
    (JSON has no NaN, as ``JSON.stringify``); anything else becomes its
    ``str()``, and nesting deeper than :data:`MAX_DEPTH` (or a cycle) is cut
    to None.  Application data in ``socket.data`` may hold anything: the
    admin view must not fail because of it.
    """
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if _depth >= MAX_DEPTH:
        return None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, _depth + 1) for v in value]
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return str(value)


class HandshakeView(Protocol):
    """What the serialisation reads of a handshake (Node's ``socket.handshake``;
    :class:`txsocketio.engineio.handshake.Handshake` has it)."""

    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def query(self) -> Mapping[str, str]: ...
    @property
    def address(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def secure(self) -> bool: ...
    @property
    def issued(self) -> int: ...
    @property
    def time(self) -> str: ...
    @property
    def xdomain(self) -> bool: ...


#: The key of ``socket.data`` where Node keeps the admin's per-socket facts
#: (``clientId``, ``transport``), so that they travel with ``fetchSockets``
#: to the other servers of a cluster.  Never shown in the UI's data.
ADMIN_DATA_KEY: Final = "_admin"

#: Headers Node shows as the socket's address, before the TCP peer's.  Any
#: client can send them: set ``address_headers=()`` unless a proxy overwrites them.
NODE_ADDRESS_HEADERS: Final = ("cf-connecting-ip", "x-forwarded-for")
#: Headers whose values are not shown in the UI.  Node shows every header;
#: we are safer: the UI (even read-only) would otherwise show every user's
#: session cookie and credentials to whoever watches it.
REDACTED_HEADERS: Final = frozenset({"cookie", "authorization", "proxy-authorization"})
REDACTED: Final = "[redacted]"


def admin_data(client_id: str, transport: str) -> dict[str, str]:
    """The value Node stores under ``socket.data["_admin"]``: the first 12
    characters of the Engine.IO id ("quite sensitive", Node says) and the
    transport name."""
    return {"clientId": client_id[:12], "transport": transport}


@attrs.frozen
class SocketView:
    """The facts about one socket that the UI shows.

    ``client_id`` is the Engine.IO session id (only its first 12 characters
    are ever sent) and ``transport`` is ``"polling"`` or ``"websocket"``;
    both may be None for a socket of another server whose data carries no
    ``_admin`` entry (then they are left out, as Node's ``undefined``).
    ``rooms`` in the adapter's order (Node: the socket's own id first).
    """

    id: str
    nsp: str
    handshake: HandshakeView
    rooms: Sequence[str]
    data: Mapping[str, Any]
    client_id: str | None = None
    transport: str | None = None


def serialize_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """``socket.data`` as the UI shows it: without the ``_admin`` entry, made
    sendable by :func:`jsonable`."""
    return {str(k): jsonable(v) for k, v in data.items() if k != ADMIN_DATA_KEY}


def serialize_socket(view: SocketView, *, address_headers: Sequence[str] = NODE_ADDRESS_HEADERS,
                     redact_headers: frozenset[str] = REDACTED_HEADERS) -> dict[str, Any]:
    """A ``SerializedSocket`` of the UI (``all_sockets``, ``socket_connected``).

    As Node's ``serialize``: ``id``, ``clientId``, ``transport``, ``nsp``,
    ``data``, ``handshake`` (``address``, ``headers``, ``query``, ``issued``,
    ``secure``, ``time``, ``url``, ``xdomain``; never the ``auth``), ``rooms``.
    ``clientId`` and ``transport`` come from the view, else from
    ``data["_admin"]``.  The address is the first of ``address_headers``
    present, else the TCP peer's; the values of ``redact_headers`` are
    replaced by ``"[redacted]"``.
    """
    hs = view.handshake
    headers = {str(k): (REDACTED if str(k).lower() in redact_headers else str(v)) for k, v in hs.headers.items()}
    address = hs.address
    for name in address_headers:
        if hs.headers.get(name):
            address = hs.headers[name]
            break
    admin = view.data.get(ADMIN_DATA_KEY)
    admin = admin if isinstance(admin, Mapping) else {}
    client_id = view.client_id[:12] if view.client_id is not None else admin.get("clientId")
    transport = view.transport if view.transport is not None else admin.get("transport")
    out: dict[str, Any] = {"id": view.id}
    if isinstance(client_id, str):
        out["clientId"] = client_id
    if isinstance(transport, str):
        out["transport"] = transport
    out["nsp"] = view.nsp
    out["data"] = serialize_data(view.data)
    out["handshake"] = {
        "address": address,
        "headers": headers,
        "query": {str(k): jsonable(v) for k, v in hs.query.items()},
        "issued": hs.issued,
        "secure": bool(hs.secure),
        "time": hs.time,
        "url": hs.url,
        "xdomain": bool(hs.xdomain),
    }
    out["rooms"] = [str(r) for r in view.rooms]
    return out


# -- events to the UI -----------------------------------------------------------------


def session_event(session_id: str) -> AdminEvent:
    """``session(sessionId)``: the UI keeps it and logs in with it next time."""
    return AdminEvent(SESSION, (session_id,))


def config_event(features: Sequence[str]) -> AdminEvent:
    """``config({supportedFeatures})``, to each admin socket once connected."""
    return AdminEvent(CONFIG, ({"supportedFeatures": list(features)},))


def all_sockets_event(sockets: Sequence[Mapping[str, Any]]) -> AdminEvent:
    """``all_sockets([SerializedSocket…])``: every socket of every namespace
    (cluster-wide), after ``config``, development mode only."""
    return AdminEvent(ALL_SOCKETS, ([dict(s) for s in sockets],))


def server_stats_event(*, server_id: str, hostname: str, pid: int, uptime: float, clients_count: int,
                       polling_clients_count: int, aggregated_events: Sequence[Mapping[str, Any]],
                       namespaces: Mapping[str, int]) -> AdminEvent:
    """``server_stats({...})``: one server's figures.

    ``uptime`` in seconds (Node: ``process.uptime()``); ``clients_count``
    Engine.IO sessions, ``polling_clients_count`` those still on polling;
    ``namespaces`` the socket count of each namespace (in creation order).
    """
    return AdminEvent(SERVER_STATS, ({
        "serverId": server_id,
        "hostname": hostname,
        "pid": pid,
        "uptime": uptime,
        "clientsCount": clients_count,
        "pollingClientsCount": polling_clients_count,
        "aggregatedEvents": [dict(e) for e in aggregated_events],
        "namespaces": [{"name": name, "socketsCount": count} for name, count in namespaces.items()],
    },))


def socket_connected_event(view: SocketView, now: float, **serialize_options: Any) -> AdminEvent:
    """``socket_connected(SerializedSocket, Date)``."""
    return AdminEvent(SOCKET_CONNECTED, (serialize_socket(view, **serialize_options), js_date(now)))


def socket_transport_event(sid: str, nsp: str, transport: str) -> AdminEvent:
    """``socket_updated({id, nsp, transport})``: the socket's Engine.IO
    session upgraded (one event per namespace socket of that session)."""
    return AdminEvent(SOCKET_UPDATED, ({"id": sid, "nsp": nsp, "transport": transport},))


def socket_data_event(sid: str, nsp: str, data: Mapping[str, Any]) -> AdminEvent:
    """``socket_updated({id, nsp, data})``: ``socket.data`` changed."""
    return AdminEvent(SOCKET_UPDATED, ({"id": sid, "nsp": nsp, "data": serialize_data(data)},))


def socket_disconnected_event(nsp: str, sid: str, reason: str, now: float) -> AdminEvent:
    """``socket_disconnected(nsp, id, reason, Date)``."""
    return AdminEvent(SOCKET_DISCONNECTED, (nsp, sid, reason, js_date(now)))


def room_joined_event(nsp: str, room: str, sid: str, now: float) -> AdminEvent:
    """``room_joined(nsp, room, id, Date)`` (also for the socket's own room)."""
    return AdminEvent(ROOM_JOINED, (nsp, room, sid, js_date(now)))


def room_left_event(nsp: str, room: str, sid: str, now: float) -> AdminEvent:
    """``room_left(nsp, room, id, Date)``."""
    return AdminEvent(ROOM_LEFT, (nsp, room, sid, js_date(now)))


def event_received_event(nsp: str, sid: str, event: str, args: Sequence[Any], now: float) -> AdminEvent:
    """``event_received(nsp, id, [event, ...args], Date)``: an event a client
    sent (without its ack callback).  Never for the admin namespace."""
    return AdminEvent(EVENT_RECEIVED, (nsp, sid, [event, *(jsonable(a) for a in args)], js_date(now)))


def event_sent_event(nsp: str, sid: str, event: str, args: Sequence[Any], now: float) -> AdminEvent:
    """``event_sent(nsp, id, [event, ...args], Date)``: an event sent to one
    socket (once per recipient of a broadcast).  Never for the admin namespace."""
    return AdminEvent(EVENT_SENT, (nsp, sid, [event, *(jsonable(a) for a in args)], js_date(now)))


# -- aggregated events ----------------------------------------------------------------

#: ``aggregatedEvents`` types (what the dashboard charts).
RAW_CONNECTION: Final = "rawConnection"        #: an Engine.IO session opened
RAW_DISCONNECTION: Final = "rawDisconnection"  #: an Engine.IO session closed (subType: the reason)
PACKETS_IN: Final = "packetsIn"                #: an Engine.IO packet with data received
PACKETS_OUT: Final = "packetsOut"              #: an Engine.IO packet with data sent
BYTES_IN: Final = "bytesIn"                    #: its data's bytes (UTF-8 length, or binary length)
BYTES_OUT: Final = "bytesOut"


class AggregatedEvents:
    """Counts per (second, type, subType), drained into each ``server_stats``
    (Node's ``EventBuffer``).

    Bounded: at most ``max_entries`` keys are kept between two drains (then
    further new keys are dropped and counted in :attr:`dropped`), so a
    stopped stats timer cannot make it grow without end.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self.dropped = 0
        self._buffer: dict[tuple[int, str, str | None], int] = {}

    def push(self, type: str, now: float, sub_type: str | None = None, count: int = 1) -> None:
        """Count ``count`` of ``type`` (``subType`` ``sub_type``) at time ``now``."""
        key = (int(math.floor(now)) * 1000, type, sub_type)
        if key in self._buffer:
            self._buffer[key] += count
        elif len(self._buffer) < self.max_entries:
            self._buffer[key] = count
        else:
            self.dropped += 1

    def drain(self) -> list[dict[str, Any]]:
        """The entries in insertion order (``{timestamp, type[, subType], count}``,
        ``timestamp`` in milliseconds truncated to the second), and clear."""
        out = []
        for (timestamp, type_, sub_type), count in self._buffer.items():
            entry: dict[str, Any] = {"timestamp": timestamp, "type": type_}
            if sub_type is not None:
                entry["subType"] = sub_type
            entry["count"] = count
            out.append(entry)
        self._buffer = {}
        return out


# -- commands from the UI -------------------------------------------------------------


class InvalidCommand(ProtocolError):
    """An admin command whose arguments are not what the UI sends."""


@attrs.frozen
class EmitCommand:
    """``emit(nsp, filter, event, ...args)``: emit to the namespace, or to the
    room ``filter`` (a room name or a socket id) when given."""

    nsp: str
    filter: str | None
    event: str
    args: tuple[Any, ...]


@attrs.frozen
class JoinCommand:
    """``join(nsp, room, filter?)``: sockets of ``nsp`` (in room ``filter``
    when given) join ``room``."""

    nsp: str
    room: str
    filter: str | None


@attrs.frozen
class LeaveCommand:
    """``leave(nsp, room, filter?)``: the same sockets leave ``room``."""

    nsp: str
    room: str
    filter: str | None


@attrs.frozen
class DisconnectCommand:
    """``_disconnect(nsp, close, filter?)``: disconnect the sockets of ``nsp``
    (in room ``filter`` when given); ``close`` also closes their Engine.IO
    connection (Node's ``disconnectSockets(close)``)."""

    nsp: str
    close: bool
    filter: str | None


Command = Union[EmitCommand, JoinCommand, LeaveCommand, DisconnectCommand]


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidCommand(f"{what} must be a non-empty string, not {value!r}")
    return value


def _filter(args: Sequence[Any], index: int) -> str | None:
    """The optional room filter: absent, None or "" mean none (Node: falsy)."""
    if len(args) <= index or args[index] is None or args[index] == "":
        return None
    return _string(args[index], "the room filter")


def _namespace(value: Any) -> str:
    nsp = _string(value, "the namespace")
    if not nsp.startswith("/"):
        raise InvalidCommand(f"a namespace starts with '/', not {nsp!r}")
    return nsp


def parse_command(event: str, args: Sequence[Any], features: Sequence[str]) -> Command:
    """Read one command the UI sent on the admin namespace.

    Raises :class:`InvalidCommand` for an unknown command, one that
    ``features`` does not allow (a read-only server allows none), or
    arguments of the wrong kind (including reserved event names for ``emit``).
    The glue then ignores the command (and logs it); it never acts on part
    of one.  It must also refuse namespaces that do not exist rather than
    create them (Node's ``io.of(nsp)`` would).
    """
    allowed = {EMIT: Feature.EMIT, JOIN: Feature.JOIN, LEAVE: Feature.LEAVE, DISCONNECT: Feature.DISCONNECT}
    if event not in allowed:
        raise InvalidCommand(f"unknown admin command {event!r}")
    if allowed[event].value not in features:
        raise InvalidCommand(f"admin command {event!r} is not allowed (read-only)")
    if event == EMIT:
        if len(args) < 3:
            raise InvalidCommand("emit takes (namespace, filter, event, ...args)")
        name = _string(args[2], "the event name")
        if name in RESERVED_EVENTS:
            raise InvalidCommand(f"{name!r} is a reserved event name")
        return EmitCommand(_namespace(args[0]), _filter(args, 1), name, tuple(args[3:]))
    if event in (JOIN, LEAVE):
        if not 2 <= len(args) <= 3:
            raise InvalidCommand(f"{event} takes (namespace, room, filter?)")
        cls = JoinCommand if event == JOIN else LeaveCommand
        return cls(_namespace(args[0]), _string(args[1], "the room"), _filter(args, 2))
    if not 2 <= len(args) <= 3:
        raise InvalidCommand("_disconnect takes (namespace, close, filter?)")
    if not isinstance(args[1], bool):
        raise InvalidCommand(f"the close flag must be true or false, not {args[1]!r}")
    return DisconnectCommand(_namespace(args[0]), args[1], _filter(args, 2))


# -- login ----------------------------------------------------------------------------


@attrs.frozen
class AdminLogin:
    """What the UI sends as the CONNECT ``auth``: ``{username, password}``
    from its login form, or ``{sessionId}`` from an earlier ``session`` event.
    Fields that are missing or not strings are None."""

    session_id: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, auth: Any) -> "AdminLogin":
        """Read any CONNECT ``auth`` value (not a dict: nothing)."""
        if not isinstance(auth, Mapping):
            return cls()

        def text(key: str) -> str | None:
            value = auth.get(key)
            return value if isinstance(value, str) and value else None

        return cls(session_id=text("sessionId"), username=text("username"), password=text("password"))


class LoginStep(enum.Enum):
    """What to do with an admin CONNECT."""

    #: Let it in (authentication is off, or its session id is known).
    ACCEPT = "accept"
    #: The user name matches: check the password against the bcrypt hash,
    #: then accept (minting a session) or refuse.
    VERIFY_PASSWORD = "verify password"
    #: CONNECT_ERROR ``{"message": "invalid credentials"}``.
    REFUSE = "refuse"


def login_step(login: AdminLogin, *, username: str | None, session_known: bool,
               username_matches: bool | None = None) -> LoginStep:
    """Node's order: authentication off (``username`` None) accepts; a known
    session id accepts; the configured user name with a password goes on to
    the password check; anything else is refused.

    ``session_known`` says whether ``login.session_id`` is a live session;
    ``username_matches`` may be given by a caller that compared the names in
    constant time (:mod:`txsocketio.admin.auth` does).
    """
    if username is None:
        return LoginStep.ACCEPT
    if login.session_id is not None and session_known:
        return LoginStep.ACCEPT
    if username_matches is None:
        username_matches = login.username == username
    if username_matches and login.username is not None and login.password is not None:
        return LoginStep.VERIFY_PASSWORD
    return LoginStep.REFUSE
