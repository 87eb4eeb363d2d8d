#!/usr/bin/env bash
# The quality filter's experiment: train on the extractor's triplets of the human-labelled
# development sets (gold, heldout, blind, blind2 to blind18; ok where the label agrees), score
# the unseen sets (blind19, blind20), which neither the filter nor the extractor ever saw, and
# print, per threshold, the share of triplets kept and how many of the kept ones are right.
# Once with the labelled lines alone, once with one made-up wrong line per right one
# (`filter fit --corrupt 1`). A few minutes on two cores.
#
#   make train-filter        (runs in target/runs-filter)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cargo build -q --release --locked -p saclip-trainer --bin saclip-train
bin=target/release/saclip-train
runs=target/runs-filter
mkdir -p "$runs"
dev=(gold heldout blind blind2 blind3 blind4 blind5 blind6 blind7 blind8 blind9 blind10 blind11
  blind12 blind13 blind14 blind15 blind16 blind17 blind18)
unseen=(blind19 blind20)
inputs=()
for s in "${dev[@]}" "${unseen[@]}"; do
  "$bin" svo --gold "trainer/tests/data/svo-$s.jsonl" --label-out "$runs/$s.jsonl" >/dev/null 2>&1
done
for s in "${dev[@]}"; do inputs+=(--input "$runs/$s.jsonl"); done
for s in "${unseen[@]}"; do cat "$runs/$s.jsonl"; done >"$runs/unseen.jsonl"
for corrupt in 0 1; do
  "$bin" filter fit "${inputs[@]}" --corrupt "$corrupt" --val-fraction 0 \
    --out "$runs/filter-corrupt$corrupt.safetensors" >/dev/null 2>&1
  "$bin" filter score --filter "$runs/filter-corrupt$corrupt.safetensors" \
    --input "$runs/unseen.jsonl" --out "$runs/unseen-corrupt$corrupt.jsonl" 2>/dev/null \
    >"$runs/report-corrupt$corrupt.json"
done
python3 - "$runs" <<'PY'
import json, sys
runs = sys.argv[1]
print("blind19 + blind20: the extractor's triplets scored by filters trained on the development sets")
for c in (0, 1):
    r = json.load(open(f"{runs}/report-corrupt{c}.json"))["report"]
    base = r["ok"] / r["lines"]
    print(f"\n--corrupt {c}: {r['lines']} triplets, {100 * base:.1f}% right unfiltered, AUC {r['auc']:.3f}")
    print("threshold  kept   precision  recall")
    for t in r["thresholds"]:
        print(f"  {t['threshold']:.1f}     {100 * t['kept']:5.1f}%   {100 * t['precision']:5.1f}%   {100 * t['recall']:5.1f}%")
PY
