#!/usr/bin/env python3
"""Projects a model2vec-format static token table into the verifier's own token-vector table.

Owns the verifier's copy of the token vectors: PCA of the source table to --dims, each row scaled to
unit length, stored F16 as `emb` later (train.py keeps it frozen). Also writes the verifier's
tokenizer.json (a copy of the source's, padding/truncation off) and the skip-id list (unknown piece,
bare word-boundary piece) into OUT/table.npz + OUT/tokenizer.json.

  python tools/verifier/prep_table.py --src assets/embedder/multilingual-e5-small-static --dims 64 --out /tmp/vt
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--dims", type=int, default=64)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    src, out = Path(a.src), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t = load_file(str(src / "model.safetensors"))
    E = t["embeddings"].astype(np.float64)
    if t["embeddings"].dtype == np.int8 and "weights" in t:  # int8 rows with a per-row scale
        E = E * t["weights"].astype(np.float64)[:, None]
    mu = E.mean(0)
    C = np.cov((E - mu).T)
    w, V = np.linalg.eigh(C)
    V = V[:, ::-1][:, : a.dims]
    # deterministic sign: largest-|.| loading of each component positive
    sgn = np.sign(V[np.abs(V).argmax(0), np.arange(V.shape[1])])
    V = V * sgn
    P = (E - mu) @ V
    P /= np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-9)
    P16 = P.astype(np.float16)
    tj = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    tj["padding"] = None
    tj["truncation"] = None
    (out / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    skip = []
    for s in ("[UNK]", "<unk>", "▁", "[PAD]", "<pad>", "[CLS]", "[SEP]", "<s>", "</s>"):
        i = tok.token_to_id(s)
        if i is not None:
            skip.append(int(i))
    skip = sorted(set(skip))
    np.savez(out / "table.npz", emb=P16)
    expl = float(w[::-1][: a.dims].sum() / w.sum())
    (out / "table.json").write_text(json.dumps({"src": str(src), "dims": a.dims, "vocab": int(E.shape[0]),
                                                "skip_ids": skip, "pca_explained": expl}, indent=1))
    print(json.dumps({"vocab": int(E.shape[0]), "skip_ids": skip, "pca_explained": round(expl, 4)}))


if __name__ == "__main__":
    main()
