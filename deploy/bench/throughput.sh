#!/usr/bin/env bash
# Throughput of L2-hit lookups through HAProxy in front of 1, 2 and 3
# helios-cache nodes on this machine, next to one node without the balancer,
# with the CPU each process spent (from /proc/PID/stat before and after each
# run). It owns this measurement only; the balancer config comes from
# deploy/haproxy/render.sh. On a 2-core machine the nodes, HAProxy and wrk
# share the same cores, so read the CPU cost per request (node and balancer),
# not the req/s, as the result: more nodes cannot add cores here.
#
# Usage: deploy/bench/throughput.sh [SECONDS=10] [CONNECTIONS=16] [NAMESPACES=60]
# Needs: haproxy, wrk (apt-get install -y haproxy wrk), curl, python3, and a
# helios-cache binary (HELIOS_BIN, else /tmp/helios-node, else target/release).
# Everything listens on 127.0.0.1 and runs under nice -n 15.
set -euo pipefail

SECS="${1:-10}"; CONNS="${2:-16}"; NS_COUNT="${3:-60}"
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
API=/api/v1/helios/cache
BIN="${HELIOS_BIN:-}"
for c in /tmp/helios-node "$REPO/target/release/helios-cache"; do
    [ -n "$BIN" ] || { [ -x "$c" ] && BIN="$c"; } || true
done
[ -x "$BIN" ] || { echo "no helios-cache binary: set HELIOS_BIN" >&2; exit 1; }
command -v haproxy >/dev/null && command -v wrk >/dev/null ||
    { echo "needs haproxy and wrk: apt-get install -y haproxy wrk" >&2; exit 1; }

WORK="$(mktemp -d /tmp/helios-throughput-XXXXXX)"
NODE_PIDS=(); NODE_PORTS=(); HAP_PID=""
cleanup() {
    [ -z "$HAP_PID" ] || { kill "$HAP_PID" 2>/dev/null; wait "$HAP_PID" 2>/dev/null; } || true
    for p in "${NODE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${NODE_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# ticks PID: user+system CPU clock ticks of a running process.
ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
# child_ticks: CPU ticks of this shell's reaped children (cutime + cstime).
child_ticks() { awk '{sub(/^.*\) /, ""); print $14 + $15}' "/proc/$$/stat"; }
HZ="$(getconf CLK_TCK)"
wait_url() {  # wait_url URL SECONDS
    local i=0
    until curl -sf -o /dev/null "$1"; do
        i=$((i + 1)); [ $i -lt $(($2 * 20)) ] || { echo "no answer from $1" >&2; exit 1; }
        sleep 0.05
    done
}
metric_sum() {  # metric_sum FIELD: FIELD of GET /metrics summed over all nodes
    local s=0 v
    for port in "${NODE_PORTS[@]}"; do
        v=$(curl -sf "http://127.0.0.1:$port$API/metrics" | python3 -c "import sys,json; print(json.load(sys.stdin)['$1'])")
        s=$((s + v))
    done
    echo "$s"
}

# ---- three nodes, every namespace's entry stored on every node, so that
# each lookup is an L2 hit wherever the balancer sends it.
for k in 1 2 3; do
    port="$(free_port)"
    RUST_LOG=warn nice -n 15 "$BIN" --bind "127.0.0.1:$port" --data-dir "$WORK/node$k" \
        >>"$WORK/node$k.log" 2>&1 &
    NODE_PIDS+=("$!"); NODE_PORTS+=("$port")
done
for port in "${NODE_PORTS[@]}"; do wait_url "http://127.0.0.1:$port$API/health" 120; done

BODIES="$WORK/lookups.tsv"
python3 - "$NS_COUNT" "$BODIES" "${NODE_PORTS[@]}" <<'PY'
import json, sys, urllib.request
n, out, ports = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
with open(out, "w") as f:
    for j in range(n):
        ns = f"tenant-{j:03d}"
        text = f"{ns}: how do I reset my password?"
        store = {"input_text": text, "namespace": ns, "task_type": "bench", "tokens_used": 150,
                 "response_data": {"answer": "Open Settings, then Security, then Reset password."},
                 "store_in_l1": False, "store_in_l3": False, "ttl_seconds": 86400}
        for p in ports:
            req = urllib.request.Request(f"http://127.0.0.1:{p}/api/v1/helios/cache/store",
                                         json.dumps(store).encode(),
                                         {"content-type": "application/json", "x-helios-namespace": ns})
            urllib.request.urlopen(req).read()
        look = {"input_text": text, "namespace": ns, "task_type": "bench", "use_l1": False, "use_l3": False}
        f.write(f"{ns}\t{json.dumps(look)}\n")
PY

run() {  # run LABEL TARGET_URL NODES_USED HAPROXY_PID|-
    local label="$1" url="$2" used="$3" hpid="$4"
    local -a before=() after=()
    local hb=0 ha=0 wb wa l0 h0 l1 h1
    for p in "${NODE_PIDS[@]}"; do before+=("$(ticks "$p")"); done
    [ "$hpid" = - ] || hb="$(ticks "$hpid")"
    l0="$(metric_sum total_lookups)"; h0="$(metric_sum total_hits)"
    wb="$(child_ticks)"
    WRK_PATH="$API/lookup" WRK_BODY_FILE="$BODIES" \
        nice -n 15 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$HERE/lookup_ns.lua" "$url" >"$WORK/wrk.txt"
    wa="$(child_ticks)"
    [ "$hpid" = - ] || ha="$(ticks "$hpid")"
    for p in "${NODE_PIDS[@]}"; do after+=("$(ticks "$p")"); done
    l1="$(metric_sum total_lookups)"; h1="$(metric_sum total_hits)"
    python3 - "$label" "$used" "$HZ" "$WORK/wrk.txt" "$((ha - hb))" "$((wa - wb))" \
        "$((l1 - l0))" "$((h1 - h0))" "${before[*]}" "${after[*]}" <<'PY'
import re, sys
label, used, hz, wrk, hticks, wticks, lookups, hits, b, a = sys.argv[1:]
hz, used, lookups, hits = int(hz), int(used), int(lookups), int(hits)
t = open(wrk).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
total = int(re.search(r"(\d+) requests in", t).group(1))
lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", t, re.M))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
errs = re.search(r"Socket errors: (.*)", t)
node = [(int(y) - int(x)) / hz for x, y in zip(b.split(), a.split())]
node_cpu = sum(node)
print(f"{label:<18} {rps:>9.0f} {lat.get('50','-'):>8} {lat.get('99','-'):>8} "
      f"{(non2xx.group(1) if non2xx else '0'):>6} {hits / max(lookups, 1):>6.1%} "
      f"{' '.join(f'{c:5.2f}' for c in node):>17} {int(hticks) / hz:>7.2f} {int(wticks) / hz:>6.2f} "
      f"{node_cpu / total * 1e6:>8.1f} {int(hticks) / hz / total * 1e6:>8.1f}"
      + (f"  socket errors: {errs.group(1)}" if errs else ""))
if non2xx or hits < lookups:
    print(f"{'':<18} WARNING: not every lookup was a 200 L2 hit; this run measures something else")
PY
}

echo "L2-hit lookups, wrk -t1 -c$CONNS -d${SECS}s, $NS_COUNT namespaces (X-Helios-Namespace set),"
echo "$(nproc) cores shared by the nodes, HAProxy and wrk; binary $BIN"
printf '%-18s %9s %8s %8s %6s %6s %17s %7s %6s %8s %8s\n' setup req/s p50 p99 non2xx hits \
    "node CPU s (1 2 3)" "LB CPU" "wrk" "node us" "LB us"
run "node1 direct" "http://127.0.0.1:${NODE_PORTS[0]}" 1 -
HAP_PORT="$(free_port)"
for k in 1 2 3; do
    urls=()
    for i in $(seq 0 $((k - 1))); do urls+=("node$((i + 1))=http://127.0.0.1:${NODE_PORTS[$i]}"); done
    bash "$HERE/../haproxy/render.sh" --bind "127.0.0.1:$HAP_PORT" --stats off --log off "${urls[@]}" >"$WORK/haproxy-$k.cfg"
    nice -n 15 haproxy -f "$WORK/haproxy-$k.cfg" >>"$WORK/haproxy.log" 2>&1 &
    HAP_PID=$!
    wait_url "http://127.0.0.1:$HAP_PORT$API/health" 10
    sleep 2.5   # first health checks done, every server UP
    run "haproxy + $k node$([ $k = 1 ] || echo s)" "http://127.0.0.1:$HAP_PORT" "$k" "$HAP_PID"
    kill "$HAP_PID"; wait "$HAP_PID" 2>/dev/null || true; HAP_PID=""
done
echo "node us / LB us: CPU microseconds per request of all nodes together / of HAProxy."
