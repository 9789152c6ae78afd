"""The Admin UI served by AdminUIResource loads in headless Chromium.

A real twisted.web Site on a free loopback port serves the shipped UI at
``/admin-ui/``; Debian's chromium (driven by playwright-core from
``tests/node``) opens ``/admin-ui`` (redirected to the slash), runs the UI's
scripts and shows its login form ("Server URL", "Connect").  Every request
to our server must succeed, with no console or page error: this checks the
paths, the Content-Types (nosniff) and the caching headers in a real
browser.  Requests to other hosts (the UI's Google Fonts and jsDelivr icon
CSS) are aborted, as an offline deployment would see them.  A screenshot
goes to ``test-artifacts/admin-ui-login.png``.

The login itself needs the server-side instrumentation (pending wiring).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from twisted.internet import reactor
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.server import Site

from tests.support import PROJECT_ROOT, require_node_modules, require_tool, run_process
from txsocketio.admin.ui import AdminUIResource

CHROMIUM = "/usr/bin/chromium"

SCRIPT = r"""
const [nodeModules, url, executable, shotPath] = process.argv.slice(2);
const { chromium } = require(nodeModules + "/playwright-core");
(async () => {
  const problems = [], ours = [];
  const browser = await chromium.launch({executablePath: executable, headless: true,
                                         args: ["--no-sandbox", "--disable-gpu"]});
  try {
    const page = await browser.newPage();
    const origin = new URL(url).origin;
    await page.route((u) => u.origin !== origin, (route) => route.abort());
    page.on("console", (m) => { if (m.type() === "error" && !/ERR_FAILED/.test(m.text())) problems.push("console: " + m.text()); });
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("response", (r) => {
      if (r.url().startsWith(origin)) {
        ours.push({url: r.url().slice(origin.length), status: r.status(), type: r.headers()["content-type"] || ""});
        if (r.status() >= 400) problems.push("HTTP " + r.status() + " " + r.url());
      }
    });
    page.on("requestfailed", (req) => { if (req.url().startsWith(origin)) problems.push("failed: " + req.url()); });
    await page.goto(url, {waitUntil: "load"});
    await page.getByText("Server URL").first().waitFor({timeout: 15000});
    await page.getByText("Connect", {exact: true}).first().waitFor({timeout: 5000});
    await page.screenshot({path: shotPath});
    console.log(JSON.stringify({ok: true, title: await page.title(), finalUrl: page.url(), problems, ours}));
  } catch (e) {
    console.log(JSON.stringify({ok: false, error: String(e), problems}));
  } finally {
    await browser.close();
  }
})();
"""


class AdminUIBrowserTests(unittest.TestCase):
    timeout = 90

    async def test_ui_loads(self) -> None:
        """The UI's page and all its assets load from our resource in
        Chromium, with the right types, and its login form shows."""
        node_dir = require_node_modules("playwright-core")
        node = require_tool("node")
        chromium = require_tool(CHROMIUM)
        root = Resource()
        root.putChild(b"admin-ui", AdminUIResource())
        port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        url = f"http://127.0.0.1:{port.getHost().port}/admin-ui"
        artifacts = PROJECT_ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "admin_ui_browser.js"
            script.write_text(SCRIPT)
            result = await run_process([node, script, node_dir / "node_modules", url, chromium,
                                        artifacts / "admin-ui-login.png"], timeout=60)
        self.assertEqual(result.exit_code, 0, result.describe())
        [line] = [json.loads(x) for x in result.stdout_text.splitlines() if x.startswith("{")]
        self.assertTrue(line["ok"], line)
        self.assertEqual(line["problems"], [])
        self.assertEqual(line["title"], "Socket.IO Admin UI")
        self.assertTrue(line["finalUrl"].split("#")[0].endswith("/admin-ui/"), line["finalUrl"])  # hash routing: /admin-ui/#/
        served = {r["url"]: r for r in line["ours"]}
        self.assertEqual(served["/admin-ui"]["status"], 302)
        self.assertTrue(served["/admin-ui/"]["type"].startswith("text/html"))
        scripts = [r for u, r in served.items() if u.endswith(".js")]
        styles = [r for u, r in served.items() if u.endswith(".css")]
        self.assertEqual(len(scripts), 2, served)
        self.assertEqual(len(styles), 2, served)
        self.assertTrue(all(r["type"].startswith("application/javascript") and r["status"] == 200 for r in scripts))
        self.assertTrue(all(r["type"].startswith("text/css") and r["status"] == 200 for r in styles))
