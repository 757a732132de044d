#!/usr/bin/env bash
# L2 hit lookups over HTTP against the release binary, side by side with
# GET /health, in one server run (alternating rounds so that noise from
# other work on the machine hits both alike).
#
# Usage: scripts/load_l2.sh [SECONDS_PER_ROUND=10] [ROUNDS=2] [CONNECTIONS=32]
# Needs: cargo build --release; wrk (apt-get install -y wrk).
source "$(dirname "$0")/lib.sh"
SECS="${1:-10}"; ROUNDS="${2:-2}"; CONNS="${3:-32}"
WORK="$(mktemp -d)"; trap 'cleanup' EXIT
PORT="$(free_port)"
start_server "$WORK/data" "$PORT"
wait_health 30 >/dev/null
BODY='{"input_text":"How do I reset my password?","task_type":"support","response_data":{"answer":"Open Settings, then Security, then Reset password."},"tokens_used":150,"store_in_l3":false}'
post "$API/store" "$BODY" >/dev/null
echo '{"input_text":"How do I reset my password?","task_type":"support","use_l1":false,"use_l3":false}' >"$WORK/lookup.json"
curl -sS -D - -o /dev/null -X POST -H 'content-type: application/json' \
    --data-binary @"$WORK/lookup.json" "$BASE$API/lookup" | grep -i '^x-helios-cache: HIT-L2' >/dev/null ||
    { echo "the probe lookup is not an L2 hit" >&2; exit 1; }

echo "wrk -t2 -c$CONNS -d${SECS}s, server: $(nproc) cores shared with everything else on this machine"
printf '%-8s %-6s %12s %10s %10s\n' round what req/s p50 p99
for r in $(seq 1 "$ROUNDS"); do
    wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$BASE$API/health" >"$WORK/h.txt"
    read -r hrps hp50 hp99 <<<"$(wrk_summary "$WORK/h.txt")"
    printf '%-8s %-6s %12s %10s %10s\n' "$r" health "$hrps" "$hp50" "$hp99"
    WRK_PATH="$API/lookup" WRK_BODY_FILE="$WORK/lookup.json" \
        wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$LUA/post.lua" "$BASE" >"$WORK/l.txt"
    read -r lrps lp50 lp99 <<<"$(wrk_summary "$WORK/l.txt")"
    printf '%-8s %-6s %12s %10s %10s\n' "$r" lookup "$lrps" "$lp50" "$lp99"
    python3 -c "print(f'         lookup/health = {$lrps / $hrps:.2f}')"
done
grep -E 'Non-2xx|Socket errors' "$WORK/l.txt" "$WORK/h.txt" || true
echo "server: l2 hits $(metric total_hits) of $(metric total_lookups) lookups"
