#!/usr/bin/env python3
"""Writes fixtures/parity/tokenizer.jsonl: varied strings and OpenAI's reference CLIP token ids.

The reference is open_clip's copy of OpenAI's tokenizer (ftfy fix, HTML unescape, whitespace
clean-up, lowercase, byte-level BPE), with start / end tokens and truncation to 77 tokens.
Run with the same venv as make_clip_fixtures.py:

    /tmp/ref/bin/python scripts/parity/make_tokenizer_fixture.py fixtures/parity/tokenizer.jsonl
"""

import json
import random
import sys

from open_clip.tokenizer import SimpleTokenizer

SUBJECTS = ["a car", "the truck", "a pedestrian", "two people", "a cyclist", "the ego vehicle",
            "a red SUV", "an old man", "a police car", "a fire hydrant", "a motorcyclist",
            "the school bus", "a dog", "three cones"]
RELATIONS = ["is parked in front of", "hits", "is being pushed by", "crashes into",
             "is to the left of", "is on top of", "drives behind", "is next to", "overtakes",
             "is turning in front of", "collides with", "waits beside", "is towing"]
OBJECTS = ["a tree.", "the sidewalk!", "another car?", "a barrier", "the traffic light",
           "a parked van", "the crosswalk", "a wall", "two bikes", "a stop sign"]

FIXED = [
    "", " ", "a", "A red car is parked to the left of a white truck!",
    "Hi there", "hello   world\t\n again", "  leading and trailing spaces  ",
    "Fish &amp; chips", "&lt;b&gt;bold&lt;/b&gt; text", "AT&T and H&M", "tom&amp;amp;jerry",
    "Café crème", "naïve façade", "Ångström", "straße", "İstanbul", "ΑΒΓ αβγ", "Привет мир",
    "日本語のテキスト", "中文字符测试", "한국어", "emoji 🚗💥🚶", "🚦🚦🚦", "mixed 🚗 car",
    "numbers 12345 and 3.14159", "speed 120km/h at 10:45pm", "2024-05-01", "#hashtag @user",
    "it's don't won't they're", "'quoted' \"double\"", "a-b_c.d,e;f:g", "(parentheses) [brackets] {braces}",
    "!!!???...", "e-mail: someone@example.com", "http://example.com/path?x=1", "C++ and C#",
    "ﬁne ligature", "full-width ＡＢＣ", "e\u0301 combining accent", "tab\tseparated\tvalues",
    "non\u00a0breaking space", "zero\u200bwidth", "soft\u00adhyphen", "UPPER CASE WORDS",
    "MiXeD cAsE", "\u201ccurly\u201d \u2018quotes\u2019 it\u2019s", "line\r\nbreak\rhere",
    "bell\x07char and \x1b[31mred\x1b[0m", "ideographic\u3000space", "halfwidth \uff76\uff9e",
    "it&#39;s &#x27;hex&#x27; &quot;q&quot;", "&lt;not closed", "ﬀ ﬂ ﬃ ﬆ Ǆ ĳ", "bom\ufeffhere", "x" * 100, "supercalifragilisticexpialidocious", "a " * 100,
    "the car " * 40, "word " * 76, "word " * 75, "1 2 3 4 5 6 7 8 9 10 " * 10,
]


def generated(n: int) -> list[str]:
    rng = random.Random(7)
    out = []
    for _ in range(n):
        s = f"{rng.choice(SUBJECTS)} {rng.choice(RELATIONS)} {rng.choice(OBJECTS)}"
        if rng.random() < 0.3:
            s = s.upper() if rng.random() < 0.5 else s.capitalize()
        if rng.random() < 0.2:
            s = s + " " + str(rng.randint(0, 99999))
        out.append(s)
    return out


def main(path: str) -> None:
    tok = SimpleTokenizer()
    texts = FIXED + generated(200)
    ids = tok(texts, context_length=77)
    with open(path, "w", encoding="utf-8") as f:
        for text, row in zip(texts, ids.tolist()):
            end = row.index(49407) + 1
            f.write(json.dumps({"text": text, "ids": row[:end]}, ensure_ascii=False) + "\n")
    print(f"wrote {len(texts)} strings to {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures/parity/tokenizer.jsonl")
