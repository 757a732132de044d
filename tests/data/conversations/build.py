#!/usr/bin/env python3
# Builds pairs.jsonl (labelled chat-pair set for conversation cache keying, issue 11) from the
# hand-written scenarios in scenarios_en.py / scenarios_ko.py and fillers.py, then validates it.
# Deterministic: same inputs give a byte-identical pairs.jsonl. Run: python3 build.py [--check]
import collections
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fillers  # noqa: E402
import scenarios_en  # noqa: E402
import scenarios_ko  # noqa: E402

HIT = ["reworded_history", "longer_history", "same_context_reworded_final",
       "exact_repeat_different_chatter", "standalone_vs_context"]
TRAP = ["different_subject", "changed_detail", "flipped_intent", "different_final"]
# per-language targets per category
TARGET = {"en": {"hit": 40, "trap": 50}, "ko": {"hit": 12, "trap": 15}}


def fill(t, sc, d, f):
    s = t.replace("{d}", sc["d"][d]).replace("{f}", sc["f"][f])
    if t.startswith("{"):
        s = s[:1].upper() + s[1:]
    # a slot value placed after a sentence end starts a sentence ("... Paris. We're")
    return re.sub(r"([.?!] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), s)


def msg(role, content):
    return {"role": role, "content": content}


def conv(sc, key="ctx", d=0, f=0, final=None, pre=(), mid=(), prefix=""):
    out = []
    if sc.get("sys"):
        out.append(msg("system", sc["sys"]))
    for u, a in pre:
        out += [msg("user", u), msg("assistant", a)]
    body = [msg("user" if i % 2 == 0 else "assistant", fill(t, sc, d, f)) for i, t in enumerate(sc[key])]
    if prefix:
        body[0]["content"] = prefix + body[0]["content"]
    out += body
    for u, a in mid:
        out += [msg("user", u), msg("assistant", a)]
    out.append(msg("user", sc["final"] if final is None else final))
    return out


def ctx_pairs(sc, key="ctx", d=0, f=0):
    """A scenario's context as (user, assistant) pairs, for use as earlier history."""
    t = [fill(x, sc, d, f) for x in sc[key]]
    return list(zip(t[0::2], t[1::2]))


def pick_filler(rng, F, n_pairs):
    """n_pairs of greeting/topic/talk pairs, greeting first, in a natural order."""
    pairs = [rng.choice(F["greet"])]
    topics = rng.sample(F["topics"], len(F["topics"]))
    talk = rng.sample(F["talk"], len(F["talk"]))
    while len(pairs) < n_pairs:
        if rng.random() < 0.6 and topics:
            pairs += topics.pop()
        elif talk:
            pairs.append(talk.pop())
        else:
            pairs += topics.pop()
    return pairs[:max(n_pairs, 1)]


def maybe_swap(rng, a, b):
    return (b, a) if rng.random() < 0.5 else (a, b)


def hit_pairs(sc, F, rng, twin):
    """One candidate pair per should-hit category for scenario sc."""
    out = {}
    out["reworded_history"] = (conv(sc), conv(sc, key="ctx2"))
    # longer history: 1-4 filler pairs usually, 7-9 sometimes (20+ message chats)
    # or an earlier, different topic (the twin's context) left behind before this one
    n = rng.choice([1, 2, 2, 3, 3, 4, 5, 6, 8, 9])
    mid = [rng.choice(F["inter"])] if rng.random() < 0.4 else []
    if rng.random() < 0.3:
        pre = ([rng.choice(F["greet"])] if rng.random() < 0.5 else []) + ctx_pairs(twin) + [rng.choice(F["bridge"])]
    else:
        pre = pick_filler(rng, F, n)
    out["longer_history"] = (conv(sc), conv(sc, pre=pre, mid=mid))
    out["same_context_reworded_final"] = (conv(sc), conv(sc, final=sc["final2"]))
    # same context and final turn; only the chatter around it differs
    ga, gb = rng.sample(F["greet"], 2)
    ia, ib = rng.sample(F["inter"], 2)
    a = conv(sc, pre=[ga], mid=[ia] if rng.random() < 0.5 else [])
    if rng.random() < 0.5:
        b = conv(sc, prefix=rng.choice(F["prefix"]), mid=[ib] if rng.random() < 0.5 else [])
    else:
        b = conv(sc, pre=[gb, rng.choice(F["talk"])], mid=[ib] if rng.random() < 0.5 else [])
    out["exact_repeat_different_chatter"] = (a, b)
    alone = []
    if sc.get("sys"):
        alone.append(msg("system", sc["sys"]))
    r = rng.random()
    if r < 0.35:
        u, x = rng.choice(F["greet"])
        alone += [msg("user", u), msg("assistant", x)]
    elif r < 0.5:
        for u, x in rng.choice(F["topics"]):
            alone += [msg("user", u), msg("assistant", x)]
    alone.append(msg("user", fill(sc["alone"], sc, 0, 0)))
    out["standalone_vs_context"] = (conv(sc, pre=[rng.choice(F["greet"])] if rng.random() < 0.3 else []), alone)
    return {k: maybe_swap(rng, *v) for k, v in out.items()}


def noisy(rng, F):
    """Irrelevant decoration for the second side of a trap, so that traps are not
    distinguishable by 'any extra turn means a miss'."""
    r = rng.random()
    if r < 0.35:
        return dict(pre=pick_filler(rng, F, rng.choice([1, 2, 3])))
    if r < 0.5:
        return dict(mid=[rng.choice(F["inter"])])
    return {}


def trap_pairs(sc, F, rng, twin):
    out = {}
    key_b = "ctx2" if rng.random() < 0.5 else "ctx"
    out["changed_detail"] = [(conv(sc), conv(sc, key=key_b, d=1, **noisy(rng, F)))]
    key_b = "ctx2" if rng.random() < 0.5 else "ctx"
    ff = sc.get("ff", sc["final"])
    out["flipped_intent"] = [(conv(sc, final=ff), conv(sc, key=key_b, f=1, final=ff, **noisy(rng, F)))]
    key_b = "ctx2" if rng.random() < 0.3 else "ctx"
    out["different_final"] = [(conv(sc), conv(sc, key=key_b, final=sc["other"], **noisy(rng, F)))]
    assert twin["final"] == sc["final"], (sc["id"], twin["id"])
    assert twin.get("sys") == sc.get("sys"), (sc["id"], twin["id"])
    if sc["_i"] % 2 == 0:
        out["different_subject"] = [(conv(sc), conv(twin))]
    elif sc["_i"] % 4 == 1:
        # both subjects discussed, in opposite order: the final request is about the latest one
        out["different_subject"] = [(conv(sc, pre=ctx_pairs(twin) + [rng.choice(F["bridge"])]),
                                     conv(twin, pre=ctx_pairs(sc) + [rng.choice(F["bridge"])]))]
    else:
        out["different_subject"] = [(conv(sc, key="ctx2", **noisy(rng, F)), conv(twin, **noisy(rng, F)))]
    return {k: [maybe_swap(rng, *p) for p in v] for k, v in out.items()}


def split_of(group, n_groups):
    # ~40% of twin groups go to dev, spread evenly; a whole scenario (and its twin) stays in one split
    return "dev" if int((group + 1) * 0.4) > int(group * 0.4) else "test"


def build(lang, scens, F):
    ids = [s["id"] for s in scens]
    assert len(ids) == len(set(ids)) and len(scens) % 2 == 0
    cands = collections.defaultdict(list)
    for i, sc in enumerate(scens):
        sc["_i"] = i
        for k in ("id", "dom", "d", "f", "ctx", "ctx2", "final", "final2", "alone", "other"):
            assert k in sc, (sc.get("id"), k)
        assert len(sc["ctx"]) % 2 == 0 and len(sc["ctx2"]) % 2 == 0, sc["id"]
        twin = scens[i + 1 if i % 2 == 0 else i - 1]
        split = split_of(i // 2, len(scens) // 2)
        rng = random.Random(f"{lang}:{sc['id']}")
        for cat, (a, b) in hit_pairs(sc, F, rng, twin).items():
            cands[cat].append((split, sc, a, b, 1))
        for cat, lst in trap_pairs(sc, F, rng, twin).items():
            for a, b in lst:
                cands[cat].append((split, sc, a, b, 0))
    rows = []
    for cat in HIT + TRAP:
        n = TARGET[lang]["hit" if cat in HIT else "trap"]
        n_dev = round(0.4 * n)
        rng = random.Random(f"{lang}:{cat}:pick")
        dev = [c for c in cands[cat] if c[0] == "dev"]
        test = [c for c in cands[cat] if c[0] == "test"]
        rng.shuffle(dev)
        rng.shuffle(test)
        n_dev = min(n_dev, len(dev))
        chosen = dev[:n_dev] + test[:n - n_dev]
        assert len(chosen) == n, (lang, cat, len(chosen))
        chosen.sort(key=lambda c: c[1]["_i"])
        for split, sc, a, b, label in chosen:
            rows.append({"a": a, "b": b, "label": label, "lang": lang, "category": cat,
                         "split": split, "domain": sc["dom"], "id": f"{lang}-{cat}-{sc['id']}"})
    return rows


def validate(rows):
    seen = set()
    for r in rows:
        assert r["id"] not in seen, r["id"]
        seen.add(r["id"])
        assert r["label"] in (0, 1) and r["lang"] in ("en", "ko") and r["split"] in ("dev", "test")
        assert r["category"] in (HIT if r["label"] == 1 else TRAP), r["id"]
        for side in ("a", "b"):
            m = r[side]
            assert isinstance(m, list) and m, r["id"]
            for j, x in enumerate(m):
                assert set(x) == {"role", "content"}, r["id"]
                assert x["role"] in ("system", "user", "assistant"), r["id"]
                assert isinstance(x["content"], str) and x["content"].strip(), r["id"]
                assert "{" not in x["content"], (r["id"], x["content"])
                assert x["role"] != "system" or j == 0, r["id"]
            body = [x for x in m if x["role"] != "system"]
            assert body[-1]["role"] == "user", r["id"]
            for j, x in enumerate(body):
                assert x["role"] == ("user" if j % 2 == 0 else "assistant"), (r["id"], side, j)
        sa = [x for x in r["a"] if x["role"] == "system"]
        sb = [x for x in r["b"] if x["role"] == "system"]
        assert sa == sb, r["id"]
        assert r["a"] != r["b"], r["id"]
        if r["category"] in ("different_subject", "changed_detail", "flipped_intent",
                             "exact_repeat_different_chatter", "longer_history", "reworded_history"):
            assert r["a"][-1]["content"] == r["b"][-1]["content"], r["id"]
        if r["category"] in ("different_final", "same_context_reworded_final"):
            assert r["a"][-1]["content"] != r["b"][-1]["content"], r["id"]


def stats(rows):
    c = collections.Counter((r["lang"], r["label"], r["category"], r["split"]) for r in rows)
    lines = []
    for lang in ("en", "ko"):
        for cat in HIT + TRAP:
            lab = 1 if cat in HIT else 0
            d, t = c[(lang, lab, cat, "dev")], c[(lang, lab, cat, "test")]
            lines.append(f"| {lang} | {lab} | {cat} | {d} | {t} | {d + t} |")
    tot = collections.Counter((r["lang"], r["label"], r["split"]) for r in rows)
    for lang in ("en", "ko"):
        for lab in (1, 0):
            d, t = tot[(lang, lab, "dev")], tot[(lang, lab, "test")]
            lines.append(f"| {lang} | {lab} | **all** | {d} | {t} | {d + t} |")
    same = sum(1 for r in rows if r["label"] == 0 and r["a"][-1]["content"] == r["b"][-1]["content"])
    ntrap = sum(1 for r in rows if r["label"] == 0)
    lens = [len([x for x in r[s] if x["role"] != "system"]) for r in rows for s in "ab"]
    lines.append("")
    lines.append(f"traps with identical final user message: {same}/{ntrap}")
    lines.append(f"conversation length (non-system messages): min {min(lens)}, max {max(lens)}, "
                 f">=13: {sum(1 for x in lens if x >= 13)}, >=20: {sum(1 for x in lens if x >= 20)} of {len(lens)} sides")
    lines.append(f"pairs with a system message: {sum(1 for r in rows if r['a'][0]['role'] == 'system')}")
    return "\n".join(lines)


def main():
    rows = build("en", scenarios_en.SCENARIOS, fillers.EN) + build("ko", scenarios_ko.SCENARIOS, fillers.KO)
    validate(rows)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path = os.path.join(HERE, "pairs.jsonl")
    if "--check" in sys.argv:
        with open(path, encoding="utf-8") as fh:
            on_disk = fh.read()
        assert on_disk == text, "pairs.jsonl is stale: rerun build.py"
        validate([json.loads(line) for line in on_disk.splitlines()])
    else:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    print(stats(rows))


if __name__ == "__main__":
    main()
