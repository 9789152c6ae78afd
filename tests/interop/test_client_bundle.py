"""The browser client shipped in ``txsocketio/client_dist/`` is the official
npm package, unmodified: byte for byte the ``dist/`` files (and LICENSE) of
``socket.io-client`` as ``npm ci`` installs it at the repository root from
``package-lock.json``, and the version the lock file pins.

Interop tier because it needs the npm install (``bash scripts/test.sh`` runs
``npm ci`` at the root); ``scripts/update-client-bundle.py`` fixes a mismatch.
"""

from __future__ import annotations

import hashlib
import json

from twisted.trial import unittest

from tests.support import PROJECT_ROOT, missing
from txsocketio.web import CLIENT_FILES, PACKAGE_CLIENT_DIST

NPM_PACKAGE = PROJECT_ROOT / "node_modules" / "socket.io-client"
FIX = "run: python3 scripts/update-client-bundle.py"


class ClientBundleTests(unittest.TestCase):
    def setUp(self) -> None:
        if not (NPM_PACKAGE / "package.json").is_file():
            missing(f"{NPM_PACKAGE} (run `npm ci` at the repository root)")
        self.lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text())
        self.locked = self.lock["packages"]["node_modules/socket.io-client"]
        self.installed = json.loads((NPM_PACKAGE / "package.json").read_text())
        self.manifest = json.loads((PACKAGE_CLIENT_DIST / "bundle.json").read_text())

    def test_versions_agree(self) -> None:
        """package.json pins exactly the lock file's version, npm installed
        that version, and the shipped copy says it is that version (a 4.x)."""
        version = self.locked["version"]
        self.assertEqual(version.split(".")[0], "4")
        package = json.loads((PROJECT_ROOT / "package.json").read_text())
        self.assertEqual(package["dependencies"]["socket.io-client"], version)
        self.assertEqual(self.lock["packages"][""]["dependencies"]["socket.io-client"], version)
        self.assertEqual(self.installed["version"], version, "node_modules is stale: run `npm ci`")
        self.assertEqual(self.manifest["name"], "socket.io-client")
        self.assertEqual(self.manifest["version"], version, FIX)
        self.assertEqual(self.manifest["integrity"], self.locked["integrity"], FIX)

    def test_files_identical(self) -> None:
        """Every file of the npm package's dist/ is shipped, byte for byte,
        with nothing added but LICENSE and bundle.json."""
        dist = NPM_PACKAGE / "dist"
        npm_files = {p.name for p in dist.iterdir() if p.is_file()}
        self.assertTrue(CLIENT_FILES <= npm_files, f"Node's CLIENT_FILES not in {dist}")
        shipped = {p.name for p in PACKAGE_CLIENT_DIST.iterdir()
                   if p.is_file() and not p.name.startswith(".")}
        self.assertEqual(shipped, npm_files | {"LICENSE", "bundle.json"}, FIX)
        for name in sorted(npm_files):
            self.assertEqual((PACKAGE_CLIENT_DIST / name).read_bytes(), (dist / name).read_bytes(),
                             f"{name} differs from the npm package; {FIX}")
            self.assertEqual(self.manifest["files"][name],
                             hashlib.sha256((dist / name).read_bytes()).hexdigest(), name)
        self.assertEqual(set(self.manifest["files"]), npm_files)
        self.assertEqual((PACKAGE_CLIENT_DIST / "LICENSE").read_bytes(),
                         (NPM_PACKAGE / "LICENSE").read_bytes())
