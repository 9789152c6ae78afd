"""HTTP abuse against a real ``twistd txsocketio`` (short, bounded versions of
issue 10's probes; the long slowloris run is ``bench/abuse/slowloris.py``).

One server per test class, started as users start it
(``twistd -n --pidfile= txsocketio --listen tcp:PORT:interface=127.0.0.1``)
with a short head deadline and its own TMPDIR, so that a body spooled to disk
would show up.  Clients are raw TCP connections on loopback.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.trial import unittest

from tests.support import ServerProcess, free_port, poll_until, require_tool, run_process, sleep

HEADERS_TIMEOUT = 2.0
MAX_BUFFER = 1_000_000


def _twistd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=", *args]


class RawClient(Protocol):
    """Sends bytes, collects the answer, and knows how the connection ended."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.ended: defer.Deferred[None] = defer.Deferred()
        self.reason: Any = None
        self.answered: defer.Deferred[bytes] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if b"\r\n\r\n" in self.received and not self.answered.called:
            self.answered.callback(bytes(self.received))

    def connectionLost(self, reason: Any) -> None:
        self.reason = reason
        if not self.answered.called:
            self.answered.callback(bytes(self.received))
        self.ended.callback(None)

    @property
    def status(self) -> bytes:
        return bytes(self.received).split(b"\r\n", 1)[0]

    @property
    def closed_cleanly(self) -> bool:
        return self.reason is not None and self.reason.check(ConnectionDone) is not None


class AbuseServer(unittest.TestCase):
    """Each test starts its own twistd txsocketio, with its own TMPDIR."""

    def setUp(self) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix="txsio-abuse-tmp-")
        self.addCleanup(shutil.rmtree, self.tmpdir, True)
        self.port = free_port()
        self.server = ServerProcess(
            _twistd("txsocketio", "--listen", f"tcp:{self.port}:interface=127.0.0.1", "--headers-timeout",
                    str(HEADERS_TIMEOUT), "--shutdown-timeout", "1"),
            self.port, env={"TMPDIR": self.tmpdir}, cwd=self.tmpdir, name="twistd txsocketio")

    async def start(self) -> None:
        self.addCleanup(self.server.stop)
        await self.server.start()

    async def connect(self) -> RawClient:
        client = RawClient()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port, timeout=5), client)
        self.addCleanup(lambda: client.transport.abortConnection() if client.transport.connected else None)
        return client

    def temp_files(self) -> list[str]:
        """Files the server has open or has made in its TMPDIR (a TemporaryFile on
        Linux is unnamed, so its open descriptors are looked at too)."""
        found = [os.path.join(self.tmpdir, n) for n in os.listdir(self.tmpdir)]
        fd_dir = f"/proc/{self.server.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith(self.tmpdir):
                found.append(target)
        return found


def within(d: defer.Deferred[Any], seconds: float = 10) -> defer.Deferred[Any]:
    """``d``, failing with TimeoutError after ``seconds`` (a hang is a failure)."""
    return d.addTimeout(seconds, reactor)


POLL_POST = b"POST /socket.io/?EIO=4&transport=polling&sid=bogus HTTP/1.1\r\nHost: 127.0.0.1\r\n"


class BodyAbuseTests(AbuseServer):
    async def test_content_length_over_the_limit(self) -> None:
        """A 300 MB Content-Length on the Socket.IO path is answered 413 without
        reading the body, the connection is closed, and nothing is written to disk."""
        await self.start()
        client = await self.connect()
        client.transport.write(POLL_POST + b"Content-Length: 300000000\r\n\r\n" + b"x" * 200_000)
        await within(client.answered)
        self.assertEqual(client.status, b"HTTP/1.1 413 Payload Too Large")
        self.assertEqual(self.temp_files(), [])
        await within(client.ended)  # the server closes (after at most its 2 s linger)
        self.assertEqual(self.temp_files(), [])

    async def test_the_disk_check_sees_twisted_spooling(self) -> None:
        """Control for the check above: a large body to another path (twisted.web's
        own behaviour) is spooled to a temporary file in the server's TMPDIR."""
        await self.start()
        client = await self.connect()
        client.transport.write(b"POST /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 300000000\r\n\r\n"
                               + b"x" * 200_000)
        await poll_until(self.temp_files, 5, message="no temporary file seen for the other path")
        client.transport.abortConnection()
        await within(client.ended)

    async def test_chunked_body_cut_off(self) -> None:
        """A chunked body is answered 413 soon after it passes 1 MB, long before
        its sender stops, and nothing is written to disk."""
        await self.start()
        client = await self.connect()
        client.transport.write(POLL_POST + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b"c" * 0x10000 + b"\r\n"
        sent = 0
        while not client.received and sent < 50 * MAX_BUFFER and client.transport.connected:
            client.transport.write(chunk)
            sent += 0x10000
            await sleep(0.005)
        await within(client.answered)
        self.assertEqual(client.status, b"HTTP/1.1 413 Payload Too Large")
        self.assertGreater(sent, MAX_BUFFER)
        self.assertLess(sent, 10 * MAX_BUFFER)
        self.assertEqual(self.temp_files(), [])

    async def test_body_within_the_limit_still_works(self) -> None:
        """A normal polling POST is still answered (400 for the unknown sid, as before)."""
        await self.start()
        client = await self.connect()
        client.transport.write(POLL_POST + b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n40")
        await within(client.answered)
        self.assertEqual(client.status, b"HTTP/1.1 400 Bad Request")
        self.assertIn(b"\r\nServer: txsocketio\r\n", bytes(client.received))


class HeadAbuseTests(AbuseServer):
    async def test_slow_head_gets_408_within_the_deadline(self) -> None:
        """A header sent one byte every 0.25 s gets 408 and a close once the
        head deadline (2 s here) has passed, not later than a few seconds after."""
        await self.start()
        client = await self.connect()
        started = reactor.seconds()
        client.transport.write(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nX-Slow: ")
        while not client.ended.called and reactor.seconds() - started < HEADERS_TIMEOUT + 8:
            client.transport.write(b"a")
            await sleep(0.25)
        self.assertTrue(client.ended.called, "the slow connection is still open")
        elapsed = reactor.seconds() - started
        self.assertEqual(client.status, b"HTTP/1.1 408 Request Timeout")
        self.assertGreaterEqual(elapsed, HEADERS_TIMEOUT - 0.1)

    async def test_big_headers_get_431(self) -> None:
        """20 kB of headers get 431 and a close, not a silent drop."""
        await self.start()
        client = await self.connect()
        client.transport.write(b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(
            b"X-Filler-%d: %s\r\n" % (i, b"f" * 1000) for i in range(20)) + b"\r\n")
        await within(client.ended)
        self.assertEqual(client.status, b"HTTP/1.1 431 Request Header Fields Too Large")

    async def test_long_url_gets_414(self) -> None:
        """A 10 kB URL gets 414 and a close."""
        await self.start()
        client = await self.connect()
        client.transport.write(b"GET /socket.io/?q=" + b"u" * 10_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        await within(client.ended)
        self.assertEqual(client.status, b"HTTP/1.1 414 URI Too Long")

    async def test_normal_request_unaffected(self) -> None:
        """An ordinary handshake still works, named Server: txsocketio."""
        await self.start()
        client = await self.connect()
        client.transport.write(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n")
        answer = await within(client.answered)
        self.assertEqual(client.status, b"HTTP/1.1 200 OK")
        self.assertIn(b"\r\nServer: txsocketio\r\n", answer)


class BacklogTests(AbuseServer):
    async def test_listens_with_backlog_511(self) -> None:
        """The listening socket's backlog (ss's Send-Q for a listener) is 511."""
        ss = require_tool("ss")
        await self.start()
        result = await run_process([ss, "-ltnH", f"sport = :{self.port}"], timeout=10)
        self.assertEqual(result.exit_code, 0, result.describe())
        [line] = [line for line in result.stdout_text.splitlines() if line.strip()]
        self.assertEqual(line.split()[2], "511", line)

    async def test_burst_of_500_connects(self) -> None:
        """500 connections opened at once all connect and are all answered: no
        reset, no refused connection."""
        await self.start()
        clients = [RawClient() for _ in range(500)]
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port, timeout=20)
        connects = [connectProtocol(endpoint, c) for c in clients]
        results = await defer.DeferredList(connects, consumeErrors=True)
        failures = [r for ok, r in results if not ok]
        self.assertEqual(failures, [])
        for c in clients:
            c.transport.write(b"GET /no-such-page HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        await defer.DeferredList([c.ended for c in clients])
        statuses = {c.status for c in clients}
        self.assertEqual(statuses, {b"HTTP/1.1 404 Not Found"})
        self.assertEqual([c for c in clients if not c.closed_cleanly], [])
