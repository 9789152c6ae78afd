"""An in-memory Redis pub/sub hub for fast-tier tests of the Redis adapter.

:class:`FakeRedisHub` stands in for one Redis server: each
:meth:`FakeRedisHub.connect` is one process's
:class:`~txsocketio.redisconn.RedisConnection` (publish, subscribe,
psubscribe, unsubscribe, numsub, close), so several adapters on one hub are
several servers of a cluster.  Messages are delivered on the next turn of
the test's ``task.Clock`` (as a real Redis answers later, never during the
publish); :meth:`FakeRedisHub.flush` runs the deliveries.  No sockets, no
sleeps.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Callable

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from txsocketio.errors import RedisUnavailable


class FakeSubscription:
    """What ``subscribe``/``psubscribe`` return: ready at once."""

    def __init__(self, connection: "FakeRedisConnection", kind: str, name: str,
                 callback: Callable[..., Any]) -> None:
        self.connection = connection
        self.kind = kind
        self.name = name
        self.callback = callback

    def ready(self) -> "Deferred[None]":
        return succeed(None)


class FakeRedisConnection:
    """One process's connection to the hub (the subset of RedisConnection the adapter uses)."""

    def __init__(self, hub: "FakeRedisHub", name: str) -> None:
        self.hub = hub
        self.address = f"fake://{name}"
        self.subscriptions: list[FakeSubscription] = []
        self.closed = False
        self.published: list[tuple[str, bytes]] = []

    def subscribe(self, channel: str, callback: Callable[[str, bytes], Any]) -> FakeSubscription:
        sub = FakeSubscription(self, "channel", channel, callback)
        self.subscriptions.append(sub)
        return sub

    def psubscribe(self, pattern: str, callback: Callable[[str, str, bytes], Any]) -> FakeSubscription:
        sub = FakeSubscription(self, "pattern", pattern, callback)
        self.subscriptions.append(sub)
        return sub

    def unsubscribe(self, subscription: FakeSubscription) -> None:
        if subscription in self.subscriptions:
            self.subscriptions.remove(subscription)

    def publish(self, channel: str, payload: bytes, *, timeout: float | None = None) -> "Deferred[int]":
        if self.closed or self.hub.down:
            return fail(RedisUnavailable("the fake Redis is down"))
        self.published.append((channel, payload))
        return succeed(self.hub.publish(channel, payload))

    def numsub(self, channel: str, *, timeout: float | None = None) -> "Deferred[int]":
        if self.closed or self.hub.down:
            return fail(RedisUnavailable("the fake Redis is down"))
        return succeed(self.hub.numsub(channel))

    def close(self) -> "Deferred[None]":
        self.closed = True
        self.subscriptions.clear()
        return succeed(None)


class FakeRedisHub:
    """One Redis server's pub/sub, in memory, on a Clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.connections: list[FakeRedisConnection] = []
        #: True: every command fails with RedisUnavailable
        self.down = False

    def connect(self, name: str = "") -> FakeRedisConnection:
        connection = FakeRedisConnection(self, name or str(len(self.connections)))
        self.connections.append(connection)
        return connection

    def _matching(self, channel: str) -> list[tuple[FakeRedisConnection, FakeSubscription]]:
        found = []
        for connection in self.connections:
            for sub in list(connection.subscriptions):
                if (sub.kind == "channel" and sub.name == channel) or (
                        sub.kind == "pattern" and fnmatchcase(channel, sub.name)):
                    found.append((connection, sub))
        return found

    def publish(self, channel: str, payload: bytes) -> int:
        """Deliver on the next clock turn; the number of subscriber connections reached."""
        matching = self._matching(channel)
        for _, sub in matching:
            if sub.kind == "channel":
                self.clock.callLater(0, sub.callback, channel, payload)
            else:
                self.clock.callLater(0, sub.callback, sub.name, channel, payload)
        return len({id(connection) for connection, _ in matching})

    def numsub(self, channel: str) -> int:
        """``PUBSUB NUMSUB``: connections subscribed to exactly that channel."""
        return sum(1 for c in self.connections if any(s.kind == "channel" and s.name == channel
                                                      for s in c.subscriptions))

    def flush(self) -> None:
        """Run every delivery due now, including those they cause."""
        for _ in range(100):
            if not any(call.getTime() <= self.clock.seconds() for call in self.clock.getDelayedCalls()):
                return
            self.clock.advance(0)
        raise AssertionError("the fake Redis hub keeps delivering")
