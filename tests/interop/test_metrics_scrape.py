"""``twistd txsocketio --metrics /metrics`` scraped while real clients come and go.

A real ``twistd`` process serves ``tests/apps/admin_app.py``; a Node script
opens three official socket.io-client 4 connections (two WebSocket-only, one
long-polling-only), each emits ``echo`` with an ack, one ``shout``s (a
broadcast to all three), then waits.  The first scrape must show exactly
that (and two refused requests, counted by Engine.IO error code); then one client leaves by itself, one is disconnected by the server
(``bye``) and one closes its connection, and the second scrape must show
them gone, each with its reason.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import treq
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool

from tests.support import (PROJECT_ROOT, ServerProcess, free_port, poll_until, require_node_modules, require_tool,
                           sleep, spawn)

SCRIPT = r"""
const [nodeModules, url] = process.argv.slice(2);
const { io } = require(nodeModules + "/sioc4");
const say = (o) => console.log(JSON.stringify(o));
const connected = (s) => new Promise((ok, ko) => { s.once("connect", ok); s.once("connect_error", ko); });
(async () => {
  const opts = (transports) => ({transports, reconnection: false, forceNew: true});
  const [a, b, c] = [io(url, opts(["websocket"])), io(url, opts(["websocket"])), io(url, opts(["polling"]))];
  await Promise.all([a, b, c].map(connected));
  const heard = Promise.all([a, b, c].map((s) => new Promise((ok) => s.once("heard", ok))));
  const echoes = await Promise.all([a, b, c].map((s) => s.emitWithAck("echo", "hello")));
  a.emit("shout", "hi");
  await heard;
  say({phase: "connected", echoes});
  process.stdin.once("data", async () => {
    const gone = (s) => new Promise((ok) => s.once("disconnect", ok));
    const reasons = [gone(a), gone(b), gone(c)];
    a.disconnect();          // the client leaves: "client namespace disconnect"
    b.emit("bye");           // the server disconnects it: "server namespace disconnect"
    c.io.engine.close();     // the connection ends (the client says "forced close", the server "transport close")
    say({phase: "left", reasons: await Promise.all(reasons)});
    process.exit(0);
  });
})().catch((e) => { say({error: String(e)}); process.exit(1); });
"""


def _twistd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=", *args]


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


class MetricsScrapeTests(unittest.TestCase):
    timeout = 90

    async def test_numbers_match_what_happened(self) -> None:
        """The scraped figures are the clients, sockets, events, bytes,
        broadcast, acks and disconnect reasons of the clients' run."""
        node_dir = require_node_modules("sioc4")
        node = require_tool("node")
        port = free_port()
        logfile = os.path.join(tempfile.mkdtemp(), "twistd.log")
        server = ServerProcess(_twistd(
            "--logfile", logfile, "txsocketio", "--app", "tests.apps.admin_app:make_server",
            "--listen", f"tcp:{port}:interface=127.0.0.1", "--shutdown-timeout", "1", "--metrics", "/metrics"),
            port, cwd=PROJECT_ROOT)
        self.addCleanup(server.stop)
        await server.start()
        pool = HTTPConnectionPool(reactor, persistent=False)

        async def scrape() -> dict[Any, float]:
            response = await treq.get(f"http://127.0.0.1:{port}/metrics", pool=pool)
            self.assertEqual(response.code, 200)
            return values((await response.content()).decode("utf-8"))

        before = await scrape()
        self.assertEqual(before[("socketio_events_received_total", ())], 0)
        unknown_sid = ("engineio_handshake_errors_total", (("code", "1"), ("message", "Session ID unknown")))
        unknown_transport = ("engineio_handshake_errors_total", (("code", "0"), ("message", "Transport unknown")))
        self.assertEqual((before[unknown_sid], before[unknown_transport]), (0, 0))
        # Two refused requests: counted by Engine.IO error code.
        for query in ("EIO=4&transport=polling&sid=nope", "EIO=4&transport=carrier-pigeon"):
            response = await treq.get(f"http://127.0.0.1:{port}/socket.io/?{query}", pool=pool)
            self.assertEqual(response.code, 400)
            await response.content()
        tmp = tempfile.mkdtemp()
        script = Path(tmp) / "metrics_clients.js"
        script.write_text(SCRIPT)
        clients = spawn([node, script, node_dir / "node_modules", f"http://127.0.0.1:{port}"])

        def stop_clients() -> Any:
            clients.signal("KILL")
            return clients.when_ended()

        self.addCleanup(stop_clients)

        def lines() -> list[dict[str, Any]]:
            return [json.loads(x) for x in clients.stdout.decode().splitlines() if x.startswith("{")]

        await poll_until(lambda: lines() or clients.ended, 30, message=lambda: clients.stderr.decode())
        self.assertEqual(lines()[0], {"phase": "connected", "echoes": ["hello"] * 3}, clients.stderr.decode())

        v = await scrape()
        echo, shout, heard = '20["echo","hello"]', '2["shout","hi"]', '2["heard","hi"]'
        expect = {
            ("engineio_clients", (("protocol", "4"), ("transport", "websocket"))): 2,
            ("engineio_clients", (("protocol", "4"), ("transport", "polling"))): 1,
            ("socketio_sockets", (("namespace", "/"),)): 3,
            ("socketio_connects_total", (("namespace", "/"),)): 3,
            ("socketio_events_received_total", ()): 4,
            ("socketio_received_bytes_total", ()): 3 * len(echo) + len(shout),
            ("socketio_events_sent_total", ()): 3,
            ("socketio_sent_bytes_total", ()): 3 * len(heard),
            ("socketio_broadcasts_total", ()): 1,
            ("socketio_broadcast_deliveries_total", ()): 3,
            ("socketio_acks_sent_total", ()): 3,
            ("socketio_acks_received_total", ()): 0,
            unknown_sid: 1,
            unknown_transport: 1,
        }
        self.assertEqual({k: v[k] for k in expect}, expect)

        clients.transport.write(b"go\n")
        await poll_until(lambda: len(lines()) > 1 or clients.ended, 30, message=lambda: clients.stderr.decode())
        self.assertEqual(lines()[1], {"phase": "left", "reasons": [
            "io client disconnect", "io server disconnect", "forced close"]})

        open_sessions = [("engineio_clients", (("protocol", "4"), ("transport", t))) for t in ("polling", "websocket")]
        for _ in range(100):  # the server sees the last close a moment after the client
            v = await scrape()
            if not any(v[k] for k in open_sessions):
                break
            await sleep(0.05)
        expect = {
            ("engineio_clients", (("protocol", "4"), ("transport", "websocket"))): 0,
            ("engineio_clients", (("protocol", "4"), ("transport", "polling"))): 0,
            ("socketio_sockets", (("namespace", "/"),)): 0,
            ("socketio_connects_total", (("namespace", "/"),)): 3,
            ("socketio_disconnects_total", (("reason", "client namespace disconnect"),)): 1,
            ("socketio_disconnects_total", (("reason", "server namespace disconnect"),)): 1,
            ("socketio_disconnects_total", (("reason", "transport close"),)): 1,
        }
        self.assertEqual({k: v[k] for k in expect}, expect)
