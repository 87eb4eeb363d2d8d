#!/usr/bin/env python3
"""Writes the OpenAI-naming parity fixtures: a tiny random open_clip CLIP (OpenAI state-dict
names: conv1, in_proj_weight, c_fc, ln_final, proj, ...) and its outputs.

Same venv as make_clip_fixtures.py:

    /tmp/ref/bin/python scripts/parity/make_openai_fixtures.py fixtures/parity
"""

import sys
from pathlib import Path

import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from open_clip.tokenizer import SimpleTokenizer
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parent))
from common import randomise  # noqa: E402

CAPTIONS = ["a truck is towing a car", "a cyclist rides next to the bus"]


def main(out: Path) -> None:
    torch.manual_seed(3)
    model = CLIP(
        embed_dim=32,
        vision_cfg=CLIPVisionCfg(layers=2, width=64, head_width=16, mlp_ratio=2.0, patch_size=16, image_size=64),
        text_cfg=CLIPTextCfg(context_length=77, vocab_size=49408, width=32, heads=2, layers=2, mlp_ratio=2.0),
        quick_gelu=True,
    ).eval()
    randomise(model, 4, lambda n: "ln_" in n or n.startswith("ln"))
    state = {k: v.half().contiguous() for k, v in model.state_dict().items() if k != "attn_mask"}
    state["logit_scale"] = model.logit_scale.detach().float().reshape(())
    save_file(state, str(out / "openai.safetensors"))

    ids = SimpleTokenizer()(CAPTIONS, context_length=77).to(torch.int64)
    pixels = torch.randn((2, 3, 64, 64), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        image = model.encode_image(pixels)
        text = model.encode_text(ids)
        logits = model.logit_scale.exp() * torch.nn.functional.normalize(image, dim=-1) @ torch.nn.functional.normalize(text, dim=-1).T
    save_file(
        {"input_ids": ids, "pixel_values": pixels, "image_embeds": image.contiguous(),
         "text_embeds": text.contiguous(), "logits_per_image": logits.contiguous()},
        str(out / "openai-reference.safetensors"),
    )
    print(f"wrote {out}/openai*.safetensors, logits {logits.flatten().tolist()}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures/parity"))
