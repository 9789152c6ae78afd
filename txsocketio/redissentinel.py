# -*- test-case-name: tests.test_redissentinel,tests.interop.test_redis_sentinel -*-
"""Redis Sentinel: asking the Sentinels where the master is.

:class:`Sentinels` keeps the Sentinels of one ``redis+sentinel://`` address in
the order they are asked (the last one that named the master first, as Node's
ioredis does) and asks them in turn, each question on a short-lived
connection.  :class:`MasterEndpoint` connects to the master they name (a
:class:`~txsocketio.redisconn.RedisConnection` hands it to txredisapi, so every
reconnection attempt asks again); :class:`AnySentinelEndpoint` connects to the
first Sentinel that accepts, for the ``+switch-master`` watcher;
:func:`parse_switch_master` reads that announcement.
"""

from __future__ import annotations

from typing import Any

import txredisapi
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import HostnameEndpoint, connectProtocol
from twisted.internet.interfaces import IStreamClientEndpoint
from zope.interface import implementer

from txsocketio.errors import RedisUnavailable
from txsocketio.redisaddress import RedisAddress, host_port, to_str

__all__ = ["AnySentinelEndpoint", "MasterEndpoint", "Sentinels", "parse_switch_master"]


class Sentinels:
    """The Sentinels of ``address``, asked in turn where its master is.

    ``connect_timeout``: how long one Sentinel gets (to accept and to
    answer).
    """

    def __init__(self, address: RedisAddress, reactor: Any, connect_timeout: float) -> None:
        self.address = address
        self.reactor = reactor
        self.connect_timeout = connect_timeout
        self._order: list[tuple[str, int]] = list(address.sentinels)

    def ordered(self) -> list[tuple[str, int]]:
        """The Sentinels, in the order they are asked (the last one that
        named the master first)."""
        return list(self._order)

    def discover_master(self) -> "Deferred[tuple[str, int]]":
        """Ask the Sentinels in turn where the master is -> Deferred[(host, port)].

        The first Sentinel that names the master is asked first next time.
        Fails with :class:`~txsocketio.errors.RedisUnavailable` when none
        does.  Cancellable.
        """
        return Deferred.fromCoroutine(self._discover())

    async def _discover(self) -> tuple[str, int]:
        problems = []
        for sentinel in self.ordered():
            host, port = sentinel
            try:
                master = await self._ask(host, port)
            except CancelledError:
                raise
            except Exception as e:
                problems.append(f"{host_port(host, port)}: {str(e) or type(e).__name__}")
                continue
            if master is None:
                problems.append(f"{host_port(host, port)} knows no master named {self.address.master_name!r}")
                continue
            if self._order[0] != sentinel:
                self._order.remove(sentinel)
                self._order.insert(0, sentinel)
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
            return to_str(master_host), int(master_port)
        except (TypeError, ValueError):
            raise RedisUnavailable(f"unexpected Sentinel reply {answer!r}") from None


@implementer(IStreamClientEndpoint)
class MasterEndpoint:
    """Asks the Sentinels where the master is, then connects there."""

    def __init__(self, sentinels: Sentinels) -> None:
        self._sentinels = sentinels

    def connect(self, factory: Any) -> Deferred:
        sentinels = self._sentinels

        def reach(address: tuple[str, int]) -> Deferred:
            host, port = address
            return HostnameEndpoint(sentinels.reactor, host, port, timeout=sentinels.connect_timeout).connect(factory)

        return sentinels.discover_master().addCallback(reach)


@implementer(IStreamClientEndpoint)
class AnySentinelEndpoint:
    """Connects to the first Sentinel that accepts, in the order they are asked."""

    def __init__(self, sentinels: Sentinels) -> None:
        self._sentinels = sentinels

    def connect(self, factory: Any) -> Deferred:
        return Deferred.fromCoroutine(self._connect(factory))

    async def _connect(self, factory: Any) -> Any:
        sentinels = self._sentinels
        failure: Exception | None = None
        for host, port in sentinels.ordered():
            try:
                return await HostnameEndpoint(sentinels.reactor, host, port,
                                              timeout=sentinels.connect_timeout).connect(factory)
            except CancelledError:
                raise
            except Exception as e:
                failure = e
        raise RedisUnavailable(f"no Sentinel accepts connections ({failure})")


def parse_switch_master(message: str | bytes) -> tuple[str, tuple[str, int]]:
    """``+switch-master <name> <old ip> <old port> <new ip> <new port>`` ->
    ``(name, (new ip, new port))``; ``ValueError`` if malformed."""
    name, _, _, host, port = to_str(message).split()
    return name, (host, int(port))
