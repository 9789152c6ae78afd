"""Sphinx configuration of the txsocketio documentation.

Build it (warnings are errors, as in CI: ``tests/interop/test_docs.py``)::

    .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

Pages are MyST markdown.  Each section (``getting-started/``, ``guide/``,
``operations/``, ``troubleshooting/``, ``reference/``, ``development/``) has
an ``index.md`` whose toctree ends with a glob, so a new ``.md`` file dropped
into a section folder is listed without editing anything else.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)                      # txsocketio from this checkout
sys.path.insert(0, os.path.join(HERE, "_ext"))

import txsocketio  # noqa: E402

project = "txsocketio"
author = "the txsocketio developers"
copyright = "the txsocketio developers"
release = txsocketio.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "txsio_docs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
# A code block that its lexer cannot parse (JSON with "..." in it) is still
# shown, unhighlighted: not worth failing the build for.
suppress_warnings = ["misc.highlighting_failure"]

# Each section's toctree ends with a glob that picks up the pages other people
# drop into the folder; until they do, the glob matching nothing is expected
# (_ext/txsio_docs.py filters that warning out).

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

# The public API follows the code: signatures with their type hints, members
# in source order, docstrings of classes and of their __init__ together.
# Undocumented public members are listed too, with their signatures.  (Classes
# built on private bases, Socket on _Emitter, the emitters on _EmitterBase, add
# :inherited-members: in their pages.)
autodoc_default_options = {"members": True, "undoc-members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autoclass_content = "class"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Cross-references into other projects resolve only when their inventories
# can be fetched; CI has no route to them, so none is configured by default
# (TXSOCKETIO_DOCS_INTERSPHINX=1 enables Python's and Twisted's).
intersphinx_mapping: dict[str, tuple[str, None]] = {}
if os.environ.get("TXSOCKETIO_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "twisted": ("https://docs.twisted.org/en/stable/", None),
    }

html_theme = "furo"
html_title = f"txsocketio {release}"
html_static_path: list[str] = []
