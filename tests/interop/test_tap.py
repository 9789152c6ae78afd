"""``twistd txsocketio`` as a real process: the demo, start-up failures in the
foreground and as a daemon, usage errors, quiet logging by default; and the
plugin being found after a normal and an editable install."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

import treq
from twisted.internet import reactor
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool

from tests.support import PROJECT_ROOT, ServerProcess, free_port, poll_until, run_process


def _twistd_daemon(*args: str) -> list[str]:
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", *args]


def _twistd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=", *args]


class TwistdProcessTests(unittest.TestCase):
    async def test_demo_serves_page_socketio_and_stops_cleanly(self) -> None:
        """`twistd -n txsocketio` alone serves the demo page and Socket.IO, and a
        SIGTERM stops it gracefully (twistd then re-raises the signal, so the
        status is "killed by SIGTERM" after a clean shutdown)."""
        port = free_port()
        logfile = os.path.join(tempfile.mkdtemp(), "twistd.log")
        server = ServerProcess(_twistd("--logfile", logfile, "txsocketio", "--shutdown-timeout", "1",
                                       "--listen", f"tcp:{port}:interface=127.0.0.1"), port,
                               cwd=tempfile.mkdtemp())
        self.addCleanup(server.stop)
        await server.start()
        pool = HTTPConnectionPool(reactor, persistent=False)
        page = await treq.get(f"http://127.0.0.1:{port}/", pool=pool)
        self.assertEqual(page.code, 200)
        self.assertIn(b"<html", (await page.content()).lower())
        hs = await treq.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling", pool=pool)
        self.assertTrue((await hs.content()).startswith(b'0{"sid":'))
        code = await server.stop(grace=10)
        with open(logfile) as f:
            log = f.read()
        self.assertIn(code, (0, -15), server.describe() + log)
        self.assertIn("disconnecting 1 client", log)
        self.assertIn("Socket.IO server stopped", log)
        self.assertIn("Server Shut Down", log)

    async def test_port_in_use_in_the_foreground(self) -> None:
        """With -n, a port in use ends twistd with status 1; the reason is the
        last line of the log (twistd prints the exception it re-raises)."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = await run_process(_twistd("txsocketio", "--listen", f"tcp:{port}:interface=127.0.0.1"),
                                       cwd=tempfile.mkdtemp(), timeout=30)
        output = result.stdout_text + result.stderr_text
        self.assertEqual(result.exit_code, 1, output)
        self.assertIn(f"CannotListen: Address already in use: tcp:{port}:interface=127.0.0.1", output)

    async def test_daemon_with_port_in_use_fails_in_the_foreground(self) -> None:
        """As a daemon (no -n), a port in use makes twistd itself exit 1 in the
        foreground with the reason on one stderr line (twistd adds its "look at
        the log file" line), no traceback, and no pidfile left behind."""
        workdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, workdir, True)
        pidfile = os.path.join(workdir, "twistd.pid")
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = await run_process(_twistd_daemon(f"--pidfile={pidfile}", "--logfile",
                                                      os.path.join(workdir, "twistd.log"), "txsocketio",
                                                      "--listen", f"tcp:{port}:interface=127.0.0.1"),
                                       cwd=workdir, timeout=30)
        self.assertEqual(result.exit_code, 1, result.describe())
        lines = result.stderr_text.splitlines()
        self.assertEqual(len(lines), 2, result.describe())
        self.assertIn(f"Address already in use: tcp:{port}:interface=127.0.0.1", lines[0])
        self.assertEqual(lines[1], "Please look at log file for more information.")
        self.assertNotIn("Traceback", result.stderr_text)
        # The daemon child removes the pidfile just after it reports the failure.
        await poll_until(lambda: not os.path.exists(pidfile), 5, message="the pidfile is still there")

    async def test_usage_error_is_one_line(self) -> None:
        """A usage error prints one line and where to find help, not the whole
        help; the status is 1."""
        for argv, words in [(["--app", "no_such_mod:sio"], "no module named 'no_such_mod'"),
                            (["--listen", "8080"], "write tcp:8080")]:
            result = await run_process(_twistd("txsocketio", *argv), cwd=tempfile.mkdtemp(), timeout=30)
            self.assertEqual(result.exit_code, 1, result.describe())
            lines = result.stderr_text.splitlines()
            self.assertEqual(len(lines), 2, result.describe())
            self.assertTrue(lines[0].startswith("twistd txsocketio: "), lines)
            self.assertIn(words, lines[0])
            self.assertEqual(lines[1], "see: twistd txsocketio --help")
            self.assertEqual(result.stdout_text, "")

    async def test_quiet_by_default_access_log_and_debug_when_asked(self) -> None:
        """By default the log has no access line and no debug line; with
        --access-log - and --log-level debug it has both."""
        async def run(*extra: str) -> str:
            port = free_port()
            server = ServerProcess(_twistd("txsocketio", "--listen", f"tcp:{port}:interface=127.0.0.1",
                                           "--shutdown-timeout", "1", *extra), port, cwd=tempfile.mkdtemp())
            self.addCleanup(server.stop)
            await server.start()
            pool = HTTPConnectionPool(reactor, persistent=False)
            for _ in range(3):
                response = await treq.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling",
                                          pool=pool)
                await response.content()
            await server.stop(grace=10)
            return server.stdout_text + server.stderr_text

        quiet = await run()
        self.assertNotIn("#debug]", quiet)
        self.assertNotIn('"GET /socket.io/', quiet)
        self.assertNotIn("Starting factory", quiet)
        self.assertIn("Socket.IO server listening", quiet)
        loud = await run("--access-log", "-", "--log-level", "debug")
        self.assertIn("[txsocketio.engineio#debug]", loud)
        self.assertEqual(loud.count('"GET /socket.io/?EIO=4&transport=polling HTTP/1.1" 200'), 3, loud)


def _purelib(python: str) -> str:
    return subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()


class PluginInstallTests(unittest.TestCase):
    """Install the package into fresh virtualenvs, as users do, and ask twistd.

    The dependencies come from this test run's own environment (a path line in
    the new venv's site-packages, which does not run that environment's .pth
    files, so this checkout itself is not importable there); txsocketio and its
    plugin file come only from the install being tested.
    """

    timeout = 300

    def make_copy(self) -> Path:
        target = Path(tempfile.mkdtemp()) / "src"
        files = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True,
                               check=True).stdout.split(b"\0")
        for name in filter(None, files):
            path = PROJECT_ROOT / os.fsdecode(name)
            if path.is_file():
                dest = target / os.fsdecode(name)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
        self.addCleanup(shutil.rmtree, target.parent, True)
        return target

    async def make_venv(self) -> str:
        venv = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, venv, True)
        result = await run_process([sys.executable, "-m", "venv", venv], timeout=120)
        self.assertEqual(result.exit_code, 0, result.describe())
        python = os.path.join(venv, "bin", "python")
        with open(os.path.join(_purelib(python), "zz_test_deps.pth"), "w") as f:
            f.write(sysconfig.get_paths()["purelib"] + "\n")
        return python

    async def assert_plugin_found(self, python: str) -> None:
        outside = tempfile.mkdtemp()
        clean = {"PYTHONPATH": ""}  # the helpers put this checkout on PYTHONPATH; not here
        result = await run_process([python, "-c", "from twisted.scripts.twistd import run; run()", "--help"],
                                   cwd=outside, timeout=60, env=clean)
        self.assertIn("txsocketio", result.stdout_text, result.describe())
        where = await run_process([python, "-c", "import txsocketio; print(txsocketio.__file__)"], cwd=outside,
                                  env=clean)
        self.assertNotIn(str(PROJECT_ROOT), where.stdout_text)

    async def test_found_after_normal_install(self) -> None:
        """`pip install .` puts twisted/plugins/txsocketio_plugin.py where twistd finds it."""
        src = self.make_copy()
        python = await self.make_venv()
        result = await run_process([python, "-m", "pip", "install", "-q", "--no-deps", str(src)], timeout=240)
        self.assertEqual(result.exit_code, 0, result.describe())
        await self.assert_plugin_found(python)

    async def test_found_after_compat_editable_install(self) -> None:
        """`pip install -e . --config-settings editable_mode=compat` keeps the plugin visible."""
        src = self.make_copy()
        python = await self.make_venv()
        result = await run_process([python, "-m", "pip", "install", "-q", "--no-deps",
                                    "--config-settings", "editable_mode=compat", "-e", str(src)], timeout=240)
        self.assertEqual(result.exit_code, 0, result.describe())
        await self.assert_plugin_found(python)

    async def test_wheel_never_carries_dropin_cache(self) -> None:
        """A stray dropin.cache in twisted/plugins/ stays out of the wheel, and
        twisted/ has no __init__.py of ours."""
        src = self.make_copy()
        (src / "twisted" / "plugins" / "dropin.cache").write_bytes(b"stale")
        out = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, out, True)
        result = await run_process([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, str(src)],
                                   timeout=240)
        self.assertEqual(result.exit_code, 0, result.describe())
        [wheel] = [f for f in os.listdir(out) if f.endswith(".whl")]
        names = zipfile.ZipFile(os.path.join(out, wheel)).namelist()
        self.assertIn("twisted/plugins/txsocketio_plugin.py", names)
        self.assertFalse([n for n in names if n.endswith("dropin.cache")], names)
        self.assertNotIn("twisted/__init__.py", names)
        self.assertNotIn("twisted/plugins/__init__.py", names)
