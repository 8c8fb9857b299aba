"""An indexed library answers word queries through an ImageNet head (no text tower)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from helpers import make_video
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.config import Settings
from vsearch.errors import NoTextTowerError
from vsearch.models import registry
from vsearch.models.colorgrid import ColorGridEncoder
from vsearch.models.words import UnknownWordError
from vsearch.types import ModelInfo

# dominant colour of a frame -> (class index, probability) of a fake ImageNet head
FAKE_HEAD = {
    0: [(281, 0.6), (285, 0.3)],  # red: tabby, Egyptian cat
    1: [(207, 0.7), (208, 0.2)],  # green: golden retriever, Labrador retriever
    2: [(817, 0.8)],  # blue: sports car
}


class FakeHeadEncoder(ColorGridEncoder):
    """colorgrid vectors plus deterministic ImageNet probabilities from the dominant colour."""

    num_classes = 1000

    def __init__(self) -> None:
        super().__init__()
        info = self.info
        self.info = ModelInfo(**(info.to_dict() | {"spec": "fakehead:v1", "family": "fakehead"}))

    def classify_images(self, images: np.ndarray) -> np.ndarray:
        means = images.reshape(len(images), -1, 3).mean(axis=1)
        probs = np.zeros((len(images), 1000), np.float32)
        for row, channel in zip(probs, means.argmax(axis=1), strict=True):
            for cls, p in FAKE_HEAD[int(channel)]:
                row[cls] = p
            row[0] = 1.0 - row.sum()  # the rest on "tench"
        return probs

    def encode_and_classify(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.encode_images(images), self.classify_images(images)


@pytest.fixture()
def fakehead(monkeypatch):
    family = registry._Family("fakehead", lambda arch, weights, device: FakeHeadEncoder(), "v1")
    monkeypatch.setitem(registry.ENCODERS._entries, "fakehead", family)


@pytest.fixture(scope="module")
def tinted(tmp_path_factory):
    """Three textured videos, each dominated by one colour channel."""
    root = tmp_path_factory.mktemp("tinted")
    mix = {
        "red": "rr=1:gg=0.15:bb=0.15",
        "green": "rr=0.15:gg=1:bb=0.15",
        "blue": "rr=0.15:gg=0.15:bb=1",
    }
    for name, m in mix.items():
        make_video(root / "lib" / f"{name}.mp4", "testsrc2", 3, vf=f"colorchannelmixer={m}")
    make_video(root / "query_green.mp4", "testsrc2", 2, vf=f"colorchannelmixer={mix['green']}")
    return root


@pytest.fixture()
def wordlib(fakehead, tinted, tmp_path):
    from vsearch.pipeline.library import Library

    settings = Settings.load(library=tmp_path / "lib", model="fakehead", decoders=2)
    lib = Library.open(settings=settings, create=True)
    report = lib.index([tinted / "lib"])
    assert report.failed == []
    yield lib
    lib.close()


def test_word_query_ranks_by_class_probability_and_says_what_matched(wordlib, tinted):
    hits = wordlib.search_text("dog", k=3)
    assert hits[0].path == str(tinted / "lib" / "green.mp4")
    assert hits[0].score == pytest.approx(0.9, abs=0.01)  # golden + Labrador retriever
    assert hits[0].classes == ("golden retriever", "Labrador retriever")
    assert len(hits) == 1  # the other videos show no dog at all
    assert wordlib.search_text("cats", k=1)[0].path == str(tinted / "lib" / "red.mp4")
    assert "via dog" in wordlib.words_for("dog")
    frames = wordlib.search_text("car", k=50, frames=True)
    assert len(frames) > 1 and {h.path for h in frames} == {str(tinted / "lib" / "blue.mp4")}


def test_unknown_word_is_an_error_with_near_misses(wordlib):
    with pytest.raises(UnknownWordError, match="near misses"):
        wordlib.search_text("dgo")


def test_video_tags_are_stored_at_index_time(wordlib, tinted):
    tags = {os.path.basename(v.path): v.tags for v in wordlib.videos()}
    assert tags["red.mp4"][0][0] == "tabby" and tags["red.mp4"][0][1] == pytest.approx(0.6, 0.02)
    assert [t for t, _ in tags["green.mp4"][:2]] == ["golden retriever", "Labrador retriever"]


def test_zero_shot_labels_through_words(wordlib, tinted):
    inside = wordlib.classify(tinted / "lib" / "red.mp4", labels=["cat", "car", "dog"])[0]
    assert inside.label == "cat" and inside.score == pytest.approx(0.9, abs=0.01)
    outside = wordlib.classify(tinted / "query_green.mp4", labels=["cat", "car", "dog"])[0]
    assert outside.label == "dog"
    assert outside.segments and all(s.label == "dog" for s in outside.segments)


def test_cli_words(wordlib, tinted, monkeypatch):
    monkeypatch.setenv("VSEARCH_LIBRARY", str(wordlib.root))
    monkeypatch.setenv("VSEARCH_MODEL", "fakehead")
    runner = CliRunner()
    result = runner.invoke(app, ["search", "--text", "dog", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["classes"] == ["golden retriever", "Labrador retriever"]
    result = runner.invoke(app, ["search", "--text", "dgo"])
    assert result.exit_code == 2 and "near misses" in result.output
    result = runner.invoke(app, ["videos", "--json"])
    videos = {os.path.basename(v["path"]): v for v in json.loads(result.stdout)}
    assert videos["blue.mp4"]["tags"][0]["tag"] == "sports car"


def test_colorgrid_still_has_no_words(library, clips):
    library.index([clips["testsrc"].parent])
    with pytest.raises(NoTextTowerError):
        library.search_text("dog")
    assert library.words_for("dog") is None
