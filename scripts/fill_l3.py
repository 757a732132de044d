#!/usr/bin/env python3
"""Fills a running helios-cache with L3 entries of real questions, over HTTP.

Reads the distinct questions of a QQP pairs file (JSONL, .gz ok; read in
place; beyond its ~137k distinct questions, composites of two of them, as
examples/index_recall.rs makes them), stores the first N of them (L3 only, small JSON responses) with
CONNECTIONS keep-alive connections, and writes WRK body files for lookups:
  lookup_l3.jsonl  stored texts, use_l2 false  (L3 hits by construction)
Usage: fill_l3.py BASE_URL PAIRS N OUT_DIR [CONNECTIONS=8]
Standard library only; talks to 127.0.0.1 only.
"""
import gzip, http.client, json, random, sys, threading, time, urllib.parse

base, pairs, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
conns = int(sys.argv[5]) if len(sys.argv) > 5 else 8
u = urllib.parse.urlparse(base)
assert u.hostname == "127.0.0.1", "loopback only"

opener = gzip.open if pairs.endswith(".gz") else open
seen, texts = set(), []
with opener(pairs, "rt") as f:
    for line in f:
        row = json.loads(line)
        for k in ("a", "b"):
            t = (row.get(k) or "").strip()
            if t and t not in seen:
                seen.add(t)
                texts.append(t)
real = len(texts)
# Composites: question i followed by another, fixed by i (distinct texts).
i = 0
while len(texts) < n:
    # Another partner in each round over the real questions.
    t = f"{texts[i % real]} {texts[(i * 7919 + 1 + (i // real) * 104729) % real]}"
    if t not in seen:
        seen.add(t)
        texts.append(t)
    i += 1
texts = texts[:n]
print(f"{len(texts)} distinct texts to store", flush=True)

lock = threading.Lock()
state = {"next": 0, "ok": 0, "l3": 0, "err": 0}

def worker():
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    while True:
        with lock:
            i = state["next"]
            if i >= len(texts):
                break
            state["next"] = i + 1
        body = json.dumps({
            "input_text": texts[i], "task_type": "qa",
            "response_data": {"answer": f"cached answer {i}"},
            "tokens_used": 200, "store_in_l1": False, "store_in_l2": False,
        })
        try:
            c.request("POST", "/api/v1/helios/cache/store", body,
                      {"content-type": "application/json"})
            r = c.getresponse()
            doc = json.loads(r.read())
            with lock:
                state["ok"] += r.status == 200
                state["l3"] += "L3_SEMANTIC_RAG" in doc.get("layers_stored", [])
        except Exception:
            with lock:
                state["err"] += 1
            c.close()
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

t0 = time.monotonic()
threads = [threading.Thread(target=worker) for _ in range(conns)]
for t in threads:
    t.start()
while any(t.is_alive() for t in threads):
    time.sleep(10)
    el = time.monotonic() - t0
    print(f"  t={el:.0f}s stored={state['ok']} ({state['ok']/el:.0f}/s)", flush=True)
for t in threads:
    t.join()
el = time.monotonic() - t0
print(f"stored {state['ok']} ({state['l3']} in L3, {state['err']} errors) in {el:.1f}s "
      f"({state['ok']/el:.0f} stores/s)", flush=True)

random.seed(7)
with open(f"{out}/lookup_l3.jsonl", "w") as f:
    for i in random.sample(range(len(texts)), min(5000, len(texts))):
        f.write(json.dumps({"input_text": texts[i], "task_type": "qa",
                            "use_l1": False, "use_l2": False}) + "\n")
