"""A video's clip windows (``match.windows``: 4 s every 2 s, cut at shots) with their frame
sequences and mean-pooled vectors: what the classifiers score. A library video's windows are
those of its stored clips; a file outside the library is cut the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vsearch.match.windows import Window, video_windows

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
    """The windows of frames that are not stored (a file outside the library; ``fps``: its
    frame rate)."""
    wins = video_windows(times, vectors, step)
    return _with_sequences(video_id, path, vectors, wins, fps)


def stored_windows(
    store: LibraryStore, video_id: int, path: str, fps: float | None = None
) -> VideoWindows:
    """The windows of a library video's stored clips (``fps``: its frame rate)."""
    stored = store.clip_windows_of(video_id)
    return _with_sequences(video_id, path, stored.frames.vectors, stored.windows, fps)


def _with_sequences(
    video_id: int | None, path: str, vectors: np.ndarray, wins: list[Window], fps: float | None
) -> VideoWindows:
    from vsearch.models import l2_normalize

    if not wins:
        empty = np.zeros((0, vectors.shape[-1]), np.float32)
        return VideoWindows(video_id, path, [], [], empty, fps)
    seqs = [np.ascontiguousarray(vectors[w.first : w.last], dtype=np.float32) for w in wins]
    pooled = l2_normalize(np.stack([s.mean(axis=0) for s in seqs]))
    return VideoWindows(video_id, path, wins, seqs, pooled, fps)
