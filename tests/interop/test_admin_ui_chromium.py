"""The official Socket.IO Admin UI against a running txsocketio, in headless Chromium.

A real ``twistd txsocketio`` process (``--admin-ui --admin-auth
admin:<bcrypt hash> --admin-serve-ui /admin-ui/``, the app of
``tests/apps/admin_app.py``) serves both the UI's page and the admin
namespace.  One Node script (``tests/node``'s playwright-core driving
Debian's chromium, and official socket.io-client 4 sockets) then:

1. connects client A (room ``alpha``, WebSocket);
2. opens the served UI, logs in with basic auth (wrong password first: the
   login form stays), sees the status "connected";
3. finds A on the Sockets page and its room on the Rooms page, and this
   server (its host name) on the Servers page (``server_stats``);
4. connects client B (room ``beta``, long-polling) and sees it appear;
5. disconnects A with the row's button: A's client reports
   ``io server disconnect`` (the reason socket.io-client gives for a server
   namespace disconnect) and B stays connected;
6. saves screenshots in ``test-artifacts/``: the dashboard connected to
   txsocketio is ``admin-ui-dashboard.png``.  With
   ``TXSOCKETIO_UPDATE_DOCS_SCREENSHOT=1`` it also replaces the documentation's
   ``docs/_static/admin-ui.png`` (the README's and the Admin UI page's picture).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from pathlib import Path

from twisted.trial import unittest

from tests.support import PROJECT_ROOT, ServerProcess, free_port, require_node_modules, require_tool, run_process
from txsocketio.admin.auth import hash_password

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "s3cret-admin"
DOCS_SCREENSHOT = PROJECT_ROOT / "docs" / "_static" / "admin-ui.png"

SCRIPT = r"""
const [nodeModules, url, executable, password, artifacts, docsShot, hostname] = process.argv.slice(2);
const { chromium } = require(nodeModules + "/playwright-core");
const { io } = require(nodeModules + "/sioc4");
const out = {steps: [], problems: []};
const connected = (s) => new Promise((ok, ko) => { s.once("connect", ok); s.once("connect_error", ko); });
(async () => {
  const a = io(url, {auth: {room: "alpha"}, transports: ["websocket"], reconnection: false});
  await connected(a);
  const aId = out.a = a.id;   // (the client forgets its id once disconnected)
  const aGone = new Promise((ok) => a.on("disconnect", (reason) => ok(reason)));
  const browser = await chromium.launch({executablePath: executable, headless: true,
                                         args: ["--no-sandbox", "--disable-gpu"]});
  let b;
  try {
    const page = await browser.newPage({viewport: {width: 1280, height: 800}});
    const origin = new URL(url).origin;
    // The UI's web fonts and icon CSS come from CDNs: offline here.
    await page.route((u) => u.origin !== origin, (route) => route.abort());
    page.on("pageerror", (e) => out.problems.push("page error: " + e.message));
    const nav = (name) => page.locator("nav").getByText(name, {exact: true}).click();
    const shot = (name) => page.screenshot({path: artifacts + "/admin-ui-" + name + ".png"});
    const status = page.getByText(/^\s*connected\s*$/i).first();

    await page.goto(url + "/admin-ui/", {waitUntil: "load"});
    await page.getByLabel("Server URL").fill(url);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("wrong");
    await page.getByRole("button", {name: "Connect"}).click();
    await page.getByText(/invalid credentials/i).first().waitFor({timeout: 10000});
    out.steps.push("wrong password refused");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", {name: "Connect"}).click();
    await status.waitFor({timeout: 15000});
    out.steps.push("logged in");

    await nav("Sockets");
    await page.getByRole("cell", {name: aId, exact: true}).waitFor({timeout: 10000});
    out.steps.push("A listed");
    await nav("Rooms");
    await page.getByRole("cell", {name: "alpha", exact: true}).waitFor({timeout: 10000});
    out.steps.push("room alpha listed");
    await nav("Servers");
    await page.getByRole("cell", {name: hostname}).first().waitFor({timeout: 10000});
    out.steps.push("server listed");

    await nav("Sockets");
    b = io(url, {auth: {room: "beta"}, transports: ["polling"], reconnection: false});
    await connected(b);
    out.b = b.id;
    await page.getByRole("cell", {name: b.id, exact: true}).waitFor({timeout: 10000});
    out.steps.push("B appeared");
    await nav("Rooms");
    await page.getByRole("cell", {name: "beta", exact: true}).waitFor({timeout: 10000});
    out.steps.push("room beta listed");
    await shot("rooms");

    await nav("Sockets");
    const rowA = page.locator("tr", {has: page.getByRole("cell", {name: aId, exact: true})});
    await shot("sockets");
    await rowA.locator("button").click();
    out.aReason = await Promise.race([aGone, new Promise((ok) => setTimeout(() => ok(null), 10000))]);
    // (the click also opens A's details page: go back to the list)
    await nav("Sockets");
    await page.getByRole("cell", {name: b.id, exact: true}).waitFor({timeout: 10000});
    await page.getByRole("cell", {name: aId, exact: true}).waitFor({state: "detached", timeout: 10000});
    out.steps.push("A disconnected from the UI");
    out.bConnected = b.connected;

    await nav("Dashboard");
    await page.waitForTimeout(2500);   // one more server_stats for the charts
    await shot("dashboard");
    if (docsShot) await page.screenshot({path: docsShot});
    out.ok = true;
  } catch (e) {
    out.ok = false;
    out.error = String(e);
  } finally {
    a.close();
    if (b) b.close();
    await browser.close();
  }
  console.log(JSON.stringify(out));
})();
"""


def _twistd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=", *args]


class AdminUIChromiumTests(unittest.TestCase):
    timeout = 120

    async def test_ui_watches_and_disconnects(self) -> None:
        """The served UI logs in with basic auth, lists the server's sockets
        with their rooms, shows a new client, and disconnects one."""
        node_dir = require_node_modules("playwright-core", "sioc4")
        node = require_tool("node")
        chromium = require_tool(CHROMIUM)
        port = free_port()
        workdir = tempfile.mkdtemp()
        logfile = os.path.join(workdir, "twistd.log")
        server = ServerProcess(_twistd(
            "--logfile", logfile, "txsocketio", "--app", "tests.apps.admin_app:make_server",
            "--listen", f"tcp:{port}:interface=127.0.0.1", "--shutdown-timeout", "1",
            "--admin-ui", "--admin-auth", f"admin:{hash_password(PASSWORD, rounds=4)}",
            "--admin-serve-ui", "/admin-ui/"), port, cwd=PROJECT_ROOT)
        self.addCleanup(server.stop)
        await server.start()
        artifacts = PROJECT_ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        docs_shot = DOCS_SCREENSHOT if os.environ.get("TXSOCKETIO_UPDATE_DOCS_SCREENSHOT") == "1" else ""
        url = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "admin_ui_chromium.js"
            script.write_text(SCRIPT)
            result = await run_process([node, script, node_dir / "node_modules", url, chromium, PASSWORD,
                                        artifacts, docs_shot, socket.gethostname()], timeout=100)
        with open(logfile) as f:
            log = f.read()
        self.assertEqual(result.exit_code, 0, result.describe())
        [line] = [json.loads(x) for x in result.stdout_text.splitlines() if x.startswith("{")]
        self.assertTrue(line.get("ok"), f"{line}\n{log}")
        self.assertEqual(line["steps"], [
            "wrong password refused", "logged in", "A listed", "room alpha listed", "server listed",
            "B appeared", "room beta listed", "A disconnected from the UI"])
        self.assertEqual(line["aReason"], "io server disconnect")
        self.assertTrue(line["bConnected"])
        self.assertEqual(line["problems"], [])
        self.assertIn("admin command _disconnect on /", log)
        self.assertIn("admin login refused", log)
