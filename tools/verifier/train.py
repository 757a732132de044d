#!/usr/bin/env python3
"""Trains, calibrates and exports the L3 pair verifier (token-alignment classifier).

Owns the batched JAX form of the model in model_np.py, the training loop (Adam, fixed seeds,
one CPU thread), threshold calibration on DEV pairs, and the export of
assets/verifier/<name>/{model.safetensors,tokenizer.json,config.json}.

  python tools/verifier/train.py --table /tmp/vt --data /tmp/verifier-data --out assets/verifier/NAME
"""
from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import model_np  # noqa: E402

jax.config.update("jax_platforms", "cpu")
VERSION = "2"  # model generation: 2 = trained with the hand-written support pairs


# ---------------------------------------------------------------------------------------------
LOWERCASE = True  # texts are lower-cased before tokenisation (config "lowercase"); case rarely changes the answer


def encode_texts(tok, texts, skip, L):
    if LOWERCASE:
        texts = [t.lower() for t in texts]
    ids = np.full((len(texts), L), -1, np.int32)
    for k in range(0, len(texts), 8192):
        for j, enc in enumerate(tok.encode_batch(texts[k:k + 8192], add_special_tokens=False)):
            v = [i for i in enc.ids if i not in skip][:L]
            ids[k + j, : len(v)] = v
    return ids


def side(X, Y, ia, ib, ma, mb, Fx, Fy, S, scal):
    B, L, _ = X.shape
    big = -1e9
    ex = ((ia[:, :, None] == ib[:, None, :]) & (ma[:, :, None] > 0) & (mb[:, None, :] > 0)).astype(jnp.float32)
    e = jnp.einsum("bih,bjh->bij", Fx, Fy) + scal[0] * ex + scal[1] * S
    e = jnp.where(mb[:, None, :] > 0, e, big)
    a = jax.nn.softmax(e, axis=-1)
    beta = jnp.einsum("bij,bjd->bid", a, Y)
    ar = jnp.arange(L, dtype=jnp.float32)
    rho = jnp.einsum("bij,j->bi", a, ar)
    maxsim = jnp.where(mb[:, None, :] > 0, S, big).max(-1)
    exact = ex.max(-1)
    d = jnp.clip(rho[:, 1:] - rho[:, :-1] - 1.0, -3.0, 3.0) * ma[:, 1:]
    dprev = jnp.pad(d, ((0, 0), (1, 0)))
    dnext = jnp.pad(d, ((0, 0), (0, 1)))
    n = ma.sum(1)
    m = mb.sum(1)
    pos = ar[None, :] / jnp.maximum(1.0, n - 1)[:, None]
    posdiff = jnp.abs(pos - rho / jnp.maximum(1.0, m - 1)[:, None])
    return beta, maxsim, exact, dprev, dnext, posdiff


def forward(params, E, ia, ib):
    ma = (ia >= 0).astype(jnp.float32)
    mb = (ib >= 0).astype(jnp.float32)
    X = E[jnp.maximum(ia, 0)] * ma[..., None]
    Y = E[jnp.maximum(ib, 0)] * mb[..., None]
    Fx = jax.nn.relu(X @ params["wf"] + params["bf"])
    Fy = jax.nn.relu(Y @ params["wf"] + params["bf"])
    S = jnp.einsum("bid,bjd->bij", X, Y)
    n = ma.sum(1)
    m = mb.sum(1)

    def compare(X, ia, ma, Y, ib, mb, Fx, Fy, S):
        beta, maxsim, exact, dprev, dnext, posdiff = side(X, Y, ia, ib, ma, mb, Fx, Fy, S, params["scal"])
        g = jnp.concatenate([X, beta, X * beta, jnp.stack([maxsim, exact, dprev, dnext, posdiff], -1)], -1)
        h = jax.nn.relu(g @ params["w1"] + params["b1"])
        V = jax.nn.relu(h @ params["w2"] + params["b2"]) * ma[..., None]
        cnt = jnp.maximum(ma.sum(1), 1.0)
        return V.sum(1) / cnt[:, None], V.max(1), (maxsim * ma).sum(1) / cnt, (exact * ma).sum(1) / cnt

    mA, MA, msA, exA = compare(X, ia, ma, Y, ib, mb, Fx, Fy, S)
    mB, MB, msB, exB = compare(Y, ib, mb, X, ia, ma, Fy, Fx, jnp.swapaxes(S, 1, 2))
    xa = X.sum(1) / jnp.maximum(n, 1.0)[:, None]
    xb = Y.sum(1) / jnp.maximum(m, 1.0)[:, None]
    cos = (xa * xb).sum(1) / (jnp.linalg.norm(xa, axis=1) * jnp.linalg.norm(xb, axis=1) + 1e-6)
    pf = jnp.stack([cos, jnp.minimum(exA, exB), jnp.maximum(exA, exB), jnp.minimum(msA, msB),
                    jnp.maximum(msA, msB), jnp.minimum(n, m) / jnp.maximum(jnp.maximum(n, m), 1.0)], -1)
    hin = jnp.concatenate([mA + mB, jnp.abs(mA - mB), MA + MB, jnp.abs(MA - MB), pf], -1)
    h = jax.nn.relu(hin @ params["w3"] + params["b3"])
    return h @ params["w4"] + params["b4"][0]


def init_params(D, H, seed):
    rng = np.random.default_rng(seed)

    def glorot(i, o):
        return (rng.standard_normal((i, o)) * np.sqrt(2.0 / (i + o))).astype(np.float32)
    G = 3 * D + model_np.N_TOKFEAT
    P = 4 * H + model_np.N_PAIRFEAT
    return {"wf": glorot(D, H), "bf": np.zeros(H, np.float32),
            "w1": glorot(G, H), "b1": np.zeros(H, np.float32),
            "w2": glorot(H, H), "b2": np.zeros(H, np.float32),
            "w3": glorot(P, H), "b3": np.zeros(H, np.float32),
            "w4": (rng.standard_normal(H) * np.sqrt(1.0 / H)).astype(np.float32), "b4": np.zeros(1, np.float32),
            "scal": np.array([1.0, 1.0], np.float32)}


def load_pairs(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def recall_at_precision(s, y, target):
    o = np.argsort(-s, kind="mergesort")
    ys = y[o]
    tp = np.cumsum(ys == 1)
    fp = np.cumsum(ys == 0)
    P = tp / np.maximum(tp + fp, 1)
    R = tp / max(1, (y == 1).sum())
    ok = np.where(P >= target)[0]
    if len(ok) == 0:
        return 0.0, 1.0
    k = ok[np.argmax(R[ok])]
    return float(R[k]), float(s[o][k])


def auc(s, y):
    o = np.argsort(s, kind="mergesort")
    r = np.empty(len(s))
    r[o] = np.arange(1, len(s) + 1)
    n1, n0 = (y == 1).sum(), (y == 0).sum()
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / max(1, n1 * n0))


class Scorer:
    """Batched scoring with a fixed padded length (jit-compiled once)."""

    def __init__(self, params, E, tok, skip, L, batch=512):
        self.params = {k: jnp.asarray(v) for k, v in params.items()}
        self.E = jnp.asarray(E)
        self.tok, self.skip, self.L, self.batch = tok, skip, L, batch
        self.f = jax.jit(lambda p, ia, ib: jax.nn.sigmoid(forward(p, self.E, ia, ib)))

    def score_ids(self, ia, ib):
        out = np.zeros(len(ia), np.float32)
        for k in range(0, len(ia), self.batch):
            a, b = ia[k:k + self.batch], ib[k:k + self.batch]
            nb = len(a)
            if nb < self.batch:
                a = np.concatenate([a, np.full((self.batch - nb, self.L), -1, np.int32)])
                b = np.concatenate([b, np.full((self.batch - nb, self.L), -1, np.int32)])
            out[k:k + nb] = np.asarray(self.f(self.params, a, b))[:nb]
        empty = (ia[:, 0] < 0) | (ib[:, 0] < 0)
        out[empty] = 0.0
        return out

    def score(self, A, B):
        return self.score_ids(encode_texts(self.tok, A, self.skip, self.L), encode_texts(self.tok, B, self.skip, self.L))


# ---------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default=None)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--real-weight", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--target-precision", type=float, default=0.95)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--ckpt", default=None, help="where the best epoch is saved (default /tmp/<out name>.ckpt.npz)")
    ap.add_argument("--from-ckpt", default=None, help="skip training: calibrate + export a checkpoint saved by a run")
    ap.add_argument("--support", default="tests/data/support_pairs/pairs.jsonl",
                    help="hand-made support pairs; only split=dev rows are read (calibration / model choice)")
    a = ap.parse_args()
    t0 = time.time()
    tdir, out = Path(a.table), Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tinfo = json.loads((tdir / "table.json").read_text())
    E = np.load(tdir / "table.npz")["emb"].astype(np.float32)  # f16-rounded values, as shipped
    tok = Tokenizer.from_file(str(tdir / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    skip = set(tinfo["skip_ids"])
    L = a.max_len
    train = load_pairs(Path(a.data) / "train.jsonl")
    dev = load_pairs(Path(a.data) / "dev.jsonl")
    if a.limit:
        train = train[: a.limit]
    print(f"train {len(train)} dev {len(dev)}", flush=True)
    if a.from_ckpt:
        train = train[:1000]
    TA = encode_texts(tok, [r["a"] for r in train], skip, L)
    TB = encode_texts(tok, [r["b"] for r in train], skip, L)
    ty = np.array([r["label"] for r in train], np.float32)
    tw = np.array([1.0 if r["src"].startswith("gen:") else a.real_weight for r in train], np.float32)
    keep = (TA[:, 0] >= 0) & (TB[:, 0] >= 0)
    TA, TB, ty, tw = TA[keep], TB[keep], ty[keep], tw[keep]
    DA = encode_texts(tok, [r["a"] for r in dev], skip, L)
    DB = encode_texts(tok, [r["b"] for r in dev], skip, L)
    dy = np.array([r["label"] for r in dev])
    sup = []
    if a.support and Path(a.support).exists():
        sup = [r for r in load_pairs(a.support) if r.get("split") == "dev"]
    SA = encode_texts(tok, [r["a"] for r in sup], skip, L)
    SB = encode_texts(tok, [r["b"] for r in sup], skip, L)
    sy = np.array([r["label"] for r in sup])
    groups = dev_groups(dev, sup)
    print(f"encoded in {time.time() - t0:.0f}s; kept {keep.sum()}", flush=True)

    D = E.shape[1]
    params = {k: jnp.asarray(v) for k, v in init_params(D, a.hidden, a.seed).items()}
    Ej = jnp.asarray(E)

    def loss_fn(p, ia, ib, y, w):
        z = forward(p, Ej, ia, ib)
        l = jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z)))
        return (l * w).sum() / w.sum()

    b1, b2, eps = 0.9, 0.999, 1e-8

    @jax.jit
    def step(p, mstate, vstate, t, lr, ia, ib, y, w):
        l, g = jax.value_and_grad(loss_fn)(p, ia, ib, y, w)
        mstate = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, mstate, g)
        vstate = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, vstate, g)
        p = jax.tree_util.tree_map(lambda p, m, v: p - lr * (m / (1 - b1 ** t)) / (jnp.sqrt(v / (1 - b2 ** t)) + eps),
                                   p, mstate, vstate)
        return p, mstate, vstate, l

    mstate = jax.tree_util.tree_map(jnp.zeros_like, params)
    vstate = jax.tree_util.tree_map(jnp.zeros_like, params)
    rng = np.random.default_rng(a.seed)
    N = len(ty)
    steps_per_epoch = N // a.batch
    total = steps_per_epoch * a.epochs
    t = 0
    best = (-1.0, None, None)
    for ep in range(0 if a.from_ckpt else a.epochs):
        perm = rng.permutation(N)
        run = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * a.batch:(s + 1) * a.batch]
            t += 1
            lr = a.lr * min(1.0, t / 300) * (0.5 * (1 + np.cos(np.pi * t / total)) * 0.95 + 0.05)
            params, mstate, vstate, l = step(params, mstate, vstate, jnp.float32(t), jnp.float32(lr),
                                             TA[idx], TB[idx], ty[idx], tw[idx])
            run += float(l)
            if (s + 1) % 500 == 0:
                print(f"ep {ep} step {s + 1}/{steps_per_epoch} loss {run / 500:.4f} {time.time() - t0:.0f}s", flush=True)
                run = 0.0
        sc = Scorer({k: np.asarray(v) for k, v in params.items()}, E, tok, skip, L)
        ds = sc.score_ids(DA, DB)
        ss = sc.score_ids(SA, SB) if len(sup) else np.zeros(0)
        rep = group_report(ds, dy, ss, sy, groups, a.target_precision)
        r95 = float(np.mean([v[0] for v in rep.values()]))
        print(f"== epoch {ep}: dev AUC {auc(ds, dy):.4f} mean recall@P{a.target_precision} {r95:.4f} "
              + " ".join(f"{k}:{v[0]:.3f}@{v[1]:.3f}" for k, v in rep.items()) + f" {time.time() - t0:.0f}s", flush=True)
        if r95 > best[0]:
            best = (r95, {k: np.asarray(v) for k, v in params.items()}, ep)
            np.savez(a.ckpt or f"/tmp/{out.name}.ckpt.npz", **best[1])
    if a.from_ckpt:
        best = (0.0, {k: v for k, v in np.load(a.from_ckpt).items()}, "ckpt")
    params = best[1]
    print(f"best epoch {best[2]}", flush=True)
    sc = Scorer(params, E, tok, skip, L)
    ds = sc.score_ids(DA, DB)
    ss = sc.score_ids(SA, SB) if len(sup) else np.zeros(0)
    rep = group_report(ds, dy, ss, sy, groups, a.target_precision)
    # threshold: the strictest of the per-group thresholds that reach the target precision on DEV
    th = float(np.round(max(v[1] for k, v in rep.items() if k in CALIB_GROUPS), 3))
    # Korean-script queries: the Korean targets are korean_question_pair / parakqc, whose DEV
    # splits need a much lower cut for the same precision; shipped as an optional second operating point.
    th_ko = float(np.round(max(rep["korean_question_pair"][1], rep["parakqc"][1]), 3))
    rep["_threshold_hangul"] = (0.0, th_ko)
    print("calibration: " + json.dumps({k: [round(v[0], 4), round(v[1], 4)] for k, v in rep.items()}), flush=True)
    if len(sup):
        cats = sorted({r["category"] for r in sup})
        print("support dev mean score by category: " + " ".join(
            f"{c}:{np.mean([ss[i] for i in range(len(sup)) if sup[i]['category'] == c]):.2f}" for c in cats), flush=True)
    export(params, E, tdir, tinfo, out, a, dev, ds, th, rep, skip)


CALIB_GROUPS = ("support_dev", "korean_question_pair", "parakqc")


def dev_groups(dev, sup):
    key = np.array([r["src"] if not r["src"].startswith("gen:") else "gen_" + r["lang"] for r in dev])
    g = {k: key == k for k in ("korean_question_pair", "parakqc", "pawsx_ko", "stsb", "gen_en", "gen_ko")}
    for hand in sorted({k.split(":")[0] for k in key if ":" in k}):  # build_data.py's hand-written DEV shares
        g[hand] = np.char.startswith(key, hand + ":")
    if (key == "gptcache_mock").any():  # positives only: reported as the share scored above 0.5
        g["gptcache_mock_pos"] = key == "gptcache_mock"
    if sup:
        g["support_dev"] = None
    return g


def group_report(ds, dy, ss, sy, groups, target):
    rep = {}
    for k, m in groups.items():
        s, y = (ss, sy) if m is None else (ds[m], dy[m])
        rep[k] = (float((s >= 0.5).mean()), 0.5) if k == "gptcache_mock_pos" else recall_at_precision(s, y, target)
    return rep


def export(params, E, tdir, tinfo, out, a, dev, ds, th, rep, skip):
    from safetensors.numpy import save_file
    out.mkdir(parents=True, exist_ok=True)
    W = {"emb": E.astype(np.float16)}
    for k in model_np.WEIGHT_NAMES[1:]:
        W[k] = np.ascontiguousarray(np.asarray(params[k], np.float32))
    save_file(W, str(out / "model.safetensors"), metadata={"format": f"helios-verifier-v{VERSION}"})  # one key: safetensors writes a map in random order
    os.chmod(out / "model.safetensors", 0o644)
    (out / "tokenizer.json").write_bytes((tdir / "tokenizer.json").read_bytes())
    for f in ("LICENSE", "ATTRIBUTION.md"):
        (out / f).write_bytes((Path(__file__).resolve().parent / "templates" / f).read_bytes())
    name = a.name or out.name
    cfg = {"id": f"{name}-v{VERSION}", "architecture": "token-alignment pair classifier (decomposable attention "
           "with exact-match, order and position features)", "version": VERSION,
           "dims": int(E.shape[1]), "hidden": a.hidden, "max_len": a.max_len, "vocab_size": int(E.shape[0]),
           "skip_ids": sorted(int(i) for i in skip), "lowercase": LOWERCASE, "token_table": tinfo["src"],
           "threshold": th, "threshold_hangul": rep["_threshold_hangul"][1],
           "threshold_hangul_rule": f"max over DEV korean_question_pair / parakqc of the lowest score with precision >= {a.target_precision}; for queries containing Hangul (Verifier::threshold_for)",
           "threshold_rule": f"max over DEV groups {list(CALIB_GROUPS)} of the lowest score with precision >= {a.target_precision}",
           "dev_recall_at_target": {k: round(v[0], 4) for k, v in rep.items() if not k.startswith("_")},
           "dev_threshold_at_target": {k: round(v[1], 4) for k, v in rep.items() if not k.startswith("_")},
           "n_tokfeat": model_np.N_TOKFEAT, "n_pairfeat": model_np.N_PAIRFEAT,
           "train": {"epochs": a.epochs, "batch": a.batch, "lr": a.lr, "seed": a.seed, "real_weight": a.real_weight}}
    (out / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    # parity: numpy reference on the exported files vs the batched JAX scorer, on dev pairs
    v = model_np.Verifier(out)
    idx = np.random.default_rng(0).choice(len(dev), size=min(200, len(dev)), replace=False)
    diffs = [abs(v.score(dev[i]["a"], dev[i]["b"]) - ds[i]) for i in idx]
    print(f"threshold {th}; numpy-vs-jax max |diff| on 200 dev pairs: {max(diffs):.2e}", flush=True)


if __name__ == "__main__":
    main()
