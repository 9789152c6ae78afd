"""The sans-IO core imports nothing that does I/O or reads the clock."""

import subprocess
import sys

from twisted.trial import unittest

PURE_MODULES = [
    "txsocketio.engineio.packet",
    "txsocketio.engineio.session",
    "txsocketio.socketio.packet",
    "txsocketio.socketio.parser",
    "txsocketio.socketio.connection",
    "txsocketio.socketio.events",
    "txsocketio.adapters.base",
    "txsocketio.redisaddress",
    "txsocketio.httphead",
]


class PurityTests(unittest.TestCase):
    def test_pure_modules_do_not_import_twisted_internet(self) -> None:
        """Importing each pure module in a fresh interpreter loads no
        twisted.internet, twisted.web or autobahn module."""
        for name in PURE_MODULES:
            code = (
                "import sys, importlib; importlib.import_module(%r); "
                "bad = sorted(m for m in sys.modules if m.startswith(('twisted.internet', "
                "'twisted.web', 'autobahn'))); print(','.join(bad))" % name
            )
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.strip()
            self.assertEqual(out, "", f"{name} pulls in {out}")
