"""The Socket.IO server of the django_chat example: ``sio``.

``twistd txsocketio --app django_chat.sio:sio`` imports this module before
anything else of Django, so it sets ``DJANGO_SETTINGS_MODULE`` and runs
``django.setup()`` itself; the namespaces may then use the ORM (in threads,
see :mod:`chat.sockets`).  Django views import ``sio`` from here to emit to
the running server (see :func:`chat.views.announce`).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_chat.settings")

import django  # noqa: E402

django.setup()

from txsocketio import SocketIOServer  # noqa: E402

from chat.sockets import RoomNamespace  # noqa: E402

#: Same-origin browsers only (the default); the page is served on the same port.
sio = SocketIOServer()
sio.register("/room", RoomNamespace)
