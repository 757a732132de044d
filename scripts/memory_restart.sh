#!/usr/bin/env bash
# Memory per L2 entry and restart time.
#
# Fills a fresh server with N distinct L2 entries of 1 KiB responses over
# HTTP (wrk, many connections), reports RSS, then stops it with SIGTERM,
# starts it again on the same data directory and times how long until
# /health answers and until a stored entry is an L2 hit again.
#
# Usage: scripts/memory_restart.sh [N=1000000] [CONNECTIONS=64] [MAX_FILL_SECONDS=1200]
# Needs: cargo build --release; wrk. Leaves nothing behind (temp dir).
source "$(dirname "$0")/lib.sh"
N="${1:-1000000}"; CONNS="${2:-64}"; MAXS="${3:-1200}"
THREADS=2
PER_THREAD=$(( (N + THREADS - 1) / THREADS ))
WORK="$(mktemp -d)"; trap 'kill "$WRK_PID" 2>/dev/null || true; cleanup' EXIT
WRK_PID=0
PORT="$(free_port)"
# Bounds above the fill, so that no entry is evicted.
FLAGS=(--l2-max-entries $((N + N / 10)) --l2-max-bytes $((4 << 30)))
start_server "$WORK/data" "$PORT" "${FLAGS[@]}"
wait_health 30 >/dev/null
echo "idle server RSS: $(rss_mib "$SERVER_PID") MiB"

t0=$(date +%s)
FILL_PER_THREAD=$PER_THREAD wrk -t$THREADS -c"$CONNS" -d"${MAXS}s" --timeout 30s -s "$LUA/fill_l2.lua" "$BASE" >"$WORK/fill.txt" &
WRK_PID=$!
prev=-1; still=0
while :; do
    sleep 5
    n=$(metric l2_entries)
    el=$(( $(date +%s) - t0 ))
    echo "  t=${el}s l2_entries=$n rss=$(rss_mib "$SERVER_PID") MiB"
    if [ "$n" = "$prev" ]; then still=$((still + 1)); else still=0; fi
    prev=$n
    # Done, or no progress for 15 s (a store lost to a client timeout), or out of time.
    if [ "$n" -ge "$N" ] || [ "$still" -ge 3 ] || ! kill -0 "$WRK_PID" 2>/dev/null || [ "$el" -ge "$MAXS" ]; then break; fi
done
kill "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true
fill_s=$(( $(date +%s) - t0 ))
n=$(metric l2_entries)
rss=$(rss_mib "$SERVER_PID"); hwm=$(hwm_mib "$SERVER_PID")
grep -E 'Requests/sec|Non-2xx|Socket errors|requests in' "$WORK/fill.txt" || true
curl -sS "$BASE$API/stats/layer/L2" | python3 -c "import sys,json; d=json.load(sys.stdin); print('L2 stats:', {k: v for k, v in d.items() if not isinstance(v, (dict, list))})" || true
echo "filled $n entries in ${fill_s}s ($(( n / (fill_s > 0 ? fill_s : 1) )) stores/s)"
echo "RSS after fill: $rss MiB (peak $hwm MiB) = $(python3 -c "print(round($rss*1048576/max($n,1)))") bytes/entry"
echo "data dir on disk: $(du -sm "$WORK/data" | cut -f1) MiB"
sleep 3
echo "RSS after 3 s idle: $(rss_mib "$SERVER_PID") MiB"

# A probe from the middle of thread 0's inputs.
PROBE="{\"input_text\":\"fill 0-$((PER_THREAD / 2)): what is the status of shipment $((PER_THREAD / 2))?\",\"use_l1\":false,\"use_l3\":false}"
post "$API/lookup" "$PROBE" | grep -q '"hit":true' || { echo "probe entry is not a hit before restart" >&2; exit 1; }
for i in 1 500 $PER_THREAD; do
    post "$API/lookup" "{\"input_text\":\"fill 1-$i: what is the status of shipment $i?\",\"use_l1\":false,\"use_l3\":false}" | grep -q '"hit":true' && echo "fill 1-$i: hit" || echo "fill 1-$i: MISS"
done

stop_server; echo "stop (SIGTERM): $STOP_S s"
t_start=$(date +%s.%N)
start_server "$WORK/data" "$PORT" "${FLAGS[@]}"
health_s=$(wait_health 120)
hit_s=$(python3 - "$BASE" "$PROBE" "$t_start" <<'PY'
import sys, time, json, urllib.request
base, body, t_start = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3])
for _ in range(6000):
    req = urllib.request.Request(base + "/api/v1/helios/cache/lookup", data=body,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            if json.load(r).get("hit"):
                print(f"{time.time() - t_start:.3f}")
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.02)
sys.exit("no hit after restart")
PY
)
echo "restart: /health answered after $health_s s; the stored entry hit after $hit_s s (from exec)"
echo "after restart: l2_entries=$(metric l2_entries), RSS $(rss_mib "$SERVER_PID") MiB"
grep -iE 'rebuil|loaded|listening|took' "$WORK/data.log" | tail -5 || true
stop_server
