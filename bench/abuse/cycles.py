#!/usr/bin/env python3
"""N connect/echo/disconnect cycles against each server: server RSS every
1,000 cycles (and its growth per 1,000 cycles over the second half), server
CPU per cycle, and for txsocketio its tables at the end (they must be back to
the asking client alone).

    .venv/bin/python bench/abuse/cycles.py                  # 100,000 cycles, 3 servers
    .venv/bin/python bench/abuse/cycles.py --n 5000 --servers txsocketio
"""

from __future__ import annotations

import time

from _common import NodeClient, Server, arguments, mib, raise_fd_limit, table


def run(name: str, n: int, concurrency: int) -> list[object]:
    server = Server(name)
    client = None
    try:
        time.sleep(0.5)
        samples = [(0, server.rss())]
        cpu0 = server.cpu()
        client = NodeClient("cycles", server.port, n=n, concurrency=concurrency,
                            max_seconds=3600)
        result: dict = {}
        for line in client.lines():
            if "done" in line:
                samples.append((line["done"], server.rss()))
            if "result" in line:
                result = line["result"]
                break
        cpu = server.cpu() - cpu0
        time.sleep(2)  # let the last closes land
        tables = server.tables()
        end_rss = server.rss()
        half = [s for s in samples if s[0] >= n // 2]
        if len(half) >= 2:
            growth = (half[-1][1] - half[0][1]) / ((half[-1][0] - half[0][0]) / 1000)
        else:
            growth = float("nan")
        trace = " ".join(mib(rss) for done, rss in samples[:: max(1, len(samples) // 10)])
        return [name, result.get("cycles"), result.get("failures"),
                f"{result.get('seconds', 0):.0f}", f"{cpu / max(1, n) * 1000:.2f}",
                mib(samples[0][1]), mib(max(r for _, r in samples)), mib(end_rss),
                f"{growth / 1024:.1f}", trace,
                "n/a" if tables is None else " ".join(f"{k}={v}" for k, v in tables.items())]
    finally:
        if client is not None:
            client.stop()
        server.stop()


def main() -> None:
    options = arguments(__doc__.split("\n\n")[0], n=100_000, concurrency=20).parse_args()
    raise_fd_limit(4096)
    rows = [run(name, options.n, options.concurrency) for name in options.servers.split(",")]
    print(f"\n{options.n} cycles (WebSocket open, join /, one echo ack, close), "
          f"{options.concurrency} at a time\n")
    print(table(["server", "cycles", "failed", "wall s", "server CPU ms/cycle", "RSS start MiB",
                 "RSS peak MiB", "RSS end MiB", "growth KiB/1k cycles (2nd half)",
                 "RSS trace MiB (every 10%)", "tables at end (asker included)"], rows))


if __name__ == "__main__":
    main()
