"""vsearch: index video libraries and search them by image, clip or text.

``import vsearch`` is light: torch, open_clip and faiss load only when a model or an index is
first used.
"""

from vsearch.config import Settings, __version__
from vsearch.errors import VsearchError
from vsearch.pipeline.library import Library
from vsearch.types import (
    BatchAnswer,
    FrameHit,
    IndexReport,
    ModelInfo,
    SegmentMatch,
    VideoFacts,
    VideoInfo,
    VideoRecord,
    frame_at,
)

__all__ = [
    "BatchAnswer",
    "FrameHit",
    "IndexReport",
    "Library",
    "ModelInfo",
    "SegmentMatch",
    "Settings",
    "VideoFacts",
    "VideoInfo",
    "VideoRecord",
    "VsearchError",
    "__version__",
    "frame_at",
]
