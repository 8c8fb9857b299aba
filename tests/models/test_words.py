"""ImageNet words: WordNet synonyms and categories reach the right ImageNet classes."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from vsearch.errors import UsageError
from vsearch.models.words import (
    ImageNetWords,
    UnknownWordError,
    pack_top_classes,
    unpack_classes,
)


@pytest.fixture(scope="module")
def words() -> ImageNetWords:
    return ImageNetWords.shipped()


def names(words: ImageNetWords, word: str) -> set[str]:
    return {words.class_names[c] for c in words.match(word).classes}


def test_classes_are_in_classifier_order(words):
    assert len(words.class_names) == 1000
    assert words.class_ids[0] == "n01440764" and words.class_names[0] == "tench"
    assert words.class_names[281] == "tabby" and words.class_names[207] == "golden retriever"


def test_dog_reaches_the_dog_breeds_and_no_cat(words):
    dogs = names(words, "dog")
    assert {"Chihuahua", "golden retriever", "German shepherd", "pug", "Labrador retriever"} <= dogs
    assert len(dogs) > 100
    assert not dogs & {"tabby", "Persian cat", "tiger", "sports car"}


def test_cat_reaches_the_cats_and_no_dog(words):
    cats = names(words, "cat")
    assert {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"} <= cats
    assert not cats & names(words, "dog")


def test_car_synonyms_plurals_and_case(words):
    assert {"cab", "convertible", "sports car", "jeep"} <= names(words, "car")
    assert names(words, "automobile") == names(words, "auto")  # one synset: car, auto, ...
    assert names(words, "Cats") == names(words, "cat")
    assert names(words, "guitars") == {"acoustic guitar", "electric guitar"}
    assert names(words, "golden_retriever") == {"golden retriever"}
    assert "mouse" in names(words, "mice")  # an irregular plural


def test_match_says_through_what(words):
    match = words.match("dog")
    assert match.via == ("dog",)
    text = match.describe(words)
    assert text.startswith("dog: ") and "classes via dog" in text


def test_unknown_word_is_a_usage_error_with_near_misses(words):
    with pytest.raises(UnknownWordError, match="near misses: .*dingo") as exc:
        words.match("dgo")
    assert isinstance(exc.value, UsageError)
    with pytest.raises(UnknownWordError, match="tree frog"):
        words.match("tree")
    with pytest.raises(UsageError, match="empty"):
        words.match("  ")


def test_word_score_is_the_mass_of_its_classes(words):
    p = np.zeros((2, 1000), np.float32)
    p[0, [281, 285]] = [0.5, 0.25]  # tabby, Egyptian cat
    p[1, 207] = 0.9  # golden retriever
    assert words.match("cat").score(p) == pytest.approx([0.75, 0.0])
    assert words.match("dog").score(p) == pytest.approx([0.0, 0.9])
    assert words.top_tags(p[0], k=2) == [("tabby", 0.5), ("Egyptian cat", 0.25)]


def test_frame_classes_pack_and_unpack():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(1000, 0.02), size=4).astype(np.float32)
    blobs = pack_top_classes(p, k=5)
    dense = unpack_classes([*blobs, None])
    assert dense.shape == (5, 1000) and not dense[4].any()
    for row, full in zip(dense[:4], p, strict=True):
        top = np.argsort(-full)[:5]
        kept = top[full[top] >= 0.01]
        assert set(np.flatnonzero(row)) == set(kept)
        np.testing.assert_allclose(row[kept], full[kept], rtol=1e-3)


def test_mapping_and_its_licence_ship_in_the_package():
    data = resources.files("vsearch.models").joinpath("data")
    assert data.joinpath("imagenet_wordnet.json").is_file()
    assert "Princeton University" in data.joinpath("WORDNET-LICENSE").read_text()
