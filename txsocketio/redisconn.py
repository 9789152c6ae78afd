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

Where the parts live: URL parsing in :mod:`txsocketio.redisaddress` (pure),
the txredisapi protocols and factories in :mod:`txsocketio.redisprotocol`
(they report to this module through its ``ConnectionEvents``), Sentinel
discovery in :mod:`txsocketio.redissentinel`.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any, Callable

import attrs
import txredisapi
from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint, wrapClientTLS
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from txsocketio.errors import RedisUnavailable
from txsocketio.logs import Logger
from txsocketio.redisaddress import RedisAddress, to_bytes, to_str
from txsocketio.redisprotocol import (PublisherProtocol, SubscriberProtocol, WatchedEndpoint, publisher_factory,
                                      subscriber_factory, switch_watch_factory)
from txsocketio.redissentinel import AnySentinelEndpoint, MasterEndpoint, Sentinels, parse_switch_master

# RedisAddress is re-exported: it is the type of RedisConnection's first argument.
__all__ = ["Backoff", "RedisAddress", "RedisConnection", "Subscription"]

log = Logger(namespace="txsocketio.redis")

ChannelCallback = Callable[[str, bytes], Any]
PatternCallback = Callable[[str, str, bytes], Any]


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
# The hub
# --------------------------------------------------------------------------


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
        return to_str(self.key)

    @property
    def active(self) -> bool:
        """True until unsubscribed (or the connection closed)."""
        return self.connection.is_active(self)

    def ready(self) -> "Deferred[None]":
        """Fires once Redis has confirmed the subscription on the live
        connection (at once if it has).  While Redis is down it waits; it never
        fails."""
        return self.connection.when_confirmed(self)

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

    It is the :class:`~txsocketio.redisprotocol.ConnectionEvents` of its own
    protocols: the methods marked so are called by them, not by applications.
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
        self._sentinels = Sentinels(self.address, reactor, connect_timeout)
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
        self._was_up = False
        self._reconnect_listeners: list[Callable[[], Any]] = []

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
        return {to_str(key) for kind, key in self._subs if kind == "channel"}

    def patterns(self) -> set[str]:
        """The patterns subscribed to now."""
        return {to_str(key) for kind, key in self._subs if kind == "pattern"}

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
            endpoint: Any = MasterEndpoint(self._sentinels)
        elif a.path is not None:
            endpoint = UNIXClientEndpoint(self.reactor, a.path, timeout=self.connect_timeout)
        else:
            host = a.host
            assert host is not None, "an address has a host unless it names Sentinels or a UNIX path"
            endpoint = HostnameEndpoint(self.reactor, host, a.port, timeout=self.connect_timeout)
            if a.tls:
                options = self.tls_options
                if options is None:
                    from twisted.internet.ssl import optionsForClientTLS

                    options = optionsForClientTLS(host)
                endpoint = wrapClientTLS(options, endpoint)
        return WatchedEndpoint(endpoint, self)

    def _start(self) -> None:
        if self._started or self._closed:
            return
        self._started = True
        self._sub_factory, self._pub_factory = subscriber_factory(self), publisher_factory(self)
        self._sub_factory.startConnecting(self._endpoint())
        self._pub_factory.startConnecting(self._endpoint())
        if self.address.is_sentinel:
            # A failover that leaves the old master alive (SENTINEL FAILOVER,
            # maintenance) does not drop our connections: Sentinel's
            # announcement does.
            self._watch_factory = switch_watch_factory(self)
            self._watch_factory.startConnecting(AnySentinelEndpoint(self._sentinels))

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
        return self._sentinels.discover_master()

    def sentinels(self) -> list[tuple[str, int]]:
        """The Sentinels, in the order they are asked (the last one that
        named the master first)."""
        return self._sentinels.ordered()

    # -- events from the connections ----------------------------------------------------
    #
    # Methods marked (ConnectionEvents) implement txsocketio.redisprotocol's
    # ConnectionEvents: this connection's own protocols, factories and
    # endpoints call them; applications do not.

    def unreachable(self, failure: Failure) -> None:
        """(ConnectionEvents) A connection attempt failed: one warning per outage."""
        if self._closed or self._outage:
            return
        self._outage = True
        log.warn("Redis at {address} is unreachable ({error}); retrying in the background, "
                 "this server keeps serving its own clients meanwhile",
                 address=str(self.address), error=failure.getErrorMessage())

    def master_switched(self, message: Any) -> None:
        """(ConnectionEvents) ``+switch-master <name> <old ip> <old port> <new ip> <new port>``:
        drop whichever connection is not on the new master; it reconnects
        through Sentinel (first retry within ``initial_retry_delay``)."""
        try:
            name, new = parse_switch_master(message)
        except ValueError:
            log.warn("unexpected +switch-master announcement from Sentinel: {message!r}", message=message)
            return
        if name != self.address.master_name or self._closed:
            return
        log.info("Sentinel moved master {name!r} to {host}:{port}; following", name=name, host=new[0], port=new[1])
        for proto in (self._subscriber, self._publisher):
            if proto is None:
                continue
            peer = proto.transport.getPeer()
            if (getattr(peer, "host", None), getattr(peer, "port", None)) != new:
                proto.transport.loseConnection()

    def not_master(self, proto: Any, role: Any) -> None:
        """(ConnectionEvents) ``proto`` reached the server Sentinel named, which
        is not a master (a stale answer during a failover): drop it."""
        peer = proto.transport.getPeer()
        self.unreachable(Failure(RedisUnavailable(
            f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}, named by Sentinel as master "
            f"{self.address.master_name!r}, is not a master (ROLE {role!r}); failover in progress?")))
        proto.transport.loseConnection()

    def add_reconnect_listener(self, fn: Callable[[], Any]) -> None:
        """Call ``fn()`` each time both connections are back after an outage
        (not on the first connection): the adapter counts reconnects so."""
        self._reconnect_listeners.append(fn)

    def remove_reconnect_listener(self, fn: Callable[[], Any]) -> None:
        """Stop calling ``fn`` (if it was added)."""
        if fn in self._reconnect_listeners:
            self._reconnect_listeners.remove(fn)

    def _back(self) -> None:
        if not self.connected:
            return
        self._delays.clear()
        was_up, self._was_up = self._was_up, True
        if self._outage:
            self._outage = False
            log.info("Redis at {address} is reachable again; subscriptions restored", address=str(self.address))
            if was_up:
                for fn in list(self._reconnect_listeners):
                    try:
                        fn()
                    except Exception:
                        log.failure("Redis reconnect listener {fn!r} failed", fn=fn)

    # -- the subscriber -------------------------------------------------------------

    def subscriber_ready(self, proto: SubscriberProtocol) -> None:
        """(ConnectionEvents) The subscriber is usable: subscribe to everything current on it."""
        if self._closed:
            proto.transport.loseConnection()
            return
        self._subscriber = proto
        self._confirmed.clear()
        for kind, key in list(self._subs):
            self._issue(proto, kind, key)
        self._back()

    def subscriber_lost(self, proto: SubscriberProtocol) -> None:
        """(ConnectionEvents) That subscriber connection is gone: one warning per outage."""
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

    def is_active(self, subscription: Subscription) -> bool:
        """``subscription`` is current (not unsubscribed, the connection not closed)."""
        return subscription in self._subs.get((subscription.kind, subscription.key), ())

    def when_confirmed(self, subscription: Subscription) -> "Deferred[None]":
        """Fires once Redis has confirmed ``subscription``'s channel or pattern
        on the live subscriber connection (at once if it has); see
        :meth:`Subscription.ready`."""
        key = (subscription.kind, subscription.key)
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
        key = to_bytes(name)
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

    def message_received(self, pattern: Any, channel: Any, message: Any) -> None:
        """(ConnectionEvents) A message from Redis: call every callback of its
        channel (``pattern`` None) or pattern."""
        if not isinstance(message, bytes):
            message = to_bytes(message) if isinstance(message, str) else message
        if pattern is None:
            key = ("channel", to_bytes(channel))
            for sub in list(self._subs.get(key, ())):
                self._call(sub, to_str(channel), message)
        else:
            key = ("pattern", to_bytes(pattern))
            for sub in list(self._subs.get(key, ())):
                self._call(sub, to_str(pattern), to_str(channel), message)

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

    def publisher_ready(self, proto: PublisherProtocol) -> None:
        """(ConnectionEvents) The publisher is usable: send the commands waiting for it."""
        if self._closed:
            proto.transport.loseConnection()
            return
        self._publisher = proto
        pending, self._pending = self._pending, deque()
        for command in pending:
            if not command.result.called:
                self._send(proto, command)
        self._back()

    def publisher_lost(self, proto: PublisherProtocol) -> None:
        """(ConnectionEvents) That publisher connection is gone: one warning per outage."""
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
        return self.execute("PUBLISH", to_bytes(channel), payload, timeout=timeout)

    def numsub(self, channel: str | bytes, *, timeout: float | None = None) -> "Deferred[int]":
        """``PUBSUB NUMSUB channel`` -> Deferred[number of subscriber connections]."""
        d = self.execute("PUBSUB", "NUMSUB", to_bytes(channel), timeout=timeout)

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

        def release(result: object) -> object:
            waiter.callback(None)
            return result

        self._closing.addBoth(release)
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

