# -*- test-case-name: tests.test_redisprotocol,tests.interop.test_redis_conn -*-
"""The txredisapi glue under :class:`~txsocketio.redisconn.RedisConnection`.

Protocols and factories for its three connections (the publisher, the
shared subscriber, and with Sentinel the ``+switch-master`` watcher), and an
endpoint wrapper that reports failed attempts.  They hold no state of their
own: everything they see (ready, lost, a message, an announcement, a failed
attempt) goes to the :class:`ConnectionEvents` they serve, and they take their
reactor and reconnection delays from it.

txredisapi 1.6 traps handled here (STACK-NOTES §1): factories are started
with ``startConnecting(endpoint)``, ``connectionMade`` chains to the base
class (AUTH/SELECT, then the connection counts as ready), replies stay bytes
(``charset=None``, no number conversion), and the parser's ``callLater``
comes from the given reactor, not the global one.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import txredisapi
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.python.failure import Failure
from zope.interface import implementer

from txsocketio.logs import Logger
from txsocketio.redisaddress import RedisAddress

__all__ = ["ConnectionEvents", "PublisherFactory", "PublisherProtocol", "SubscriberFactory", "SubscriberProtocol",
           "SwitchWatchFactory", "SwitchWatchProtocol", "WatchedEndpoint", "publisher_factory", "subscriber_factory",
           "switch_watch_factory"]

log = Logger(namespace="txsocketio.redis")


class ConnectionEvents(Protocol):
    """What the protocols, factories and endpoints of this module tell (and
    ask) the connection they serve.  Implemented by
    :class:`~txsocketio.redisconn.RedisConnection`."""

    #: The reactor every connection and timer runs on.
    reactor: Any
    #: Where Redis is.
    address: RedisAddress

    def retry_delay(self, attempt: int) -> float:
        """Seconds before reconnection attempt number ``attempt`` (1, 2, ...)."""

    def unreachable(self, failure: Failure) -> None:
        """A connection attempt failed (or reached a server that is no master)."""

    def not_master(self, proto: Any, role: Any) -> None:
        """With Sentinel, ``proto`` reached a server whose ``ROLE`` is not master."""

    def subscriber_ready(self, proto: "SubscriberProtocol") -> None:
        """The subscriber connection is usable (AUTH done): subscribe on it."""

    def subscriber_lost(self, proto: "SubscriberProtocol") -> None:
        """That subscriber connection is gone."""

    def message_received(self, pattern: Any, channel: Any, message: Any) -> None:
        """A message on a channel (``pattern`` is None) or a pattern."""

    def publisher_ready(self, proto: "PublisherProtocol") -> None:
        """The publisher connection is usable: send the waiting commands on it."""

    def publisher_lost(self, proto: "PublisherProtocol") -> None:
        """That publisher connection is gone."""

    def master_switched(self, message: Any) -> None:
        """A Sentinel announced ``+switch-master`` with that message."""


@implementer(IStreamClientEndpoint)
class WatchedEndpoint:
    """Tells the connection how each attempt went (for the warnings)."""

    def __init__(self, endpoint: Any, events: ConnectionEvents) -> None:
        self._endpoint = endpoint
        self._events = events

    def connect(self, factory: Any) -> Deferred:
        d = self._endpoint.connect(factory)

        def failed(f: Failure) -> Failure:
            self._events.unreachable(f)
            return f

        d.addErrback(failed)
        return d


def _master_first(proto: Any, chain: Callable[[], Deferred]) -> Any:
    """Run the base ``connectionMade`` (AUTH, SELECT, ready) via ``chain``;
    with Sentinel, only once ``ROLE`` says the server is a master (Sentinel's
    answer may be stale during a failover).  A replica is dropped before the
    connection counts as usable, so txredisapi keeps backing off."""
    events: ConnectionEvents = proto.factory.events
    proto.callLater = events.reactor.callLater  # txredisapi's parser resumes through it; default: global reactor
    if not events.address.is_sentinel:
        return chain()
    if proto.password is not None:
        proto.auth(proto.password, proto.username).addErrback(lambda f: None)

    def check(role: Any) -> Any:
        if isinstance(role, list) and role and role[0] in (b"master", "master"):
            return chain()
        events.not_master(proto, role)
        return None

    def failed(f: Failure) -> Any:
        if f.check(txredisapi.ConnectionError):
            return None  # lost already; ClientService retries
        return chain()  # NOAUTH and friends: the base AUTH reports them

    return proto.role().addCallbacks(check, failed)


class SubscriberProtocol(txredisapi.SubscriberProtocol):
    """The shared subscriber: hands itself and its messages to the events."""

    def connectionMade(self) -> Any:
        # Chain to the base (AUTH, marks the connection ready), then hand
        # ourselves over; the connection subscribes to everything current.
        d = _master_first(self, super().connectionMade)

        def ready(_: Any) -> None:
            if self._ready:
                self.factory.events.subscriber_ready(self)

        return d.addCallback(ready)

    def messageReceived(self, pattern: Any, channel: Any, message: Any) -> None:
        self.factory.events.message_received(pattern, channel, message)

    def connectionLost(self, why: Any) -> None:
        self.factory.events.subscriber_lost(self)
        super().connectionLost(why)


class PublisherProtocol(txredisapi.RedisProtocol):
    """The publisher (every command): hands itself to the events once usable."""

    def connectionMade(self) -> Any:
        d = _master_first(self, super().connectionMade)

        def ready(_: Any) -> None:
            if self._ready:
                self.factory.events.publisher_ready(self)

        return d.addCallback(ready)

    def connectionLost(self, why: Any) -> None:
        self.factory.events.publisher_lost(self)
        super().connectionLost(why)


class SwitchWatchProtocol(txredisapi.SubscriberProtocol):
    """Subscribed to a Sentinel's ``+switch-master`` announcements."""

    def connectionMade(self) -> Any:
        self.callLater = self.factory.events.reactor.callLater
        d = super().connectionMade()

        def ready(_: Any) -> Any:
            if self._ready:
                return self.subscribe(["+switch-master"]).addErrback(lambda f: None)
            return None

        return d.addCallback(ready)

    def messageReceived(self, pattern: Any, channel: Any, message: Any) -> None:
        self.factory.events.master_switched(message)


class SubscriberFactory(txredisapi.SubscriberFactory):
    protocol = SubscriberProtocol
    events: ConnectionEvents

    def retryDelay(self, attempt: int) -> float:
        # txredisapi's documented hook: its ClientService retryPolicy.
        return self.events.retry_delay(attempt)


class PublisherFactory(txredisapi.RedisFactory):
    protocol = PublisherProtocol
    events: ConnectionEvents

    def retryDelay(self, attempt: int) -> float:
        return self.events.retry_delay(attempt)


class SwitchWatchFactory(txredisapi.SubscriberFactory):
    protocol = SwitchWatchProtocol
    events: ConnectionEvents

    def retryDelay(self, attempt: int) -> float:
        return self.events.retry_delay(attempt)


def _configure(factory: Any, events: ConnectionEvents, dbid: int | None) -> None:
    address = events.address
    factory.events = events
    factory.charset = None          # bytes in, bytes out: MessagePack must survive
    factory.convertNumbers = False  # b"123" is a payload, not an int
    factory.password = address.password
    factory.username = address.username
    factory.dbid = dbid
    factory.noisy = False
    # Fails only when AUTH or SELECT is refused: say so, once.
    factory.deferred.addErrback(lambda f: log.error("Redis at {address} refused the connection: {error}",
                                                    address=str(address), error=f.getErrorMessage()))


def subscriber_factory(events: ConnectionEvents) -> SubscriberFactory:
    """The lazy factory of the shared subscriber connection (pub/sub ignores the db)."""
    factory = SubscriberFactory(isLazy=True)
    _configure(factory, events, None)
    return factory


def publisher_factory(events: ConnectionEvents) -> PublisherFactory:
    """The lazy factory of the publisher connection (one connection, the address's db)."""
    address = events.address
    factory = PublisherFactory(str(address), address.db, 1, isLazy=True, charset=None)
    _configure(factory, events, address.db)
    return factory


def switch_watch_factory(events: ConnectionEvents) -> SwitchWatchFactory:
    """The lazy factory of the ``+switch-master`` watcher, with the Sentinels' credentials."""
    address = events.address
    factory = SwitchWatchFactory(isLazy=True)
    factory.events = events
    factory.charset = None
    factory.password = address.sentinel_password
    factory.username = address.sentinel_username
    factory.noisy = False
    # Fails only when a Sentinel refuses AUTH: say so, once.
    factory.deferred.addErrback(lambda f: log.error("a Sentinel of {address} refused the connection: {error} "
                                                    "(sentinel_password / sentinel_username in the URL)",
                                                    address=str(address), error=f.getErrorMessage()))
    return factory
