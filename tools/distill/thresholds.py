#!/usr/bin/env python3
"""Pick a static model's cosine thresholds from DEV-split numbers (eval_pairs.py --grid --json).

Owns the calibration rule, written down before looking at test numbers, so that the default
threshold is reproducible and never tuned on test data:

  precise (default L3 gate): the smallest t on a 0.01 grid with
      precision >= --min-precision (0.95) on every --precise-sets dev set (question-like sets), and
      wrong hits <= --max-wrong-rate (5%) of all hits in the gptcache_mock dev replay.
  loose (candidate gate before a pair verifier): the largest t at which the pooled recall of
      the positives of all --loose-sets dev sets is still >= --loose-recall (0.95).

  python tools/distill/eval_pairs.py --model DIR --quick --split dev --grid \\
      --sets korean_question_pair,parakqc,pawsx_ko,korsts,stsb,gptcache_mock --json /tmp/dev.json
  python tools/distill/thresholds.py /tmp/dev.json
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dev_json")
    ap.add_argument("--precise-sets", default="korean_question_pair,parakqc")
    ap.add_argument("--min-precision", type=float, default=0.95)
    ap.add_argument("--max-wrong-rate", type=float, default=0.05)
    ap.add_argument("--loose-sets", default="korean_question_pair,parakqc,pawsx_ko,korsts,stsb")
    ap.add_argument("--loose-recall", type=float, default=0.95)
    args = ap.parse_args()
    r = json.load(open(args.dev_json))
    if r.get("split") != "dev":
        print(f"WARNING: {args.dev_json} is split={r.get('split')}, not dev")
    sets = r["sets"]
    grid = sorted(next(iter(sets.values()))["grid"], key=float)
    replay = {f"{x['t']:.2f}": x for x in r.get("replay", [])}

    print("t     " + " ".join(f"{n[:12]:>12s}" for n in sets) + "   replay c/w/m   (P/R per set)")
    for t in grid:
        if float(t) < 0.70:
            continue
        cells = " ".join(f"{sets[n]['grid'][t]['p']:.2f}/{sets[n]['grid'][t]['r']:.2f}".rjust(12) for n in sets)
        rp = replay.get(t)
        print(f"{t}  {cells}   " + (f"{rp['correct']}/{rp['wrong']}/{rp['miss']}" if rp else ""))

    precise = None
    for t in grid:
        ok = all(sets[n]["grid"][t]["p"] >= args.min_precision for n in args.precise_sets.split(","))
        rp = replay.get(t)
        if rp is not None:
            hits = rp["correct"] + rp["wrong"]
            ok = ok and (hits == 0 or rp["wrong"] / hits <= args.max_wrong_rate)
        if ok:
            precise = float(t)
            break
    pos = np.concatenate([np.array(sets[n]["cos_pos"]) for n in args.loose_sets.split(",")])
    loose = max((float(t) for t in grid if (pos >= float(t)).mean() >= args.loose_recall), default=None)
    print(f"\nprecise threshold: {precise}  (precision >= {args.min_precision} on {args.precise_sets}, "
          f"replay wrong <= {args.max_wrong_rate:.0%} of hits)")
    print(f"loose threshold:   {loose}  (pooled recall of {len(pos)} dev positives of {args.loose_sets} "
          f">= {args.loose_recall})")
    print(json.dumps({"precise": precise, "loose": loose}))


if __name__ == "__main__":
    main()
