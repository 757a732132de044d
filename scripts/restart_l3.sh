#!/usr/bin/env bash
# Restart timing for a large L3 (BENCHMARKS.md, "Restart with 1M L3 entries").
# Starts BIN on DATA (filled by scripts/fill_l3.py) and prints seconds from
# exec to: /health answering, a stored text being an L3 hit, a reworded one
# being an L3 hit, and /stats/layer/L3 saying index_rebuilding: false; then
# stops the server (SIGTERM).
# Usage: scripts/restart_l3.sh BIN DATA [STORED_TEXT] [REWORDED_TEXT]
set -euo pipefail
BIN=$1; DATA=$2
STORED=${3:-"What are the best hashtags for Instagram likes? What are some tips for learning arm vibrato on violin?"}
REWORDED=${4:-"what are the best hashtags for instagram likes? what are some tips for learning arm vibrato on a violin?"}
U=http://127.0.0.1:18998/api/v1/helios/cache
body() { python3 -c 'import json,sys; print(json.dumps({"input_text": sys.argv[1], "task_type": "qa", "use_l1": False, "use_l2": False}))' "$1"; }
B_STORED=$(body "$STORED"); B_REWORDED=$(body "$REWORDED")
now() { date +%s.%N; }
t0=$(now)
"$BIN" --data-dir "$DATA" --bind 127.0.0.1:18998 > /tmp/restart_l3.log 2>&1 & P=$!
until curl -sf $U/health >/dev/null; do sleep 0.02; done; t1=$(now)
hit() { curl -s -D - -o /dev/null -XPOST -H 'content-type: application/json' --data-binary "$1" $U/lookup | grep -qi '^x-helios-cache: HIT-L3'; }
te=""; ts=""
while [ -z "$ts" ]; do
  if [ -z "$te" ] && hit "$B_STORED"; then te=$(now); fi
  if hit "$B_REWORDED"; then ts=$(now); fi
  sleep 0.02
done
te=${te:-$ts}
until curl -s $U/stats/layer/L3 | grep -q '"index_rebuilding":false'; do sleep 0.05; done; t3=$(now)
kill -TERM $P; wait $P || true
python3 -c "print(f'health {$t1-$t0:.2f} s, stored text L3 hit {$te-$t0:.2f} s, reworded L3 hit {$ts-$t0:.2f} s, L3 complete {$t3-$t0:.2f} s')"
