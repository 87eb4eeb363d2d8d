#!/usr/bin/env bash
# The SVO extractor's confidence model: fitted on the rules' triplets of the human-labelled
# development sets (ok where the label agrees) and written to
# trainer/src/data/svo_confidence.txt, which the extractor builds in. The unseen sets are left
# out, so that they still measure captions neither the rules nor the model met. Seconds.
#
#   make svo-confidence
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dev=(gold heldout blind blind2 blind3 blind4 blind5 blind6 blind7 blind8 blind9 blind10 blind11
  blind12 blind13 blind14 blind15 blind16 blind17 blind18)
args=()
for s in "${dev[@]}"; do args+=(--gold "trainer/tests/data/svo-$s.jsonl"); done
cargo run --locked -q -p saclip-trainer --bin saclip-train -- svo-confidence "${args[@]}" \
  --out trainer/src/data/svo_confidence.txt "$@"
