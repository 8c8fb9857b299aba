"""By-example scores are calibrated on the library's own labels: confident where labelled
videos of a class look alike, near-uniform where the labels do not follow the pictures."""

from __future__ import annotations

import numpy as np

from vsearch.pipeline.classify import ExampleClassifier


def _voter(vectors: np.ndarray, owners: np.ndarray, targets: np.ndarray) -> ExampleClassifier:
    voter = ExampleClassifier.__new__(ExampleClassifier)  # the store's labelled windows, given
    voter.labels = sorted({f"c{t}" for t in targets.tolist()})
    voter.vectors = vectors.astype(np.float32)
    voter.owner = owners.astype(np.int64)
    voter.target = targets.astype(np.int64)
    voter.k = 10
    voter.temperature, voter.prior = voter._calibrate()
    return voter


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _library(rng: np.random.Generator, informative: bool):
    """3 classes x 6 videos x 5 windows; classes are clusters when ``informative``."""
    centres = _unit(rng.normal(size=(3, 32)))
    vecs, owners, targets = [], [], []
    for video in range(18):
        cls = video % 3
        base = centres[cls] if informative else _unit(rng.normal(size=(1, 32)))[0]
        vecs.append(_unit(base + 0.3 * rng.normal(size=(5, 32))))
        owners += [video] * 5
        targets += [cls] * 5
    return np.concatenate(vecs), np.array(owners), np.array(targets)


def _masked(voter: ExampleClassifier, vectors, owners) -> np.ndarray:
    """Similarities of each window to the labelled ones, its own video's left out."""
    sims = vectors @ voter.vectors.T
    sims[owners[:, None] == voter.owner[None, :]] = -np.inf
    return sims


def _held_out_scores(voter: ExampleClassifier, vectors, owners):
    return voter._mix(voter._votes(_masked(voter, vectors, owners), voter.temperature), voter.prior)


def test_clustered_labels_give_confident_right_answers() -> None:
    vectors, owners, targets = _library(np.random.default_rng(1), informative=True)
    voter = _voter(vectors, owners, targets)
    scores = _held_out_scores(voter, vectors, owners)
    assert (scores.argmax(1) == targets).mean() > 0.95
    assert scores.max(1).mean() > 0.8


def test_labels_unrelated_to_the_pictures_give_near_uniform_scores() -> None:
    vectors, owners, targets = _library(np.random.default_rng(2), informative=False)
    voter = _voter(vectors, owners, targets)
    scores = _held_out_scores(voter, vectors, owners)
    # Uncalibrated votes (temperature 0.05, no prior) claim far more than the ~1/3 they get.
    raw = voter._mix(voter._votes(_masked(voter, vectors, owners), 0.05), 0.0)
    accuracy = (scores.argmax(1) == targets).mean()
    assert raw.max(1).mean() > 0.6
    assert scores.max(1).mean() < 0.6
    assert abs(scores.max(1).mean() - accuracy) < abs(raw.max(1).mean() - accuracy)
    assert np.allclose(scores.sum(1), 1.0, atol=1e-5)


def test_too_few_labelled_videos_keep_the_default_votes() -> None:
    rng = np.random.default_rng(3)
    vectors = _unit(rng.normal(size=(6, 8)))
    # One video per label: leaving a video out leaves no example of its label to be right.
    voter = _voter(vectors, np.array([0, 0, 1, 1, 2, 2]), np.array([0, 0, 1, 1, 2, 2]))
    assert (voter.temperature, voter.prior) == (0.05, 0.0)
