"""The interop tier: tests with real peers and real processes (Node clients and
servers, redis-server, Chromium, nginx, twistd, pip).  The fast tier (pure code
and in-memory glue) is ``tests/test_*.py``."""
