"""Alignment on synthetic similarity matrices with a known offset and speed."""

from __future__ import annotations

import numpy as np
import pytest

from vsearch.match.align import chain_segments, hits_from_matrix, segment_iou


def synthetic(n_a: int, n_b: int, offset: int, speed: float, length: int, seed: int = 0):
    """Noise similarities, plus a copy: A[i] ~ B[offset + speed * (i - 5)] for i in 5..5+length."""
    rng = np.random.default_rng(seed)
    sim = rng.uniform(0.0, 0.45, size=(n_a, n_b))
    for i in range(5, 5 + length):
        j = int(round(offset + speed * (i - 5)))
        if 0 <= j < n_b:
            sim[i, j] = rng.uniform(0.8, 0.95)
    return sim


@pytest.mark.parametrize("speed", [1.0, 1.5, 0.5])
def test_finds_known_offset_and_speed(speed):
    sim = synthetic(40, 60, offset=20, speed=speed, length=12)
    t_a, t_b = np.arange(40, dtype=float), np.arange(60, dtype=float)
    segs = chain_segments(hits_from_matrix(sim, 0.3), t_a, t_b, step=1.0, bias=0.6)
    best = segs[0]
    assert best.a_start == 5
    assert best.a_end == pytest.approx(17, abs=1)
    assert best.b_start == 20
    assert best.b_end == pytest.approx(20 + speed * 11 + 1, abs=1.01)
    assert best.speed == pytest.approx(speed, rel=0.25)
    assert best.score > 0.8


def test_noise_alone_gives_nothing():
    sim = np.random.default_rng(1).uniform(0.0, 0.45, size=(30, 30))
    t = np.arange(30, dtype=float)
    assert chain_segments(hits_from_matrix(sim, 0.3), t, t, step=1.0, bias=0.6) == []


def test_two_copies_are_two_segments():
    sim = synthetic(50, 80, offset=10, speed=1.0, length=8)
    for i in range(30, 40):
        sim[i, 50 + (i - 30)] = 0.9
    t_a, t_b = np.arange(50, dtype=float), np.arange(80, dtype=float)
    segs = chain_segments(hits_from_matrix(sim, 0.3), t_a, t_b, step=1.0, bias=0.6)
    starts = sorted((s.a_start, s.b_start) for s in segs[:2])
    assert starts == [(5.0, 10.0), (30.0, 50.0)]


def test_gap_bridged_but_not_a_backward_jump():
    t = np.arange(20, dtype=float)
    hits = np.array([[0, 5, 0.9], [1, 6, 0.9], [3, 8, 0.9], [4, 2, 0.95]])
    segs = chain_segments(hits, t, t, step=1.0, bias=0.5)
    assert (segs[0].a_start, segs[0].a_end, segs[0].b_start, segs[0].b_end) == (0, 4, 5, 9)
    assert segs[0].frames == 3


def test_segment_iou():
    assert segment_iou((0, 10), (5, 15)) == pytest.approx(1 / 3)
    assert segment_iou((0, 1), (2, 3)) == 0.0


def test_weakly_matching_copy_chains_with_the_search_bias():
    """An embedded copy squashed to another aspect ratio matched its source frames at
    0.58-0.69 (colorgrid) while its surroundings stayed below 0.4; with a chain bias of 0.7
    every such hit cost more than it added and the copy was never found, though its video
    was the first candidate. The search's bias must chain it, and still not chain scattered
    hits of the same similarity."""
    from vsearch.pipeline.scoring import RAW

    HIT_SIMILARITY, CHAIN_BIAS = RAW.hit_similarity, RAW.chain_bias

    rng = np.random.default_rng(3)
    sim = rng.uniform(0.0, 0.4, size=(18, 12))
    for i, j in zip(range(6, 13), [1, 2, 3, 4, 5, 7, 7], strict=True):
        sim[i, j] = [0.69, 0.69, 0.58, 0.66, 0.68, 0.66, 0.66][i - 6]
    t_a, t_b = np.arange(18) * 0.5, np.arange(12) * 0.5
    hits = hits_from_matrix(sim, HIT_SIMILARITY, top=3)
    segs = chain_segments(hits, t_a, t_b, step=0.5, bias=CHAIN_BIAS)
    assert segs and segs[0].a_start == 3.0 and segs[0].a_end == pytest.approx(6.5)
    assert segs[0].b_start == 0.5
    scattered = rng.uniform(0.0, 0.4, size=(18, 12))
    for i, j in [(2, 9), (6, 1), (9, 10), (14, 0)]:  # same similarities, no steady order
        scattered[i, j] = 0.68
    hits = hits_from_matrix(scattered, HIT_SIMILARITY, top=3)
    assert chain_segments(hits, t_a, t_b, step=0.5, bias=CHAIN_BIAS) == []
