"""Redis killed and restarted on the same port while messages flow (issue 10,
defect 7): RedisConnection's publisher and subscriber are back about a second
after Redis is, with their default retry policy, and nothing published after
the subscriber is back is lost."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.trial import unittest

from tests.support import RedisServer, poll_until, sleep
from txsocketio.errors import RedisUnavailable
from txsocketio.redisconn import RedisConnection

#: What txredisapi's own backoff (capped at 10 s) took to notice: the guard.
OLD_RECONNECT = 8.0


class RedisRestartTests(unittest.TestCase):
    timeout = 60

    async def test_restart_mid_stream(self) -> None:
        """SIGKILL Redis while a publisher streams to a subscriber, keep it down
        for 3 s (long enough for the backoff to reach its cap), restart it on
        the same port: both connections are back well before the old 8 s, and
        every message published once the subscriber is back arrives, in order."""
        redis = RedisServer()
        self.addCleanup(redis.stop)
        await redis.start()
        subscriber = RedisConnection(redis.url)  # the default retry policy is under test
        publisher = RedisConnection(redis.url)
        self.addCleanup(subscriber.close)
        self.addCleanup(publisher.close)

        received: list[int] = []
        subscriber.subscribe("stream", lambda channel, payload: received.append(int(payload)))
        await subscriber.wait_subscribed()

        sent: dict[int, tuple[float, Any]] = {}  # seq -> (time sent, receivers or the failure)
        stream = {"on": True, "seq": 0}

        def outcome(result: Any, seq: int) -> None:
            if isinstance(result, Failure):
                result.trap(RedisUnavailable)  # waited too long for Redis: anything else is a bug
                result = "failed"
            sent[seq] = (sent[seq][0], result)

        async def pump() -> None:
            while stream["on"]:
                seq = stream["seq"] = stream["seq"] + 1
                sent[seq] = (reactor.seconds(), None)
                d = publisher.publish("stream", str(seq).encode(), timeout=10)
                d.addBoth(outcome, seq)
                await sleep(0.02)

        pumping = Deferred.fromCoroutine(pump())
        await poll_until(lambda: len(received) >= 10, 5)
        self.assertTrue(publisher.connected)

        await redis.kill()
        killed_at = reactor.seconds()
        await poll_until(lambda: not subscriber.connected and not publisher.connected, 5)
        resubscribed = subscriber.wait_subscribed()
        self.assertFalse(resubscribed.called)
        resubscribed.addCallback(lambda _: times.setdefault("sub", reactor.seconds()))
        times: dict[str, float] = {}
        await sleep(3.0)
        # Measured from the restart (Redis listens about 20 ms later), which
        # is conservative: the port probe of start() may see the port only
        # after our connections have.
        back_at = reactor.seconds()
        await redis.start()

        # The moment each side is usable again (the subscriber: Redis confirmed
        # the SUBSCRIBE on the new connection).
        deadline = back_at + 15
        while not ("sub" in times and "pub" in times) and reactor.seconds() < deadline:
            if "pub" not in times and publisher.connected:
                times["pub"] = reactor.seconds()
            await sleep(0.01)
        self.assertIn("sub", times, "the subscriber did not come back")
        self.assertIn("pub", times, "the publisher did not come back")
        sub_back, pub_back = times["sub"], times["pub"]
        # Let the stream run on the restored connections, then stop it.
        await sleep(1.0)
        stream["on"] = False
        await pumping
        await poll_until(lambda: all(result is not None for _, result in sent.values()), 15)
        await sleep(0.2)

        print(f"\nredis restart: down {back_at - killed_at:.2f} s; subscriber back {sub_back - back_at:.2f} s "
              f"and publisher back {pub_back - back_at:.2f} s after the restart; "
              f"{len(sent)} messages published, {len(received)} received")
        self.assertLess(sub_back - back_at, OLD_RECONNECT)
        self.assertLess(pub_back - back_at, OLD_RECONNECT)

        after = [seq for seq, (at, _) in sorted(sent.items()) if at > sub_back + 0.05]
        self.assertGreater(len(after), 10)
        for seq in after:
            self.assertEqual(sent[seq][1], 1, f"message {seq}, published after the subscriber was back")
        self.assertEqual([seq for seq in received if seq in set(after)], after)
        delivered = [seq for seq, (_, result) in sent.items() if result == 1]
        self.assertEqual(sorted(set(received) & set(delivered)), sorted(delivered))
        self.assertEqual(received, sorted(received), "out of order or duplicated")
