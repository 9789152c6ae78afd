#!/usr/bin/env bash
# Set up txsocketio and run the chat demo (in memory, nothing else to start):
#
#   bash scripts/demo.sh                 # http://127.0.0.1:8080/
#   bash scripts/demo.sh --listen tcp:9000:interface=127.0.0.1
#
# Any argument is passed to `twistd txsocketio` (see `twistd txsocketio --help`).
# Setup is idempotent: a .venv with txsocketio installed (editable, compat mode
# so twistd finds the plugin), and `npm ci` at the root for the official browser
# client bundle, which the server serves at /socket.io/socket.io.min.js.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup-lib.sh

ensure_system_packages node npm
ensure_venv ""
ensure_root_node_packages
exec "$VENV/bin/twistd" -n --pidfile= txsocketio "$@"
