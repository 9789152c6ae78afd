"""The application of the Admin UI and metrics interop tests
(tests/interop/test_admin_ui_chromium.py, tests/interop/test_metrics_scrape.py).

    twistd -n txsocketio --app tests.apps.admin_app:make_server ...

``/``: a client that sends ``{"room": NAME}`` as its CONNECT auth joins that
room; ``echo *args`` acknowledges the arguments; ``shout text`` broadcasts
``heard text`` to everyone; ``bye`` makes the server disconnect the socket.
"""

from __future__ import annotations

from typing import Any

from txsocketio import SocketIOServer


def make_server() -> SocketIOServer:
    sio = SocketIOServer()

    @sio.on("connect")
    def connect(socket: Any, auth: Any) -> None:
        room = auth.get("room") if isinstance(auth, dict) else None
        if isinstance(room, str) and room:
            socket.join(room)

    @sio.on("echo")
    def echo(socket: Any, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("shout")
    def shout(socket: Any, text: str) -> None:
        sio.emit("heard", text)

    @sio.on("bye")
    def bye(socket: Any) -> None:
        socket.disconnect()

    return sio
