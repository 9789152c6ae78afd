"""Every example runs the way its README (and the docs) say.

Each test starts an example as written (``python app.py PORT``, ``twistd -ny
app.tac`` from its folder, ``python examples/engineio_echo.py --port P``, the
demo through ``scripts/demo.sh``…) on a free port and checks that it answers:
its page, the Engine.IO handshake, the browser client bundle and, for the
minimal chat, a real browser exchanging messages.  ``examples/django_chat`` and
``examples/cluster`` have their own tests (``tests/test_django_example.py``,
``tests/test_cluster.py``); :class:`IndexTests` checks that the index lists
every example and names the test that runs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import treq
from twisted.trial import unittest

from tests.support import (
    LOCALHOST,
    NODE_DIR,
    PROJECT_ROOT,
    ServerProcess,
    free_port,
    require_node_modules,
    require_tool,
    run_process,
)

EXAMPLES = PROJECT_ROOT / "examples"
MINIMAL_CHAT = EXAMPLES / "minimal_chat"
BIN = Path(sys.executable).parent


class ServedExampleTestCase(unittest.TestCase):
    """Start a server process and ask it for pages."""

    timeout = 180

    async def start(self, argv: list[str], port: int, **kwargs) -> ServerProcess:
        server = ServerProcess(argv, port, **kwargs)
        self.addCleanup(server.stop)
        await server.start()
        return server

    async def get(self, port: int, path: str) -> tuple[int, bytes]:
        response = await treq.get(f"http://{LOCALHOST}:{port}{path}", timeout=10, persistent=False)
        return response.code, await response.content()

    async def assertHandshake(self, port: int, path: str = "/socket.io/") -> None:
        """An Engine.IO v4 polling handshake answers 200 with an open packet."""
        code, body = await self.get(port, f"{path}?EIO=4&transport=polling")
        self.assertEqual(code, 200, body)
        self.assertTrue(body.startswith(b"0{"), body)
        self.assertIn("sid", json.loads(body[1:]))

    async def assertServesPageAndClient(self, port: int) -> None:
        """``/`` is the page that loads the served client, which is there too."""
        code, page = await self.get(port, "/")
        self.assertEqual(code, 200, page[:200])
        self.assertIn(b'src="/socket.io/socket.io.min.js"', page)
        code, client = await self.get(port, "/socket.io/socket.io.min.js")
        self.assertEqual(code, 200, client[:200])
        self.assertGreater(len(client), 10_000)


class MinimalChatTests(ServedExampleTestCase):
    """examples/minimal_chat, the app the "Getting started" pages walk through."""

    async def test_app_py(self) -> None:
        """``python app.py PORT`` from its folder serves the page, the client
        bundle and Socket.IO."""
        port = free_port()
        server = await self.start([sys.executable, "app.py", str(port)], port, cwd=MINIMAL_CHAT)
        await self.assertServesPageAndClient(port)
        await self.assertHandshake(port)
        self.assertIn(f"http://127.0.0.1:{port}/", server.stdout_text)

    async def test_tac(self) -> None:
        """``twistd -ny app.tac`` from its folder (as written: the folder is
        made importable by the .tac itself) serves the same, and a SIGTERM
        stops it cleanly, taking its pid file away."""
        port = free_port()
        pidfile = MINIMAL_CHAT / "twistd.pid"
        self.assertFalse(pidfile.exists(), f"{pidfile} is left over from another run")
        self.addCleanup(lambda: pidfile.unlink(missing_ok=True))
        server = await self.start(
            [str(BIN / "twistd"), "-ny", "app.tac"], port, cwd=MINIMAL_CHAT,
            env={"MINIMAL_CHAT_LISTEN": f"tcp:{port}:interface={LOCALHOST}"})
        await self.assertServesPageAndClient(port)
        await self.assertHandshake(port)
        self.assertTrue(pidfile.exists())
        # The graceful stop waits up to 5 s (shutdown_timeout) for the polling
        # session opened above to collect its goodbye, which nobody does.
        # twistd re-raises the signal that stopped it once it has shut down.
        self.assertIn(await server.stop(grace=15), (0, -signal.SIGTERM), server.describe())
        self.assertFalse(pidfile.exists(), "twistd left its pid file behind")

    async def test_its_tests_pass(self) -> None:
        """``python -m twisted.trial test_app`` from its folder passes."""
        with tempfile.TemporaryDirectory() as tmp:
            result = await run_process(
                [sys.executable, "-m", "twisted.trial", f"--temp-directory={tmp}/_trial_temp", "test_app"],
                cwd=MINIMAL_CHAT, timeout=60)
        self.assertEqual(result.exit_code, 0, result.describe())
        self.assertRegex(result.stdout.decode(), r"PASSED \(successes=[1-9]")

    async def test_two_browsers_chat(self) -> None:
        """Two Chromium pages load the page, connect (one over long-polling,
        one over WebSocket), and each sees the other's message."""
        node = require_tool("node")
        chromium = require_tool("chromium")
        require_node_modules("playwright-core")
        port = free_port()
        await self.start([sys.executable, "app.py", str(port)], port, cwd=MINIMAL_CHAT)
        result = await run_process(
            [node, "-e", BROWSER_SCRIPT, f"http://{LOCALHOST}:{port}", chromium],
            cwd=NODE_DIR, timeout=60)
        self.assertEqual(result.exit_code, 0, result.describe())
        report = json.loads(result.stdout.decode().strip().splitlines()[-1])
        self.assertEqual(report["alice"][-1], "bob: hello from bob", report)
        self.assertIn("alice: hello from alice", report["bob"], report)
        self.assertEqual(report["problems"], [], report)


# playwright-core drives Debian's Chromium: alice is forced to long-polling,
# bob to WebSocket (the page passes ?transport= nowhere, so the script
# overrides io() before the page's script runs).
BROWSER_SCRIPT = r"""
const { chromium } = require("playwright-core");
const [base, executablePath] = process.argv.slice(1).filter((a) => a.startsWith("http") || a.startsWith("/"));
(async () => {
  const browser = await chromium.launch({ executablePath, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  const problems = [];
  const open = async (nick, transport) => {
    const page = await browser.newPage();
    page.on("console", (m) => { if (m.type() === "error") problems.push(`${nick}: ${m.text()}`); });
    page.on("pageerror", (e) => problems.push(`${nick}: ${e.message}`));
    await page.addInitScript((t) => {
      Object.defineProperty(window, "io", { configurable: true, set(real) {
        Object.defineProperty(window, "io", { value: (opts) => real({ ...opts, transports: [t] }) });
      } });
    }, transport);
    await page.goto(`${base}/?nick=${nick}`);
    await page.waitForFunction(() => document.title === "connected", null, { timeout: 10000 });
    return page;
  };
  const lines = (page) => page.$$eval("#log li", (items) => items.map((li) => li.textContent));
  const say = async (page, text) => { await page.fill("#text", text); await page.press("#text", "Enter"); };
  try {
    const alice = await open("alice", "polling");
    const bob = await open("bob", "websocket");
    await alice.waitForFunction(() => document.body.innerText.includes("bob joined"), null, { timeout: 10000 });
    await say(alice, "hello from alice");
    await bob.waitForFunction(() => document.body.innerText.includes("alice: hello from alice"), null, { timeout: 10000 });
    await say(bob, "hello from bob");
    await alice.waitForFunction(() => document.body.innerText.includes("bob: hello from bob"), null, { timeout: 10000 });
    console.log(JSON.stringify({ alice: await lines(alice), bob: await lines(bob), problems }));
    await browser.close();
  } catch (e) {
    console.log(JSON.stringify({ error: String(e), problems }));
    await browser.close();
    process.exit(1);
  }
})();
"""


class OtherExampleTests(ServedExampleTestCase):
    """The single-file examples and the demo, started as their docs say."""

    async def test_engineio_echo(self) -> None:
        """``python examples/engineio_echo.py --port P`` serves Engine.IO at
        ``/engine.io/``."""
        port = free_port()
        await self.start([sys.executable, "examples/engineio_echo.py", "--port", str(port)], port)
        await self.assertHandshake(port, "/engine.io/")

    async def test_bench_app(self) -> None:
        """``twistd -n --pidfile= txsocketio --app bench_app:make_server`` from
        examples/ (as its docstring and bench/run.sh start it) serves Socket.IO."""
        port = free_port()
        await self.start([str(BIN / "twistd"), "-n", "--pidfile=", "txsocketio", "--app", "bench_app:make_server",
                          "--listen", f"tcp:{port}:interface={LOCALHOST}", "--log-level", "warn"],
                         port, cwd=EXAMPLES)
        await self.assertHandshake(port)

    async def test_demo_script(self) -> None:
        """``bash scripts/demo.sh --listen …`` (the README's first command)
        sets up, then serves the chat demo's page, the client and Socket.IO."""
        port = free_port()
        server = await self.start(
            ["bash", "scripts/demo.sh", "--listen", f"tcp:{port}:interface={LOCALHOST}"], port,
            name="demo.sh", startup_timeout=150)
        await self.assertServesPageAndClient(port)
        await self.assertHandshake(port)
        self.assertIsNotNone(server.pid)


class ReadmeExampleTests(ServedExampleTestCase):
    """The example of README.md runs as shown."""

    async def test_readme_example_serves_its_page(self) -> None:
        """README.md's Python example, saved beside an index.html and run
        (its port 8000 replaced by a free one), serves the page and Socket.IO."""
        readme = (PROJECT_ROOT / "README.md").read_text()
        blocks = re.findall(r"^```python\n(.*?)^```", readme, re.M | re.S)
        self.assertEqual(len(blocks), 1, "README.md should have one Python example")
        code = blocks[0]
        self.assertIn('"tcp:8000:', code)
        port = free_port()
        tmp = Path(tempfile.mkdtemp(prefix="txsocketio-readme-"))
        self.addCleanup(shutil.rmtree, tmp, True)
        (tmp / "app.py").write_text(code.replace('"tcp:8000:', f'"tcp:{port}:'))
        shutil.copy(MINIMAL_CHAT / "index.html", tmp / "index.html")
        await self.start([sys.executable, "app.py"], port, cwd=tmp)
        code_, page = await self.get(port, "/")
        self.assertEqual(code_, 200, page[:200])
        self.assertIn(b"socket.io.min.js", page)
        await self.assertHandshake(port)


class IndexTests(unittest.TestCase):
    """examples/README.md is the index of every example."""

    def test_every_example_is_listed_with_its_test(self) -> None:
        """Each file or folder in examples/ has a section in the index that
        names the test running it, and that test exists."""
        index = (EXAMPLES / "README.md").read_text()
        sections = {m.group(1): m.group(2) for m in re.finditer(
            r"^## `([^`]+)`.*?\n(.*?)(?=^## |\Z)", index, re.M | re.S)}
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in EXAMPLES.iterdir()
                         if p.name != "README.md" and not p.name.startswith((".", "_"))
                         and p.name != "__pycache__")
        for entry in entries:
            self.assertIn(entry, sections, f"examples/README.md has no '## `{entry}`' section")
            tests = re.findall(r"tests/[\w/]+\.py", sections[entry])
            self.assertTrue(tests, f"the section of {entry} names no test")
            for test in tests:
                self.assertTrue((PROJECT_ROOT / test).is_file(), f"{test} (named for {entry}) is missing")
        self.assertTrue(os.path.isdir(MINIMAL_CHAT))
