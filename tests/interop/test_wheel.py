"""The installed product: the wheel a pip user gets, built, installed into a
fresh virtualenv and run with ``twistd`` outside the checkout.

Everything else in the suite runs from the repository (an editable install),
where a file missing from the wheel never shows.  Here:

* the wheel is built from a **clean copy** of the tree: the files git tracks
  (``git ls-files``), with their working-tree contents.  Untracked debris
  (``dropin.cache``, ``__pycache__``, ``node_modules``, an old ``build/``)
  cannot leak in; uncommitted edits of tracked files are included, so a
  developer tests what they are about to commit; a new file counts once it is
  ``git add``-ed, as it will in CI, which sees only commits;
* its contents are listed and checked (every tracked file under
  ``txsocketio/`` and nothing else, the twistd plugin without any
  ``twisted/__init__.py``, the licences, the version);
* a virtualenv is created in a temporary directory outside the checkout and
  the wheel installed there by the suite's pip (``pip --python <venv>``, which
  spares creating a pip inside the venv; pip resolves the dependencies from
  the index);
* ``<venv>/bin/twistd -n --pidfile= txsocketio --listen ...`` runs from another
  temporary directory, without the checkout on ``PYTHONPATH``: the demo page,
  the browser client and an official socket.io-client 4.x (Node) connection
  with an acknowledgement all work.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from twisted.trial import unittest

from tests.support import (
    LOCALHOST,
    PROJECT_ROOT,
    ServerProcess,
    free_port,
    missing,
    require_node_modules,
    require_tool,
    run_process,
)

#: The child processes must import the installed txsocketio, never the
#: checkout's (tests.support puts the project root on PYTHONPATH; an empty
#: value is ignored by Python).
OUTSIDE = {"PYTHONPATH": ""}

#: What a deprecation or packaging-configuration banner of setuptools/pip looks like.
BANNER = re.compile(r"deprecat|BuildBackendWarning|SetuptoolsWarning|Package would be ignored", re.I)

#: An official socket.io-client 4.x (npm alias sioc4 in tests/node): connect to
#: the chat demo, wait for the upgrade to WebSocket (or, given "polling", stay
#: on long-polling), send a chat message and print the acknowledgement as one
#: JSON line.
NODE_CLIENT = r"""
const { io } = require("sioc4");
const transports = process.argv[2] === "polling" ? ["polling"] : ["polling", "websocket"];
const socket = io(process.argv[1], { auth: { nick: "wheel" }, reconnection: false, timeout: 5000, transports });
const done = (result) => process.stdout.write(JSON.stringify(result) + "\n",
  () => process.exit(result.ok ? 0 : 1));
setTimeout(() => done({ ok: false, error: "timeout" }), 10000).unref();
socket.on("connect_error", (err) => done({ ok: false, error: String(err) }));
socket.on("welcome", (welcome) => {
  const send = () => socket.timeout(5000).emit("chat_message", { room: "lobby", text: "hi" }, (err, ack) => {
    if (err) return done({ ok: false, error: String(err) });
    const transport = socket.io.engine.transport.name;
    socket.close();
    done({ ok: true, welcome, ack, transport });
  });
  if (socket.io.engine.transport.name === "websocket" || transports.length === 1) send();
  else socket.io.engine.once("upgrade", send);
});
"""


def _version(tree: Path) -> str:
    match = re.search(r'^__version__ = "([^"]+)"$', (tree / "txsocketio" / "_version.py").read_text(), re.M)
    assert match is not None, "txsocketio/_version.py has no __version__ literal"
    return match.group(1)


class WheelTests(unittest.TestCase):
    timeout = 300  # a cold pip cache downloads setuptools and the dependencies

    def tmpdir(self, what: str) -> Path:
        """A temporary directory outside the checkout, removed after the test."""
        path = Path(tempfile.mkdtemp(prefix=f"txsocketio-{what}-")).resolve()
        self.addCleanup(shutil.rmtree, path, ignore_errors=True)
        if path.is_relative_to(PROJECT_ROOT):
            self.fail(f"{path} is inside the checkout {PROJECT_ROOT}: set TMPDIR elsewhere")
        return path

    async def clean_tree(self) -> tuple[Path, list[str]]:
        """A copy of the files git tracks (working-tree contents) -> (dir, paths)."""
        git = require_tool("git")
        result = await run_process([git, "ls-files", "-z"], cwd=PROJECT_ROOT)
        if result.exit_code != 0:
            missing(f"a git checkout at {PROJECT_ROOT} ({result.stderr_text.strip()})")
        tree = self.tmpdir("tree")
        tracked = []
        for name in result.stdout.decode("utf-8").split("\0"):
            source = PROJECT_ROOT / name
            if not name or not source.is_file():  # deleted in the working tree
                continue
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
            tracked.append(name)
        return tree, tracked

    async def build(self) -> tuple[Path, Path, list[str]]:
        """Build the wheel from a clean tree -> (wheel, tree, tracked paths)."""
        tree, tracked = await self.clean_tree()
        out = self.tmpdir("dist")
        result = await run_process(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-v",
             "-w", out, tree], cwd=out, env=OUTSIDE, timeout=240)
        self.assertEqual(result.exit_code, 0, result.describe())
        output = result.stdout_text + result.stderr_text
        banners = [line for line in output.splitlines() if BANNER.search(line)]
        self.assertEqual(banners, [], "the build printed warnings")
        [wheel] = out.glob("txsocketio-*.whl")
        return wheel, tree, tracked

    async def test_wheel_contents(self) -> None:
        """The wheel holds every tracked file of txsocketio/ (every subpackage,
        the demo's static files, py.typed, the browser client and its licence)
        and nothing else, the twistd plugin without twisted/__init__.py or
        dropin.cache, no tests, and the metadata: version from
        txsocketio/_version.py, SPDX licence, both licence files."""
        wheel, tree, tracked = await self.build()
        version = _version(tree)
        self.assertEqual(wheel.name, f"txsocketio-{version}-py3-none-any.whl")
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            read = zf.read
            info = f"txsocketio-{version}.dist-info"
            package = {n for n in tracked
                       if n.startswith("txsocketio/") and not Path(n).name.startswith(".")}
            # The hook check: every package (each __init__.py) made it.
            inits = {n for n in package if n.endswith("/__init__.py")}
            self.assertTrue({"txsocketio/__init__.py", "txsocketio/demo/__init__.py",
                             "txsocketio/engineio/__init__.py"} <= inits)
            self.assertEqual(inits - names, set(), "packages missing from the wheel")
            self.assertEqual({n for n in names if n.startswith("txsocketio/")}, package)
            for name in ("txsocketio/py.typed", "txsocketio/demo/static/index.html",
                         "txsocketio/client_dist/socket.io.min.js", "txsocketio/client_dist/LICENSE",
                         "txsocketio/client_dist/bundle.json", "txsocketio/_version.py"):
                self.assertIn(name, names)
                self.assertEqual(read(name), (tree / name).read_bytes(), name)
            self.assertEqual({n for n in names if n.startswith("twisted/")},
                             {"twisted/plugins/txsocketio_plugin.py"})
            self.assertEqual({n.split("/")[0] for n in names}, {"txsocketio", "twisted", info})
            self.assertEqual([n for n in names if n.endswith((".pyc", "dropin.cache"))], [])
            self.assertEqual(read(f"{info}/licenses/LICENSE"), (tree / "LICENSE").read_bytes())
            self.assertEqual(read(f"{info}/licenses/txsocketio/client_dist/LICENSE"),
                             (tree / "txsocketio/client_dist/LICENSE").read_bytes())
            metadata = read(f"{info}/METADATA").decode("utf-8").split("\n\n", 1)[0].splitlines()
        self.assertIn(f"Version: {version}", metadata)
        self.assertIn("License-Expression: MIT", metadata)
        self.assertIn("License-File: LICENSE", metadata)
        self.assertEqual([h for h in metadata if h.startswith(("License:", "Classifier: License"))], [])

    async def test_installed_product(self) -> None:
        """Installed from the wheel into a fresh venv and run from elsewhere,
        ``twistd txsocketio`` serves the demo page and the shipped client, and
        an official socket.io-client 4.x connects and gets an acknowledgement."""
        node_dir = require_node_modules("sioc4")
        node = require_tool("node")
        wheel, tree, _ = await self.build()
        version = _version(tree)
        shipped = (tree / "txsocketio" / "client_dist" / "socket.io.min.js").read_bytes()
        page = (tree / "txsocketio" / "demo" / "static" / "index.html").read_bytes()
        # Only the wheel from here on: the tree goes away.
        shutil.rmtree(tree)

        # A venv without pip of its own (seconds faster); the suite's pip
        # installs into it (``--python``) and resolves the dependencies from
        # the index as a user's would.
        venv = self.tmpdir("venv") / "venv"
        result = await run_process([sys.executable, "-m", "venv", "--without-pip", venv],
                                   env=OUTSIDE, timeout=120)
        self.assertEqual(result.exit_code, 0, result.describe())
        elsewhere = self.tmpdir("run")
        result = await run_process(
            [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
             "--disable-pip-version-check", "-q", wheel],
            cwd=elsewhere, env=OUTSIDE, timeout=240)
        self.assertEqual(result.exit_code, 0, result.describe())
        self.assertNotIn("DEPRECATION", result.stdout_text + result.stderr_text)

        result = await run_process(
            [venv / "bin" / "python", "-c",
             "import json, importlib.metadata as m, txsocketio; "
             "print(json.dumps([txsocketio.__file__, txsocketio.__version__, m.version('txsocketio')]))"],
            cwd=elsewhere, env=OUTSIDE)
        self.assertEqual(result.exit_code, 0, result.describe())
        where, module_version, dist_version = json.loads(result.stdout_text)
        self.assertTrue(Path(where).resolve().is_relative_to(venv.resolve()), where)
        self.assertEqual((module_version, dist_version), (version, version))

        port = free_port()
        server = ServerProcess(
            [venv / "bin" / "twistd", "-n", "--pidfile=", "txsocketio",
             "--listen", f"tcp:{port}:interface={LOCALHOST}"],
            port, cwd=elsewhere, env=OUTSIDE, name="twistd txsocketio")
        self.addCleanup(server.stop)  # SIGTERM (then SIGKILL) by PID
        await server.start()
        base = f"http://{LOCALHOST}:{port}"

        import treq
        from twisted.internet import reactor
        from twisted.web.client import HTTPConnectionPool

        pool = HTTPConnectionPool(reactor, persistent=False)
        response = await treq.get(base + "/", pool=pool)
        body = await response.content()
        self.assertEqual((response.code, body), (200, page), server.describe())
        response = await treq.get(base + "/socket.io/socket.io.min.js", pool=pool)
        body = await response.content()
        self.assertEqual(response.code, 200, server.describe())
        self.assertTrue(body == shipped, "the served client is not the shipped socket.io.min.js")
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["application/javascript; charset=utf-8"])
        self.assertTrue(response.headers.getRawHeaders("etag"))

        # Upgraded to WebSocket, and long-polling only (the direct path of the service's site).
        for transport in ("websocket", "polling"):
            result = await run_process([node, "-e", NODE_CLIENT, base, transport], cwd=node_dir, timeout=30)
            self.assertEqual(result.exit_code, 0, result.describe() + "\n" + server.describe())
            outcome = json.loads(result.stdout_text)
            self.assertEqual(outcome["welcome"]["nick"], "wheel")
            self.assertEqual(outcome["transport"], transport)
            ack = outcome["ack"]
            self.assertEqual((ack["ok"], ack["room"]), (True, "lobby"), ack)
            self.assertIsInstance(ack["id"], int)

        await server.stop()
        self.assertFalse(server.running)
