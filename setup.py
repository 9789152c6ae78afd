"""Packaging for txsocketio (the metadata is in ``pyproject.toml``).

The package list is computed, so that a new subpackage is never left out, plus
``twisted.plugins`` (a directory without ``__init__.py``: it must never shadow
Twisted's own package) for the ``twistd txsocketio`` plugin.

The layout is flat (``txsocketio/`` and ``twisted/plugins/`` at the root), so an
editable install must use ``pip install -e . --config-settings editable_mode=compat``
for twistd to see the plugin.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["txsocketio", "txsocketio.*"]), "twisted.plugins"],
    # Data files: exactly these globs (not "whatever the manifest holds"); the
    # data directories have no __init__.py and are not packages.
    include_package_data=False,
    package_data={
        "txsocketio": ["py.typed", "client_dist/*", "admin_ui/*", "admin_ui/css/*", "admin_ui/img/*", "admin_ui/js/*"],
        "txsocketio.demo": ["static/*"],
    },
    exclude_package_data={"twisted.plugins": ["dropin.cache"]},
)
