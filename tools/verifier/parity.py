#!/usr/bin/env python3
"""Writes tools/verifier/rust/parity.json: (a, b, python_score) triples for the Rust parity test.

Owns the parity inputs. They are NOT copied from any eval set (those stay out of the repo): a few
generic sentences written here, passed through the rule edits of edits.py (with word pools from
these sentences only), plus pseudo-texts made of random vocabulary pieces, plus edge cases.
Scores come from the numpy reference (model_np.py) on the exported files.

  python tools/verifier/parity.py --model assets/verifier/NAME --out tools/verifier/rust/parity.json
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import edits  # noqa: E402
import model_np  # noqa: E402

GENERIC = [
    "Is the museum open on public holidays?", "How long does the battery last on a full charge?",
    "What time does the last train to the airport leave?", "Can I bring my dog into the hotel room?",
    "The printer on the third floor is not working again.", "Why is my laptop running so slowly after the update?",
    "How many calories are in two boiled eggs?", "Which is heavier, a kilogram of steel or a kilogram of feathers?",
    "Translate good morning into French please", "If the meeting runs late, should we order dinner?",
    "The cat sat on the mat and the dog slept by the door.", "Convert 15 miles to kilometers",
    "Are museums in Berlin free for students?", "She sold her old bike to her neighbor in March.",
    "내일 아침 날씨 어때?", "박물관은 공휴일에도 문을 여나요?", "배터리가 완전히 충전되면 얼마나 가나요?",
    "공항 가는 마지막 기차는 몇 시에 출발해?", "호텔 방에 강아지를 데려가도 되나요?", "3층 프린터가 또 고장났어요.",
    "업데이트 후에 노트북이 왜 이렇게 느려졌지?", "삶은 달걀 두 개의 칼로리는 얼마야?", "거실 불 좀 꺼줘",
    "회의가 늦게 끝나면 저녁을 시켜야 할까요?", "고양이가 매트 위에 앉아 있고 개는 문 옆에서 잤다.",
    "15마일을 킬로미터로 바꿔줘", "학생은 베를린 박물관에 무료로 들어갈 수 있나요?", "그녀는 3월에 이웃에게 자전거를 팔았다.",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=200)
    a = ap.parse_args()
    v = model_np.Verifier(a.model)
    rng = random.Random(12345)
    pools = edits.Pools([s for s in GENERIC if not edits.is_ko(s)], [s for s in GENERIC if edits.is_ko(s)])
    pairs = []
    for rep in range(6):
        for s in GENERIC:
            for x, y, _, _ in edits.make_pairs(s, rng, pools):
                pairs.append((x, y))
    vocab = v.tok.get_vocab()
    pieces = sorted(vocab, key=lambda p: vocab[p])
    while len(pairs) < a.n - 12:
        k = rng.randint(1, 12)
        x = "".join(rng.choice(pieces).replace("▁", " ").replace("##", "") for _ in range(k))
        y = list(x)
        if y:
            y[rng.randrange(len(y))] = rng.choice("ab가나 1?")
        pairs.append((x, "".join(y)))
    pairs = pairs[: a.n - 12]
    pairs += [("", "hello"), ("hello", ""), ("   ", " "), ("?", "?"), ("!!!", "!!"), ("12", "21"),
              ("a", "a"), ("가", "가"), ("Hello WORLD", "hello world"), ("x " * 300, "x " * 299),
              ("😀 emoji only", "😀"), ("tab\tand\nnewline", "tab and newline")]
    out = {"model_dir": str(Path(a.model)), "threshold": v.cfg["threshold"], "id": v.cfg["id"],
           "pairs": [{"a": x, "b": y, "score": round(v.score(x, y), 7)} for x, y in pairs]}
    Path(a.out).write_text(json.dumps(out, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{len(pairs)} pairs -> {a.out}")


if __name__ == "__main__":
    main()
