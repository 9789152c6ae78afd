"""txsocketio.admin.protocol against the reference: Node's socket.io 4.8 with
``instrument()`` of the pinned ``@socket.io/admin-ui`` (0.5.1).

A Node script runs the reference server, logs in to ``/admin`` (wrong
password first), connects a ``/chat`` client that joins a room, emits with
an ack and is disconnected from the admin socket, and prints every admin
event it saw as JSON.  Each one is then rebuilt with our builders from the
same values and must come out identical (keys, key order, values), so the
spec in docs/development/admin-protocol.md is what Node does.

Interop tier: node, ``tests/node`` (socket.io, sioc4 = socket.io-client 4) and the root
``node_modules`` (``@socket.io/admin-ui``, ``bcryptjs``).
"""

from __future__ import annotations

import json
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
from twisted.trial import unittest

from tests.support import PROJECT_ROOT, missing, require_node_modules, require_tool, run_process
from txsocketio.admin import protocol as p

ROOT_MODULES = PROJECT_ROOT / "node_modules"

SCRIPT = r"""
const [nodeDir, rootDir] = process.argv.slice(2);
const { Server } = require(nodeDir + "/socket.io");
const { io: client } = require(nodeDir + "/sioc4");
const { instrument } = require(rootDir + "/@socket.io/admin-ui");
const bcrypt = require(rootDir + "/bcryptjs");
const http = require("http");
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
const srv = http.createServer();
const io = new Server(srv);
instrument(io, {auth: {type: "basic", username: "admin", password: bcrypt.hashSync("pw", 4)}, mode: "development"});
io.of("/chat").on("connection", (s) => {
  s.join("r1");
  s.on("hello", (a, cb) => { cb("ok"); s.emit("back", 1, {k: [true, null]}); });
});
srv.listen(0, "127.0.0.1", async () => {
  const url = "http://127.0.0.1:" + srv.address().port;
  const bad = client(url + "/admin", {auth: {username: "admin", password: "nope"}, transports: ["websocket"]});
  await new Promise((r) => bad.on("connect_error", (e) => { out({refused: e.message}); r(); }));
  bad.close();
  const adm = client(url + "/admin", {auth: {username: "admin", password: "pw"}, transports: ["websocket"]});
  let sessionAfterConnect = false;
  adm.onAny((event, ...args) => out({event, args}));
  adm.once("connect", () => adm.on("session", () => { sessionAfterConnect = true; }));
  await new Promise((r) => adm.on("connect", r));
  await wait(100);
  const c = client(url + "/chat", {transports: ["polling"], query: {token: "t"}});
  await new Promise((r) => c.on("connect", r));
  await wait(100);
  await new Promise((r) => c.emit("hello", "x", r));
  await wait(100);
  adm.emit("_disconnect", "/chat", false, c.id);
  await new Promise((r) => c.on("disconnect", (reason) => { out({clientSaw: reason}); r(); }));
  await wait(2100);
  out({sessionAfterConnect});
  process.exit(0);
});
"""

DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@attrs.frozen
class NodeHandshake:
    headers: Any
    query: Any
    address: str
    url: str
    secure: bool
    issued: int
    time: str
    xdomain: bool


def posix(date: str) -> float:
    return datetime.strptime(date, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def rebuild_socket(s: dict[str, Any]) -> dict[str, Any]:
    """Node's SerializedSocket, rebuilt by serialize_socket from its values
    (no redaction: Node redacts nothing)."""
    hs = s["handshake"]
    handshake = NodeHandshake(headers=hs["headers"], query=hs["query"], address=hs["address"], url=hs["url"],
                              secure=hs["secure"], issued=hs["issued"], time=hs["time"], xdomain=hs["xdomain"])
    view = p.SocketView(id=s["id"], nsp=s["nsp"], handshake=handshake, rooms=s["rooms"], data=s["data"],
                        client_id=s["clientId"], transport=s["transport"])
    return p.serialize_socket(view, redact_headers=frozenset())


class NodeReferenceTests(unittest.TestCase):
    timeout = 60

    async def test_events_match_node(self) -> None:
        """Every admin event of Node's instrument() is what our builders make
        from the same values, key order included; the refusal message, the
        features, the date format and the stats keys agree; and the UI-style
        session listener (registered on connect) misses Node's session event,
        which is why ours comes after the CONNECT."""
        node_dir = require_node_modules("socket.io", "sioc4")
        node = require_tool("node")
        if not (ROOT_MODULES / "@socket.io" / "admin-ui" / "package.json").is_file():
            missing(f"{ROOT_MODULES}/@socket.io/admin-ui (run `npm ci` at the repository root)")
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "admin_reference.js"
            script.write_text(SCRIPT)
            result = await run_process([node, script, node_dir / "node_modules", ROOT_MODULES], timeout=40)
        self.assertEqual(result.exit_code, 0, result.describe())
        lines = [json.loads(line) for line in result.stdout_text.splitlines()]
        self.assertEqual(lines[0], {"refused": p.INVALID_CREDENTIALS})
        self.assertIn({"clientSaw": "io server disconnect"}, lines)
        self.assertIn({"sessionAfterConnect": False}, lines)
        events = [line for line in lines if "event" in line]
        names = [e["event"] for e in events]
        for name in ("session", "config", "all_sockets", "socket_connected", "room_joined", "event_received",
                     "event_sent", "socket_disconnected", "room_left", "server_stats"):
            self.assertIn(name, names)
        checked = 0
        for e in events:
            name, args = e["event"], e["args"]
            rebuilt: p.AdminEvent | None = None
            if name == "session":
                self.assertRegex(args[0], r"^[0-9a-f]{16}$")
                rebuilt = p.session_event(args[0])
            elif name == "config":
                rebuilt = p.config_event(p.supported_features(read_only=False, mode="development"))
            elif name == "all_sockets":
                rebuilt = p.all_sockets_event([rebuild_socket(s) for s in args[0]])
            elif name == "socket_connected":
                self.assertRegex(args[1], DATE)
                rebuilt = p.AdminEvent(name, (rebuild_socket(args[0]), p.js_date(posix(args[1]))))
            elif name in ("room_joined", "room_left"):
                builder = p.room_joined_event if name == "room_joined" else p.room_left_event
                rebuilt = builder(args[0], args[1], args[2], posix(args[3]))
            elif name == "socket_disconnected":
                rebuilt = p.socket_disconnected_event(args[0], args[1], args[2], posix(args[3]))
                self.assertEqual(args[2], "server namespace disconnect")
            elif name in ("event_received", "event_sent"):
                builder = p.event_received_event if name == "event_received" else p.event_sent_event
                rebuilt = builder(args[0], args[1], args[2][0], args[2][1:], posix(args[3]))
            elif name == "server_stats":
                stats = args[0]
                rebuilt = p.server_stats_event(
                    server_id=stats["serverId"], hostname=stats["hostname"], pid=stats["pid"],
                    uptime=stats["uptime"], clients_count=stats["clientsCount"],
                    polling_clients_count=stats["pollingClientsCount"],
                    aggregated_events=stats["aggregatedEvents"],
                    namespaces={n["name"]: n["socketsCount"] for n in stats["namespaces"]})
                for entry in stats["aggregatedEvents"]:
                    self.assertIn(entry["type"], {p.RAW_CONNECTION, p.RAW_DISCONNECTION, p.PACKETS_IN,
                                                  p.PACKETS_OUT, p.BYTES_IN, p.BYTES_OUT})
                    self.assertEqual(list(entry), ["timestamp", "type", "subType", "count"] if "subType" in entry
                                     else ["timestamp", "type", "count"])
            self.assertIsNotNone(rebuilt, f"unexpected admin event {name}")
            assert rebuilt is not None
            self.assertEqual(rebuilt.name, name)
            # Same values and the same key order as Node's JSON.
            self.assertEqual(json.dumps(list(rebuilt.args)), json.dumps(args), name)
            checked += 1
        self.assertEqual(checked, len(events))
        # The sent event of the ack-answering handler is reported; the ack itself is not.
        sent = [e["args"][2] for e in events if e["event"] == "event_sent"]
        self.assertEqual(sent, [["back", 1, {"k": [True, None]}]])
