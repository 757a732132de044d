#!/usr/bin/env python3
"""Hit rate of a sharded helios-cache when a node is added, goes down and
comes back (deploy/README.md quotes its output). Python standard library only.

It owns the measurement, not the cluster: deploy/bench/cluster.py starts N
nodes and HAProxy (config from deploy/haproxy/render.sh) on 127.0.0.1.

Phases (every lookup carries X-Helios-Namespace, like the Python client):
  fill      store ENTRIES entries in each of NAMESPACES namespaces through the
            balancer; look every one up: all must hit.
  add       start node N+1, re-render the config, reload HAProxy (-sf) while a
            background client keeps looking up (errors during the reload are
            counted); look every entry up: the namespaces that moved to the new
            node miss (expected ~1/(N+1) of them), nothing else does.
  refill    cache-aside: store each missed entry again; look up: all hit.
  down      (unless --no-failover) SIGKILL one old node; look up at once
            (before the health check has noticed) and again after it has:
            only that node's namespaces miss, no 5xx.
  return    restart it on its data directory; look up: its entries hit again.

Usage: deploy/bench/hitrate_reshard.py [--bin PATH] [--nodes 3]
       [--namespaces 200] [--entries 10] [--json FILE] [--keep]
"""

import argparse
import collections
import json
import sys
import threading
import time

import cluster


def text(ns, i):
    return f"{ns}: what is the status of order {i}?"


def sweep(client, keys):
    """Looks up every (ns, i); returns (hits, misses, 5xx, other, node_of_ns)."""
    hits = misses = e5 = other = 0
    node_of = {}
    for ns, i in keys:
        status, body, node = client.lookup(ns, text(ns, i))
        if status == 200:
            if body["hit"]:
                hits += 1
            else:
                misses += 1
            node_of.setdefault(ns, set()).add(node)
        elif status >= 500:
            e5 += 1
        else:
            other += 1
    return hits, misses, e5, other, node_of


def report(name, res, total, t0):
    hits, misses, e5, other, _ = res
    line = (f"{name:<22} hit rate {hits / total:7.2%}  ({hits} hits, {misses} misses, "
            f"{e5} 5xx, {other} other)  {time.monotonic() - t0:5.1f} s")
    print(line, flush=True)
    return {"phase": name, "hit_rate": hits / total, "hits": hits, "misses": misses,
            "status_5xx": e5, "other": other}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--namespaces", type=int, default=200)
    ap.add_argument("--entries", type=int, default=10)
    ap.add_argument("--no-failover", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    binary = a.bin or cluster.default_binary()

    work = cluster.Workdir(a.keep)
    nodes, lb, results = [], None, []
    try:
        names = [f"node{k + 1}" for k in range(a.nodes + 1)]
        nodes = [cluster.Node(binary, work.path, n) for n in names]
        for n in nodes[:a.nodes]:
            n.start()
        lb = cluster.Balancer(work.path).start([f"{n.name}={n.url}" for n in nodes[:a.nodes]])
        c = cluster.Client(lb.url)
        keys = [(f"tenant-{j:04d}", i) for j in range(a.namespaces) for i in range(a.entries)]
        total = len(keys)
        print(f"{a.nodes} nodes + HAProxy on 127.0.0.1, {a.namespaces} namespaces x "
              f"{a.entries} entries = {total} L2 entries; binary {binary}", flush=True)

        t0 = time.monotonic()
        for ns, i in keys:
            st, body, _ = c.store(ns, text(ns, i), f"answer {ns} {i}")
            assert st == 200 and body["success"], (st, body)
        res = sweep(c, keys)
        results.append(report("fill", res, total, t0))
        before = {ns: next(iter(v)) for ns, v in res[4].items()}
        assert all(len(v) == 1 for v in res[4].values()), "a namespace answered from two nodes"
        spread = collections.Counter(before.values())
        print(f"{'':<22} namespaces per node: {dict(sorted(spread.items()))}")

        # ---- add a node while a background client keeps looking up
        new = nodes[a.nodes].start()
        stop = threading.Event()
        bg = {"requests": 0, "errors": 0, "5xx": 0}

        def background():
            bc = cluster.Client(lb.url)
            k = 0
            while not stop.is_set():
                ns, i = keys[k % total]
                k += 1
                try:
                    st, _, _ = bc.lookup(ns, text(ns, i))
                    bg["requests"] += 1
                    if st >= 500:
                        bg["5xx"] += 1
                except Exception:  # noqa: BLE001 - counted, not raised
                    bg["errors"] += 1
            bg["reconnects"] = bc.reconnects

        th = threading.Thread(target=background)
        th.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        lb.reload([f"{n.name}={n.url}" for n in nodes])
        reload_s = time.monotonic() - t0
        time.sleep(0.5)
        stop.set()
        th.join()
        print(f"{'reload':<22} HAProxy -sf with {a.nodes + 1} nodes, all UP after {reload_s:.2f} s; "
              f"background lookups during it: {bg['requests']} requests, {bg['5xx']} 5xx, "
              f"{bg['errors']} failed, {bg['reconnects']} keep-alive reconnects", flush=True)

        t0 = time.monotonic()
        res = sweep(c, keys)
        r = report("after adding a node", res, total, t0)
        after = {ns: next(iter(v)) for ns, v in res[4].items()}
        moved = [ns for ns in before if before[ns] != after[ns]]
        to_new = sum(1 for ns in moved if after[ns] == new.name)
        r.update(moved_namespaces=len(moved), moved_to_new_node=to_new,
                 expected_moved_fraction=1 / (a.nodes + 1), moved_fraction=len(moved) / a.namespaces,
                 reload_seconds=reload_s, background=bg)
        results.append(r)
        print(f"{'':<22} {len(moved)} of {a.namespaces} namespaces moved "
              f"({len(moved) / a.namespaces:.1%}; 1/(N+1) = {1 / (a.nodes + 1):.1%}), "
              f"{to_new} of them to the new node")

        # ---- cache-aside refill of what missed, then everything hits again
        t0 = time.monotonic()
        refilled = 0
        for ns, i in keys:
            st, body, _ = c.lookup(ns, text(ns, i))
            if st == 200 and not body["hit"]:
                c.store(ns, text(ns, i), f"answer {ns} {i}")
                refilled += 1
        res = sweep(c, keys)
        r = report("after refilling misses", res, total, t0)
        r["refilled"] = refilled
        results.append(r)

        if not a.no_failover:
            victim = nodes[0]
            owned = [ns for ns in after if after[ns] == victim.name]
            share = sum(a.entries for _ in owned) / total
            redis0 = lb.backend_counter("redispatch_warnings_total")
            victim.kill9()
            t0 = time.monotonic()
            res = sweep(c, keys)
            r = report(f"{victim.name} killed (at once)", res, total, t0)
            r["expected_hit_rate"] = 1 - share
            r["redispatched"] = lb.backend_counter("redispatch_warnings_total") - redis0
            print(f"{'':<22} {r['redispatched']} lookups found {victim.name} refusing and were "
                  f"redispatched before the health check marked it down")
            results.append(r)
            lb.wait_state(victim.name, "DOWN")
            t0 = time.monotonic()
            res = sweep(c, keys)
            r = report(f"{victim.name} marked down", res, total, t0)
            r["expected_hit_rate"] = 1 - share
            results.append(r)
            print(f"{'':<22} {victim.name} owned {len(owned)} namespaces = {share:.1%} of entries")
            victim.start()
            lb.wait_state(victim.name, "UP")
            t0 = time.monotonic()
            res = sweep(c, keys)
            results.append(report(f"{victim.name} back", res, total, t0))

        if a.json:
            with open(a.json, "w") as f:
                json.dump({"nodes": a.nodes, "namespaces": a.namespaces, "entries": a.entries,
                           "binary": binary, "phases": results}, f, indent=2)
    finally:
        if lb:
            lb.stop()
        for n in nodes:
            n.stop()
        work.cleanup()


if __name__ == "__main__":
    sys.exit(main())
