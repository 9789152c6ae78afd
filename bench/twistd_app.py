"""The benchmark server of ``examples/bench_app.py``, for ``twistd txsocketio --app``.

    cd <checkout> && twistd -n --pidfile= txsocketio --app bench.twistd_app:make_server \\
        --listen tcp:PORT:interface=127.0.0.1 --cors-origin '*' --log-level warn [--metrics /metrics] \\
        [--admin-ui --admin-auth none]

The same handlers and settings as ``examples/bench_app.py`` (the harness's
behaviour contract), served by twistd so that its options (``--metrics``,
``--admin-ui``) can be measured on and off; see ``bench/README.md``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "bench_app.py"


def make_server() -> Any:
    spec = importlib.util.spec_from_file_location("txsocketio_bench_app", _EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_server()
