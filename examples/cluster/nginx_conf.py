#!/usr/bin/env python3
"""Write the nginx configuration of the cluster example (nginx.conf.template).

    python3 nginx_conf.py --prefix DIR --listen 8080 --upstream 127.0.0.1:8001 \\
        --upstream 127.0.0.1:8002 [--balance sticky|round-robin] [--read-timeout 60]

writes ``DIR/nginx.conf`` and creates the directories nginx writes to
(``DIR/tmp/...``), then prints the command that runs nginx with it.

``--balance sticky`` (the default) sends every client address to the same
upstream (``hash $remote_addr consistent``): required as soon as any client
uses HTTP long-polling, whose requests must all reach the process holding
the session.  ``round-robin`` is only for clients that connect with
``transports: ["websocket"]`` (one TCP connection per session, no stickiness
needed).

Also importable: :func:`render` returns the text.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().with_name("nginx.conf.template")

BALANCE = {
    # consistent: adding or removing an upstream moves only the clients that
    # hashed to it (ip_hash would also do; it hashes the first three octets
    # of an IPv4 address only, so a whole /24 lands on one process).
    "sticky": "        hash $remote_addr consistent;",
    "round-robin": "        # round-robin: WebSocket-only clients need no stickiness",
}

TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def render(prefix: str, listen: str, upstreams: list[str], balance: str = "sticky",
           read_timeout: int = 60) -> str:
    """The configuration text for nginx listening on ``listen`` (a port or
    ``host:port``) in front of ``upstreams`` (``host:port`` each)."""
    if balance not in BALANCE:
        raise ValueError(f"balance must be one of {', '.join(BALANCE)}, not {balance!r}")
    if not upstreams:
        raise ValueError("at least one upstream is needed")
    servers = "\n".join(f"        server {u};" for u in upstreams)
    text = TEMPLATE.read_text()
    for name, value in (("PREFIX", os.path.abspath(prefix)), ("LISTEN", str(listen)),
                        ("BALANCE", BALANCE[balance]), ("SERVERS", servers),
                        ("READ_TIMEOUT", str(int(read_timeout)))):
        text = text.replace(f"@@{name}@@", value)
    return text


def write(prefix: str, listen: str, upstreams: list[str], balance: str = "sticky",
          read_timeout: int = 60) -> Path:
    """Write ``prefix/nginx.conf`` (and nginx's temp directories) -> its path."""
    root = Path(prefix).resolve()
    for name in TEMP_DIRS:
        (root / "tmp" / name).mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(render(str(root), listen, upstreams, balance, read_timeout))
    return conf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", required=True, help="directory for the config, pid, logs, temp files")
    parser.add_argument("--listen", required=True, help="port (or host:port) nginx listens on")
    parser.add_argument("--upstream", action="append", required=True, help="host:port of a txsocketio process")
    parser.add_argument("--balance", choices=sorted(BALANCE), default="sticky")
    parser.add_argument("--read-timeout", type=int, default=60, help="proxy_read_timeout in seconds")
    args = parser.parse_args(argv)
    conf = write(args.prefix, args.listen, args.upstream, args.balance, args.read_timeout)
    print(f"nginx -p {conf.parent} -c {conf} -e {conf.parent}/error.log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
