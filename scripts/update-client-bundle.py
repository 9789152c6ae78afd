#!/usr/bin/env python3
"""Update the browser client that txsocketio ships, from the npm package.

    python3 scripts/update-client-bundle.py            # the version of package-lock.json
    python3 scripts/update-client-bundle.py 4.8.5      # pin 4.8.5 first, then update

``txsocketio/client_dist/`` holds an unmodified copy of the official
``socket.io-client`` dist files (``socket.io.js``, ``.min.js``,
``.esm.min.js``, ``.msgpack.min.js`` and their source maps), the client's MIT
LICENSE, and ``bundle.json`` (name, version, the npm integrity of the tarball,
the sha256 of each file).

The copy comes from ``npm ci`` of the root ``package.json`` and
``package-lock.json``, run in a temporary directory: npm checks the tarball
against the lock file's integrity, and the result is exactly what
``tests/interop/test_client_bundle.py`` compares the shipped files with.
With a VERSION argument the two root files are re-pinned first
(``npm install --save-exact --package-lock-only``).  Needs node and npm.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "txsocketio" / "client_dist"
PACKAGE = "socket.io-client"
#: The server speaks Socket.IO protocol v5 / Engine.IO v4: the 4.x clients.
MAJOR = "4"
NPM = ["npm", "--no-audit", "--no-fund", "--loglevel=error"]


def run(argv: list[str], cwd: Path) -> None:
    print("+", " ".join(argv), f"(in {cwd})", file=sys.stderr)
    subprocess.run(argv, cwd=cwd, check=True)


def locked(root: Path) -> dict[str, str]:
    """The lock file's entry of the client: version, resolved, integrity."""
    lock = json.loads((root / "package-lock.json").read_text())
    return lock["packages"][f"node_modules/{PACKAGE}"]


def pin(version: str) -> None:
    if version.split(".")[0] != MAJOR:
        sys.exit(f"txsocketio serves {PACKAGE} {MAJOR}.x, not {version}")
    run([*NPM, "install", "--save-exact", "--package-lock-only", f"{PACKAGE}@{version}"], ROOT)


def update() -> str:
    entry = locked(ROOT)
    version = entry["version"]
    if version.split(".")[0] != MAJOR:
        sys.exit(f"package-lock.json pins {PACKAGE} {version}; txsocketio serves {MAJOR}.x")
    with tempfile.TemporaryDirectory(prefix="txsocketio-client-") as tmp:
        work = Path(tmp)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(ROOT / name, work / name)
        run([*NPM, "ci", "--ignore-scripts"], work)
        installed = work / "node_modules" / PACKAGE
        got = json.loads((installed / "package.json").read_text())["version"]
        if got != version:
            sys.exit(f"npm ci installed {PACKAGE} {got}, the lock file says {version}")
        dist = installed / "dist"
        files = sorted(p.name for p in dist.iterdir() if p.is_file())
        if "socket.io.min.js" not in files:
            sys.exit(f"{dist} has no socket.io.min.js: {files}")
        if TARGET.exists():
            shutil.rmtree(TARGET)
        TARGET.mkdir(parents=True)
        for name in files:
            shutil.copyfile(dist / name, TARGET / name)
        shutil.copyfile(installed / "LICENSE", TARGET / "LICENSE")
    manifest = {
        "name": PACKAGE,
        "version": version,
        "integrity": entry["integrity"],
        "files": {name: hashlib.sha256((TARGET / name).read_bytes()).hexdigest() for name in files},
    }
    (TARGET / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return version


def main(argv: list[str]) -> None:
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        sys.exit(__doc__)
    if argv:
        pin(argv[0])
    version = update()
    print(f"{TARGET.relative_to(ROOT)}: {PACKAGE} {version}", file=sys.stderr)
    for path in sorted(TARGET.iterdir()):
        print(f"  {path.stat().st_size:>9}  {path.name}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
