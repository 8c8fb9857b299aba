"""A video's clip windows (``match.windows``: 4 s every 2 s, cut at shots) with their frame
sequences and mean-pooled vectors: what the classifiers score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vsearch.match.windows import Window, clip_windows, shot_boundaries

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore


@dataclass(frozen=True)
class VideoWindows:
    """A video's clip windows with their frame sequences and mean-pooled vectors."""

    video_id: int | None
    path: str
    windows: list[Window]
    sequences: list[np.ndarray]  # (T_i, D) float32 frame vectors per window
    pooled: np.ndarray  # (N, D) L2-normalised window means
    fps: float | None = None  # the video's own frame rate (frame numbers of the windows)


def windows_of(
    video_id: int | None,
    path: str,
    times: np.ndarray,
    vectors: np.ndarray,
    step: float,
    fps: float | None = None,
) -> VideoWindows:
    from vsearch.models import l2_normalize

    if len(times) == 0:
        empty = np.zeros((0, vectors.shape[-1]), np.float32)
        return VideoWindows(video_id, path, [], [], empty, fps)
    wins = clip_windows(times, step, cuts=shot_boundaries(vectors))
    seqs = [np.ascontiguousarray(vectors[w.first : w.last], dtype=np.float32) for w in wins]
    pooled = l2_normalize(np.stack([s.mean(axis=0) for s in seqs]))
    return VideoWindows(video_id, path, wins, seqs, pooled, fps)


def stored_windows(
    store: LibraryStore, video_id: int, path: str, fps: float | None = None
) -> VideoWindows:
    """The windows of a library video from its stored vectors (``fps``: its frame rate)."""
    frames = store.frames_of(video_id)
    return windows_of(video_id, path, frames.times, frames.vectors, 1.0 / store.fps, fps)
