"""Insets: rectangles whose sides stay edges while the footage on both sides moves."""

from __future__ import annotations

import numpy as np

from vsearch.media.insets import find_insets


def smooth_frames(n: int, side: int, seed: int) -> np.ndarray:
    """Grey frames of large soft blobs drifting over time (no texture, few edges)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    frames = []
    for t in range(n):
        f = np.zeros((side, side), np.float32)
        for _k in range(4):
            cy, cx = rng.random(2)
            f += 60 * np.exp(-((yy - cy - 0.02 * t) ** 2 + (xx - cx) ** 2) / 0.05)
        frames.append(f + 40)
    return np.stack(frames)


def test_a_picture_inside_moving_footage_is_found():
    side = 200
    frames = smooth_frames(12, side, seed=1)
    inset = smooth_frames(12, side, seed=2)[:, :80, :100] + 90  # a brighter video, smaller
    frames[:, 30:110, 60:160] = inset
    boxes = find_insets(frames)
    assert boxes, "no inset found"
    top, left, bottom, right = boxes[0]
    assert abs(top - 30) <= 2 and abs(left - 60) <= 2
    assert abs(bottom - 110) <= 2 and abs(right - 160) <= 2


def test_plain_footage_gives_no_inset():
    frames = smooth_frames(8, 120, seed=3)
    assert find_insets(frames) == []
    frames[:, 20:80, 30:90] += 90
    assert find_insets(frames[:1]) == []  # one frame: nothing can be seen to persist
    assert len(find_insets(frames, top=1)) == 1


def test_a_band_across_the_whole_frame_is_found():
    """A landscape video in a portrait frame over a blurred copy of itself: its top and
    bottom are edges, its left and right are the frame's."""
    frames = smooth_frames(10, 160, seed=4)
    frames[:, 50:110, :] = smooth_frames(10, 160, seed=5)[:, :60, :] + 90
    top, left, bottom, right = find_insets(frames)[0]
    assert (left, right) == (0, 160)
    assert abs(top - 50) <= 2 and abs(bottom - 110) <= 2
