"""Proof that the helpers in tests/support.py work."""

import os
import sys

from twisted.trial import unittest

from tests import support
from tests.support import (
    ProcessTimeout,
    RedisServer,
    ServerProcess,
    free_port,
    require_tool,
    run_process,
)


class FreePortTests(unittest.TestCase):
    def test_ports_differ(self):
        ports = {free_port() for _ in range(5)}
        self.assertGreater(len(ports), 1)
        for port in ports:
            self.assertTrue(1024 <= port <= 65535, port)


class RequireToolTests(unittest.TestCase):
    def setUp(self):
        self.saved_ci = os.environ.get("CI")
        self.addCleanup(self.restore_ci)

    def restore_ci(self):
        if self.saved_ci is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = self.saved_ci

    def test_present_tool(self):
        path = require_tool("sh")
        self.assertTrue(os.path.isabs(path))
        self.assertEqual(require_tool(sys.executable), sys.executable)

    def test_missing_tool_skips_outside_ci(self):
        os.environ.pop("CI", None)
        self.assertRaises(unittest.SkipTest, require_tool, "no-such-tool-txsio")

    def test_missing_tool_fails_under_ci(self):
        os.environ["CI"] = "true"
        error = self.assertRaises(self.failureException, require_tool, "no-such-tool-txsio")
        self.assertIn("missing", str(error))
        self.assertNotIsInstance(error, unittest.SkipTest)


class RunProcessTests(unittest.TestCase):
    async def test_captures_output_and_exit_code(self):
        result = await run_process([
            sys.executable, "-c",
            "import os, sys; print('out', os.environ['TXSIO_X']); "
            "print('err', file=sys.stderr); sys.exit(3)",
        ], env={"TXSIO_X": "42"})
        self.assertEqual(result.exit_code, 3)
        self.assertEqual(result.stdout, b"out 42\n")
        self.assertEqual(result.stderr, b"err\n")

    async def test_inherits_environment(self):
        # The spawnProcess trap: without merging, the child's env is empty.
        result = await run_process(["sh", "-c", 'printf %s "$PATH"'])
        self.assertEqual(result.exit_code, 0)
        self.assertEqual(result.stdout.decode(), os.environ["PATH"])

    async def test_default_cwd_is_project_root(self):
        result = await run_process(["pwd"])
        self.assertEqual(result.stdout.decode().strip(), str(support.PROJECT_ROOT))

    async def test_timeout_kills(self):
        start = support.reactor.seconds()
        with self.assertRaises(ProcessTimeout) as caught:
            await run_process(["sh", "-c", "echo started; exec sleep 30"], timeout=0.5)
        self.assertLess(support.reactor.seconds() - start, 5)
        self.assertEqual(caught.exception.result.exit_code, -9)
        self.assertEqual(caught.exception.result.stdout, b"started\n")


class ServerProcessTests(unittest.TestCase):
    async def test_http_server(self):
        port = free_port()
        server = ServerProcess(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)], port,
            cwd=support.TESTS_DIR)
        self.addCleanup(server.stop)
        await server.start()
        self.assertTrue(server.running)
        self.assertIsInstance(server.pid, int)

        # Fetch a page with a (reactor-driven) child process.
        result = await run_process([
            sys.executable, "-c",
            "import urllib.request, sys; "
            f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{port}/support.py').read().decode())",
        ])
        self.assertEqual(result.exit_code, 0, result.describe())
        self.assertIn("class ServerProcess", result.stdout_text)
        await server.wait_for_output('"GET /support.py HTTP/1.1" 200', stream="stderr")

        code = await server.stop()
        self.assertFalse(server.running)
        self.assertIsNotNone(code)
        self.assertEqual(await server.stop(), code)  # idempotent

    async def test_early_exit_fails_with_stderr(self):
        server = ServerProcess(
            [sys.executable, "-c", "import sys; sys.exit('boom: no such option')"], free_port())
        self.addCleanup(server.stop)
        with self.assertRaises(self.failureException) as caught:
            await server.start()
        self.assertIn("boom: no such option", str(caught.exception))

    async def test_stop_escalates_to_sigkill(self):
        port = free_port()
        script = (
            "import signal, socket, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "s = socket.socket(); s.bind(('127.0.0.1', %d)); s.listen()\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n" % port)
        server = ServerProcess([sys.executable, "-c", script], port)
        self.addCleanup(server.stop)
        await server.start()
        await server.wait_for_output("ready")
        start = support.reactor.seconds()
        code = await server.stop(grace=0.5)
        self.assertEqual(code, -9)
        self.assertLess(support.reactor.seconds() - start, 3)


class RedisServerTests(unittest.TestCase):
    async def test_start_ping_kill_restart(self):
        redis = RedisServer()
        self.addCleanup(redis.stop)
        await redis.start()
        self.assertEqual(await redis.ping(), b"+PONG\r\n")

        self.assertEqual(await redis.kill(), -9)
        self.assertFalse(await support.can_connect("127.0.0.1", redis.port))

        await redis.restart()
        self.assertEqual(await redis.ping(), b"+PONG\r\n")
        self.assertEqual(await redis.stop(), 0)
