"""txsocketio's test suite: the fast tier here (pure code and in-memory glue),
the interop tier in :mod:`tests.interop`.

Hypothesis runs with no per-example deadline and without the "too slow"
health check: CI machines are shared and loaded, and a slow draw there says
nothing about the code under test.
"""

from hypothesis import HealthCheck, settings

settings.register_profile("txsocketio", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("txsocketio")
