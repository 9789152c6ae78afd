#!/usr/bin/env bash
# Run the shared Socket.IO benchmark harness with its three anchors plus txsocketio, in one run.
# txsocketio is started the way users start it: `twistd -n txsocketio --app bench_app:make_server`
# with the product's defaults (only the app, examples/bench_app.py, is ours).
# Needs the harness installed first:  ../shared/bench/setup.sh  (into $BENCH_HOME, default ~/.cache/sio-bench)
# Extra arguments go to run.py, e.g.:  bench/run.sh --reps 1 --scenarios echo,broadcast
# By default it measures what a pip user gets: the wheel built from this checkout, installed in a
# fresh venv ($BENCH_HOME/txsocketio-venv, rebuilt each run) with nothing else in it.
# TXSIO_VENV=/path/to/venv measures the txsocketio installed there instead (e.g. the checkout's .venv).
# Prints the path of the markdown report ($BENCH_HOME/results/<date>.md).
set -euo pipefail
project="$(cd "$(dirname "$0")/.." && pwd)"
bench="${BENCH_HOME:-$HOME/.cache/sio-bench}"
[ -x "$bench/run.py" ] && [ -x "$bench/.venv/bin/python" ] && [ -d "$bench/node_modules" ] || {
  echo "harness not installed in $bench: run shared/bench/setup.sh first" >&2; exit 2; }
if [ -n "${TXSIO_VENV:-}" ]; then
  venv="$TXSIO_VENV"
else
  venv="$bench/txsocketio-venv"
  wheels="$(mktemp -d)"
  trap 'rm -rf "$wheels"' EXIT
  echo "building the wheel and installing it in $venv" >&2
  python3 -m pip wheel --quiet --no-deps -w "$wheels" "$project" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "$wheels"/txsocketio-*.whl >&2
fi
[ -x "$venv/bin/twistd" ] || { echo "no twistd in $venv (set TXSIO_VENV)" >&2; exit 2; }
cd "$bench"
./run.py \
  --server "pysio-aiohttp=$bench/.venv/bin/python servers/pysio_aiohttp.py --port {port}" \
  --server "pysio-uvicorn=$bench/.venv/bin/python servers/pysio_asgi_uvicorn.py --port {port}" \
  --server "node-socket.io=node servers/node_sio.js --port {port}" \
  --server "txsocketio=cd $project/examples && exec $venv/bin/twistd -n --pidfile= txsocketio --app bench_app:make_server --listen tcp:{port}:interface=127.0.0.1" \
  --python "$venv/bin/python" \
  "$@"
