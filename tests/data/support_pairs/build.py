#!/usr/bin/env python3
"""Build and validate the authored support-style pair set (owns pairs.jsonl).

Reads the hand-written sources in authored/{en,ko}_{hits,traps}.txt ("a || b" lines under
"## <category>" headers), assigns ids and a deterministic dev/test split, writes pairs.jsonl,
then validates it (valid JSON, schema, no a==b, no duplicate (a,b) in either order) and prints
counts. Standard library only. Usage: python3 build.py [--check-only]
"""
import collections
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = [("en", 1, "en_hits.txt"), ("en", 0, "en_traps.txt"),
           ("ko", 1, "ko_hits.txt"), ("ko", 0, "ko_traps.txt")]
HIT_CATS = ["paraphrase", "reorder", "politeness", "near_repeat", "synonym", "voice", "question_form"]
TRAP_CATS = ["negation", "entity", "number", "date_time", "scope", "order", "antonym", "action", "unit"]
EXPECTED = {("en", 1): 400, ("en", 0): 400, ("ko", 1): 150, ("ko", 0): 150}


def split_for(n):
    """n is the 1-based position inside (lang, label, category): 2 of every 5 go to dev."""
    return "dev" if n % 5 in (1, 3) else "test"


def parse(lang, label, fname):
    rows, cat, counter = [], None, collections.Counter()
    with open(os.path.join(HERE, "authored", fname), encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("## "):
                cat = line[3:].strip()
                allowed = HIT_CATS if label == 1 else TRAP_CATS
                assert cat in allowed, f"{fname}:{lineno}: unknown category {cat!r}"
                continue
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split(" || ")
            assert len(parts) == 2, f"{fname}:{lineno}: expected exactly one ' || ': {line!r}"
            a, b = parts[0].strip(), parts[1].strip()
            assert cat, f"{fname}:{lineno}: pair before any category header"
            counter[cat] += 1
            n = counter[cat]
            kind = "hit" if label == 1 else "trap"
            rows.append({"a": a, "b": b, "label": label, "lang": lang, "category": cat,
                         "split": split_for(n), "id": f"{lang}-{kind}-{cat}-{n:03d}"})
    return rows


def validate(path):
    rows, errors = [], []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"line {i}: invalid JSON: {e}")
                continue
            rows.append(r)
    keys = {"a", "b", "label", "lang", "category", "split", "id"}
    seen_pairs, seen_ids = set(), set()
    for r in rows:
        if set(r) != keys:
            errors.append(f"{r.get('id')}: keys {sorted(r)}")
        if not (isinstance(r["a"], str) and isinstance(r["b"], str) and r["a"] and r["b"]):
            errors.append(f"{r['id']}: empty or non-string text")
        if r["a"] == r["b"]:
            errors.append(f"{r['id']}: a == b")
        if r["label"] not in (0, 1) or r["lang"] not in ("en", "ko") or r["split"] not in ("dev", "test"):
            errors.append(f"{r['id']}: bad label/lang/split")
        cats = HIT_CATS if r["label"] == 1 else TRAP_CATS
        if r["category"] not in cats:
            errors.append(f"{r['id']}: category {r['category']} not valid for label {r['label']}")
        key = frozenset([r["a"], r["b"]])
        if key in seen_pairs:
            errors.append(f"{r['id']}: duplicate pair (either order)")
        seen_pairs.add(key)
        if r["id"] in seen_ids:
            errors.append(f"{r['id']}: duplicate id")
        seen_ids.add(r["id"])
    by = collections.Counter((r["lang"], r["label"]) for r in rows)
    for k, v in EXPECTED.items():
        if by[k] != v:
            errors.append(f"count {k}: {by[k]} != {v}")
    return rows, errors


def report(rows):
    print(f"total pairs: {len(rows)}")
    t = collections.Counter((r["lang"], r["label"], r["split"]) for r in rows)
    for lang in ("en", "ko"):
        for label in (1, 0):
            print(f"  {lang} label={label}: dev={t[(lang, label, 'dev')]} test={t[(lang, label, 'test')]}"
                  f" total={t[(lang, label, 'dev')] + t[(lang, label, 'test')]}")
    c = collections.Counter((r["lang"], r["label"], r["category"], r["split"]) for r in rows)
    print("\n| label | category | en dev | en test | ko dev | ko test |")
    print("|---|---|---|---|---|---|")
    for label, cats in ((1, HIT_CATS), (0, TRAP_CATS)):
        for cat in cats:
            cells = [c[(l, label, cat, s)] for l in ("en", "ko") for s in ("dev", "test")]
            print(f"| {label} | {cat} | " + " | ".join(map(str, cells)) + " |")
    words = [len(x.split()) for r in rows if r["lang"] == "en" for x in (r["a"], r["b"])]
    print(f"\nEnglish length in words: min={min(words)} max={max(words)} "
          f"mean={sum(words) / len(words):.1f}")


def main():
    out = os.path.join(HERE, "pairs.jsonl")
    if "--check-only" not in sys.argv:
        rows = []
        for lang, label, fname in SOURCES:
            if os.path.exists(os.path.join(HERE, "authored", fname)):
                rows.extend(parse(lang, label, fname))
        with open(out, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    rows, errors = validate(out)
    report(rows)
    for e in errors:
        print("ERROR:", e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
