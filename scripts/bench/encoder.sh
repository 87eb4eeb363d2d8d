#!/usr/bin/env bash
# Image-encoder benchmark: our tch forward vs transformers' CLIPModel in PyTorch eager, on the
# same libtorch (torch 2.11.0 wheel), weights, pixel batch and thread count. ViT-B/32 shape,
# random weights, batch 32, CPU. Rounds alternate the two so that machine noise hits both.
#
#   make bench-encoder              (ROUNDS=3 THREADS=<cores> BATCH=32 by default)
#
# Prints each run's JSON, then the ratio ours / PyTorch of the median images per second.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-$(nproc)}
BATCH=${BATCH:-32}
dir="$root/target/bench/clip-vit-b32-random-b$BATCH"
venv="$root/.venv-bench"
uv_bin=$(command -v uv || echo "$root/.tools/bin/uv")

# transformers needs the full torch wheel (its Python dependencies); the same 2.11.0 build as .venv.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, transformers' 2>/dev/null; then
  echo "bench: building .venv-bench (torch 2.11.0, transformers)" >&2
  "$uv_bin" venv -q --python 3.11 "$venv"
  "$uv_bin" pip install -q --python "$venv/bin/python" torch==2.11.0 "transformers>=4.48" safetensors numpy
fi
[ -f "$dir/model.safetensors" ] || "$venv/bin/python" scripts/bench/encoder.py prepare "$dir" --batch "$BATCH"
cargo build -q --release --locked -p saclip-model --example bench_image
ours=target/release/examples/bench_image

results=$(mktemp)
for _ in $(seq "$ROUNDS"); do
  "$ours" "$dir" "$THREADS" | tee -a "$results"
  "$venv/bin/python" scripts/bench/encoder.py run "$dir" --threads "$THREADS" | tee -a "$results"
done
python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
med = lambda impl: statistics.median(r["images_per_s"] for r in runs if r["impl"] == impl)
ours, eager = med("saclip-tch"), med("pytorch-eager")
print(f"ours {ours:.2f} img/s, pytorch eager {eager:.2f} img/s, ratio ours/eager {ours / eager:.3f}")
PY
rm -f "$results"
