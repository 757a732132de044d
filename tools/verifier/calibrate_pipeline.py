"""Step 5 of the verifier recipe: calibrate `threshold_hangul` through the cache itself.

Owns: the Hangul threshold the bundled verifier ships with. train.py calibrates both thresholds on
verifier scores alone; in the cache a pair must also pass the cosine gate and the guard, which
refuse part of the good pairs first, so the same precision is reached at a lower verifier score.
This step replays the DEV splits of korean_question_pair and parakqc through the real waterfall
(`helios-cache eval --mode isolated`, each pair stored and looked up alone, default settings
except `--l3-verifier-threshold`), and keeps the lowest threshold on a 0.05 grid at which BOTH
sets reach precision >= 0.95. It rewrites config.json (same format as train.py) with that value
and the rule; the English `threshold` is left as train.py set it.

Run (after building the release binary; deterministic, ~2 min):
    python tools/verifier/calibrate_pipeline.py --bin target/release/helios-cache \
        --model assets/verifier/ko-en-align-64
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

SETS = ["korean_question_pair", "parakqc"]
GRID = [round(0.40 + 0.05 * i, 2) for i in range(7)]  # 0.40 .. 0.70
TARGET = 0.95


def run(binary: str, model: str, pairs: Path, t: float) -> dict:
    out = subprocess.run(
        [binary, "--l3-verifier", model, "--l3-verifier-threshold", str(t), "eval", "--mode", "isolated", "--json",
         "--pairs", str(pairs)],
        check=True, capture_output=True, text=True).stdout
    return next(iter(json.loads(out).values()))["isolated"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/helios-cache")
    ap.add_argument("--model", default="assets/verifier/ko-en-align-64")
    ap.add_argument("--data", default="../shared/eval/data")
    args = ap.parse_args()
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as work:
        for name in SETS:
            subprocess.run(["python3", str(Path(args.data).parent / "split.py"),
                            str(Path(args.data) / name), f"{work}/{name}"],
                           check=True, capture_output=True)
            results[name] = {}
            for t in GRID:
                r = run(args.bin, args.model, Path(f"{work}/{name}/dev.jsonl"), t)
                results[name][str(t)] = [round(r["precision"], 4), round(r["recall"], 4)]
                print(f"{name} dev t={t}: precision {r['precision']:.3f} recall {r['recall']:.3f}")
    ok = [t for t in GRID if all(results[n][str(t)][0] >= TARGET for n in SETS)]
    if not ok:
        raise SystemExit("no threshold on the grid reaches the target on both sets")
    chosen = min(ok)
    cfg_path = Path(args.model) / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.setdefault("threshold_hangul_pair_level", cfg["threshold_hangul"])
    cfg["threshold_hangul"] = chosen
    cfg["threshold_hangul_rule"] = (
        "lowest of 0.40..0.70 (step 0.05) at which the cache (cosine gate + guard + verifier, "
        "eval --mode isolated) reaches precision >= 0.95 on both DEV korean_question_pair and "
        "DEV parakqc (tools/verifier/calibrate_pipeline.py); for queries containing Hangul")
    cfg["threshold_hangul_dev_pipeline"] = results
    cfg_path.write_text(json.dumps(cfg, indent=1) + "\n")
    print(f"threshold_hangul = {chosen}")


if __name__ == "__main__":
    main()
