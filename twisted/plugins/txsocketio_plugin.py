"""The ``twistd txsocketio`` plugin (imports txsocketio only when used)."""

from twisted.application.service import ServiceMaker

txsocketio = ServiceMaker(
    "txsocketio",
    "txsocketio.tap",
    "A Socket.IO server (the chat demo unless --app is given)",
    "txsocketio",
)
