#!/usr/bin/env python3
"""Evaluate a static (model2vec-format) embedding model on labeled text pairs.

Encode recipe (identical to what the Rust L3 layer must do):
  ids = tokenizer.encode(text, add_special_tokens=False).ids   # tokenizer.json normalizer lowercases,
                                                               # strips accents, splits CJK chars
  ids = [i for i in ids if i != unk_id]                        # drop [UNK]
  v   = mean(embeddings[ids]); v /= ||v||                      # zero vector if no ids left
  (with a `weights` tensor: v = sum(weights[id] * row(id)); with `mapping`: row(id) = mapping[id])

Reports, per pair set (--sets; default the English ones; --split picks the fixed train/dev/test
part): ROC-AUC, best-F1 threshold, P/R/F1 at 0.80/0.85/0.90/0.95;
a GPTCache-style "cache replay" on gptcache_mock; and [UNK]/coverage statistics for Korean vs English
texts (for the Rust-side "can this model represent the input?" guard).

Eval data is read from --data (default /work/shared/eval/data); nothing is copied.

  python tools/distill/eval_pairs.py --model assets/embedder/minilm-l6-static [--json out.json]
  python tools/distill/eval_pairs.py --model assets/embedder/multilingual-e5-small-static --quick \
      --split test --sets korean_question_pair,parakqc,pawsx_ko,korsts,stsb,mrpc,gptcache_qqp,gptcache_mock
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import unicodedata
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

THRESHOLDS = (0.80, 0.85, 0.90, 0.95)
EN_SETS = ("gptcache_mock", "mrpc", "stsb", "gptcache_qqp")
KO_SETS = ("korean_question_pair", "pawsx_ko", "korsts", "klue_sts", "parakqc")


class StaticEmbedder:
    """Python twin of src/embed/static_model.rs: optional `mapping` (id -> row) and `weights` (per id,
    multiplied into the row; the e5 model keeps its int8 row scales there); [UNK] ids dropped."""

    def __init__(self, model_dir: str | Path):
        d = Path(model_dir)
        t = load_file(str(d / "model.safetensors"))
        self.E = t["embeddings"].astype(np.float32)
        self.mapping = t["mapping"].astype(np.int64) if "mapping" in t else None
        self.weights = t["weights"].astype(np.float32) if "weights" in t else None
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()
        model = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))["model"]
        self.unk_id = model.get("unk_id") if model.get("type") == "Unigram" else None
        if self.unk_id is None:
            self.unk_id = self.tok.token_to_id(model.get("unk_token") or "[UNK]")
        # What static_model.rs finds today: it reads `model.unk_token`, which Unigram models lack.
        self.rust_unk_id = self.tok.token_to_id(model["unk_token"]) if model.get("unk_token") else None
        self.config = json.loads((d / "config.json").read_text())

    def encode_ids(self, texts: list[str]):
        return self.tok.encode_batch(list(texts), add_special_tokens=False)

    def vector(self, ids) -> np.ndarray | None:
        ids = np.array([i for i in ids if i != self.unk_id], dtype=np.int64)
        if not len(ids):
            return None
        rows = self.E[self.mapping[ids] if self.mapping is not None else ids]
        v = (rows * self.weights[ids][:, None]).sum(0) if self.weights is not None else rows.mean(0)
        n = np.linalg.norm(v)
        return v / n if n > 0 else None

    def encode(self, texts: list[str], batch: int = 4096) -> np.ndarray:
        out = np.zeros((len(texts), self.E.shape[1]), dtype=np.float32)
        for s in range(0, len(texts), batch):
            for j, enc in enumerate(self.encode_ids(texts[s:s + batch])):
                v = self.vector(enc.ids)
                if v is not None:
                    out[s + j] = v
        return out


SPLIT = "all"  # set by --split: all | train | dev | test (fixed split of /work/shared/eval/split.py)
SPLIT_PY = None


def load_pairs(data: Path, name: str, split: str | None = None) -> list[dict]:
    p = data / name / "pairs.jsonl"
    if not p.exists():
        p = data / name / "pairs.jsonl.gz"
    op = gzip.open if p.suffix == ".gz" else open
    with op(p, "rt", encoding="utf-8") as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    split = split or SPLIT
    if split != "all":
        import importlib.util
        spec = importlib.util.spec_from_file_location("eval_split", SPLIT_PY or data.parent / "split.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        pairs = [q for q, sp in zip(pairs, mod.split_of(pairs)) if sp == split]
    return pairs


def rust_refuses(text: str, enc, unk_id, fixed: bool, rust_unk_id=None) -> bool:
    """src/embed/static_model.rs `representable` as of this writing (fixed=False: the loader reads
    `model.unk_token`, which a Unigram tokenizer.json lacks, so no id counts as unknown), or with the
    proposed fix (fixed=True: Unigram `unk_id` counted; lone metaspace tokens left out of the
    per-span count). Python offsets are in chars, Rust's in bytes: same spans."""
    ids = enc.ids
    unk = unk_id if fixed else rust_unk_id
    unknown = sum(1 for i in ids if i == unk)
    if unknown == len(ids) or unknown * 4 > len(ids):
        return True
    per_span = {}
    for tokstr, span in zip(enc.tokens, enc.offsets):
        if fixed and tokstr == "\u2581":
            continue
        per_span[span] = per_span.get(span, 0) + 1
    shattered = sum(1 for (a, b), n in per_span.items() if n > 1 and len(text[a:b]) == 1)
    letters = sum(1 for ch in text if ch.isalpha())
    return letters >= 4 and shattered * 5 >= letters


def cosines(m, pairs) -> np.ndarray:
    texts = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs})
    idx = {t: i for i, t in enumerate(texts)}
    V = m.encode(texts)
    a = V[[idx[p["a"]] for p in pairs]]
    b = V[[idx[p["b"]] for p in pairs]]
    return (a * b).sum(1)


def prf(cos, y, t):
    pred = cos >= t
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def best_f1(cos, y):
    order = np.argsort(-cos)
    c, ys = cos[order], y[order]
    tp = np.cumsum(ys == 1)
    fp = np.cumsum(ys == 0)
    P = tp / (tp + fp)
    R = tp / max(1, (y == 1).sum())
    F = np.where(P + R > 0, 2 * P * R / np.maximum(P + R, 1e-12), 0)
    # only cut between distinct cosine values
    valid = np.r_[c[1:] != c[:-1], True]
    F = np.where(valid, F, -1)
    i = int(np.argmax(F))
    return float(c[i]), float(P[i]), float(R[i]), float(F[i])


def auc(cos, y):
    if (y == 1).all() or (y == 0).all():
        return None
    r = np.empty(len(cos))
    order = np.argsort(cos, kind="mergesort")
    r[order] = np.arange(1, len(cos) + 1)
    # average ranks for ties
    _, inv, cnt = np.unique(cos, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=r)
    r = (sums / cnt)[inv]
    n1, n0 = (y == 1).sum(), (y == 0).sum()
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def replay(m, pairs, thresholds):
    A = m.encode([p["a"] for p in pairs])
    B = m.encode([p["b"] for p in pairs])
    S = B @ A.T
    best = S.argmax(1)
    bcos = S[np.arange(len(B)), best]
    own = best == np.arange(len(B))
    rows = []
    for t in thresholds:
        hit = bcos >= t
        rows.append({"t": round(float(t), 2), "correct": int((hit & own).sum()),
                     "wrong": int((hit & ~own).sum()), "miss": int((~hit).sum())})
    return rows


def is_hangul(ch: str) -> bool:
    o = ord(ch)
    return (0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F
            or 0xA960 <= o <= 0xA97F or 0xD7B0 <= o <= 0xD7FF)


def coverage_stats(m, texts):
    """Per text: unk_tok = [UNK] tokens / all tokens; unk_char = chars inside [UNK] spans / non-space chars;
    jamo_tok = tokens that are (##)single Hangul jamo / all tokens; hangul_char = Hangul chars / non-space chars."""
    encs = m.encode_ids(texts)
    rows = []
    for t, e in zip(texts, encs):
        n = len(e.ids)
        nonspace = sum(1 for ch in t if not ch.isspace())
        unk = [k for k, i in enumerate(e.ids) if i == m.unk_id]
        unk_chars = sum(e.offsets[k][1] - e.offsets[k][0] for k in unk)
        jamo = sum(1 for tok in e.tokens if len(tok.replace("##", "")) == 1 and is_hangul(tok.replace("##", "")))
        rows.append((len(unk) / n if n else 1.0, unk_chars / nonspace if nonspace else 0.0,
                     jamo / n if n else 0.0, sum(map(is_hangul, t)) / nonspace if nonspace else 0.0,
                     (n - len(unk)) / n if n else 0.0))
    return np.array(rows)


def set_lang(pairs) -> str:
    langs = [p["lang"] for p in pairs]
    return max(set(langs), key=langs.count)


def main():
    global SPLIT, SPLIT_PY
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="/work/shared/eval/data")
    ap.add_argument("--json", help="write all numbers here")
    ap.add_argument("--quick", action="store_true",
                    help="skip the coverage statistics (and gptcache_qqp unless named in --sets)")
    ap.add_argument("--sets", default=",".join(EN_SETS),
                    help="comma list of pair sets (default: the English ones); gptcache_mock = replay")
    ap.add_argument("--split", default="all", choices=["all", "train", "dev", "test"],
                    help="evaluate only this part of the fixed split (../split.py next to --data)")
    ap.add_argument("--split-py", help="path of split.py (default: DATA/../split.py)")
    ap.add_argument("--grid", action="store_true", help="also store P/R/F1 at t = 0.50..0.99 (JSON)")
    ap.add_argument("--refusal", action="store_true",
                    help="count texts the Rust representability rule refuses (as is / fixed)")
    args = ap.parse_args()
    SPLIT, SPLIT_PY = args.split, args.split_py
    data = Path(args.data)
    m = StaticEmbedder(args.model)
    res = {"model": args.model, "config": m.config, "split": args.split, "sets": {}}
    sets = [x for x in args.sets.split(",") if x]
    grid = np.round(np.arange(0.50, 0.9901, 0.01), 2)

    print(f"model {args.model}: {m.E.shape} {m.config.get('dtype')}  split={args.split}")
    print(f"{'set':20s} {'n':>6s} {'AUC':>6s} | best-F1 t   P     R     F1  | " +
          " | ".join(f"@{t:.2f} P/R/F1" for t in THRESHOLDS))
    for name in sets:
        if name == "gptcache_mock" or (args.quick and name == "gptcache_qqp" and args.sets == ",".join(EN_SETS)):
            continue
        pairs = load_pairs(data, name)
        lang = set_lang(pairs)
        pairs = [p for p in pairs if p["lang"] == lang]
        cos = cosines(m, pairs)
        y = np.array([p["label"] for p in pairs])
        r = {"n": len(pairs), "pos": int(y.sum()), "lang": lang, "auc": auc(cos, y),
             "best_f1": dict(zip(("t", "p", "r", "f1"), best_f1(cos, y))) if (y == 0).any() else None,
             "at": {f"{t:.2f}": dict(zip(("p", "r", "f1"), prf(cos, y, t))) for t in THRESHOLDS}}
        if args.grid:
            r["grid"] = {f"{t:.2f}": dict(zip(("p", "r", "f1"), prf(cos, y, t))) for t in grid}
            r["cos_pos"] = np.sort(cos[y == 1]).tolist()
        if "score" in pairs[0]:
            s = np.array([p["score"] for p in pairs])
            r["spearman"] = float(np.corrcoef(np.argsort(np.argsort(cos)), np.argsort(np.argsort(s)))[0, 1])
        if args.refusal:
            texts = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs})
            encs = m.encode_ids(texts)
            r["refused_as_is"] = sum(rust_refuses(t, e, m.unk_id, False, m.rust_unk_id) for t, e in zip(texts, encs)) / len(texts)
            r["refused_fixed"] = sum(rust_refuses(t, e, m.unk_id, True) for t, e in zip(texts, encs)) / len(texts)
        res["sets"][name] = r
        bf = r["best_f1"]
        bfs = f"{bf['t']:.3f} {bf['p']:.3f} {bf['r']:.3f} {bf['f1']:.3f}" if bf else "  (positives only)  "
        print(f"{name:20s} {r['n']:6d} {r['auc'] or float('nan'):6.3f} | {bfs} | " + " | ".join(
            f"{v['p']:.2f}/{v['r']:.2f}/{v['f1']:.2f}" for v in r["at"].values())
            + (f"  spearman={r['spearman']:.3f}" if "spearman" in r else "")
            + (f"  refused as-is/fixed {r['refused_as_is']:.3f}/{r['refused_fixed']:.3f}" if args.refusal else ""))

    if "gptcache_mock" in sets:
        mock = load_pairs(data, "gptcache_mock")
        rows = replay(m, mock, np.round(np.arange(0.50, 0.9901, 0.01), 2))
        res["replay"] = rows
        print(f"cache replay gptcache_mock ({len(mock)} a's stored, query each b): t correct wrong miss")
        for r in rows:
            print(f"  {r['t']:.2f} {r['correct']:4d} {r['wrong']:4d} {r['miss']:4d}")

    if not args.quick:
        cov = {}
        for lang, lsets in (("en", EN_SETS), ("ko", KO_SETS)):
            texts = []
            for name in lsets:
                for p in load_pairs(data, name):
                    if p["lang"] == lang:
                        texts += [p["a"], p["b"]]
            texts = sorted(set(texts))
            cov[lang] = coverage_stats(m, texts)
        res["coverage"] = {}
        names = ("unk_tok_frac", "unk_char_frac", "jamo_tok_frac", "hangul_char_frac", "known_tok_frac")
        print("coverage stats (per text; percentiles p1/p5/p50/p95/p99, mean):")
        for lang, arr in cov.items():
            res["coverage"][lang] = {"n_texts": len(arr)}
            for k, nm in enumerate(names):
                q = np.percentile(arr[:, k], [1, 5, 50, 95, 99])
                res["coverage"][lang][nm] = {"pcts": [float(x) for x in q], "mean": float(arr[:, k].mean())}
                print(f"  {lang} {nm:16s} " + " ".join(f"{x:.3f}" for x in q) + f"  mean={arr[:, k].mean():.3f}")
        # how well single-feature thresholds separate ko (positive) from en
        res["separation"] = {}
        for k, nm in enumerate(names):
            x = np.r_[cov["ko"][:, k], cov["en"][:, k]]
            y = np.r_[np.ones(len(cov["ko"])), np.zeros(len(cov["en"]))]
            sign = -1 if nm == "known_tok_frac" else 1
            out = {}
            for t in (0.05, 0.1, 0.2, 0.3, 0.5):
                flag = sign * x >= sign * (1 - t if sign < 0 else t)
                out[f"{t}"] = {"ko_flagged": float(flag[y == 1].mean()), "en_flagged": float(flag[y == 0].mean())}
            res["separation"][nm] = out
        print("refusal rule 'feature >= t' (known_tok_frac: '<= 1-t'): fraction flagged ko / en")
        for nm, out in res["separation"].items():
            print(f"  {nm:16s} " + "  ".join(f"t={t}: {v['ko_flagged']:.3f}/{v['en_flagged']:.4f}" for t, v in out.items()))

    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
