"""The documentation builds, and the code it shows runs.

* :class:`SphinxBuildTests` builds ``docs/`` with Sphinx as CI does
  (``sphinx-build -W --keep-going -b html``: any warning fails), in a
  subprocess, into a temporary directory.
* :class:`SnippetTests` runs the code the guide includes from
  ``docs/snippets/`` (``literalinclude``) against in-memory clients, checking
  that it does what the pages say.
* :class:`CodeBlockTests` compiles every Python block written inline in the
  pages and in README.md, so that none has a syntax error, and checks that
  every ``literalinclude`` names a file that exists.
* :class:`ChangelogTests` renders the pending news fragments with
  ``towncrier build --draft``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

from twisted.internet.task import Clock
from twisted.trial import unittest

from tests.support import PROJECT_ROOT, missing, run_process
from txsocketio import SocketIOServer
from txsocketio.testing import TestClient

DOCS = PROJECT_ROOT / "docs"
SNIPPETS = DOCS / "snippets"


def _require_module(name: str) -> None:
    if importlib.util.find_spec(name) is None:
        missing(f"the Python package {name!r} (pip install -e '.[docs]')")


def load_snippet(name: str) -> ModuleType:
    """Import ``docs/snippets/<name>.py`` (docs/ is not a package)."""
    path = SNIPPETS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_snippet_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SphinxBuildTests(unittest.TestCase):
    """``docs/`` builds with warnings as errors."""

    timeout = 300

    async def test_html_build_has_no_warning(self) -> None:
        """``sphinx-build -W --keep-going -b html docs OUT`` exits 0, and the
        pages of every section and the API reference are there."""
        for module in ("sphinx", "myst_parser", "furo"):
            _require_module(module)
        out = Path(tempfile.mkdtemp(prefix="txsocketio-docs-"))
        self.addCleanup(shutil.rmtree, out, True)
        result = await run_process(
            [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
             "-d", str(out / ".doctrees"), str(DOCS), str(out / "html")],
            timeout=240)
        self.assertEqual(result.exit_code, 0, result.describe())
        html = out / "html"
        for page in ("index", "getting-started/first-app", "guide/events", "operations/nginx",
                     "troubleshooting/http-errors", "reference/api", "development/releasing"):
            self.assertTrue((html / f"{page}.html").is_file(), f"{page}.html was not built")
        api = (html / "reference" / "api.html").read_text()
        import txsocketio

        for name in txsocketio.__all__:
            self.assertIn(f'id="txsocketio.{name}"', api, f"txsocketio.{name} is not in the API reference")
        first_app = (html / "getting-started" / "first-app.html").read_text()
        self.assertIn("make_root", first_app)  # the literalinclude of examples/minimal_chat/app.py


class SnippetTests(unittest.TestCase):
    """The code of the guide's pages does what the pages say."""

    def setUp(self) -> None:
        self.clock = Clock()

    def test_events(self) -> None:
        """guide/events: acks from values, tuples and coroutines; asking the
        client; the catch-all handler; the welcome after CONNECT."""
        sio = load_snippet("events").make_server(reactor=self.clock)
        client = TestClient(sio)
        self.assertEqual(client.pop_received(), [("welcome", [client.sids["/"]])])
        self.assertEqual(self.successResultOf(client.emit_with_ack("echo", 1, "2", {"3": [True]})),
                         [1, "2", {"3": [True]}])
        d = client.emit_with_ack("stock", "apples")
        self.assertNoResult(d)
        self.clock.advance(0.5)
        self.assertEqual(self.successResultOf(d), [3])
        client.on("question", lambda n: n + 1)
        client.emit("ask-client")
        self.assertEqual(client.pop_received(), [("question", [42]), ("you-said", [43])])
        self.assertEqual(self.successResultOf(client.emit_with_ack("other", 1)), ["nobody handles 'other'"])

    def test_events_ack_timeout_is_quiet(self) -> None:
        """guide/events: a client that never answers makes the Deferred fail
        with AckTimeout after 5 s, which the handler traps."""
        sio = load_snippet("events").make_server(reactor=self.clock)
        client = TestClient(sio)
        client.emit("ask-client")
        self.clock.advance(5)
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual([e for e, _ in client.pop_received()], ["welcome", "question"])

    def test_listeners(self) -> None:
        """guide/events: a per-socket listener answers the ack; a middleware
        that raises drops the event and the error listener hears of it."""
        sio = load_snippet("listeners").make_server(reactor=self.clock)
        client = TestClient(sio)
        self.assertEqual(self.successResultOf(client.emit_with_ack("note", "a")), [1])
        client.emit("note", "x" * 2000)
        self.assertEqual(client.pop_received(), [("refused", ["too long"])])
        self.assertEqual(self.successResultOf(client.emit_with_ack("note", "b")), [2])

    def test_namespaces(self) -> None:
        """guide/namespaces: the class-based namespace refuses without a nick,
        broadcasts to the room, acks; dynamic namespaces by regex and callable."""
        sio = load_snippet("namespaces").make_server(reactor=self.clock)
        nobody = TestClient(sio, namespace="/chat")
        self.assertEqual(nobody.connect_errors["/chat"], {"message": "nick required"})
        alice = TestClient(sio, namespace="/chat", auth={"nick": "alice"})
        bob = TestClient(sio, namespace="/chat", auth={"nick": "bob"})
        ack = alice.emit_with_ack("say", "hi", namespace="/chat")
        self.assertEqual(self.successResultOf(ack), ["delivered"])
        self.assertEqual(bob.pop_received("/chat"), [("said", ["alice", "hi"])])
        self.assertEqual(alice.pop_received("/chat"), [])
        bob.emit("user-typing", namespace="/chat")
        self.assertEqual(alice.pop_received("/chat"), [("typing", ["bob"])])
        bob.close()
        self.assertEqual(alice.pop_received("/chat"), [("left", ["bob"])])

        worker = TestClient(sio, namespace="/workspace-42")
        self.assertEqual(worker.pop_received("/workspace-42"), [("hello", ["/workspace-42"])])
        self.assertIn("/workspace-x", TestClient(sio, namespace="/workspace-x").connect_errors)
        self.assertTrue(TestClient(sio, namespace="/team-red").is_connected("/team-red"))
        self.assertEqual(TestClient(sio, namespace="/other").connect_errors["/other"],
                         {"message": "Invalid namespace"})

    def test_gevent_port(self) -> None:
        """getting-started/coming-from: the ported gevent-socketio namespace
        refuses without a nick, talks to the room, broadcasts a rename to
        everyone, and its 30 s loop stops when the client leaves."""
        sio = load_snippet("gevent_port").make_server(reactor=self.clock)
        self.assertIn("/chat", TestClient(sio, namespace="/chat").connect_errors)
        alice = TestClient(sio, namespace="/chat", auth={"nick": "alice"})
        bob = TestClient(sio, namespace="/chat", auth={"nick": "bob"})
        self.assertEqual(self.successResultOf(alice.emit_with_ack("say", "hi", namespace="/chat")), ["delivered"])
        self.assertEqual(bob.pop_received("/chat"), [("said", ["alice", "hi"])])
        bob.emit("nick", "robert", namespace="/chat")
        self.assertEqual(alice.pop_received("/chat"), [("renamed", ["bob", "robert"])])
        self.assertEqual(bob.pop_received("/chat"), [("renamed", ["bob", "robert"])])
        self.clock.advance(30)
        self.assertEqual(alice.pop_received("/chat"), [("tick", [])])
        self.assertEqual(bob.pop_received("/chat"), [("tick", [])])
        alice.close()
        self.clock.advance(30)
        self.assertEqual(bob.pop_received("/chat"), [("tick", [])])
        bob.close()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_rooms(self) -> None:
        """guide/rooms: room broadcasts without the sender, broadcast,
        except_, acks from a room, fetch_sockets."""
        sio = load_snippet("rooms").make_server(reactor=self.clock)
        a, b, c = TestClient(sio), TestClient(sio), TestClient(sio)
        self.assertEqual(self.successResultOf(a.emit_with_ack("join", "r1")), [sorted([a.sids["/"], "r1"])])
        b.emit("join", "r1")
        self.assertEqual(a.pop_received(), [("joined", [b.sids["/"]])])
        c.emit("join", "muted")
        c.emit("join", "r1")
        a.pop_received()
        b.pop_received()
        c.emit("announce", "r1", "news")
        self.assertEqual(a.pop_received(), [("announcement", ["news"])])
        self.assertEqual(b.pop_received(), [("announcement", ["news"])])
        self.assertEqual(c.pop_received(), [])
        a.emit("shout", "hey")
        self.assertEqual((a.pop_received(), b.pop_received()), ([], [("shouted", ["hey"])]))
        c.pop_received()
        a.on("vote?", lambda: "yes")
        b.on("vote?", lambda: "no")
        c.on("vote?", lambda: "maybe")
        self.assertEqual(self.successResultOf(a.emit_with_ack("poll", "r1")), [["maybe", "no", "yes"]])
        who = self.successResultOf(a.emit_with_ack("who", "r1"))
        self.assertEqual(who, [sorted(x.sids["/"] for x in (a, b, c))])

    def test_middleware(self) -> None:
        """guide/middleware: the token middleware refuses with data, or lets
        the connect handler see the user it stored."""
        sio = load_snippet("middleware").make_server(reactor=self.clock)
        refused = TestClient(sio, namespace="/admin", auth={"token": "wrong"})
        self.assertEqual(refused.connect_errors["/admin"],
                         {"message": "not authorized", "data": {"content": "Please log in"}})
        alice = TestClient(sio, namespace="/admin", auth={"token": "s3cret"})
        self.assertEqual(alice.pop_received("/admin"), [("hello", ["alice"])])

    def test_binary(self) -> None:
        """guide/binary: bytes in, bytes out, nested in an acknowledgement."""
        sio = load_snippet("binary").make_server(reactor=self.clock)
        client = TestClient(sio)
        result = self.successResultOf(client.emit_with_ack("upload", "a.bin", b"\x00\x01\x02"))
        self.assertEqual(result[0]["size"], 3)
        self.assertEqual(self.successResultOf(client.emit_with_ack("thumbnail", "x"))[0]["png"][:4], b"\x89PNG")

    def test_embedding(self) -> None:
        """guide/embedding: the three roots put a SocketIOResource at
        /socket.io/ (and Klein routes the prefix to it)."""
        from twisted.internet import reactor
        from twisted.web.test.requesthelper import DummyRequest

        from txsocketio import SocketIOResource

        module = load_snippet("embedding")
        sio = SocketIOServer(reactor=self.clock)
        root = module.twisted_web_root(sio)
        self.assertIsInstance(root.children[b"socket.io"], SocketIOResource)
        wsgi_root = module.wsgi_root(sio, reactor, lambda environ, start: [])
        self.assertIsInstance(wsgi_root.getChildWithDefault(b"socket.io", DummyRequest([b"socket.io"])),
                              SocketIOResource)
        try:
            app = module.klein_app(sio)
        except ImportError:
            raise unittest.SkipTest("klein is not installed")
        self.assertEqual({rule.rule for rule in app.url_map.iter_rules()} >= {"/", "/socket.io/"}, True)

    def test_threads(self) -> None:
        """guide/threads: announce() from a thread reaches the room and
        counts it, through sio.threadsafe (the reactor is trial's, running)."""
        from twisted.internet import threads

        module = load_snippet("threads")
        sio = SocketIOServer()
        client = TestClient(sio)
        self.addCleanup(client.close)
        room = client.sids["/"]  # every socket is in the room of its own id

        def check(count: int) -> None:
            self.assertEqual(count, 1)
            self.assertEqual(client.pop_received(), [("announcement", ["hello"])])

        return threads.deferToThread(module.announce, sio, room, "hello").addCallback(check)


class SnippetTrialTests(unittest.TestCase):
    """guide/testing shows docs/snippets/test_chat.py: run it as the page says."""

    async def test_guide_test_module_passes(self) -> None:
        """``python -m twisted.trial test_chat`` from docs/snippets/ passes."""
        with tempfile.TemporaryDirectory() as tmp:
            result = await run_process(
                [sys.executable, "-m", "twisted.trial", f"--temp-directory={tmp}/_trial_temp", "test_chat"],
                cwd=SNIPPETS, timeout=60)
        self.assertEqual(result.exit_code, 0, result.describe())
        self.assertRegex(result.stdout.decode(), r"PASSED \(successes=[1-9]")


class CodeBlockTests(unittest.TestCase):
    """What the pages show is at least valid Python, and includes exist."""

    def _python_blocks(self, path: Path) -> list[tuple[int, str]]:
        text = path.read_text()
        blocks = []
        for match in re.finditer(r"^```(?:python|py)\s*\n(.*?)^```", text, re.M | re.S):
            line = text.count("\n", 0, match.start()) + 2
            blocks.append((line, textwrap.dedent(match.group(1))))
        return blocks

    def test_python_blocks_compile(self) -> None:
        """Every ```python block of docs/**/*.md and README.md is valid Python
        (top-level ``await``/``yield`` allowed, as in a coroutine)."""
        pages = sorted(DOCS.rglob("*.md")) + [PROJECT_ROOT / "README.md"]
        checked = 0
        for page in pages:
            if "_build" in page.parts:
                continue
            for line, code in self._python_blocks(page):
                try:
                    ast.parse(code)
                except SyntaxError:
                    wrapped = "async def _():\n" + textwrap.indent(code, "    ") + "\n    yield\n"
                    try:
                        ast.parse(wrapped)
                    except SyntaxError as e:
                        self.fail(f"{page.relative_to(PROJECT_ROOT)}:{line}: {e}")
                checked += 1
        self.assertGreater(checked, 10)

    def test_literalincludes_exist(self) -> None:
        """Every literalinclude names an existing file."""
        seen = 0
        for page in DOCS.rglob("*.md"):
            for target in re.findall(r"^```\{literalinclude\}\s+(\S+)", page.read_text(), re.M):
                self.assertTrue((page.parent / target).resolve().is_file(), f"{page}: {target} is missing")
                seen += 1
        self.assertGreater(seen, 5)

    def test_readme_has_no_link_outside_the_repository(self) -> None:
        """README.md (the package's long description on PyPI) links only to
        web addresses and files inside the repository."""
        readme = (PROJECT_ROOT / "README.md").read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", readme):
            if re.match(r"[a-z]+://", target) or target.startswith("#"):
                continue
            resolved = (PROJECT_ROOT / target.split("#")[0]).resolve()
            self.assertTrue(resolved.is_relative_to(PROJECT_ROOT), f"README links outside: {target}")
            self.assertTrue(resolved.exists(), f"README links to a missing file: {target}")


class PagesFollowTheCodeTests(unittest.TestCase):
    """Pages that list what the code does are checked against it."""

    def test_http_errors_page_names_every_engineio_error(self) -> None:
        """troubleshooting/http-errors shows the JSON body of every error
        code the Engine.IO glue defines (``NAME = (code, "message")``)."""
        page = (DOCS / "troubleshooting" / "http-errors.md").read_text()
        found = set()
        for module in (PROJECT_ROOT / "txsocketio" / "engineio").rglob("*.py"):
            for code, message in re.findall(r'^[A-Z_]+ = \((\d+), "([^"]+)"\)', module.read_text(), re.M):
                found.add((int(code), message))
        self.assertGreaterEqual(len(found), 5)
        for code, message in sorted(found):
            self.assertIn(f'{{"code":{code},"message":"{message}"}}', page)

    def test_compatibility_page_names_existing_tests(self) -> None:
        """Every `test_x.py` · `SomeTests` of reference/compatibility exists
        (in tests/ or tests/interop/) and defines those classes."""
        page = (DOCS / "reference" / "compatibility.md").read_text()
        rows = re.findall(r"`(test_\w+\.py)` · ((?:`\w+`(?:, )?)+)", page)
        self.assertGreater(len(rows), 8)
        for filename, classes in rows:
            paths = [p for p in (PROJECT_ROOT / "tests" / filename, PROJECT_ROOT / "tests" / "interop" / filename)
                     if p.is_file()]
            self.assertTrue(paths, f"{filename} is in neither tests/ nor tests/interop/")
            source = paths[0].read_text()
            for name in re.findall(r"`(\w+)`", classes):
                self.assertTrue(re.search(rf"^class {name}\b", source, re.M), f"{filename} has no class {name}")


def _certificate_chain(directory: Path) -> None:
    """A root CA, an intermediate CA and a leaf for 127.0.0.1, as PEM files:
    root.pem, chain.pem (the intermediate), cert.pem and key.pem (the leaf)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)

    def make(name, issuer_name, issuer_key, ca, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name or name)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(issuer_key or key, hashes.SHA256())
        return key, cert

    root_key, root = make("test root", None, None, True)
    mid_key, mid = make("test intermediate", "test root", root_key, True)
    leaf_key, leaf = make("127.0.0.1", "test intermediate", mid_key, False,
                          [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    pem = serialization.Encoding.PEM
    (directory / "root.pem").write_bytes(root.public_bytes(pem))
    (directory / "chain.pem").write_bytes(mid.public_bytes(pem))
    (directory / "cert.pem").write_bytes(leaf.public_bytes(pem))
    (directory / "key.pem").write_bytes(leaf_key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))


class TLSPageTests(unittest.TestCase):
    """operations/tls: the ``--listen ssl:...`` line it shows works."""

    timeout = 120

    async def test_ssl_listen_serves_the_chain(self) -> None:
        """``twistd txsocketio --listen ssl:P:privateKey=…:certKey=…:extraCertChain=…``
        serves the Engine.IO handshake over TLS, with the intermediate
        certificate: a client that trusts only the root verifies it."""
        import ssl
        import urllib.request

        from twisted.internet import threads

        from tests.support import LOCALHOST, ServerProcess, free_port

        page = (DOCS / "operations" / "tls.md").read_text()
        self.assertIn("--listen ssl:8443:privateKey=/etc/chat/key.pem:certKey=/etc/chat/cert.pem:"
                      "extraCertChain=/etc/chat/chain.pem", page)
        tmp = Path(tempfile.mkdtemp(prefix="txsocketio-tls-"))
        self.addCleanup(shutil.rmtree, tmp, True)
        _certificate_chain(tmp)
        port = free_port()
        listen = (f"ssl:{port}:privateKey={tmp}/key.pem:certKey={tmp}/cert.pem:"
                  f"extraCertChain={tmp}/chain.pem:interface={LOCALHOST}")
        server = ServerProcess([str(Path(sys.executable).parent / "twistd"), "-n", "--pidfile=",
                                "txsocketio", "--listen", listen], port, cwd=tmp)
        self.addCleanup(server.stop, 15)
        await server.start()

        def handshake() -> bytes:
            context = ssl.create_default_context(cafile=str(tmp / "root.pem"))
            url = f"https://{LOCALHOST}:{port}/socket.io/?EIO=4&transport=polling"
            with urllib.request.urlopen(url, context=context, timeout=10) as response:
                return response.read()

        body = await threads.deferToThread(handshake)
        self.assertTrue(body.startswith(b"0{"), body)

        def websocket() -> bytes:
            """A WebSocket upgrade over TLS (the direct path hands it to
            Autobahn below the TLS layer): the 101, then the OPEN packet."""
            import socket as sockets

            context = ssl.create_default_context(cafile=str(tmp / "root.pem"))
            with sockets.create_connection((LOCALHOST, port), timeout=10) as raw, \
                    context.wrap_socket(raw, server_hostname=LOCALHOST) as tls:
                tls.sendall(f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {LOCALHOST}:{port}\r\n"
                            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                            .encode())
                data = b""
                while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < 4:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                # A Socket.IO CONNECT (a masked text frame "40"); its answer follows the OPEN.
                tls.sendall(b"\x81\x82\x00\x00\x00\x00" + b"40")
                while b"40{" not in data:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return data

        reply = await threads.deferToThread(websocket)
        head, _, frames = reply.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), reply)
        self.assertEqual(frames[0], 0x81)  # a text frame: the OPEN packet
        self.assertEqual(frames[2:4], b"0{")
        self.assertIn(b"40{\"sid\":", frames)


class NginxPageTests(unittest.TestCase):
    """operations/nginx: the one-process configuration it shows, in front of
    ``twistd txsocketio --cors-origin https://chat.example.com`` as the page
    says, serves long-polling and the WebSocket upgrade over TLS."""

    timeout = 120

    async def test_one_process_configuration(self) -> None:
        """The page's nginx block (ports, certificate paths and the backend
        address swapped for test ones) answers the handshake, a POST from the
        page's origin, the WebSocket upgrade (101) and the http redirect;
        another origin is refused."""
        import http.client
        import os
        import pwd
        import ssl

        from twisted.internet import threads

        from tests.support import LOCALHOST, ServerProcess, free_port, require_tool

        nginx = require_tool("nginx") if shutil.which("nginx") else require_tool("/usr/sbin/nginx")
        page = (DOCS / "operations" / "nginx.md").read_text()
        block = re.search(r"^```nginx\n(.*?)^```", page, re.M | re.S).group(1)
        prefix = Path(tempfile.mkdtemp(prefix="txsocketio-nginx-page-"))
        self.addCleanup(shutil.rmtree, prefix, True)
        _certificate_chain(prefix)
        (prefix / "fullchain.pem").write_bytes((prefix / "cert.pem").read_bytes()
                                               + (prefix / "chain.pem").read_bytes())
        backend, tls_port, plain_port = free_port(), free_port(), free_port()
        replacements = {
            "listen 443 ssl;": f"listen {LOCALHOST}:{tls_port} ssl;",
            "listen 80;": f"listen {LOCALHOST}:{plain_port};",
            "/etc/letsencrypt/live/chat.example.com/fullchain.pem": str(prefix / "fullchain.pem"),
            "/etc/letsencrypt/live/chat.example.com/privkey.pem": str(prefix / "key.pem"),
            "server 127.0.0.1:8080;": f"server {LOCALHOST}:{backend};",
        }
        for old, new in replacements.items():
            self.assertIn(old, block)
            block = block.replace(old, new)
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / "tmp" / name).mkdir(parents=True)
        temp = "\n".join(f"    {name}_temp_path {prefix}/tmp/{name};"
                          for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (prefix / "nginx.conf").write_text(
            f"daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
            f"events {{ worker_connections 64; }}\nhttp {{\n    access_log {prefix}/access.log;\n{temp}\n"
            + textwrap.indent(block, "    ") + "}\n")
        argv = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
        if os.getuid() == 0:  # nothing needs root: run nginx as nobody (setpriv keeps the pid)
            nobody = pwd.getpwnam("nobody")
            for path in [prefix, *prefix.rglob("*")]:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            argv = [require_tool("setpriv"), f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                    "--clear-groups", *argv]

        server = ServerProcess([str(Path(sys.executable).parent / "twistd"), "-n", "--pidfile=", "txsocketio",
                                "--listen", f"tcp:{backend}:interface={LOCALHOST}",
                                "--cors-origin", "https://chat.example.com"], backend, cwd=prefix)
        self.addCleanup(server.stop, 15)
        await server.start()
        proxy = ServerProcess(argv, tls_port, name="nginx")
        self.addCleanup(proxy.stop)
        await proxy.start()

        def requests() -> dict[str, Any]:
            context = ssl.create_default_context(cafile=str(prefix / "root.pem"))
            out: dict[str, Any] = {}

            def call(method: str, path: str, origin: str, body: bytes | None = None,
                     headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
                conn = http.client.HTTPSConnection(LOCALHOST, tls_port, context=context, timeout=10)
                try:
                    conn.request(method, path, body=body, headers={
                        "Host": "chat.example.com", "Origin": origin, **(headers or {})})
                    response = conn.getresponse()
                    data = response.read() if response.status != 101 else b""
                    return response.status, data, response.headers
                finally:
                    conn.close()

            origin = "https://chat.example.com"
            status, body, _ = call("GET", "/socket.io/?EIO=4&transport=polling", origin)
            out["handshake"] = (status, body[:2])
            sid = json.loads(body[1:])["sid"]
            out["post"] = call("POST", f"/socket.io/?EIO=4&transport=polling&sid={sid}", origin, b"40",
                               {"Content-Type": "text/plain;charset=UTF-8"})[:2]
            status, _, headers = call("GET", "/socket.io/?EIO=4&transport=websocket", origin, None, {
                "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
            out["websocket"] = (status, (headers.get("Upgrade") or "").lower())
            out["other origin"] = call("GET", "/socket.io/?EIO=4&transport=polling", "https://evil.example")[0]
            plain = http.client.HTTPConnection(LOCALHOST, plain_port, timeout=10)
            plain.request("GET", "/", headers={"Host": "chat.example.com"})
            response = plain.getresponse()
            out["redirect"] = (response.status, response.headers.get("Location"))
            plain.close()
            return out

        out = await threads.deferToThread(requests)
        self.assertEqual(out["handshake"], (200, b"0{"), out)
        self.assertEqual(out["post"], (200, b"ok"), out)
        self.assertEqual(out["websocket"], (101, "websocket"), out)
        self.assertEqual(out["other origin"], 403, out)
        self.assertEqual(out["redirect"], (301, "https://chat.example.com/"), out)


class ChangelogTests(unittest.TestCase):
    """The changelog's news fragments render."""

    async def test_towncrier_draft(self) -> None:
        """``towncrier build --draft`` (towncrier.toml) renders the pending
        fragments without touching CHANGELOG.md."""
        _require_module("towncrier")
        before = (PROJECT_ROOT / "CHANGELOG.md").read_text()
        result = await run_process([sys.executable, "-m", "towncrier", "build", "--draft"], timeout=60)
        self.assertEqual(result.exit_code, 0, result.describe())
        self.assertEqual((PROJECT_ROOT / "CHANGELOG.md").read_text(), before)
        fragments = [p for p in (PROJECT_ROOT / "newsfragments").iterdir()
                     if p.name not in (".gitignore", "README.md")]
        out = result.stdout.decode()
        for fragment in fragments:  # each one's text is in the draft
            words = " ".join(fragment.read_text().split()[:6])
            self.assertIn(words, " ".join(out.split()), f"{fragment.name} is not in the draft")

