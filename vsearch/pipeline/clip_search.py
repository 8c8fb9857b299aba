"""Query by clip (answers are matched segment pairs) and query by text.

Query by clip, in three steps:

1. *Encode*: the query video is decoded at the library's sampling rate and encoded, also
   mirrored (horizontal flip) unless the encoder is flip-invariant; black/blank frames are no
   evidence. The query's clips are pooled with the library's pooler.
2. *Candidates*: each informative query frame searches the frame index and each informative
   query clip searches the clip index; videos are ranked by their summed best frame
   similarities plus their best clip similarity.
3. *Align*: for each candidate, the query x video frame similarity matrix gives hits that
   ``align.chain_segments`` chains into segments moving forward at a steady speed (offset,
   1.5x speed and a lower frame rate are all such chains). A segment's score is the mean of
   its chained frame similarities and of the best similarity between the query's clips and
   the video's clips inside the two segments; answers below ``threshold`` are dropped.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.checks import finite_number, time_range
from vsearch.errors import (
    EmptyLibraryError,
    MediaError,
    QueryFileError,
    UsageError,
)
from vsearch.match.align import chain_segments, hits_from_matrix
from vsearch.match.clips import make_clips
from vsearch.pipeline.search import DEFAULT_K, check_k, search_vector
from vsearch.types import Answers, FrameHit, SegmentMatch

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore

log = logging.getLogger(__name__)

# Chosen on scripts/bench_copy.py (docs/benchmarks.md, colorgrid, 2 frames/s): precision 0.88,
# recall 0.70 there; 0.75 let hard negatives through (precision 0.61).
DEFAULT_THRESHOLD = 0.85  # segment score below which an answer is not a copy
HIT_SIMILARITY = 0.5  # frame pairs less similar than this are no evidence at all
CHAIN_BIAS = 0.6  # subtracted from each hit's similarity when chaining (align.py)
FRAME_NEIGHBOURS = 64  # frame-index neighbours per query frame
CLIP_NEIGHBOURS = 32  # clip-index neighbours per query clip
MAX_CANDIDATES = 20  # videos aligned per query


def search_video(
    store: LibraryStore,
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    k: int = DEFAULT_K,
    threshold: float = DEFAULT_THRESHOLD,
    flip: bool = True,
    exclude_self: bool = False,
) -> Answers:
    """Segments of library videos that match (part of) the query video, best first.

    The answer also counts the segments ``threshold`` hid (``.hidden``); ``exclude_self``
    leaves out the query file itself when it is in the library.
    """
    start, end, threshold = check_clip_query(store, k, start, end, threshold)
    query = encode_query(store, path, start=start, end=end, flip=flip)
    exclude = {os.path.abspath(path), os.path.realpath(path)} if exclude_self else None
    return match_query(store, query, k=k, threshold=threshold, exclude=exclude)


def check_clip_query(
    store: LibraryStore, k: int, start: float | None, end: float | None, threshold: float
) -> tuple[float | None, float | None, float]:
    """The checks a clip query passes before anything is decoded: (start, end, threshold)."""
    check_k(k)
    if store.frame_index.ntotal == 0:
        raise EmptyLibraryError(
            f"library {store.root} has no indexed frames yet: run `vsearch index`"
        )
    start, end = time_range(start, end, min_length=1.0 / store.fps)
    threshold = finite_number("threshold", threshold, low=-1.0, high=1.0)
    return start, end, threshold


def match_query(
    store: LibraryStore,
    query: tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None,
    *,
    k: int = DEFAULT_K,
    threshold: float = DEFAULT_THRESHOLD,
    exclude: set[str] | None = None,
) -> Answers:
    """Steps 2 and 3 for an ``encode_query`` result: candidates, then alignment.

    Answers below ``threshold`` are counted (``.hidden``), those of files in ``exclude``
    dropped."""
    if query is None:
        return Answers(threshold=threshold)
    times, informative, views = query
    candidates = _candidates(store, views, informative, times)
    step = 1.0 / store.fps
    query_clips = [make_clips(times, informative, v, step, store.pooler) for v in views]
    matches: list[SegmentMatch] = []
    for video_id in candidates:
        video = store.video_by_id(video_id)
        if video is None:
            continue
        frames_b = store.frames_of(video_id)
        clips_b = store.clips_of(video_id)
        matches += _align(
            views,
            informative,
            times,
            frames_b.times,
            frames_b.informative,
            frames_b.vectors,
            query_clips,
            clips_b,
            step,
            video.path,
            video_id,
        )
    if exclude:
        matches = [m for m in matches if m.path not in exclude]
    kept = [m for m in matches if m.score >= threshold]
    kept.sort(key=lambda m: -m.score)
    return Answers(kept[:k], hidden=len(matches) - len(kept), threshold=threshold)


def encode_video(
    store: LibraryStore,
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    mirrored: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None:
    """Decode a file at the library's rate and encode it with the library's encoder.

    Returns (times, informative, [vectors] or [vectors, mirrored vectors]); None when no
    frame could be sampled.
    """
    from vsearch.media import iter_frames

    encoder = store.encoder
    times: list[np.ndarray] = []
    informative: list[np.ndarray] = []
    views: list[list[np.ndarray]] = [[], []]
    for batch in iter_frames(
        path, fps=store.fps, size=encoder.info.input_size, start=start, end=end
    ):
        times.append(batch.times)
        informative.append(batch.informative)
        views[0].append(encoder.encode_images(batch.images))
        if mirrored:
            views[1].append(encoder.encode_images(np.ascontiguousarray(batch.images[:, :, ::-1])))
    if not times:
        return None
    return (
        np.concatenate(times),
        np.concatenate(informative),
        [np.concatenate(v) for v in views if v],
    )


def encode_query(
    store: LibraryStore,
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    flip: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None:
    """(times, informative, [vectors, mirrored vectors]) of a query video; None if blank."""
    try:
        encoded = encode_video(store, path, start=start, end=end, mirrored=flip)
    except MediaError as exc:
        raise QueryFileError(str(exc)) from exc
    if encoded is None:
        return None
    times, inf, views = encoded
    if not inf.any():
        log.info("%s: no informative frame in the query", path)
        return None
    out = views[:1]
    if flip:
        mirrored = views[1]
        if not np.allclose(mirrored, out[0], atol=1e-5):  # flip-invariant encoders: no need
            out.append(mirrored)
    return times, inf, out


def _candidates(
    store: LibraryStore, views: list[np.ndarray], informative: np.ndarray, times: np.ndarray
) -> list[int]:
    """Videos worth aligning, best first: frame-index and clip-index evidence summed."""
    frame_index, clip_index = store.frame_index, store.clip_index
    evidence: dict[int, float] = defaultdict(float)
    if frame_index.ntotal:
        kf = min(frame_index.ntotal, FRAME_NEIGHBOURS)
        best: dict[tuple[int, int], float] = defaultdict(float)  # (query frame, video) -> best
        for v in views:
            rows = np.nonzero(informative)[0]
            scores, ids = frame_index.search(v[rows], kf)
            where = store.frame_locations(np.unique(ids[ids >= 0]))
            for r, (srow, irow) in enumerate(zip(scores, ids, strict=True)):
                for s, fid in zip(srow, irow, strict=True):
                    loc = where.get(int(fid))
                    if loc is None or not loc.informative or s < HIT_SIMILARITY:
                        continue
                    key = (r, loc.video_id)
                    best[key] = max(best[key], float(s))
        for (_r, vid), s in best.items():
            evidence[vid] += s
    if clip_index.ntotal:
        kc = min(clip_index.ntotal, CLIP_NEIGHBOURS)
        step = 1.0 / store.fps
        for v in views:
            clips = make_clips(times, informative, v, step, store.pooler)
            qv = clips.vectors[clips.informative]
            if not len(qv):
                continue
            scores, ids = clip_index.search(qv, kc)
            where_clip = store.clip_locations(np.unique(ids[ids >= 0]))
            best_clip: dict[int, float] = defaultdict(float)
            for s, cid in zip(scores.ravel(), ids.ravel(), strict=True):
                clip = where_clip.get(int(cid))
                if clip is not None and clip.informative:
                    best_clip[clip.video_id] = max(best_clip[clip.video_id], float(s))
            for vid, s in best_clip.items():
                evidence[vid] += s
    ranked = sorted(evidence, key=lambda vid: -evidence[vid])
    return ranked[:MAX_CANDIDATES]


def _align(
    views, informative, ta, tb, inf_b, vec_b, query_clips, clips_b, step, path, video_id
) -> list[SegmentMatch]:
    if len(tb) == 0:
        return []
    sim = np.max(np.stack([v @ vec_b.T for v in views]), axis=0)
    sim[~informative, :] = -1.0
    sim[:, ~inf_b] = -1.0
    hits = hits_from_matrix(sim, HIT_SIMILARITY, top=3)
    segments = chain_segments(hits, ta, tb, step=step, bias=CHAIN_BIAS, max_segments=3)
    cb_start, cb_end, cb_inf, cb_vec = (
        clips_b.starts,
        clips_b.ends,
        clips_b.informative,
        clips_b.vectors,
    )
    out = []
    for seg in segments:
        clip_score = _clip_score(seg, query_clips, cb_start, cb_end, cb_inf, cb_vec)
        score = 0.5 * (seg.score + clip_score) if clip_score is not None else seg.score
        out.append(
            SegmentMatch(
                path=path,
                score=float(score),
                start=seg.b_start,
                end=seg.b_end,
                query_start=seg.a_start,
                query_end=seg.a_end,
                video_id=video_id,
            )
        )
    return out


def _clip_score(seg, query_clips, cb_start, cb_end, cb_inf, cb_vec) -> float | None:
    """Best similarity of a query clip inside the query segment to a video clip inside its
    matched segment (clips overlapping each segment by at least half their length)."""
    in_b = cb_inf & _inside(cb_start, cb_end, seg.b_start, seg.b_end)
    if not in_b.any():
        return None
    best = None
    for qc in query_clips:
        in_a = qc.informative & _inside(qc.starts, qc.ends, seg.a_start, seg.a_end)
        if in_a.any():
            s = float((qc.vectors[in_a] @ cb_vec[in_b].T).max())
            best = s if best is None else max(best, s)
    return best


def _inside(starts: np.ndarray, ends: np.ndarray, lo: float, hi: float) -> np.ndarray:
    overlap = np.minimum(ends, hi) - np.maximum(starts, lo)
    return overlap >= 0.5 * (ends - starts) - 1e-9


def search_text(
    store: LibraryStore, text: str, *, k: int = 10, frames: bool = False
) -> list[FrameHit]:
    """Videos (with the second of the best frame) that match a text, for CLIP-like encoders."""
    check_k(k)
    if not text or not text.strip():
        raise UsageError("the text query is empty")
    from vsearch.pipeline.words import search_words, uses_words

    if uses_words(store):
        return search_words(store, text.strip(), k=k, frames=frames)[1]
    vector = store.encoder.encode_texts([text.strip()])[0]
    return search_vector(store, vector, k=k, frames=frames)
