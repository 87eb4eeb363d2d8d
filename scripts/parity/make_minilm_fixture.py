#!/usr/bin/env python3
"""Writes fixtures/parity/minilm.jsonl: captions, their reference token ids and sentence embeddings.

The reference is Hugging Face transformers: the pure-Python `BertTokenizer` on the model's
vocab.txt (lowercase, accent stripping, punctuation and CJK splitting, WordPiece) and `BertModel`
on its safetensors, then sentence-transformers' recipe for all-MiniLM-L6-v2: mean of the token
states under the attention mask, L2-normalised, inputs cut to 256 tokens. All captions run as one
padded batch, so padding must not change any embedding. Run after `make setup`:

    .venv-bench/bin/python scripts/parity/make_minilm_fixture.py models/all-minilm-l6-v2 \
        fixtures/parity/minilm.jsonl
"""

import json
import sys

import torch
from transformers import BertModel, BertTokenizer

TEXTS = [
    "A man riding a horse on the beach.",
    "the truck is towing a car",
    "A car is being pushed by two people",
    "a red fire hydrant in front of a police car",
    "Two dogs playing with a frisbee; one is jumping!",
    "Café crème, naïve façade and Ångström",
    "東京の交差点 with pedestrians",
    "it's 10:45pm and the bus (route #12) isn't here",
    "A CYCLIST OVERTAKES THE PARKED VAN",
    "supercalifragilisticexpialidocious unbelievably",
    "tab\tseparated  and\u00a0non-breaking   spaces",
    "",
    "car " * 300,
]
MAX_TOKENS = 256


def main() -> None:
    model_dir, out = sys.argv[1], sys.argv[2]
    tok = BertTokenizer(f"{model_dir}/vocab.txt", do_lower_case=True)
    model = BertModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    batch = tok(TEXTS, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    emb = torch.nn.functional.normalize(pooled, dim=-1)
    with open(out, "w", encoding="utf-8") as f:
        for i, text in enumerate(TEXTS):
            n = int(batch["attention_mask"][i].sum())
            ids = batch["input_ids"][i][:n].tolist()
            row = {"text": text, "ids": ids, "embedding": [round(float(x), 7) for x in emb[i]]}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
