"""``py.typed`` holds: mypy, run as a user would, finds no error.

* ``python -m mypy txsocketio``: the package, with the project's ``[tool.mypy]``
  configuration (pyproject.toml: the zope plugin, the untyped third-party
  modules);
* ``python -m mypy --strict tests/typing_app``: an application written from
  the README's and the guides' examples, which also pins the public API's
  types with ``assert_type`` (so a return type that decays to ``Any`` fails).

mypy runs in a subprocess from the project root, each run with a cache of its
own (trial's workers may run both at once); a failure shows mypy's output.
"""

from __future__ import annotations

import importlib.util
import sys

from twisted.trial import unittest

from tests.support import PROJECT_ROOT, missing, run_process

#: a cold mypy run over the package and Twisted takes about 10 s; the machine may be loaded
MYPY_TIMEOUT = 600


class MypyTests(unittest.TestCase):
    """mypy on the package and on an application that uses it."""

    timeout = MYPY_TIMEOUT + 30

    def setUp(self) -> None:
        for module in ("mypy", "mypy_zope"):
            if importlib.util.find_spec(module) is None:
                missing(f"Python package {module!r} (pip install '.[test]')")

    async def _mypy(self, *args: str) -> None:
        argv = [sys.executable, "-m", "mypy", "--cache-dir", self.mktemp(), *args]
        result = await run_process(argv, cwd=PROJECT_ROOT, timeout=MYPY_TIMEOUT)
        if result.exit_code != 0:
            self.fail(f"{' '.join(argv[1:])} exited with {result.exit_code}:\n"
                      f"{result.stdout_text}{result.stderr_text}")

    async def test_package(self) -> None:
        """``mypy txsocketio`` reports no error."""
        await self._mypy("txsocketio")

    async def test_strict_application(self) -> None:
        """``mypy --strict`` on the example application reports no error: the
        public names are re-exported and its ``assert_type`` checks hold."""
        await self._mypy("--strict", "tests/typing_app")
