# -*- test-case-name: tests.interop.test_wheel -*-
"""The version of txsocketio, in one place.

``pyproject.toml`` reads it (``dynamic = ["version"]``) for the package
metadata, and ``txsocketio.__version__`` re-exports it.  Keep it a plain
string literal: setuptools reads it without importing the package.
"""

__version__ = "0.1.0"
