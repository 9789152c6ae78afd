# -*- test-case-name: tests.test_socketio_connection -*-
"""The Socket.IO state machine of one Engine.IO connection, without I/O.

A :class:`Connection` is fed the Engine.IO messages of one client
(:meth:`Connection.receive`) and told what the application decided about each
namespace the client asked for (:meth:`Connection.accept`,
:meth:`Connection.refuse`, :meth:`Connection.reject_namespace`...); it answers
with events for the application and packets for the client.  It never reads a
clock, never schedules anything and never encodes: the glue
(:mod:`txsocketio.socketio.client`) asks :meth:`Connection.next_deadline`, calls
:meth:`Connection.handle_timer` when that moment comes, and encodes the packets
with the server's parser.

Theory of operation
-------------------
Versions.  Engine.IO v4 carries Socket.IO v5; Engine.IO v3 (``allow_eio3``)
carries Socket.IO v4.  Every difference between the two lives in one
:class:`Rules` object per version (:func:`rules_for`): v4 joins ``/`` at once
without a CONNECT, takes its auth from the namespace's query string
(``40/nsp?token=x,``), names sockets after the Engine.IO sid (``/nsp#sid``)
and answers CONNECT without a payload and CONNECT_ERROR with ``data ||
message``; v5 waits for a CONNECT per namespace, takes its auth from the
payload, draws a random socket id and answers ``{"sid": ...}`` and
``{"message": ..., "data": ...}``.

Namespaces.  A CONNECT moves its namespace to ``CONNECTING`` and raises
:class:`ConnectRequested`; the application runs its middlewares and connect
handler, then calls :meth:`Connection.accept` (``CONNECTED``; returns the
CONNECT reply), :meth:`Connection.refuse` (returns the CONNECT_ERROR) or
:meth:`Connection.abandon` (nothing to send).  A second CONNECT to a
namespace that is connecting or connected is ignored (:class:`ConnectIgnored`).
Any other packet for a namespace that is not ``CONNECTED`` is a protocol
violation, as is a packet type a client may not send.

Acknowledgements.  An EVENT carrying an ack id is raised with that id;
:meth:`Connection.ack` builds the ACK for it while the namespace is
``CONNECTED`` (``None`` afterwards: an answer that comes too late is dropped).
Which handler answers (the first one) is the socket's rule.

Connect timeout.  ``connect_timeout`` seconds after :meth:`Connection.start`
the connection must have one ``CONNECTED`` namespace, or
:class:`ConnectTimedOut` is raised (the glue closes the Engine.IO session).
A connect handler still running does not count, as in Node.

Closing.  A decoding error or a violation raises :class:`ProtocolViolated`
and moves to ``CLOSED``; :meth:`Connection.close` does the same for the
other reasons.  A closed connection ignores everything.
"""

from __future__ import annotations

import enum
import secrets
from typing import Any, Callable, Mapping, Union
from urllib.parse import parse_qsl

import attrs

from txsocketio.errors import ProtocolError
from txsocketio.socketio.packet import Packet, PacketType, PayloadTooDeep
from txsocketio.socketio.parser import JSON_PARSER, Parser

__all__ = [
    "Rules", "rules_for", "NamespaceState", "Connection",
    "ConnectRequested", "ConnectIgnored", "EventReceived", "AckReceived", "NamespaceLeft",
    "ProtocolViolated", "ConnectTimedOut", "Event",
]


def new_socket_id() -> str:
    """As Node's base64id: 15 random bytes, 20 URL-safe characters."""
    return secrets.token_urlsafe(15)


# -- the two protocol versions ---------------------------------------------------------


def _js_truthy(value: Any) -> bool:
    """JavaScript's truthiness (``{}`` and ``[]`` are true, ``0`` and ``""`` false)."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return True


@attrs.frozen
class Rules:
    """What differs between Socket.IO v4 (``eio == 3``) and v5 (``eio == 4``)."""

    #: the Engine.IO protocol version that carries it
    eio: int

    @property
    def joins_root_at_once(self) -> bool:
        """v4: the server connects ``/`` right after the Engine.IO open, unasked."""
        return self.eio == 3

    def connect_request(self, packet: Packet) -> tuple[str, dict[str, Any], str | None]:
        """``(namespace, auth, query)`` of a CONNECT packet.

        v4 sends its auth as the namespace's query string; v5 has no query
        in CONNECT (as Node, the whole ``/nsp?x=1`` is then the name).
        """
        if self.eio == 3:
            query = packet.query
            auth = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
            return packet.namespace, auth, query
        name = packet.namespace if packet.query is None else f"{packet.namespace}?{packet.query}"
        return name, packet.data if isinstance(packet.data, dict) else {}, None

    def socket_id(self, namespace: str, eio_sid: str, new_id: Callable[[], str]) -> str:
        """v4: the Engine.IO sid in ``/``, ``<nsp>#<sid>`` elsewhere; v5: a fresh random id."""
        if self.eio == 3:
            return eio_sid if namespace == "/" else f"{namespace}#{eio_sid}"
        return new_id()

    def handshake_query(self, base: Mapping[str, str], query: str | None) -> Mapping[str, str]:
        """v4: the namespace's query string joins the handshake's query."""
        if self.eio == 3 and query:
            return {**base, **dict(parse_qsl(query, keep_blank_values=True))}
        return base

    def connect_reply(self, namespace: str, socket_id: str, pid: str | None = None) -> Packet:
        """v4: no payload; v5: ``{"sid"}``, plus ``"pid"`` with connection state recovery."""
        if self.eio == 3:
            return Packet(PacketType.CONNECT, namespace)
        if pid is not None:
            return Packet(PacketType.CONNECT, namespace, {"sid": socket_id, "pid": pid})
        return Packet(PacketType.CONNECT, namespace, {"sid": socket_id})

    def connect_error(self, namespace: str, message: str, data: Any = None) -> Packet:
        """v5: ``{"message", "data"?}``; v4 (Node's namespace.js): ``err.data || err.message``."""
        if self.eio == 3:
            payload: Any = data if _js_truthy(data) else message
            if not isinstance(payload, (dict, str)):
                payload = message
            return Packet(PacketType.CONNECT_ERROR, namespace, payload)
        body: dict[str, Any] = {"message": message}
        if data is not None:
            body["data"] = data
        return Packet(PacketType.CONNECT_ERROR, namespace, body)


_RULES = {3: Rules(3), 4: Rules(4)}


def rules_for(eio: int) -> Rules:
    """The rules of the Socket.IO version an Engine.IO version carries."""
    try:
        return _RULES[eio]
    except KeyError:
        raise ValueError(f"no Socket.IO protocol runs on Engine.IO v{eio}") from None


# -- events ------------------------------------------------------------------------------


@attrs.frozen
class ConnectRequested:
    """The client asked to join ``namespace``: run the middlewares and handlers."""

    namespace: str
    auth: dict[str, Any]
    query: str | None = None


@attrs.frozen
class ConnectIgnored:
    """A second CONNECT to a namespace already connecting or connected."""

    namespace: str


@attrs.frozen
class EventReceived:
    namespace: str
    event: str
    args: list[Any]
    ack_id: int | None = None


@attrs.frozen
class AckReceived:
    namespace: str
    ack_id: int | None
    args: list[Any]


@attrs.frozen
class NamespaceLeft:
    """The client sent DISCONNECT for ``namespace`` (``"client namespace disconnect"``)."""

    namespace: str


@attrs.frozen
class ProtocolViolated:
    """The client broke the protocol; the connection is closed (``"parse error"``).

    ``refusal``, when not None, is a CONNECT_ERROR that says why, sent before
    the close (a payload nested deeper than ``max_json_depth``)."""

    problem: str
    refusal: Packet | None = None


@attrs.frozen
class ConnectTimedOut:
    """No namespace was joined within ``connect_timeout``; close the connection."""


Event = Union[ConnectRequested, ConnectIgnored, EventReceived, AckReceived, NamespaceLeft,
              ProtocolViolated, ConnectTimedOut]


class NamespaceState(enum.Enum):
    #: The middlewares and the connect handler run.
    CONNECTING = "connecting"
    #: The CONNECT reply went out; events flow.
    CONNECTED = "connected"


# The members the way of each packet compares with, as module constants:
# before Python 3.12 reading a member through its class goes through
# EnumType's __getattr__ hook (~70 ns; a global, ~7 ns).
_CONNECT = PacketType.CONNECT
_EVENT = PacketType.EVENT
_BINARY_EVENT = PacketType.BINARY_EVENT
_ACK = PacketType.ACK
_BINARY_ACK = PacketType.BINARY_ACK
_DISCONNECT = PacketType.DISCONNECT
_CONNECTING = NamespaceState.CONNECTING
_CONNECTED = NamespaceState.CONNECTED


class Connection:
    """The Socket.IO side of one Engine.IO connection (see the module docstring)."""

    def __init__(self, eio: int, sid: str, *, connect_timeout: float, parser: Parser = JSON_PARSER,
                 max_attachments: int = 10, max_depth: int | None = None,
                 new_id: Callable[[], str] = new_socket_id) -> None:
        self.rules = rules_for(eio)
        self.sid = sid
        self.connect_timeout = connect_timeout
        self.decoder = parser.decoder(max_attachments=max_attachments, max_depth=max_depth)
        self.new_id = new_id
        self.closed = False
        self.namespaces: dict[str, NamespaceState] = {}
        self._deadline: float | None = None

    # -- time ----------------------------------------------------------------------------

    def start(self, now: float) -> list[Event]:
        """The Engine.IO connection opened at ``now``: arm the connect timeout
        (and, with v4, ask for ``/`` at once)."""
        self._deadline = now + self.connect_timeout
        if self.rules.joins_root_at_once:
            self.namespaces["/"] = NamespaceState.CONNECTING
            return [ConnectRequested("/", {}, None)]
        return []

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must be called (``None``: no timer)."""
        return None if self.closed else self._deadline

    def handle_timer(self, now: float) -> list[Event]:
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        self._deadline = None
        if self.connected_namespaces():
            return []
        return [ConnectTimedOut()]

    # -- from the client -----------------------------------------------------------------

    def receive(self, message: str | bytes) -> list[Event]:
        """One Engine.IO message from the client."""
        if self.closed:
            return []
        try:
            packet = self.decoder.feed(message)
        except PayloadTooDeep as e:
            # Say why before closing: socket.io-client shows a CONNECT_ERROR's
            # message as "connect_error" even on a connected socket.
            name = e.namespace if e.namespace in self.namespaces else None
            refusal = None if name is None else self.rules.connect_error(name, str(e))
            self.close()
            return [ProtocolViolated(str(e), refusal)]
        except ProtocolError as e:
            return self._violation(str(e))
        if packet is None:
            return []
        kind = packet.type
        if kind is _CONNECT:
            name, auth, query = self.rules.connect_request(packet)
            if name in self.namespaces:
                return [ConnectIgnored(name)]
            self.namespaces[name] = _CONNECTING
            return [ConnectRequested(name, auth, query)]
        nsp = packet.namespace
        if self.namespaces.get(nsp) is not _CONNECTED:
            return self._violation(f"{kind.name} packet for namespace {nsp!r}, which this client has not joined")
        if kind is _EVENT or kind is _BINARY_EVENT:
            data = packet.data
            return [EventReceived(nsp, data[0], list(data[1:]), packet.id)]
        if kind is _ACK or kind is _BINARY_ACK:
            return [AckReceived(nsp, packet.id, list(packet.data) if packet.data is not None else [])]
        if kind is _DISCONNECT:
            self.leave(nsp)
            return [NamespaceLeft(nsp)]
        return self._violation(f"unexpected {kind.name} packet from a client")

    def _violation(self, problem: str) -> list[Event]:
        self.close()
        return [ProtocolViolated(problem)]

    # -- the application's decisions -----------------------------------------------------

    def socket_id(self, namespace: str) -> str:
        """The id of the socket that joins ``namespace``."""
        return self.rules.socket_id(namespace, self.sid, self.new_id)

    def is_connecting(self, namespace: str) -> bool:
        return self.namespaces.get(namespace) is NamespaceState.CONNECTING

    def connected_namespaces(self) -> list[str]:
        return [n for n, s in self.namespaces.items() if s is NamespaceState.CONNECTED]

    def accept(self, namespace: str, socket_id: str, pid: str | None = None) -> Packet:
        """The namespace admitted the client: the CONNECT reply to send
        (with the recovery session's ``pid`` when there is one)."""
        if self.namespaces.get(namespace) is not NamespaceState.CONNECTING:
            raise ValueError(f"{namespace!r} is not connecting")
        self.namespaces[namespace] = NamespaceState.CONNECTED
        self._deadline = None
        return self.rules.connect_reply(namespace, socket_id, pid)

    def refuse(self, namespace: str, message: str, data: Any = None) -> Packet:
        """The namespace refused the client: the CONNECT_ERROR to send."""
        self.namespaces.pop(namespace, None)
        return self.rules.connect_error(namespace, message, data)

    def reject_namespace(self, namespace: str) -> Packet:
        """No such namespace: ``{"message": "Invalid namespace"}`` (the session stays open)."""
        self.namespaces.pop(namespace, None)
        return Packet(PacketType.CONNECT_ERROR, namespace, {"message": "Invalid namespace"})

    def abandon(self, namespace: str) -> None:
        """Forget a namespace that was connecting (the client went away meanwhile)."""
        if self.namespaces.get(namespace) is NamespaceState.CONNECTING:
            del self.namespaces[namespace]

    def leave(self, namespace: str) -> None:
        """The socket of ``namespace`` is gone (either side's decision)."""
        self.namespaces.pop(namespace, None)

    def disconnect(self, namespace: str) -> Packet:
        """The server leaves ``namespace``: the DISCONNECT to send."""
        self.leave(namespace)
        return Packet(PacketType.DISCONNECT, namespace)

    def ack(self, namespace: str, ack_id: int, args: list[Any]) -> Packet | None:
        """The ACK answering the client's ``ack_id`` (``None`` when the namespace is gone)."""
        if self.namespaces.get(namespace) is not _CONNECTED:
            return None
        return Packet(_ACK, namespace, args, id=ack_id)

    def close(self) -> None:
        """Nothing more happens on this connection."""
        self.closed = True
        self.namespaces.clear()
        self._deadline = None
