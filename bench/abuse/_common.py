"""Shared plumbing of the long abuse benchmarks: the servers (txsocketio as
users start it, and the anchors of the shared harness), /proc readings, the
Node client, and the table printing.  Loopback only; everything started here
is stopped here, by process group id."""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BENCH_HOME = Path(os.environ.get("BENCH_HOME", Path.home() / ".cache" / "sio-bench"))
CLIENT = HERE / "abuse_client.js"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def servers(port: int) -> dict[str, tuple[list[str], Path]]:
    """
    Command and working directory of each server, by name.  txsocketio runs
    as users run it: ``twistd -n txsocketio --app`` (from the project root,
    which --app imports from); the anchors are the shared harness's servers
    (``$BENCH_HOME``, installed by its ``setup.sh``), which follow the same
    echo/join/fanout contract as ``tests/apps/abuse_app.py``.
    """
    twistd = Path(sys.executable).with_name("twistd")
    return {
        "txsocketio": ([str(twistd), "-n", "--pidfile=", "--logfile", os.devnull, "txsocketio",
                        "--app", "tests.apps.abuse_app:sio",
                        "--listen", f"tcp:{port}:interface=127.0.0.1"], ROOT),
        "python-socketio": ([str(BENCH_HOME / ".venv/bin/python"), "servers/pysio_aiohttp.py",
                             "--port", str(port)], BENCH_HOME),
        "node-socket.io": (["node", "servers/node_sio.js", "--port", str(port)], BENCH_HOME),
    }


def arguments(description: str, **defaults: Any) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--servers", default="txsocketio,python-socketio,node-socket.io",
                        help="comma-separated: txsocketio, python-socketio, node-socket.io")
    for name, value in defaults.items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    return parser


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-files limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process (its own process group), measured through /proc."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        argv, cwd = servers(self.port)[name]
        if name != "txsocketio" and not (BENCH_HOME / "run.py").exists():
            raise SystemExit(f"{BENCH_HOME} is missing: run /work/shared/bench/setup.sh "
                             "(or set BENCH_HOME), or pass --servers txsocketio")
        self.process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"{name} did not start: {' '.join(argv)}")
                time.sleep(0.1)

    def pids(self) -> list[int]:
        """The server's process and its descendants."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                children.setdefault(ppid, []).append(int(entry))
        found = [self.process.pid]
        for pid in found:
            found.extend(children.get(pid, []))
        return found

    def rss(self) -> int:
        """Resident memory in bytes, over the process tree."""
        total = 0
        for pid in self.pids():
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            except OSError:
                pass
        return total

    def cpu(self) -> float:
        """utime + stime in seconds, over the process tree."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / TICK

    def alive(self) -> bool:
        return self.process.poll() is None

    def tables(self) -> dict[str, int] | None:
        """txsocketio only: the sizes of its tables, asked over Socket.IO
        (the asking client is in them: 1 session, 1 client, 1 socket, 1 room)."""
        if self.name != "txsocketio":
            return None
        import websocket

        ws = websocket.create_connection(
            f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket", timeout=10)
        try:
            ws.recv()
            ws.send("40")
            ws.recv()
            ws.send('421["tables"]')
            while True:
                text = ws.recv()
                if text.startswith("431["):
                    return json.loads(text[3:])[0]
        finally:
            ws.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class NodeClient:
    """abuse_client.js in one mode; JSON lines out, commands in."""

    def __init__(self, mode: str, port: int, **options: Any) -> None:
        argv = ["node", str(CLIENT), mode, "--port", str(port)]
        for key, value in options.items():
            argv += ["--" + key.replace("_", "-"), str(value)]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, start_new_session=True)

    def lines(self) -> Iterator[dict[str, Any]]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            yield json.loads(line)

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the client ended early")
        return json.loads(line)

    def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.command("quit")
                self.process.wait(10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def mib(value: float) -> str:
    return f"{value / 2**20:.1f}"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
