#!/usr/bin/env bash
# L3 hit lookups over HTTP at N entries (one scope), index save/load and
# rebuild at restart.
#
# Stores N distinct QQP questions (L3 only) through POST /store, then runs wrk
# over 5000 lookups of stored questions with use_l2 false at several
# concurrencies, twice: as stored (exact repeats: L3 judges the entry of the
# same text first, no HNSW search) and lower-cased (semantic hits: embed, HNSW
# search, record read, rules and verifier); then SIGTERM +
# start (saved index loaded) and SIGTERM + delete the saved index + start
# (index rebuilt from sled), timing until a stored question hits L3 again.
#
# Usage: scripts/load_l3.sh [N=100000] [SECONDS=10]
# PAIRS defaults to ../shared/eval/data/gptcache_qqp/pairs.jsonl.gz (read in place).
source "$(dirname "$0")/lib.sh"
N="${1:-100000}"; SECS="${2:-10}"
PAIRS="${PAIRS:-$REPO/../shared/eval/data/gptcache_qqp/pairs.jsonl.gz}"
# RESTART_ONLY=DIR: reuse the work directory of an earlier run (KEEP=1) and
# only measure the restarts.
WORK="${RESTART_ONLY:-$(mktemp -d)}"; trap 'cleanup' EXIT
PORT="$(free_port)"
start_server "$WORK/data" "$PORT"
wait_health 600 >/dev/null
[ -n "${RESTART_ONLY:-}" ] || python3 "$REPO/scripts/fill_l3.py" "$BASE" "$PAIRS" "$N" "$WORK" 8
echo "l3_entries=$(metric l3_entries) RSS $(rss_mib "$SERVER_PID") MiB (peak $(hwm_mib "$SERVER_PID") MiB)"
head -1 "$WORK/lookup_l3.jsonl" >"$WORK/probe.json"
check_hit() {
    curl -sS -D - -o /dev/null -X POST -H 'content-type: application/json' \
        --data-binary @"$WORK/probe.json" "$BASE$API/lookup" | grep -qi '^x-helios-cache: HIT-L3'
}
check_hit || { echo "probe is not an L3 hit" >&2; exit 1; }

if [ -z "${RESTART_ONLY:-}" ]; then
python3 -c '
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        d = json.loads(line); d["input_text"] = d["input_text"].lower(); out.write(json.dumps(d) + "\n")
' "$WORK/lookup_l3.jsonl" "$WORK/lookup_l3_lower.jsonl"
for set in lookup_l3 lookup_l3_lower; do
echo "$set ($( [ $set = lookup_l3 ] && echo 'exact repeats' || echo 'lower-cased: HNSW search' ))"
printf '%-12s %10s %10s %10s\n' connections req/s p50 p99
for c in 1 4 32; do
    t=$(( c < 2 ? 1 : 2 ))
    WRK_PATH="$API/lookup" WRK_BODY_FILE="$WORK/$set.jsonl" \
        wrk -t$t -c$c -d"${SECS}s" --latency -s "$LUA/bodies.lua" "$BASE" >"$WORK/w.txt"
    read -r rps p50 p99 <<<"$(wrk_summary "$WORK/w.txt")"
    printf '%-12s %10s %10s %10s\n' "$c" "$rps" "$p50" "$p99"
    grep -E 'Non-2xx|Socket errors' "$WORK/w.txt" || true
done
done
echo "server: l3_hit_rate $(metric l3_hit_rate), lookups $(metric total_lookups), hits $(metric total_hits)"
fi

restart() {
    stop_server; echo "stop (SIGTERM, saves the index): $STOP_S s"
    [ "${1:-}" = rebuild ] && rm -rf "$WORK/data/l3-index" && echo "deleted the saved index"
    local t0; t0=$(date +%s.%N)
    start_server "$WORK/data" "$PORT"
    local h; h=$(wait_health 600)
    local i=0
    until check_hit; do i=$((i + 1)); [ $i -lt 3000 ] || { echo "no L3 hit" >&2; exit 1; }; sleep 0.02; done
    echo "start: /health after $h s, L3 hit after $(python3 -c "import time; print(f'{time.time() - $t0:.2f}')") s; RSS $(rss_mib "$SERVER_PID") MiB"
}
restart
restart rebuild
grep -iE 'index|rebuil' "$WORK/data.log" | tail -4 || true
stop_server
