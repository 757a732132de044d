#!/usr/bin/env python3
"""Builds the verifier's training / dev pair files from licence-allowed sets + rule-based edits.

Owns: which eval sets may be trained on (TRAIN split only, via /work/shared/eval/split.py), how
their labels map to "the cached answer fits", and how many generated pairs come from each split's
sentences (edits.py holds the rules). Dev pairs are built the same way from DEV splits, for early
stopping and threshold calibration. QQP, MRPC and gptcache_mock are never read here (evaluation only).

Hand-written pairs: the public sets hold almost no support-style requests, none of the
rewordings a cache must accept ("Where can I download my invoices?" / "How do I get copies of my
past invoices?"), few short chat follow-ups and few documentation statements. The pairs under
`tools/verifier/data/<set>/` (CC0-1.0, see its README) add them, each beside near-identical
traps. Each pair goes to TRAIN or DEV by a hash of its texts (`HAND_DEV_SHARE`); a TRAIN pair is
repeated `HAND_REPS` times, each copy but the first dressed with one neutral edit (edits.py's
positive rules for its language) on one side, so the model sees each request in several forms.

  python tools/verifier/build_data.py --out /tmp/verifier-data [--data /work/shared/eval/data]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import edits  # noqa: E402

TRAIN_SETS = {  # name -> licence (see DATA-LICENSES.md)
    "korean_question_pair": "MIT",
    "parakqc": "CC BY-SA 4.0",
    "pawsx_ko": "PAWS-X licence: free for any purpose",
    "korsts": "CC BY-SA 4.0",
    "klue_sts": "CC BY-SA 4.0",
    "stsb": "scores CC BY-SA 4.0; texts mixed (see DATA-LICENSES.md)",
}
SEED = 20261130
# STS-B (and KorSTS, its translation) texts carry their source's licence: train only on the
# CC BY-SA parts (image captions, SNLI subset, Stack Exchange forums); skip MSRpar / MSRvid
# (Microsoft Research terms), headlines (EMM) and deft (unclear).
STS_SETS = {"stsb", "korsts"}
STS_KEEP_FILES = {"images", "track5.en", "answers", "answer"}
HAND_DIR = Path(__file__).resolve().parent / "data"
HAND_DEV_SHARE = 0.15
HAND_REPS = {"train": 8, "dev": 1}


def sts_allowed(p) -> bool:
    parts = str(p.get("id", "")).split("-")
    return len(parts) > 3 and parts[3] in STS_KEEP_FILES


def load(data: Path, name: str):
    p = data / name / "pairs.jsonl"
    if not p.exists():
        p = data / name / "pairs.jsonl.gz"
    op = gzip.open if p.suffix == ".gz" else open
    with op(p, "rt", encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def splits(data: Path, name: str):
    sys.path.insert(0, str(data.parent))
    from split import split_of  # /work/shared/eval/split.py
    pairs = load(data, name)
    return pairs, split_of(pairs)


AUX_Q = re.compile(r"^(?:(The|A|An|Two|Three|Some|Many|This|That|These|Those|My|His|Her|Their|Our)\s+)?"
                   r"((?:\S+\s+){0,3}?)(is|are|was|were|can|will|has|have)\s+(.+?)[.!]?$")


def en_questionize(s: str, rng: random.Random) -> str:
    """General rule: turn a declarative 'X is Y.' into 'Is X Y?' (English only), else keep."""
    if s.rstrip().endswith("?") or s.split(" ", 1)[0].lower() in ("what", "who", "how", "why", "where", "when", "which"):
        return s
    m = AUX_Q.match(s.strip())
    if not m or rng.random() < 0.3:
        return s
    det, mid, aux, rest = m.group(1) or "", m.group(2) or "", m.group(3), m.group(4)
    subj = (det.lower() + " " + mid).strip()
    if not subj:
        return s
    return f"{aux.capitalize()} {subj} {rest}?"


def build(data: Path, split: str, rng: random.Random, gen_per_sent: float):
    real, sents_en, sents_ko = [], [], []
    for name in TRAIN_SETS:
        pairs, sp = splits(data, name)
        for p, s in zip(pairs, sp):
            if s != split or (name in STS_SETS and not sts_allowed(p)):
                continue
            lang = p.get("lang", "ko" if edits.is_ko(p["a"]) else "en")
            real.append({"a": p["a"], "b": p["b"], "label": int(p["label"]), "src": name, "lang": lang})
            for t in (p["a"], p["b"]):
                (sents_ko if edits.is_ko(t) else sents_en).append(t)
    sents_en = sorted(set(sents_en))
    sents_ko = sorted(set(sents_ko))
    return real, sents_en, sents_ko


def hand_split(p) -> str:
    """TRAIN or DEV for a hand-written pair, fixed by a hash of its two texts."""
    h = hashlib.sha256((p["a"] + "\x1f" + p["b"]).encode("utf-8")).digest()
    return "dev" if int.from_bytes(h[:4], "big") / 2**32 < HAND_DEV_SHARE else "train"


def hand_pairs(split: str, rng: random.Random, pools):
    """The split's hand-written pairs (every `data/<set>/*.jsonl`), repeated with neutral
    dressings (module docs); `src` is "<set>:<category>"."""
    out = []
    for path in sorted(HAND_DIR.glob("*/*.jsonl")):
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(l) for l in f if l.strip()]
        for p in rows:
            if hand_split(p) != split:
                continue
            ko = edits.is_ko(p["a"] + p["b"])
            rules = edits.KO_POS if ko else edits.EN_POS
            plain = " ".join(p["a"].split()), " ".join(p["b"].split())
            for rep in range(HAND_REPS[split]):
                a, b = plain
                if rep:
                    side = rng.randrange(2)
                    dressed, _ = edits._apply_one((a, b)[side], rules, rng, pools)
                    if dressed:
                        a, b = (dressed, b) if side == 0 else (a, dressed)
                if rng.random() < 0.5:
                    a, b = b, a
                out.append({"a": a, "b": b, "label": int(p["label"]),
                            "src": f"{path.parent.name}:{p.get('category', '')}", "lang": "ko" if ko else "en"})
    return out


def generate(sents_en, sents_ko, pools, rng, reps):
    out = []
    for sents, lang in ((sents_en, "en"), (sents_ko, "ko")):
        for _ in range(reps[lang]):
            for s in sents:
                s = " ".join(s.split())
                if len(s) < 4:
                    continue
                base = en_questionize(s, rng) if lang == "en" else s
                for a, b, y, rule in edits.make_pairs(base, rng, pools):
                    if rng.random() < 0.5:
                        a, b = b, a
                    out.append({"a": a, "b": b, "label": y, "src": "gen:" + rule, "lang": lang})
                if rng.random() < 0.04:  # exact repeats / trivial variants are positives too
                    out.append({"a": base, "b": base, "label": 1, "src": "gen:identical", "lang": lang})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/eval/data")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stats = {}
    for split, reps in (("train", {"en": 4, "ko": 2}), ("dev", {"en": 2, "ko": 1})):
        rng = random.Random(f"{SEED}-{split}")
        real, sen, sko = build(data, split, rng, 1.0)
        import wordnet
        pools = edits.Pools(sen, sko, wordnet.get())  # pools come from the same split's sentences only
        sen = sen + edits.en_template_questions(sen, rng, {"train": 16000, "dev": 2000}[split])
        gen = generate(sen, sko, pools, rng, reps)
        rows = real + gen + hand_pairs(split, rng, pools)
        rng.shuffle(rows)
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        from collections import Counter
        c = Counter((r["src"], r["label"]) for r in rows)
        stats[split] = {f"{k[0]}|{k[1]}": v for k, v in sorted(c.items())}
        stats[split]["_total"] = len(rows)
        stats[split]["_antonym_pairs"] = len(pools.en_antonyms)
    (out / "stats.json").write_text(json.dumps(stats, indent=1, ensure_ascii=False))
    print(json.dumps({k: v["_total"] for k, v in stats.items()}))


if __name__ == "__main__":
    main()
