# -*- test-case-name: tests.test_admin_auth -*-
"""Basic authentication of the Admin UI: a user name and a bcrypt hash.

As ``@socket.io/admin-ui`` 0.5 (``auth: {type: "basic", username, password:
<bcrypt hash>}``): the UI's login form sends ``{username, password}`` in the
CONNECT auth, the server compares the password with the bcrypt hash (the
maintained ``bcrypt`` package: ``pip install txsocketio[admin]``) and, when it
matches, hands the UI a session id (``session`` event) that later CONNECTs
present instead of the password.

Where Node is unsafe we are safer: sessions expire (after
:data:`SESSION_TTL`, as Node's RedisStore; its in-memory store keeps them
forever) and are bounded in number, session ids carry 128 random bits (Node:
64), the user name is compared in constant time, and the bcrypt check (about
0.1-0.3 s of CPU) runs in a thread pool, at most :data:`MAX_PENDING_CHECKS`
at a time, never on the reactor thread.

* :func:`parse_admin_auth` reads ``--admin-auth user:HASH`` / ``none``;
* :func:`hash_password` makes a hash (``python -m txsocketio.admin.auth``);
* :class:`SessionStore` and :class:`AdminAuthenticator` (pure decisions, time
  passed in) plus :func:`authenticate` (the glue: a Deferred).
"""

from __future__ import annotations

import getpass
import hmac
import re
import secrets
import sys
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Final

import attrs

from txsocketio.admin.protocol import INVALID_CREDENTIALS, AdminLogin, LoginStep, login_step
from txsocketio.logs import Logger

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

__all__ = [
    "AdminCredentials", "parse_admin_auth", "hash_password", "verify_password", "bcrypt_rounds",
    "SessionStore", "AdminAuthenticator", "AuthResult", "authenticate", "SESSION_TTL", "MAX_PENDING_CHECKS",
]

log = Logger(namespace="txsocketio.admin.auth")

#: Seconds a session id stays valid (Node's RedisStore ``sessionDuration``).
SESSION_TTL: Final = 86400.0
#: Sessions kept at most; the oldest is forgotten first.
MAX_SESSIONS: Final = 1000
#: bcrypt checks running or queued at once; further password logins are
#: refused until one finishes (a flood of wrong passwords cannot queue
#: unbounded CPU work).
MAX_PENDING_CHECKS: Final = 4
#: bcrypt looks at the first 72 bytes of a password only.
BCRYPT_MAX_PASSWORD: Final = 72
#: The cost of :func:`hash_password` (bcryptjs' and pyca bcrypt's default is 10 / 12).
DEFAULT_ROUNDS: Final = 12

_HASH = re.compile(r"^\$2[abxy]\$(\d\d)\$[./A-Za-z0-9]{53}$")


def _bcrypt() -> Any:
    try:
        import bcrypt
    except ImportError:  # pragma: no cover - depends on the installation
        raise RuntimeError("the Admin UI's basic authentication needs bcrypt: "
                           "pip install 'txsocketio[admin]'") from None
    return bcrypt


def bcrypt_rounds(password_hash: str) -> int:
    """The cost of a bcrypt hash (``$2a$``/``$2b$``/``$2y$``, as Node's
    bcryptjs ``getRounds``); ValueError if it is not one."""
    match = _HASH.match(password_hash)
    if match is None or not 4 <= int(match.group(1)) <= 31:
        raise ValueError("the admin password must be a bcrypt hash ($2b$12$… , 60 characters): "
                         "make one with `python -m txsocketio.admin.auth`")
    return int(match.group(1))


def _password_bytes(password: str) -> bytes:
    # bcrypt (and Node's bcryptjs) only use the first 72 bytes; pyca bcrypt 5
    # raises beyond them, so cut as the algorithm would.
    return password.encode("utf-8")[:BCRYPT_MAX_PASSWORD]


def hash_password(password: str, rounds: int = DEFAULT_ROUNDS) -> str:
    """A bcrypt hash of ``password`` for ``--admin-auth user:HASH``.

    ValueError for an empty password or one longer than 72 UTF-8 bytes (its
    end would be ignored).
    """
    raw = password.encode("utf-8")
    if not raw:
        raise ValueError("the admin password cannot be empty")
    if len(raw) > BCRYPT_MAX_PASSWORD:
        raise ValueError("bcrypt ignores everything after 72 bytes of password: choose a shorter one")
    bcrypt = _bcrypt()
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches the bcrypt ``password_hash``.  Blocking
    (CPU-bound, about 2**rounds bcrypt rounds): call it in a thread."""
    return bool(_bcrypt().checkpw(_password_bytes(password), password_hash.encode("ascii")))


@attrs.frozen
class AdminCredentials:
    """The one admin user: a name and the bcrypt hash of the password."""

    username: str
    password_hash: str = attrs.field(repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.username:
            raise ValueError("the admin user name cannot be empty")
        bcrypt_rounds(self.password_hash)

    def username_matches(self, username: str | None) -> bool:
        """Constant-time comparison of a presented user name."""
        if username is None:
            return False
        return hmac.compare_digest(username.encode("utf-8"), self.username.encode("utf-8"))


def parse_admin_auth(value: str) -> AdminCredentials | None:
    """Read ``--admin-auth``: ``none`` (no authentication, an explicit choice
    as Node's ``auth: false``) or ``USER:BCRYPT_HASH``.  ValueError, saying
    what to write, for anything else."""
    if value == "none":
        return None
    username, sep, password_hash = value.partition(":")
    if not sep or not username:
        raise ValueError("--admin-auth takes USER:BCRYPT_HASH or none "
                         "(make a hash with `python -m txsocketio.admin.auth`)")
    return AdminCredentials(username, password_hash)


class SessionStore:
    """Session ids handed to logged-in UIs: each valid for ``ttl`` seconds,
    at most ``max_sessions`` of them (the oldest forgotten first).  Pure:
    times are passed in."""

    def __init__(self, ttl: float = SESSION_TTL, max_sessions: int = MAX_SESSIONS,
                 token: Callable[[], str] = lambda: secrets.token_hex(16)) -> None:
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._token = token
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    def create(self, now: float) -> str:
        """A new session id, valid until ``now + ttl``."""
        self._expire(now)
        session_id = self._token()
        self._expiry[session_id] = now + self.ttl
        while len(self._expiry) > self.max_sessions:
            self._expiry.popitem(last=False)
        return session_id

    def known(self, session_id: str | None, now: float) -> bool:
        """Whether ``session_id`` is a live session at ``now``."""
        if session_id is None:
            return False
        expiry = self._expiry.get(session_id)
        if expiry is None:
            return False
        if expiry <= now:
            del self._expiry[session_id]
            return False
        return True

    def _expire(self, now: float) -> None:
        while self._expiry:
            oldest, expiry = next(iter(self._expiry.items()))
            if expiry > now:
                break
            del self._expiry[oldest]


@attrs.frozen
class AuthResult:
    """The decision on an admin CONNECT: accepted (with a new ``session_id``
    to send in a ``session`` event after the CONNECT, when one was minted) or
    refused with ``message`` (the CONNECT_ERROR's)."""

    accepted: bool
    session_id: str | None = None
    message: str | None = None


ACCEPTED: Final = AuthResult(True)
REFUSED: Final = AuthResult(False, message=INVALID_CREDENTIALS)


class AdminAuthenticator:
    """Decides admin CONNECTs.  Pure: the bcrypt check is done by the caller
    between :meth:`begin` and :meth:`finish` (see :func:`authenticate`).

    ``credentials`` None means authentication is off (``--admin-auth none``).
    """

    def __init__(self, credentials: AdminCredentials | None, sessions: SessionStore | None = None,
                 max_pending: int = MAX_PENDING_CHECKS) -> None:
        self.credentials = credentials
        self.sessions = sessions if sessions is not None else SessionStore()
        self.max_pending = max_pending
        self.pending = 0

    def begin(self, auth: Any, now: float) -> AuthResult | str:
        """Decide what can be decided at once: an :class:`AuthResult`, or the
        password to verify against ``credentials.password_hash`` (then call
        :meth:`finish` with the outcome, whatever it is)."""
        login = AdminLogin.parse(auth)
        creds = self.credentials
        step = login_step(
            login, username=None if creds is None else creds.username,
            session_known=self.sessions.known(login.session_id, now),
            username_matches=None if creds is None else creds.username_matches(login.username))
        if step is LoginStep.ACCEPT:
            return ACCEPTED
        if step is LoginStep.REFUSE or self.pending >= self.max_pending:
            return REFUSED
        assert login.password is not None
        self.pending += 1
        return login.password

    def finish(self, matched: bool, now: float) -> AuthResult:
        """The outcome of the password check :meth:`begin` asked for."""
        self.pending -= 1
        if not matched:
            return REFUSED
        return AuthResult(True, session_id=self.sessions.create(now))


def authenticate(authenticator: AdminAuthenticator, auth: Any, *, reactor: Any,
                 threadpool: Any = None) -> "Deferred[AuthResult]":
    """Decide an admin CONNECT: a Deferred :class:`AuthResult`.  The bcrypt
    check runs in ``threadpool`` (default: the reactor's); ``reactor``
    provides ``seconds()`` and ``callFromThread``."""
    from twisted.internet.defer import succeed
    from twisted.internet.threads import deferToThreadPool
    from twisted.python.failure import Failure

    step = authenticator.begin(auth, reactor.seconds())
    if isinstance(step, AuthResult):
        return succeed(step)
    creds = authenticator.credentials
    assert creds is not None
    pool = threadpool if threadpool is not None else reactor.getThreadPool()
    d = deferToThreadPool(reactor, pool, verify_password, step, creds.password_hash)

    def done(result: Any) -> AuthResult:
        if isinstance(result, Failure):
            log.failure("the admin password check failed; refusing the login", failure=result)
        return authenticator.finish(result is True, reactor.seconds())

    return d.addBoth(done)


def main(argv: list[str]) -> int:
    """``python -m txsocketio.admin.auth [USER]``: read a password (twice)
    and print ``USER:HASH`` for ``--admin-auth``."""
    user = argv[0] if argv else "admin"
    first = getpass.getpass("admin password: ")
    if first != getpass.getpass("again: "):
        print("the passwords differ", file=sys.stderr)
        return 1
    try:
        print(f"{user}:{hash_password(first)}")
    except ValueError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
