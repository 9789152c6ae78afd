"""Socket.IO interop: official clients against ``tests/apps/interop_app.py``.

* socket.io-client 4.x, 3.x (protocol v5 on Engine.IO 4) and 2.x (protocol
  v4 on Engine.IO 3), driven by ``tests/node/sio_client.js``: one node process
  per client major x transport mode runs every scenario (events and acks both
  ways, binary, 60 calls in flight with large payloads, namespaces,
  refusals, rooms and broadcasts with exclusions, disconnect reasons on both
  sides; see the script's header) and prints one JSON line with a result per
  scenario.  A second run connects and vanishes: the server must notice
  ("transport close", or "ping timeout" for a long-polling client).
* python-socketio's ``socketio.Client`` (thread-based, run with
  ``deferToThread``): auth, events, ``call()`` acks both ways, binary, a
  class-based namespace, rooms, refusals (``socketio.exceptions.ConnectionError``)
  and disconnect reasons.

Each test starts its own server on a free port (short heartbeat: ping
interval 0.5 s, timeout 4 s, so heartbeats happen during the scenarios).
Transport modes: websocket only, polling only, and polling then the upgrade
to WebSocket.  Without node (or ``npm ci`` in tests/node) the node tests
(and without python-socketio[client], the python-socketio tests) skip, and
fail under ``CI=true``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback

from twisted.internet import threads
from twisted.trial import unittest

from tests.support import (
    NODE_DIR,
    PROJECT_ROOT,
    ServerProcess,
    free_port,
    missing,
    require_node,
    require_node_modules,
    run_process,
)

APP_SCRIPT = PROJECT_ROOT / "tests" / "apps" / "interop_app.py"
CLIENT_SCRIPT = NODE_DIR / "sio_client.js"

PING_INTERVAL = 0.5
PING_TIMEOUT = 4.0  # generous: a loaded 2-core CI machine running -j2 must not miss a pong

POLLING = "polling"
WEBSOCKET = "websocket"
UPGRADE = "polling,websocket"

#: What every node client runs (sio_client.js scenarios, in this order:
#: server_ack_all needs to be alone on the server, so it goes first).
NODE_SCENARIOS = [
    "server_ack_all", "connect", "echo", "burst", "ask", "namespace", "refuse", "private", "rooms",
    "server_disconnect", "client_disconnect", "transport_close",
]
#: Scenarios whose "transport" detail is the final transport of their main socket.
TRANSPORT_CHECKED = ["connect", "echo", "burst", "ask", "namespace", "refuse", "private", "rooms"]


def final_transport(transports: str) -> str:
    return WEBSOCKET if transports in (WEBSOCKET, UPGRADE) else POLLING


class InteropServerTestCase(unittest.TestCase):
    """Starts interop_app.py on a free port for each test."""

    async def start_server(self):
        self.assertTrue(APP_SCRIPT.is_file(), f"{APP_SCRIPT} is missing")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server = ServerProcess(
            [sys.executable, str(APP_SCRIPT), "--port", str(port),
             "--ping-interval", str(PING_INTERVAL), "--ping-timeout", str(PING_TIMEOUT)],
            port)
        self.addCleanup(self.server.stop)
        await self.server.start()


# ---------------------------------------------------------------------------
# socket.io-client (node)


class NodeClientTestCase(InteropServerTestCase):

    async def setUp(self):
        require_node_modules("sioc4", "sioc3", "sioc2")
        self.assertTrue(CLIENT_SCRIPT.is_file(), f"{CLIENT_SCRIPT} is missing")
        await self.start_server()

    async def run_client(self, client, transports, scenarios, *, timeout_ms=40000):
        """Run sio_client.js -> (its JSON result, context for messages)."""
        argv = [require_node(), str(CLIENT_SCRIPT), "--client", client, "--url", self.url,
                "--transports", transports, "--scenario", ",".join(scenarios),
                "--timeout", str(timeout_ms)]
        result = await run_process(argv, cwd=NODE_DIR, timeout=timeout_ms / 1000 + 10)
        context = (f"\n=== client {' '.join(argv[1:])}\n{result.describe()}"
                   f"\n=== server\n{self.server.describe()}")
        lines = result.stdout_text.strip().splitlines()
        self.assertTrue(lines, f"no output from the client{context}")
        try:
            data = json.loads(lines[-1])
        except ValueError:
            self.fail(f"client output is not JSON{context}")
        self.assertEqual(sorted(data.get("scenarios", {})), sorted(scenarios), context)
        self.assertEqual(result.exit_code, 0 if data.get("ok") else 1, context)
        return data, context

    def assert_scenarios_passed(self, data, context):
        failures = [f"  {name}: {r.get('error')}" for name, r in data["scenarios"].items()
                    if not r.get("ok")]
        if failures:
            self.fail(f"{data['client']} {data['version']} over {','.join(data['transports'])}: "
                      f"{len(failures)} of {len(data['scenarios'])} scenarios failed:\n"
                      + "\n".join(failures) + context)

    async def check_all(self, client, transports):
        data, context = await self.run_client(client, transports, NODE_SCENARIOS)
        self.assert_scenarios_passed(data, context)
        scenarios = data["scenarios"]
        final = final_transport(transports)
        for name in TRANSPORT_CHECKED:
            self.assertEqual(scenarios[name].get("transport"), final,
                             f"{name}: final transport{context}")
        # What the server saw is what the client sent.
        seen = scenarios["connect"]["seen"]
        self.assertEqual(seen["id"], scenarios["connect"]["socket_id"], context)
        if client == "sioc2":
            self.assertEqual(seen["auth"], {}, context)
            self.assertEqual((seen["query"]["token"], seen["query"]["n"]), ("abc", "1"), context)
        else:
            self.assertEqual(seen["auth"], {"token": "abc", "n": 1}, context)
        echoes = scenarios["echo"]["echoes"]
        self.assertEqual(len(echoes), 18 if transports == UPGRADE else 9, context)
        if transports == UPGRADE:
            self.assertEqual({e["transport"] for e in echoes if e["phase"] == "upgraded"},
                             {WEBSOCKET}, context)
        self.assertEqual(scenarios["server_disconnect"]["client_reason"], "io server disconnect",
                         context)
        self.assertEqual(scenarios["client_disconnect"]["server_reason"],
                         "client namespace disconnect", context)
        self.assertEqual(scenarios["transport_close"]["server_reason"], "transport close", context)
        await self.check_vanish(client, transports)

    async def check_vanish(self, client, transports):
        """A client that just goes away: over WebSocket the server sees
        "transport close" at once; a long-polling client is noticed when
        its pong is missing, "ping timeout", or at once ("transport close")
        when its long-poll GET was pending as the process died (both as
        Node's server; which one depends on where the client was)."""
        data, context = await self.run_client(client, transports, ["vanish"])
        self.assert_scenarios_passed(data, context)
        sid = data["scenarios"]["vanish"]["socket_id"]
        expected = ("ping timeout", "transport close") if transports == POLLING else ("transport close",)

        def disconnect_line(text):
            return next((line for line in text.splitlines()
                         if f"socket {sid} disconnected:" in line), None)

        line = await self.server.wait_for_output(disconnect_line,
                                                 timeout=PING_INTERVAL + PING_TIMEOUT + 3)
        self.assertTrue(line.endswith(tuple(f"disconnected: {reason}" for reason in expected)),
                        f"expected one of {expected!r}: {line}{context}")


class SocketIOClient4Tests(NodeClientTestCase):
    """socket.io-client 4.x: every scenario over each transport mode."""

    async def test_websocket(self):
        await self.check_all("sioc4", WEBSOCKET)

    async def test_polling(self):
        await self.check_all("sioc4", POLLING)

    async def test_upgrade(self):
        await self.check_all("sioc4", UPGRADE)


class SocketIOClient3Tests(NodeClientTestCase):
    """socket.io-client 3.x: every scenario over each transport mode."""

    async def test_websocket(self):
        await self.check_all("sioc3", WEBSOCKET)

    async def test_polling(self):
        await self.check_all("sioc3", POLLING)

    async def test_upgrade(self):
        await self.check_all("sioc3", UPGRADE)


class SocketIOClient2Tests(NodeClientTestCase):
    """socket.io-client 2.x (protocol v4, Engine.IO 3): every scenario over
    each transport mode.  Where Node's server treats 2.x clients specially,
    the scenarios expect what Node does: a refusal's payload is
    ``err.data || err.message`` and a namespace's query is its auth."""

    async def test_websocket(self):
        await self.check_all("sioc2", WEBSOCKET)

    async def test_polling(self):
        await self.check_all("sioc2", POLLING)

    async def test_upgrade(self):
        await self.check_all("sioc2", UPGRADE)


# ---------------------------------------------------------------------------
# python-socketio (socketio.Client, in a thread)


class _Inbox:
    """Thread-safe record of received events; wait for one by name."""

    def __init__(self):
        self._items = []
        self._cond = threading.Condition()

    def put(self, name, *args):
        with self._cond:
            self._items.append((name, args))
            self._cond.notify_all()

    def names(self):
        with self._cond:
            return [name for name, _ in self._items]

    def wait(self, name, timeout=5.0, start=0, match=None):
        """The args of the first ``name`` event at index >= start (whose
        args satisfy ``match``, if given)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for name_, args in self._items[start:]:
                    if name_ == name and (match is None or match(args)):
                        return args
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {name!r} event within {timeout} s; got {self.names()}")
                self._cond.wait(left)

    def since(self, start, name):
        """The first argument of each ``name`` event at index >= start."""
        with self._cond:
            return [args[0] for name_, args in self._items[start:] if name_ == name]


def _expect(what, actual, expected):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


class PythonClientSession:
    """Every check with python-socketio over one transport mode, run in a thread.

    ``run()`` returns ``{step: None or error text}``; steps after a failed
    connect are skipped.
    """

    ECHO_CASES = [
        ("text", ("hello",)),
        ("numbers and literals", (1, 2.5, -3, True, False, None)),
        ("nested", ({"a": [1, {"b": "c"}], "d": {"e": {"f": []}}},)),
        ("unicode", ("h\u00e9llo \u2603 \U0001F600", {"cl\u00e9": "\u4e2d\u6587"})),
        ("binary", (b"\x01\x02\x03\xff",)),
        ("binary nested", ("text", {"bin": b"\x00\x01", "list": [b"\x03", "x", {"deep": b"\x04"}]})),
    ]

    def __init__(self, url, transports):
        import socketio

        self.socketio = socketio
        self.url = url
        self.transports = transports.split(",")
        self.final = final_transport(transports)
        self.results = {}
        self.clients = []
        self.details = {}

    def client(self):
        sio = self.socketio.Client(reconnection=False)
        self.clients.append(sio)
        return sio

    def step(self, name, fn):
        try:
            fn()
        except Exception:
            self.results[name] = traceback.format_exc(limit=4)
            return False
        self.results[name] = None
        return True

    def run(self):
        try:
            if self.step("connect", self.connect):
                for name in ("server_ack_all", "echo", "ask", "namespace", "rooms",
                             "server_disconnect", "client_disconnect"):
                    self.step(name, getattr(self, name))
            self.step("refuse", self.refuse)
            self.step("private", self.private)
        finally:
            for sio in self.clients:
                try:
                    sio.disconnect()
                except Exception:
                    pass
        return self.results

    # -- steps --------------------------------------------------------------------

    def connect(self):
        sio = self.a = self.client()
        inbox = self.inbox = _Inbox()
        for event in ("auth", "answer", "room_msg", "sync"):
            sio.on(event, lambda *args, _e=event: inbox.put(_e, *args))
        sio.on("welcome", lambda *args: inbox.put("welcome", *args), namespace="/chat")
        sio.on("said", lambda *args: inbox.put("said", *args), namespace="/chat")

        def question(*args):
            inbox.put("question", *args)
            return "answer!", b"\x09\x08\x07", {"nested": b"\x06"}

        sio.on("question", question)
        sio.on("ping_all", lambda *args: {"from": "py", "args": list(args)})
        sio.connect(self.url + "?q=1", auth={"token": "abc", "n": 1}, transports=self.transports,
                    namespaces=["/", "/chat"], wait_timeout=5)
        (seen,) = inbox.wait("auth")
        self.details["auth_event"] = seen
        _expect("auth", seen["auth"], {"token": "abc", "n": 1})
        _expect("query q", seen["query"].get("q"), "1")
        _expect("socket id", seen["id"], sio.get_sid("/"))
        _expect("transport", sio.transport(), self.final)
        hs = sio.call("handshake", timeout=5)
        _expect("server-side transport", hs["transport"], self.final)

    def server_ack_all(self):
        result = self.a.call("server_ack_all", ("hi", 7), timeout=5)
        _expect("server_ack_all", result, {"ok": True, "responses": [{"from": "py", "args": ["hi", 7]}]})

    def echo(self):
        for name, args in self.ECHO_CASES:
            got = self.a.call("echo", args, timeout=5)
            # call() gives one argument as is, several as a tuple.
            _expect(f"echo {name}", got if len(args) > 1 else (got,), args)
        _expect("echo without arguments", self.a.call("echo", timeout=5), None)

    def ask(self):
        start = len(self.inbox.names())
        _expect("ask ack", self.a.call("ask", ("why?", 42), timeout=5), True)
        (question,) = self.inbox.wait("question", start=start)
        _expect("question", question, {"text": "what?", "bin": b"\x00\x01\xfe\xff", "args": ["why?", 42]})
        (answer,) = self.inbox.wait("answer", start=start)
        _expect("answer", answer, ["answer!", b"\x09\x08\x07", {"nested": b"\x06"}])

    def namespace(self):
        (welcome,) = self.inbox.wait("welcome")
        chat_sid = self.a.get_sid("/chat")
        _expect("welcome", welcome, {"nsp": "/chat", "id": chat_sid, "auth": {"token": "abc", "n": 1}})
        if chat_sid == self.a.get_sid("/"):
            raise AssertionError("/chat and / have the same socket id")
        got = self.a.call("echo", ("chat", {"bin": b"\x07\x07"}), namespace="/chat", timeout=5)
        _expect("/chat echo", got, ("chat", {"bin": b"\x07\x07"}))
        # A second lobby member hears "say"; the sender does not.
        b = self.client()
        b_inbox = _Inbox()
        b.on("said", lambda *args: b_inbox.put("said", *args), namespace="/chat")
        b.connect(self.url, transports=self.transports, namespaces=["/chat"], wait_timeout=5)
        start = len(self.inbox.names())
        _expect("say ack", self.a.call("say", "hi lobby", namespace="/chat", timeout=5), "delivered")
        (said,) = b_inbox.wait("said")
        _expect("said", said, {"from": chat_sid, "text": "hi lobby"})
        self.a.call("echo", "sync", namespace="/chat", timeout=5)
        if "said" in self.inbox.names()[start:]:
            raise AssertionError("the sender got its own 'said'")
        b.disconnect()

    def rooms(self):
        b = self.b = self.client()
        b_inbox = self.b_inbox = _Inbox()
        for event in ("room_msg", "sync"):
            b.on(event, lambda *args, _e=event: b_inbox.put(_e, *args))
        b.connect(self.url, transports=self.transports, wait_timeout=5)
        _expect("join", self.a.call("join", "r1", timeout=5), True)
        _expect("rooms", self.a.call("rooms", timeout=5), sorted([self.a.get_sid("/"), "r1"]))

        def step(label, sender, event, spec, a_expected, b_expected):
            # Then an "all" sync marker: once both have it, what they did
            # not get they will not get.
            a_start, b_start = len(self.inbox.names()), len(b_inbox.names())
            _expect(f"{label}: ack", sender.call(event, spec, timeout=5), True)
            sender.call("all", {"event": "sync", "data": label}, timeout=5)
            for inbox, start in ((self.inbox, a_start), (b_inbox, b_start)):
                inbox.wait("sync", start=start, match=lambda args: args == (label,))
            got = {"A": self.inbox.since(a_start, "room_msg"), "B": b_inbox.since(b_start, "room_msg")}
            _expect(label, got, {"A": a_expected, "B": b_expected})

        msg = {"event": "room_msg"}
        step("to_room r1 from B (not a member)", b, "to_room", {"room": "r1", **msg, "data": "b"}, ["b"], [])
        step("to_room r1 from A (member)", self.a, "to_room", {"room": "r1", **msg, "data": "a"}, [], [])
        step("broadcast from A", self.a, "broadcast", {**msg, "data": "x"}, [], ["x"])
        step("all from B", b, "all", {**msg, "data": "all"}, ["all"], ["all"])
        step("sio.to(r1).except_(A) from B", b, "to_room_except",
             {"room": "r1", "except": self.a.get_sid("/"), **msg, "data": "e"}, [], [])

    def server_disconnect(self):
        b = self.b
        sid = b.get_sid("/")
        reasons = _Inbox()
        b.on("disconnect", lambda *args: reasons.put("disconnect", *args))
        b.emit("server_disconnect")
        (reason,) = reasons.wait("disconnect")
        _expect("client-side reason", reason, b.reason.SERVER_DISCONNECT)
        _expect("server-side reason", self.last_disconnect(self.a, sid), "server namespace disconnect")

    def client_disconnect(self):
        a = self.a
        sids = {"/": a.get_sid("/"), "/chat": a.get_sid("/chat")}
        a.disconnect()
        observer = self.client()
        observer.connect(self.url, transports=self.transports, wait_timeout=5)
        # python-engineio's disconnect() queues the DISCONNECT and CLOSE
        # packets for its writer thread, then sets its state to
        # "disconnecting" (which ends the writer's loop before it sends them
        # if it was between two sends) and closes a WebSocket at once.  So
        # they may never be sent: then the server sees the WebSocket go
        # ("transport close") or the poller stop answering pings ("ping
        # timeout"), as Node's server would.  The node clients check the
        # reason strictly.
        allowed = {"client namespace disconnect", "transport close"}
        if self.final != WEBSOCKET:
            allowed.add("ping timeout")  # or "transport close" if its long-poll GET was pending
        for nsp, sid in sids.items():
            reason = self.last_disconnect(observer, sid)
            self.details[f"client_disconnect {nsp}"] = reason
            if reason not in allowed:
                raise AssertionError(f"server-side reason in {nsp}: expected one of {sorted(allowed)}, "
                                     f"got {reason!r}")

    def last_disconnect(self, via, sid, timeout=PING_INTERVAL + PING_TIMEOUT + 3):
        deadline = time.monotonic() + timeout
        while True:
            reason = via.call("last_disconnect", sid, timeout=5)
            if reason is not None or time.monotonic() > deadline:
                return reason
            time.sleep(0.05)

    def _refused(self, namespace, **kwargs):
        sio = self.client()
        errors = _Inbox()
        sio.on("connect_error", lambda *args: errors.put("connect_error", *args), namespace=namespace)
        try:
            sio.connect(self.url, transports=self.transports, namespaces=[namespace], wait_timeout=5,
                        **kwargs)
        except self.socketio.exceptions.ConnectionError as e:
            (data,) = errors.wait("connect_error")
            return str(e), data
        raise AssertionError(f"connected to {namespace}; it should have been refused")

    def refuse(self):
        message, data = self._refused("/refuse")
        self.details["refuse"] = (message, data)
        _expect("refusal", data, {"message": "not allowed", "data": {"code": 42}})
        if "/refuse" not in message:
            raise AssertionError(f"ConnectionError does not name /refuse: {message!r}")

    def private(self):
        for auth in (None, {"token": "nope"}):
            _, data = self._refused("/private", auth=auth)
            _expect(f"refusal with auth {auth}", data, {"message": "bad token", "data": {"code": 401}})
        sio = self.client()
        inbox = _Inbox()
        sio.on("private_ok", lambda *args: inbox.put("private_ok", *args), namespace="/private")
        sio.connect(self.url, transports=self.transports, namespaces=["/private"],
                    auth={"token": "s3cret"}, wait_timeout=5)
        (ok,) = inbox.wait("private_ok")
        _expect("private_ok", ok, {"id": sio.get_sid("/private")})
        _expect("/private echo", sio.call("echo", "in", namespace="/private", timeout=5), "in")


class PythonSocketIOClientTests(InteropServerTestCase):
    """python-socketio's socketio.Client over each transport mode."""

    async def setUp(self):
        try:
            import socketio  # noqa: F401
            import websocket  # noqa: F401  (websocket-client, from the [client] extra)
        except ImportError:
            missing("python-socketio[client]")
        await self.start_server()

    async def check(self, transports):
        session = PythonClientSession(self.url, transports)
        results = await threads.deferToThread(session.run)
        failures = {name: error for name, error in results.items() if error is not None}
        if failures:
            report = "\n".join(f"--- {name}\n{error}" for name, error in failures.items())
            self.fail(f"python-socketio over {transports}: {len(failures)} of {len(results)} "
                      f"steps failed:\n{report}\n=== server\n{self.server.describe()}")
        self.assertEqual(len(results), 10, results)

    async def test_websocket(self):
        await self.check(WEBSOCKET)

    async def test_polling(self):
        await self.check(POLLING)

    async def test_upgrade(self):
        await self.check(UPGRADE)
