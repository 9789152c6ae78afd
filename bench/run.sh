#!/usr/bin/env bash
# Run the shared Socket.IO benchmark harness with its three anchors plus txsocketio, in one run.
# txsocketio is started the way users start it: `twistd -n txsocketio --app bench_app:make_server`
# with the product's defaults (only the app, examples/bench_app.py, is ours).
# Needs the harness installed first:  ../shared/bench/setup.sh  (into $BENCH_HOME, default ~/.cache/sio-bench)
# Extra arguments go to run.py, e.g.:  bench/run.sh --reps 1 --scenarios echo,broadcast
# TXSIO_VENV=/path/to/venv measures the txsocketio installed there (default: this checkout's .venv).
# Prints the path of the markdown report ($BENCH_HOME/results/<date>.md).
set -euo pipefail
project="$(cd "$(dirname "$0")/.." && pwd)"
bench="${BENCH_HOME:-$HOME/.cache/sio-bench}"
venv="${TXSIO_VENV:-$project/.venv}"
[ -x "$bench/run.py" ] && [ -x "$bench/.venv/bin/python" ] && [ -d "$bench/node_modules" ] || {
  echo "harness not installed in $bench: run shared/bench/setup.sh first" >&2; exit 2; }
[ -x "$venv/bin/twistd" ] || { echo "no twistd in $venv (set TXSIO_VENV)" >&2; exit 2; }
cd "$bench"
exec ./run.py \
  --server "pysio-aiohttp=$bench/.venv/bin/python servers/pysio_aiohttp.py --port {port}" \
  --server "pysio-uvicorn=$bench/.venv/bin/python servers/pysio_asgi_uvicorn.py --port {port}" \
  --server "node-socket.io=node servers/node_sio.js --port {port}" \
  --server "txsocketio=cd $project/examples && exec $venv/bin/twistd -n --pidfile= txsocketio --app bench_app:make_server --listen tcp:{port}:interface=127.0.0.1" \
  --python "$venv/bin/python" \
  "$@"
