#!/usr/bin/env python3
"""GPTCache 0.1.44 side of scripts/bench-peers: sqlite + faiss, in process and behind its
own server (gptcache_server's FastAPI app, served by uvicorn on 127.0.0.1).

One process: builds the cache with the first N stored texts of the work dir
(`import_data`, sqlite scalar store + faiss `IDMap,Flat` L2 index, 256 dims), runs
RUNS sequential in-process passes of `gptcache.adapter.api.get` over the queries, writes
them to OUT, prints `READY <pid>` and then serves gptcache_server.server.app on PORT
with the same cache until killed (the driver measures that over HTTP).

Embedding: GPTCache's default (an ONNX model fetched from a model hub) cannot be
downloaded here, and its server CLI only knows hub-backed embeddings, so the cache is
initialised in code with an embedding function that returns the precomputed vector of
the text (helios's bundled encoder, computed once by bench_peers.py): the same vectors
RedisVL gets. Embedding therefore costs the peers a dict lookup; helios embeds in line.

Threshold: GPTCache's SearchDistanceEvaluation scores 4 - d (d = squared L2 distance
from faiss, = 2 - 2 cos for unit vectors) and hits when score >= 4 * similarity_threshold;
cos >= T  <=>  similarity_threshold = 1 - (2 - 2T) / 4.

Usage: peer_gptcache.py WORK N RUNS PORT OUT [PASS_LIMIT_S]
"""
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from common import Work, answer_of, rss_mib, run_pass  # noqa: E402

work_dir, n, runs, port, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
limit_s = float(sys.argv[6]) if len(sys.argv) > 6 else None
w = Work(work_dir)
assert n <= len(w.stored)

from gptcache import Config, cache  # noqa: E402
from gptcache.adapter.api import get, init_similar_cache  # noqa: E402
from gptcache.manager import manager_factory  # noqa: E402
from gptcache.processor.pre import get_prompt  # noqa: E402
from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation  # noqa: E402


class Precomputed:
    """GPTCache embedding object: `to_embeddings(text)` and `dimension`."""

    dimension = int(w.vecs.shape[1])

    @staticmethod
    def to_embeddings(text, **_):
        return np.asarray(w.vec(text), dtype=np.float32)


data_dir = os.path.join(work_dir, f"gptcache-{n}")
os.makedirs(data_dir, exist_ok=True)
# eviction (in-memory LRU bookkeeping, default max_size 1000) sized above N: nothing evicted
dm = manager_factory("sqlite,faiss", data_dir=data_dir,
                     vector_params={"dimension": Precomputed.dimension},
                     eviction_params={"max_size": n + len(w.queries) + 1000})
sim = 1 - (2 - 2 * w.threshold) / 4
init_similar_cache(data_dir=data_dir, pre_func=get_prompt, embedding=Precomputed(),
                   data_manager=dm, evaluation=SearchDistanceEvaluation(),
                   config=Config(similarity_threshold=sim))

t0 = time.perf_counter()
B = 10000
for s in range(0, n, B):
    texts = w.stored[s:min(n, s + B)]
    cache.import_data(texts, [answer_of(s + i) for i in range(len(texts))])
fill_s = time.perf_counter() - t0
print(f"gptcache: imported {n} in {fill_s:.1f}s", file=sys.stderr, flush=True)

res = {"fill_s": fill_s, "fill_api": "import_data", "rss_mib": rss_mib(os.getpid()),
       "similarity_threshold": sim, "runs": []}
for _ in range(runs):
    res["runs"].append(run_pass(w.queries, lambda q: get(q["text"]), limit_s=limit_s))
res["rss_mib_after"] = rss_mib(os.getpid())
with open(out, "w") as f:
    json.dump(res, f)

import gptcache_server.server as server  # noqa: E402  (its FastAPI app; uses the global `cache`)
import uvicorn  # noqa: E402

print(f"READY {os.getpid()}", flush=True)
uvicorn.run(server.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
