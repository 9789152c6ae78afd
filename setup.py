"""Packaging for txsocketio.

The layout is flat (``txsocketio/`` and ``twisted/plugins/`` at the root), so an
editable install must use ``pip install -e . --config-settings editable_mode=compat``
for twistd to see the plugin.
"""

from setuptools import setup

setup(
    packages=[
        "txsocketio",
        "txsocketio.engineio",
        "txsocketio.socketio",
        "txsocketio.adapters",
        "twisted.plugins",
    ],
    package_data={"txsocketio": ["py.typed", "static/*"]},
    exclude_package_data={"twisted.plugins": ["dropin.cache"]},
)
