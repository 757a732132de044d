#!/usr/bin/env bash
# The gateway's added latency, at one connection (c=1), loopback only:
#   upstream  POST /v1/messages straight to the stand-in upstream
#             (tests/gateway_py/upstream.py), the baseline;
#   miss      the same request through the gateway with
#             `X-Helios-Cache-Control: no-cache`: lookup skipped, forwarded,
#             the answer piped back and stored (every request is a miss);
#   hit       the same request through the gateway: answered from L2.
# "miss adds" = miss p50 - upstream p50. Rounds alternate so that noise from
# other work on the machine hits all three alike.
#
# Usage: scripts/bench_gateway.sh [SECONDS_PER_ROUND=5] [ROUNDS=2]
# Needs: cargo build --release (or HELIOS_BIN=...); wrk; python3.
source "$(dirname "$0")/lib.sh"
SECS="${1:-5}"; ROUNDS="${2:-2}"
WORK="$(mktemp -d)"
UP_PID=""
trap 'kill "$UP_PID" 2>/dev/null || true; cleanup' EXIT
python3 "$REPO/tests/gateway_py/upstream.py" >"$WORK/up.out" 2>&1 &
UP_PID=$!
for _ in $(seq 1 100); do grep -q listening "$WORK/up.out" 2>/dev/null && break; sleep 0.05; done
UP="http://127.0.0.1:$(awk '/listening/ {print $2}' "$WORK/up.out")"
PORT="$(free_port)"
start_server "$WORK/data" "$PORT" --upstream-anthropic "$UP" --workers 2
wait_health 30 >/dev/null
echo '{"model":"claude-sonnet-4-5","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":"What is the capital of France?"}]}' >"$WORK/body.json"
probe() { curl -sS -D - -o /dev/null -X POST -H 'content-type: application/json' -H 'x-api-key: k' \
    --data-binary @"$WORK/body.json" "$BASE/v1/messages" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-helios-cache" {print $2}'; }
[ "$(probe)" = MISS ] || { echo "the first probe is not a MISS" >&2; exit 1; }
[ "$(probe)" = HIT-L2 ] || { echo "the second probe is not a HIT-L2" >&2; exit 1; }

echo "wrk -t1 -c1 -d${SECS}s; $(nproc) cores shared with everything else on this machine; binary: $BIN"
printf '%-6s %-9s %10s %10s %10s\n' round what req/s p50 p99
run() { # NAME URL CACHE_CONTROL
    WRK_PATH=/v1/messages WRK_BODY_FILE="$WORK/body.json" WRK_CACHE_CONTROL="$3" \
        wrk -t1 -c1 -d"${SECS}s" --latency -s "$LUA/gateway.lua" "$2" >"$WORK/$1.txt"
    read -r rps p50 p99 <<<"$(wrk_summary "$WORK/$1.txt")"
    printf '%-6s %-9s %10s %10s %10s\n' "$r" "$1" "$rps" "$p50" "$p99"
    grep -E 'Non-2xx|Socket errors' "$WORK/$1.txt" || true
}
for r in $(seq 1 "$ROUNDS"); do
    run upstream "$UP" ""
    run miss "$BASE" "no-cache"
    run hit "$BASE" ""
done
curl -sS "$BASE$API/metrics" | python3 -c "
import sys, json
g = json.load(sys.stdin)['gateway']
print('server: gateway requests %d, L2 hits %d, misses %d, stores %d, upstream errors %d, upstream p50 %.3f ms'
      % (g['requests'], g['hits_l2'], g['misses'], g['stores'], g['upstream_errors'], g['upstream_latency_ms']['p50']))"
