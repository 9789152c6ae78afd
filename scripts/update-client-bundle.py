#!/usr/bin/env python3
"""Update the npm bundles that txsocketio ships, from their npm packages.

    python3 scripts/update-client-bundle.py                      # the browser client, as package-lock.json pins it
    python3 scripts/update-client-bundle.py 4.8.5                # pin socket.io-client 4.8.5 first, then update
    python3 scripts/update-client-bundle.py --admin-ui           # the Admin UI, as package-lock.json pins it
    python3 scripts/update-client-bundle.py --admin-ui 0.5.2     # pin @socket.io/admin-ui 0.5.2 first, then update

Two bundles, each an unmodified copy of a folder of an npm package plus the
package's LICENSE and ``bundle.json`` (name, version, the npm integrity of the
tarball, the sha256 of each file, by path relative to the bundle):

* ``txsocketio/client_dist/``: the official browser client, the ``dist/``
  files of ``socket.io-client`` 4.x (``socket.io.js``, ``.min.js``,
  ``.esm.min.js``, ``.msgpack.min.js`` and their source maps);
* ``txsocketio/admin_ui/``: the official Admin UI, the built ``ui/dist/``
  tree of ``@socket.io/admin-ui`` 0.5.x (the protocol
  ``txsocketio.admin.protocol`` speaks).

The copy comes from ``npm ci`` of the root ``package.json`` and
``package-lock.json``, run in a temporary directory: npm checks the tarball
against the lock file's integrity, and the result is exactly what
``tests/interop/test_client_bundle.py`` / ``test_admin_ui_bundle.py`` compare
the shipped files with.  With a VERSION argument the two root files are
re-pinned first (``npm install --save-exact --package-lock-only``).  Needs
node and npm.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NPM = ["npm", "--no-audit", "--no-fund", "--loglevel=error"]


@dataclass(frozen=True)
class Bundle:
    """An npm package folder that txsocketio ships."""

    package: str
    #: The folder of the npm package that is copied (recursively).
    source: str
    target: Path
    #: Versions served: those starting with this prefix.
    series: str
    #: A file the copy must contain (a check that the layout did not change).
    marker: str


CLIENT = Bundle(package="socket.io-client", source="dist", target=ROOT / "txsocketio" / "client_dist",
                # The server speaks Socket.IO protocol v5 / Engine.IO v4: the 4.x clients.
                series="4.", marker="socket.io.min.js")
ADMIN_UI = Bundle(package="@socket.io/admin-ui", source="ui/dist", target=ROOT / "txsocketio" / "admin_ui",
                  # txsocketio.admin.protocol speaks the 0.5 protocol (docs/development/admin-protocol.md).
                  series="0.5.", marker="index.html")


def run(argv: list[str], cwd: Path) -> None:
    print("+", " ".join(argv), f"(in {cwd})", file=sys.stderr)
    subprocess.run(argv, cwd=cwd, check=True)


def locked(root: Path, bundle: Bundle) -> dict[str, str]:
    """The lock file's entry of the package: version, resolved, integrity."""
    lock = json.loads((root / "package-lock.json").read_text())
    return lock["packages"][f"node_modules/{bundle.package}"]


def bundle_files(folder: Path) -> list[str]:
    """The files below ``folder``, as sorted POSIX paths relative to it."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def clear(target: Path) -> None:
    """Empty ``target`` (creating it), except its own dotfiles (``.gitattributes``)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in target.iterdir():
        if path.name.startswith("."):
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def pin(bundle: Bundle, version: str) -> None:
    if not version.startswith(bundle.series):
        sys.exit(f"txsocketio serves {bundle.package} {bundle.series}x, not {version}")
    run([*NPM, "install", "--save-exact", "--package-lock-only", f"{bundle.package}@{version}"], ROOT)


def update(bundle: Bundle) -> str:
    entry = locked(ROOT, bundle)
    version = entry["version"]
    if not version.startswith(bundle.series):
        sys.exit(f"package-lock.json pins {bundle.package} {version}; txsocketio serves {bundle.series}x")
    with tempfile.TemporaryDirectory(prefix="txsocketio-bundle-") as tmp:
        work = Path(tmp)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(ROOT / name, work / name)
        run([*NPM, "ci", "--ignore-scripts"], work)
        installed = work / "node_modules" / bundle.package
        got = json.loads((installed / "package.json").read_text())["version"]
        if got != version:
            sys.exit(f"npm ci installed {bundle.package} {got}, the lock file says {version}")
        source = installed / bundle.source
        files = bundle_files(source)
        if bundle.marker not in files:
            sys.exit(f"{source} has no {bundle.marker}: {files}")
        if "LICENSE" in files or "bundle.json" in files:
            sys.exit(f"{source} has its own LICENSE or bundle.json: the copy would overwrite them")
        clear(bundle.target)
        for name in files:
            (bundle.target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, bundle.target / name)
        shutil.copyfile(installed / "LICENSE", bundle.target / "LICENSE")
    manifest = {
        "name": bundle.package,
        "version": version,
        "integrity": entry["integrity"],
        "files": {name: hashlib.sha256((bundle.target / name).read_bytes()).hexdigest() for name in files},
    }
    (bundle.target / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return version


def main(argv: list[str]) -> None:
    bundle = CLIENT
    if argv[:1] == ["--admin-ui"]:
        bundle, argv = ADMIN_UI, argv[1:]
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        sys.exit(__doc__)
    if argv:
        pin(bundle, argv[0])
    version = update(bundle)
    print(f"{bundle.target.relative_to(ROOT)}: {bundle.package} {version}", file=sys.stderr)
    for name in bundle_files(bundle.target):
        print(f"  {(bundle.target / name).stat().st_size:>9}  {name}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
