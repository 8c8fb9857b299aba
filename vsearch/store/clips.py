"""Clip vectors: a video's frames cut into windows (pipeline/windows.py) and pooled.

Clips are stored with their video's frames (same transaction) and searched through their own
FAISS index, ``clips.faiss``, kept in agreement with the database like the frame index. The
active pooler is recorded in library_meta under ``pooler``: JSON ``{"name", "checkpoint",
"sha256"}`` (checkpoint relative to the library directory, null for ``mean``). A library with
no record pools with ``mean``: untrained LSTM/TCN weights are never used.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vsearch.db import queries
from vsearch.db.engine import transaction
from vsearch.errors import CheckpointError
from vsearch.match.windows import DEFAULT_STRIDE, DEFAULT_WINDOW, clip_windows, shot_boundaries

if TYPE_CHECKING:
    from vsearch.models.temporal import TemporalPooler
    from vsearch.pipeline.library import Library

log = logging.getLogger(__name__)

CLIP_INDEX = "clips.faiss"
POOLER_META = "pooler"


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
    pooler: TemporalPooler,
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
    cuts = shot_boundaries(vectors)
    wins = clip_windows(times, step, window=window, stride=stride, cuts=cuts)
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


def save_clips(video_id: int, clips: ClipSet, *, session) -> tuple[np.ndarray, list[int]]:
    """Store a video's clips in place of its old ones: (new clip ids, removed clip ids)."""
    return queries.replace_clips(
        video_id, clips.starts, clips.ends, clips.informative, clips.vectors, session=session
    )


def pooler_record(lib: Library) -> dict[str, Any]:
    raw = lib.meta.get(POOLER_META)
    return json.loads(raw) if raw else {"name": "mean", "checkpoint": None, "sha256": None}


def load_library_pooler(lib: Library) -> TemporalPooler:
    """The pooler the library's clips were made with (``mean`` when none was trained)."""
    from vsearch.models import create_pooler
    from vsearch.models.base import file_sha256

    record = pooler_record(lib)
    dim = lib.model_info.dim
    if not record.get("checkpoint"):
        return create_pooler(record["name"], dim)
    path = lib.root / record["checkpoint"]
    if not path.is_file():
        raise CheckpointError(
            f"{path}: the library's {record['name']} checkpoint is missing; "
            "run `vsearch train temporal` again"
        )
    if record.get("sha256") and file_sha256(path) != record["sha256"]:
        raise CheckpointError(f"{path}: checkpoint changed since it was recorded (sha256)")
    pooler = create_pooler(record["name"], dim, path, device=lib.settings.device)
    check_pooler_encoder(pooler, lib)
    return pooler


def check_pooler_encoder(pooler: TemporalPooler, lib: Library) -> None:
    """Refuse a checkpoint trained on another encoder's vectors."""
    made_for = getattr(pooler, "provenance", {}).get("encoder")
    if made_for is not None and made_for != lib.model_info.key():
        raise CheckpointError(
            f"this {pooler.name} checkpoint was trained for encoder {made_for}; "
            f"the library uses {lib.model_info.key()}"
        )


def use_pooler(lib: Library, pooler: TemporalPooler, checkpoint: Path | None) -> int:
    """Make ``pooler`` the library's pooler: re-pool every clip and rebuild the clip index.

    Clip ids are kept (vectors updated in place) and the record in library_meta changes in
    the same transaction, so the database never mixes two poolers. Returns the clip count.
    """
    from vsearch.models.base import file_sha256

    check_pooler_encoder(pooler, lib)
    step = 1.0 / lib.fps
    record = {
        "name": pooler.name,
        "checkpoint": str(checkpoint.relative_to(lib.root)) if checkpoint else None,
        "sha256": file_sha256(checkpoint) if checkpoint else None,
    }
    total = 0
    with lib.writing():
        with transaction(lib.sessions) as session:
            videos = queries.list_videos(session=session, status=("indexed", "partial"))
            for video in videos:
                _fids, times, informative, vectors = queries.video_frames(video.id, session=session)
                ids, starts, _ends, _inf, _vecs = queries.video_clips(video.id, session=session)
                clips = make_clips(times, informative, vectors, step, pooler)
                if len(ids) == len(clips) and np.allclose(starts, clips.starts):
                    queries.update_clip_vectors(ids, clips.vectors, session=session)
                else:  # clips of an older windowing: store them afresh
                    save_clips(video.id, clips, session=session)
                total += len(clips)
            queries.set_meta(POOLER_META, json.dumps(record), session=session)
        lib.pooler = pooler
        lib.rebuild_clip_index()
    log.info("clips re-pooled with %s: %d clips", pooler.name, total)
    return total


def backfill_clips(lib: Library) -> int:
    """Give clips to videos indexed before the library had clips (from stored frames only).

    A library upgraded from the first schema revision has frames but no clips; this pools them
    without decoding anything. Returns the number of videos completed.
    """
    with lib.sessions() as session:
        missing = queries.videos_without_clips(session=session)
    if not missing:
        return 0
    pooler = lib.pooler
    step = 1.0 / lib.fps
    lib.load_indexes()
    for video_id in missing:
        with transaction(lib.sessions) as session:
            _ids, times, informative, vectors = queries.video_frames(video_id, session=session)
            clips = make_clips(times, informative, vectors, step, pooler)
            new_ids, old_ids = save_clips(video_id, clips, session=session)
        lib.drop_vectors(clip_ids=old_ids)
        lib.add_vectors(clip_ids=new_ids, clip_vectors=clips.vectors)
    log.info("made clips for %d videos indexed before clips existed", len(missing))
    return len(missing)
