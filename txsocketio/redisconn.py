# -*- test-case-name: tests.test_redisconn,tests.interop.test_redis_conn -*-
"""A process's connections to Redis: one publisher, one shared subscriber.

:class:`RedisConnection` is the hub every Redis user of a process shares (the
Redis adapter of each namespace, namespace-level channel subscriptions, the
Twisted emitter)::

    conn = RedisConnection("redis://127.0.0.1:6379/0")
    handle = conn.subscribe("news", lambda channel, payload: ...)
    handle.ready()                           # Deferred: Redis confirmed the SUBSCRIBE
    conn.psubscribe("socket.io#/#*", lambda pattern, channel, payload: ...)
    conn.publish("news", b"\\x93...")        # Deferred[int]: how many subscribers got it
    conn.numsub("news")                      # Deferred[int]: PUBSUB NUMSUB
    conn.unsubscribe(handle)
    conn.close()                             # Deferred: unsubscribed and disconnected

URLs: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` (TLS,
the server's certificate checked against the system's trust roots unless
``tls_options`` is given), ``unix:///path/to/redis.sock?db=N&password=...``,
``redis+sentinel://[[user]:password@]host[:port][,host2[:port]...]/MASTER_NAME[/db]``
(Redis Sentinel: the Sentinels, port 26379 by default, are asked where the
master called ``MASTER_NAME`` is before every connection attempt; ``user`` and
``password`` are those of the Redis servers, ``sentinel_username`` and
``sentinel_password`` in the query those of the Sentinels).  ``password``,
``username`` and ``db`` are accepted in the query of every form.  ``db`` only
matters to commands; Redis pub/sub ignores it.  ``rediss+sentinel://`` is
refused: txredisapi 1.6 has no TLS through Sentinel.

Behaviour (built on txredisapi 1.6, with its traps worked around):

* Nothing connects until the first command or subscription.  Payloads are
  bytes end to end (no charset, no number conversion), so MessagePack
  survives.  Callbacks get ``(channel, payload)`` for a channel and
  ``(pattern, channel, payload)`` for a pattern, names as ``str`` (UTF-8;
  undecodable bytes kept with ``surrogateescape``), payloads as ``bytes``.
* One subscriber connection carries every subscription.  A channel (or
  pattern) is subscribed once however many callbacks listen to it; the last
  :meth:`~RedisConnection.unsubscribe` sends the UNSUBSCRIBE.  Every message
  is delivered once per callback.
* Redis unreachable at start, or going away later: nothing raises; one
  warning is logged per outage and the connections retry in the background
  (:class:`Backoff`: exponential from ``initial_retry_delay``, capped at
  ``max_retry_delay`` = 1 s, with full jitter, so that a restarted Redis is
  noticed within about a second and the servers of a cluster do not all
  reconnect at the same instant).  After every reconnect the subscriber
  subscribes again to everything current (txredisapi does not).  Commands
  issued while Redis is down wait for the connection, at most
  ``command_timeout`` seconds in all, then fail with
  :class:`~txsocketio.errors.RedisUnavailable`; no Deferred of this module
  waits forever on a command.
* With Sentinel, each connection attempt asks the Sentinels (in turn, the
  last one that answered first) for the master's address and checks with
  ``ROLE`` that the server it reaches is a master; a third connection, to a
  Sentinel, listens for ``+switch-master`` and closes whichever connection is
  not on the new master.  So both connections follow a failover, whether the
  old master died or is still up (``SENTINEL FAILOVER``): they reconnect
  through Sentinel and land on the promoted replica; the subscriber
  subscribes there again.
* :meth:`~RedisConnection.close` leaves no connection, retry or timer
  behind, so trial sees a clean reactor.

One :class:`RedisConnection` per :class:`~txsocketio.SocketIOServer`: the
number of servers in a cluster is the number of subscriber connections on a
request channel (``PUBSUB NUMSUB``), so two servers in one process must not
share one.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

import attrs
import txredisapi
from twisted.internet.defer import CancelledError, Deferred, fail, gatherResults, succeed
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from txsocketio.errors import RedisUnavailable

__all__ = ["Backoff", "RedisAddress", "RedisConnection", "Subscription"]

log = Logger(namespace="txsocketio.redis")

ChannelCallback = Callable[[str, bytes], Any]
PatternCallback = Callable[[str, str, bytes], Any]


# --------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------


def _query_value(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _db(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        db = int(value)
    except ValueError:
        raise ValueError(f"the Redis database is a number, not {value!r}") from None
    if db < 0:
        raise ValueError(f"the Redis database is a number >= 0, not {db}")
    return db


SENTINEL_PORT = 26379


def _port(text: str, url: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise ValueError(f"bad port {text!r} in Redis URL {_hide_password(url)!r}")
    return port


def _sentinel_hosts(hostlist: str, url: str) -> tuple[tuple[str, int], ...]:
    """``h1:26379,[::1]:26380,h3`` -> ((host, port), ...)."""
    hosts = []
    for item in hostlist.split(","):
        item = item.strip()
        if item.startswith("["):
            host, sep, rest = item[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"bad Sentinel address {item!r} in {_hide_password(url)!r}")
            port = _port(rest[1:], url) if rest else SENTINEL_PORT
        else:
            host, sep, port_text = item.rpartition(":")
            if not sep:
                host, port = item, SENTINEL_PORT
            else:
                port = _port(port_text, url)
        if not host:
            raise ValueError(f"a redis+sentinel:// URL lists Sentinels as host:port,host2:port, "
                             f"not {_hide_password(url)!r}")
        hosts.append((unquote(host), port))
    return tuple(hosts)


@attrs.frozen
class RedisAddress:
    """Where Redis is, parsed from a URL (see the module docstring).

    A Sentinel address has ``sentinels`` (``(host, port)`` pairs) and
    ``master_name`` instead of ``host``/``port``/``path``.
    """

    host: str | None = "localhost"
    port: int = 6379
    path: str | None = None
    db: int | None = None
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    tls: bool = False
    sentinels: tuple[tuple[str, int], ...] = ()
    master_name: str | None = None
    sentinel_username: str | None = attrs.field(default=None, repr=False)
    sentinel_password: str | None = attrs.field(default=None, repr=False)

    @property
    def is_sentinel(self) -> bool:
        """The master is found through Sentinel."""
        return bool(self.sentinels)

    @classmethod
    def parse(cls, url: str) -> "RedisAddress":
        """Raises ``ValueError`` saying what is wrong with ``url``."""
        if not isinstance(url, str):
            raise TypeError("a Redis URL is a str")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        query = parse_qs(parts.query, keep_blank_values=True)
        username = _query_value(query, "username")
        password = _query_value(query, "password")
        if scheme == "rediss+sentinel":
            raise ValueError("rediss+sentinel:// is not supported: txredisapi 1.6 reaches the master that Sentinel "
                             "names without TLS; use redis+sentinel:// on a trusted network, or rediss:// to a "
                             "fixed server")
        if scheme == "redis+sentinel":
            userinfo, at, hostlist = parts.netloc.rpartition("@")
            if at:
                user, colon, secret = userinfo.partition(":")
                username = unquote(user) or username
                if colon:
                    password = unquote(secret)
            segments = [unquote(segment) for segment in parts.path.split("/")[1:]]
            if not hostlist or not segments or not segments[0] or len(segments) > 2:
                raise ValueError(f"a Sentinel URL is redis+sentinel://host:26379[,host2:26379...]/MASTER_NAME[/db], "
                                 f"not {_hide_password(url)!r}")
            db = _db(segments[1] if len(segments) == 2 and segments[1] else _query_value(query, "db"))
            return cls(host=None, port=0, db=db, username=username or None, password=password,
                       sentinels=_sentinel_hosts(hostlist, url), master_name=segments[0],
                       sentinel_username=_query_value(query, "sentinel_username") or None,
                       sentinel_password=_query_value(query, "sentinel_password"))
        if parts.username:
            username = unquote(parts.username)
        if parts.password is not None:
            password = unquote(parts.password)
        if scheme in ("redis", "rediss"):
            try:
                port = parts.port or 6379
            except ValueError:
                raise ValueError(f"bad port in Redis URL {_hide_password(url)!r}") from None
            db = _db(parts.path.strip("/") or _query_value(query, "db"))
            return cls(host=parts.hostname or "localhost", port=port, db=db,
                       username=username or None, password=password, tls=scheme == "rediss")
        if scheme in ("unix", "redis+unix"):
            if not parts.path:
                raise ValueError(f"a unix Redis URL names a socket path: unix:///path/to/redis.sock, "
                                 f"not {_hide_password(url)!r}")
            return cls(host=None, port=0, path=parts.path, db=_db(_query_value(query, "db")),
                       username=username or None, password=password)
        raise ValueError(f"a Redis URL starts with redis://, rediss://, unix:// or redis+sentinel://, "
                         f"not {_hide_password(url)!r}")

    def __str__(self) -> str:
        """The URL without the password."""
        auth = ""
        if self.username or self.password is not None:
            auth = f"{self.username or ''}:***@"
        db = f"/{self.db}" if self.db is not None else ""
        if self.path is not None:
            return f"unix://{self.path}" + (f"?db={self.db}" if self.db is not None else "")
        if self.sentinels:
            hosts = ",".join(f"{_bracket(host)}:{port}" for host, port in self.sentinels)
            return f"redis+sentinel://{auth}{hosts}/{self.master_name}{db}"
        return f"{'rediss' if self.tls else 'redis'}://{auth}{_bracket(self.host)}:{self.port}{db}"


def _bracket(host: str | None) -> str | None:
    return f"[{host}]" if host and ":" in host else host


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    query = parse_qs(parts.query, keep_blank_values=True)
    secret_keys = [k for k in ("password", "sentinel_password") if k in query]
    if not (at and ":" in userinfo) and not secret_keys:
        return url
    if at and ":" in userinfo:
        userinfo = userinfo.partition(":")[0] + ":***"
    netloc = f"{userinfo}@{hosts}" if at else hosts
    if secret_keys:
        pairs = [(k, "***" if k in secret_keys else v) for k, vs in query.items() for v in vs]
        return parts._replace(netloc=netloc, query="&".join(f"{k}={v}" for k, v in pairs)).geturl()
    return parts._replace(netloc=netloc).geturl()


# --------------------------------------------------------------------------
# Reconnecting
# --------------------------------------------------------------------------


_MIN_RETRY_DELAY = 0.05


@attrs.frozen
class Backoff:
    """How long to wait before reconnection attempt number ``attempt`` (1, 2, ...).

    Exponential backoff with *full jitter* (Brooker, "Exponential Backoff And
    Jitter"): the delay is drawn uniformly between ``minimum`` and the
    ceiling ``min(maximum, initial * factor ** (attempt - 1))``.  The cap
    bounds how long a restarted Redis goes unnoticed; the jitter spreads the
    servers of a cluster over that interval instead of letting them reconnect
    in lockstep; ``minimum`` keeps a flapping Redis from being hammered in a
    tight loop.  Pure: the random draw (a float in [0, 1)) is passed in.
    """

    initial: float = 0.25
    maximum: float = 1.0
    factor: float = 2.0
    minimum: float = _MIN_RETRY_DELAY

    def __attrs_post_init__(self) -> None:
        if not (0 <= self.minimum <= self.initial <= self.maximum):
            raise ValueError(f"retry delays must satisfy 0 <= minimum ({self.minimum}) <= initial "
                             f"({self.initial}) <= maximum ({self.maximum})")
        if self.factor < 1:
            raise ValueError(f"the backoff factor is >= 1, not {self.factor}")

    def ceiling(self, attempt: int) -> float:
        """The longest delay before that attempt."""
        # The exponent is clamped (as in Twisted's backoffPolicy) so that a
        # very long outage cannot overflow the power.
        return min(self.maximum, self.initial * self.factor ** min(max(attempt, 1) - 1, 100))

    def delay(self, attempt: int, draw: float) -> float:
        """The delay for ``attempt``, given a uniform ``draw`` in [0, 1)."""
        return self.minimum + draw * (self.ceiling(attempt) - self.minimum)

    def policy(self, draw: Callable[[], float] = random.random) -> Callable[[int], float]:
        """A ``retryPolicy`` for :class:`twisted.application.internet.ClientService`."""
        return lambda attempt: self.delay(attempt, draw())


# --------------------------------------------------------------------------
# txredisapi plumbing
# --------------------------------------------------------------------------


@implementer(IStreamClientEndpoint)
class _WatchedEndpoint:
    """Tells the hub how each connection attempt went (for the warnings)."""

    def __init__(self, endpoint: Any, hub: "RedisConnection") -> None:
        self._endpoint = endpoint
        self._hub = hub

    def connect(self, factory: Any) -> Deferred:
        d = self._endpoint.connect(factory)

        def failed(f: Failure) -> Failure:
            self._hub._unreachable(f)
            return f

        d.addErrback(failed)
        return d


@implementer(IStreamClientEndpoint)
class _SentinelMasterEndpoint:
    """Asks the Sentinels where the master is, then connects there."""

    def __init__(self, hub: "RedisConnection") -> None:
        self._hub = hub

    def connect(self, factory: Any) -> Deferred:
        hub = self._hub

        def reach(address: tuple[str, int]) -> Deferred:
            host, port = address
            return HostnameEndpoint(hub.reactor, host, port, timeout=hub.connect_timeout).connect(factory)

        return hub.discover_master().addCallback(reach)


@implementer(IStreamClientEndpoint)
class _AnySentinelEndpoint:
    """Connects to the first Sentinel that accepts, in the hub's order."""

    def __init__(self, hub: "RedisConnection") -> None:
        self._hub = hub

    def connect(self, factory: Any) -> Deferred:
        return Deferred.fromCoroutine(self._connect(factory))

    async def _connect(self, factory: Any) -> Any:
        hub = self._hub
        failure: Exception | None = None
        for host, port in hub.sentinels():
            try:
                return await HostnameEndpoint(hub.reactor, host, port, timeout=hub.connect_timeout).connect(factory)
            except CancelledError:
                raise
            except Exception as e:
                failure = e
        raise RedisUnavailable(f"no Sentinel accepts connections ({failure})")


class _SwitchWatchProtocol(txredisapi.SubscriberProtocol):
    """Subscribed to a Sentinel's ``+switch-master`` announcements."""

    def connectionMade(self) -> Any:
        self.callLater = self.factory.hub.reactor.callLater
        d = super().connectionMade()

        def ready(_: Any) -> Any:
            if self._ready:
                return self.subscribe(["+switch-master"]).addErrback(lambda f: None)
            return None

        return d.addCallback(ready)

    def messageReceived(self, pattern: Any, channel: Any, message: Any) -> None:
        self.factory.hub._master_switched(message)


class _SwitchWatchFactory(txredisapi.SubscriberFactory):
    protocol = _SwitchWatchProtocol

    def retryDelay(self, attempt: int) -> float:
        return self.hub.retry_delay(attempt)


def _master_first(proto: Any, chain: Callable[[], Deferred]) -> Any:
    """Run the base ``connectionMade`` (AUTH, SELECT, ready) via ``chain``;
    with Sentinel, only once ``ROLE`` says the server is a master (Sentinel's
    answer may be stale during a failover).  A replica is dropped before the
    connection counts as usable, so txredisapi keeps backing off."""
    hub = proto.factory.hub
    proto.callLater = hub.reactor.callLater  # txredisapi's parser resumes through it; default: global reactor
    if not hub.address.is_sentinel:
        return chain()
    if proto.password is not None:
        proto.auth(proto.password, proto.username).addErrback(lambda f: None)

    def check(role: Any) -> Any:
        if isinstance(role, list) and role and role[0] in (b"master", "master"):
            return chain()
        hub._not_master(proto, role)
        return None

    def failed(f: Failure) -> Any:
        if f.check(txredisapi.ConnectionError):
            return None  # lost already; ClientService retries
        return chain()  # NOAUTH and friends: the base AUTH reports them

    return proto.role().addCallbacks(check, failed)


class _SubscriberProtocol(txredisapi.SubscriberProtocol):
    def connectionMade(self) -> Any:
        # Chain to the base (AUTH, marks the connection ready), then hand
        # ourselves to the hub, which subscribes to everything current.
        d = _master_first(self, super().connectionMade)

        def ready(_: Any) -> None:
            if self._ready:
                self.factory.hub._subscriber_ready(self)

        return d.addCallback(ready)

    def messageReceived(self, pattern: Any, channel: Any, message: Any) -> None:
        self.factory.hub._dispatch(pattern, channel, message)

    def connectionLost(self, why: Any) -> None:
        self.factory.hub._subscriber_lost(self)
        super().connectionLost(why)


class _PublisherProtocol(txredisapi.RedisProtocol):
    def connectionMade(self) -> Any:
        d = _master_first(self, super().connectionMade)

        def ready(_: Any) -> None:
            if self._ready:
                self.factory.hub._publisher_ready(self)

        return d.addCallback(ready)

    def connectionLost(self, why: Any) -> None:
        self.factory.hub._publisher_lost(self)
        super().connectionLost(why)


def _configure(factory: Any, hub: "RedisConnection", address: RedisAddress, dbid: int | None) -> None:
    factory.hub = hub
    factory.charset = None          # bytes in, bytes out: MessagePack must survive
    factory.convertNumbers = False  # b"123" is a payload, not an int
    factory.password = address.password
    factory.username = address.username
    factory.dbid = dbid
    factory.noisy = False
    # Fails only when AUTH or SELECT is refused: say so, once.
    factory.deferred.addErrback(lambda f: log.error("Redis at {address} refused the connection: {error}",
                                                    address=str(address), error=f.getErrorMessage()))


class _SubscriberFactory(txredisapi.SubscriberFactory):
    protocol = _SubscriberProtocol

    def retryDelay(self, attempt: int) -> float:
        # txredisapi's documented hook: its ClientService retryPolicy.
        return self.hub.retry_delay(attempt)


class _PublisherFactory(txredisapi.RedisFactory):
    protocol = _PublisherProtocol

    def retryDelay(self, attempt: int) -> float:
        return self.hub.retry_delay(attempt)


# --------------------------------------------------------------------------
# The hub
# --------------------------------------------------------------------------


def _to_bytes(name: str | bytes) -> bytes:
    if isinstance(name, bytes):
        return name
    if isinstance(name, str):
        return name.encode("utf-8", "surrogateescape")
    raise TypeError(f"a channel or pattern is a str or bytes, not {type(name).__name__}")


def _to_str(name: Any) -> str:
    if isinstance(name, bytes):
        return name.decode("utf-8", "surrogateescape")
    return str(name)


class Subscription:
    """A handle on one callback's subscription to a channel or a pattern."""

    __slots__ = ("connection", "kind", "key", "callback")

    def __init__(self, connection: "RedisConnection", kind: str, key: bytes, callback: Callable[..., Any]) -> None:
        self.connection = connection
        #: ``"channel"`` or ``"pattern"``
        self.kind = kind
        self.key = key
        self.callback = callback

    @property
    def name(self) -> str:
        """The channel or pattern."""
        return _to_str(self.key)

    @property
    def active(self) -> bool:
        """True until unsubscribed (or the connection closed)."""
        return self in self.connection._subs.get((self.kind, self.key), ())

    def ready(self) -> "Deferred[None]":
        """Fires once Redis has confirmed the subscription on the live
        connection (at once if it has).  While Redis is down it waits; it never
        fails."""
        return self.connection._wait_confirmed((self.kind, self.key))

    def cancel(self) -> None:
        """Same as ``connection.unsubscribe(self)``."""
        self.connection.unsubscribe(self)

    def __repr__(self) -> str:
        return f"<Subscription {self.kind} {self.name!r}>"


class _Command:
    __slots__ = ("args", "result")

    def __init__(self, args: tuple[Any, ...], result: Deferred) -> None:
        self.args = args
        self.result = result


class RedisConnection:
    """The publisher and the shared subscriber of one process (see the module docstring).

    ``command_timeout``: how long :meth:`publish` and :meth:`numsub` may take,
    waiting for a connection included, unless a call says otherwise.
    ``connect_timeout``: one connection attempt (and one question to a
    Sentinel).  ``tls_options``: for ``rediss://``, an
    ``IOpenSSLClientConnectionCreator`` (e.g. ``optionsForClientTLS(host,
    trustRoot=...)``) replacing the default check.
    ``initial_retry_delay``/``max_retry_delay``: the :class:`Backoff` between
    reconnection attempts; ``retry_policy`` replaces it with any
    ``ClientService`` retry policy (``attempt -> seconds``, e.g.
    ``twisted.application.internet.backoffPolicy(...)``).
    """

    def __init__(self, url: str | RedisAddress = "redis://localhost:6379", reactor: Any = None, *,
                 command_timeout: float = 5.0, connect_timeout: float = 5.0, tls_options: Any = None,
                 initial_retry_delay: float = 0.25, max_retry_delay: float = 1.0,
                 retry_policy: Callable[[int], float] | None = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.reactor = reactor
        self.address = url if isinstance(url, RedisAddress) else RedisAddress.parse(url)
        self.command_timeout = command_timeout
        self.connect_timeout = connect_timeout
        self.tls_options = tls_options
        if retry_policy is None:
            retry_policy = Backoff(initial=initial_retry_delay, maximum=max_retry_delay,
                                   minimum=min(_MIN_RETRY_DELAY, initial_retry_delay)).policy()
        #: ``attempt -> seconds`` before reconnection attempt number ``attempt``
        self.retry_policy = retry_policy
        self._delays: dict[int, float] = {}
        self._sentinels: list[tuple[str, int]] = list(self.address.sentinels)
        self._started = False
        self._closed = False
        self._closing: Deferred[None] | None = None
        self._sub_factory: Any = None
        self._watch_factory: Any = None
        self._pub_factory: Any = None
        self._subscriber: Any = None
        self._publisher: Any = None
        self._pending: deque[_Command] = deque()
        self._subs: dict[tuple[str, bytes], list[Subscription]] = {}
        self._confirmed: set[tuple[str, bytes]] = set()
        self._waiters: dict[tuple[str, bytes], list[Deferred[None]]] = {}
        self._all_waiters: list[Deferred[None]] = []
        self._outage = False

    def __repr__(self) -> str:
        return f"<RedisConnection {self.address}>"

    # -- state -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Both connections are up."""
        return self._subscriber is not None and self._publisher is not None

    @property
    def closed(self) -> bool:
        return self._closed

    def channels(self) -> set[str]:
        """The channels subscribed to now."""
        return {_to_str(key) for kind, key in self._subs if kind == "channel"}

    def patterns(self) -> set[str]:
        """The patterns subscribed to now."""
        return {_to_str(key) for kind, key in self._subs if kind == "pattern"}

    # -- connecting -----------------------------------------------------------------

    def retry_delay(self, attempt: int) -> float:
        """Seconds before reconnection attempt number ``attempt`` (1, 2, ...)
        of either connection (the ``retry_policy``).

        Within one outage both connections get the same delay for the same
        attempt: they lost the same Redis together, so they retry together
        and the server comes back whole (subscribed *and* able to publish).
        The jitter is between processes, which is where a stampede comes from.
        """
        delay = self._delays.get(attempt)
        if delay is None:
            delay = self._delays[attempt] = max(0.0, float(self.retry_policy(attempt)))
            for old in [n for n in self._delays if n < attempt - 1]:
                del self._delays[old]  # bounded however long the outage
        return delay

    def _endpoint(self) -> Any:
        a = self.address
        if a.is_sentinel:
            endpoint: Any = _SentinelMasterEndpoint(self)
        elif a.path is not None:
            endpoint = UNIXClientEndpoint(self.reactor, a.path, timeout=self.connect_timeout)
        else:
            endpoint = HostnameEndpoint(self.reactor, a.host, a.port, timeout=self.connect_timeout)
            if a.tls:
                options = self.tls_options
                if options is None:
                    from twisted.internet.ssl import optionsForClientTLS

                    options = optionsForClientTLS(a.host)
                endpoint = wrapClientTLS(options, endpoint)
        return _WatchedEndpoint(endpoint, self)

    def _start(self) -> None:
        if self._started or self._closed:
            return
        self._started = True
        sub = _SubscriberFactory(isLazy=True)
        _configure(sub, self, self.address, None)
        pub = _PublisherFactory(str(self.address), self.address.db, 1, isLazy=True, charset=None)
        _configure(pub, self, self.address, self.address.db)
        self._sub_factory, self._pub_factory = sub, pub
        sub.startConnecting(self._endpoint())
        pub.startConnecting(self._endpoint())
        if self.address.is_sentinel:
            # A failover that leaves the old master alive (SENTINEL FAILOVER,
            # maintenance) does not drop our connections: Sentinel's
            # announcement does.
            watch = _SwitchWatchFactory(isLazy=True)
            watch.hub = self
            watch.charset = None
            watch.password = self.address.sentinel_password
            watch.username = self.address.sentinel_username
            watch.noisy = False
            # Fails only when a Sentinel refuses AUTH: say so, once.
            watch.deferred.addErrback(lambda f: log.error("a Sentinel of {address} refused the connection: {error} "
                                                          "(sentinel_password / sentinel_username in the URL)",
                                                          address=str(self.address), error=f.getErrorMessage()))
            self._watch_factory = watch
            watch.startConnecting(_AnySentinelEndpoint(self))

    def _unreachable(self, failure: Failure) -> None:
        if self._closed or self._outage:
            return
        self._outage = True
        log.warn("Redis at {address} is unreachable ({error}); retrying in the background, "
                 "this server keeps serving its own clients meanwhile",
                 address=str(self.address), error=failure.getErrorMessage())

    # -- Sentinel ---------------------------------------------------------------------

    def discover_master(self) -> "Deferred[tuple[str, int]]":
        """Ask the Sentinels in turn where the master is -> Deferred[(host, port)].

        The first Sentinel that names the master is asked first next time
        (as Node's ioredis does).  Fails with
        :class:`~txsocketio.errors.RedisUnavailable` when none does; each
        Sentinel gets ``connect_timeout`` seconds.  Cancellable.
        """
        if not self.address.is_sentinel:
            return fail(ValueError(f"{self!r} is not a Sentinel address"))
        return Deferred.fromCoroutine(self._discover())

    async def _discover(self) -> tuple[str, int]:
        problems = []
        for sentinel in self.sentinels():
            host, port = sentinel
            try:
                master = await self._ask(host, port)
            except CancelledError:
                raise
            except Exception as e:
                problems.append(f"{_bracket(host)}:{port}: {str(e) or type(e).__name__}")
                continue
            if master is None:
                problems.append(f"{_bracket(host)}:{port} knows no master named {self.address.master_name!r}")
                continue
            if self._sentinels[0] != sentinel:
                self._sentinels.remove(sentinel)
                self._sentinels.insert(0, sentinel)
            return master
        raise RedisUnavailable(f"no Sentinel named the master {self.address.master_name!r}: " + "; ".join(problems))

    async def _ask(self, host: str, port: int) -> tuple[str, int] | None:
        """One ``SENTINEL GET-MASTER-ADDR-BY-NAME`` on a short-lived connection."""
        proto = txredisapi.RedisProtocol(charset=None, convertNumbers=False)
        proto.callLater = self.reactor.callLater
        await connectProtocol(HostnameEndpoint(self.reactor, host, port, timeout=self.connect_timeout), proto)
        lost = proto.whenDisconnected()
        try:
            if self.address.sentinel_password is not None:
                auth = proto.auth(self.address.sentinel_password, self.address.sentinel_username)
                auth.addErrback(lambda f: None)  # a refusal shows in the next reply (NOAUTH)
            reply = proto.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.address.master_name)
            reply.addTimeout(self.connect_timeout, self.reactor)
            answer = await reply
        finally:
            proto.transport.loseConnection()
            await lost
        if answer is None:
            return None
        try:
            master_host, master_port = answer
            return _to_str(master_host), int(master_port)
        except (TypeError, ValueError):
            raise RedisUnavailable(f"unexpected Sentinel reply {answer!r}") from None

    def sentinels(self) -> list[tuple[str, int]]:
        """The Sentinels, in the order they are asked (the last one that
        named the master first)."""
        return list(self._sentinels)

    def _master_switched(self, message: Any) -> None:
        """``+switch-master <name> <old ip> <old port> <new ip> <new port>``:
        drop whichever connection is not on the new master; it reconnects
        through Sentinel (first retry within ``initial_retry_delay``)."""
        try:
            name, _, _, host, port = _to_str(message).split()
            new = (host, int(port))
        except ValueError:
            log.warn("unexpected +switch-master announcement from Sentinel: {message!r}", message=message)
            return
        if name != self.address.master_name or self._closed:
            return
        log.info("Sentinel moved master {name!r} to {host}:{port}; following", name=name, host=host, port=port)
        for proto in (self._subscriber, self._publisher):
            if proto is None:
                continue
            peer = proto.transport.getPeer()
            if (getattr(peer, "host", None), getattr(peer, "port", None)) != new:
                proto.transport.loseConnection()

    def _not_master(self, proto: Any, role: Any) -> None:
        peer = proto.transport.getPeer()
        self._unreachable(Failure(RedisUnavailable(
            f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}, named by Sentinel as master "
            f"{self.address.master_name!r}, is not a master (ROLE {role!r}); failover in progress?")))
        proto.transport.loseConnection()

    def _back(self) -> None:
        if self.connected:
            self._delays.clear()
        if self._outage and self.connected:
            self._outage = False
            log.info("Redis at {address} is reachable again; subscriptions restored", address=str(self.address))

    # -- the subscriber -------------------------------------------------------------

    def _subscriber_ready(self, proto: Any) -> None:
        if self._closed:
            proto.transport.loseConnection()
            return
        self._subscriber = proto
        self._confirmed.clear()
        for kind, key in list(self._subs):
            self._issue(proto, kind, key)
        self._back()

    def _subscriber_lost(self, proto: Any) -> None:
        if self._subscriber is not proto:
            return
        self._subscriber = None
        self._confirmed.clear()
        if not self._closed:
            if not self._outage:
                log.warn("lost the Redis subscriber connection to {address}; reconnecting "
                         "(subscriptions will be restored)", address=str(self.address))
            self._outage = True

    def _issue(self, proto: Any, kind: str, key: bytes) -> None:
        try:
            d = proto.subscribe([key]) if kind == "channel" else proto.psubscribe([key])
        except txredisapi.ConnectionError:
            return  # lost already: the next connection subscribes again

        def confirmed(_: Any) -> None:
            if proto is self._subscriber and (kind, key) in self._subs:
                self._confirmed.add((kind, key))
                self._fire_waiters((kind, key))

        # A failure means the connection dropped mid-subscribe (STACK-NOTES
        # §1): the next connection subscribes again.
        d.addCallbacks(confirmed, lambda f: None)

    def _drop(self, proto: Any, kind: str, key: bytes) -> None:
        try:
            d = proto.unsubscribe([key]) if kind == "channel" else proto.punsubscribe([key])
        except txredisapi.ConnectionError:
            return
        d.addErrback(lambda f: None)

    def _fire_waiters(self, key: tuple[str, bytes]) -> None:
        for d in self._waiters.pop(key, ()):
            d.callback(None)
        if self._all_waiters and self._confirmed.issuperset(self._subs):
            waiters, self._all_waiters = self._all_waiters, []
            for d in waiters:
                d.callback(None)

    def _wait_confirmed(self, key: tuple[str, bytes]) -> "Deferred[None]":
        if key in self._confirmed:
            return succeed(None)
        d: Deferred[None] = Deferred(lambda d: self._waiters.get(key, []).remove(d)
                                     if d in self._waiters.get(key, []) else None)
        self._waiters.setdefault(key, []).append(d)
        return d

    def wait_subscribed(self) -> "Deferred[None]":
        """Fires once every current subscription is confirmed by Redis (at
        once if there is none).  Waits while Redis is down; never fails."""
        if self._confirmed.issuperset(self._subs):
            return succeed(None)
        d: Deferred[None] = Deferred(lambda d: self._all_waiters.remove(d) if d in self._all_waiters else None)
        self._all_waiters.append(d)
        return d

    def _add(self, kind: str, name: str | bytes, callback: Callable[..., Any]) -> Subscription:
        if not callable(callback):
            raise TypeError("the callback must be callable")
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        key = _to_bytes(name)
        sub = Subscription(self, kind, key, callback)
        entries = self._subs.setdefault((kind, key), [])
        entries.append(sub)
        if len(entries) == 1:
            self._start()
            if self._subscriber is not None:
                self._issue(self._subscriber, kind, key)
        return sub

    def subscribe(self, channel: str | bytes, callback: ChannelCallback) -> Subscription:
        """Call ``callback(channel, payload)`` for every message on ``channel``."""
        return self._add("channel", channel, callback)

    def psubscribe(self, pattern: str | bytes, callback: PatternCallback) -> Subscription:
        """Call ``callback(pattern, channel, payload)`` for every message on a
        channel matching the glob-style ``pattern``."""
        return self._add("pattern", pattern, callback)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop calling that callback; the last one of a channel or pattern
        unsubscribes it in Redis.  Unsubscribing twice does nothing."""
        key = (subscription.kind, subscription.key)
        entries = self._subs.get(key)
        if not entries or subscription not in entries:
            return
        entries.remove(subscription)
        if entries:
            return
        del self._subs[key]
        self._confirmed.discard(key)
        self._waiters.pop(key, None)
        if self._subscriber is not None:
            self._drop(self._subscriber, *key)
        self._fire_waiters(key)

    def _dispatch(self, pattern: Any, channel: Any, message: Any) -> None:
        if not isinstance(message, bytes):
            message = _to_bytes(message) if isinstance(message, str) else message
        if pattern is None:
            key = ("channel", _to_bytes(channel))
            for sub in list(self._subs.get(key, ())):
                self._call(sub, _to_str(channel), message)
        else:
            key = ("pattern", _to_bytes(pattern))
            for sub in list(self._subs.get(key, ())):
                self._call(sub, _to_str(pattern), _to_str(channel), message)

    def _call(self, sub: Subscription, *args: Any) -> None:
        if sub not in self._subs.get((sub.kind, sub.key), ()):
            return  # unsubscribed by an earlier callback of this message
        try:
            result = sub.callback(*args)
        except Exception:
            log.failure("Redis subscriber callback for {name!r} failed", name=sub.name)
            return
        if isinstance(result, Deferred):
            result.addErrback(lambda f: log.failure("Redis subscriber callback for {name!r} failed", f,
                                                    name=sub.name))

    # -- the publisher ---------------------------------------------------------------

    def _publisher_ready(self, proto: Any) -> None:
        if self._closed:
            proto.transport.loseConnection()
            return
        self._publisher = proto
        pending, self._pending = self._pending, deque()
        for command in pending:
            if not command.result.called:
                self._send(proto, command)
        self._back()

    def _publisher_lost(self, proto: Any) -> None:
        if self._publisher is proto:
            self._publisher = None
            if not self._closed and not self._outage:
                self._outage = True
                log.warn("lost the Redis connection to {address}; reconnecting", address=str(self.address))

    def _send(self, proto: Any, command: _Command) -> None:
        try:
            reply = proto.execute_command(*command.args)
        except txredisapi.ConnectionError:
            self._pending.append(command)  # lost this very moment: wait for the next one
            return
        except Exception:
            command.result.errback()  # an argument Redis cannot take (txredisapi.InvalidData...)
            return

        def done(result: Any) -> None:
            if not command.result.called:
                if isinstance(result, Failure) and result.check(txredisapi.ConnectionError):
                    result = Failure(RedisUnavailable(
                        f"the connection to Redis was lost before it answered {command.args[0]}"))
                if isinstance(result, Failure):
                    command.result.errback(result)
                else:
                    command.result.callback(result)

        reply.addBoth(done)

    def execute(self, *args: Any, timeout: float | None = None) -> "Deferred[Any]":
        """Run one Redis command on the publisher connection -> Deferred[reply].

        Waits for a connection when there is none, ``timeout`` seconds
        (default ``command_timeout``) at most in all, then fails with
        :class:`~txsocketio.errors.RedisUnavailable`.  Arguments are ``bytes``
        or ``str`` (UTF-8); replies are ``bytes`` (bulk), ``str`` (status),
        ``int`` or lists of them.
        Not for SUBSCRIBE and friends, nor blocking commands.
        """
        if self._closed:
            return fail(RedisUnavailable(f"{self!r} is closed"))
        self._start()
        limit = self.command_timeout if timeout is None else timeout

        def cancel(d: Deferred[Any]) -> None:
            for command in self._pending:
                if command.result is d:
                    self._pending.remove(command)
                    break

        result: Deferred[Any] = Deferred(cancel)
        command = _Command(args, result)
        if self._publisher is not None:
            self._send(self._publisher, command)
        else:
            self._pending.append(command)
        name = str(args[0]) if args else "?"

        def timed_out(_: Any, seconds: float) -> Failure:
            state = "did not answer" if self._publisher is not None else "could not be reached"
            return Failure(RedisUnavailable(f"Redis at {self.address} {state} within {seconds} s ({name})"))

        result.addTimeout(limit, self.reactor, onTimeoutCancel=timed_out)
        return result

    def publish(self, channel: str | bytes, payload: bytes | str, *,
                timeout: float | None = None) -> "Deferred[int]":
        """``PUBLISH`` -> Deferred[number of subscribers that got it] (see :meth:`execute`)."""
        return self.execute("PUBLISH", _to_bytes(channel), payload, timeout=timeout)

    def numsub(self, channel: str | bytes, *, timeout: float | None = None) -> "Deferred[int]":
        """``PUBSUB NUMSUB channel`` -> Deferred[number of subscriber connections]."""
        d = self.execute("PUBSUB", "NUMSUB", _to_bytes(channel), timeout=timeout)

        def count(reply: Any) -> int:
            try:
                return int(reply[1])
            except (TypeError, ValueError, IndexError):
                raise RedisUnavailable(f"unexpected PUBSUB NUMSUB reply {reply!r}") from None

        return d.addCallback(count)

    # -- closing --------------------------------------------------------------------

    def close(self) -> "Deferred[None]":
        """Unsubscribe, stop retrying and disconnect; pending commands fail with
        :class:`~txsocketio.errors.RedisUnavailable`.  Fires (never fails)
        once both connections are closed.  Calling it again returns a
        Deferred for the same close."""
        if self._closing is None:
            self._closed = True
            self._closing = self._close()
        waiter: Deferred[None] = Deferred()
        self._closing.addBoth(lambda r: (waiter.callback(None), r)[1])
        return waiter

    def _close(self) -> "Deferred[None]":
        pending, self._pending = self._pending, deque()
        for command in pending:
            if not command.result.called:
                command.result.errback(RedisUnavailable(f"{self!r} was closed"))
        proto = self._subscriber
        if proto is not None:
            for kind, key in list(self._subs):
                self._drop(proto, kind, key)
        self._subs.clear()
        self._confirmed.clear()
        self._waiters.clear()
        waiters, self._all_waiters = self._all_waiters, []
        for d in waiters:
            d.callback(None)
        stopping = [f.disconnect() for f in (self._sub_factory, self._pub_factory, self._watch_factory)
                    if f is not None]
        done = gatherResults(stopping, consumeErrors=True)
        done.addErrback(lambda f: log.failure("closing the Redis connections failed", f))
        # txredisapi hands connections over with callLater(0): let those run.
        return done.addCallback(lambda _: deferLater(self.reactor, 0, lambda: None))

