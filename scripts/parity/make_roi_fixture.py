#!/usr/bin/env python3
"""Writes fixtures/parity/rois.safetensors: an RGB frame, pixel boxes, and the ROI crops PIL
makes of them (crop to the box rounded outwards and clamped to the frame, then a bilinear
resize to a square, as CLIP pipelines that crop regions do). Any venv with torch, safetensors,
numpy and pillow (e.g. the benchmark's .venv-bench):

    .venv-bench/bin/python scripts/parity/make_roi_fixture.py fixtures/parity/rois.safetensors
"""

import math
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

SIZE = 48
BOXES = [
    [10.3, 20.7, 70.2, 90.9],  # fractional: rounds outwards
    [0.0, 0.0, 160.0, 120.0],  # the whole frame
    [150.0, 100.0, 170.0, 130.0],  # partly outside: clamped
    [40.0, 40.0, 41.0, 41.0],  # one pixel: upsampled
    [5.0, 5.0, 100.0, 30.0],  # wide and flat
    [-20.0, 60.0, 12.5, 119.5],  # starts left of the frame
]


def pixel_box(b, w, h):
    x1 = min(max(math.floor(b[0]), 0), w - 1)
    y1 = min(max(math.floor(b[1]), 0), h - 1)
    x2 = min(max(math.ceil(b[2]), x1 + 1), w)
    y2 = min(max(math.ceil(b[3]), y1 + 1), h)
    return x1, y1, x2, y2


def main(path: str) -> None:
    rng = np.random.default_rng(5)
    h, w = 120, 160
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / w * 255, y / h * 255, 255 - (x + y) / (w + h) * 255], axis=-1)
    rgb = np.clip(base + rng.normal(0, 30, size=(h, w, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb)
    crops = [
        np.asarray(img.crop(pixel_box(b, w, h)).resize((SIZE, SIZE), Image.BILINEAR))
        for b in BOXES
    ]
    crops = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    save_file(
        {
            "rgb": torch.from_numpy(rgb.copy()),
            "boxes": torch.tensor(BOXES, dtype=torch.float32),
            "crops": crops.contiguous(),
        },
        path,
    )
    print(f"wrote {path}: {tuple(crops.shape)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures/parity/rois.safetensors")
