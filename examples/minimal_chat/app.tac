# The minimal chat as a twistd application:
#
#     cd examples/minimal_chat && twistd -ny app.tac
#
# -n stays in the foreground, -y reads this file.  MINIMAL_CHAT_LISTEN changes
# where it listens (a strports description, default tcp:8000:interface=127.0.0.1).
import os
import sys

# twistd -y does not put the .tac's folder on sys.path (twistd --app does so
# for the current directory): make `import app` work from anywhere.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from twisted.application import service  # noqa: E402

from app import make_root, make_server  # noqa: E402
from txsocketio import SocketIOService  # noqa: E402

listen = os.environ.get("MINIMAL_CHAT_LISTEN", "tcp:8000:interface=127.0.0.1")
application = service.Application("minimal_chat")
sio = make_server()
SocketIOService(sio, [listen], root=make_root(sio)).setServiceParent(application)
