#!/usr/bin/env python3
"""Derives the cluster dashboard from the single-node one.

It owns deploy/grafana/helios-cache-cluster.json, which is always written by
this script from dashboards/helios-cache.json (never edited by hand), so the
two cannot drift. The single-node dashboard already sums every panel over the
selected instances; the cluster version adds:

- a `cluster` selector (the label deploy/prometheus/prometheus.yml sets) on
  every query, next to the existing `instance` selector;
- a "Cluster" row: nodes up, per-node lookups, hit rate and entries (how even
  the sharding is, and whose scopes went cold), and the balancer's view
  (responses by class, node state, retries and redispatches) from HAProxy's
  built-in exporter.

Usage: python3 deploy/grafana/derive.py            (rewrites the JSON)
       python3 deploy/grafana/derive.py --check    (exit 1 if it is stale)
Standard library only.
"""

import copy
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "dashboards" / "helios-cache.json"
OUT = Path(__file__).resolve().parent / "helios-cache-cluster.json"

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'cluster=~"$cluster", instance=~"$instance"'
# Node-side `up` comes from the scrape job of the nodes; balancer metrics
# from the job of the balancer (names as in deploy/prometheus/prometheus.yml).
UP = 'up{job="$node_job", cluster=~"$cluster"}'
BACKEND = 'proxy="helios_nodes", job="$balancer_job", cluster=~"$cluster"'


def target(expr, legend=None, ref="A"):
    t = {"datasource": DS, "expr": expr, "refId": ref}
    if legend is not None:
        t["legendFormat"] = legend
    return t


def stat(pid, title, desc, x, y, w, targets, unit="short"):
    return {
        "type": "stat",
        "title": title,
        "id": pid,
        "description": desc,
        "datasource": DS,
        "gridPos": {"h": 4, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
        },
        "targets": targets,
    }


def series(pid, title, desc, x, y, w, targets, unit="short", h=8):
    return {
        "type": "timeseries",
        "title": title,
        "id": pid,
        "description": desc,
        "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "custom": {"fillOpacity": 10, "stacking": {"mode": "none"}},
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "multi"},
        },
        "targets": targets,
    }


def cluster_row(y0):
    """The panels of the Cluster row starting at y0; returns (panels, height)."""
    rate = "[$__rate_interval]"
    p = [
        {
            "type": "row",
            "title": "Cluster",
            "id": 100,
            "collapsed": False,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": y0},
            "panels": [],
        },
        stat(101, "Nodes up",
             "Nodes whose /metrics the last scrape reached, of those configured.",
             0, y0 + 1, 4,
             [target(f"sum({UP})", "up"), target(f"count({UP})", "configured", "B")]),
        stat(102, "Balancer: nodes in service",
             "Nodes HAProxy's health check currently sends traffic to.",
             4, y0 + 1, 4,
             [target(f'max(haproxy_backend_active_servers{{{BACKEND}}})', "active")]),
        stat(103, "Balancer: 5xx (range)",
             "5xx answers to clients over the range (a down node costs misses, not 5xx).",
             8, y0 + 1, 4,
             [target(f'sum(increase(haproxy_backend_http_responses_total{{{BACKEND}, code="5xx"}}[$__range]))', "5xx")]),
        stat(104, "Balancer: redispatched (range)",
             "Requests whose node refused the connection and were sent to the next node on the ring.",
             12, y0 + 1, 4,
             [target(f'sum(increase(haproxy_backend_redispatch_warnings_total{{{BACKEND}}}[$__range]))', "redispatched")]),
        stat(105, "Largest node share of entries",
             "Entries on the fullest node / all entries (1/N is a perfectly even spread).",
             16, y0 + 1, 4,
             [target(f"max(sum by (instance) (helios_cache_entries{{{SEL}}})) / clamp_min(sum(helios_cache_entries{{{SEL}}}), 1)", "share")],
             unit="percentunit"),
        stat(106, "Hit rate, worst node (range)",
             "The lowest per-node hit rate over the range: a node that came back empty or took over a down node's scopes shows here first.",
             20, y0 + 1, 4,
             [target(f"min(sum by (instance) (increase(helios_cache_hits_total{{{SEL}}}[$__range])) / clamp_min(sum by (instance) (increase(helios_cache_lookups_total{{{SEL}}}[$__range])), 1))", "worst")],
             unit="percentunit"),
        series(107, "Lookups / s by node",
               "How the namespaces' traffic is spread over the nodes (consistent hashing on X-Helios-Namespace).",
               0, y0 + 5, 8,
               [target(f"sum by (instance) (rate(helios_cache_lookups_total{{{SEL}}}{rate}))", "{{instance}}")],
               unit="reqps"),
        series(108, "Hit rate by node",
               "Response hits / lookups per node. After a node is added, its moved scopes start cold: its rate dips, then recovers as they are stored again.",
               8, y0 + 5, 8,
               [target(f"sum by (instance) (rate(helios_cache_hits_total{{{SEL}}}{rate})) / clamp_min(sum by (instance) (rate(helios_cache_lookups_total{{{SEL}}}{rate})), 1e-9)", "{{instance}}")],
               unit="percentunit"),
        series(109, "Entries by node",
               "Entries held per node (all layers).",
               16, y0 + 5, 8,
               [target(f"sum by (instance) (helios_cache_entries{{{SEL}}})", "{{instance}}")]),
        series(110, "Balancer: responses / s by class",
               "What clients got from the balancer, by status class.",
               0, y0 + 13, 8,
               [target(f"sum by (code) (rate(haproxy_backend_http_responses_total{{{BACKEND}}}{rate}))", "{{code}}")],
               unit="reqps"),
        series(111, "Balancer: node state",
               "1 while HAProxy considers the node UP (health check on /api/v1/helios/cache/health).",
               8, y0 + 13, 8,
               [target(f'max by (server) (haproxy_server_status{{{BACKEND}, state="UP"}})', "{{server}}")]),
        series(112, "Balancer: retries and redispatches / s",
               "Connection retries and redispatches to the next node on the ring.",
               16, y0 + 13, 8,
               [target(f"sum(rate(haproxy_backend_retry_warnings_total{{{BACKEND}}}{rate}))", "retries"),
                target(f"sum(rate(haproxy_backend_redispatch_warnings_total{{{BACKEND}}}{rate}))", "redispatches", "B")],
               unit="reqps"),
    ]
    return p, 21


def derive(base):
    d = copy.deepcopy(base)
    d["title"] = "helios-cache cluster"
    d["uid"] = "helios-cache-cluster"
    d["description"] = (
        "helios-cache nodes sharded by namespace behind HAProxy: every panel of the "
        "single-node dashboard summed over the nodes, plus per-node spread and the "
        "balancer's view. Generated by deploy/grafana/derive.py."
    )
    d["tags"] = sorted(set(d.get("tags", [])) | {"cluster"})

    # Every query of the base dashboard gets the cluster selector too.
    n = 0
    for panel in d["panels"]:
        for t in panel.get("targets", []):
            e = t["expr"]
            assert 'instance=~"$instance"' in e, f"unexpected selector in {e}"
            t["expr"] = e.replace('instance=~"$instance"', SEL)
            n += 1
    assert n >= 10, n

    # Variables: data source, then the scrape jobs and the cluster, then the
    # (now cluster-filtered) instance.
    variables = d["templating"]["list"]
    ds = [v for v in variables if v["name"] == "datasource"]
    inst = [v for v in variables if v["name"] == "instance"]
    assert len(ds) == 1 and len(inst) == 1
    inst = copy.deepcopy(inst[0])
    q = 'label_values(helios_cache_build_info{cluster=~"$cluster"}, instance)'
    inst["query"] = {"query": q, "refId": "instance"}
    inst["definition"] = q
    cluster = {
        "name": "cluster",
        "label": "Cluster",
        "type": "query",
        "datasource": DS,
        "query": {"query": "label_values(helios_cache_build_info, cluster)", "refId": "cluster"},
        "definition": "label_values(helios_cache_build_info, cluster)",
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "refresh": 2,
        "current": {},
        "hide": 0,
        "sort": 1,
    }

    def textbox(name, label, value):
        return {
            "name": name,
            "label": label,
            "type": "textbox",
            "query": value,
            "current": {"text": value, "value": value},
            "hide": 0,
        }

    d["templating"]["list"] = [
        ds[0],
        textbox("node_job", "Nodes' scrape job", "helios-cache"),
        textbox("balancer_job", "Balancer's scrape job", "helios-balancer"),
        cluster,
        inst,
    ]

    # The Cluster row goes right after the Overview row's stats.
    panels = d["panels"]
    first_row_after = next(
        p for p in panels if p["type"] == "row" and p["gridPos"]["y"] > 0
    )
    y0 = first_row_after["gridPos"]["y"]
    new, height = cluster_row(y0)
    for p in panels:
        if p["gridPos"]["y"] >= y0:
            p["gridPos"]["y"] += height
    ids = {p["id"] for p in panels}
    assert not ids & {p["id"] for p in new}, "panel ids collide"
    d["panels"] = [p for p in panels if p["gridPos"]["y"] < y0] + new + [
        p for p in panels if p["gridPos"]["y"] >= y0 + height
    ]
    d["panels"].sort(key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    return d


def main():
    text = json.dumps(derive(json.loads(BASE.read_text())), indent=2) + "\n"
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit(f"{OUT} is stale: run python3 deploy/grafana/derive.py")
        print(f"{OUT.name} is up to date")
        return
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
