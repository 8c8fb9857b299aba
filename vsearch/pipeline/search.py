"""Query use cases: by example image (and, in later modules, by clip and by text)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.db import queries
from vsearch.errors import EmptyLibraryError, UsageError
from vsearch.types import FrameHit

if TYPE_CHECKING:
    from vsearch.pipeline.library import Library


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
    lib: Library, image: str | Path, *, k: int = 10, frames: bool = False
) -> list[FrameHit]:
    """Best-matching videos for an example image (one hit per video unless ``frames``)."""
    from vsearch.media import load_image

    check_k(k)
    pixels = load_image(image, size=lib.model_info.input_size)
    query = lib.encoder.encode_images(pixels[None])
    return search_vector(lib, query[0], k=k, frames=frames)


def search_vector(
    lib: Library, vector: np.ndarray, *, k: int = 10, frames: bool = False
) -> list[FrameHit]:
    index = lib.frame_index
    if index.ntotal == 0:
        raise EmptyLibraryError(
            f"library {lib.root} has no indexed frames yet: run `vsearch index`"
        )
    fetch = k if frames else min(index.ntotal, max(64, 16 * k))
    video_of: dict[int, int] = {}  # frame id -> video id, read once per candidate
    query = vector[None].astype(np.float32)
    while True:
        scores, ids = index.search(query, fetch)
        ok = ids[0] >= 0
        found = list(zip(scores[0][ok].tolist(), ids[0][ok].tolist(), strict=True))
        new = [i for _, i in found if i not in video_of]
        if new:
            with lib.sessions() as session:
                video_of.update(queries.frame_videos(new, session=session))
        chosen: list[tuple[float, int]] = []
        seen: set[int] = set()
        for score, fid in found:  # best first: keep each video's first (every frame: frames)
            vid = video_of.get(fid)  # None: deleted since the index was loaded
            if vid is not None and (frames or vid not in seen):
                seen.add(vid)
                chosen.append((score, fid))
                if len(chosen) == k:
                    break
        if len(chosen) >= k or fetch >= index.ntotal or frames:
            return _to_hits(lib, chosen)
        fetch = min(index.ntotal, fetch * 4)


def _to_hits(lib: Library, chosen: list[tuple[float, int]]) -> list[FrameHit]:
    with lib.sessions() as session:
        where = queries.frame_locations([fid for _, fid in chosen], session=session)
    hits = []
    for score, fid in chosen:
        loc = where.get(fid)
        if loc is None:  # deleted meanwhile
            continue
        video_id, t, _informative, path = loc
        hits.append(FrameHit(path=path, time=t, score=score, video_id=video_id, frame_id=fid))
    return hits
