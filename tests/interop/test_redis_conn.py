"""RedisConnection (txsocketio.redisconn) against a real redis-server: pub/sub
multiplexing, NUMSUB, timeouts, outages and restarts, clean closing."""

from __future__ import annotations

import os
import tempfile

import txredisapi
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from tests.support import RedisServer, free_port, poll_until, sleep
from txsocketio.errors import RedisUnavailable
from txsocketio.redisconn import RedisConnection


def _self_signed(directory: str, hostname: str) -> tuple[str, str]:
    """A self-signed certificate for ``hostname`` and its key, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


class _Logged:
    """Collects log events during a test."""

    def __init__(self, test: unittest.TestCase) -> None:
        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        test.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def texts(self, namespace: str = "txsocketio.redis") -> list[str]:
        from twisted.logger import formatEvent

        return [formatEvent(e) for e in self.events if e.get("log_namespace") == namespace]


class ConnectionTests(unittest.TestCase):
    timeout = 30

    async def start_redis(self, *extra: str) -> RedisServer:
        server = RedisServer(extra_args=extra)
        self.addCleanup(server.stop)
        await server.start()
        return server

    def connect(self, url: str, **kw) -> RedisConnection:
        kw.setdefault("initial_retry_delay", 0.1)
        kw.setdefault("max_retry_delay", 0.3)
        conn = RedisConnection(url, **kw)
        self.addCleanup(conn.close)
        return conn

    async def test_binary_pubsub(self) -> None:
        """Payloads are bytes end to end: MessagePack, invalid UTF-8, numbers-looking text."""
        redis = await self.start_redis()
        conn = self.connect(redis.url)
        got: list[tuple] = []
        conn.subscribe("chan", lambda channel, payload: got.append((channel, payload)))
        conn.psubscribe("pat:*", lambda pattern, channel, payload: got.append((pattern, channel, payload)))
        await conn.wait_subscribed()
        payloads = [b"\x93\xa1a\xc4\x01\xff", b"123", b"\xff\xfe", b"", b"x" * 100_000]
        for payload in payloads:
            self.assertEqual(await conn.publish("chan", payload), 1)
        await conn.publish("pat:1", "text")
        await poll_until(lambda: len(got) == len(payloads) + 1, 5)
        self.assertEqual(got, [("chan", p) for p in payloads] + [("pat:*", "pat:1", b"text")])

    async def test_bad_argument(self) -> None:
        """An argument Redis cannot take fails the command's Deferred (no timer left behind)."""
        redis = await self.start_redis()
        conn = self.connect(redis.url)
        self.assertEqual(await conn.publish("c", b"ok"), 0)
        with self.assertRaises(txredisapi.InvalidData):
            await conn.publish("c", "\ud800")

    async def test_shared_subscription(self) -> None:
        """Callbacks on one channel share one SUBSCRIBE; each gets every message
        once; the last unsubscribe leaves the channel."""
        redis = await self.start_redis()
        conn = self.connect(redis.url)
        a: list[bytes] = []
        b: list[bytes] = []
        ha = conn.subscribe("c", lambda ch, p: a.append(p))
        hb = conn.subscribe("c", lambda ch, p: b.append(p))
        await ha.ready()
        await hb.ready()
        self.assertEqual(await conn.numsub("c"), 1)
        await conn.publish("c", b"1")
        await poll_until(lambda: a and b, 5)
        conn.unsubscribe(ha)
        conn.unsubscribe(ha)  # twice: nothing
        self.assertFalse(ha.active)
        await conn.publish("c", b"2")
        await poll_until(lambda: len(b) == 2, 5)
        self.assertEqual((a, b), ([b"1"], [b"1", b"2"]))
        self.assertEqual(conn.channels(), {"c"})
        hb.cancel()
        for _ in range(50):
            if await conn.numsub("c") == 0:
                break
            await sleep(0.05)
        self.assertEqual(await conn.numsub("c"), 0)
        self.assertEqual(conn.channels(), set())

    async def test_numsub_counts_connections(self) -> None:
        """NUMSUB counts subscriber connections: two hubs, two subscribers."""
        redis = await self.start_redis()
        one, two = self.connect(redis.url), self.connect(redis.url)
        one.subscribe("req", lambda *a: None)
        two.subscribe("req", lambda *a: None)
        await one.wait_subscribed()
        await two.wait_subscribed()
        self.assertEqual(await one.numsub("req"), 2)
        self.assertEqual(await two.numsub("nobody"), 0)

    async def test_failing_callback(self) -> None:
        """A callback that raises is logged; the others still get the message."""
        redis = await self.start_redis()
        conn = self.connect(redis.url)
        got: list[bytes] = []
        conn.subscribe("c", lambda ch, p: 1 / 0)
        conn.subscribe("c", lambda ch, p: got.append(p))
        await conn.wait_subscribed()
        await conn.publish("c", b"x")
        await poll_until(lambda: got, 5)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    async def test_restart(self) -> None:
        """After Redis is killed and restarted, every channel and pattern is
        subscribed again, once: each message arrives exactly once."""
        redis = await self.start_redis()
        conn = self.connect(redis.url)
        got: list[tuple] = []
        conn.subscribe("c", lambda ch, p: got.append(("c", p)))
        conn.subscribe("c", lambda ch, p: got.append(("c2", p)))
        conn.psubscribe("p*", lambda pat, ch, p: got.append(("p", p)))
        await conn.wait_subscribed()
        await redis.kill()
        await redis.restart()
        await poll_until(lambda: conn.connected, 10)
        await conn.wait_subscribed()
        self.assertEqual(await conn.numsub("c"), 1)
        self.assertEqual(await conn.publish("c", b"after"), 1)
        self.assertEqual(await conn.publish("pq", b"pat"), 1)
        await poll_until(lambda: len(got) >= 3, 5)
        await sleep(0.2)
        self.assertEqual(sorted(got), [("c", b"after"), ("c2", b"after"), ("p", b"pat")])

    async def test_unreachable_at_start(self) -> None:
        """Redis down at start: nothing raises, one warning, commands fail with
        RedisUnavailable after their timeout; once Redis comes up the
        subscriptions are made and publishing works."""
        logged = _Logged(self)
        port = free_port()
        conn = self.connect(f"redis://127.0.0.1:{port}", command_timeout=0.3)
        got: list[bytes] = []
        handle = conn.subscribe("c", lambda ch, p: got.append(p))
        with self.assertRaises(RedisUnavailable) as caught:
            await conn.publish("c", b"lost")
        self.assertIn("could not be reached within 0.3 s", str(caught.exception))
        await sleep(0.5)
        warnings = [t for t in logged.texts() if "unreachable" in t]
        self.assertEqual(len(warnings), 1, logged.texts())
        self.assertIn("keeps serving its own clients", warnings[0])
        redis = RedisServer(port)
        self.addCleanup(redis.stop)
        await redis.start()
        await handle.ready()
        self.assertEqual(await conn.publish("c", b"up"), 1)
        await poll_until(lambda: got, 5)
        self.assertEqual(got, [b"up"])
        self.assertTrue(any("reachable again" in t for t in logged.texts()))

    async def test_command_waits_for_reconnect(self) -> None:
        """A publish issued while Redis restarts is sent once it is back (it
        may reach nobody: the subscribers are coming back at the same time)."""
        redis = await self.start_redis()
        conn = self.connect(redis.url, command_timeout=10)
        conn.subscribe("c", lambda *a: None)
        await conn.wait_subscribed()
        await redis.kill()
        await poll_until(lambda: not conn.connected, 5)
        published = conn.publish("c", b"queued")
        await sleep(0.2)
        self.assertFalse(published.called)
        await redis.restart()
        self.assertIn(await published, (0, 1))

    async def test_close_while_down(self) -> None:
        """close() while Redis is unreachable stops the retries and fails the
        commands still waiting (the reactor is left clean)."""
        conn = RedisConnection(f"redis://127.0.0.1:{free_port()}", initial_retry_delay=0.05)
        conn.subscribe("c", lambda *a: None)
        waiting = conn.publish("c", b"x")
        await sleep(0.2)
        await conn.close()
        await conn.close()
        with self.assertRaises(RedisUnavailable):
            await waiting
        with self.assertRaises(RedisUnavailable):
            await conn.publish("c", b"y")
        self.assertRaises(RuntimeError, conn.subscribe, "c", lambda *a: None)

    async def test_close_unsubscribes(self) -> None:
        """close() leaves no subscriber behind."""
        redis = await self.start_redis()
        conn = self.connect(redis.url)
        watcher = self.connect(redis.url)
        conn.subscribe("c", lambda *a: None)
        await conn.wait_subscribed()
        self.assertEqual(await watcher.numsub("c"), 1)
        await conn.close()
        self.assertEqual(await watcher.numsub("c"), 0)

    async def test_unix_socket(self) -> None:
        """unix:// URLs, with a database and a password."""
        directory = tempfile.mkdtemp()
        path = os.path.join(directory, "redis.sock")
        await self.start_redis("--unixsocket", path, "--requirepass", "pw")
        conn = self.connect(f"unix://{path}?db=1&password=pw")
        got: list[bytes] = []
        conn.subscribe("c", lambda ch, p: got.append(p))
        await conn.wait_subscribed()
        self.assertEqual(await conn.execute("SET", "k", b"\x00v"), "OK")  # a status reply is a str
        self.assertEqual(await conn.execute("GET", "k"), b"\x00v")
        await conn.publish("c", b"hi")
        await poll_until(lambda: got, 5)

    async def test_password(self) -> None:
        """redis://:password@ authenticates both connections."""
        redis = await self.start_redis("--requirepass", "s3cret")
        conn = self.connect(f"redis://:s3cret@127.0.0.1:{redis.port}/0")
        conn.subscribe("c", lambda *a: None)
        await conn.wait_subscribed()
        self.assertEqual(await conn.numsub("c"), 1)

    async def test_wrong_password(self) -> None:
        """A refused password is logged as an error; commands fail with
        RedisUnavailable instead of waiting forever."""
        logged = _Logged(self)
        redis = await self.start_redis("--requirepass", "right")
        conn = self.connect(f"redis://:wrong@127.0.0.1:{redis.port}", command_timeout=0.5)
        conn.subscribe("c", lambda *a: None)
        with self.assertRaises(RedisUnavailable):
            await conn.publish("c", b"x")
        self.assertTrue(any("refused the connection" in t for t in logged.texts()), logged.texts())
        self.assertFalse(any("wrong" in t for t in logged.texts()))

    async def test_tls(self) -> None:
        """rediss:// connects over TLS (here with our own trust root)."""
        from twisted.internet.ssl import Certificate, optionsForClientTLS

        directory = tempfile.mkdtemp()
        cert, key = _self_signed(directory, "localhost")
        tls_port = free_port()
        await self.start_redis("--tls-port", str(tls_port), "--tls-cert-file", cert, "--tls-key-file", key,
                               "--tls-ca-cert-file", cert, "--tls-auth-clients", "no")
        with open(cert, "rb") as f:
            trust = Certificate.loadPEM(f.read())
        conn = self.connect(f"rediss://localhost:{tls_port}", tls_options=optionsForClientTLS("localhost", trust))
        got: list[bytes] = []
        conn.subscribe("c", lambda ch, p: got.append(p))
        await conn.wait_subscribed()
        self.assertEqual(await conn.publish("c", b"\x00secret"), 1)
        await poll_until(lambda: got, 5)
        self.assertEqual(got, [b"\x00secret"])
