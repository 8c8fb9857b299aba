"""A video's sampled frames cut into clips (``windows.video_windows``) and pooled.

Pure numpy: the pooler is any object with a ``dim`` and a ``pool`` method (the temporal
poolers of ``vsearch.models`` are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vsearch.match.windows import DEFAULT_STRIDE, DEFAULT_WINDOW, video_windows


class Pooler(Protocol):
    """What clip making needs of a temporal pooler."""

    dim: int

    def pool(self, sequences: Sequence[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class ClipSet:
    """The clips of one video: windows [start, end) with a pooled vector each."""

    starts: np.ndarray
    ends: np.ndarray
    informative: np.ndarray
    vectors: np.ndarray
    frames: list[tuple[int, int]]  # (first, last) frame index of each clip

    def __len__(self) -> int:
        return len(self.starts)


def make_clips(
    times: np.ndarray,
    informative: np.ndarray,
    vectors: np.ndarray,
    step: float,
    pooler: Pooler,
    *,
    window: float = DEFAULT_WINDOW,
    stride: float = DEFAULT_STRIDE,
) -> ClipSet:
    """Cut frames into windows (ended early at shot cuts) and pool each window.

    A clip pools its informative frames only; a clip without any (black, blank) pools all its
    frames and is marked uninformative, so that it never creates a match.
    """
    dim = pooler.dim
    times = np.asarray(times, dtype=np.float64)
    if len(times) == 0:
        empty = np.zeros(0)
        return ClipSet(empty, empty, np.zeros(0, bool), np.zeros((0, dim), np.float32), [])
    vectors = np.asarray(vectors, dtype=np.float32)
    informative = np.asarray(informative, dtype=bool)
    wins = video_windows(times, vectors, step, window=window, stride=stride)
    seqs, flags = [], []
    for w in wins:
        inf = informative[w.first : w.last]
        seq = vectors[w.first : w.last]
        flags.append(bool(inf.any()))
        seqs.append(seq[inf] if inf.any() else seq)
    return ClipSet(
        starts=np.array([w.start for w in wins]),
        ends=np.array([w.end for w in wins]),
        informative=np.array(flags, dtype=bool),
        vectors=pooler.pool(seqs),
        frames=[(w.first, w.last) for w in wins],
    )
