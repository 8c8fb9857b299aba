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
