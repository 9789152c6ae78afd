# -*- test-case-name: tests.test_admin_protocol -*-
"""The Socket.IO Admin UI for txsocketio (``@socket.io/admin-ui`` 0.5).

* :mod:`txsocketio.admin.protocol`: the admin namespace's events and payloads
  (pure: no Twisted, time passed in);
* :mod:`txsocketio.admin.auth`: basic authentication with bcrypt hashes, as the
  UI's login form expects (needs ``pip install txsocketio[admin]``);
* :mod:`txsocketio.admin.ui`: a ``twisted.web`` resource serving the UI itself
  from the copy shipped in ``txsocketio/admin_ui/``.

The spec the server wiring follows is ``docs/development/admin-protocol.md``.
"""
