"""Score calibration against a background set: what a score of 0 means for every frame."""

from __future__ import annotations

import numpy as np

from vsearch.match.calibrate import background_offsets, calibrate_matrix, calibrate_pairs
from vsearch.models.base import l2_normalize


def test_offsets_are_the_mean_of_the_k_nearest_background_similarities():
    rng = np.random.default_rng(0)
    background = l2_normalize(rng.normal(size=(50, 16)))
    x = l2_normalize(rng.normal(size=(7, 16)))
    sims = x @ background.T
    expected = np.sort(sims, axis=1)[:, -5:].mean(axis=1)
    np.testing.assert_allclose(background_offsets(x, background, k=5), expected, atol=1e-6)
    assert background_offsets(x, background, k=500).shape == (7,)  # k capped at the set size


def test_no_background_means_raw_scores():
    x = l2_normalize(np.eye(3, 8))
    assert not background_offsets(x, None).any()
    assert background_offsets(np.zeros((0, 8)), x).shape == (0,)


def test_calibration_makes_a_generic_frame_and_a_distinctive_one_comparable():
    """A frame that resembles everything gets a high offset, so its high raw similarity to an
    unrelated frame no longer outranks a distinctive frame's real copy."""
    rng = np.random.default_rng(1)
    d = 256

    def near(v, spread, n):  # n unit vectors around v at a given noise level
        return l2_normalize(v + spread * rng.normal(size=(n, d)) / np.sqrt(d))

    common = l2_normalize(rng.normal(size=(1, d)))[0]  # what dull footage looks like
    background = near(common, 1.0, 200)
    generic = near(common, 0.4, 2)  # two unrelated dull frames
    distinct = l2_normalize(rng.normal(size=(1, d)))
    copy = near(distinct[0], 0.7, 1)  # a strongly altered copy of a distinctive frame
    raw_generic = float(generic[0] @ generic[1])
    raw_copy = float(distinct[0] @ copy[0])
    assert raw_generic > raw_copy  # raw scores rank the unrelated pair first
    off_g, off_d, off_c = (background_offsets(v, background) for v in (generic, distinct, copy))
    cal_generic = calibrate_pairs(np.array([raw_generic]), off_g[:1], off_g[1:])[0]
    cal_copy = calibrate_matrix(distinct @ copy.T, off_d, off_c)[0, 0]
    assert cal_copy > cal_generic
