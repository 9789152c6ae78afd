#!/usr/bin/env bash
# A txsocketio cluster on one machine: redis-server, N txsocketio processes
# sharing rooms and broadcasts over Redis, and nginx in front with sticky
# sessions.  Open http://127.0.0.1:8080/ in a few browsers (or tabs, with
# ?transport=polling on some of them): every click and message reaches every
# page, whichever process serves it.  ^C stops everything.
#
#   bash examples/cluster/run.sh [N]          # N txsocketio processes (default 3)
#
# Environment: PORT (nginx, 8080), BASE_PORT (first txsocketio port, 8001),
# REDIS_PORT (6390), BALANCE (sticky | round-robin; round-robin only works for
# WebSocket-only clients), PYTHON (the venv's python, else python3).
# Needs redis-server and nginx (Debian: apt-get install -y redis-server nginx);
# nothing is installed system-wide and nothing runs as root: the files nginx
# writes live in a temporary directory, and when started as root nginx itself
# runs as "nobody".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${1:-3}
PORT=${PORT:-8080}
BASE_PORT=${BASE_PORT:-8001}
REDIS_PORT=${REDIS_PORT:-6390}
BALANCE=${BALANCE:-sticky}
PYTHON=${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

for tool in redis-server "$NGINX"; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install -y redis-server nginx)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/txsocketio-cluster.XXXXXX")
PIDS=()
cleanup() {
    trap - EXIT INT TERM
    echo "stopping..." >&2
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)

UPSTREAMS=()
for i in $(seq 1 "$N"); do
    port=$((BASE_PORT + i - 1))
    # The app module is found in the current directory (--app app:make_server).
    (cd "$HERE" && CLUSTER_NODE="node$i" PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
        exec "$PYTHON" -m twisted txsocketio --app app:make_server --static "$HERE/static" \
        --redis "redis://127.0.0.1:$REDIS_PORT/0" --listen "tcp:$port:interface=127.0.0.1") \
        >"$WORK/node$i.log" 2>&1 &
    PIDS+=($!)
    UPSTREAMS+=(--upstream "127.0.0.1:$port")
done

"$PYTHON" "$HERE/nginx_conf.py" --prefix "$WORK/nginx" --listen "127.0.0.1:$PORT" \
    --balance "$BALANCE" "${UPSTREAMS[@]}" >/dev/null
NGINX_CMD=("$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log")
if [ "$(id -u)" -eq 0 ]; then
    # Root is not needed for a port above 1024: run the whole of nginx as nobody.
    chown -R nobody:nogroup "$WORK/nginx"
    chmod 755 "$WORK"
    NGINX_CMD=(setpriv --reuid=nobody --regid=nogroup --clear-groups "${NGINX_CMD[@]}")
fi
"${NGINX_CMD[@]}" &
PIDS+=($!)

echo "redis-server on 127.0.0.1:$REDIS_PORT, $N txsocketio processes on ports $BASE_PORT-$((BASE_PORT + N - 1)),"
echo "nginx ($BALANCE) on http://127.0.0.1:$PORT/   (logs in $WORK; ^C stops everything)"
# Stop everything as soon as any of them dies.
wait -n "${PIDS[@]}" || true
echo "a process exited; see the logs above:" >&2
tail -n 20 "$WORK"/*.log "$WORK"/nginx/error.log >&2 || true
