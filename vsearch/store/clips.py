"""Clip vectors in storage: the pooler record, and clips written beside their video's frames.

Clips are stored with their video's frames (same transaction) and searched through their own
FAISS index, ``clips.faiss``, kept in agreement with the database like the frame index. The
active pooler is recorded in library_meta under ``pooler``: JSON ``{"name", "checkpoint",
"sha256"}`` (checkpoint relative to the library directory, null for ``mean``). A library with
no record pools with ``mean``: untrained LSTM/TCN weights are never used. Cutting frames into
clips is ``vsearch.match.clips``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, cast

import numpy as np
from sqlalchemy.orm import Session

from vsearch.db import queries
from vsearch.errors import CheckpointError
from vsearch.match.clips import ClipSet
from vsearch.match.windows import Window, video_windows, windows_at
from vsearch.types import StoredFrames

if TYPE_CHECKING:
    from vsearch.models.temporal import TemporalPooler

log = logging.getLogger(__name__)

CLIP_INDEX = "clips.faiss"
POOLER_META = "pooler"


class PoolerRecord(TypedDict):
    """The library_meta record of the active pooler (see the module docstring)."""

    name: str
    checkpoint: str | None  # relative to the library directory; None for ``mean``
    sha256: str | None


def save_clips(video_id: int, clips: ClipSet, *, session: Session) -> tuple[np.ndarray, list[int]]:
    """Store a video's clips in place of its old ones: (new clip ids, removed clip ids)."""
    return queries.replace_clips(
        video_id, clips.starts, clips.ends, clips.informative, clips.vectors, session=session
    )


@dataclass(frozen=True)
class ClipWindows:
    """A video's stored frames and its stored clips' windows over them (frame ranges and
    times), in time order: the windows every use case reads, cut once, at indexing."""

    frames: StoredFrames
    windows: list[Window]


def clip_windows(
    video_id: int, frames: StoredFrames, starts: np.ndarray, ends: np.ndarray, step: float
) -> ClipWindows:
    """The windows of a video's stored clips (``starts``, ``ends``) over its stored frames.

    A video indexed before the library had clips has none until ``backfill_clips`` runs:
    its windows are then cut as its clips will be. So are those of clips that do not fit
    the frames (a window without a frame), with a warning.
    """
    if len(starts) or not len(frames):
        try:
            return ClipWindows(frames, windows_at(frames.times, starts, ends, step))
        except ValueError as exc:
            log.warning("video %d: its clips do not fit its frames (%s): cut again", video_id, exc)
    return ClipWindows(frames, video_windows(frames.times, frames.vectors, step))


def pooler_record(meta: dict[str, str]) -> PoolerRecord:
    raw = meta.get(POOLER_META)
    if not raw:
        return {"name": "mean", "checkpoint": None, "sha256": None}
    return cast("PoolerRecord", json.loads(raw))


def load_pooler(
    record: PoolerRecord, *, dim: int, root: Path, device: str, encoder_key: str
) -> TemporalPooler:
    """The pooler a library's clips were made with (``mean`` when none was trained)."""
    from vsearch.models import create_pooler
    from vsearch.models.base import file_sha256

    checkpoint = record.get("checkpoint")
    if not checkpoint:
        return create_pooler(record["name"], dim)
    path = root / checkpoint
    if not path.is_file():
        raise CheckpointError(
            f"{path}: the library's {record['name']} checkpoint is missing; "
            "run `vsearch train temporal` again"
        )
    if record.get("sha256") and file_sha256(path) != record["sha256"]:
        raise CheckpointError(f"{path}: checkpoint changed since it was recorded (sha256)")
    pooler = create_pooler(record["name"], dim, path, device=device)
    check_pooler_encoder(pooler, encoder_key)
    return pooler


def check_pooler_encoder(pooler: TemporalPooler, encoder_key: str) -> None:
    """Refuse a checkpoint trained on another encoder's vectors."""
    made_for = getattr(pooler, "provenance", {}).get("encoder")
    if made_for is not None and made_for != encoder_key:
        raise CheckpointError(
            f"this {pooler.name} checkpoint was trained for encoder {made_for}; "
            f"the library uses {encoder_key}"
        )
