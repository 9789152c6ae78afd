"""The admin namespace protocol (@socket.io/admin-ui 0.5), pure: payloads as
Node's instrument() sends them, commands and logins as the UI sends them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from txsocketio.admin import protocol as p
from txsocketio.errors import ProtocolError

NOW = 1795696029.123456  # 2026-11-26T12:27:09.123Z
#: Property tests: no per-example deadline and no input-speed health check
#: (the machine is shared; the properties are about values, not speed).
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@attrs.frozen
class FakeHandshake:
    headers: Any = MappingProxyType({"host": "example.com", "user-agent": "node", "cookie": "sid=secret",
                                     "Authorization": "Bearer x"})
    query: Any = MappingProxyType({"EIO": "4", "transport": "polling", "t": "abc"})
    address: str = "127.0.0.1"
    url: str = "/socket.io/?EIO=4&transport=polling&t=abc"
    secure: bool = False
    issued: int = 1795696029123
    time: str = "Thu Nov 26 2026 12:27:09 GMT+0000 (Coordinated Universal Time)"
    xdomain: bool = False


def view(**kw: Any) -> p.SocketView:
    args: dict[str, Any] = dict(id="sock1", nsp="/", handshake=FakeHandshake(), rooms=["sock1", "room a"],
                                data={"user": "ann"}, client_id="abcdefghijklmnopqrst", transport="polling")
    args.update(kw)
    return p.SocketView(**args)


class PurityTests(unittest.TestCase):
    def test_no_twisted_internet(self) -> None:
        """Importing txsocketio.admin.protocol in a fresh interpreter loads no
        twisted.internet, twisted.web or autobahn module."""
        code = ("import sys, txsocketio.admin.protocol; print(','.join(sorted(m for m in sys.modules "
                "if m.startswith(('twisted.internet', 'twisted.web', 'autobahn')))))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        self.assertEqual(out.stdout.strip(), "")


class FeatureTests(unittest.TestCase):
    def test_development(self) -> None:
        """Development mode, read-write: Node's order, the seven operations,
        AGGREGATED_EVENTS, then ALL_EVENTS."""
        self.assertEqual(p.supported_features(read_only=False, mode="development"),
                         ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT",
                          "AGGREGATED_EVENTS", "ALL_EVENTS"])

    def test_read_only_production(self) -> None:
        """Read-only production mode supports only the aggregated events."""
        self.assertEqual(p.supported_features(read_only=True, mode="production"), ["AGGREGATED_EVENTS"])
        self.assertEqual(p.supported_features(read_only=True, mode="development"),
                         ["AGGREGATED_EVENTS", "ALL_EVENTS"])

    def test_bad_mode(self) -> None:
        """An unknown mode is a ValueError naming the two modes."""
        error = self.assertRaises(ValueError, p.supported_features, read_only=False, mode="dev")
        self.assertIn("'development' or 'production'", str(error))

    def test_config_event(self) -> None:
        """config carries {supportedFeatures: [...]}."""
        self.assertEqual(p.config_event(["EMIT"]), p.AdminEvent("config", ({"supportedFeatures": ["EMIT"]},)))


class ValueTests(unittest.TestCase):
    def test_js_date(self) -> None:
        """A POSIX time becomes what JSON.stringify(new Date(t)) gives: UTC
        with milliseconds (truncated) and a Z."""
        self.assertEqual(p.js_date(NOW), "2026-11-26T12:27:09.123Z")
        self.assertEqual(p.js_date(0), "1970-01-01T00:00:00.000Z")
        self.assertEqual(p.js_date(1.9999), "1970-01-01T00:00:01.999Z")

    @PROPERTY
    @given(st.floats(min_value=0, max_value=4e9))
    def test_js_date_parses_back(self, t: float) -> None:
        """The string parses back (ISO 8601) to the time, to the millisecond."""
        s = p.js_date(t)
        back = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
        self.assertLessEqual(abs(back - t), 0.0011)

    def test_default_server_id(self) -> None:
        """Node: the host name, or host#pid for one of several processes."""
        self.assertEqual(p.default_server_id("h", 12, clustered=False), "h")
        self.assertEqual(p.default_server_id("h", 12, clustered=True), "h#12")

    def test_jsonable(self) -> None:
        """Sendable values are kept (bytes too), others become str, NaN None,
        tuples lists, keys strings, and cycles are cut."""
        cyclic: list[Any] = []
        cyclic.append(cyclic)
        value = {"a": (1, 2.5, None, True), 3: b"\x00", "o": ValueError(), "n": float("nan"),
                 "c": cyclic}
        out = p.jsonable(value)
        self.assertEqual(out["a"], [1, 2.5, None, True])
        self.assertEqual(out["3"], b"\x00")
        self.assertEqual(out["o"], "")
        self.assertIsNone(out["n"])
        depth = 0
        node = out["c"]
        while node is not None:
            node = node[0]
            depth += 1
        self.assertLessEqual(depth, p.MAX_DEPTH)

    @PROPERTY
    @given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                        lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=4)
                        | st.tuples(inner, inner) | st.sets(st.integers(), max_size=4).map(frozenset),
                        max_leaves=20))
    def test_jsonable_always_json(self, value: Any) -> None:
        """Whatever it is given (without bytes), the result is strict JSON."""
        json.dumps(p.jsonable(value), allow_nan=False)


class SerializeTests(unittest.TestCase):
    def test_serialized_socket(self) -> None:
        """A SerializedSocket has Node's keys; clientId is cut to 12
        characters; the handshake has no auth; cookie and authorization
        values are redacted; rooms keep their order."""
        out = p.serialize_socket(view())
        self.assertEqual(list(out), ["id", "clientId", "transport", "nsp", "data", "handshake", "rooms"])
        self.assertEqual(out["clientId"], "abcdefghijkl")
        self.assertEqual(out["transport"], "polling")
        self.assertEqual(out["data"], {"user": "ann"})
        self.assertEqual(out["rooms"], ["sock1", "room a"])
        hs = out["handshake"]
        self.assertEqual(set(hs), {"address", "headers", "query", "issued", "secure", "time", "url", "xdomain"})
        self.assertEqual(hs["headers"]["cookie"], "[redacted]")
        self.assertEqual(hs["headers"]["Authorization"], "[redacted]")
        self.assertEqual(hs["headers"]["user-agent"], "node")
        self.assertEqual(hs["query"], {"EIO": "4", "transport": "polling", "t": "abc"})
        self.assertEqual((hs["address"], hs["issued"], hs["secure"], hs["xdomain"]),
                         ("127.0.0.1", 1795696029123, False, False))
        json.dumps(out, allow_nan=False)

    def test_address_from_proxy_headers(self) -> None:
        """As Node, cf-connecting-ip then x-forwarded-for win over the peer
        address; address_headers=() shows the peer only."""
        hs = FakeHandshake(headers={"x-forwarded-for": "10.0.0.1, 10.0.0.2", "cf-connecting-ip": ""})
        self.assertEqual(p.serialize_socket(view(handshake=hs))["handshake"]["address"], "10.0.0.1, 10.0.0.2")
        hs = FakeHandshake(headers={"x-forwarded-for": "10.0.0.1", "cf-connecting-ip": "10.9.9.9"})
        self.assertEqual(p.serialize_socket(view(handshake=hs))["handshake"]["address"], "10.9.9.9")
        self.assertEqual(p.serialize_socket(view(handshake=hs), address_headers=())["handshake"]["address"],
                         "127.0.0.1")

    def test_admin_data_of_remote_socket(self) -> None:
        """A socket of another server (no client_id/transport in the view)
        takes them from data["_admin"], which is never shown as data; with
        neither, the keys are left out (Node's undefined)."""
        data = {"_admin": p.admin_data("0123456789abcdefXYZ", "websocket"), "x": 1}
        out = p.serialize_socket(view(client_id=None, transport=None, data=data))
        self.assertEqual((out["clientId"], out["transport"], out["data"]), ("0123456789ab", "websocket", {"x": 1}))
        out = p.serialize_socket(view(client_id=None, transport=None, data={}))
        self.assertNotIn("clientId", out)
        self.assertNotIn("transport", out)

    def test_events(self) -> None:
        """Each development-mode event has Node's name and positional
        arguments, with JS Date strings last."""
        d = "2026-11-26T12:27:09.123Z"
        self.assertEqual(p.socket_connected_event(view(), NOW),
                         p.AdminEvent("socket_connected", (p.serialize_socket(view()), d)))
        self.assertEqual(p.socket_transport_event("s", "/", "websocket"),
                         p.AdminEvent("socket_updated", ({"id": "s", "nsp": "/", "transport": "websocket"},)))
        self.assertEqual(p.socket_data_event("s", "/", {"_admin": {}, "k": {1, 2} and "v"}),
                         p.AdminEvent("socket_updated", ({"id": "s", "nsp": "/", "data": {"k": "v"}},)))
        self.assertEqual(p.socket_disconnected_event("/", "s", "transport close", NOW),
                         p.AdminEvent("socket_disconnected", ("/", "s", "transport close", d)))
        self.assertEqual(p.room_joined_event("/", "r", "s", NOW), p.AdminEvent("room_joined", ("/", "r", "s", d)))
        self.assertEqual(p.room_left_event("/", "r", "s", NOW), p.AdminEvent("room_left", ("/", "r", "s", d)))
        self.assertEqual(p.event_received_event("/chat", "s", "msg", ("hi", 1), NOW),
                         p.AdminEvent("event_received", ("/chat", "s", ["msg", "hi", 1], d)))
        self.assertEqual(p.event_sent_event("/chat", "s", "msg", (), NOW),
                         p.AdminEvent("event_sent", ("/chat", "s", ["msg"], d)))
        self.assertEqual(p.session_event("abc"), p.AdminEvent("session", ("abc",)))
        self.assertEqual(p.all_sockets_event([{"id": "s"}]), p.AdminEvent("all_sockets", ([{"id": "s"}],)))

    def test_server_stats(self) -> None:
        """server_stats carries Node 0.5.1's keys, namespaces as a list of
        {name, socketsCount} in the given order."""
        event = p.server_stats_event(server_id="h#1", hostname="h", pid=1, uptime=12.5, clients_count=3,
                                     polling_clients_count=1, aggregated_events=[],
                                     namespaces={"/": 2, "/admin": 1})
        self.assertEqual(event, p.AdminEvent("server_stats", ({
            "serverId": "h#1", "hostname": "h", "pid": 1, "uptime": 12.5, "clientsCount": 3,
            "pollingClientsCount": 1, "aggregatedEvents": [],
            "namespaces": [{"name": "/", "socketsCount": 2}, {"name": "/admin", "socketsCount": 1}]},)))


class AggregatedEventsTests(unittest.TestCase):
    def test_aggregation(self) -> None:
        """Counts add up per (second, type, subType); timestamps are ms
        truncated to the second; subType only when given; drain clears."""
        buf = p.AggregatedEvents()
        buf.push(p.RAW_CONNECTION, 10.2)
        buf.push(p.RAW_CONNECTION, 10.9)
        buf.push(p.BYTES_IN, 10.5, count=100)
        buf.push(p.RAW_DISCONNECTION, 11.0, "transport close")
        buf.push(p.RAW_CONNECTION, 11.0)
        self.assertEqual(buf.drain(), [
            {"timestamp": 10000, "type": "rawConnection", "count": 2},
            {"timestamp": 10000, "type": "bytesIn", "count": 100},
            {"timestamp": 11000, "type": "rawDisconnection", "subType": "transport close", "count": 1},
            {"timestamp": 11000, "type": "rawConnection", "count": 1},
        ])
        self.assertEqual(buf.drain(), [])

    def test_bounded(self) -> None:
        """Past max_entries keys, new keys are dropped (and counted), existing
        keys still count."""
        buf = p.AggregatedEvents(max_entries=2)
        for t in range(5):
            buf.push(p.PACKETS_IN, t)
        buf.push(p.PACKETS_IN, 0)
        self.assertEqual(buf.dropped, 3)
        self.assertEqual([e["count"] for e in buf.drain()], [2, 1])


class CommandTests(unittest.TestCase):
    ALL = p.supported_features(read_only=False, mode="development")

    def test_emit(self) -> None:
        """emit(nsp, filter, event, ...args); a null or empty filter means
        the whole namespace."""
        self.assertEqual(p.parse_command("emit", ["/", "room", "ev", 1, {"a": 2}], self.ALL),
                         p.EmitCommand("/", "room", "ev", (1, {"a": 2})))
        self.assertEqual(p.parse_command("emit", ["/chat", None, "ev"], self.ALL),
                         p.EmitCommand("/chat", None, "ev", ()))
        self.assertEqual(p.parse_command("emit", ["/chat", "", "ev"], self.ALL).filter, None)

    def test_join_leave_disconnect(self) -> None:
        """join/leave(nsp, room, filter?) and _disconnect(nsp, close, filter?)."""
        self.assertEqual(p.parse_command("join", ["/", "r"], self.ALL), p.JoinCommand("/", "r", None))
        self.assertEqual(p.parse_command("leave", ["/", "r", "sid1"], self.ALL), p.LeaveCommand("/", "r", "sid1"))
        self.assertEqual(p.parse_command("_disconnect", ["/", False, "sid1"], self.ALL),
                         p.DisconnectCommand("/", False, "sid1"))
        self.assertEqual(p.parse_command("_disconnect", ["/", True], self.ALL), p.DisconnectCommand("/", True, None))

    def test_invalid(self) -> None:
        """Wrong arity, types, namespaces without '/', reserved event names
        and unknown commands are InvalidCommand (a ProtocolError)."""
        for event, args in [("emit", ["/", None]), ("emit", ["/", None, "connect"]), ("emit", ["x", None, "e"]),
                            ("emit", ["/", 3, "e"]), ("join", ["/"]), ("join", ["/", 5]),
                            ("leave", ["/", "r", "f", "extra"]), ("_disconnect", ["/", "yes"]),
                            ("_disconnect", ["/", 1]), ("fetch", []), ("emit", [None, None, "e"])]:
            self.assertRaises(p.InvalidCommand, p.parse_command, event, args, self.ALL)
        self.assertTrue(issubclass(p.InvalidCommand, ProtocolError))

    def test_read_only_refuses_all(self) -> None:
        """A read-only server accepts no command."""
        features = p.supported_features(read_only=True, mode="development")
        for event, args in [("emit", ["/", None, "e"]), ("join", ["/", "r"]), ("leave", ["/", "r"]),
                            ("_disconnect", ["/", False])]:
            error = self.assertRaises(p.InvalidCommand, p.parse_command, event, args, features)
            self.assertIn("read-only", str(error))

    @PROPERTY
    @given(st.sampled_from(["emit", "join", "leave", "_disconnect"]) | st.text(max_size=12),
           st.lists(st.none() | st.booleans() | st.integers() | st.sampled_from(["/", "/chat", "r", "connect", ""])
                    | st.text(max_size=8) | st.binary(max_size=8)
                    | st.dictionaries(st.text(max_size=4), st.integers(), max_size=3), max_size=6))
    def test_arbitrary_input(self, event: str, args: list[Any]) -> None:
        """Any event name and arguments give a command or InvalidCommand, nothing else."""
        try:
            p.parse_command(event, args, self.ALL)
        except p.InvalidCommand:
            pass


class LoginTests(unittest.TestCase):
    def test_parse(self) -> None:
        """The auth dict's string fields are read; anything else is absent."""
        self.assertEqual(p.AdminLogin.parse({"username": "a", "password": "b"}), p.AdminLogin(None, "a", "b"))
        self.assertEqual(p.AdminLogin.parse({"sessionId": "s"}), p.AdminLogin("s"))
        self.assertEqual(p.AdminLogin.parse({"username": 1, "password": ["x"], "sessionId": ""}), p.AdminLogin())
        self.assertEqual(p.AdminLogin.parse("user:pw"), p.AdminLogin())
        self.assertEqual(p.AdminLogin.parse(None), p.AdminLogin())

    @PROPERTY
    @given(st.none() | st.text(max_size=8) | st.lists(st.integers(), max_size=4)
           | st.dictionaries(st.sampled_from(["username", "password", "sessionId", "x"]),
                             st.none() | st.text() | st.integers() | st.booleans()))
    def test_parse_arbitrary(self, auth: Any) -> None:
        """Any auth value parses, to strings or None."""
        login = p.AdminLogin.parse(auth)
        for value in attrs.astuple(login):
            self.assertIsInstance(value, (str, type(None)))

    def test_steps(self) -> None:
        """Auth off accepts anything; a known session accepts; the right
        user name with a password goes to the password check; the rest is
        refused (wrong user, no password, unknown session alone)."""
        step = p.login_step
        self.assertEqual(step(p.AdminLogin(), username=None, session_known=False), p.LoginStep.ACCEPT)
        self.assertEqual(step(p.AdminLogin("s"), username="admin", session_known=True), p.LoginStep.ACCEPT)
        self.assertEqual(step(p.AdminLogin("s"), username="admin", session_known=False), p.LoginStep.REFUSE)
        self.assertEqual(step(p.AdminLogin("s", "admin", "pw"), username="admin", session_known=False),
                         p.LoginStep.VERIFY_PASSWORD)
        self.assertEqual(step(p.AdminLogin(None, "root", "pw"), username="admin", session_known=False),
                         p.LoginStep.REFUSE)
        self.assertEqual(step(p.AdminLogin(None, "admin", None), username="admin", session_known=False),
                         p.LoginStep.REFUSE)
        self.assertEqual(step(p.AdminLogin(None, "root", "pw"), username="admin", session_known=False,
                              username_matches=False), p.LoginStep.REFUSE)
        self.assertEqual(p.INVALID_CREDENTIALS, "invalid credentials")
