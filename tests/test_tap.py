"""``twistd txsocketio``: option parsing, the service, the real twistd process,
and the plugin being found after a normal and an editable install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

import treq
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.python import usage
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool

from tests.support import PROJECT_ROOT, ServerProcess, free_port, run_process
from txsocketio import SocketIOServer
from txsocketio.service import SocketIOService
from txsocketio.tap import Options, makeService
from txsocketio.testing import TestClient

APP_MODULE = '''
from txsocketio import SocketIOServer
sio = SocketIOServer()
@sio.on("echo")
def echo(socket, *args):
    return args
def factory():
    return SocketIOServer(ping_interval=7)
def broken_factory():
    raise RuntimeError("boom")
not_a_server = 42
'''


class _AppDirMixin:
    def make_app_dir(self) -> str:
        d = tempfile.mkdtemp()
        name = f"tapapp_{abs(hash(d)) % 10**8}"
        with open(os.path.join(d, name + ".py"), "w") as f:
            f.write(APP_MODULE)
        cwd = os.getcwd()
        os.chdir(d)
        self.addCleanup(os.chdir, cwd)  # type: ignore[attr-defined]
        self.addCleanup(sys.modules.pop, name, None)  # type: ignore[attr-defined]
        return name


class OptionsTests(_AppDirMixin, unittest.TestCase):
    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_defaults_serve_the_demo_on_localhost_8080(self) -> None:
        """No options: the chat demo app, one listener on 127.0.0.1:8080, path /socket.io/."""
        options = self.parse()
        self.assertEqual(options["listen"], ["tcp:8080:interface=127.0.0.1"])
        self.assertEqual(options["path"], "/socket.io/")
        self.assertIsInstance(options["sio"], SocketIOServer)

    def test_listen_is_repeatable(self) -> None:
        """--listen and -l may be given several times."""
        options = self.parse("--listen", "tcp:0:interface=127.0.0.1", "-l", "unix:/tmp/x.sock")
        self.assertEqual(options["listen"], ["tcp:0:interface=127.0.0.1", "unix:/tmp/x.sock"])

    def test_bad_values_are_usage_errors(self) -> None:
        """Every malformed value is a UsageError with a one-line explanation."""
        for argv, words in [
            (["--listen", "tcp:abc"], "not a valid endpoint"),
            (["--ping-interval", "x"], "number of seconds"),
            (["--ping-timeout", "-1"], "positive"),
            (["--connect-timeout", "0"], "positive"),
            (["--max-http-buffer-size", "1.5"], "whole number"),
            (["--transports", "carrier-pigeon"], "polling, websocket"),
            (["--path", "/"], "--path"),
            (["--static", "/no/such/dir"], "not a directory"),
        ]:
            e = self.assertRaises(usage.UsageError, self.parse, *argv)
            self.assertIn(words, str(e), argv)
            self.assertNotIn("\n", str(e))

    def test_app_errors(self) -> None:
        """--app mistakes say what is wrong: missing module, attribute, type, a failing factory."""
        name = self.make_app_dir()
        for spec, words in [
            ("no_such_module_xyz:sio", "no module named 'no_such_module_xyz'"),
            (f"{name}:nope", "has no attribute 'nope'"),
            (f"{name}:not_a_server", "is a int, not a SocketIOServer"),
            (f"{name}:broken_factory", "RuntimeError: boom"),
            (name, "MODULE:ATTR"),
        ]:
            e = self.assertRaises(usage.UsageError, self.parse, "--app", spec)
            self.assertIn(words, str(e), spec)

    def test_app_object_or_factory(self) -> None:
        """--app takes a SocketIOServer, or a callable returning one, from the current directory."""
        name = self.make_app_dir()
        options = self.parse("--app", f"{name}:sio")
        self.assertIs(options["sio"], sys.modules[name].sio)
        options = self.parse("--app", f"{name}:factory")
        self.assertEqual(options["sio"].engine.config.ping_interval, 7)

    def test_wsgi_must_be_callable(self) -> None:
        """--wsgi must name a callable."""
        name = self.make_app_dir()
        e = self.assertRaises(usage.UsageError, self.parse, "--app", f"{name}:sio", "--wsgi",
                              f"{name}:not_a_server")
        self.assertIn("not a WSGI application", str(e))

    def test_command_line_overrides_the_app(self) -> None:
        """Times, sizes, transports, EIO3 and CORS given on the command line win."""
        name = self.make_app_dir()
        options = self.parse("--app", f"{name}:factory", "--ping-interval", "1.5", "--ping-timeout", "0.5",
                             "--connect-timeout", "3", "--max-http-buffer-size", "1000",
                             "--transports", "websocket", "--allow-eio3", "--cors-origin", "http://a.example",
                             "--cors-origin", "http://b.example", "--listen", "tcp:0:interface=127.0.0.1")
        service = makeService(options)
        sio = options["sio"]
        engine = sio.engine
        self.assertEqual((engine.config.ping_interval, engine.config.ping_timeout), (1.5, 0.5))
        self.assertEqual(sio.connect_timeout, 3)
        self.assertEqual(engine.max_http_buffer_size, 1000)
        self.assertEqual(engine.transports, ("websocket",))
        self.assertTrue(engine.allow_eio3)
        self.assertTrue(engine.cors.allows("http://b.example", "x", False))
        self.assertFalse(engine.cors.allows("http://c.example", "x", False))
        self.assertIsInstance(service, SocketIOService)


class ServiceTests(unittest.TestCase):
    async def test_stop_is_graceful(self) -> None:
        """Stopping the service stops listening and disconnects clients with
        "server shutting down"."""
        clock = Clock()
        sio = SocketIOServer(reactor=clock)
        reasons = []
        sio.on("disconnect", lambda socket, reason: reasons.append(reason))
        service = SocketIOService(sio, ["tcp:0:interface=127.0.0.1"], reactor=reactor)
        service.startService()
        [port] = await service.listening
        client = TestClient(sio)
        self.assertTrue(client.is_connected())
        d = service.stopService()
        clock.advance(10)
        await d
        self.assertEqual(reasons, ["server shutting down"])
        self.assertIn("/", client.disconnected)
        self.assertFalse(service.running)
        self.assertEqual(service.ports, [])


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

    async def test_port_in_use_is_one_line_and_exit_1(self) -> None:
        """A port in use ends the process with status 1 and one critical line, no traceback."""
        import socket

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = await run_process(_twistd("txsocketio", "--listen", f"tcp:{port}:interface=127.0.0.1"),
                                       cwd=tempfile.mkdtemp(), timeout=30)
        output = result.stdout_text + result.stderr_text
        self.assertEqual(result.exit_code, 1, output)
        self.assertIn("cannot start", output)
        self.assertIn("Address already in use", output)
        self.assertNotIn("Traceback", output)

    async def test_usage_error_is_one_line(self) -> None:
        """A bad --app ends with a one-line message and a non-zero status."""
        result = await run_process(_twistd("txsocketio", "--app", "no_such_mod:sio"), cwd=tempfile.mkdtemp(),
                                   timeout=30)
        output = result.stdout_text + result.stderr_text
        self.assertNotEqual(result.exit_code, 0)
        self.assertIn("no module named 'no_such_mod'", output)
        self.assertNotIn("Traceback", output)


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
