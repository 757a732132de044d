#!/usr/bin/env python3
"""Checks every query of the cluster dashboard against a live Prometheus.

It owns this one check: start 3 nodes on 127.0.0.1:8011-8013 and HAProxy on
:8000 (stats :8404) exactly as deploy/prometheus/prometheus.yml expects, run
Debian's `prometheus` (apt-get install prometheus) on 127.0.0.1:9099 with that
file (scrape interval cut to 2 s), send some traffic for 40 s, then evaluate
each panel query of helios-cache-cluster.json with the dashboard variables
filled in. Prints per-query problems and "queries ok N, empty N, errors N";
exits 1 on any empty or failing query. Standard library only.

Usage: python3 deploy/grafana/check_queries.py [HELIOS_BINARY]
"""
import json, subprocess, sys, time, urllib.error, urllib.parse, urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
import cluster
work = cluster.Workdir()
nodes = []; lb = None; prom = None
failed = True
try:
    binary = sys.argv[1] if len(sys.argv) > 1 else cluster.default_binary()
    cfg = work.path / "prometheus.yml"
    cfg.write_text((HERE.parent / "prometheus" / "prometheus.yml").read_text().replace("scrape_interval: 15s", "scrape_interval: 2s"))
    for k, port in enumerate((8011, 8012, 8013)):
        n = cluster.Node(binary, work.path, f"node{k+1}"); n.port = port; nodes.append(n.start())
    lb = cluster.Balancer(work.path); lb.port = 8000; lb.stats_port = 8404
    lb.start([f"{n.name}={n.url}" for n in nodes])
    prom = subprocess.Popen(["nice", "-n", "15", "prometheus", "--config.file", str(cfg),
        "--storage.tsdb.path", str(work.path / "tsdb"), "--web.listen-address", "127.0.0.1:9099"],
        stdout=subprocess.DEVNULL, stderr=open(work.path / "prometheus.log", "w"))
    c = cluster.Client(lb.url)
    t_end = time.monotonic() + 40
    i = 0
    while time.monotonic() < t_end:
        ns = f"tenant-{i % 30}"
        c.store(ns, f"q{i % 100}", "a")
        c.lookup(ns, f"q{i % 100}"); c.lookup(ns, f"zz{i}")
        i += 1
        time.sleep(0.005)
    dash = json.load(open(HERE / "helios-cache-cluster.json"))
    subs = {"$__rate_interval": "20s", "$__range": "1m", "$cluster": ".*", "$instance": ".*",
            "$node_job": "helios-cache", "$balancer_job": "helios-balancer"}
    bad = empty = ok = 0
    for p in dash["panels"]:
        for t in p.get("targets", []):
            e = t["expr"]
            for k, v in subs.items(): e = e.replace(k, v)
            q = urllib.parse.urlencode({"query": e})
            try:
                r = json.load(urllib.request.urlopen(f"http://127.0.0.1:9099/api/v1/query?{q}"))
            except urllib.error.HTTPError as err:
                print("ERROR", p["title"], err.read()[:200]); bad += 1; continue
            res = r["data"]["result"]
            if not res: print("EMPTY", p["title"], "|", t.get("legendFormat")); empty += 1
            else: ok += 1
    print(f"queries ok {ok}, empty {empty}, errors {bad}")
    up = json.load(urllib.request.urlopen("http://127.0.0.1:9099/api/v1/targets"))
    print("targets:", [(t["labels"]["job"], t["labels"]["instance"], t["health"]) for t in up["data"]["activeTargets"]])
    failed = bad or empty
finally:
    if prom: prom.terminate(); prom.wait()
    if lb: lb.stop()
    for n in nodes: n.stop()
    work.cleanup()
sys.exit(1 if failed else 0)
