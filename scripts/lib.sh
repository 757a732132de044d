# Shared helpers of the load / memory / restart scripts. Source it.
# Everything talks to 127.0.0.1 only.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${HELIOS_BIN:-$REPO/target/release/helios-cache}"
LUA="$REPO/scripts/lua"
API=/api/v1/helios/cache

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server DATA_DIR PORT [extra flags...]; sets SERVER_PID, BASE.
start_server() {
    local dir="$1" port="$2"
    shift 2
    BASE="http://127.0.0.1:$port"
    "$BIN" --bind "127.0.0.1:$port" --data-dir "$dir" "$@" >>"$dir.log" 2>&1 &
    SERVER_PID=$!
}

# wait_health TIMEOUT_S: polls /health every 20 ms; prints seconds waited.
wait_health() {
    python3 - "$BASE" "$1" <<'PY'
import sys, time, urllib.request
base, limit = sys.argv[1], float(sys.argv[2])
t0 = time.monotonic()
while time.monotonic() - t0 < limit:
    try:
        with urllib.request.urlopen(base + "/api/v1/helios/cache/health", timeout=1) as r:
            if r.status == 200:
                print(f"{time.monotonic() - t0:.3f}")
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.02)
sys.exit("server did not answer /health in time")
PY
}

# post PATH JSON: POSTs to the server, prints the body.
post() {
    curl -sS -X POST -H 'content-type: application/json' --data-binary "$2" "$BASE$1"
}

# rss_mib PID / hwm_mib PID
rss_mib() { awk '/^VmRSS:/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM:/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

# metric NAME: a field of GET /metrics (JSON).
metric() {
    curl -sS -H 'accept: application/json' "$BASE$API/metrics" |
        python3 -c "import sys,json; print(json.load(sys.stdin).get('$1'))"
}

# stop_server: SIGTERM, then wait until the process is gone; sets STOP_S
# (seconds taken). Call it directly, not in $(...): a subshell cannot wait.
stop_server() {
    local t0 t1 i=0
    t0=$(date +%s.%N)
    kill -TERM "$SERVER_PID"
    while kill -0 "$SERVER_PID" 2>/dev/null && [ $i -lt 12000 ]; do sleep 0.01; i=$((i + 1)); done
    wait "$SERVER_PID" 2>/dev/null || true
    t1=$(date +%s.%N)
    STOP_S=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
}

# cleanup: stops the server (if running) and removes $WORK (unless KEEP=1).
cleanup() {
    if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then stop_server; fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "${WORK:?}"; fi
    true
}

# wrk_summary FILE: "req/s p50 p99" from a `wrk --latency` report.
wrk_summary() {
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}' "$1"
}
