"""Helpers for the trial test suite: ports, tools, subprocesses, servers.

Everything here is reactor-friendly: nothing blocks or sleeps, waits are
``deferLater``/``callLater`` loops, and every process is waited for until it
has really exited, so trial never sees a dirty reactor.

Typical use::

    async def test_something(self):
        port = free_port()
        server = ServerProcess(
            [sys.executable, "examples/engineio_echo.py", "--port", str(port)], port)
        self.addCleanup(server.stop)
        await server.start()
        result = await run_process([require_tool("node"), "client.js"], cwd=NODE_DIR)
        self.assertEqual(result.exit_code, 0, result.describe())

Missing tools (node, redis-server, chromium, ...) skip a test, except under
``CI=true`` where they fail it: CI must install everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, NoReturn, Sequence

from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectError, ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol, Protocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import FailTest, SkipTest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = PROJECT_ROOT / "tests"
NODE_DIR = TESTS_DIR / "node"

LOCALHOST = "127.0.0.1"


# ---------------------------------------------------------------------------
# Ports and tools


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that was free a moment ago (bind to port 0, then close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def missing(what: str) -> NoReturn:
    """Skip the current test because *what* is missing; fail it under CI=true."""
    if in_ci():
        raise FailTest(
            f"{what} is missing; under CI=true this is a failure, not a skip "
            f"(bash scripts/test.sh installs it)")
    raise SkipTest(f"{what} is missing")


def require_tool(name_or_path: str) -> str:
    """The full path of an executable (a name on PATH, or a path).

    Missing: SkipTest, or a failure under CI=true.
    """
    if os.sep in name_or_path:
        path = name_or_path
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    else:
        found = shutil.which(name_or_path)
        if found:
            return found
    missing(f"tool {name_or_path!r}")


def require_node() -> str:
    return require_tool("node")


def require_node_modules(*packages: str) -> Path:
    """Check that node and ``tests/node/node_modules`` (and *packages* in it)
    exist; returns :data:`NODE_DIR`."""
    require_node()
    modules = NODE_DIR / "node_modules"
    if not modules.is_dir():
        missing(f"{modules} (run `npm ci` in tests/node)")
    for package in packages:
        if not (modules / package / "package.json").is_file():
            missing(f"node package {package!r} in {modules} (run `npm ci` in tests/node)")
    return NODE_DIR


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: ours plus *env*.

    reactor.spawnProcess gives a child an EMPTY environment unless told
    otherwise, so always merge with os.environ.  Python children get
    unbuffered output (their log lines must reach us as they are written) and
    the project root on PYTHONPATH (so examples import txsocketio even from a
    plain checkout).
    """
    merged = dict(os.environ)
    merged["PYTHONUNBUFFERED"] = "1"
    pythonpath = merged.get("PYTHONPATH")
    merged["PYTHONPATH"] = (
        f"{PROJECT_ROOT}{os.pathsep}{pythonpath}" if pythonpath else str(PROJECT_ROOT))
    if env:
        merged.update(env)
    return merged


def _resolve_argv(argv: Sequence[str | os.PathLike]) -> list[str]:
    args = [os.fspath(a) for a in argv]
    if not args:
        raise ValueError("empty argv")
    executable = args[0] if os.sep in args[0] else shutil.which(args[0])
    if executable is None:
        raise FileNotFoundError(f"executable not found on PATH: {args[0]}")
    return [executable, *args[1:]]


def _tail(data: bytes, limit: int = 4000) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit else "...\n" + text[-limit:]


async def sleep(seconds: float) -> None:
    """Reactor-friendly sleep for ``async def`` tests."""
    await deferLater(reactor, seconds, lambda: None)


async def poll_until(
    predicate: Callable[[], object],
    timeout: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition not met",
):
    """Call *predicate* every *interval* s until it returns something truthy
    (returned), or fail the test after *timeout* s."""
    deadline = reactor.seconds() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if reactor.seconds() >= deadline:
            text = message() if callable(message) else message
            raise FailTest(f"after {timeout} s: {text}")
        await sleep(interval)


# ---------------------------------------------------------------------------
# Processes


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int  # negative signal number if killed by a signal
    stdout: bytes
    stderr: bytes

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    def describe(self) -> str:
        """Exit code and output, for assertion messages."""
        return (f"exit code {self.exit_code}\n--- stdout ---\n{_tail(self.stdout)}"
                f"\n--- stderr ---\n{_tail(self.stderr)}")


class ProcessTimeout(FailTest):
    """A process did not finish in time (it has been killed)."""

    def __init__(self, argv: Sequence[str], timeout: float, result: ProcessResult):
        super().__init__(f"{' '.join(argv)} did not finish within {timeout} s and was "
                         f"killed; {result.describe()}")
        self.result = result


class _Collector(ProcessProtocol):
    """Collects a child's output and its exit code."""

    def __init__(self, stdout: bytearray | None = None, stderr: bytearray | None = None):
        self.stdout = bytearray() if stdout is None else stdout
        self.stderr = bytearray() if stderr is None else stderr
        self.exit_code: int | None = None
        self._waiters: list[Deferred] = []

    def outReceived(self, data: bytes) -> None:
        self.stdout += data

    def errReceived(self, data: bytes) -> None:
        self.stderr += data

    def processEnded(self, reason) -> None:
        value = reason.value
        signo = getattr(value, "signal", None)
        self.exit_code = -signo if signo else (value.exitCode or 0)
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(self.exit_code)

    @property
    def ended(self) -> bool:
        return self.exit_code is not None

    def when_ended(self) -> Deferred:
        """A new Deferred firing with the exit code once the child is gone."""
        if self.ended:
            return succeed(self.exit_code)
        d = Deferred()
        self._waiters.append(d)
        return d

    def signal(self, name: str) -> None:
        if self.ended or self.transport is None:
            return
        try:
            self.transport.signalProcess(name)  # os.kill(pid, ...)
        except ProcessExitedAlready:
            pass


def spawn(argv, *, env=None, cwd=None, protocol: ProcessProtocol | None = None):
    """reactor.spawnProcess with our defaults (merged env, cwd=project root)."""
    args = _resolve_argv(argv)
    proto = protocol if protocol is not None else _Collector()
    reactor.spawnProcess(proto, args[0], args, env=child_env(env),
                         path=os.fspath(cwd) if cwd is not None else str(PROJECT_ROOT))
    return proto


def run_process(
    argv: Sequence[str | os.PathLike],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    timeout: float = 30,
) -> Deferred:
    """Run a process to completion -> Deferred[ProcessResult].

    *env* is merged into os.environ; *cwd* defaults to the project root.
    After *timeout* s the process is killed (SIGKILL by PID) and the Deferred
    fails with :class:`ProcessTimeout`.
    """
    return Deferred.fromCoroutine(_run_process(argv, env, cwd, timeout))


async def _run_process(argv, env, cwd, timeout) -> ProcessResult:
    proto = spawn(argv, env=env, cwd=cwd)
    ended = proto.when_ended()
    timed_out = []

    def on_timeout():
        timed_out.append(True)
        proto.signal("KILL")

    killer = reactor.callLater(timeout, on_timeout)
    try:
        exit_code = await ended
    finally:
        if killer.active():
            killer.cancel()
    result = ProcessResult(exit_code, bytes(proto.stdout), bytes(proto.stderr))
    if timed_out:
        raise ProcessTimeout([os.fspath(a) for a in argv], timeout, result)
    return result


class _Probe(Protocol):
    def __init__(self):
        self.lost = Deferred()

    def connectionLost(self, reason=None):
        self.lost.callback(None)


async def can_connect(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to host:port succeeds (it is closed again)."""
    probe = _Probe()
    try:
        await connectProtocol(TCP4ClientEndpoint(reactor, host, port, timeout=timeout), probe)
    except ConnectError:  # refused, timed out, ...
        return False
    probe.transport.loseConnection()
    await probe.lost
    return True


class ServerProcess:
    """A long-running child process that listens on a TCP port.

    ::

        server = ServerProcess([sys.executable, "examples/x.py", "--port", str(port)], port)
        self.addCleanup(server.stop)
        await server.start()          # returns once 127.0.0.1:port accepts

    Output is collected in :attr:`stdout` / :attr:`stderr` (bytes, all runs
    appended).  :meth:`stop` sends SIGTERM, then SIGKILL after *grace* s, and
    waits for the exit; it is safe to call more than once or on a process
    that never started.
    """

    startup_timeout = 15.0
    poll_interval = 0.05

    def __init__(
        self,
        argv: Sequence[str | os.PathLike],
        port: int,
        *,
        host: str = LOCALHOST,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        name: str | None = None,
        startup_timeout: float | None = None,
    ):
        self.argv = [os.fspath(a) for a in argv]
        self.port = port
        self.host = host
        self.env = env
        self.cwd = cwd
        # "python examples/x.py ..." -> "x.py"; "redis-server ..." -> "redis-server"
        program = (self.argv[1] if self.argv[0] == sys.executable and len(self.argv) > 1
                   else self.argv[0])
        self.name = name or os.path.basename(program)
        if startup_timeout is not None:
            self.startup_timeout = startup_timeout
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._proto: _Collector | None = None

    # -- state ------------------------------------------------------------

    @property
    def stdout(self) -> bytes:
        return bytes(self._stdout)

    @property
    def stderr(self) -> bytes:
        return bytes(self._stderr)

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def running(self) -> bool:
        return self._proto is not None and not self._proto.ended

    @property
    def exit_code(self) -> int | None:
        return None if self._proto is None else self._proto.exit_code

    @property
    def pid(self) -> int | None:
        if self._proto is None or self._proto.transport is None:
            return None
        return self._proto.transport.pid

    def describe(self) -> str:
        """Command, state and output, for assertion messages."""
        state = "running" if self.running else f"exit code {self.exit_code}"
        return (f"{' '.join(self.argv)} ({state})\n--- stdout ---\n{_tail(self._stdout)}"
                f"\n--- stderr ---\n{_tail(self._stderr)}")

    # -- control ----------------------------------------------------------

    def start(self) -> Deferred:
        """Spawn and wait until the port accepts -> Deferred[self].

        Fails (with the output) if the process exits first or the port is not
        up within *startup_timeout* s (then the process is killed).
        """
        return Deferred.fromCoroutine(self._start())

    async def _start(self):
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._proto = spawn(self.argv, env=self.env, cwd=self.cwd,
                            protocol=_Collector(self._stdout, self._stderr))
        deadline = reactor.seconds() + self.startup_timeout
        while True:
            if not self.running:
                raise FailTest(f"{self.name} exited before listening on "
                               f"{self.host}:{self.port}: {self.describe()}")
            if await can_connect(self.host, self.port, timeout=1.0):
                if self.running:
                    return self
                continue  # someone else has the port and ours died: report that
            if reactor.seconds() >= deadline:
                await self.kill()
                raise FailTest(f"{self.name} did not listen on {self.host}:{self.port} "
                               f"within {self.startup_timeout} s: {self.describe()}")
            await sleep(self.poll_interval)

    def stop(self, grace: float = 3.0) -> Deferred:
        """SIGTERM, SIGKILL after *grace* s, wait -> Deferred[exit code or None]."""
        if not self.running:
            return succeed(self.exit_code)
        return Deferred.fromCoroutine(self._stop(grace))

    async def _stop(self, grace: float):
        proto = self._proto
        ended = proto.when_ended()
        proto.signal("TERM")
        killer = reactor.callLater(grace, proto.signal, "KILL")
        try:
            return await ended
        finally:
            if killer.active():
                killer.cancel()

    def kill(self) -> Deferred:
        """SIGKILL and wait -> Deferred[exit code or None]."""
        if not self.running:
            return succeed(self.exit_code)
        ended = self._proto.when_ended()
        self._proto.signal("KILL")
        return ended

    def send_signal(self, signo: int) -> None:
        if self.running:
            self._proto.signal(signal.Signals(signo).name.removeprefix("SIG"))

    def wait_for_exit(self, timeout: float = 10.0) -> Deferred:
        """Wait (at most *timeout* s) until the process exits by itself."""
        async def wait():
            await poll_until(lambda: not self.running, timeout,
                             message=lambda: f"{self.name} still running: {self.describe()}")
            return self.exit_code
        return Deferred.fromCoroutine(wait())

    def wait_for_output(
        self,
        predicate: str | Callable[[str], object],
        timeout: float = 3.0,
        stream: str = "stdout",
    ) -> Deferred:
        """Poll the collected output until it contains *predicate* (a
        substring) or *predicate(text)* is truthy -> Deferred[that value]."""
        def check():
            text = self.stdout_text if stream == "stdout" else self.stderr_text
            if isinstance(predicate, str):
                return text if predicate in text else None
            return predicate(text)
        return Deferred.fromCoroutine(poll_until(
            check, timeout, message=lambda: f"expected output not seen: {self.describe()}"))


class RedisServer(ServerProcess):
    """A throw-away redis-server on a free loopback port, no persistence.

    ``.stop()`` (SIGTERM), ``.kill()`` (SIGKILL) and ``.restart()`` (same
    port; data is lost, as with a real crash without persistence).
    """

    def __init__(self, port: int | None = None, *, executable: str = "redis-server",
                 extra_args: Sequence[str] = ()):
        path = require_tool(executable)
        port = port or free_port()
        super().__init__(
            [path, "--port", str(port), "--bind", LOCALHOST, "--save", "",
             "--appendonly", "no", "--daemonize", "no", *extra_args],
            port,
            cwd=os.getcwd(),  # trial's _trial_temp; nothing is written anyway
            name="redis-server",
        )

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def restart(self) -> Deferred:
        """Stop (if running) and start again on the same port -> Deferred[self]."""
        async def restart():
            await self.stop()
            return await self.start()
        return Deferred.fromCoroutine(restart())

    def ping(self, timeout: float = 5.0) -> Deferred:
        """Send a raw ``PING`` -> Deferred[reply bytes, e.g. b"+PONG\\r\\n"]."""
        return Deferred.fromCoroutine(_redis_ping(self.host, self.port, timeout))


class _LineReader(Protocol):
    """Sends *request*, reads one CRLF-terminated line, closes."""

    def __init__(self, request: bytes):
        self.request = request
        self.buffer = b""
        self.line = Deferred()
        self.lost = Deferred()

    def connectionMade(self):
        self.transport.write(self.request)

    def dataReceived(self, data: bytes):
        self.buffer += data
        if b"\r\n" in self.buffer and not self.line.called:
            self.line.callback(self.buffer.split(b"\r\n", 1)[0] + b"\r\n")
            self.transport.loseConnection()

    def connectionLost(self, reason=None):
        if not self.line.called:
            self.line.errback(reason)
        self.lost.callback(None)


async def _redis_ping(host: str, port: int, timeout: float) -> bytes:
    reader = _LineReader(b"PING\r\n")
    await connectProtocol(TCP4ClientEndpoint(reactor, host, port, timeout=timeout), reader)
    aborter = reactor.callLater(timeout, reader.transport.abortConnection)
    try:
        line = await reader.line
        await reader.lost  # fully closed before we return: no dirty reactor
    finally:
        if aborter.active():
            aborter.cancel()
    return line


class RedisSentinel(ServerProcess):
    """A throw-away Redis Sentinel (``redis-server <conf> --sentinel``) on a
    free loopback port, watching one master with fast timings.

    ``extra_config``: more lines for the configuration file (e.g.
    ``requirepass ...``, ``sentinel auth-pass <master> ...``).
    Its configuration (Sentinel rewrites it) lives in a temporary directory
    that :meth:`stop` removes.  Sentinel logs its events (``+sdown``,
    ``+switch-master``, ...) on stdout: see :meth:`wait_for_output`.
    """

    def __init__(self, master_name: str, master_port: int, *, master_host: str = LOCALHOST,
                 port: int | None = None, quorum: int = 1, down_after_ms: int = 500,
                 failover_timeout_ms: int = 2000, extra_config: Sequence[str] = (),
                 executable: str = "redis-server"):
        import tempfile

        path = require_tool(executable)
        port = port or free_port()
        self.directory = tempfile.mkdtemp(prefix="txsocketio-sentinel-")
        self.config = os.path.join(self.directory, "sentinel.conf")
        with open(self.config, "w") as f:
            f.write(f"port {port}\nbind {LOCALHOST}\ndaemonize no\ndir {self.directory}\n"
                    f"sentinel monitor {master_name} {master_host} {master_port} {quorum}\n"
                    f"sentinel down-after-milliseconds {master_name} {down_after_ms}\n"
                    f"sentinel failover-timeout {master_name} {failover_timeout_ms}\n"
                    f"sentinel parallel-syncs {master_name} 1\n" + "".join(f"{line}\n" for line in extra_config))
        super().__init__([path, self.config, "--sentinel"], port, cwd=self.directory, name="redis-sentinel")

    def stop(self, grace: float = 3.0) -> Deferred:
        """Stop as :meth:`ServerProcess.stop`, then remove the temporary directory."""
        async def stop():
            try:
                return await ServerProcess.stop(self, grace)
            finally:
                shutil.rmtree(self.directory, ignore_errors=True)
        return Deferred.fromCoroutine(stop())
