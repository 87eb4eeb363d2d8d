# The two commands of the README: `make run` (replay the bundled drive) and `make test`.
# Both run `make setup` first, which installs what is missing and is quick when all is there.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo
DRIVE ?= fixtures/media/vtest-4s.mp4

.PHONY: setup build run test lint fmt bench-encoder bench-pipeline bench-svo train-relations train-filter svo-confidence

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --locked --workspace

run: setup
	@$(CARGO) run --locked -q -p saclip-daemon --bin saclipd -- replay $(DRIVE)

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

test: lint
	$(CARGO) test --locked --workspace

fmt:
	$(CARGO) fmt --all

# Image-encoder throughput, ours vs PyTorch eager (ViT-B/32, random weights, batch 32, CPU).
bench-encoder: setup
	@bash scripts/bench/encoder.sh

# Pipeline / bare-forward throughput ratio (tiny and ViT-B/32 shapes) and the capture-to-record
# latency of 4 live RTSP cameras at 10 fps.
bench-pipeline: setup
	@bash scripts/bench/pipeline.sh

# Caption parsing speed: saclip-train svo against spaCy's en_core_web_sm on the same captions.
bench-svo: setup
	@bash scripts/bench/svo.sh

# The README's training table: SA-CLIP, the CLIP objective and three ablations on the generated
# spatial-relations world, same data, steps and seed; evaluated on the held-out test split.
train-relations: setup
	@bash scripts/train/relations.sh

# The quality filter: trained on the extractor's triplets of the human-labelled development
# sets, scored on the unseen ones; kept share and precision per threshold.
train-filter: setup
	@bash scripts/train/filter.sh

# The SVO extractor's confidence model, fitted on the labelled development sets and written to
# trainer/src/data/svo_confidence.txt (built into the extractor; rebuild after refitting).
svo-confidence: setup
	@bash scripts/train/svo-confidence.sh
