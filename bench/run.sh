#!/usr/bin/env bash
# Run the shared Socket.IO benchmark harness with its three anchors plus txsocketio, in one run.
# Needs the harness installed first:  ../shared/bench/setup.sh  (into $BENCH_HOME, default ~/.cache/sio-bench)
# Extra arguments go to run.py, e.g.:  bench/run.sh --reps 1 --scenarios echo,broadcast
# Prints the path of the markdown report ($BENCH_HOME/results/<date>.md).
set -euo pipefail
project="$(cd "$(dirname "$0")/.." && pwd)"
bench="${BENCH_HOME:-$HOME/.cache/sio-bench}"
py="${TXSIO_PYTHON:-$project/.venv/bin/python}"
[ -x "$bench/run.py" ] && [ -x "$bench/.venv/bin/python" ] && [ -d "$bench/node_modules" ] || {
  echo "harness not installed in $bench: run shared/bench/setup.sh first" >&2; exit 2; }
[ -x "$py" ] || { echo "no Python at $py (set TXSIO_PYTHON)" >&2; exit 2; }
cd "$bench"
exec ./run.py \
  --server "pysio-aiohttp=$bench/.venv/bin/python servers/pysio_aiohttp.py --port {port}" \
  --server "pysio-uvicorn=$bench/.venv/bin/python servers/pysio_asgi_uvicorn.py --port {port}" \
  --server "node-socket.io=node servers/node_sio.js --port {port}" \
  --server "txsocketio=$py $project/examples/bench_app.py --port {port}" \
  --python "$py" \
  "$@"
