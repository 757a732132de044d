#!/usr/bin/env python3
"""RedisVL 0.28 SemanticCache side of scripts/bench-peers, against a Redis Stack server
(RediSearch with vector fields) that the driver started on 127.0.0.1.

Stores the first N stored texts of the work dir with `SemanticCache.store(prompt,
response, vector=...)` (RedisVL's cache index: HASH documents, FLAT cosine vector field),
then RUNS sequential passes of `SemanticCache.check(prompt, vector=..., num_results=1)`;
CPU per request is the Redis server's (/proc of SERVER_PID); the client's own CPU is
reported beside it. Vectors: the same precomputed ones GPTCache gets (see
peer_gptcache.py); the CustomVectorizer only answers RedisVL's own dimension probe.
distance_threshold = 1 - T (Redis COSINE distance).

Usage: peer_redisvl.py WORK N RUNS REDIS_URL SERVER_PID OUT [PASS_LIMIT_S]
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import Work, answer_of, run_pass  # noqa: E402

work_dir, n, runs, url, spid, out = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                     sys.argv[4], int(sys.argv[5]), sys.argv[6])
limit_s = float(sys.argv[7]) if len(sys.argv) > 7 else None
w = Work(work_dir)

from redisvl.extensions.cache.llm import SemanticCache  # noqa: E402
from redisvl.utils.vectorize import CustomVectorizer  # noqa: E402

dims = int(w.vecs.shape[1])


def embed(text, **_):
    if text in w.row:
        return w.vec(text).tolist()
    return [0.0] * (dims - 1) + [1.0]  # RedisVL's dimension probe only


c = SemanticCache(name=f"peers{n}", distance_threshold=1 - w.threshold,
                  vectorizer=CustomVectorizer(embed=embed), redis_url=url, overwrite=True)
t0 = time.perf_counter()
for i in range(n):
    c.store(w.stored[i], answer_of(i), vector=w.vec(w.stored[i]).tolist())
fill_s = time.perf_counter() - t0
print(f"redisvl: stored {n} in {fill_s:.1f}s", file=sys.stderr, flush=True)


def ask(q):
    r = c.check(prompt=q["text"], vector=w.vec(q["text"]).tolist(), num_results=1)
    return r[0]["response"] if r else None


res = {"fill_s": fill_s, "fill_api": "store", "runs": []}
for _ in range(runs):
    p0 = time.process_time()
    r = run_pass(w.queries, ask, server_pid=spid, limit_s=limit_s)
    r["client_cpu_us_per_req"] = (time.process_time() - p0) / r["n"] * 1e6
    res["runs"].append(r)
with open(out, "w") as f:
    json.dump(res, f)
