"""Demo applications shipped with txsocketio.

``txsocketio.demo.chat`` is the chat that ``twistd -n txsocketio`` serves when
no ``--app`` is given; its browser page lives in ``txsocketio/demo/static/``.
"""

from pathlib import Path

#: The directory of the demo's static files (index.html, chat.css, chat.js).
STATIC_DIR = Path(__file__).resolve().parent / "static"

__all__ = ["STATIC_DIR"]
