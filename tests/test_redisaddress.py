"""txsocketio.redisaddress: Redis URLs of every form (plain, TLS, unix,
Sentinel), passwords kept out of messages, channel names as bytes and back."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial import unittest

from txsocketio.redisaddress import RedisAddress, hide_password, host_port, to_bytes, to_str


class AddressTests(unittest.TestCase):
    def test_redis_urls(self) -> None:
        """redis:// and rediss:// URLs: host, port, db, user and password (percent-decoded)."""
        self.assertEqual(RedisAddress.parse("redis://127.0.0.1:6380/2"),
                         RedisAddress(host="127.0.0.1", port=6380, db=2))
        a = RedisAddress.parse("rediss://u%40x:p%2Fw@example.com")
        self.assertEqual((a.host, a.port, a.db, a.username, a.password, a.tls),
                         ("example.com", 6379, None, "u@x", "p/w", True))
        a = RedisAddress.parse("redis://:secret@[::1]:7000?db=3")
        self.assertEqual((a.host, a.port, a.db, a.username, a.password), ("::1", 7000, 3, None, "secret"))
        self.assertEqual(str(a), "redis://:***@[::1]:7000/3")
        self.assertNotIn("secret", repr(a))

    def test_unix_urls(self) -> None:
        a = RedisAddress.parse("unix:///run/redis.sock?db=1&password=pw")
        self.assertEqual((a.path, a.db, a.password, a.host), ("/run/redis.sock", 1, "pw", None))
        self.assertEqual(str(a), "unix:///run/redis.sock?db=1")

    def test_bad_urls(self) -> None:
        """Bad URLs raise ValueError without echoing the password."""
        for url in ["http://x", "redis://h:notaport", "redis://h/x", "redis://h/-1", "unix://"]:
            self.assertRaises(ValueError, RedisAddress.parse, url)
        with self.assertRaises(ValueError) as caught:
            RedisAddress.parse("ftp://u:hunter2@h")
        self.assertNotIn("hunter2", str(caught.exception))


class SentinelAddressTests(unittest.TestCase):
    def test_forms(self) -> None:
        """redis+sentinel:// lists Sentinels (port 26379 by default, IPv6 in
        brackets), then the master's name and an optional db."""
        a = RedisAddress.parse("redis+sentinel://s1:26380,[::1],s3/mymaster/2")
        self.assertEqual(a.sentinels, (("s1", 26380), ("::1", 26379), ("s3", 26379)))
        self.assertEqual((a.master_name, a.db, a.host, a.path, a.tls), ("mymaster", 2, None, None, False))
        self.assertTrue(a.is_sentinel)
        self.assertFalse(RedisAddress.parse("redis://h").is_sentinel)
        self.assertEqual(RedisAddress.parse("redis+sentinel://h/m?db=4").db, 4)
        self.assertIsNone(RedisAddress.parse("redis+sentinel://h/m").db)
        self.assertEqual(RedisAddress.parse("REDIS+SENTINEL://h/m").master_name, "m")

    def test_credentials(self) -> None:
        """user:password in the URL are the Redis servers'; the Sentinels'
        come as sentinel_username / sentinel_password in the query; none of
        them shows in str() or repr()."""
        a = RedisAddress.parse("redis+sentinel://u%40x:p%2Fw@h1,h2:1/m?sentinel_password=s3&sentinel_username=su")
        self.assertEqual((a.username, a.password, a.sentinel_username, a.sentinel_password),
                         ("u@x", "p/w", "su", "s3"))
        self.assertEqual(str(a), "redis+sentinel://u@x:***@h1:26379,h2:1/m")
        for secret in ("p/w", "s3"):
            self.assertNotIn(secret, repr(a))
            self.assertNotIn(secret, str(a))
        b = RedisAddress.parse("redis+sentinel://h/m?password=pw&username=me")
        self.assertEqual((b.username, b.password), ("me", "pw"))

    def test_str_round_trip(self) -> None:
        """str() of an address without a password parses back to the same address."""
        for url in ["redis+sentinel://h1:26379,h2:26380/m/3", "redis+sentinel://[::1]:5/name"]:
            a = RedisAddress.parse(url)
            self.assertEqual(RedisAddress.parse(str(a)), a)
            self.assertEqual(str(a), url)

    def test_tls_refused(self) -> None:
        """rediss+sentinel:// is refused with a reason and an alternative
        (txredisapi reaches the master without TLS)."""
        with self.assertRaises(ValueError) as caught:
            RedisAddress.parse("rediss+sentinel://h:26379/m")
        self.assertIn("TLS", str(caught.exception))
        self.assertIn("redis+sentinel://", str(caught.exception))

    def test_bad(self) -> None:
        """Malformed Sentinel URLs raise ValueError saying the expected form,
        without echoing a password."""
        for url in ["redis+sentinel://h", "redis+sentinel://h/", "redis+sentinel:///m", "redis+sentinel://h/m/1/2",
                    "redis+sentinel://h:0/m", "redis+sentinel://h:99999/m", "redis+sentinel://h:x/m",
                    "redis+sentinel://h,,h2/m", "redis+sentinel://[::1/m", "redis+sentinel://[::1]x/m",
                    "redis+sentinel://h/m/x", "redis+sentinel://h/m/-1"]:
            self.assertRaises(ValueError, RedisAddress.parse, url)
        for url in ["redis+sentinel://:hunter2@h:x/m", "redis+sentinel://h:x/m?sentinel_password=hunter2",
                    "http://u:hunter2@h"]:
            with self.assertRaises(ValueError) as caught:
                RedisAddress.parse(url)
            self.assertNotIn("hunter2", str(caught.exception))

    @given(st.text(max_size=60))
    def test_fuzz(self, tail: str) -> None:
        """Any text after a known scheme parses or raises ValueError, nothing else."""
        for scheme in ("redis+sentinel://", "redis://", "unix://"):
            try:
                RedisAddress.parse(scheme + tail)
            except ValueError:
                pass


#: Characters a URL's userinfo holds unescaped (RFC 3986), but ':'.
_USERINFO = string.ascii_letters + string.digits + "-._~!$&'()*+,;=%"


class HelperTests(unittest.TestCase):
    def test_hide_password(self) -> None:
        """Passwords in the userinfo and the query become ***; the rest of the
        URL is kept as it was; a URL without one comes back unchanged."""
        self.assertEqual(hide_password("redis://u:hunter2@h:1/2?db=3#f"), "redis://u:***@h:1/2?db=3#f")
        self.assertEqual(hide_password("redis+sentinel://h/m?sentinel_password=s&db=1&password=p"),
                         "redis+sentinel://h/m?sentinel_password=***&db=1&password=***")
        self.assertEqual(hide_password("redis://:x@h?password=y"), "redis://:***@h?password=***")
        for url in ("redis://u@h:1/0", "unix:///tmp/r.sock?db=1", "redis://h", ""):
            self.assertEqual(hide_password(url), url)

    @given(st.text(_USERINFO, max_size=20), st.text(_USERINFO + ":", min_size=1, max_size=20))
    def test_hide_password_hides(self, user: str, secret: str) -> None:
        """Whatever the password, it does not survive in the userinfo."""
        self.assertEqual(hide_password(f"redis://{user}:{secret}@h:1"), f"redis://{user}:***@h:1")

    def test_host_port(self) -> None:
        """IPv6 hosts are bracketed."""
        self.assertEqual([host_port("h", 1), host_port("::1", 2), host_port("10.0.0.1", 3)],
                         ["h:1", "[::1]:2", "10.0.0.1:3"])

    @given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
    def test_names_round_trip(self, name: str) -> None:
        """Any str name (without lone surrogates) survives to_bytes then to_str."""
        self.assertEqual(to_str(to_bytes(name)), name)

    @given(st.binary())
    def test_bytes_round_trip(self, raw: bytes) -> None:
        """Any bytes name from Redis survives to_str then to_bytes."""
        self.assertEqual(to_bytes(to_str(raw)), raw)

    def test_bad_name(self) -> None:
        """A name that is neither str nor bytes is refused."""
        self.assertRaises(TypeError, to_bytes, 5)
