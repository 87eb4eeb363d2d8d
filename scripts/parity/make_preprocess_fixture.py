#!/usr/bin/env python3
"""Writes fixtures/parity/preprocess.safetensors: an RGB frame and the pixel values Hugging
Face's CLIPImageProcessor (PIL bicubic resize of the shortest side to 224, centre crop, CLIP
mean/std) makes of it. Same venv as make_clip_fixtures.py:

    /tmp/ref/bin/python scripts/parity/make_preprocess_fixture.py fixtures/parity/preprocess.safetensors
"""

import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import CLIPImageProcessor


def main(path: str) -> None:
    rng = np.random.default_rng(11)
    h, w = 240, 320
    y, x = np.mgrid[0:h, 0:w]
    # Smooth structure plus texture, like a road scene more than white noise.
    base = np.stack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255], axis=-1)
    rgb = np.clip(base + rng.normal(0, 25, size=(h, w, 3)), 0, 255).astype(np.uint8)
    out = CLIPImageProcessor()(images=rgb, return_tensors="pt")["pixel_values"]
    save_file({"rgb": torch.from_numpy(rgb.copy()), "pixel_values": out.contiguous()}, path)
    print(f"wrote {path}: {tuple(out.shape)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures/parity/preprocess.safetensors")
