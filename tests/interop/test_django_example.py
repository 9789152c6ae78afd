"""examples/django_chat end to end: Django and Socket.IO on one port with twistd.

The example is started as its README says (``twistd -n --pidfile= txsocketio
--app django_chat.sio:sio --wsgi django_chat.wsgi:application --listen ...``,
from the example's folder) on a throw-away SQLite database (``DJANGO_CHAT_DB``)
and a free port.  A user logs in over HTTP (treq, with the login form's CSRF
token); python-socketio's client then connects to ``/room`` with that
``sessionid`` cookie, and a Django view (POST /announce/) emits to its room
through the running server.

Missing Django, python-socketio or treq skip these tests, except under
``CI=true`` where that is a failure.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from tests import support

EXAMPLE_DIR = support.PROJECT_ROOT / "examples" / "django_chat"
NAMESPACE = "/room"
USERNAME = "alice"
PASSWORD = "correct-horse-battery-staple"

try:
    import django
except ImportError:  # pragma: no cover
    django = None
try:
    import socketio
except ImportError:  # pragma: no cover
    socketio = None
try:
    import treq
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool
except ImportError:  # pragma: no cover
    treq = None


def twistd_argv() -> list[str]:
    """The twistd of the Python running the tests (its venv's script, if any)."""
    script = Path(sys.executable).with_name("twistd")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


def cookie(jar: CookieJar, name: str) -> str | None:
    for c in jar:
        if c.name == name:
            return c.value
    return None


class RoomClient:
    """python-socketio's (thread-based) client on ``/room``, driven from trial.

    The blocking calls run in the reactor's threadpool; events are recorded
    (from the client's threads) in :attr:`events` and polled from the reactor.
    """

    EVENTS = ("welcome", "joined", "left", "message", "announcement", "connect_error")

    def __init__(self, url: str, *, session: str | None = None, room: str | None = None,
                 transports: list[str] | None = None) -> None:
        self.url = url
        self.headers = {"Cookie": f"sessionid={session}"} if session else {}
        self.auth = {"room": room} if room else None
        self.transports = transports
        self.events: list[tuple[str, Any]] = []
        self.client = socketio.Client(reconnection=False)
        for name in self.EVENTS:
            self.client.on(name, functools.partial(self._record, name), namespace=NAMESPACE)

    def _record(self, name: str, *args: Any) -> None:
        self.events.append((name, args[0] if len(args) == 1 else list(args)))

    def connect(self):
        return deferToThread(self.client.connect, self.url, headers=self.headers, auth=self.auth,
                             transports=self.transports, namespaces=[NAMESPACE], wait_timeout=10)

    def disconnect(self):
        return deferToThread(self.client.disconnect)

    def call(self, event: str, *args: Any):
        return deferToThread(self.client.call, event, args[0] if len(args) == 1 else args,
                             namespace=NAMESPACE, timeout=10)

    def received(self, name: str) -> list[Any]:
        return [data for event, data in list(self.events) if event == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 10.0):
        return support.poll_until(
            lambda: self.received(name) if len(self.received(name)) >= count else None, timeout,
            message=lambda: f"{count} {name!r} event(s) not received; got {self.events}")


class DjangoExampleTests(unittest.TestCase):
    def setUp(self) -> None:
        for module, name in ((django, "django"), (socketio, "python-socketio[client]"), (treq, "treq")):
            if module is None:
                support.missing(f"the Python package {name} (pip install '.[test]')")
        self.tmp = Path(self.mktemp()).resolve()
        self.tmp.mkdir(parents=True)
        self.env = {
            "DJANGO_CHAT_DB": str(self.tmp / "db.sqlite3"),
            "DJANGO_SETTINGS_MODULE": "django_chat.settings",
            "DJANGO_SUPERUSER_USERNAME": USERNAME,
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            "DJANGO_SUPERUSER_EMAIL": f"{USERNAME}@example.com",
        }
        self.port = support.free_port()
        self.base = f"http://{support.LOCALHOST}:{self.port}"

    def http_client(self, jar: CookieJar | None = None) -> "HTTPClient":
        pool = HTTPConnectionPool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        return HTTPClient(Agent(reactor, pool=pool), cookiejar=jar if jar is not None else CookieJar())

    async def manage(self, *args: str) -> None:
        result = await support.run_process([sys.executable, "manage.py", *args], env=self.env,
                                           cwd=EXAMPLE_DIR, timeout=60)
        self.assertEqual(result.exit_code, 0, f"manage.py {' '.join(args)}: {result.describe()}")

    async def start_server(self) -> support.ServerProcess:
        server = support.ServerProcess(
            [*twistd_argv(), "-n", "--pidfile=", "txsocketio",
             "--app", "django_chat.sio:sio", "--wsgi", "django_chat.wsgi:application",
             "--listen", f"tcp:{self.port}:interface={support.LOCALHOST}"],
            self.port, env=self.env, cwd=EXAMPLE_DIR, name="twistd django_chat", startup_timeout=30)
        self.addCleanup(server.stop)
        await server.start()
        return server

    def room_client(self, **kwargs: Any) -> RoomClient:
        client = RoomClient(self.base, **kwargs)
        self.addCleanup(client.disconnect)
        return client

    async def login(self, http: "HTTPClient", jar: CookieJar) -> str:
        """Log in with the login form (``http`` keeps its cookies in ``jar``); the session key."""
        response = await http.get(self.base + "/accounts/login/")
        self.assertEqual(response.code, 200)
        page = await response.text()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        self.assertIsNotNone(token, page)
        response = await http.post(
            self.base + "/accounts/login/", allow_redirects=False,
            data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)})
        body = await response.text()
        self.assertEqual(response.code, 302, body)
        self.assertEqual(response.headers.getRawHeaders("location"), ["/"])
        session = cookie(jar, "sessionid")
        self.assertTrue(session, "no sessionid cookie after logging in")
        return session

    async def test_login_socketio_and_announce(self) -> None:
        await self.manage("migrate", "--noinput")
        await self.manage("createsuperuser", "--noinput")
        server = await self.start_server()

        # Django answers on the Socket.IO server's port.
        anonymous = self.http_client()
        response = await anonymous.get(self.base + "/", allow_redirects=False)
        self.assertEqual(response.code, 302)
        self.assertEqual(response.headers.getRawHeaders("location"), ["/accounts/login/?next=/"])
        response = await anonymous.get(self.base + "/admin/login/")
        self.assertEqual(response.code, 200)
        self.assertIn("Django administration", await response.text())
        response = await anonymous.get(self.base + "/static/admin/css/base.css")
        self.assertEqual(response.code, 200)

        jar = CookieJar()
        http = self.http_client(jar)
        session = await self.login(http, jar)
        response = await http.get(self.base + "/")
        page = await response.text()
        self.assertEqual(response.code, 200, page)
        self.assertIn('<script src="/socket.io/socket.io.min.js"></script>', page)
        self.assertIn(f"<b>{USERNAME}</b>", page)

        # Logged in: welcome with the username (polling, then the upgrade).
        lobby = self.room_client(session=session)
        await lobby.connect()
        [welcome] = await lobby.wait_for("welcome")
        self.assertEqual(welcome, {"username": USERNAME, "room": "lobby"})
        # Another room, WebSocket only: the cookie comes with the upgrade request.
        other = self.room_client(session=session, room="other", transports=["websocket"])
        await other.connect()
        [welcome] = await other.wait_for("welcome")
        self.assertEqual(welcome, {"username": USERNAME, "room": "other"})

        # Anonymous, or with a session that does not exist: refused.
        for session_key in (None, "no-such-session-0123456789abcdef"):
            stranger = self.room_client(session=session_key)
            with self.assertRaises(socketio.exceptions.ConnectionError):
                await stranger.connect()
            self.assertEqual(stranger.received("connect_error"), [{"message": "login required"}])
            self.assertEqual(stranger.received("welcome"), [])

        # An event of the namespace: everybody in the room, the sender too.
        reply = await lobby.call("say", "hello, lobby")
        self.assertEqual(reply, {"ok": True})
        [message] = await lobby.wait_for("message")
        self.assertEqual(message, {"username": USERNAME, "room": "lobby", "text": "hello, lobby"})

        # A Django view emits to a room through the running server.
        csrf = cookie(jar, "csrftoken")
        self.assertTrue(csrf, "no csrftoken cookie")
        response = await http.post(self.base + "/announce/", data={"room": "lobby", "text": "tea time"},
                                   headers={"X-CSRFToken": csrf})
        body = await response.json()
        self.assertEqual(response.code, 200, body)
        announcement = {"room": "lobby", "text": "tea time", "from": USERNAME}
        self.assertEqual(body, {"ok": True, "announcement": announcement, "recipients": 1})
        self.assertEqual(await lobby.wait_for("announcement"), [announcement])

        # Only that room: "other" gets its own announcement, and nothing before it
        # (each connection's events arrive in the order they were emitted).
        response = await http.post(self.base + "/announce/", data={"room": "other", "text": "hi other"},
                                   headers={"X-CSRFToken": csrf})
        self.assertEqual(response.code, 200, await response.text())
        self.assertEqual(await other.wait_for("announcement"),
                         [{"room": "other", "text": "hi other", "from": USERNAME}])
        self.assertEqual(lobby.received("announcement"), [announcement])

        # The view's refusals: bad input, no CSRF token, not logged in, GET.
        response = await http.post(self.base + "/announce/", data={"room": "Bad Room!", "text": "x"},
                                   headers={"X-CSRFToken": csrf})
        self.assertEqual(response.code, 400)
        self.assertEqual((await response.json())["ok"], False)
        response = await http.post(self.base + "/announce/", data={"room": "lobby", "text": "forged"})
        self.assertEqual(response.code, 403, "POST /announce/ without the CSRF token was accepted")
        await response.content()
        response = await anonymous.post(self.base + "/announce/", data={"room": "lobby", "text": "anon"})
        self.assertEqual(response.code, 403)
        await response.content()
        response = await http.get(self.base + "/announce/")
        self.assertEqual(response.code, 405)
        await response.content()
        self.assertEqual(lobby.received("announcement"), [announcement])

        # Logging out ends the session: it no longer opens /room.
        response = await http.post(self.base + "/accounts/logout/", allow_redirects=False,
                                   headers={"X-CSRFToken": csrf})
        self.assertEqual(response.code, 302, await response.text())
        late = self.room_client(session=session)
        with self.assertRaises(socketio.exceptions.ConnectionError):
            await late.connect()
        self.assertEqual(late.received("connect_error"), [{"message": "login required"}])

        await lobby.disconnect()
        await other.disconnect()
        self.assertTrue(server.running, server.describe())
        self.assertNotIn("Traceback", server.stdout_text + server.stderr_text, server.describe())

    async def test_browser_client_and_static_files(self) -> None:
        """What the chat page loads: the socket.io bundle (from the repository's
        node_modules, `npm ci`) and the app's static files; no database needed."""
        bundle = support.PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
        if not bundle.is_file():
            support.missing(f"{bundle} (run `npm ci` at the repository root)")
        await self.start_server()
        http = self.http_client()
        response = await http.get(self.base + "/socket.io/socket.io.min.js")
        body = await response.content()
        self.assertEqual(response.code, 200, body[:300])
        if not os.environ.get("TXSOCKETIO_CLIENT_DIST"):
            self.assertEqual(body, bundle.read_bytes())
        [content_type] = response.headers.getRawHeaders("content-type")
        self.assertIn("javascript", content_type)
        for path in ("/static/chat/chat.js", "/static/chat/chat.css"):
            response = await http.get(self.base + path)
            body = await response.content()
            self.assertEqual(response.code, 200, path)
            self.assertEqual(body, (EXAMPLE_DIR / "chat" / "static" / path.removeprefix("/static/")).read_bytes())
