"""Admin UI basic authentication: bcrypt hashes (Node bcryptjs ones too),
--admin-auth parsing, sessions, the decision and its thread-pool glue."""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial import unittest

from txsocketio.admin import auth as a
from txsocketio.admin.protocol import INVALID_CREDENTIALS

#: Made by Node's bcryptjs 2.4.3 (the hash library of @socket.io/admin-ui
#: 0.5): ``hashSync("s3cret €", 4)``.
NODE_HASH = "$2a$04$XJKFI4EgPTTP1BAAShVxne2p0Wrbo6gCw2bick0AQcwUhgWZo2o5W"
#: bcryptjs ``hashSync("é".repeat(40), 4)``: 80 bytes, of which bcrypt uses 72.
NODE_LONG_HASH = "$2a$04$SEkXOnKUf.DdE6dHWbsSoORX58POpRcKyFssD/HfhkTQeLOV2AP5i"


class HashTests(unittest.TestCase):
    def test_node_hash_verifies(self) -> None:
        """A hash made by Node's bcryptjs verifies the right password (UTF-8)
        and no other."""
        self.assertTrue(a.verify_password("s3cret €", NODE_HASH))
        self.assertFalse(a.verify_password("s3cret", NODE_HASH))
        self.assertFalse(a.verify_password("", NODE_HASH))

    def test_72_bytes(self) -> None:
        """As bcryptjs, only the first 72 bytes of a password count (pyca
        bcrypt 5 would raise on longer ones)."""
        self.assertTrue(a.verify_password("é" * 40, NODE_LONG_HASH))
        self.assertTrue(a.verify_password("é" * 36 + "x", NODE_LONG_HASH))
        self.assertFalse(a.verify_password("é" * 35, NODE_LONG_HASH))

    def test_hash_password(self) -> None:
        """hash_password makes a $2b$ hash of the asked cost that verifies;
        empty and over-72-byte passwords are refused."""
        h = a.hash_password("pw", rounds=4)
        self.assertEqual(a.bcrypt_rounds(h), 4)
        self.assertTrue(h.startswith("$2b$04$"))
        self.assertTrue(a.verify_password("pw", h))
        self.assertRaises(ValueError, a.hash_password, "")
        self.assertRaises(ValueError, a.hash_password, "x" * 73)

    def test_bcrypt_rounds(self) -> None:
        """bcrypt_rounds reads the cost of $2a$/$2b$/$2y$ hashes and refuses
        anything else, saying how to make a hash."""
        self.assertEqual(a.bcrypt_rounds(NODE_HASH), 4)
        self.assertEqual(a.bcrypt_rounds("$2y$" + NODE_HASH[4:]), 4)
        for bad in ["", "secret", NODE_HASH[:-1], "$1$04$" + NODE_HASH[7:], "$2a$99$" + NODE_HASH[7:]]:
            error = self.assertRaises(ValueError, a.bcrypt_rounds, bad)
            self.assertIn("python -m txsocketio.admin.auth", str(error))


class OptionTests(unittest.TestCase):
    def test_none(self) -> None:
        """--admin-auth none: authentication off (None)."""
        self.assertIsNone(a.parse_admin_auth("none"))

    def test_user_hash(self) -> None:
        """--admin-auth USER:HASH: the credentials; the hash is not in the repr."""
        creds = a.parse_admin_auth("admin:" + NODE_HASH)
        self.assertEqual(creds, a.AdminCredentials("admin", NODE_HASH))
        self.assertNotIn(NODE_HASH, repr(creds))

    def test_invalid(self) -> None:
        """A missing user, a missing colon or a plain password are refused."""
        for bad in ["", "admin", ":" + NODE_HASH, "admin:password"]:
            self.assertRaises(ValueError, a.parse_admin_auth, bad)

    def test_username_matches(self) -> None:
        """User names compare exactly (constant time); None never matches."""
        creds = a.AdminCredentials("admin", NODE_HASH)
        self.assertTrue(creds.username_matches("admin"))
        self.assertFalse(creds.username_matches("Admin"))
        self.assertFalse(creds.username_matches("admin "))
        self.assertFalse(creds.username_matches(None))


class SessionStoreTests(unittest.TestCase):
    def test_ids(self) -> None:
        """Session ids are 128-bit hex, distinct."""
        store = a.SessionStore()
        ids = {store.create(0) for _ in range(50)}
        self.assertEqual(len(ids), 50)
        self.assertTrue(all(len(i) == 32 and int(i, 16) >= 0 for i in ids))

    def test_expiry(self) -> None:
        """A session is known until its TTL has passed, then forgotten."""
        store = a.SessionStore(ttl=10)
        sid = store.create(100)
        self.assertTrue(store.known(sid, 109.9))
        self.assertFalse(store.known(sid, 110))
        self.assertEqual(len(store), 0)
        self.assertFalse(store.known(None, 0))
        self.assertFalse(store.known("other", 0))

    def test_bounded(self) -> None:
        """At most max_sessions are kept: the oldest go first; expired ones
        are dropped on create."""
        store = a.SessionStore(ttl=10, max_sessions=3)
        first = store.create(0)
        later = [store.create(1) for _ in range(3)]
        self.assertFalse(store.known(first, 2))
        self.assertTrue(all(store.known(s, 2) for s in later))
        store.create(20)
        self.assertEqual(len(store), 1)


def sync_authenticate(authn: a.AdminAuthenticator, auth: Any, now: float = 0.0) -> a.AuthResult:
    step = authn.begin(auth, now)
    if isinstance(step, a.AuthResult):
        return step
    assert authn.credentials is not None
    return authn.finish(a.verify_password(step, authn.credentials.password_hash), now)


class AuthenticatorTests(unittest.TestCase):
    def setUp(self) -> None:
        self.authn = a.AdminAuthenticator(a.AdminCredentials("admin", NODE_HASH))

    def test_off(self) -> None:
        """With authentication off, any CONNECT is accepted without a session."""
        authn = a.AdminAuthenticator(None)
        self.assertEqual(sync_authenticate(authn, None), a.AuthResult(True))
        self.assertEqual(sync_authenticate(authn, {"username": "x"}), a.AuthResult(True))

    def test_password_then_session(self) -> None:
        """The right user and password: accepted with a new session id; that
        id alone logs in next time, until it expires."""
        result = sync_authenticate(self.authn, {"username": "admin", "password": "s3cret €"}, now=5)
        self.assertTrue(result.accepted)
        self.assertIsNotNone(result.session_id)
        self.assertEqual(sync_authenticate(self.authn, {"sessionId": result.session_id}, now=6),
                         a.AuthResult(True))
        self.assertEqual(sync_authenticate(self.authn, {"sessionId": result.session_id}, now=5 + a.SESSION_TTL),
                         a.AuthResult(False, message=INVALID_CREDENTIALS))

    def test_refusals(self) -> None:
        """Wrong password, wrong user, no auth, an unknown session: refused
        with 'invalid credentials' (what the UI waits for)."""
        for auth in [{"username": "admin", "password": "nope"}, {"username": "root", "password": "s3cret €"},
                     None, {}, {"sessionId": "forged"}, {"username": "admin"}]:
            self.assertEqual(sync_authenticate(self.authn, auth), a.AuthResult(False, message="invalid credentials"),
                             auth)
        self.assertEqual(self.authn.pending, 0)

    def test_pending_limit(self) -> None:
        """Beyond max_pending password checks in flight, further password
        logins are refused at once; a finished check frees a slot."""
        authn = a.AdminAuthenticator(a.AdminCredentials("admin", NODE_HASH), max_pending=2)
        login = {"username": "admin", "password": "s3cret €"}
        self.assertEqual(authn.begin(login, 0), "s3cret €")
        self.assertEqual(authn.begin(login, 0), "s3cret €")
        self.assertEqual(authn.begin(login, 0), a.AuthResult(False, message=INVALID_CREDENTIALS))
        self.assertFalse(authn.finish(False, 0).accepted)
        self.assertEqual(authn.begin(login, 0), "s3cret €")


class FakeReactor(Clock):
    """A Clock whose thread pool runs work when told to, and whose
    callFromThread calls at once (enough for deferToThreadPool)."""

    def __init__(self) -> None:
        super().__init__()
        self.work: list[Callable[[], None]] = []

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:  # noqa: N802
        f(*args, **kw)

    def callInThreadWithCallback(self, on_result: Callable[[bool, Any], None], f: Callable[..., Any],  # noqa: N802
                                 *args: Any, **kw: Any) -> None:
        def run() -> None:
            try:
                result = f(*args, **kw)
            except BaseException as e:  # the pool's contract: report it
                on_result(False, e)
            else:
                on_result(True, result)
        self.work.append(run)

    def getThreadPool(self) -> "FakeReactor":  # noqa: N802
        return self


class GlueTests(unittest.TestCase):
    def setUp(self) -> None:
        self.reactor = FakeReactor()
        self.authn = a.AdminAuthenticator(a.AdminCredentials("admin", NODE_HASH))

    def test_session_decided_without_thread(self) -> None:
        """Decisions that need no bcrypt fire at once, with no thread work."""
        d = a.authenticate(self.authn, {"sessionId": "x"}, reactor=self.reactor)
        self.assertEqual(self.successResultOf(d), a.AuthResult(False, message=INVALID_CREDENTIALS))
        self.assertEqual(self.reactor.work, [])

    def test_password_checked_in_pool(self) -> None:
        """The bcrypt check is queued to the thread pool; the result fires
        once it has run, with a session minted at the reactor's time."""
        self.reactor.advance(42)
        d: Deferred[a.AuthResult] = a.authenticate(self.authn, {"username": "admin", "password": "s3cret €"},
                                                  reactor=self.reactor)
        self.assertNoResult(d)
        self.assertEqual(len(self.reactor.work), 1)
        self.reactor.work.pop()()
        result = self.successResultOf(d)
        self.assertTrue(result.accepted)
        self.assertTrue(self.authn.sessions.known(result.session_id, 43))
        self.assertEqual(self.authn.pending, 0)

    def test_check_error_refuses(self) -> None:
        """An exception in the check (here: a hash bcrypt cannot read) is
        logged and refuses the login; the slot is freed."""
        self.patch(a, "verify_password", lambda *args: 1 / 0)
        d = a.authenticate(self.authn, {"username": "admin", "password": "pw"}, reactor=self.reactor)
        self.reactor.work.pop()()
        self.assertEqual(self.successResultOf(d), a.AuthResult(False, message=INVALID_CREDENTIALS))
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(self.authn.pending, 0)
