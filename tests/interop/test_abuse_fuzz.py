"""
Wire-level fuzzing of a real ``twistd -n txsocketio --app`` process: a few
thousand mutated Engine.IO and Socket.IO packets over WebSocket and
long-polling (seeded, bounded, loopback only).  Afterwards the server's log
holds no traceback, no "Unhandled" error and no critical line, and the
server still answers a fresh handshake and an echo ack from a real client
(python-socketio's).

The fuzzing client is plain blocking code (websocket-client and http.client)
run in a thread, so that it can be as rude as it likes; the server is the
separate process under test.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import sys
import tempfile
from typing import Any

import websocket
from twisted.internet import threads
from twisted.trial.unittest import TestCase

from tests.support import PROJECT_ROOT, ServerProcess, free_port
from txsocketio.socketio.packet import Packet, PacketType, encode

#: Mutated messages sent over each transport.
MESSAGES_PER_TRANSPORT = 1500
SEED = 1126

_ALPHABET = '0123456789-/,?[]{}":_abeflnrstuN .\\\x1e\x00\udfff'


def twistd(*args: str) -> list[str]:
    """
    The command line of ``twistd -n --pidfile= ARGS`` with our interpreter.
    """
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
            "-n", "--pidfile=", *args]


def start_abuse_app(testcase: TestCase, *extra: str) -> tuple[ServerProcess, str]:
    """
    Start ``twistd txsocketio --app tests.apps.abuse_app:sio`` on a free
    port, logging to a file; stop it at cleanup.  Returns the process and
    the log file's path.
    """
    port = free_port()
    logfile = os.path.join(tempfile.mkdtemp(), "twistd.log")
    server = ServerProcess(
        twistd("--logfile", logfile, "txsocketio", "--app", "tests.apps.abuse_app:sio",
               "--listen", f"tcp:{port}:interface=127.0.0.1", *extra),
        port, cwd=PROJECT_ROOT, name="twistd txsocketio")
    testcase.addCleanup(server.stop)
    return server, logfile


def log_problems(logfile: str) -> list[str]:
    """
    The lines of a twistd log that show a bug: tracebacks, unhandled errors,
    critical messages.
    """
    with open(logfile, encoding="utf-8", errors="replace") as f:
        return [line for line in f
                if "Traceback" in line or "Unhandled" in line or "#critical]" in line]


class Mutator:
    """
    Seeded mutations of valid Engine.IO/Socket.IO messages.
    """

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def value(self, depth: int = 0, binary: bool = True) -> Any:
        rnd = self.random
        kind = rnd.randrange(8 if depth < 3 else 5)
        if kind == 0:
            return rnd.choice([None, True, False, 0, -1, 2**53, 1.5, 1e300])
        if kind == 1:
            return "".join(rnd.choice(_ALPHABET[:-3] + "é😀") for _ in range(rnd.randint(0, 8)))
        if kind == 2:
            return rnd.randint(-(2**31), 2**31)
        if kind == 3:
            return rnd.randbytes(rnd.randint(0, 8)) if binary else None
        if kind == 4:
            return rnd.random()
        if kind in (5, 6):
            return [self.value(depth + 1, binary) for _ in range(rnd.randint(0, 3))]
        return {str(rnd.randint(0, 9)): self.value(depth + 1, binary)
                for _ in range(rnd.randint(0, 3))}

    def socketio_messages(self) -> list[str | bytes]:
        """
        A valid Socket.IO packet as Engine.IO message bodies.
        """
        rnd = self.random
        namespace = rnd.choice(["/", "/", "/", "/nope", "/a,b"[:2]])
        kind = rnd.randrange(6)
        if kind == 0:
            packet = Packet(PacketType.CONNECT, namespace, rnd.choice([None, {"t": self.value(binary=False)}]))
        elif kind == 1:
            packet = Packet(PacketType.DISCONNECT, namespace)
        elif kind in (2, 3):
            name = rnd.choice(["echo", "echo", "join", "tables", "nothing", "fanout"])
            args: list[Any] = [self.value() for _ in range(rnd.randint(0, 3))]
            if name == "fanout":
                args = [{"room": "r", "count": rnd.randint(0, 3), "size": rnd.randint(0, 50)}]
            packet = Packet(PacketType.EVENT, namespace, [name, *args],
                            rnd.choice([None, rnd.randint(0, 2**53 - 1)]))
        elif kind == 4:
            packet = Packet(PacketType.ACK, namespace, [self.value()], rnd.randint(0, 10))
        else:
            packet = Packet(PacketType.CONNECT_ERROR, namespace, {"message": "x"})
        return list(encode(packet))

    def mutate_text(self, text: str) -> str:
        rnd = self.random
        for _ in range(rnd.randint(1, 3)):
            op = rnd.randrange(7)
            at = rnd.randint(0, len(text))
            if op == 0:
                text = text[:at]
            elif op == 1:
                text = text[:at] + rnd.choice(_ALPHABET) + text[at:]
            elif op == 2:
                text = text[:at] + text[at + 1:]
            elif op == 3:
                end = rnd.randint(at, len(text))
                text = text[:end] + text[at:end] + text[end:]
            elif op == 4:
                text = text[:at] + rnd.choice(["[" * 3000, "{\"a\":" * 500, "9" * 400,
                                               "\\ud800", "1e999", "-", "\x1e"]) + text[at:]
            elif op == 5 and text:
                text = rnd.choice("0123456789b") + text[1:]
            # op 6: leave it valid
        return text

    def engineio_message(self) -> str | bytes:
        """
        One Engine.IO message (text or binary), more or less broken.
        """
        rnd = self.random
        roll = rnd.random()
        if roll < 0.1:
            return rnd.choice(["2", "3", "5", "6", "1", "0", "2probe", "3probe", "",
                               "4", "9", "b", "bAAA", "4" + "x" * 100])
        if roll < 0.2:
            return rnd.randbytes(rnd.randint(0, 12))
        messages = self.socketio_messages()
        if rnd.random() < 0.7:
            messages[0] = self.mutate_text(str(messages[0]))
        if len(messages) > 1 and rnd.random() < 0.3:
            messages = messages[: rnd.randint(1, len(messages))]
        chosen = messages[rnd.randrange(len(messages))] if rnd.random() < 0.2 else messages[0]
        if isinstance(chosen, bytes):
            return chosen
        prefix = "4" if rnd.random() < 0.9 else rnd.choice("0123456789")
        return prefix + chosen


def fuzz_websocket(port: int, mutator: Mutator, count: int) -> dict[str, int]:
    """
    Send C{count} mutated messages over WebSocket sessions, opening a new
    session whenever the server closes one.
    """
    stats = {"sent": 0, "sessions": 0, "closed_by_server": 0}
    url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    ws = None
    while stats["sent"] < count:
        if ws is None:
            ws = websocket.create_connection(url, timeout=5)
            stats["sessions"] += 1
            ws.recv()  # the open packet
            ws.send("40")
        message = mutator.engineio_message()
        try:
            if isinstance(message, bytes):
                ws.send_binary(message)
            elif mutator.random.random() < 0.02:
                ws.send(message.encode("utf-8", "surrogatepass")[:-1] + b"\xff",
                        opcode=websocket.ABNF.OPCODE_TEXT)  # invalid UTF-8
            else:
                ws.send(message.encode("utf-8", "surrogatepass"),
                        opcode=websocket.ABNF.OPCODE_TEXT)
            stats["sent"] += 1
            # A ping round trip after each message: the next message goes
            # to a live session, or to a new one if the server closed this.
            ws.ping()
            while True:
                frame = ws.recv_frame()
                if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                    raise websocket.WebSocketConnectionClosedException()
                if frame.opcode == websocket.ABNF.OPCODE_PONG:
                    break
        except (websocket.WebSocketException, OSError):
            stats["closed_by_server"] += 1
            ws.close()
            ws = None
    if ws is not None:
        ws.close()
    return stats


def fuzz_polling(port: int, mutator: Mutator, count: int) -> dict[str, int]:
    """
    Send C{count} mutated payloads by long-polling POSTs (and some mangled
    requests), opening a new session whenever the server ends one.
    """
    rnd = mutator.random
    stats = {"sent": 0, "sessions": 0, "answers": 0}
    sid = None
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(method: str, query: str, body: bytes | None = None) -> tuple[int, bytes]:
        nonlocal connection
        for attempt in range(2):
            try:
                connection.request(method, "/socket.io/?" + query, body=body,
                                   headers={"Content-Type": "text/plain;charset=UTF-8"})
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        raise AssertionError(f"the server does not answer {method} ?{query}")

    while stats["sent"] < count:
        if sid is None:
            status, body = request("GET", "EIO=4&transport=polling")
            assert status == 200, (status, body)
            sid = json.loads(body[1:])["sid"]
            stats["sessions"] += 1
            request("POST", f"EIO=4&transport=polling&sid={sid}", b"40")
            request("GET", f"EIO=4&transport=polling&sid={sid}")  # 40{"sid":...}
        parts = []
        for _ in range(rnd.randint(1, 4)):
            message = mutator.engineio_message()
            if isinstance(message, bytes):
                message = "b" + base64.b64encode(message).decode("ascii")
            parts.append(message)
        body = "\x1e".join(parts).encode("utf-8", "surrogatepass")
        if rnd.random() < 0.03:
            body = body[: rnd.randint(0, len(body))] + rnd.randbytes(3)
        query = f"EIO=4&transport=polling&sid={sid}"
        if rnd.random() < 0.05:
            query = rnd.choice([f"EIO=5&transport=polling&sid={sid}", "EIO=4&transport=polling&sid=bogus",
                                f"EIO=4&transport=flash&sid={sid}", "EIO=&transport=polling",
                                f"EIO=4&transport=websocket&sid={sid}", "j=0&EIO=4&transport=polling"])
        status, answer = request(rnd.choice(["POST"] * 9 + ["PUT"]), query, body)
        stats["sent"] += 1
        stats["answers"] += 1
        if status != 200:
            sid = None  # the session may be gone: start again
        elif rnd.random() < 0.1:
            request("GET", query)  # collect what the server queued (acks, ticks)
    connection.close()
    return stats


def echo_with_real_client(port: int) -> tuple[Any, Any]:
    """
    A fresh python-socketio client: handshake, connect, one echo ack over
    each transport.
    """
    import socketio

    answers = []
    for transports in (["polling"], ["websocket"]):
        client = socketio.Client(reconnection=False)
        client.connect(f"http://127.0.0.1:{port}", transports=transports, wait_timeout=10)
        try:
            answers.append(client.call("echo", {"still": "alive", "bin": b"\x01"}, timeout=10))
        finally:
            client.disconnect()
    return answers[0], answers[1]


class WireFuzzTests(TestCase):
    """
    Mutated packets on the wire do not break the server.
    """

    timeout = 300

    async def test_fuzz(self) -> None:
        """
        3,000 mutated Engine.IO/Socket.IO messages (half over WebSocket, half
        by polling POSTs, seeded) leave no traceback, "Unhandled" or critical
        line in the log; the server keeps running and a real client then
        connects and gets its echo back over both transports.
        """
        server, logfile = start_abuse_app(self)
        await server.start()
        ws_stats = await threads.deferToThread(
            fuzz_websocket, server.port, Mutator(SEED), MESSAGES_PER_TRANSPORT)
        polling_stats = await threads.deferToThread(
            fuzz_polling, server.port, Mutator(SEED + 1), MESSAGES_PER_TRANSPORT)
        self.assertTrue(server.running, server.describe())
        answers = await threads.deferToThread(echo_with_real_client, server.port)
        expected = {"still": "alive", "bin": b"\x01"}
        self.assertEqual(answers, (expected, expected))
        # The fuzz did provoke the server: sessions were closed on it.
        self.assertGreater(ws_stats["closed_by_server"], 10, ws_stats)
        self.assertGreater(polling_stats["sessions"], 10, polling_stats)
        await server.stop(grace=10)
        self.assertEqual(log_problems(logfile), [])
