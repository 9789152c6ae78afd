#!/usr/bin/env python3
"""N idle WebSocket clients joined to "/" on each server: server memory per
connection, and the server's CPU while they idle through heartbeats at the
default 25 s ping interval (the clients answer every ping).

    .venv/bin/python bench/abuse/idle.py                   # 10,000 clients, 60 s idle, 3 servers
    .venv/bin/python bench/abuse/idle.py --n 2000 --idle-seconds 55
"""

from __future__ import annotations

import time

from _common import NodeClient, Server, arguments, mib, raise_fd_limit, table


def run(name: str, n: int, idle_seconds: int, window: int) -> list[object]:
    server = Server(name)
    client = None
    try:
        time.sleep(1)
        rss0 = server.rss()
        t0 = time.monotonic()
        client = NodeClient("idle", server.port, n=n, window=window, max_seconds=idle_seconds + 600)
        connected = client.read()
        connect_seconds = time.monotonic() - t0
        time.sleep(2)
        rss1 = server.rss()
        cpu0, pings0 = server.cpu(), None
        client.command("count")
        pings0 = client.read()["pings"]
        time.sleep(idle_seconds)
        cpu1 = server.cpu()
        client.command("count")
        state = client.read()
        pings = state["pings"] - pings0
        cpu = cpu1 - cpu0
        per_conn = (rss1 - rss0) / max(1, connected["connected"])
        return [name, connected["connected"], connected["failures"], f"{connect_seconds:.1f}",
                mib(rss0), mib(rss1), f"{per_conn / 1024:.1f}", idle_seconds, pings,
                f"{cpu:.2f}", f"{cpu / idle_seconds * 100:.1f}",
                f"{cpu / max(1, pings) * 1e6:.0f}", state["open"]]
    finally:
        if client is not None:
            client.stop()
        server.stop()


def main() -> None:
    options = arguments(__doc__.split("\n\n")[0], n=10_000, idle_seconds=60, window=200).parse_args()
    limit = raise_fd_limit(options.n + 1024)
    if limit < options.n + 100:
        raise SystemExit(f"open-files limit {limit} is too low for {options.n} clients")
    rows = [run(name, options.n, options.idle_seconds, options.window)
            for name in options.servers.split(",")]
    print(f"\n{options.n} idle WebSocket clients, ping interval 25 s (server default), "
          f"{options.idle_seconds} s idle\n")
    print(table(["server", "connected", "failed", "connect s", "RSS before MiB", "RSS with clients MiB",
                 "KiB per connection", "idle s", "pings answered", "server CPU s",
                 "server CPU %", "CPU µs per ping", "still open"], rows))


if __name__ == "__main__":
    main()
