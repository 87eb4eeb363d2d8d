"""PyTorch-eager side of the image-encoder benchmark (see scripts/bench/encoder.sh).

  prepare DIR   random CLIP ViT-B/32 (Hugging Face layout, seeded) and a seeded pixel batch
  run DIR       times transformers' CLIPModel.get_image_features on that batch; prints JSON
"""

import argparse
import json
import statistics
import time

import torch
from safetensors.torch import load_file, save_file
from transformers import CLIPConfig, CLIPModel


def prepare(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    model = CLIPModel(CLIPConfig())  # the defaults are openai/clip-vit-base-patch32's shape
    model.save_pretrained(args.dir, safe_serialization=True)
    g = torch.Generator().manual_seed(args.seed + 1)
    pixels = torch.randn(args.batch, 3, 224, 224, generator=g)
    save_file({"pixels": pixels.contiguous()}, f"{args.dir}/pixels.safetensors")


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    model = CLIPModel.from_pretrained(args.dir).eval()
    pixels = load_file(f"{args.dir}/pixels.safetensors")["pixels"]
    times = []
    with torch.inference_mode():
        for i in range(args.warmup + args.iters):
            start = time.perf_counter()
            out = model.get_image_features(pixel_values=pixels)
            if hasattr(out, "pooler_output"):  # newer transformers return an output object
                out = out.pooler_output
            elapsed = time.perf_counter() - start
            if i >= args.warmup:
                times.append(elapsed)
    diff = None
    ours = f"{args.dir}/ours.safetensors"
    try:
        diff = (load_file(ours)["embeds"] - out).abs().max().item()
    except FileNotFoundError:
        pass
    median = statistics.median(times)
    print(
        json.dumps(
            {
                "impl": "pytorch-eager",
                "torch": torch.__version__,
                "attention": model.config._attn_implementation,
                "threads": torch.get_num_threads(),
                "batch": pixels.shape[0],
                "median_s": median,
                "images_per_s": pixels.shape[0] / median,
                "max_abs_diff_vs_ours": diff,
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("dir")
    a.add_argument("--batch", type=int, default=32)
    a.add_argument("--seed", type=int, default=0)
    b = sub.add_parser("run")
    b.add_argument("dir")
    b.add_argument("--threads", type=int, required=True)
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--iters", type=int, default=5)
    args = p.parse_args()
    prepare(args) if args.cmd == "prepare" else run(args)


if __name__ == "__main__":
    main()
