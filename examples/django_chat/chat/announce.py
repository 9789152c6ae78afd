"""Emitting from Django views to the running Socket.IO server.

Views run in the reactor's threadpool (``twisted.web.wsgi``), and txsocketio,
like all of Twisted, may only be touched from the reactor thread.
``sio.threadsafe`` has the server's broadcasting API and hops into the
reactor thread (``reactor.callFromThread``); what has a result comes back as
a ``concurrent.futures.Future``.
"""

from chat.sockets import NAMESPACE


class ServerNotRunning(RuntimeError):
    """Django runs without the Socket.IO server (e.g. ``manage.py runserver``)."""


def send_announcement(announcement: dict) -> int:
    """Emit ``announcement`` to everybody in ``announcement["room"]`` of
    ``/room``; returns how many clients are in the room.  Call from a thread
    that is not the reactor's (a Django view)."""
    from django_chat.sio import sio

    if not sio.reactor.running:
        raise ServerNotRunning("the Socket.IO server is not running in this process: serve the site with "
                               "`twistd txsocketio --app django_chat.sio:sio --wsgi django_chat.wsgi:application`")
    room = sio.threadsafe.of(NAMESPACE).to(announcement["room"])
    room.emit("announcement", announcement)  # returns at once
    return len(room.fetch_sockets().result(timeout=10))  # waits for the reactor
