"""Reference (numpy, unpadded, one pair at a time) forward pass of the pair verifier.

Owns the exact inference recipe that the Rust module `src/cache/l3/verify.rs` mirrors: tokenisation, the
token-vector lookup, the alignment model and the pair features. train.py trains the same function
in padded/batched JAX form; parity between the two is checked in train.py and against Rust through
`rust/parity.json`.

Recipe (per text): text lower-cased if config["lowercase"]; ids = tokenizer.encode(text, add_special_tokens=False).ids, drop ids listed in
config["skip_ids"] (unknown / bare word-boundary pieces), keep the first config["max_len"].
Either side empty -> score 0.0.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WEIGHT_NAMES = ["emb", "wf", "bf", "w1", "b1", "w2", "b2", "w3", "b3", "w4", "b4", "scal"]
# scal = [exact_bonus, sim_scale] used inside the attention logits
N_TOKFEAT = 5   # maxsim, exact, dprev, dnext, posdiff
N_PAIRFEAT = 6  # cos(mean), exact frac min/max, maxsim mean min/max, length ratio


def relu(x):
    return np.maximum(x, 0.0)


def side(X, Y, ida, idb, Fx, Fy, S, W):
    """Compare every token of X with its soft-aligned counterpart in Y. Returns V [n,H] and stats."""
    n, m = X.shape[0], Y.shape[0]
    ex = (ida[:, None] == idb[None, :]).astype(np.float32)
    e = Fx @ Fy.T + W["scal"][0] * ex + W["scal"][1] * S
    e = e - e.max(axis=1, keepdims=True)
    a = np.exp(e)
    a = a / a.sum(axis=1, keepdims=True)
    beta = a @ Y
    rho = a @ np.arange(m, dtype=np.float32)
    maxsim = S.max(axis=1)
    exact = ex.max(axis=1)
    dprev = np.zeros(n, np.float32)
    dnext = np.zeros(n, np.float32)
    if n > 1:
        d = np.clip(rho[1:] - rho[:-1] - 1.0, -3.0, 3.0)
        dprev[1:] = d
        dnext[:-1] = d
    pos = np.arange(n, dtype=np.float32) / max(1, n - 1)
    posdiff = np.abs(pos - rho / max(1, m - 1))
    g = np.concatenate([X, beta, X * beta, np.stack([maxsim, exact, dprev, dnext, posdiff], 1)], 1)
    h = relu(g @ W["w1"] + W["b1"])
    V = relu(h @ W["w2"] + W["b2"])
    return V, maxsim, exact


def forward(ida, idb, W):
    """ida, idb: int arrays of kept token ids (non-empty). Returns P(fits) in 0..1 (float32 math)."""
    E = W["emb"]
    X, Y = E[ida], E[idb]
    Fx = relu(X @ W["wf"] + W["bf"])
    Fy = relu(Y @ W["wf"] + W["bf"])
    S = X @ Y.T
    VA, msA, exA = side(X, Y, ida, idb, Fx, Fy, S, W)
    VB, msB, exB = side(Y, X, idb, ida, Fy, Fx, S.T, W)
    mA, mB = VA.mean(0), VB.mean(0)
    MA, MB = VA.max(0), VB.max(0)
    ma, mb = X.mean(0), Y.mean(0)
    cos = float(ma @ mb / (np.linalg.norm(ma) * np.linalg.norm(mb) + 1e-6))
    n, m = len(ida), len(idb)
    pf = np.array([cos, min(exA.mean(), exB.mean()), max(exA.mean(), exB.mean()),
                   min(msA.mean(), msB.mean()), max(msA.mean(), msB.mean()), min(n, m) / max(n, m)],
                  np.float32)
    hin = np.concatenate([mA + mB, np.abs(mA - mB), MA + MB, np.abs(MA - MB), pf])
    h = relu(hin @ W["w3"] + W["b3"])
    z = float(h @ W["w4"] + W["b4"][0])
    return 1.0 / (1.0 + np.exp(-z))


class Verifier:
    def __init__(self, d: str | Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
        d = Path(d)
        self.cfg = json.loads((d / "config.json").read_text())
        raw = load_file(str(d / "model.safetensors"))
        self.W = {k: v.astype(np.float32) for k, v in raw.items()}
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()
        self.skip = set(self.cfg["skip_ids"])
        self.max_len = self.cfg["max_len"]

    def ids(self, text: str):
        if self.cfg.get("lowercase"):
            text = text.lower()
        enc = self.tok.encode(text, add_special_tokens=False)
        return np.array([i for i in enc.ids if i not in self.skip][: self.max_len], np.int64)

    def score(self, a: str, b: str) -> float:
        ia, ib = self.ids(a), self.ids(b)
        if len(ia) == 0 or len(ib) == 0:
            return 0.0
        return float(forward(ia, ib, self.W))
