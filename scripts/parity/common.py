"""Helpers shared by the parity fixture scripts."""

import torch


def randomise(model: torch.nn.Module, seed: int, is_norm) -> None:
    """Replaces a model's tiny default init with larger random values, rounded to float16
    (so fixtures stored in float16 are exact), so that differences cannot hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                continue
            noise = torch.randn(p.shape, generator=g)
            if is_norm(name) and name.endswith("weight"):
                value = 1.0 + 0.1 * noise
            elif name.endswith("bias"):
                value = 0.05 * noise
            else:
                value = noise * (1.0 / max(1, p.shape[-1]) ** 0.5)
            p.copy_(value.half().float())
