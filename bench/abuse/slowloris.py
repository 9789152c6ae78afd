#!/usr/bin/env python3
# -*- test-case-name: tests.interop.test_abuse_http -*-
"""Slowloris: N connections trickle request-header bytes; how many are still open?

    python bench/abuse/slowloris.py http://127.0.0.1:8080/socket.io/ \
        --connections 1000 --interval 10 --duration 125

Each connection sends a request line and then one header byte every
``--interval`` seconds, never finishing its head.  The report gives, at every
``--report-every`` seconds and at the end, how many connections are still open,
how many the server closed and with which answer (408, no answer, reset), and
when the first and last were closed.  A server with a head deadline closes
them all shortly after it; one without keeps them open.

Bounded: at most 5000 connections and 900 s, loopback addresses only.  Runs
against any HTTP server (txsocketio, Node, python-socketio…).  Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

MAX_CONNECTIONS = 5000
MAX_DURATION = 900.0


class Victim:
    """One trickling connection and what became of it."""

    def __init__(self) -> None:
        self.opened_at: float | None = None
        self.closed_at: float | None = None
        self.answer = ""  # "408", other status, "no answer", "reset", "connect failed"


async def trickle(host: str, port: int, path: str, interval: float, deadline: float, victim: Victim,
                  started: float) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        victim.answer = "connect failed"
        victim.closed_at = time.monotonic() - started
        return
    victim.opened_at = time.monotonic() - started
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode())
    read = asyncio.ensure_future(reader.read(200))
    try:
        while time.monotonic() < deadline:
            done, _ = await asyncio.wait({read}, timeout=min(interval, max(deadline - time.monotonic(), 0)))
            if done:
                data = read.result()
                victim.answer = data.split(b"\r\n", 1)[0].split(b" ")[1].decode() if data.startswith(b"HTTP/") \
                    else "no answer"
                victim.closed_at = time.monotonic() - started
                return
            writer.write(b"a")
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        victim.answer = "reset"
        victim.closed_at = time.monotonic() - started
    finally:
        read.cancel()
        writer.close()


def summary(victims: list[Victim], at: float) -> dict[str, object]:
    closed = [v for v in victims if v.closed_at is not None and v.closed_at <= at and v.opened_at is not None]
    times = sorted(v.closed_at for v in closed if v.closed_at is not None)
    return {
        "t": round(at, 1),
        "open": sum(1 for v in victims if v.opened_at is not None) - len(closed),
        "closed": len(closed),
        "answers": dict(Counter(v.answer for v in closed)),
        "first_closed_s": round(times[0], 1) if times else None,
        "last_closed_s": round(times[-1], 1) if times else None,
    }


async def main(args: argparse.Namespace) -> int:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
        sys.exit(f"slowloris: {host} is not a loopback address; this tool only runs against this machine")
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    started = time.monotonic()
    deadline = started + args.duration
    victims = [Victim() for _ in range(args.connections)]
    tasks = []
    for i, victim in enumerate(victims):
        tasks.append(asyncio.ensure_future(trickle(host, port, path, args.interval, deadline, victim, started)))
        if args.ramp and i % 100 == 99:
            await asyncio.sleep(args.ramp)
    reports = []
    next_report = args.report_every
    while time.monotonic() < deadline and not all(t.done() for t in tasks):
        await asyncio.sleep(min(1.0, max(deadline - time.monotonic(), 0)))
        now = time.monotonic() - started
        if now >= next_report:
            reports.append(summary(victims, now))
            print(json.dumps(reports[-1]), flush=True)
            next_report += args.report_every
    await asyncio.gather(*tasks, return_exceptions=True)
    final = summary(victims, args.duration)
    final["connect_failed"] = sum(1 for v in victims if v.answer == "connect failed")
    final["still_open_at_end"] = sum(1 for v in victims if v.opened_at is not None and v.closed_at is None)
    print(json.dumps({"url": args.url, "connections": args.connections, "interval_s": args.interval,
                      "duration_s": args.duration, "final": final}), flush=True)
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="server URL on a loopback address, e.g. http://127.0.0.1:8080/socket.io/")
    parser.add_argument("--connections", type=int, default=1000, help="trickling connections (max 5000)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between header bytes")
    parser.add_argument("--duration", type=float, default=125.0, help="seconds to run (max 900)")
    parser.add_argument("--report-every", type=float, default=15.0, help="seconds between progress lines")
    parser.add_argument("--ramp", type=float, default=0.05, help="pause after every 100 connects (s)")
    args = parser.parse_args(argv)
    if not 0 < args.connections <= MAX_CONNECTIONS:
        parser.error(f"--connections must be between 1 and {MAX_CONNECTIONS}")
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be between 0 and {MAX_DURATION} s")
    if not args.interval > 0:
        parser.error("--interval must be positive")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
