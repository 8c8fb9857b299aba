"""The indexer's work items, shared by the local indexer (``pipeline.indexing``) and the Ray
driver (``pipeline.ray_index``): one file being indexed, and the seconds spent per stage.

They live apart from both so that each can import them without importing the other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from vsearch.errors import MediaError
from vsearch.types import VideoInfo


@dataclass
class IndexJob:
    """One file to index: what the plan knew of it, then its frames as they are encoded."""

    path: str
    size: int
    mtime: float
    content_hash: str | None
    info: VideoInfo | None = None
    times: list[np.ndarray] = field(default_factory=list)
    informative: list[np.ndarray] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    classes: list[np.ndarray] = field(default_factory=list)  # ImageNet probabilities, if any
    error: MediaError | None = None
    estimate: float = 0.0  # seconds of video, for the progress bar
    elsewhere: bool = False  # claimed by, or already committed by, another writer


@dataclass
class StageTimes:
    """Seconds spent per indexing stage, added to from several threads."""

    seconds: dict[str, float] = field(
        default_factory=lambda: {"plan": 0.0, "decode": 0.0, "encode": 0.0, "write": 0.0}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stage: str, seconds: float) -> None:
        with self.lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
