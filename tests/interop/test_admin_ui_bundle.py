"""The Admin UI shipped in ``txsocketio/admin_ui/`` is the official npm
package, unmodified: byte for byte the ``ui/dist/`` tree (and LICENSE) of
``@socket.io/admin-ui`` as ``npm ci`` installs it at the repository root from
``package-lock.json``, at the version the lock file pins (a 0.5.x: the
protocol ``txsocketio.admin.protocol`` speaks).

Interop tier because it needs the npm install (``bash scripts/test.sh`` runs
``npm ci`` at the root); ``scripts/update-client-bundle.py --admin-ui`` fixes
a mismatch.
"""

from __future__ import annotations

import hashlib
import json

from twisted.trial import unittest

from tests.support import PROJECT_ROOT, missing
from txsocketio.admin.ui import PACKAGE_ADMIN_UI

NAME = "@socket.io/admin-ui"
NPM_PACKAGE = PROJECT_ROOT / "node_modules" / "@socket.io" / "admin-ui"
FIX = "run: python3 scripts/update-client-bundle.py --admin-ui"


class AdminUIBundleTests(unittest.TestCase):
    def setUp(self) -> None:
        if not (NPM_PACKAGE / "package.json").is_file():
            missing(f"{NPM_PACKAGE} (run `npm ci` at the repository root)")
        self.lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text())
        self.locked = self.lock["packages"][f"node_modules/{NAME}"]
        self.installed = json.loads((NPM_PACKAGE / "package.json").read_text())
        self.manifest = json.loads((PACKAGE_ADMIN_UI / "bundle.json").read_text())

    def test_versions_agree(self) -> None:
        """package.json pins exactly the lock file's version, npm installed
        that version, and the shipped copy says it is that version (a 0.5.x)."""
        version = self.locked["version"]
        self.assertTrue(version.startswith("0.5."), version)
        package = json.loads((PROJECT_ROOT / "package.json").read_text())
        self.assertEqual(package["dependencies"][NAME], version)
        self.assertEqual(self.lock["packages"][""]["dependencies"][NAME], version)
        self.assertEqual(self.installed["version"], version, "node_modules is stale: run `npm ci`")
        self.assertEqual(self.manifest["name"], NAME)
        self.assertEqual(self.manifest["version"], version, FIX)
        self.assertEqual(self.manifest["integrity"], self.locked["integrity"], FIX)

    def test_files_identical(self) -> None:
        """Every file of the npm package's ui/dist/ tree is shipped at the same
        relative path, byte for byte, with nothing added but LICENSE,
        bundle.json and the top-level .gitattributes."""
        dist = NPM_PACKAGE / "ui" / "dist"
        npm_files = {p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file()}
        self.assertIn("index.html", npm_files)
        shipped = {p.relative_to(PACKAGE_ADMIN_UI).as_posix() for p in PACKAGE_ADMIN_UI.rglob("*")
                   if p.is_file() and p.name != ".gitattributes"}
        self.assertEqual(shipped, npm_files | {"LICENSE", "bundle.json"}, FIX)
        for name in sorted(npm_files):
            self.assertEqual((PACKAGE_ADMIN_UI / name).read_bytes(), (dist / name).read_bytes(),
                             f"{name} differs from the npm package; {FIX}")
            self.assertEqual(self.manifest["files"][name],
                             hashlib.sha256((dist / name).read_bytes()).hexdigest(), name)
        self.assertEqual(set(self.manifest["files"]), npm_files)
        self.assertEqual((PACKAGE_ADMIN_UI / "LICENSE").read_bytes(), (NPM_PACKAGE / "LICENSE").read_bytes())

    def test_only_pinned_bundles_are_large(self) -> None:
        """No tracked-size surprise: every file over 1 MiB below txsocketio/
        is a file of one of the two pinned npm bundles (listed in their
        bundle.json)."""
        package = PROJECT_ROOT / "txsocketio"
        bundled = {(package / d / name).resolve()
                   for d in ("client_dist", "admin_ui")
                   for name in json.loads((package / d / "bundle.json").read_text())["files"]}
        large = {p.resolve() for p in package.rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts and p.stat().st_size > 1 << 20}
        self.assertEqual(large - bundled, set())
