"""Soak: 10,000 disconnect/recover cycles of connection state recovery, in memory.

    .venv/bin/python bench/recovery_soak.py [CYCLES]

One client is cut off (``transport close``), a broadcast goes out while it is
away, and it comes back with its pid and last offset, CYCLES times, on a
task.Clock (10 ms per cycle, a 5 s window, a 500-packet cap).  Prints the
store's sizes and the memory traced by ``tracemalloc`` after the first tenth
of the cycles and at the end (after a ``gc.collect()``): the figure that shows memory stays bounded.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet.task import Clock  # noqa: E402

from txsocketio import SocketIOServer  # noqa: E402
from txsocketio.testing import TestClient  # noqa: E402


def main(cycles: int) -> None:
    clock = Clock()
    sio = SocketIOServer(reactor=clock, connection_state_recovery={
        "max_disconnection_duration": 5, "max_packets": 500})
    store = sio.of("/").adapter.store  # type: ignore[attr-defined]
    client = TestClient(sio)
    sio.emit("tick", -1)
    pid = json.loads(client.raw_received[0][1:])["pid"]
    tracemalloc.start()
    started = time.perf_counter()
    checkpoint = 0
    recovered = 0
    for cycle in range(cycles):
        offset = next(json.loads(m[1:])[-1] for m in reversed(client.raw_received) if m[0] == "2")
        client.close("transport close")
        sio.emit("tick", cycle)
        clock.advance(0.01)
        client = TestClient(sio, auth={"pid": pid, "offset": offset})
        recovered += sio.of("/").sockets[client.sids["/"]].recovered
        if cycle + 1 == cycles // 10:
            gc.collect()
            checkpoint = tracemalloc.get_traced_memory()[0]
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    print(json.dumps({
        "cycles": cycles, "recovered": recovered, "seconds": round(time.perf_counter() - started, 2),
        "packets_kept": store.packet_count, "sessions_kept": store.session_count,
        "traced_bytes_at_10pct": checkpoint, "traced_bytes_at_end": current, "traced_peak": peak,
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
