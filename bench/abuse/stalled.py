#!/usr/bin/env python3
"""A reader that stops reading during a broadcast: R receivers and one
stalled client join a room, a sender asks for COUNT ticks of SIZE bytes to
it.  Reports the server's peak RSS (sampled every 0.1 s), its RSS at the end
(is the memory given back?), and whether the server dropped the stalled
client (by the end of the run, which outlasts ping interval + timeout).

    .venv/bin/python bench/abuse/stalled.py               # 20 receivers, 500 x 100 kB, 60 s
    .venv/bin/python bench/abuse/stalled.py --servers txsocketio --seconds 50
"""

from __future__ import annotations

import time

from _common import NodeClient, Server, arguments, mib, raise_fd_limit, table


def run(name: str, receivers: int, count: int, size: int, seconds: int) -> list[object]:
    server = Server(name)
    client = None
    try:
        time.sleep(1)
        rss0 = peak = server.rss()
        client = NodeClient("stalled", server.port, receivers=receivers, count=count, size=size,
                            max_seconds=seconds + 120)
        events: dict[str, object] = {}
        import threading

        def reader() -> None:
            for line in client.lines():
                events.update(line)

        threading.Thread(target=reader, daemon=True).start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            peak = max(peak, server.rss())
            time.sleep(0.1)
        end = server.rss()
        tables = server.tables()
        return [name, f"{count} x {size // 1000} kB to {receivers}+1", mib(rss0), mib(peak),
                mib(end), events.get("fanout_acked", "-"), events.get("delivered", "-"),
                "n/a" if tables is None else
                ("dropped" if tables["engine_sessions"] <= receivers + 2 else "still open"),
                "yes" if server.alive() else "NO"]
    finally:
        if client is not None:
            client.stop()
        server.stop()


def main() -> None:
    options = arguments(__doc__.split("\n\n")[0], receivers=20, count=500, size=100_000,
                        seconds=60).parse_args()
    raise_fd_limit(1024)
    rows = [run(name, options.receivers, options.count, options.size, options.seconds)
            for name in options.servers.split(",")]
    print(f"\nstalled reader during a broadcast, {options.seconds} s\n")
    print(table(["server", "broadcast", "RSS before MiB", "RSS peak MiB", "RSS end MiB",
                 "fanout acked ms", "all live receivers served ms",
                 "stalled client at end (txsocketio tables)", "server alive"], rows))


if __name__ == "__main__":
    main()
