"""The WSGI application of the django_chat example.

``twistd txsocketio --wsgi django_chat.wsgi:application`` serves it at ``/``
beside the Socket.IO endpoint ``/socket.io/`` (in the reactor's threadpool,
with ``twisted.web.wsgi``).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_chat.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
