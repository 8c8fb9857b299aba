from __future__ import annotations

import numpy as np
import pytest

from vsearch.match.windows import clip_windows, shot_boundaries


def test_windows_cover_every_frame_with_overlap():
    t = np.arange(10, dtype=float)
    wins = clip_windows(t, 1.0, window=4, stride=2)
    assert [(w.first, w.last) for w in wins] == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert (wins[0].start, wins[0].end) == (0.0, 4.0)
    covered = set()
    for w in wins:
        covered.update(range(w.first, w.last))
    assert covered == set(range(10))


def test_short_video_is_one_window_and_empty_is_none():
    assert [(w.first, w.last) for w in clip_windows(np.array([0.0, 1.0]), 1.0)] == [(0, 2)]
    assert clip_windows(np.zeros(0), 1.0) == []


def test_shot_cut_ends_a_window():
    t = np.arange(8, dtype=float)
    wins = clip_windows(t, 1.0, window=4, stride=2, cuts=np.array([3]))
    assert all(w.last <= 3 or w.first >= 3 for w in wins)
    assert {w.first for w in wins} >= {0, 3}


def test_shot_boundaries_from_vectors():
    a, b = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    vecs = np.stack([a, a, a, b, b])
    assert shot_boundaries(vecs).tolist() == [0, 3]


def test_bad_window_raises():
    with pytest.raises(ValueError):
        clip_windows(np.arange(3.0), 1.0, window=0)


def test_stored_windows_give_back_the_frames_they_were_cut_from():
    """Clips are stored as [start, end); ``windows_at`` finds their frames again, also where
    sampled frames lie closer than one step (the first frame of each 1/fps bucket is kept, so
    the frame after a window can come before the window's end) and at shot cuts."""
    from vsearch.match.windows import video_windows, windows_at

    rng = np.random.default_rng(0)
    for trial in range(200):
        fps = float(rng.choice([0.5, 1.0, 2.0, 3.0, 25.0]))
        step = 1.0 / fps
        n = int(rng.integers(1, 60))
        buckets = np.sort(rng.choice(3 * n, size=n, replace=False))  # gaps in VFR input
        offsets = rng.integers(0, 48, size=n) / 48.0  # a source frame anywhere in its bucket
        times = np.round((buckets + offsets) * step * 90000) / 90000  # a 1/90000 time base
        vectors = rng.normal(size=(n, 4)).astype(np.float32)
        vectors[rng.random(n) < 0.7] = vectors[0]  # some long shots, some cuts
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        wins = video_windows(times, vectors, step)
        starts = np.array([w.start for w in wins])
        ends = np.array([w.end for w in wins])
        assert windows_at(times, starts, ends, step) == wins, trial
    assert windows_at(np.zeros(0), np.zeros(0), np.zeros(0), 1.0) == []
    with pytest.raises(ValueError, match="no frame"):
        windows_at(np.array([0.0, 1.0]), np.array([5.0]), np.array([6.0]), 1.0)
