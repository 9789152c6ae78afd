"""The ``/room`` namespace: Django's logged-in users, by room.

A browser that has logged in to Django sends its ``sessionid`` cookie with the
Socket.IO handshake (same origin), so the connect handler can look up the
user: Django's own ``get_user()`` on a request-like object holding the
session (it checks the session's expiry, the user's ``is_active`` and the
password hash, as Django's middleware does).  That is ORM work, which blocks:
it runs in the reactor's threadpool with ``deferToThread`` while the reactor
goes on serving everybody else.

Client → server (namespace ``/room``):

* connect with ``auth = {"room": <name>}`` (default ``lobby``); refused with
  ``"login required"`` without a valid session.
* ``say(text)`` → ``{"ok": true}`` (or ``{"ok": false, "error": ...}``);
  everybody in the room, the sender too, gets ``message``.

Server → client: ``welcome {"username", "room"}`` once connected;
``message {"username", "room", "text"}``; ``joined`` / ``left {"username",
"room"}`` to the others; ``announcement {"room", "text", "from"}`` (POST
/announce/, :func:`chat.views.announce`).
"""

from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user
from django.db import close_old_connections
from twisted.internet.threads import deferToThread

from txsocketio import ConnectionRefused, Namespace

from chat.rooms import clean_room, clean_text

NAMESPACE = "/room"


def username_for_session(session_key: str | None) -> str | None:
    """The username of the user logged in with ``session_key``, or None.

    Blocking (database): call it in a thread.
    """
    if not session_key:
        return None
    # Outside Django's request cycle, so do what its request_started and
    # request_finished signals do for views: drop stale connections.
    close_old_connections()
    try:
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        user = get_user(SimpleNamespace(session=store))
        return user.get_username() if user.is_authenticated else None
    finally:
        close_old_connections()


class RoomNamespace(Namespace):
    async def on_connect(self, auth):
        try:
            room = clean_room((auth or {}).get("room"))
        except ValueError as e:
            raise ConnectionRefused(str(e))
        session_key = self.request.cookies.get(settings.SESSION_COOKIE_NAME)
        username = await deferToThread(username_for_session, session_key)
        if username is None:
            raise ConnectionRefused("login required")
        self.socket.data["username"] = username
        self.socket.data["room"] = room
        self.join(room)
        self.emit("welcome", {"username": username, "room": room})
        self.to(room).emit("joined", {"username": username, "room": room})

    def on_say(self, text):
        try:
            text = clean_text(text)
        except ValueError as e:
            return {"ok": False, "error": str(e)}
        data = self.socket.data
        # Everybody in the room, the sender included.
        self.socket.nsp.to(data["room"]).emit(
            "message", {"username": data["username"], "room": data["room"], "text": text})
        return {"ok": True}

    def on_disconnect(self, reason):
        data = self.socket.data
        if "room" in data:
            self.socket.nsp.to(data["room"]).emit(
                "left", {"username": data["username"], "room": data["room"]})
