#!/usr/bin/env python3
"""Measures an exported verifier on TEST splits (never trained or tuned on) and writes RESULTS tables.

Owns the reported numbers: per public set's TEST split (split.py), precision / recall at the
config.json threshold (verifier alone, and behind a loose cosine gate of the L3 embedder), AUC and
the best recall at precision >= 0.95; the gptcache_mock cache replay (store every `a`, look up
every `b`; top-5 index candidates above the gate, the one with the highest verifier score is served
if it passes); and the hand-made support set (tests/data/support_pairs, its test split) if present.

  python tools/verifier/eval.py --model assets/verifier/NAME --embedder assets/embedder/X --json out.json
"""
from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import train as T  # noqa: E402

SETS = [("korean_question_pair", "ko"), ("parakqc", "ko"), ("pawsx_ko", "ko"), ("korsts", "ko"), ("klue_sts", "ko"),
        ("stsb", "en"), ("mrpc", "en"), ("gptcache_qqp", "en")]
TRAINED_ON = {"korean_question_pair", "parakqc", "pawsx_ko", "korsts", "klue_sts", "stsb"}


def load_verifier(d: Path):
    cfg = json.loads((d / "config.json").read_text())
    W = {k: v.astype(np.float32) for k, v in load_file(str(d / "model.safetensors")).items()}
    E = W.pop("emb")
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return T.Scorer(W, E, tok, set(cfg["skip_ids"]), cfg["max_len"]), cfg


class Embedder:
    """The L3 static embedder (model2vec format): mean of token rows, L2-normalised."""

    def __init__(self, d: Path):
        t = load_file(str(d / "model.safetensors"))
        self.E = t["embeddings"].astype(np.float32)
        if t["embeddings"].dtype == np.int8 and "weights" in t:  # int8 rows with a per-row scale
            self.E = self.E * t["weights"].astype(np.float32)[:, None]
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()
        self.skip = {i for i in (self.tok.token_to_id(s) for s in ("[UNK]", "<unk>")) if i is not None}

    def encode(self, texts):
        out = np.zeros((len(texts), self.E.shape[1]), np.float32)
        for j, enc in enumerate(self.tok.encode_batch(list(texts), add_special_tokens=False)):
            ids = [i for i in enc.ids if i not in self.skip]
            if ids:
                v = self.E[ids].mean(0)
                out[j] = v / max(np.linalg.norm(v), 1e-9)
        return out


def load_set(data: Path, name: str):
    p = data / name / "pairs.jsonl"
    if not p.exists():
        p = data / name / "pairs.jsonl.gz"
    op = gzip.open if p.suffix == ".gz" else open
    with op(p, "rt", encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def test_split(data: Path, name: str):
    sys.path.insert(0, str(data.parent))
    from split import split_of
    pairs = load_set(data, name)
    return [p for p, s in zip(pairs, split_of(pairs)) if s == "test"]


def pr(pred, y):
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 0.0), tp, fp


def replay(scorer, emb, pairs, gate, th, k=5):
    A = [p["a"] for p in pairs]
    B = [p["b"] for p in pairs]
    VA, VB = emb.encode(A), emb.encode(B)
    C = VB @ VA.T
    top = np.argsort(-C, axis=1, kind="mergesort")[:, :k]
    qa, qb, qi = [], [], []
    for i in range(len(B)):
        for j in top[i]:
            if C[i, j] >= gate:
                qa.append(B[i]); qb.append(A[j]); qi.append((i, j))
    s = scorer.score(qa, qb) if qa else np.zeros(0)
    best = {}
    for (i, j), v in zip(qi, s):
        if v >= th and (i not in best or v > best[i][1]):
            best[i] = (j, v)
    correct = sum(1 for i, (j, _) in best.items() if A[j] == A[i])
    wrong = len(best) - correct
    # cosine-only baseline at the gate (top-1)
    top1 = top[:, 0]
    hit = C[np.arange(len(B)), top1] >= gate
    cc = int(sum(1 for i in range(len(B)) if hit[i] and A[top1[i]] == A[i]))
    return {"gate": gate, "threshold": th, "correct": correct, "wrong": wrong, "miss": len(B) - len(best),
            "cosine_only_at_gate": {"correct": cc, "wrong": int(hit.sum()) - cc, "miss": int((~hit).sum())}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--embedder", default=None, help="L3 embedder dir for the cosine gate / replay")
    ap.add_argument("--gates", default="0.7,0.8")
    ap.add_argument("--data", default="/work/shared/eval/data")
    ap.add_argument("--support", default="tests/data/support_pairs")
    ap.add_argument("--qqp-max", type=int, default=8000)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    data = Path(a.data)
    scorer, cfg = load_verifier(Path(a.model))
    th = cfg["threshold"]
    th_ko = cfg.get("threshold_hangul", th)
    emb = Embedder(Path(a.embedder)) if a.embedder else None
    gates = [float(g) for g in a.gates.split(",")]
    res = {"model": cfg["id"], "threshold": th, "sets": {}}
    print(f"| set (TEST split) | pairs (pos) | AUC | P / R @ t={th} | P / R @ t_hangul={th_ko} | best R @ P>=0.95 |"
          + "".join(f" gate {g} + verifier P / R |" for g in gates if emb))
    print("|---|---|---|---|---|---|" + "---|" * (len(gates) if emb else 0))
    for name, lang in SETS:
        pairs = test_split(data, name)
        if name == "gptcache_qqp" and len(pairs) > a.qqp_max:
            idx = np.random.default_rng(0).choice(len(pairs), a.qqp_max, replace=False)
            pairs = [pairs[i] for i in sorted(idx)]
        y = np.array([int(p["label"]) for p in pairs])
        s = scorer.score([p["a"] for p in pairs], [p["b"] for p in pairs])
        P, R, _, _ = pr(s >= th, y)
        r95, t95 = T.recall_at_precision(s, y, 0.95)
        Pk, Rk, _, _ = pr(s >= th_ko, y)
        row = {"pairs": len(pairs), "pos": int(y.sum()), "auc": T.auc(s, y), "precision": P, "recall": R,
               "precision_t_hangul": Pk, "recall_t_hangul": Rk, "best_recall_at_p95": r95, "t_at_p95": t95}
        line = (f"| {name}{'' if name in TRAINED_ON else ' (never trained on)'} | {len(pairs)} ({y.sum()}) | {row['auc']:.3f} | "
                f"{P:.3f} / {R:.3f} | {Pk:.3f} / {Rk:.3f} | {r95:.3f} (t={t95:.2f}) |")
        if emb:
            VA = emb.encode([p["a"] for p in pairs])
            VB = emb.encode([p["b"] for p in pairs])
            cos = (VA * VB).sum(1)
            row["gated"] = {}
            for g in gates:
                Pg, Rg, _, _ = pr((cos >= g) & (s >= th), y)
                Pc, Rc, _, _ = pr(cos >= g, y)
                row["gated"][str(g)] = {"precision": Pg, "recall": Rg, "cosine_only_precision": Pc, "cosine_only_recall": Rc}
                line += f" {Pg:.3f} / {Rg:.3f} (cos only {Pc:.2f}/{Rc:.2f}) |"
        res["sets"][name] = row
        print(line, flush=True)
    if emb:
        mock = load_set(data, "gptcache_mock")
        res["replay"] = [replay(scorer, emb, mock, g, t) for g in gates for t in sorted({th, 0.05, 0.1, 0.3, 0.5})]
        for r in res["replay"]:
            print(f"replay gptcache_mock (999, never trained on): gate {r['gate']}, verifier t={r['threshold']}: {r['correct']} correct / "
                  f"{r['wrong']} wrong / {r['miss']} miss; cosine only at the gate {r['cosine_only_at_gate']}")
    sp = Path(a.support)
    files = sorted(sp.glob("*.jsonl")) if sp.exists() else []
    rows = [json.loads(l) for f in files for l in open(f, encoding="utf-8") if l.strip()]
    rows = [r for r in rows if r.get("split") == "test"]
    if rows:
        res["support_test"] = {}
        for lang in ("en", "ko"):
            rr = [r for r in rows if r["lang"] == lang]
            y = np.array([int(r["label"]) for r in rr])
            s = scorer.score([r["a"] for r in rr], [r["b"] for r in rr])
            tl = th_ko if lang == "ko" else th
            P, R, tp, fp = pr(s >= tl, y)
            r95, t95 = T.recall_at_precision(s, y, 0.95)
            out = {"threshold": tl, "pairs": len(rr), "pos": int(y.sum()), "precision": P, "recall": R, "auc": T.auc(s, y),
                   "best_recall_at_p95": r95, "by_category": {}}
            Ps, Rs, tps, fps = pr(s >= th, y)
            out["at_default_threshold"] = {"precision": Ps, "recall": Rs}
            line = (f"support_pairs TEST {lang} (t={tl}; at default t={th}: P {Ps:.3f} R {Rs:.3f}): {len(rr)} pairs ({y.sum()} pos): P {P:.3f} R {R:.3f} "
                    f"(served {tp} good / {fp} wrong) AUC {out['auc']:.3f}; best R@P0.95 {r95:.3f}")
            if emb:
                cos = (emb.encode([r["a"] for r in rr]) * emb.encode([r["b"] for r in rr])).sum(1)
                for g in gates:
                    Pg, Rg, tpg, fpg = pr((cos >= g) & (s >= tl), y)
                    Pc, Rc, _, _ = pr(cos >= g, y)
                    out[f"gate_{g}"] = {"precision": Pg, "recall": Rg, "cosine_only_precision": Pc, "cosine_only_recall": Rc}
                    line += f"; gate {g}+verifier P {Pg:.3f} R {Rg:.3f} (cos only {Pc:.2f}/{Rc:.2f})"
            print(line)
            for c in sorted({r["category"] for r in rr}):
                m = np.array([r["category"] == c for r in rr])
                acc = float(((s[m] >= tl) == (y[m] == 1)).mean())
                out["by_category"][c] = {"n": int(m.sum()), "label": int(y[m][0]), "accuracy": acc}
            print("  " + " ".join(f"{c}({v['label']}):{v['accuracy']:.2f}" for c, v in out["by_category"].items()))
            res["support_test"][lang] = out
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
