#!/usr/bin/env python3
"""Writes the CLIP parity fixtures: a tiny random Hugging Face CLIPModel and its outputs.

Run once, with the full torch install plus transformers and open_clip_torch (for OpenAI's
reference tokenizer); the outputs are committed under fixtures/parity/ and the Rust tests in
model/tests/parity.rs compare our towers against them:

    uv venv /tmp/ref && uv pip install --python /tmp/ref/bin/python \
        torch==2.11.0 transformers safetensors open_clip_torch ftfy regex
    /tmp/ref/bin/python scripts/parity/make_clip_fixtures.py fixtures/parity

Weights are rounded to float16 values (stored as float16, computed in float32 on both sides)
so the fixture stays small while the reference outputs are exact for what is stored.
"""

import json
import sys
from pathlib import Path

import torch
from open_clip.tokenizer import SimpleTokenizer
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

sys.path.insert(0, str(Path(__file__).parent))
from common import randomise  # noqa: E402

CAPTIONS = [
    "a car hits a pedestrian crossing the road",
    "A red car is parked to the left of a white truck!",
    "the ego vehicle is out of control and leaving the roadway",
    # Longer than the 77-token context: truncated with the end token kept last.
    " ".join(["a bus is driving behind a motorcycle in front of a cyclist"] * 8),
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
            layer_norm_eps=1e-5, bos_token_id=49406, eos_token_id=49407, pad_token_id=1,
        ),
        vision_config=dict(
            hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            image_size=64, patch_size=16, hidden_act="quick_gelu", layer_norm_eps=1e-5,
        ),
        projection_dim=32,
        logit_scale_init_value=2.6592,
    )
    model = CLIPModel(config).eval()
    randomise(model, 1, lambda n: "layer_norm" in n or "layrnorm" in n or "layernorm" in n)
    state = {k: v.half().contiguous() for k, v in model.state_dict().items() if "position_ids" not in k}
    state["logit_scale"] = model.logit_scale.detach().float().reshape(())
    save_file(state, str(out / "model.safetensors"))
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")

    tok = SimpleTokenizer()
    ids = tok(CAPTIONS, context_length=77)  # OpenAI reference: SOT ... EOT, zero padding
    g = torch.Generator().manual_seed(2)
    pixels = torch.randn((3, 3, 64, 64), generator=g)
    with torch.no_grad():
        text = model.text_model(input_ids=ids)
        vision = model.vision_model(pixel_values=pixels)
        image_embeds = model.visual_projection(vision.pooler_output)
        text_embeds = model.text_projection(text.pooler_output)
        logits = model(input_ids=ids, pixel_values=pixels).logits_per_image
    reference = {
        "input_ids": ids.to(torch.int64),
        "pixel_values": pixels,
        "image_embeds": image_embeds,
        "text_embeds": text_embeds,
        "text_states": text.last_hidden_state,
        "vision_pooled": vision.pooler_output,
        "logits_per_image": logits,
    }
    save_file({k: v.contiguous() for k, v in reference.items()}, str(out / "reference.safetensors"))
    print(f"wrote {out}: logits {logits.flatten()[:4].tolist()}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures/parity"))
