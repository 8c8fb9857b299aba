"""Words for ImageNet classifiers: which of the 1000 ImageNet-1k classes a word names.

A word matches a class when it is one of the WordNet lemmas of the class or of anything the
class is a kind of (its hypernyms up to the root): "dog" reaches the 120 dog breeds, "cat"
the domestic cats, "car" the cabs, jeeps, racers and limousines (and the railway cars: every
sense counts). The mapping ships as ``data/imagenet_wordnet.json`` (derived from WordNet 3.0
by ``scripts/build_imagenet_words.py``; licence in ``data/WORDNET-LICENSE``). A score for a
word is the probability mass of its classes. stdlib + numpy only.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Protocol, TypeGuard

import numpy as np

from vsearch.errors import UsageError

DATA_FILE = "imagenet_wordnet.json"
NUM_CLASSES = 1000


class UnknownWordError(UsageError):
    """A word that names no ImageNet class (the message lists near misses)."""


@dataclass(frozen=True)
class WordMatch:
    """The ImageNet classes a word reaches, and through which WordNet synsets."""

    word: str
    classes: tuple[int, ...]  # class indices of the classifier, ascending
    via: tuple[str, ...]  # the matched synsets, as their first lemma ("dog", "cat", ...)

    def describe(self, vocabulary: ImageNetWords, limit: int = 6) -> str:
        """'dog' -> 'dog: 120 classes via dog (Chihuahua, Japanese spaniel, ...)'."""
        names = [vocabulary.class_names[c] for c in self.classes[:limit]]
        more = ", ..." if len(self.classes) > limit else ""
        n = len(self.classes)
        return (
            f"{self.word}: {n} class{'es' if n != 1 else ''} via {', '.join(self.via)} "
            f"({', '.join(names)}{more})"
        )

    def score(self, probabilities: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 1000) -> probability that each row shows the word (N,)."""
        return np.asarray(probabilities, dtype=np.float32)[:, list(self.classes)].sum(axis=1)


def normalise(word: str) -> str:
    return re.sub(r"[\s_\-]+", " ", word.strip().lower())


class ImageNetWords:
    """The WordNet vocabulary of the ImageNet-1k classes, loaded from the shipped file."""

    def __init__(self, data: dict) -> None:
        synsets = data["synsets"]
        self.synset_ids: list[str] = [s[0] for s in synsets]
        self.synset_names: list[str] = [s[1][0] for s in synsets]
        classes = data["classes"]
        if len(classes) != NUM_CLASSES:
            raise ValueError(f"{DATA_FILE}: {len(classes)} classes, expected {NUM_CLASSES}")
        self.class_names: list[str] = [synsets[own][1][0] for own, _ in classes]
        self.class_ids: list[str] = [synsets[own][0] for own, _ in classes]
        # lemma -> synsets it names; synset -> classes below it (itself included)
        self._by_lemma: dict[str, list[int]] = {}
        for i, (_, lemmas) in enumerate(synsets):
            for lemma in lemmas:
                self._by_lemma.setdefault(normalise(lemma), []).append(i)
        self._below: dict[int, list[int]] = {}
        for c, (own, above) in enumerate(classes):
            for s in (own, *above):
                self._below.setdefault(s, []).append(c)
        self._plurals: dict[str, str] = data.get("plurals", {})

    @classmethod
    @functools.cache
    def shipped(cls) -> ImageNetWords:
        text = resources.files("vsearch.models").joinpath("data", DATA_FILE).read_text()
        return cls(json.loads(text))

    def _lemma_forms(self, word: str) -> list[str]:
        """The word, then its singular forms (irregular plurals, -ies, -es, -s)."""
        forms = [word]
        if word in self._plurals:
            forms.append(self._plurals[word])
        for suffix, repl in (("ies", "y"), ("es", ""), ("s", "")):
            if word.endswith(suffix) and len(word) > len(suffix) + 2:
                forms.append(word[: -len(suffix)] + repl)
        return forms

    def match(self, word: str) -> WordMatch:
        """The classes a word names; UnknownWordError (with near misses) when none."""
        key = normalise(word)
        if not key:
            raise UsageError("empty word: give a class name such as 'dog', 'car' or 'guitar'")
        for form in self._lemma_forms(key):
            synsets = self._by_lemma.get(form)
            if synsets:
                classes = sorted({c for s in synsets for c in self._below.get(s, ())})
                via = tuple(dict.fromkeys(self.synset_names[s] for s in synsets))
                return WordMatch(word=word.strip(), classes=tuple(classes), via=via)
        raise UnknownWordError(
            f"'{word.strip()}' names none of the 1000 ImageNet classes or their WordNet "
            f"categories; near misses: {', '.join(self.near_misses(key)) or 'none'} "
            "(models without a text tower know only these words; CLIP models take any text)"
        )

    def near_misses(self, word: str, n: int = 6) -> list[str]:
        key = normalise(word)
        close = difflib.get_close_matches(key, self._by_lemma, n=n, cutoff=0.7)
        contains = sorted(
            (lemma for lemma in self._by_lemma if key in lemma.split() and lemma not in close),
            key=len,
        )
        return (close + contains)[:n]

    def top_tags(self, probabilities: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable class names of one probability row (mean over frames)."""
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        order = np.argsort(-p)[:k]
        return [(self.class_names[i], float(p[i])) for i in order]


# -- per-frame storage: the few most probable classes -------------------------------------

FRAME_TOP_CLASSES = 5  # classes kept per frame
FRAME_MIN_PROBABILITY = 0.01  # ... when at least this probable
VIDEO_TAGS = 5  # tags kept per video


class ImageNetEncoder(Protocol):
    """An encoder that also gives ImageNet-1k class probabilities (effnet)."""

    num_classes: int

    def encode_and_classify(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def classify_images(self, images: np.ndarray) -> np.ndarray: ...


def has_imagenet_head(encoder: object) -> TypeGuard[ImageNetEncoder]:
    """Whether an encoder gives ImageNet-1k class probabilities beside its vectors."""
    return (
        callable(getattr(encoder, "encode_and_classify", None))
        and callable(getattr(encoder, "classify_images", None))
        and getattr(encoder, "num_classes", 0) == NUM_CLASSES
    )


def pack_top_classes(
    probabilities: np.ndarray, k: int = FRAME_TOP_CLASSES, min_p: float = FRAME_MIN_PROBABILITY
) -> list[bytes]:
    """(N, 1000) probabilities -> per frame, its top classes: uint16 indices, float16 probs."""
    p = np.asarray(probabilities, dtype=np.float32)
    top = np.argsort(-p, axis=1)[:, :k]
    out = []
    for row, idx in zip(p, top, strict=True):
        keep = idx[row[idx] >= min_p]
        out.append(keep.astype("<u2").tobytes() + row[keep].astype("<f2").tobytes())
    return out


def unpack_classes(blobs: list[bytes | None] | tuple[bytes | None, ...]) -> np.ndarray:
    """Packed classes of N frames -> dense (N, 1000) float32 (zeros where none were kept)."""
    dense = np.zeros((len(blobs), NUM_CLASSES), dtype=np.float32)
    for i, blob in enumerate(blobs):
        if blob:
            n = len(blob) // 4
            idx = np.frombuffer(blob[: 2 * n], dtype="<u2")
            dense[i, idx] = np.frombuffer(blob[2 * n :], dtype="<f2")
    return dense
