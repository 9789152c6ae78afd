"""The application of the cluster example (run.sh starts several copies).

    CLUSTER_NODE=node1 twistd -n txsocketio --app app:make_server --static static \\
        --redis redis://127.0.0.1:6390/0 --listen tcp:8001:interface=127.0.0.1

Every page shows which process serves it, yet sees everything that happens
on every process:

* ``say(text)`` -> ``said {"server", "id", "text"}`` to every client of the
  cluster (a broadcast through the Redis adapter); acks the serving process.
* ``click()`` -> ``INCR`` of a counter kept in Redis, then ``clicks n`` to
  every client; acks ``n``.
* ``where()`` -> ``{"server", "servers", "clients"}``: this process, how many
  processes share the Redis, how many clients they have in all.
* On connect every client is subscribed to the Redis channel ``news``:
  ``redis-cli -p 6390 PUBLISH news '"hello"'`` shows on every page, whichever
  process serves it (JSON-decoded; one Redis subscription per process).
"""

from __future__ import annotations

import os

from txsocketio import Namespace, SocketIOServer

NAME = os.environ.get("CLUSTER_NODE", f"pid {os.getpid()}")
CLICKS_KEY = "cluster-example:clicks"


class Cluster(Namespace):
    def on_connect(self, auth):
        self.emit("hello", {"server": NAME, "id": self.id})
        self.subscribe("news")  # not awaited: the client is in as soon as Redis confirms

    def on_say(self, text):
        self.socket.nsp.emit("said", {"server": NAME, "id": self.id, "text": str(text)[:500]})
        return {"server": NAME}

    async def on_click(self):
        redis = self.socket.nsp.adapter.connection   # the Redis adapter's connection (--redis)
        count = int(await redis.execute("INCR", CLICKS_KEY))
        self.socket.nsp.emit("clicks", count)
        return count

    async def on_where(self):
        nsp = self.socket.nsp
        servers = await nsp.server_count()
        clients = len(await nsp.fetch_sockets())
        return {"server": NAME, "servers": servers, "clients": clients}


def make_server() -> SocketIOServer:
    sio = SocketIOServer()
    sio.register("/", Cluster)
    return sio
