"""Cutting a video's sampled frames into clips: windows of W seconds every S seconds.

Defaults: W = 4 s, S = 2 s. At the default 1 frame/s a clip holds 4 frames, enough for a
temporal model to see motion, while half-overlapping windows localise a match to about 2 s
(one stride). A shot boundary (a sharp drop in similarity between consecutive frames) ends
a clip early, so a clip never mixes two shots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_WINDOW = 4.0
DEFAULT_STRIDE = 2.0
SHOT_CUT_SIMILARITY = 0.5  # consecutive frames less similar than this start a new shot
TIME_TOLERANCE = 1e-6  # seconds: frame timestamps are far coarser (a stream time base)


@dataclass(frozen=True)
class Window:
    first: int  # index of the first frame
    last: int  # index one past the last frame
    start: float  # seconds
    end: float  # seconds (last frame's time + one sampling step)


def shot_boundaries(vectors: np.ndarray, threshold: float = SHOT_CUT_SIMILARITY) -> np.ndarray:
    """Frame indices that start a new shot (0 always does)."""
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.int64)
    sims = np.einsum("ij,ij->i", vectors[1:], vectors[:-1]) if len(vectors) > 1 else np.zeros(0)
    return np.concatenate([[0], np.nonzero(sims < threshold)[0] + 1]).astype(np.int64)


def clip_windows(
    times: np.ndarray,
    step: float,
    *,
    window: float = DEFAULT_WINDOW,
    stride: float = DEFAULT_STRIDE,
    cuts: np.ndarray | None = None,
) -> list[Window]:
    """Windows over ``times`` (sorted seconds); ``cuts`` (frame indices) end windows early.

    Every frame belongs to at least one window; a video shorter than ``window`` is one window.
    """
    n = len(times)
    if n == 0:
        return []
    if window <= 0 or stride <= 0:
        raise ValueError("window and stride must be positive")
    bounds = sorted(set((cuts if cuts is not None else np.zeros(0, np.int64)).tolist()) | {0})
    bounds.append(n)
    out: list[Window] = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi <= lo:
            continue
        t0 = float(times[lo])
        start = t0
        while True:
            first = lo + int(np.searchsorted(times[lo:hi], start - 1e-9))
            last = lo + int(np.searchsorted(times[lo:hi], start + window - 1e-9))
            if last > first:
                out.append(Window(first, last, float(times[first]), float(times[last - 1]) + step))
            if last >= hi:
                break
            start += stride
    return out


def video_windows(
    times: np.ndarray,
    vectors: np.ndarray,
    step: float,
    *,
    window: float = DEFAULT_WINDOW,
    stride: float = DEFAULT_STRIDE,
) -> list[Window]:
    """A video's clip windows: ``clip_windows`` ended early at the shot cuts of its frames."""
    return clip_windows(times, step, window=window, stride=stride, cuts=shot_boundaries(vectors))


def windows_at(
    times: np.ndarray, starts: np.ndarray, ends: np.ndarray, step: float
) -> list[Window]:
    """The windows [start, end) of stored clips over the frame ``times`` they were cut from.

    A window starts at its first frame's time and ends one sampling ``step`` after its last
    frame's, so its frames are those from ``start`` to ``end - step``. Sampled frames can lie
    closer together than ``step`` (the first frame of each 1/fps bucket is kept), so the frame
    after a window may come before its ``end``: ``end`` is never compared with it.
    """
    times = np.asarray(times, dtype=np.float64)
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    firsts = np.searchsorted(times, starts - TIME_TOLERANCE, side="left")
    lasts = np.searchsorted(times, ends - step + TIME_TOLERANCE, side="right")
    out = []
    for first, last, start, end in zip(firsts, lasts, starts, ends, strict=True):
        if last <= first:
            raise ValueError(f"no frame lies in the window [{start}, {end})")
        out.append(Window(int(first), int(last), float(start), float(end)))
    return out
