# -*- test-case-name: tests.test_socketio_tasks -*-
"""Work tied to one connection: periodic calls, delayed calls, running work.

gevent-socketio's ``self.spawn`` done with Twisted's own tools: a socket (and
a class-based :class:`~txsocketio.Namespace` instance, which delegates to
it) starts work with :meth:`ConnectionTasks.every` (a ``LoopingCall``),
:meth:`ConnectionTasks.later` (a ``callLater``) and
:meth:`ConnectionTasks.spawn` (a Deferred, a coroutine, or a function called
now), all on the server's reactor.  When the socket leaves its namespace,
:meth:`ConnectionTasks.cancel_all` stops the loops, cancels the delayed
calls and cancels the running Deferreds (a coroutine sees ``CancelledError``
at its ``await``).  Failures are logged with the socket and never propagate;
a cancellation is not a failure.  Work started after the socket left is
cancelled at once.
"""

from __future__ import annotations

from functools import partial
from inspect import isawaitable, iscoroutine
from typing import Any, Awaitable, Callable

from twisted.internet.defer import CancelledError, Deferred, ensureDeferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from txsocketio._invoke import invoke
from txsocketio.logs import Logger

__all__ = ["ConnectionTasks"]

log = Logger(namespace="txsocketio.socketio")

#: prune cancelled delayed calls once this many are held
_PRUNE_AT = 16


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


class ConnectionTasks:
    """The work one socket started, ended together by :meth:`cancel_all`.

    ``reactor`` is the server's clock (``sio.reactor``); ``owner`` is what
    log lines name (the socket).  With ``closed`` every new piece of work is
    cancelled at once (the socket has already left).
    """

    def __init__(self, reactor: Any, owner: Any, closed: bool = False) -> None:
        self.reactor = reactor
        self.owner = owner
        #: True once :meth:`cancel_all` ran: new work is cancelled at once
        self.closed = closed
        self._loops: set[LoopingCall] = set()
        self._calls: set[IDelayedCall] = set()
        self._running: set[Deferred[Any]] = set()

    def __len__(self) -> int:
        """How many loops, pending calls and running Deferreds are held."""
        return len(self._loops) + sum(1 for c in self._calls if c.active()) + len(self._running)

    # -- starting work ----------------------------------------------------------------

    def every(self, seconds: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> LoopingCall:
        """Call ``fn(*args, **kwargs)`` every ``seconds``, the first time after
        ``seconds``, until the socket leaves.

        ``fn`` may return a Deferred or be a coroutine function: the next call
        waits for it (no overlap), and it is cancelled with the rest.  A
        failing call is logged and the loop goes on.  Returns the started
        ``LoopingCall``; ``.stop()`` ends it early.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ValueError(f"every() takes a positive number of seconds, not {seconds!r}")
        what = f"periodic call {_name(fn)}"
        loop = LoopingCall(self._run, fn, args, kwargs, what)
        loop.clock = self.reactor
        if self.closed:
            return loop  # never started
        self._loops.add(loop)
        loop.start(seconds, now=False).addBoth(lambda _: self._loops.discard(loop))
        return loop

    def later(self, seconds: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> IDelayedCall:
        """Call ``fn(*args, **kwargs)`` once after ``seconds``, unless the socket
        left first.  What ``fn`` returns (a Deferred, a coroutine) is tracked as
        :meth:`spawn` tracks it.  Returns the ``IDelayedCall``; ``.cancel()``
        drops it early."""
        what = f"delayed call {_name(fn)}"

        def fire() -> None:
            self._calls.discard(call)
            self._run(fn, args, kwargs, what)

        call = self.reactor.callLater(seconds, fire)
        if self.closed:
            call.cancel()
            return call
        if len(self._calls) >= _PRUNE_AT:
            self._calls = {c for c in self._calls if c.active()}
        self._calls.add(call)
        return call

    def spawn(self, work: Any, *args: Any, **kwargs: Any) -> "Deferred[Any]":
        """Run ``work`` until it finishes or the socket leaves.

        ``work`` is a Deferred, a coroutine (or other awaitable), or a
        function called now with ``args`` (gevent-socketio's
        ``spawn(fn, *args)``) whose result may be any of these.  Returns a
        Deferred that fires with the work's result, or with ``None`` when it
        failed (logged) or was cancelled; cancel it to stop the work early.
        """
        if isinstance(work, Deferred) or isawaitable(work):
            if args or kwargs:
                raise TypeError("spawn() takes arguments only with a function")
            if isinstance(work, Deferred):
                d = work
            else:
                d = ensureDeferred(work if iscoroutine(work) else _await(work))
            what = f"spawned {_name(work)}"
        elif callable(work):
            what = f"spawned {_name(work)}"
            result = self._call(work, args, kwargs, what)
            if not isinstance(result, Deferred):
                return succeed(result)
            d = result
        else:
            raise TypeError(f"spawn() takes a Deferred, a coroutine or a function, not {type(work).__name__}")
        return self._track(d, what)

    # -- ending it ----------------------------------------------------------------------

    def cancel_all(self) -> None:
        """The socket left: stop every loop, cancel every pending call and
        running Deferred; work started from now on is cancelled at once."""
        self.closed = True
        loops, self._loops = self._loops, set()
        for loop in loops:
            if loop.running:
                loop.stop()
        calls, self._calls = self._calls, set()
        for call in calls:
            if call.active():
                call.cancel()
        running, self._running = self._running, set()
        for d in running:
            d.cancel()

    # -- plumbing -----------------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> Any:
        """``fn``'s result (coroutines as Deferreds); an exception is logged (None)."""
        try:
            return invoke(partial(fn, **kwargs) if kwargs else fn, *args)
        except Exception:
            log.failure("{what} of {socket} failed", what=what, socket=self.owner)
            return None

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
             what: str) -> "Deferred[Any] | None":
        result = self._call(fn, args, kwargs, what)
        if isinstance(result, Deferred):
            return self._track(result, what)
        return None

    def _track(self, d: "Deferred[Any]", what: str) -> "Deferred[Any]":
        def done(result: Any) -> Any:
            self._running.discard(d)
            if isinstance(result, Failure):
                if not result.check(CancelledError):
                    log.failure("{what} of {socket} failed", result, what=what, socket=self.owner)
                return None
            return result

        if self.closed:
            d.addBoth(done)
            d.cancel()
            return d
        self._running.add(d)
        d.addBoth(done)
        return d
