"""Query use cases: by example image (and, in later modules, by clip and by text)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.errors import EmptyLibraryError, UsageError
from vsearch.types import FrameHit

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore


def check_k(k: int) -> None:
    if k <= 0:
        raise UsageError(f"k must be a positive number of results, got {k}")


def check_time_range(
    start: float | None, end: float | None, duration: float | None
) -> tuple[float, float | None]:
    """Validate a --start/--end range of a query clip of ``duration`` seconds (0/None: unknown).

    Returns ``(start, end)`` with ``start`` defaulting to 0 and ``end`` clamped to the duration
    (None when neither is known). Raises UsageError for a negative, non-finite or empty range
    and for a start at or past the end of the clip.
    """
    for name, value in (("start", start), ("end", end)):
        if value is not None and not math.isfinite(value):
            raise UsageError(f"--{name} must be a number of seconds, got {value}")
    begin = 0.0 if start is None else float(start)
    if begin < 0:
        raise UsageError(f"--start must be >= 0 seconds, got {begin:g}")
    if end is not None and end <= begin:
        raise UsageError(f"--end ({end:g} s) must be after --start ({begin:g} s)")
    known = duration if duration and duration > 0 else None
    if known is not None and begin >= known:
        raise UsageError(f"--start {begin:g} s is past the end of the clip ({known:.3f} s)")
    stop = end if end is not None else known
    if stop is not None and known is not None:
        stop = min(stop, known)
    return begin, stop


def search_image(
    store: LibraryStore, image: str | Path, *, k: int = 10, frames: bool = False
) -> list[FrameHit]:
    """Best-matching videos for an example image (one hit per video unless ``frames``)."""
    from vsearch.media import load_image

    check_k(k)
    pixels = load_image(image, size=store.model_info.input_size)
    query = store.encoder.encode_images(pixels[None])
    return search_vector(store, query[0], k=k, frames=frames)


def search_vector(
    store: LibraryStore, vector: np.ndarray, *, k: int = 10, frames: bool = False
) -> list[FrameHit]:
    index = store.frame_index
    if index.ntotal == 0:
        raise EmptyLibraryError(
            f"library {store.root} has no indexed frames yet: run `vsearch index`"
        )
    fetch = k if frames else min(index.ntotal, max(64, 16 * k))
    while True:
        scores, ids = index.search(vector[None].astype(np.float32), fetch)
        hits = _to_hits(store, scores[0], ids[0])
        if frames:
            return hits[:k]
        best: dict[int, FrameHit] = {}
        for hit in hits:  # hits are best first: keep each video's first
            best.setdefault(hit.video_id, hit)
        if len(best) >= k or fetch >= index.ntotal:
            return list(best.values())[:k]
        fetch = min(index.ntotal, fetch * 4)


def _to_hits(store: LibraryStore, scores: np.ndarray, ids: np.ndarray) -> list[FrameHit]:
    valid = ids >= 0
    where = store.frame_locations(ids[valid].tolist())
    hits = []
    for score, fid in zip(scores[valid], ids[valid], strict=True):
        loc = where.get(int(fid))
        if loc is None:  # deleted since the index was loaded
            continue
        hits.append(
            FrameHit(
                path=loc.path,
                time=loc.time,
                score=float(score),
                video_id=loc.video_id,
                frame_id=int(fid),
            )
        )
    return hits
