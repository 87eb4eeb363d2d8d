#!/usr/bin/env bash
# Pipeline benchmarks of issue 5, on this machine, CPU:
#   1. full-pipeline replay throughput / bare forward throughput (detector + SA-CLIP on the same
#      decoded frames, same batch size, same engine, same process), for the bundled tiny model and
#      for the ViT-B/32 shape with random weights;
#   2. capture-to-record latency p50 / p99 of 4 live RTSP cameras at 10 fps (and at 1 fps, below
#      this machine's capacity).
#
#   make bench-pipeline            (BATCH=8 ROUNDS=3 MEASURE_S=30 by default)
#
# Each line printed is JSON; the "result" lines are the numbers to report.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
BATCH=${BATCH:-8}
ROUNDS=${ROUNDS:-3}
MEASURE_S=${MEASURE_S:-30}
weights="$root/target/bench/vit-b32-random.safetensors"

cargo build -q --release --locked -p saclip-daemon --example bench_pipeline
cargo build -q --release --locked -p saclip-trainer --bin saclip-train
bench=target/release/examples/bench_pipeline
[ -f "$weights" ] || target/release/saclip-train init --shape vit-b32 --seed 0 \
  --name vit-b32-random --out "$weights"

export RUST_LOG=warn
"$bench" --batch "$BATCH" throughput --rounds "$ROUNDS"
"$bench" --batch "$BATCH" --weights "$weights" throughput --sample-fps 5 --rounds "$ROUNDS"
"$bench" --batch "$BATCH" latency --streams 4 --fps 10 --seconds "$MEASURE_S"
"$bench" --batch "$BATCH" latency --streams 4 --fps 1 --seconds "$MEASURE_S"
