"""Shared helpers of scripts/bench-peers: /proc CPU and RSS of a process, latency
percentiles, the prepared work files (texts, queries, vectors) and a timed query pass.

Owns nothing but measurement plumbing, so that helios and every peer are measured
by the same code. Loopback only; standard library plus numpy.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """CPU time of a process, all threads, in seconds: the sum of the per-thread
    /proc/<pid>/task/*/schedstat run times (nanoseconds; /proc/<pid>/stat's utime+stime
    tick at 10 ms, too coarse for a few thousand requests), falling back to stat."""
    try:
        total = 0
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except FileNotFoundError:
                pass
        return total / 1e9
    except (FileNotFoundError, PermissionError, ValueError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pct(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return float("nan")
    i = min(len(sorted_ms) - 1, max(0, int(round(p / 100 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[i]


def summarise(lat_ms: list[float], wall_s: float, cpu_delta_s: float | None) -> dict:
    s = sorted(lat_ms)
    n = len(s)
    return {
        "n": n,
        "rps": n / wall_s if wall_s > 0 else float("nan"),
        "p50_ms": pct(s, 50),
        "p99_ms": pct(s, 99),
        "cpu_us_per_req": (cpu_delta_s / n * 1e6) if (cpu_delta_s is not None and n) else None,
    }


class Work:
    """The files bench_peers.py prepares in its work directory:
    data.json  {"stored": [texts], "queries": [{"text", "kind": "para"|"unrel", "expect": i|null}]}
    vecs.npy   float32 rows: stored texts first, then the queries (same order), L2-normalised,
               computed once by the Python twin of helios's bundled encoder."""

    def __init__(self, work: str | Path):
        import numpy as np

        self.dir = Path(work)
        d = json.loads((self.dir / "data.json").read_text())
        self.stored: list[str] = d["stored"]
        self.queries: list[dict] = d["queries"]
        self.threshold: float = d["threshold"]
        self.vecs = np.load(self.dir / "vecs.npy")
        self.row = {t: i for i, t in enumerate(self.stored)}
        for j, q in enumerate(self.queries):
            self.row.setdefault(q["text"], len(self.stored) + j)

    def vec(self, text: str):
        return self.vecs[self.row[text]]


def answer_of(i: int) -> str:
    return f"answer {i}"


def run_pass(queries: list[dict], ask, server_pid: int | None = None,
             limit_s: float | None = None) -> dict:
    """One sequential pass (concurrency 1) over the queries, stopped after limit_s seconds
    (the queries are shuffled, so a prefix keeps the mix). `ask(query) -> answer or None`.
    CPU per request: the server process's /proc delta, or this process's own CPU
    when server_pid is None (in-process libraries)."""
    lat, para_hit, para_right, unrel_hit = [], 0, 0, 0
    c0 = cpu_s(server_pid) if server_pid else time.process_time()
    t0 = time.perf_counter()
    n_para = 0
    for q in queries:
        if limit_s is not None and time.perf_counter() - t0 > limit_s:
            break
        n_para += q["kind"] == "para"
        a = time.perf_counter()
        ans = ask(q)
        lat.append((time.perf_counter() - a) * 1000)
        if q["kind"] == "para":
            para_hit += ans is not None
            para_right += ans == answer_of(q["expect"])
        else:
            unrel_hit += ans is not None
    wall = time.perf_counter() - t0
    c1 = cpu_s(server_pid) if server_pid else time.process_time()
    out = summarise(lat, wall, c1 - c0)
    out["para_hit"] = para_hit / max(1, n_para)
    out["para_right"] = para_right / max(1, n_para)
    out["unrel_hit"] = unrel_hit / max(1, len(lat) - n_para)
    return out
