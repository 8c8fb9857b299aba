"""Query use cases: by example image (and, in later modules, by clip and by text)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.errors import EmptyLibraryError, UsageError, VsearchError
from vsearch.types import FrameHit

log = logging.getLogger(__name__)

# Image queries: the best hits are re-timed to their best frame by decoding the frames around
# the sampled one at the video's own rate. Bounded cost: this many hits, at most
# REFINE_MAX_FRAMES frames each (a 1 frame/s library at 30 frames/s decodes 60 per hit).
REFINE_TOP = 3
REFINE_MAX_FRAMES = 64
DEFAULT_K = 10  # results of a query
FETCH_PER_VIDEO = 64  # first round of a video search: neighbours asked per video wanted

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore


def check_k(k: int) -> None:
    if k <= 0:
        raise UsageError(f"`k` must be a positive number of results, got {k}")


def is_image_query(path: str | Path) -> bool:
    """True when a query file is a still image by its content, False for a video.

    A missing or unreadable file is an ImageError (a usage error: exit code 2)."""
    from vsearch.media import is_image_file

    return is_image_file(path)


def search_image(
    store: LibraryStore,
    image: str | Path,
    *,
    k: int = DEFAULT_K,
    frames: bool = False,
    refine: int = REFINE_TOP,
) -> list[FrameHit]:
    """Best-matching videos for an example image (one hit per video unless ``frames``).

    The ``refine`` best hits (not with ``frames``: those are the raw sampled frames) get the
    time and score of their best frame at the video's native frame rate.
    """
    from vsearch.media import load_image

    check_k(k)
    if refine < 0:
        raise UsageError(f"`refine` must be >= 0 hits, got {refine}")
    pixels = load_image(image, size=store.model_info.input_size, framing=store.framing)
    query = store.encoder.encode_images(pixels[None])[0]
    hits = search_vector(store, query, k=k, frames=frames)
    if frames or refine == 0:
        return hits
    return refine_hits(store, query, hits, top=refine)


def refine_hits(
    store: LibraryStore, query: np.ndarray, hits: list[FrameHit], *, top: int
) -> list[FrameHit]:
    """Re-time the ``top`` first hits to their best frame (the rest keep their order).

    A sampled frame stands for the ``1/fps`` seconds around it, so the best frame lies within
    one sampling step of it: that window is decoded at the native frame rate (at most
    REFINE_MAX_FRAMES frames) and each frame scored against the query. A file that cannot be
    decoded any more keeps its sampled time (logged). Only the time moves: the order and the
    scores stay those of the sampled frames, the one measure every video of the library had
    (re-ranking by the best of many more frames for the top few alone would favour them: on
    the copy benchmark it put a wrong video first for 2 of 56 image queries).
    """
    return [_refine_one(store, query, hit) for hit in hits[:top]] + hits[top:]


def _refine_one(store: LibraryStore, query: np.ndarray, hit: FrameHit) -> FrameHit:
    from vsearch.media import iter_frames, probe_video

    step = 1.0 / store.fps
    try:
        info = probe_video(hit.path)
        native = info.fps if info.fps > 0 else 30.0
        start = max(0.0, hit.time - step)
        end = hit.time + step
        if info.duration > 0:
            end = min(end, info.duration)
        if end - start <= 1.0 / native:  # nothing between the samples to look at
            return hit
        rate = min(native, REFINE_MAX_FRAMES / (end - start))
        size = store.model_info.input_size
        best_time, best_score = hit.time, -np.inf
        for batch in iter_frames(
            hit.path, fps=rate, size=size, info=info, start=start, end=end, framing=store.framing
        ):
            scores = store.encoder.encode_images(batch.images) @ query
            i = int(np.argmax(scores))
            if scores[i] > best_score:
                best_time, best_score = float(batch.times[i]), float(scores[i])
    except VsearchError as exc:
        log.warning("%s: cannot refine the time of the hit at %.2f s: %s", hit.path, hit.time, exc)
        return hit
    return dataclasses.replace(hit, time=best_time)


def search_vector(
    store: LibraryStore, vector: np.ndarray, *, k: int = DEFAULT_K, frames: bool = False
) -> list[FrameHit]:
    """Best-matching videos (or frames) for one query vector."""
    return search_vectors(store, vector[None], k=k, frames=frames)[0]


def search_vectors(
    store: LibraryStore, vectors: np.ndarray, *, k: int = 10, frames: bool = False
) -> list[list[FrameHit]]:
    """``search_vector`` for each row of ``vectors`` (n, dim): one index search for all.

    Each query asks for enough neighbours to find ``k`` distinct videos; the few that did
    not are searched again with 4x more until they do or the index is exhausted. The
    candidates come from ``store.frame_searcher``: the library's frame shards, re-ranked by
    exact scores, when they are built and current, else the frame index.
    """
    check_k(k)
    index = store.frame_searcher
    if index.ntotal == 0:
        raise EmptyLibraryError(
            f"library {store.root} has no indexed frames yet: run `vsearch index`"
        )
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    results: list[list[FrameHit]] = [[] for _ in range(len(vectors))]
    todo = np.arange(len(vectors))
    # Consecutive frames of a shot crowd the first neighbours: ask for enough at once that
    # most queries find k videos in one round (a round costs more than a longer list).
    fetch = min(index.ntotal, k if frames else max(64, FETCH_PER_VIDEO * k))
    while todo.size:
        scores, ids = index.search(vectors[todo], fetch)
        # Which video each candidate is in (arrays, no row object per candidate), then each
        # query's best frame per video.
        places = store.frame_places(ids)
        videos = places.video_ids_of(ids)
        again = []
        for row, query in enumerate(todo):
            picked = _pick(videos[row], k, distinct_videos=not frames)
            results[query] = places.hits(ids[row][picked], scores[row][picked])
            # An approximate index that returned fewer neighbours than asked has nothing more
            # in the cells it probes: asking again for more would only cost time.
            exhausted = int((ids[row] >= 0).sum()) < fetch
            if not frames and len(picked) < k and fetch < index.ntotal and not exhausted:
                again.append(query)
        todo = np.asarray(again, dtype=np.int64)
        fetch = min(index.ntotal, fetch * 4)
    return results


def _pick(videos: np.ndarray, k: int, *, distinct_videos: bool) -> np.ndarray:
    """Positions of the first ``k`` candidates that still exist (``videos`` >= 0: their
    videos, best first); with ``distinct_videos`` only each video's best."""
    pos = np.flatnonzero(videos >= 0)
    if distinct_videos:
        _, first = np.unique(videos[pos], return_index=True)  # each video's first place
        pos = pos[np.sort(first)]
    return pos[:k]
